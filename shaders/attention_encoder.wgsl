// attention_encoder.wgsl -- bidirectional attention of a batch of padded sequences (BERT encoders).
//
// qkv is the fused projection of B sequences of S rows each, (B * S, 3 * D) with D = n_heads *
// head_dim: row b * S + i holds token i of sequence b as q | k | v, heads side by side. The query
// of row b * S + i, head h, sees keys 0 .. len[b] - 1 of its own sequence (no causal mask; the
// padded keys past len[b] never), scores scaled by 1 / sqrt(head_dim); y (B * S, D) takes the
// softmax-weighted values. Padded query rows get values too (their keys are real), which nothing
// reads. Twin: numpy_device.NumpyDevice.encoder_attention.
//
// Default: one workgroup of 64 threads per (head, row): the query goes to workgroup memory,
// thread t takes keys t, t + 64, ... (a dot product each, into sc), the row max and sum are tree
// reductions, then thread t sums p_j v_j for dims t, t + 64, .... Up to MAX_KEYS keys (BERT's 512
// positions) and head_dim <= 256. Grid: (n_heads, rows over x, rows over y) with x * y >= B * S.
//
// TILED (head_dim <= 64, a multiple of 4: MiniLM's 32), as attention_prefill.wgsl: a workgroup of
// 256 takes BQ = 16 query rows of one sequence and head and walks its keys in tiles of BK = 16,
// each K/V tile loaded once into workgroup memory for all 16 queries, with an online softmax.
// Thread (query qi = lid / 16, lane = lid % 16): lane is the tile's key for the scores, and owns
// output dims 4 lane .. 4 lane + 3. Grid: (n_heads, query blocks of a sequence, B).

struct Params { n_heads: u32, head_dim: u32, seq_len: u32, n_rows: u32, scale: f32, nwg_y: u32, _a: u32, _b: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;      // (B * S, D)
@group(0) @binding(5) var<storage, read> lens: array<u32>;         // (B,) tokens of each sequence
#ifdef TILED
@group(0) @binding(3) var<storage, read> qkv: array<vec4<f32>>;    // (B * S, 3 * D / 4)

const BQ: u32 = 16u;
const BK: u32 = 16u;
const ROW: u32 = 17u;                       // padded row stride of the tiles, in vec4
var<workgroup> qt: array<vec4<f32>, 272>;   // BQ queries x ROW
var<workgroup> kt: array<vec4<f32>, 272>;   // BK keys x ROW
var<workgroup> vt: array<vec4<f32>, 272>;   // BK values x ROW
var<workgroup> st: array<f32, 272>;         // BQ x ROW probabilities of the tile
var<workgroup> rr: array<f32, 256>;         // per-thread row-reduction inputs (max, then sum)

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let h = wid.x;
    let seq = wid.z;
    let t0 = wid.y * BQ;                             // the block's first query token in its sequence
    let n4 = p.head_dim / 4u;
    let d4 = p.n_heads * n4;                         // D in vec4s
    let stride = 3u * d4;
    let qi = lid / 16u;
    let lane = lid % 16u;
    let t = t0 + qi;                                 // this thread's query token
    let first = seq * p.seq_len;                     // row of the sequence's first token
    let n_keys = lens[seq];
    let hb = h * n4 + lane;                          // this lane's vec4 of head h in q (k: + d4, v: + 2 d4)

