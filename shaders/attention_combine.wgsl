// attention_combine.wgsl -- merge the per-split partials of attention.wgsl's SPLIT variant.
//
// Each split z left (acc_z[d], m_z, l_z): acc_z = sum_j exp(s_j - m_z) v_j[d] over its keys,
// l_z = sum_j exp(s_j - m_z). With M = max m_z over splits that saw keys (l_z > 0):
//   out[d] = sum_z exp(m_z - M) acc_z[d] / sum_z exp(m_z - M) l_z
// Grid: x = head; one thread per head dimension.

struct Params { n_heads: u32, n_kv_heads: u32, head_dim: u32, n_ctx: u32, scale: f32, n_splits: u32, split_len: u32, _c: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;        // (1, n_heads * head_dim)
@group(0) @binding(10) var<storage, read> part_in: array<f32>;      // (n_heads, n_splits, head_dim + 2)

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let h = wid.x;
    let hd = p.head_dim;
    if (lid >= hd) { return; }
    let stride = hd + 2u;
    let base = h * p.n_splits * stride;
    var mx = -3.4e38;
    for (var z = 0u; z < p.n_splits; z++) {
        let b = base + z * stride;
        if (part_in[b + hd + 1u] > 0.0) { mx = max(mx, part_in[b + hd]); }
    }
    var num = 0.0;
    var den = 0.0;
    for (var z = 0u; z < p.n_splits; z++) {
        let b = base + z * stride;
        let l = part_in[b + hd + 1u];
        if (l > 0.0) {
            let w = exp(part_in[b + hd] - mx);
            num += w * part_in[b + lid];
            den += w * l;
        }
    }
    y[h * hd + lid] = num / den;
}
