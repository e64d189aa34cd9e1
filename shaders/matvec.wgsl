// matvec.wgsl -- y = x @ W^T for a few rows of x (decode: one token), W quantized (quant.wgsl).
//
// Weights stay in their ggml blocks (see quant.wgsl for the layout and why); each thread
// dequantizes 8 weights at a time and dots them with 8 activations. A workgroup is SLOTS
// slots of LANES lanes: each slot owns one matrix row, its lanes stride over the row's 8-weight
// groups and a tree in workgroup memory sums the partials. Few rows per workgroup (4 x 64,
// measured on an H200: a 576-wide decode matvec went from 16 x 16) spreads a small matrix
// over many more compute units; decode matvecs are latency-bound, not bandwidth-bound.
// ROWS16 (CPU-emulated adapters: llvmpipe, SwiftShader): 16 rows x 16 lanes. There a
// workgroup runs as SIMD loops on one core, so 64 lanes only add reduction and barrier work
// (16 x 16 decodes about twice as fast there: bench/RESULTS.md).
// Grid: (x, y) = row blocks (2-D so more than 65535 blocks fit), z = token.
//
// Variants (#ifdef), each one removes a dispatch from the decode step:
//   NORM      x is RMS-normalised on the fly: y = rsqrt(mean(x^2)+eps) * ((x * nw) @ W^T)
//   BIAS      y += bias
//   RESIDUAL  y += res (the residual add after the out / down projections)
//   SWIGLU    W's rows are [gate; up]; a slot pair computes row c and row c+half, y = silu(g)*u
//             (+ GEGLU: y = gelu_tanh(g)*u, Gemma's MLP; gate.wgsl)
//   ROPE      W's rows are [q; k; v]; slot pairs are RoPE pairs: rotate, write q to y and
//             k, v into the KV cache at position step.pos + token (adjacent or NEOX pairing)
//   NOROPE    (with ROPE) the same split and cache writes, nothing rotated: GPT-2's learned positions
//   GELU      y = gelu(y) after BIAS, GELU's tanh form (GPT-2's MLP: HF's gelu_new), as y * sigmoid(2u);
//             + ERF: the erf form (BERT's MLP), gelu.wgsl
//             = 0.5 y (1 + tanh(u)), u = sqrt(2/pi) (y + 0.044715 y^3): no tanh of a large u to overflow
//   COMBINE   x is decode attention's output, still as attention.wgsl SPLIT partials (binding
//             10): every workgroup merges them into workgroup memory itself (what
//             attention_combine.wgsl does; n_heads * active splits * (head_dim + 2) floats read,
//             cheap next to a dispatch) and workgroup 0 also writes the merged x to binding 3,
//             so x stays valid for any later reader. One token; cols <= 2048.
// Plus the weight type: Q4_0 | Q4_1 | Q8_0 | F16 | F32 | Q5_0 | Q5_1 | Q4_K | Q6_K.

#include "quant.wgsl"
#ifdef SWIGLU
#include "gate.wgsl"
#endif

