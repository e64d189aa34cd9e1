// head_norm.wgsl -- RMSNorm of each query and key head of the fused qkv projection
// (n, q_dim + 2 kv_dim) over its head_dim values, scaled by the q or k norm weight (head_dim,);
// v is copied as it is (Qwen3 and Gemma 3 normalise q and k per head before RoPE).
// One workgroup per (head, token): heads 0..n_heads-1 are q, then n_kv_heads k heads (normalised),
// then n_kv_heads v heads (copied). Twin: NumpyDevice.head_norm.

struct Params { n_heads: u32, n_kv_heads: u32, head_dim: u32, eps: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(3) var<storage, read> x: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read> qw: array<f32>;
@group(0) @binding(6) var<storage, read> kw: array<f32>;

var<workgroup> red: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let h = wid.x;
    let hd = p.head_dim;
    let width = (p.n_heads + 2u * p.n_kv_heads) * hd;
    let base = wid.y * width + h * hd;
    if (h >= p.n_heads + p.n_kv_heads) {           // a v head: copied
        for (var k = lid; k < hd; k += 64u) { y[base + k] = x[base + k]; }
        return;
    }
    var ss = 0.0;
    for (var k = lid; k < hd; k += 64u) { let v = x[base + k]; ss += v * v; }
    red[lid] = ss;
    workgroupBarrier();
    for (var s = 32u; s > 0u; s >>= 1u) {
        if (lid < s) { red[lid] += red[lid + s]; }
        workgroupBarrier();
    }
    let scale = inverseSqrt(red[0] / f32(hd) + p.eps);
    if (h < p.n_heads) {
        for (var k = lid; k < hd; k += 64u) { y[base + k] = x[base + k] * scale * qw[k]; }
    } else {
        for (var k = lid; k < hd; k += 64u) { y[base + k] = x[base + k] * scale * kw[k]; }
    }
}
