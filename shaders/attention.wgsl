// attention.wgsl -- causal grouped-query attention over the KV cache, decode and prefill.
//
// One workgroup per (query head, query token): token t sits at position step.pos + t and sees
// keys 0..step.pos + t. Keys are taken 256 at a time (one score per thread, in workgroup
// memory) with the online-softmax rescale between chunks, so any context length works with
// fixed workgroup memory. For the weighted sum of values, thread = (part, dim): parts split
// the chunk's keys, dims are coalesced reads of a value row; the parts are summed at the end.
// The number of keys is read from the step uniform, so a recorded decode step replays for any
// position without re-encoding.
//
// SPLIT (decode): flash-decoding. The keys are cut into n_splits runs of split_len (<= 256);
// grid z is the run, so n_heads * n_splits workgroups share the work instead of n_heads (9 for
// SmolLM2: most of the GPU idle). Each writes an unnormalised partial; attention_combine.wgsl
// (or matvec.wgsl COMBINE) merges them. Its body is attention_split.wgsl (shared with
// decode_fused.wgsl), which says how it keeps each phase's loads in flight.
// Needs head_dim <= 256 and a multiple of 4 (keys are read as vec4).
//
// WINDOW (sliding-window layers, Gemma): a query at position q sees keys q - window + 1 .. q only;
// the key loop starts there (a SPLIT run below it is an empty partial, which the merges skip).
// SOFTCAP (Gemma 2): each scaled score s becomes tanh(s / softcap) * softcap before the softmax.
// (Twin of both: numpy_device._attend_gemma.)

#ifdef WINDOW SOFTCAP
struct Params { n_heads: u32, n_kv_heads: u32, head_dim: u32, n_ctx: u32, scale: f32, n_splits: u32, split_len: u32,
                window: u32, softcap: f32, _d: u32, _e: u32, _f: u32 }
