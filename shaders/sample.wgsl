// sample.wgsl -- temperature / top-k / top-p / min-p sampling of each row of logits, on the GPU.
// One workgroup per row; the token id stays on the GPU (the next decode step's embed can read it)
// and only 4 bytes go back. The NumPy twin is webinfer.device.gpu_sample.sample_reference: the
// same filters, the same thresholds, the same inverse-CDF draw over ascending ids with the
// uniform number `u` the CPU drew from its seeded Generator, so a seed gives the same tokens.
//
// Every filter is a *value threshold* (as in webinfer.sampling): a token tied with the last one
// kept is kept. Thresholds are found by a bitwise search over the order-preserving u32 key of an
// f32 (key(a) >= key(b) <=> a >= b), from the top bit down, so the result is always the key of a
// real logit and ties never depend on ids or on thread timing:
//   top-k: the largest key K with count(key >= K) >= k           (= the k-th largest logit)
//   top-p: the largest key K with mass(key >= K) >= top_p * Z_k   (Z_k: mass of the top-k survivors,
//          mass = sum of exp(x - max), i.e. untempered probabilities renormalised over top-k)
//   min-p: exp(x - max) >= min_p                                   (p_i >= min_p * p_max)
// Then w_i = exp((x_i - max) / T) over the survivors; token = the first id whose running sum
// exceeds u * sum(w). Every sum is a fixed strided loop plus a tree, so a row always gives the
// same token for the same u (no atomics, nothing order-dependent).
// Cost: 2 x 32 search passes over the row (the top-p passes read exp(x - max) from `e`).
//
// MASK: only the tokens a grammar constraint allows take part (token_mask.wgsl, binding 6): a
// token it leaves out has key 0 (below every real logit's: no threshold counts it), exp 0 and
// weight 0, as a logit of -inf would (the twin's `mask`).

struct Params {
    cols: u32,          // vocabulary size
    top_k: u32,         // 0 or >= cols: off
    top_p: f32,         // >= 1: off
    min_p: f32,         // 0: off
    temperature: f32,   // > 0 (greedy is argmax.wgsl)
    u: f32,             // uniform random number in [0, 1)
    _a: u32,
    _b: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(3) var<storage, read> x: array<f32>;            // (rows, cols) logits
@group(0) @binding(4) var<storage, read_write> y: array<u32>;      // (rows,) token ids
@group(0) @binding(5) var<storage, read_write> e: array<f32>;      // (rows, cols) scratch: exp(x - max)

const WG: u32 = 256u;
const NONE: u32 = 0xffffffffu;
var<workgroup> rf: array<f32, 256>;
var<workgroup> ru: array<u32, 256>;

#ifdef MASK
#include "token_mask.wgsl"
#endif

fn key(v: f32) -> u32 {
    // flip all bits of negatives, only the sign bit of positives: unsigned order = float order
    let b = bitcast<u32>(v);
    return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}

// Column k of the row at base: its key, 0 for a token the mask leaves out.
fn kx(base: u32, k: u32) -> u32 {
#ifdef MASK
    return select(0u, key(x[base + k]), allowed(k));
#else
    return key(x[base + k]);
#endif
}

// Workgroup reductions: every thread passes its partial and gets the total back.
fn sum_f(lid: u32, v: f32) -> f32 {
    rf[lid] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (lid < s) { rf[lid] += rf[lid + s]; }
        workgroupBarrier();
    }
    let t = rf[0];
    workgroupBarrier();
    return t;
}

fn max_f(lid: u32, v: f32) -> f32 {
    rf[lid] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (lid < s) { rf[lid] = max(rf[lid], rf[lid + s]); }
        workgroupBarrier();
    }
    let t = rf[0];
    workgroupBarrier();
    return t;
}

fn sum_u(lid: u32, v: u32) -> u32 {
    ru[lid] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (lid < s) { ru[lid] += ru[lid + s]; }
        workgroupBarrier();
    }
    let t = ru[0];
    workgroupBarrier();
    return t;
}

fn min_u(lid: u32, v: u32) -> u32 {
    ru[lid] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (lid < s) { ru[lid] = min(ru[lid], ru[lid + s]); }
        workgroupBarrier();
    }
    let t = ru[0];
    workgroupBarrier();
    return t;
}

