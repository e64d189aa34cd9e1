// attention_prefill.wgsl -- causal grouped-query attention for a block of query tokens (prefill).
//
// attention.wgsl gives each (head, query token) its own workgroup, so every query re-reads all
// the keys it sees from global memory and pays a full set of barriers per 256 keys. Here a
// workgroup takes BQ = 16 consecutive query tokens of one head and walks the keys in tiles of
// BK = 16: each K/V tile is loaded once into workgroup memory and used by all 16 queries.
// Thread = (query qi = lid / 16, lane = lid % 16):
//   scores  lane is the key of the tile: s[qi, lane] = q[qi] . k[lane] * scale (causal mask)
//   softmax online per query row: row max over the 16 lanes, rescale by exp(m_old - m_new);
//           each lane keeps its own share of the row sum l (rows share m, so shares rescale alike)
//   values  lane owns dims 4 * lane .. 4 * lane + 3 of the output (a vec4 of v per key)
// Token t sits at position step.pos + t and sees keys 0..step.pos + t. Grid: (n_heads, blocks, 1).
// Needs head_dim <= 64 and a multiple of 4 (16 lanes x vec4); the device uses attention.wgsl
// otherwise. Workgroup memory: 3 tiles of 16 x 17 vec4 (padded rows: no bank conflicts) ~ 14 KB,
// under WebGPU's default 16 KB.
// WINDOW / SOFTCAP as in attention.wgsl: each query sees keys from step.pos + t + 1 - window on
// (the key tiles start at the block's first query's first key); scores soft-capped.

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
@group(0) @binding(8) var<storage, read> kc: array<vec4<f32>>;     // (kv_heads, n_ctx, head_dim / 4)
@group(0) @binding(9) var<storage, read> vc: array<vec4<f32>>;

const BQ: u32 = 16u;
const BK: u32 = 16u;
const ROW: u32 = 17u;                       // padded row stride of the tiles, in vec4
var<workgroup> qt: array<vec4<f32>, 272>;   // BQ queries x ROW
var<workgroup> kt: array<vec4<f32>, 272>;   // BK keys x ROW
var<workgroup> vt: array<vec4<f32>, 272>;   // BK values x ROW
var<workgroup> st: array<f32, 272>;         // BQ x ROW probabilities of the tile
var<workgroup> rr: array<f32, 256>;         // per-thread row-reduction inputs (max, then sum)

// The first key a query at position qpos sees: 0, or with WINDOW qpos + 1 - window.
fn first_key(qpos: u32) -> u32 {
#ifdef WINDOW
    return select(0u, qpos + 1u - p.window, qpos + 1u > p.window);
#else
    return 0u;
#endif
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let h = wid.x;
    let t0 = wid.y * BQ;
    let hd = p.head_dim;
    let n4 = hd / 4u;
    let qd = p.n_heads * hd;
    let qi = lid / 16u;
    let lane = lid % 16u;
    let t = t0 + qi;                                   // this thread's query token
    let n = step.n_tokens;
    let kbase = (h / (p.n_heads / p.n_kv_heads)) * p.n_ctx * n4;
    let kend = step.pos + min(t0 + BQ, n);             // keys [0, kend) are seen by some query here
    let klim = step.pos + t + 1u;                      // ... and [0, klim) by this thread's query
    let klo = first_key(step.pos + t);                 // (from klo with WINDOW)
    let kstart = first_key(step.pos + t0);             // the block's first query's first key

    if (lane < n4 && t < n) {
        let qb = t * qd + h * hd + 4u * lane;
        qt[qi * ROW + lane] = vec4<f32>(q[qb], q[qb + 1u], q[qb + 2u], q[qb + 3u]);
    } else {
        qt[qi * ROW + lane] = vec4<f32>(0.0);
    }
    var m = -3.4e38;                 // running max of this query's scores
    var l = 0.0;                     // this lane's share of sum exp(s - m)
    var acc = vec4<f32>(0.0);        // output dims 4 * lane ..
    for (var c0 = kstart; c0 < kend; c0 += BK) {
        // K/V tile: thread (row qi, vec4 lane); zeros past kend (0 * garbage could be NaN)
        let jl = c0 + qi;
        var kv4 = vec4<f32>(0.0);
        var vv4 = vec4<f32>(0.0);
        if (jl < kend && lane < n4) {
            kv4 = kc[kbase + jl * n4 + lane];
            vv4 = vc[kbase + jl * n4 + lane];
        }
        kt[qi * ROW + lane] = kv4;
        vt[qi * ROW + lane] = vv4;
        workgroupBarrier();

        let j = c0 + lane;
        var s = -3.4e38;
        let seen = j < klim && j >= klo;
        if (seen) {
            let qr = qi * ROW;
            let kr = lane * ROW;
            var d0 = 0.0; var d1 = 0.0;
            var i = 0u;
            for (; i + 2u <= n4; i += 2u) {
                d0 += dot(qt[qr + i], kt[kr + i]);
                d1 += dot(qt[qr + i + 1u], kt[kr + i + 1u]);
            }
            if (i < n4) { d0 += dot(qt[qr + i], kt[kr + i]); }
            s = (d0 + d1) * p.scale;
#ifdef SOFTCAP
            s = tanh(clamp(s / p.softcap, -15.0, 15.0)) * p.softcap;
#endif
        }
        rr[lid] = s;
        workgroupBarrier();
        let rb = qi * 16u;
        var mx = max(max(rr[rb], rr[rb + 1u]), max(rr[rb + 2u], rr[rb + 3u]));
        for (var r = rb + 4u; r < rb + 16u; r += 4u) {
            mx = max(mx, max(max(rr[r], rr[r + 1u]), max(rr[r + 2u], rr[r + 3u])));
        }
        let m_new = max(m, mx);
        let pj = select(0.0, exp(s - m_new), seen);
        let alpha = exp(m - m_new);
        st[qi * ROW + lane] = pj;
        l = l * alpha + pj;
        acc *= alpha;
        m = m_new;
        workgroupBarrier();

        if (lane < n4) {
            let sr = qi * ROW;
            var a1 = vec4<f32>(0.0);
            for (var jj = 0u; jj < BK; jj += 2u) {
                acc += st[sr + jj] * vt[jj * ROW + lane];
                a1 += st[sr + jj + 1u] * vt[(jj + 1u) * ROW + lane];
            }
            acc += a1;
        }
        workgroupBarrier();          // kt / vt / st / rr are rewritten by the next tile
    }
    rr[lid] = l;
    workgroupBarrier();
    if (lane < n4 && t < n) {
        let rb = qi * 16u;
        var lt = 0.0;
        for (var r = rb; r < rb + 16u; r += 4u) { lt += (rr[r] + rr[r + 1u]) + (rr[r + 2u] + rr[r + 3u]); }
        let o = acc / lt;
        let yb = t * qd + h * hd + 4u * lane;
        y[yb] = o.x;
        y[yb + 1u] = o.y;
        y[yb + 2u] = o.z;
        y[yb + 3u] = o.w;
    }
}