#else
struct Params { n_heads: u32, n_kv_heads: u32, head_dim: u32, n_ctx: u32, scale: f32, n_splits: u32, split_len: u32, _c: u32 }
#endif
struct Step { pos: u32, n_tokens: u32, _a: u32, _b: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(3) var<storage, read> q: array<f32>;            // (n, n_heads * head_dim)
@group(0) @binding(4) var<storage, read_write> y: array<f32>;      // (n, n_heads * head_dim)
@group(0) @binding(8) var<storage, read> kc: array<vec4<f32>>;     // (kv_heads, n_ctx, head_dim / 4): vec4 loads
#ifdef SPLIT
@group(0) @binding(9) var<storage, read> vc: array<vec4<f32>>;     // SPLIT reads values as vec4 too
#else
@group(0) @binding(9) var<storage, read> vc: array<f32>;
#endif
#ifdef SPLIT
@group(0) @binding(10) var<storage, read_write> part_out: array<f32>;  // (n_heads, n_splits, head_dim + 2)
#endif

var<workgroup> qs: array<vec4<f32>, 64>;
var<workgroup> sc: array<f32, 256>;
var<workgroup> red: array<f32, 256>;
var<workgroup> red2: array<f32, 16>;    // reduce_max's 16 partials
var<workgroup> red3: array<f32, 16>;    // reduce_sum's
#ifdef SPLIT
var<workgroup> redv: array<vec4<f32>, 256>;   // per-part value sums
#endif

#include "reduce.wgsl"

// The first key a query at position qpos sees: 0, or with WINDOW qpos + 1 - window.
fn first_key(qpos: u32) -> u32 {
#ifdef WINDOW
    return select(0u, qpos + 1u - p.window, qpos + 1u > p.window);
#else
    return 0u;
#endif
}

#ifdef SOFTCAP
// tanh's argument clamped where it is +-1 in f32 already (gate.wgsl says why)
fn soft_cap(s: f32) -> f32 { return tanh(clamp(s / p.softcap, -15.0, 15.0)) * p.softcap; }
#endif

#ifdef SPLIT
// the loads and stores attention_split.wgsl's split_block makes
fn split_q4(i: u32) -> vec4<f32> { return vec4<f32>(q[i], q[i + 1u], q[i + 2u], q[i + 3u]); }
fn split_k(i: u32) -> vec4<f32> { return kc[i]; }
fn split_v(i: u32) -> vec4<f32> { return vc[i]; }
fn split_store(i: u32, v: f32) { part_out[i] = v; }

#include "attention_split.wgsl"

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let h = wid.x;
    let hd = p.head_dim;
    let k0 = max(wid.z * p.split_len, first_key(step.pos));   // this workgroup: keys [k0, k1), one token
    let k1 = min(step.pos + 1u, k0 + p.split_len);
    let kvh = h / (p.n_heads / p.n_kv_heads);
    let kb4 = (kvh * p.n_ctx + k0) * (hd / 4u);      // vec4 index of key k0's row (keys and values)
    split_block(lid, hd, k0, k1, h * hd, kb4, kb4, p.scale, (h * p.n_splits + wid.z) * (hd + 2u), false);
}
#else
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let h = wid.x;
    let t = wid.y;
    let hd = p.head_dim;
    let k0 = first_key(step.pos + t);
    let k1 = step.pos + t + 1u;
    let kvh = h / (p.n_heads / p.n_kv_heads);
    let qd = p.n_heads * hd;
    let kbase = kvh * p.n_ctx * hd;
    let qb = t * qd + h * hd;
    if (lid < hd / 4u) { qs[lid] = vec4<f32>(q[qb + 4u * lid], q[qb + 4u * lid + 1u], q[qb + 4u * lid + 2u], q[qb + 4u * lid + 3u]); }
    workgroupBarrier();
    let nparts = 256u / hd;
    let part = lid / hd;
    let d = lid % hd;
    var m = -3.4e38;     // running max of the scores
    var l = 0.0;         // running sum of exp(score - m)
    var acc = 0.0;       // this thread's share of sum_j p_j v[j, d]
    for (var c0 = k0; c0 < k1; c0 += 256u) {
        let j = c0 + lid;
        var s = -3.4e38;
        if (j < k1) {
            // 4 independent vec4 loads per iteration: Naga's bounded loops are not unrolled
            // by the driver, so a 1-load body would wait out each load's latency in turn.
            let kr = (kbase + j * hd) / 4u;
            let n4 = hd / 4u;
            var d0 = 0.0; var d1 = 0.0; var d2 = 0.0; var d3 = 0.0;
            var i = 0u;
            for (; i + 4u <= n4; i += 4u) {
                d0 += dot(qs[i], kc[kr + i]);
                d1 += dot(qs[i + 1u], kc[kr + i + 1u]);
                d2 += dot(qs[i + 2u], kc[kr + i + 2u]);
                d3 += dot(qs[i + 3u], kc[kr + i + 3u]);
            }
            for (; i < n4; i++) { d0 += dot(qs[i], kc[kr + i]); }
            s = ((d0 + d1) + (d2 + d3)) * p.scale;
#ifdef SOFTCAP
            s = soft_cap(s);
#endif
        }
        let m_new = max(m, reduce_max(lid, s));
        let pj = select(0.0, exp(s - m_new), j < k1);
        sc[lid] = pj;
        let alpha = exp(m - m_new);
        l = l * alpha + reduce_sum(lid, pj);   // reduce_sum's barriers also publish sc
        acc *= alpha;
        m = m_new;
        if (part < nparts) {
            let cn = min(256u, k1 - c0);
            let vb = kbase + c0 * hd + d;
            var jj = part;
            var a1 = 0.0; var a2 = 0.0; var a3 = 0.0;
            for (; jj + 3u * nparts < cn; jj += 4u * nparts) {      // 4 loads in flight
                acc += sc[jj] * vc[vb + jj * hd];
                a1 += sc[jj + nparts] * vc[vb + (jj + nparts) * hd];
                a2 += sc[jj + 2u * nparts] * vc[vb + (jj + 2u * nparts) * hd];
                a3 += sc[jj + 3u * nparts] * vc[vb + (jj + 3u * nparts) * hd];
            }
            for (; jj < cn; jj += nparts) { acc += sc[jj] * vc[vb + jj * hd]; }
            acc += (a1 + a2) + a3;
        }
        workgroupBarrier();
    }
    red[lid] = select(0.0, acc, part < nparts);
    workgroupBarrier();
    if (lid < hd) {
        var o = 0.0;
        for (var pp = 0u; pp < nparts; pp++) { o += red[pp * hd + lid]; }
        y[t * qd + h * hd + lid] = o / l;
    }
}
#endif
