// rope_kv.wgsl -- split the fused qkv projection (n, q_dim + 2 kv_dim): rotate q and k at
// positions step.pos + token, write k and v into this layer's KV cache, output rotated q.
// (The decode step fuses this into the qkv matvec, see matvec.wgsl ROPE; this kernel is for
// prefill.) One thread per (token, q pair | k pair | v element). cos/sin come from a table
// computed on the CPU exactly as the NumPy device does (GPU sin/cos lose accuracy for the
// large angles of late positions).
// NOROPE (learned positions, GPT-2): the same split and cache writes, nothing rotated (no table).

struct Params { n_tokens: u32, q_dim: u32, kv_dim: u32, head_dim: u32, neox: u32, n_ctx: u32, nwg_x: u32, _a: u32 }
struct Step { pos: u32, n_tokens: u32, _a: u32, _b: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(3) var<storage, read> qkv: array<f32>;
@group(0) @binding(4) var<storage, read_write> q: array<f32>;
@group(0) @binding(8) var<storage, read_write> kc: array<f32>;    // (kv_heads, n_ctx, head_dim)
@group(0) @binding(9) var<storage, read_write> vc: array<f32>;
#ifndef NOROPE
@group(0) @binding(10) var<storage, read> rope: array<f32>;       // (n_ctx, head_dim/2, 2)
#endif

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let per_tok = p.q_dim / 2u + p.kv_dim / 2u + p.kv_dim;
    let id = (wid.x + wid.y * p.nwg_x) * 256u + lid;
    if (id >= per_tok * p.n_tokens) { return; }
    let t = id / per_tok;
    var j = id % per_tok;
    let pos = step.pos + t;
    let width = p.q_dim + 2u * p.kv_dim;
    let hh = p.head_dim / 2u;
    let hd = p.head_dim;
    if (j < p.q_dim / 2u + p.kv_dim / 2u) {
        var base = 0u;
        var is_k = false;
        if (j >= p.q_dim / 2u) { j -= p.q_dim / 2u; base = p.q_dim; is_k = true; }
        let h = j / hh;
        let i = j % hh;
        var c0 = h * hd + 2u * i;
        var c1 = c0 + 1u;
        if (p.neox != 0u) { c0 = h * hd + i; c1 = c0 + hh; }
        let a = qkv[t * width + base + c0];
        let b = qkv[t * width + base + c1];
#ifdef NOROPE
        let r0 = a;
        let r1 = b;
#else
        let c = rope[(pos * hh + i) * 2u];
        let s = rope[(pos * hh + i) * 2u + 1u];
        let r0 = a * c - b * s;
        let r1 = a * s + b * c;
#endif
        if (is_k) {
            let kb = (h * p.n_ctx + pos) * hd;
            kc[kb + c0 % hd] = r0;
            kc[kb + c1 % hd] = r1;
        } else {
            q[t * p.q_dim + c0] = r0;
            q[t * p.q_dim + c1] = r1;
        }
    } else {
        let e = j - p.q_dim / 2u - p.kv_dim / 2u;
        vc[((e / hd) * p.n_ctx + pos) * hd + e % hd] = qkv[t * width + p.q_dim + p.kv_dim + e];
    }
}