struct Params {
    rows: u32,       // rows of W
    cols: u32,       // input width (x row length)
    row_words: u32,  // u32 words per W row (blocks * BLOCK_WORDS)
    nwg_x: u32,      // workgroups along x (the grid is 2-D over row blocks)
    half: u32,       // SWIGLU: rows / 2
    eps: f32,        // NORM
    // ROPE only
    q_dim: u32, kv_dim: u32, head_dim: u32, neox: u32, n_ctx: u32, layer_off: u32,
    n_splits: u32,   // COMBINE (with head_dim)
    split_len: u32,  // COMBINE: keys per split
}
struct Step { pos: u32, n_tokens: u32, _a: u32, _b: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(2) var<storage, read> w: array<u32>;
#ifdef COMBINE
@group(0) @binding(3) var<storage, read_write> x: array<f32>;     // written (by workgroup 0), not read
@group(0) @binding(10) var<storage, read> part_in: array<f32>;    // (n_heads, n_splits, head_dim + 2)
var<workgroup> xs: array<f32, 2048>;       // the merged attention output
var<workgroup> wz: array<f32, 1024>;       // per (head, active split): exp(m_z - M) / sum_z exp(m_z - M) l_z
#else
@group(0) @binding(3) var<storage, read> x: array<f32>;
#endif
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
#ifdef NORM
@group(0) @binding(5) var<storage, read> nw: array<f32>;
#endif
#ifdef BIAS
@group(0) @binding(6) var<storage, read> bias: array<f32>;
#endif
#ifdef RESIDUAL
@group(0) @binding(7) var<storage, read> res: array<f32>;
#endif
#ifdef ROPE
@group(0) @binding(8) var<storage, read_write> kc: array<f32>;   // (layers, kv_heads, n_ctx, head_dim)
@group(0) @binding(9) var<storage, read_write> vc: array<f32>;
#ifndef NOROPE
@group(0) @binding(10) var<storage, read> rope: array<f32>;      // (n_ctx, head_dim/2, 2): cos, sin
#endif
#endif

#ifdef GELU
#include "gelu.wgsl"
#endif

#ifdef ROWS16
const SLOTS: u32 = 16u;   // CPU adapters (see the header): 16 rows x 16 lanes
const LANES: u32 = 16u;
#else
const SLOTS: u32 = 4u;    // rows per workgroup (even: SWIGLU / ROPE use row pairs)
const LANES: u32 = 64u;   // threads per row; SLOTS * LANES = 256
#endif
const PARTS: u32 = LANES / 8u;             // partials per slot after the first level
var<workgroup> red: array<f32, 256>;       // per-thread dot partials
var<workgroup> red2: array<f32, 48>;       // PARTS per slot (32 in all), then (NORM) 16 sum-of-squares partials
#ifdef NORM
var<workgroup> red_ss: array<f32, 256>;
#endif

// 8 consecutive partials from b (Naga takes no workgroup pointers as arguments: one per array)
fn sum8(b: u32) -> f32 {
    return ((red[b] + red[b + 1u]) + (red[b + 2u] + red[b + 3u])) +
           ((red[b + 4u] + red[b + 5u]) + (red[b + 6u] + red[b + 7u]));
}

#ifdef NORM
fn sum16_ss(b: u32) -> f32 {
    var s = 0.0;
    for (var i = b; i < b + 16u; i += 4u) { s += (red_ss[i] + red_ss[i + 1u]) + (red_ss[i + 2u] + red_ss[i + 3u]); }
    return s;
}

// This thread's share of sum(x^2) over token row xb.
fn x_sumsq(xb: u32, lid: u32) -> f32 {
    var ss = 0.0;
    for (var k = lid; k < p.cols; k += 256u) { let v = x[xb + k]; ss += v * v; }
    return ss;
}

// 1 / rms(x), once threads 0-15 left their sum16_ss partials in red2[32..48].
fn norm_scale() -> f32 {
    var tss = 0.0;
    for (var i = 0u; i < 16u; i += 4u) {
        tss += red2[32u + i] + red2[32u + i + 1u] + red2[32u + i + 2u] + red2[32u + i + 3u];
    }
    return inverseSqrt(tss / f32(p.cols) + p.eps);
}
#endif

fn slot_total(slot: u32) -> f32 {
    let b = slot * PARTS;
#ifdef ROWS16
    return red2[b] + red2[b + 1u];
#else
    return ((red2[b] + red2[b + 1u]) + (red2[b + 2u] + red2[b + 3u])) +
           ((red2[b + 4u] + red2[b + 5u]) + (red2[b + 6u] + red2[b + 7u]));
#endif
}

fn xv(base: u32, k: u32, cols: u32) -> vec4<f32> {
    // 4 activations from k; zeros past the row end (F16/F32 rows padded to 32)
#ifdef COMBINE
    if (k + 4u <= cols) { return vec4<f32>(xs[k], xs[k + 1u], xs[k + 2u], xs[k + 3u]); }
    var u = vec4<f32>(0.0);
    for (var i = 0u; i < 4u; i++) { if (k + i < cols) { u[i] = xs[k + i]; } }
    return u;
#endif
    if (k + 4u <= cols) {
        return vec4<f32>(x[base + k], x[base + k + 1u], x[base + k + 2u], x[base + k + 3u]);
    }
    var v = vec4<f32>(0.0);
    for (var i = 0u; i < 4u; i++) { if (k + i < cols) { v[i] = x[base + k + i]; } }
    return v;
}

#ifdef NORM
fn nv(k: u32, cols: u32) -> vec4<f32> {
    if (k + 4u <= cols) { return vec4<f32>(nw[k], nw[k + 1u], nw[k + 2u], nw[k + 3u]); }
    var v = vec4<f32>(0.0);
    for (var i = 0u; i < 4u; i++) { if (k + i < cols) { v[i] = nw[k + i]; } }
    return v;
}
#endif

// Weight group g (8 weights) of the row at word wb, dotted with x (normalised by nw under NORM;
// the 1/rms factor is applied after the reduction).
fn gdot(wb: u32, xb: u32, g: u32) -> f32 {
    let q = dq8(wb + (g / GROUPS_PER_BLOCK) * BLOCK_WORDS, g % GROUPS_PER_BLOCK);
    var xa = xv(xb, g * 8u, p.cols);
    var xc = xv(xb, g * 8u + 4u, p.cols);
#ifdef NORM
    xa *= nv(g * 8u, p.cols);
    xc *= nv(g * 8u + 4u, p.cols);
#endif
    return dot(q.a, xa) + dot(q.b, xc);
}

// Matrix row that a slot computes, for the pairing variants.
fn slot_row(blk: u32, slot: u32) -> u32 {
#ifdef SWIGLU
    return blk * (SLOTS / 2u) + slot / 2u + (slot % 2u) * p.half;
#endif
#ifdef ROPE
    let gp = blk * (SLOTS / 2u) + slot / 2u;  // global pair index over [q; k; v]
    let hh = p.head_dim / 2u;
    var base = 0u;
    var lp = gp;
    if (gp >= (p.q_dim + p.kv_dim) / 2u) { base = p.q_dim + p.kv_dim; lp = gp - (p.q_dim + p.kv_dim) / 2u; }
    else if (gp >= p.q_dim / 2u) { base = p.q_dim; lp = gp - p.q_dim / 2u; }
    let h = lp / hh;
    let i = lp % hh;
    if (p.neox != 0u) { return base + h * p.head_dim + i + (slot % 2u) * hh; }
    return base + h * p.head_dim + 2u * i + (slot % 2u);
#endif
    return blk * SLOTS + slot;
}

// Whether a slot has work: its row exists (plain) or its pair's output exists (SWIGLU, ROPE).
fn slot_valid(blk: u32, slot: u32) -> bool {
#ifdef SWIGLU
    return blk * (SLOTS / 2u) + slot / 2u < p.half;
#endif
#ifdef ROPE
    return blk * (SLOTS / 2u) + slot / 2u < p.rows / 2u;
#endif
    return blk * SLOTS + slot < p.rows;
}

#ifdef COMBINE
fn merge_part(i: u32) -> f32 { return part_in[i]; }
fn merge_parts8(a: array<u32, 8>) -> array<f32, 8> {
    return array<f32, 8>(part_in[a[0]], part_in[a[1]], part_in[a[2]], part_in[a[3]], part_in[a[4]], part_in[a[5]],
                         part_in[a[6]], part_in[a[7]]);
}
fn merge_store(i: u32, v: f32) { x[i] = v; }

#include "attention_merge.wgsl"
#endif

#ifdef WIDE
// WIDE (big matrices on GPUs: the lm head's 49152 rows): each slot computes 4 consecutive rows
// in one pass over x, so a workgroup keeps 4 rows' weight loads in flight and the grid is 4x
// smaller (about twice as fast for SmolLM2's head: bench/RESULTS.md). With 1 row per slot it is
// 12288 short workgroups in ~12 waves, each a few memory latencies long.
// Plain, NORM, BIAS, RESIDUAL only.
var<workgroup> red4: array<vec4<f32>, 256>;
var<workgroup> red24: array<vec4<f32>, 32>;

fn wdot(row: u32, g: u32, xa: vec4<f32>, xc: vec4<f32>) -> f32 {
    if (row >= p.rows) { return 0.0; }
    let q = dq8(row * p.row_words + (g / GROUPS_PER_BLOCK) * BLOCK_WORDS, g % GROUPS_PER_BLOCK);
    return dot(q.a, xa) + dot(q.b, xc);
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let blk = wid.x + wid.y * p.nwg_x;
    let t = wid.z;
    let slot = lid / LANES;
    let lane = lid % LANES;
    let xb = t * p.cols;
#ifdef NORM
    let ss = x_sumsq(xb, lid);   // reduced together with the dot products
#endif
    let r0 = (blk * SLOTS + slot) * 4u;
    var acc = vec4<f32>(0.0);
    let ngroups = p.row_words / BLOCK_WORDS * GROUPS_PER_BLOCK;
    for (var g = lane; g < ngroups; g += LANES) {
        var xa = xv(xb, g * 8u, p.cols);
        var xc = xv(xb, g * 8u + 4u, p.cols);
#ifdef NORM
        xa *= nv(g * 8u, p.cols);
        xc *= nv(g * 8u + 4u, p.cols);
#endif
        acc += vec4<f32>(wdot(r0, g, xa, xc), wdot(r0 + 1u, g, xa, xc), wdot(r0 + 2u, g, xa, xc), wdot(r0 + 3u, g, xa, xc));
    }
    red4[lid] = acc;
#ifdef NORM
    red_ss[lid] = ss;
#endif
    workgroupBarrier();
    if (lane < PARTS) {
        let b = lid + lane * 7u;
        red24[slot * PARTS + lane] = ((red4[b] + red4[b + 1u]) + (red4[b + 2u] + red4[b + 3u])) +
                                     ((red4[b + 4u] + red4[b + 5u]) + (red4[b + 6u] + red4[b + 7u]));
    }
#ifdef NORM
    if (lid < 16u) { red2[32u + lid] = sum16_ss(lid * 16u); }
#endif
    workgroupBarrier();
    if (lane != 0u) { return; }
    var scale = 1.0;
#ifdef NORM
    scale = norm_scale();
#endif
    let b = slot * PARTS;
    let v = (((red24[b] + red24[b + 1u]) + (red24[b + 2u] + red24[b + 3u])) +
             ((red24[b + 4u] + red24[b + 5u]) + (red24[b + 6u] + red24[b + 7u]))) * scale;
    for (var r = 0u; r < 4u; r++) {
        let row = r0 + r;
        if (row >= p.rows) { return; }
        var o = v[r];
#ifdef BIAS
        o += bias[row];
#endif
#ifdef RESIDUAL
        o += res[t * p.rows + row];
#endif
        y[t * p.rows + row] = o;
    }
}
#else
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let blk = wid.x + wid.y * p.nwg_x;
    let t = wid.z;
    let slot = lid / LANES;
    let lane = lid % LANES;
    let xb = t * p.cols;
#ifdef COMBINE
    merge_partials(blk, lid, p.head_dim, p.n_splits, p.split_len, p.cols, step.pos, 0u, 0u);
#endif
#ifdef NORM
    let ss = x_sumsq(xb, lid);   // reduced together with the dot products
#endif
    let row = slot_row(blk, slot);
    let valid = slot_valid(blk, slot);
    var acc = 0.0;
    if (valid) {
        let wb = row * p.row_words;
        let ngroups = p.row_words / BLOCK_WORDS * GROUPS_PER_BLOCK;
        // Two groups per iteration: their loads are independent and issue together (the
        // driver does not unroll Naga's bounded loops); 1536-wide rows take 2 iterations, not 3.
        var g = lane;
        for (; g + LANES < ngroups; g += 2u * LANES) { acc += gdot(wb, xb, g) + gdot(wb, xb, g + LANES); }
        if (g < ngroups) { acc += gdot(wb, xb, g); }
    }
    // Two-level reduction (2 barriers, not log2(64) = 6): lanes 0..PARTS-1 of a slot each sum 8
    // partials, then lane 0 sums those PARTS. NORM's sum of squares rides along (threads 0-15).
    red[lid] = acc;
#ifdef NORM
    red_ss[lid] = ss;
#endif
    workgroupBarrier();
    if (lane < PARTS) { red2[slot * PARTS + lane] = sum8(lid + lane * 7u); }
#ifdef NORM
    if (lid < 16u) { red2[32u + lid] = sum16_ss(lid * 16u); }
#endif
    workgroupBarrier();
    if (lane != 0u || !valid) { return; }
    var scale = 1.0;
#ifdef NORM
    scale = norm_scale();
#endif
    var v = slot_total(slot) * scale;
#ifdef BIAS
    v += bias[row];
#endif
#ifdef GELU
    v = gelu(v);
#endif
#ifdef SWIGLU
    if (slot % 2u == 1u) { return; }
    let u = slot_total(slot + 1u) * scale;    // the partner slot: the up row
    let col = blk * (SLOTS / 2u) + slot / 2u;
    y[t * p.half + col] = gate(v) * u;
    return;
#endif
#ifdef ROPE
    if (slot % 2u == 1u) { return; }
    let row1 = slot_row(blk, slot + 1u);
    var v1 = slot_total(slot + 1u) * scale;
#ifdef BIAS
    v1 += bias[row1];
#endif
    let pos = step.pos + t;
    let hh = p.head_dim / 2u;
    if (row < p.q_dim + p.kv_dim) {          // q or k: rotate the pair
#ifdef NOROPE
        let r0 = v;
        let r1 = v1;
#else
        let i = select((row % p.head_dim) / 2u, row % p.head_dim, p.neox != 0u);
        let c = rope[(pos * hh + i) * 2u];
        let s = rope[(pos * hh + i) * 2u + 1u];
        let r0 = v * c - v1 * s;
        let r1 = v * s + v1 * c;
#endif
        if (row < p.q_dim) {
            y[t * p.q_dim + row] = r0;
            y[t * p.q_dim + row1] = r1;
        } else {
            let kr = row - p.q_dim;
            let kb = p.layer_off + ((kr / p.head_dim) * p.n_ctx + pos) * p.head_dim;
            kc[kb + kr % p.head_dim] = r0;
            kc[kb + (row1 - p.q_dim) % p.head_dim] = r1;
        }
    } else {                                  // v: copy into the cache
        let vr = row - p.q_dim - p.kv_dim;
        let vb = p.layer_off + ((vr / p.head_dim) * p.n_ctx + pos) * p.head_dim;
        vc[vb + vr % p.head_dim] = v;
        vc[vb + (row1 - p.q_dim - p.kv_dim) % p.head_dim] = v1;
    }
    return;
#endif
#ifdef RESIDUAL
    v += res[t * p.rows + row];
#endif
    y[t * p.rows + row] = v;
}
#endif
