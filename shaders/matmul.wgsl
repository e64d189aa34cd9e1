// matmul.wgsl -- Y = X @ W^T for many rows of X (prefill), W quantized (quant.wgsl).
//
// Tiled: a workgroup computes a 64-token x 64-row tile of Y; thread (tx, ty) of 16 x 16 owns
// a 4 x 4 register tile: tokens 4ty..4ty+3 x tile columns 4tx..4tx+3, held in four vec4
// accumulators. The K loop goes 32 weights (a quant block; an eighth of a K-quant's) at a time: each of the 256
// threads dequantizes 8 weights of one row (one dq8: every weight of the 64 x 32 W tile is
// dequantized once and then used by 64 tokens) and loads 8 activations of one token, both
// stored k-major as vec4 quads in workgroup memory (2 x 8 KiB = the WebGPU default 16 KiB),
// so the inner product step is 2 vec4 workgroup loads + 16 FMAs.
//
// No private arrays and no short inner loops with dynamically indexed registers: Naga bounds
// every loop with a counter held in a local variable (wgpu >= 25), which keeps drivers from
// unrolling them, so `acc[a][b]` in a loop lands in local memory (stack) instead of registers.
// Everything per thread is a named vec4 and the hot loop is unrolled by hand.
// Grid: x = column tiles, y = token tiles.
//
// Variants (#ifdef): BIAS, RESIDUAL (Y += R), SWIGLU (a tile covers 32 output columns: tile
// column 4c+0/1 is gate row 32*tile + 2c + 0/1 and 4c+2/3 the matching up row, so each thread
// holds its gate/up pairs: Y = silu(g) * u; + GEGLU: gelu_tanh(g) * u, gate.wgsl), GELU (Y = gelu(Y)
// after BIAS, as matvec.wgsl's GELU; + ERF: the erf form, gelu.wgsl); plus the weight type Q4_0 |
// Q4_1 | Q8_0 | F16 | F32 | Q5_0 | Q5_1 | Q4_K | Q6_K.

#include "quant.wgsl"
#ifdef SWIGLU
#include "gate.wgsl"
#endif