// The survivor's draw weight (0 if filtered out): column k of the row at base.
fn weight(base: u32, k: u32, m: f32, thr: u32) -> f32 {
    let i = base + k;
    let v = x[i];
    if (key(v) < thr || e[i] < p.min_p) { return 0.0; }
#ifdef MASK
    if (!allowed(k)) { return 0.0; }
#endif
    return exp((v - m) / p.temperature);
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let base = wid.x * p.cols;
    let n = p.cols;

    // 1. max and exp(x - max): each thread writes and later reads only its own strided entries.
    var mx = -3.4e38;
#ifdef MASK
    for (var k = lid; k < n; k += WG) { mx = max(mx, select(-3.4e38, x[base + k], allowed(k))); }
    let m = max_f(lid, mx);
    for (var k = lid; k < n; k += WG) { e[base + k] = select(0.0, exp(x[base + k] - m), allowed(k)); }
#else
    for (var k = lid; k < n; k += WG) { mx = max(mx, x[base + k]); }
    let m = max_f(lid, mx);
    for (var k = lid; k < n; k += WG) { e[base + k] = exp(x[base + k] - m); }
#endif

    // 2. top-k threshold key.
    var kk = 0u;
    if (p.top_k > 0u && p.top_k < n) {
        for (var i = 0u; i < 32u; i++) {
            let cand = kk | (0x80000000u >> i);
            var c = 0u;
            for (var k = lid; k < n; k += WG) { c += select(0u, 1u, kx(base, k) >= cand); }
            if (sum_u(lid, c) >= p.top_k) { kk = cand; }
        }
    }

    // 3. top-p threshold key, over the top-k survivors' renormalised probabilities.
    var thr = kk;
    if (p.top_p < 1.0) {
        var zs = 0.0;
        for (var k = lid; k < n; k += WG) { zs += select(0.0, e[base + k], kx(base, k) >= kk); }
        let goal = p.top_p * sum_f(lid, zs);
        var kp = 0u;
        for (var i = 0u; i < 32u; i++) {
            let cand = kp | (0x80000000u >> i);
            let c = max(cand, kk);   // below kk the mass is Z_k itself (same loop, same sum)
            var s = 0.0;
            for (var k = lid; k < n; k += WG) { s += select(0.0, e[base + k], kx(base, k) >= c); }
            let mass = sum_f(lid, s);
            if (mass >= goal && mass > 0.0) { kp = cand; }   // > 0: top_p = 0 keeps the max (and ties)
        }
        thr = max(kp, kk);
    }

    // 4. min-p + temperature weights over contiguous id chunks, so a prefix scan of the chunk sums
    //    orders the ids ascending; the chunk holding u * total walks to the token. The chunks read
    //    e[] written by other threads in step 1: make those writes visible first.
    storageBarrier();
    let chunk = (n + WG - 1u) / WG;
    let lo = min(lid * chunk, n);
    let hi = min(lo + chunk, n);
    var s = 0.0;
    var last = NONE;
    for (var k = lo; k < hi; k++) {
        let w = weight(base, k, m, thr);
        s += w;
        if (w > 0.0) { last = k; }
    }
    rf[lid] = s;
    workgroupBarrier();
    for (var off = 1u; off < WG; off <<= 1u) {     // Hillis-Steele inclusive scan
        let v = select(0.0, rf[lid - off], lid >= off);
        workgroupBarrier();
        rf[lid] += v;
        workgroupBarrier();
    }
    let incl = rf[lid];
    let excl = select(0.0, rf[lid - 1u], lid > 0u);
    let goal = p.u * rf[WG - 1u];
    workgroupBarrier();
    var pick = NONE;
    if (goal >= excl && goal < incl) {
        var acc = excl;
        for (var k = lo; k < hi; k++) {
            acc += weight(base, k, m, thr);
            if (acc > goal) { pick = k; break; }
        }
        if (pick == NONE) { pick = last; }         // rounding put the goal past this chunk's walk
    }
    let tok = min_u(lid, pick);
    // u * total rounded up to total: no chunk claims it, take the last id with weight (as the twin)
    let fallback = NONE - min_u(lid, select(NONE - last, NONE, last == NONE));
    if (lid == 0u) { y[wid.x] = select(tok, fallback, tok == NONE); }
}
