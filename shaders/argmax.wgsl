// argmax.wgsl -- greedy token of each row of logits (ties -> lowest id), one workgroup per row.
// The result stays on the GPU (the next decode step's embed reads it); only 4 bytes go back.
//
// The scan issues 32 independent loads per round (Naga's bounded loops are not unrolled by the
// driver, and a round's compares wait for its loads: with 4 a round, a 49152 vocabulary took 48
// waits in a row), and the reduction is two levels (16 x 16) with 2 barriers instead of 8
// (argmax_best.wgsl, shared with the fused decode step's in-kernel argmax).

struct Params { cols: u32, _a: u32, _b: u32, _c: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(3) var<storage, read> x: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<u32>;

var<workgroup> bv: array<f32, 256>;
var<workgroup> bi: array<u32, 256>;
var<workgroup> bv2: array<f32, 16>;
var<workgroup> bi2: array<u32, 16>;

#include "argmax_best.wgsl"
#ifdef MASK

// MASK: only the tokens a grammar constraint allows (token_mask.wgsl, binding 6) take part; a
// token it leaves out reads as MASKED, below the scan's start value, so it never wins.
#include "token_mask.wgsl"
const MASKED: f32 = -3.4028234e38;    // the lowest f32: below the -3.4e38 every scan starts from
var<private> row_base: u32;           // the row's first index in x (column = index - row_base)

fn xm(i: u32) -> f32 { return select(MASKED, x[i], allowed(i - row_base)); }
#endif

// x at i, i + 256, ..., i + 1792: a lane's next 8 values, loaded together
fn load8(i: u32) -> array<f32, 8> {
#ifdef MASK
    return array<f32, 8>(xm(i), xm(i + 256u), xm(i + 512u), xm(i + 768u), xm(i + 1024u), xm(i + 1280u),
                         xm(i + 1536u), xm(i + 1792u));
#else
    return array<f32, 8>(x[i], x[i + 256u], x[i + 512u], x[i + 768u], x[i + 1024u], x[i + 1280u], x[i + 1536u],
                         x[i + 1792u]);
#endif
}

// b against load8's values from column k on: increasing columns, so a strict > keeps the first
fn fold8(b: Best, v: array<f32, 8>, k: u32) -> Best {
    var c = b;
    if (v[0] > c.v) { c = Best(v[0], k); }
    if (v[1] > c.v) { c = Best(v[1], k + 256u); }
    if (v[2] > c.v) { c = Best(v[2], k + 512u); }
    if (v[3] > c.v) { c = Best(v[3], k + 768u); }
    if (v[4] > c.v) { c = Best(v[4], k + 1024u); }
    if (v[5] > c.v) { c = Best(v[5], k + 1280u); }
    if (v[6] > c.v) { c = Best(v[6], k + 1536u); }
    if (v[7] > c.v) { c = Best(v[7], k + 1792u); }
    return c;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let base = wid.x * p.cols;
#ifdef MASK
    row_base = base;
#endif
    var b = Best(-3.4e38, 0xffffffffu);
    var k = lid;
    // 32 loads a round (a lane's 192 of a 49152 vocabulary in 6 rounds), all out before the first
    // compare; what is left 8 a round, then one
    for (; k + 31u * 256u < p.cols; k += 8192u) {
        let v0 = load8(base + k);
        let v1 = load8(base + k + 2048u);
        let v2 = load8(base + k + 4096u);
        let v3 = load8(base + k + 6144u);
        b = fold8(fold8(fold8(fold8(b, v0, k), v1, k + 2048u), v2, k + 4096u), v3, k + 6144u);
    }
    for (; k + 7u * 256u < p.cols; k += 2048u) { b = fold8(b, load8(base + k), k); }
    for (; k < p.cols; k += 256u) {
#ifdef MASK
        let v = xm(base + k);
#else
        let v = x[base + k];
#endif
        if (v > b.v) { b = Best(v, k); }
    }
    let c = best_of_workgroup(lid, b);
    if (lid == 0u) {
        y[wid.x] = select(c.i, 0u, c.i == 0xffffffffu);
    }
}