struct Params { rows: u32, cols: u32, row_words: u32, n: u32, half: u32, _a: u32, _b: u32, _c: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read> w: array<u32>;
@group(0) @binding(3) var<storage, read> x: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
#ifdef BIAS
@group(0) @binding(6) var<storage, read> bias: array<f32>;
#endif
#ifdef RESIDUAL
@group(0) @binding(7) var<storage, read> res: array<f32>;
#endif

#ifdef GELU
#include "gelu.wgsl"
#endif

const STEPS: u32 = GROUPS_PER_BLOCK / 4u;   // K steps of 32 weights a quant block (8 for a K-quant's 256)

var<workgroup> xs: array<vec4<f32>, 512>;   // [k 0..31][token quad 0..15]
var<workgroup> ws: array<vec4<f32>, 512>;   // [k 0..31][column quad 0..15]

struct Acc { t0: vec4<f32>, t1: vec4<f32>, t2: vec4<f32>, t3: vec4<f32> }

// One k step of the register tile: 4 tokens (xq) x 4 columns (wq).
fn mac(a: Acc, xq: vec4<f32>, wq: vec4<f32>) -> Acc {
    return Acc(fma(vec4<f32>(xq.x), wq, a.t0), fma(vec4<f32>(xq.y), wq, a.t1),
               fma(vec4<f32>(xq.z), wq, a.t2), fma(vec4<f32>(xq.w), wq, a.t3));
}

// The W row behind tile column c (0..63), and whether it exists.
fn tile_row(tile: u32, c: u32) -> u32 {
#ifdef SWIGLU
    return tile * 32u + (c / 4u) * 2u + (c % 2u) + ((c % 4u) / 2u) * p.half;
#endif
    return tile * 64u + c;
}

fn row_ok(tile: u32, c: u32) -> bool {
#ifdef SWIGLU
    return tile * 32u + (c / 4u) * 2u + (c % 2u) < p.half;
#endif
    return tile * 64u + c < p.rows;
}

// 4 activations of x from flat index base + k; zeros past the row end (F16/F32 rows are
// padded to 32 weights, so k can run past cols).
fn xv(base: u32, k: u32) -> vec4<f32> {
    if (k + 4u <= p.cols) {
        return vec4<f32>(x[base + k], x[base + k + 1u], x[base + k + 2u], x[base + k + 3u]);
    }
    var v = vec4<f32>(0.0);
    if (k < p.cols) { v.x = x[base + k]; }
    if (k + 1u < p.cols) { v.y = x[base + k + 1u]; }
    if (k + 2u < p.cols) { v.z = x[base + k + 2u]; }
    return v;
}

// Token t's 4 tile columns 4tx..4tx+3 into y (with the variant's epilogue).
fn store(tile: u32, tx: u32, t: u32, v: vec4<f32>) {
    if (t >= p.n) { return; }
#ifdef SWIGLU
    let oc = tile * 32u + tx * 2u;        // output columns oc, oc + 1: gates v.xy, ups v.zw
    var g = v.xy;
    var u = v.zw;
#ifdef BIAS
    g += vec2<f32>(bias[oc], bias[oc + 1u]);
    u += vec2<f32>(bias[oc + p.half], bias[oc + 1u + p.half]);
#endif
    let o = gate2(g) * u;
    if (oc < p.half) { y[t * p.half + oc] = o.x; }
    if (oc + 1u < p.half) { y[t * p.half + oc + 1u] = o.y; }
    return;
#endif
    let r0 = tile * 64u + tx * 4u;
    for (var j = 0u; j < 4u; j++) {
        let row = r0 + j;
        if (row >= p.rows) { return; }
        var o = v[j];
#ifdef BIAS
        o += bias[row];
#endif
#ifdef GELU
        o = gelu(o);
#endif
#ifdef RESIDUAL
        o += res[t * p.rows + row];
#endif
        y[t * p.rows + row] = o;
    }
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let tile = wid.x;
    let t0 = wid.y * 64u;
    let tx = lid % 16u;
    let ty = lid / 16u;
    // Loader roles: consecutive threads take consecutive tokens / rows, so the workgroup
    // stores below hit 32 different banks. sub = which 8 of the block's 32 k.
    let lt = lid % 64u;
    let sub = lid / 64u;
    let tok_ok = t0 + lt < p.n;
    let xbase = (t0 + lt) * p.cols;
    let w_ok = row_ok(tile, lt);
    let wbase = tile_row(tile, lt) * p.row_words;
    let quad = lt / 4u;
    let comp = lt % 4u;
    var acc = Acc(vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0));
    let nsteps = p.row_words / BLOCK_WORDS * STEPS;
    for (var blk = 0u; blk < nsteps; blk++) {           // blk: 32 weights of k
        let k = blk * 32u + sub * 8u;
        var xa = vec4<f32>(0.0);
        var xb = vec4<f32>(0.0);
        if (tok_ok) { xa = xv(xbase, k); xb = xv(xbase, k + 4u); }
        var q = W8(vec4<f32>(0.0), vec4<f32>(0.0));
        if (w_ok) { q = dq8(wbase + (blk / STEPS) * BLOCK_WORDS, (blk % STEPS) * 4u + sub); }
        let kr = sub * 8u * 16u + quad;      // (k row sub*8) x (quad)
        xs[kr][comp] = xa.x;       ws[kr][comp] = q.a.x;
        xs[kr + 16u][comp] = xa.y; ws[kr + 16u][comp] = q.a.y;
        xs[kr + 32u][comp] = xa.z; ws[kr + 32u][comp] = q.a.z;
        xs[kr + 48u][comp] = xa.w; ws[kr + 48u][comp] = q.a.w;
        xs[kr + 64u][comp] = xb.x; ws[kr + 64u][comp] = q.b.x;
        xs[kr + 80u][comp] = xb.y; ws[kr + 80u][comp] = q.b.y;
        xs[kr + 96u][comp] = xb.z; ws[kr + 96u][comp] = q.b.z;
        xs[kr + 112u][comp] = xb.w; ws[kr + 112u][comp] = q.b.w;
        workgroupBarrier();
        for (var kk = 0u; kk < 512u; kk += 64u) {      // 4 k per iteration, unrolled
            acc = mac(acc, xs[kk + ty], ws[kk + tx]);
            acc = mac(acc, xs[kk + 16u + ty], ws[kk + 16u + tx]);
            acc = mac(acc, xs[kk + 32u + ty], ws[kk + 32u + tx]);
            acc = mac(acc, xs[kk + 48u + ty], ws[kk + 48u + tx]);
        }
        workgroupBarrier();
    }
    let t = t0 + ty * 4u;
    store(tile, tx, t, acc.t0);
    store(tile, tx, t + 1u, acc.t1);
    store(tile, tx, t + 2u, acc.t2);
    store(tile, tx, t + 3u, acc.t3);
}
