// attention_encoder.wgsl -- bidirectional attention of a batch of padded sequences (BERT encoders).
//
// qkv is the fused projection of B sequences of S rows each, (B * S, 3 * D) with D = n_heads *
// head_dim: row b * S + i holds token i of sequence b as q | k | v, heads side by side. The query
// of row b * S + i, head h, sees keys 0 .. len[b] - 1 of its own sequence (no causal mask; the
// padded keys past len[b] never), scores scaled by 1 / sqrt(head_dim); y (B * S, D) takes the
// softmax-weighted values. Padded query rows get values too (their keys are real), which nothing
// reads. Twin: numpy_device.NumpyDevice.encoder_attention.
//
// One workgroup of 64 threads per (head, row): the query goes to workgroup memory, thread t takes
// keys t, t + 64, ... (a dot product each, into sc), the row max and sum are tree reductions, then
// thread t sums p_j v_j for dims t, t + 64, .... Up to MAX_KEYS keys (BERT's 512 positions) and
// head_dim <= 256. Grid: (n_heads, rows over x, rows over y) with x * y >= B * S.

struct Params { n_heads: u32, head_dim: u32, seq_len: u32, n_rows: u32, scale: f32, nwg_y: u32, _a: u32, _b: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(3) var<storage, read> qkv: array<f32>;          // (B * S, 3 * D)
@group(0) @binding(4) var<storage, read_write> y: array<f32>;      // (B * S, D)
@group(0) @binding(5) var<storage, read> lens: array<u32>;         // (B,) tokens of each sequence

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