    if (lane < n4 && t < p.seq_len) {
        qt[qi * ROW + lane] = qkv[(first + t) * stride + hb] * p.scale;
    } else {
        qt[qi * ROW + lane] = vec4<f32>(0.0);
    }
    var m = -3.4e38;                 // running max of this query's scores
    var l = 0.0;                     // this lane's share of sum exp(s - m)
    var acc = vec4<f32>(0.0);        // output dims 4 * lane ..
    for (var c0 = 0u; c0 < n_keys; c0 += BK) {
        // K/V tile: thread (row qi, vec4 lane); zeros past the keys (0 * garbage could be NaN)
        let jl = c0 + qi;
        var kv4 = vec4<f32>(0.0);
        var vv4 = vec4<f32>(0.0);
        if (jl < n_keys && lane < n4) {
            let kb = (first + jl) * stride + hb;
            kv4 = qkv[kb + d4];
            vv4 = qkv[kb + 2u * d4];
        }
        kt[qi * ROW + lane] = kv4;
        vt[qi * ROW + lane] = vv4;
        workgroupBarrier();

        let j = c0 + lane;
        var s = -3.4e38;
        let seen = j < n_keys;
        if (seen) {
            let qr = qi * ROW;
            let kr = lane * ROW;
            var d0 = 0.0;
            for (var i = 0u; i < n4; i++) {
                d0 += dot(qt[qr + i], kt[kr + i]);
            }
            s = d0;
        }
        rr[lid] = s;
        workgroupBarrier();
        let rb = qi * 16u;
        var mx = rr[rb];
        for (var r = rb + 1u; r < rb + 16u; r++) {
            mx = max(mx, rr[r]);
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
            for (var jj = 0u; jj < BK; jj++) {
                acc += st[sr + jj] * vt[jj * ROW + lane];
            }
        }
        workgroupBarrier();          // kt / vt / st / rr are rewritten by the next tile
    }
    rr[lid] = l;
    workgroupBarrier();
    if (lane < n4 && t < p.seq_len) {
        let rb = qi * 16u;
        var lt = 0.0;
        for (var r = rb; r < rb + 16u; r++) { lt += rr[r]; }
        let o = acc / lt;
        let yb = ((first + t) * d4 + h * n4 + lane) * 4u;
        y[yb] = o.x;
        y[yb + 1u] = o.y;
        y[yb + 2u] = o.z;
        y[yb + 3u] = o.w;
    }
}
#else
@group(0) @binding(3) var<storage, read> qkv: array<f32>;          // (B * S, 3 * D)

const MAX_KEYS: u32 = 512u;
var<workgroup> qs: array<f32, 256>;
var<workgroup> sc: array<f32, MAX_KEYS>;
var<workgroup> red: array<f32, 64>;

fn reduce_max(lid: u32, v: f32) -> f32 {
    red[lid] = v;
    workgroupBarrier();
    for (var s = 32u; s > 0u; s = s / 2u) {
        if (lid < s) { red[lid] = max(red[lid], red[lid + s]); }
        workgroupBarrier();
    }
    let r = red[0];
    workgroupBarrier();
    return r;
}

fn reduce_sum(lid: u32, v: f32) -> f32 {
    red[lid] = v;
    workgroupBarrier();
    for (var s = 32u; s > 0u; s = s / 2u) {
        if (lid < s) { red[lid] = red[lid] + red[lid + s]; }
        workgroupBarrier();
    }
    let r = red[0];
    workgroupBarrier();
    return r;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let h = wid.x;
    let row = wid.y + wid.z * p.nwg_y;
    if (row >= p.n_rows) { return; }           // (the whole workgroup: no barrier is left waiting)
    let hd = p.head_dim;
    let d = p.n_heads * hd;
    let seq = row / p.seq_len;
    let first = seq * p.seq_len;               // row of the sequence's first token
    let n_keys = min(lens[seq], MAX_KEYS);
    let stride = 3u * d;
    for (var i = lid; i < hd; i += 64u) {
        qs[i] = qkv[row * stride + h * hd + i] * p.scale;
    }
    workgroupBarrier();
    var m = -3.0e38;
    for (var j = lid; j < n_keys; j += 64u) {
        let kb = (first + j) * stride + d + h * hd;
        var s = 0.0;
        for (var i = 0u; i < hd; i++) {
            s = fma(qs[i], qkv[kb + i], s);
        }
        sc[j] = s;
        m = max(m, s);
    }
    m = reduce_max(lid, m);
    var l = 0.0;
    for (var j = lid; j < n_keys; j += 64u) {
        let e = exp(sc[j] - m);
        sc[j] = e;
        l += e;
    }
    l = reduce_sum(lid, l);                    // (its barriers also publish sc)
    let inv = 1.0 / l;
    for (var i = lid; i < hd; i += 64u) {
        var o = 0.0;
        let vb = first * stride + 2u * d + h * hd + i;
        for (var j = 0u; j < n_keys; j++) {
            o = fma(sc[j], qkv[vb + j * stride], o);
        }
        y[row * d + h * hd + i] = o * inv;
    }
}
#endif
