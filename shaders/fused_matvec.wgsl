// fused_matvec.wgsl -- decode_fused.wgsl's EMBED and MATVEC commands (matvec.wgsl's decode kernel,
// its variants as flags, a layout picked per command), the weight decoders they share, and the
// prefetch idle workgroups run.

// W_<type>: the weight types the step uses (fused.py), W_BATCHED those of the batched path (rd_<type>),
// W_GROUPWISE those of 256-weight blocks (W_256); the others' code is left out (smaller code measured faster)
fn dq(qt: u32, base: u32, sub: u32) -> W8 {
    switch qt {
#each T in W_BATCHED
        case QT_{{T}}: { return dq8_{{t}}(base, sub); }
#endeach
#each T in W_GROUPWISE
        case QT_{{T}}: { return dq8_{{t}}(base, sub); }
#endeach
        default: {
#ifdef W_F32
            return dq8_f32(base, sub);
#else
            return W8(vec4<f32>(0.0), vec4<f32>(0.0));
#endif
        }
    }
}

#ifdef W_256
// W_256: the step uses a type of 256-weight blocks (32 groups of 8 a block), W_GROUPWISE lists
// them (fused_layout.GROUPWISE): decoded a group at a time with dq8_<type> (gdot32, embed32); a
// group's words (scales, codes, high bits) do not fit raw_group's 4
fn groupwise(qt: u32) -> bool {
    switch qt {
#each T in W_GROUPWISE
        case QT_{{T}}: { return true; }
#endeach
        default: { return false; }
    }
}

#endif
fn wf(i: u32) -> f32 { return bitcast<f32>(w[i]); }

fn kv_store(i: u32, v: f32) { kv[i / 4u][i % 4u] = v; }

// -- prefetch ---------------------------------------------------------------------------------
// Workgroups with nothing to do in a command read a word of each 32-byte sector of the weights
// a later command uses (fused.py picks them: C_PF, C_PFN words) and, in a ROPE command, of the
// keys and values 0 .. pos - 1 the next attention reads, so that those commands find them in L2
// rather than in memory (measured faster, bench/RESULTS.md). At most two
// rounds of two loads a thread, so that they do not hold up the barrier after the command;
// the words are combined and tested so that the loads are kept.
fn prefetch(ci: u32, i: u32, n: u32, lid: u32) {
    let st = n * 256u;
    let s0 = i * 256u + lid;
    let base = cw(ci, C_PF);
    let ns = min(cw(ci, C_PFN) / 8u, 4u * st);
    var acc = 0u;
    for (var s = s0; s < ns; s += 2u * st) {
        let a = w[base + s * 8u];             // both loads out before either is used
        var b = 0u;
        if (s + st < ns) { b = w[base + (s + st) * 8u]; }
        acc ^= a ^ b;
    }
    // keys only where a row fills whole 128-byte lines (head_dim >= 32): a line read here must not
    // also hold row pos, which this command writes and the attention then reads (grid_wait)
    let hd = A_HD;
    if ((cw(ci, C_FLAGS) & F_ROPE) != 0u && hd >= 32u) {
        let per = spos * (hd / 8u);       // sectors of a head's keys (rows of hd floats)
        let nk = min(2u * (cw(ci, C_KV_DIM) / hd) * per, 4u * st);
        let inv = 1.0 / f32(max(per, 1u));
        for (var s = s0; s < nk; s += 2u * st) {
            let a = kv[kv_sector(ci, s, per, inv)].x;
            var b = 0.0;
            if (s + st < nk) { b = kv[kv_sector(ci, s + st, per, inv)].x; }
            acc ^= bitcast<u32>(a) ^ bitcast<u32>(b);
        }
    }
    if (spos == 0xFFFFFFFFu && acc == 0x7FC00001u) { wflag = 2u; }    // never (positions < n_ctx)
}

// the vec4 of the KV cache that starts sector s of a ROPE command's layer: keys then values,
// per sectors a KV head. s / per by its float reciprocal inv (an integer division by a runtime
// value is ~20 instructions, and idle workgroups share their SM with busy ones), corrected by one.
fn kv_sector(ci: u32, s: u32, per: u32, inv: f32) -> u32 {
    let nkv = cw(ci, C_KV_DIM) / A_HD;
    var j = u32(f32(s) * inv);
    j = select(j, j - 1u, j > 0u && j * per > s);
    j = select(j, j + 1u, (j + 1u) * per <= s);
    let o = s - j * per;
    let isv = j >= nkv;
    return (select(cw(ci, C_K), cw(ci, C_V), isv) + select(j, j - nkv, isv) * cw(ci, C_N_CTX) * A_HD + o * 8u) / 4u;
}

// -- EMBED -----------------------------------------------------------------------------------
fn op_embed(ci: u32, wg: u32, lid: u32, n_wg: u32) {
    if (wg != 0u) { prefetch(ci, wg - 1u, n_wg - 1u, lid); return; }
    let qt = cw(ci, C_QT);
    let row_words = cw(ci, C_ROW_WORDS);
    let cols = cw(ci, C_COLS);
    let id = min(atomicLoad(&sync[S_TOKEN]), cw(ci, C_ROWS) - 1u);
    let wb = cw(ci, C_W) + id * row_words;
    let bw = block_words(qt);
    let yb = cw(ci, C_Y);
#ifdef W_256
    if (groupwise(qt)) { embed32(qt, wb, bw, yb, cols, row_words / bw * 32u, lid); return; }
#endif
    let ngroups = row_words / bw * 4u;
    for (var g = lid; g < ngroups; g += 256u) {
        let q = dq(qt, wb + (g / 4u) * bw, g % 4u);
        for (var i = 0u; i < 4u; i++) {
            let k = g * 8u + i;
            if (k < cols) { act_st(yb + k, q.a[i]); }
            if (k + 4u < cols) { act_st(yb + k + 4u, q.b[i]); }
        }
    }
}

#ifdef W_256
// op_embed's loop for a row of 256-weight blocks (a Q6_K tied embedding, say)
fn embed32(qt: u32, wb: u32, bw: u32, yb: u32, cols: u32, ngroups: u32, lid: u32) {
    for (var g = lid; g < ngroups; g += 256u) {
        let q = dq(qt, wb + (g / 32u) * bw, g % 32u);
        for (var i = 0u; i < 4u; i++) {
            let k = g * 8u + i;
            if (k < cols) { act_st(yb + k, q.a[i]); }
            if (k + 4u < cols) { act_st(yb + k + 4u, q.b[i]); }
        }
    }
}

#endif
// -- MATVEC ----------------------------------------------------------------------------------
// A matvec's shape and variant. fused.py gives each kind of matvec in the step (SmolLM2: qkv,
// output projection, gate/up, down, lm head) a number (C_KIND); mv_kinds (fused_kinds.wgsl) calls
// op_matvec with that kind's MvK as constants: its flags, layout and sizes fold at compile time
// (kind 0: read from the table).
struct MvK { fl: u32, qt: u32, rpv: u32, ngroups: u32, cols: u32, rows: u32, row_words: u32, half: u32,
             qd: u32, kvd: u32, nvwg: u32 }

fn mv_table(ci: u32) -> MvK {
    return MvK(cw(ci, C_FLAGS), cw(ci, C_QT), clamp(cw(ci, C_RPV), 4u, 32u), cw(ci, C_NGROUPS), cw(ci, C_COLS),
               cw(ci, C_ROWS), cw(ci, C_ROW_WORDS), cw(ci, C_HALF), cw(ci, C_Q_DIM), cw(ci, C_KV_DIM), cw(ci, C_NVWG));
}

#include "fused_kinds.wgsl"

// The input row goes to workgroup memory once per command (a workgroup then serves all its
// virtual workgroups from it): COMBINE merges the attention partials into it, NORM multiplies
// by the norm weight and leaves 1/rms in wscale.
fn stage_x(ci: u32, k: MvK, wg: u32, lid: u32) {
#ifdef X_CHUNKS
    if (k.cols > XS) { return; }        // staged XS columns at a time, in mv_block (chunked_dot)
#endif
    let fl = k.fl;
    let cols = k.cols;
    let padded = k.ngroups * 8u;
    for (var c = cols + lid; c < padded; c += 256u) { xs[c] = 0.0; }
    // No barrier of its own where the merge's or the norm's barriers already follow the writes
    // of xs (each barrier is a wait: bench/latency_probe.py).
    if ((fl & F_COMBINE) != 0u) {       // attention_merge.wgsl (ends with a barrier); workgroup 0 also writes x
        // (the current key's split first: position pos + A_SL - 1 makes merge_partials count it)
        // (the position through workgroupUniformLoad: merge_partials's barriers depend on it, and
        // WGSL's uniformity analysis, which Dawn enforces, takes a private variable as non-uniform)
        merge_partials(wg, lid, A_HD, A_NS, A_SL, cols, workgroupUniformLoad(&wpos) + A_SL - 1u,
                       cw(ci, C_PART), cw(ci, C_X));
        return;
    }
    let xb = cw(ci, C_X);
    let norm = (fl & F_NORM) != 0u;
    let nb = cw(ci, C_NW);
    // a thread's columns lid, lid + 256, ... (cols <= XS = 2048): all loads issued, then used
    let last = cols - 1u;
    let k0 = min(lid + 0u, last);
    let k1 = min(lid + 256u, last);
    let k2 = min(lid + 512u, last);
    let k3 = min(lid + 768u, last);
    let k4 = min(lid + 1024u, last);
    let k5 = min(lid + 1280u, last);
    let k6 = min(lid + 1536u, last);
    let k7 = min(lid + 1792u, last);
    let xv = act_ld8(array<u32, 8>(xb + k0, xb + k1, xb + k2, xb + k3, xb + k4, xb + k5, xb + k6, xb + k7));
    let x0 = xv[0];
    let x1 = xv[1];
    let x2 = xv[2];
    let x3 = xv[3];
    let x4 = xv[4];
    let x5 = xv[5];
    let x6 = xv[6];
    let x7 = xv[7];
    var n0 = 1.0; var n1 = 1.0; var n2 = 1.0; var n3 = 1.0; var n4 = 1.0; var n5 = 1.0; var n6 = 1.0; var n7 = 1.0;
    if (norm) {
        n0 = wf(nb + k0);
        n1 = wf(nb + k1);
        n2 = wf(nb + k2);
        n3 = wf(nb + k3);
        n4 = wf(nb + k4);
        n5 = wf(nb + k5);
        n6 = wf(nb + k6);
        n7 = wf(nb + k7);
    }
    var ss = 0.0;
    if (lid + 0u <= last) { ss += x0 * x0; xs[lid + 0u] = x0 * n0; }
    if (lid + 256u <= last) { ss += x1 * x1; xs[lid + 256u] = x1 * n1; }
    if (lid + 512u <= last) { ss += x2 * x2; xs[lid + 512u] = x2 * n2; }
    if (lid + 768u <= last) { ss += x3 * x3; xs[lid + 768u] = x3 * n3; }
    if (lid + 1024u <= last) { ss += x4 * x4; xs[lid + 1024u] = x4 * n4; }
    if (lid + 1280u <= last) { ss += x5 * x5; xs[lid + 1280u] = x5 * n5; }
    if (lid + 1536u <= last) { ss += x6 * x6; xs[lid + 1536u] = x6 * n6; }
    if (lid + 1792u <= last) { ss += x7 * x7; xs[lid + 1792u] = x7 * n7; }
    // NORM: the sums of squares are added up with the dot products (mv_block, norm_scale), not
    // here: one workgroup barrier before the weights instead of three
    redss[lid] = ss;
    workgroupBarrier();
}

// NORM: 1 / rms(x) from redss (red3 holds 16 partial sums after mv_block's first barrier)
fn norm_scale(ci: u32, k: MvK) -> f32 {
    let t = ((red3[0] + red3[1]) + (red3[2] + red3[3])) + ((red3[4] + red3[5]) + (red3[6] + red3[7])) +
            (((red3[8] + red3[9]) + (red3[10] + red3[11])) + ((red3[12] + red3[13]) + (red3[14] + red3[15])));
    return inverseSqrt(t / f32(k.cols) + cf(ci, C_EPS));
}

fn gdot(qt: u32, bw: u32, wb: u32, g: u32) -> f32 {
    let q = dq(qt, wb + (g / 4u) * bw, g % 4u);
    let x = xs8(g);
    return dot(q.a, x[0]) + dot(q.b, x[1]);
}

#ifdef W_256
fn gdot32(qt: u32, bw: u32, wb: u32, g: u32) -> f32 {
    let q = dq(qt, wb + (g / 32u) * bw, g % 32u);
    let x = xs8(g);
    return dot(q.a, x[0]) + dot(q.b, x[1]);
}

#endif
fn xs8(g: u32) -> array<vec4<f32>, 2> {
    let k = g * 8u;
    return array<vec4<f32>, 2>(vec4<f32>(xs[k], xs[k + 1u], xs[k + 2u], xs[k + 3u]),
                               vec4<f32>(xs[k + 4u], xs[k + 5u], xs[k + 6u], xs[k + 7u]));
}

// Group g's words as loaded (the type's switch comes after all the loads of a batch):
// Q4_0 / Q4_1 / Q8_0 (scale word, two quant words, the second again), F16 its four words.
// A type whose block is not a scale word then quant words adds its words here.
fn raw_group(qt: u32, bw: u32, wb: u32, g: u32) -> vec4<u32> {
    let base = wb + (g / 4u) * bw;
    let sub = g % 4u;
    var a = vec4<u32>(base, 0u, 0u, 0u);
    if (qt == QT_F16) {
        let i = base + sub * 4u;
        a = vec4<u32>(i, i + 1u, i + 2u, i + 3u);
    } else {
        let q = select(base + 1u + (sub & 1u) * 2u, base + 1u + sub * 2u, qt == QT_Q8_0);
        a = vec4<u32>(base, q, q + 1u, q + 1u);
    }
#ifdef W_Q5_0 W_Q5_1
    if (bw == 6u) {       // Q5_0 / Q5_1 (the types of 6-word blocks): scale word, qh word, two quant words
        let q = base + 2u + (sub & 1u) * 2u;
        a = vec4<u32>(base, base + 1u, q, q + 1u);
    }
#endif
    return vec4<u32>(w[a.x], w[a.y], w[a.z], w[a.w]);
}

// rd_<type>: group g (8 weights) dotted with xs from its words r (raw_group): quant.wgsl's
// layouts, the scale applied once to the sum, 4-bit codes unpacked 4 at a time (unpack4xU8 on
// the masked word). dot_batch calls the one of each type in W_BATCHED.
fn rd_q4_0(r: vec4<u32>, g: u32) -> f32 {
    let x = xs8(g);
    let sh = ((g % 4u) >> 1u) * 4u;
    let qa = vec4<f32>(unpack4xU8((r.y >> sh) & 0x0F0F0F0Fu));
    let qb = vec4<f32>(unpack4xU8((r.z >> sh) & 0x0F0F0F0Fu));
    return unpack2x16float(r.x).x * (dot(qa, x[0]) + dot(qb, x[1]) - 8.0 * dot(x[0] + x[1], vec4<f32>(1.0)));
}

fn rd_q4_1(r: vec4<u32>, g: u32) -> f32 {
    let x = xs8(g);
    let sh = ((g % 4u) >> 1u) * 4u;
    let qa = vec4<f32>(unpack4xU8((r.y >> sh) & 0x0F0F0F0Fu));
    let qb = vec4<f32>(unpack4xU8((r.z >> sh) & 0x0F0F0F0Fu));
    let dm = unpack2x16float(r.x);
    return dm.x * (dot(qa, x[0]) + dot(qb, x[1])) + dm.y * dot(x[0] + x[1], vec4<f32>(1.0));
}

fn rd_q8_0(r: vec4<u32>, g: u32) -> f32 {
    let x = xs8(g);
    return unpack2x16float(r.x).x * (dot(vec4<f32>(unpack4xI8(r.y)), x[0]) + dot(vec4<f32>(unpack4xI8(r.z)), x[1]));
}

fn rd_f16(r: vec4<u32>, g: u32) -> f32 {
    let x = xs8(g);
    return dot(vec4<f32>(unpack2x16float(r.x), unpack2x16float(r.y)), x[0]) +
           dot(vec4<f32>(unpack2x16float(r.z), unpack2x16float(r.w)), x[1]);
}

#ifdef W_Q5_0 W_Q5_1
// Q5_0 / Q5_1: the 4 low bits of h (4 codes' fifth bits, from qh) as bit 4 of each byte
fn hi5(h: u32) -> u32 {
    return ((h & 1u) << 4u) | ((h & 2u) << 11u) | ((h & 4u) << 18u) | ((h & 8u) << 25u);
}

#endif
#ifdef W_Q5_0
// r: scale word, qh word (byte g % 4: the group's fifth bits), two quant words (as Q4_0's)
fn rd_q5_0(r: vec4<u32>, g: u32) -> f32 {
    let x = xs8(g);
    let sh = ((g % 4u) >> 1u) * 4u;
    let h = r.y >> ((g % 4u) * 8u);
    let qa = vec4<f32>(unpack4xU8(((r.z >> sh) & 0x0F0F0F0Fu) | hi5(h)));
    let qb = vec4<f32>(unpack4xU8(((r.w >> sh) & 0x0F0F0F0Fu) | hi5(h >> 4u)));
    return unpack2x16float(r.x).x * (dot(qa, x[0]) + dot(qb, x[1]) - 16.0 * dot(x[0] + x[1], vec4<f32>(1.0)));
}

#endif
#ifdef W_Q5_1
fn rd_q5_1(r: vec4<u32>, g: u32) -> f32 {
    let x = xs8(g);
    let sh = ((g % 4u) >> 1u) * 4u;
    let h = r.y >> ((g % 4u) * 8u);
    let qa = vec4<f32>(unpack4xU8(((r.z >> sh) & 0x0F0F0F0Fu) | hi5(h)));
    let qb = vec4<f32>(unpack4xU8(((r.w >> sh) & 0x0F0F0F0Fu) | hi5(h >> 4u)));
    let dm = unpack2x16float(r.x);
    return dm.x * (dot(qa, x[0]) + dot(qb, x[1])) + dm.y * dot(x[0] + x[1], vec4<f32>(1.0));
}

#endif
#ifdef W_IQ4_NL
// words as Q4_0's; a code's level from quant_iq4.wgsl's table
fn rd_iq4_nl(r: vec4<u32>, g: u32) -> f32 {
    let x = xs8(g);
    let sh = ((g % 4u) >> 1u) * 4u;
    return unpack2x16float(r.x).x * (dot(kv4(r.y, sh), x[0]) + dot(kv4(r.z, sh), x[1]));
}

#endif
// A batch: a lane's groups g0, g0 + lanes, ... (up to 6, clamped to the row: every matvec of a
// SmolLM2 layer is one batch a lane; 8 measured slower: its registers and predicated loads for
// nothing): all their words
// are loaded first (straight-line code, so the loads go out together: load_batch), then the n groups
// that are the row's are decoded and dotted (dot_batch; a switch per group around its loads made each
// group's loads wait for the last; decoding the clamped repeats cost ALU for nothing).
struct Batch { r0: vec4<u32>, r1: vec4<u32>, r2: vec4<u32>, r3: vec4<u32>, r4: vec4<u32>, r5: vec4<u32> }

fn batch_n(g0: u32, lanes: u32, last: u32) -> u32 { return min(6u, ((last - g0) >> countTrailingZeros(lanes)) + 1u); }

fn load_batch(qt: u32, bw: u32, wb: u32, g0: u32, lanes: u32, last: u32) -> Batch {
    let n = batch_n(g0, lanes, last);
    var b = Batch(raw_group(qt, bw, wb, g0), vec4<u32>(0u), vec4<u32>(0u), vec4<u32>(0u),
                  vec4<u32>(0u), vec4<u32>(0u));
    if (n > 1u) { b.r1 = raw_group(qt, bw, wb, min(g0 + 1u * lanes, last)); }
    if (n > 2u) { b.r2 = raw_group(qt, bw, wb, min(g0 + 2u * lanes, last)); }
    if (n > 3u) { b.r3 = raw_group(qt, bw, wb, min(g0 + 3u * lanes, last)); }
    if (n > 4u) { b.r4 = raw_group(qt, bw, wb, min(g0 + 4u * lanes, last)); }
    if (n > 5u) { b.r5 = raw_group(qt, bw, wb, min(g0 + 5u * lanes, last)); }
    return b;
}

fn dot_batch(qt: u32, b: Batch, g0: u32, lanes: u32, last: u32) -> f32 {
    let g1 = min(g0 + 1u * lanes, last);
    let g2 = min(g0 + 2u * lanes, last);
    let g3 = min(g0 + 3u * lanes, last);
    let g4 = min(g0 + 4u * lanes, last);
    let g5 = min(g0 + 5u * lanes, last);
    let n = batch_n(g0, lanes, last);
    let r0 = b.r0; let r1 = b.r1; let r2 = b.r2; let r3 = b.r3;
    let r4 = b.r4; let r5 = b.r5;
    // One switch around the 6 decodes, each type's 6 written out: a switch per group (an rd(qt, ..)
    // dispatcher) measured slower.
    var acc = 0.0;
    switch qt {
#each T in W_BATCHED
        case QT_{{T}}: {
            acc = rd_{{t}}(r0, g0);
            if (n > 1u) { acc += rd_{{t}}(r1, g1); }
            if (n > 2u) { acc += rd_{{t}}(r2, g2); }
            if (n > 3u) { acc += rd_{{t}}(r3, g3); }
            if (n > 4u) { acc += rd_{{t}}(r4, g4); }
            if (n > 5u) { acc += rd_{{t}}(r5, g5); }
        }
#endeach
        default: {}
    }
    return acc;
}

// A lane's part of one row's dot product with xs: groups lane, lane + lanes, ... 6 at a time,
// F32 rows one group at a time (gdot).
fn row_dot(qt: u32, bw: u32, wb: u32, lane: u32, lanes: u32, ngroups: u32) -> f32 {
    var acc = 0.0;
#ifdef W_F32
    if (qt == QT_F32) {
        for (var g = lane; g < ngroups; g += lanes) { acc += gdot(qt, bw, wb, g); }
        return acc;
    }
#endif
#ifdef W_256
    if (groupwise(qt)) {
        for (var g = lane; g < ngroups; g += lanes) { acc += gdot32(qt, bw, wb, g); }
        return acc;
    }
#endif
    for (var g0 = lane; g0 < ngroups; g0 += 6u * lanes) {
        acc += dot_batch(qt, load_batch(qt, bw, wb, g0, lanes, ngroups - 1u), g0, lanes, ngroups - 1u);
    }
    return acc;
}

#ifdef X_CHUNKS
// X_CHUNKS (fused.py: a matvec of the step has an input row wider than XS, e.g. a down projection
// of an FFN wider than 2048): that row is staged XS columns at a time, and each chunk is dotted
// with the rows' weights of those columns before the next one is staged. A chunk is whole blocks
// (XS / 8 groups: 64 blocks of 32 weights or 8 of 256), so row_dot runs on it as on a row of XS
// columns whose weights start a chunk further on. Two workgroup barriers a chunk (the staged
// chunk is complete; every lane has read it before the next one is written); the last chunk's
// reads are ordered by mv_block's first barrier. NORM: each thread's sum of squares over every
// chunk goes to redss, for mv_block's reduction as stage_x's does. Not for COMBINE (fused.py
// refuses a merged attention row wider than XS). Every thread runs this (its barriers), each
// lane of a valid slot adds its dot products.
fn chunked_dot(ci: u32, k: MvK, wb: u32, valid: bool, lane: u32, lanes: u32, lid: u32) -> f32 {
    let qt = k.qt;
    let bw = block_words(qt);
    let cwords = chunk_words(qt, bw);
    var acc = 0.0;
    var ss = 0.0;
    for (var c0 = 0u; c0 < k.cols; c0 += XS) {
        if (c0 > 0u) { workgroupBarrier(); }
        ss += stage_chunk(ci, k, c0, lid);
        workgroupBarrier();
        if (valid) { acc += row_dot(qt, bw, wb + (c0 / XS) * cwords, lane, lanes, min(XS / 8u, k.ngroups - c0 / 8u)); }
    }
    redss[lid] = ss;
    return acc;
}

// the words of a row's weights for XS columns (whole blocks)
fn chunk_words(qt: u32, bw: u32) -> u32 {
#ifdef W_256
    if (groupwise(qt)) { return XS / 256u * bw; }
#endif
    return XS / 32u * bw;
}

// stage_x for columns c0 .. c0 + XS of the input row (fewer in the last chunk, its padding to
// whole groups zeroed), into xs[0 ..]; returns the thread's sum of squares of them
fn stage_chunk(ci: u32, k: MvK, c0: u32, lid: u32) -> f32 {
    let cols = min(k.cols - c0, XS);
    let padded = min(k.ngroups * 8u - c0, XS);
    for (var c = cols + lid; c < padded; c += 256u) { xs[c] = 0.0; }
    let xb = cw(ci, C_X) + c0;
    let nb = cw(ci, C_NW) + c0;
    // a thread's columns lid, lid + 256, ... of the chunk: all loads issued, then used (as stage_x)
    let last = cols - 1u;
    let k0 = min(lid + 0u, last);
    let k1 = min(lid + 256u, last);
    let k2 = min(lid + 512u, last);
    let k3 = min(lid + 768u, last);
    let k4 = min(lid + 1024u, last);
    let k5 = min(lid + 1280u, last);
    let k6 = min(lid + 1536u, last);
    let k7 = min(lid + 1792u, last);
    let xv = act_ld8(array<u32, 8>(xb + k0, xb + k1, xb + k2, xb + k3, xb + k4, xb + k5, xb + k6, xb + k7));
    var nv = array<f32, 8>(1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0);
    if ((k.fl & F_NORM) != 0u) {
        nv = array<f32, 8>(wf(nb + k0), wf(nb + k1), wf(nb + k2), wf(nb + k3), wf(nb + k4), wf(nb + k5),
                           wf(nb + k6), wf(nb + k7));
    }
    var ss = 0.0;
    if (lid + 0u <= last) { ss += xv[0] * xv[0]; xs[lid + 0u] = xv[0] * nv[0]; }
    if (lid + 256u <= last) { ss += xv[1] * xv[1]; xs[lid + 256u] = xv[1] * nv[1]; }
    if (lid + 512u <= last) { ss += xv[2] * xv[2]; xs[lid + 512u] = xv[2] * nv[2]; }
    if (lid + 768u <= last) { ss += xv[3] * xv[3]; xs[lid + 768u] = xv[3] * nv[3]; }
    if (lid + 1024u <= last) { ss += xv[4] * xv[4]; xs[lid + 1024u] = xv[4] * nv[4]; }
    if (lid + 1280u <= last) { ss += xv[5] * xv[5]; xs[lid + 1280u] = xv[5] * nv[5]; }
    if (lid + 1536u <= last) { ss += xv[6] * xv[6]; xs[lid + 1536u] = xv[6] * nv[6]; }
    if (lid + 1792u <= last) { ss += xv[7] * xv[7]; xs[lid + 1792u] = xv[7] * nv[7]; }
    return ss;
}

#endif
// matvec.wgsl's slot_row / slot_valid with runtime flags; a virtual workgroup has rpv slots
fn slot_row(k: MvK, blk: u32, slot: u32) -> u32 {
    let fl = k.fl;
    let rpv = k.rpv;
    let pair = blk * (rpv / 2u) + slot / 2u;
    if ((fl & F_SWIGLU) != 0u) { return pair + (slot % 2u) * k.half; }
    if ((fl & F_ROPE) != 0u) {
        let qd = k.qd;
        let kvd = k.kvd;
        let hd = A_HD;
        let hh = hd / 2u;
        var base = 0u;
        var lp = pair;
        if (pair >= (qd + kvd) / 2u) { base = qd + kvd; lp = pair - (qd + kvd) / 2u; }
        else if (pair >= qd / 2u) { base = qd; lp = pair - qd / 2u; }
        let h = lp / hh;
        let i = lp % hh;
        if ((fl & F_NEOX) != 0u) { return base + h * hd + i + (slot % 2u) * hh; }
        return base + h * hd + 2u * i + (slot % 2u);
    }
    return blk * rpv + slot;
}

fn slot_valid(k: MvK, blk: u32, slot: u32) -> bool {
    let pair = blk * (k.rpv / 2u) + slot / 2u;
    if ((k.fl & F_SWIGLU) != 0u) { return pair < k.half; }
    if ((k.fl & F_ROPE) != 0u) { return pair < k.rows / 2u; }
    return blk * k.rpv + slot < k.rows;
}

fn slot_total(slot: u32) -> f32 {
    let b = slot * 8u;
    return ((red2[b] + red2[b + 1u]) + (red2[b + 2u] + red2[b + 3u])) +
           ((red2[b + 4u] + red2[b + 5u]) + (red2[b + 6u] + red2[b + 7u]));
}

// One virtual workgroup: rpv rows (slots) of 256 / rpv lanes. fused.py picks rpv per command
// (4 .. 32) so that the command's rows take about one round of the G workgroups: a workgroup
// that walked many small blocks one after another paid a chain of memory latencies for each.
// Each lane keeps a batch (up to 6 weight groups) of loads in flight; with PRE the first batch
// was loaded before the barrier (mv_pre). k: the kind's shape, constants in mv_kinds.
fn mv_block(ci: u32, k: MvK, blk: u32, lid: u32, more: bool, pre: Batch, use_pre: bool) {
    let fl = k.fl;
    let qt = k.qt;
    let bw = block_words(qt);
    let row_words = k.row_words;
    let rpv = k.rpv;
    let sh = 8u - countTrailingZeros(rpv);        // lanes a row: 256 / rpv (rpv: 4 .. 32)
    let lanes = 1u << sh;
    let slot = lid >> sh;
    let lane = lid & (lanes - 1u);
    let row = slot_row(k, blk, slot);
    let valid = slot_valid(k, blk, slot);
    var acc = 0.0;
    let ngroups = k.ngroups;
    // PRE: the batch mv_pre loaded before the barrier (a separate dot_batch from row_dot's loop: one
    // loop for both, the first batch's loads under a branch, measured slower)
#ifdef X_CHUNKS
    if (k.cols > XS) { acc = chunked_dot(ci, k, wb_of(ci, row, row_words), valid, lane, lanes, lid); } else {
#endif
    if (use_pre) {
        if (valid && lane < ngroups) { acc = dot_batch(qt, pre, lane, lanes, ngroups - 1u); }
    } else if (valid) {
        acc = row_dot(qt, bw, wb_of(ci, row, row_words), lane, lanes, ngroups);
    }
#ifdef X_CHUNKS
    }
#endif
    red[lid] = acc;
    workgroupBarrier();
    if (lid < rpv * 8u) {                 // 8 partials a slot, each over lanes / 8 lanes
        let per = lanes >> 3u;
        let b = (lid / 8u) * lanes + (lid % 8u) * per;
        // read at once, not one after another in a loop: per = 1 .. 8 (masked, clamped)
        let t = ((red[b] + select(0.0, red[min(b + 1u, 255u)], 1u < per)) +
             (select(0.0, red[min(b + 2u, 255u)], 2u < per) + select(0.0, red[min(b + 3u, 255u)], 3u < per))) +
            ((select(0.0, red[min(b + 4u, 255u)], 4u < per) + select(0.0, red[min(b + 5u, 255u)], 5u < per)) +
             (select(0.0, red[min(b + 6u, 255u)], 6u < per) + select(0.0, red[min(b + 7u, 255u)], 7u < per)));
        red2[lid] = t;
    }
    if ((fl & F_NORM) != 0u && lid >= 240u) {      // 16 threads: the sums of squares, 16 each
        let b = (lid - 240u) * 16u;
        red3[lid - 240u] = (((redss[b] + redss[b + 1u]) + (redss[b + 2u] + redss[b + 3u])) +
                            ((redss[b + 4u] + redss[b + 5u]) + (redss[b + 6u] + redss[b + 7u]))) +
                           (((redss[b + 8u] + redss[b + 9u]) + (redss[b + 10u] + redss[b + 11u])) +
                            ((redss[b + 12u] + redss[b + 13u]) + (redss[b + 14u] + redss[b + 15u])));
    }
    workgroupBarrier();
    if (lane == 0u && valid) { mv_out(ci, k, blk, slot, row); }
    if (more) { workgroupBarrier(); }     // red2 is rewritten by the next virtual workgroup
}

fn wb_of(ci: u32, row: u32, row_words: u32) -> u32 { return cw(ci, C_W) + row * row_words; }

// PRE (fused.py: a lane's groups of a row take one batch): the batch of the workgroup's first
// block, loaded before the grid barrier that precedes the command (main), so that the weights'
// latency is spent while the workgroup waits there, not after it (weights are read-only in the
// dispatch). Any other command, or no block here: one load of word 0, unused.
fn mv_pre(ci: u32, wg: u32, lid: u32) -> Batch {
    let a = pre_kinds(ci, wg, lid);
    return load_batch(a.qt, a.bw, a.wb, a.g0, a.lanes, a.last);
}

// where mv_pre's loads go, for kind k (address arithmetic only: the loads come after mv_pre's
// switch over the kinds, in straight-line code, not inside it)
struct PreAt { qt: u32, bw: u32, wb: u32, g0: u32, lanes: u32, last: u32 }

fn pre_at(ci: u32, k: MvK, wg: u32, lid: u32) -> PreAt {
    let fl = k.fl;
    let on = cw(ci, C_OP) == OP_MATVEC && (fl & F_PRE) != 0u && wg < k.nvwg;
    let qt = k.qt;
    let bw = block_words(qt);
    let row_words = k.row_words;
    let rpv = k.rpv;
    let sh = 8u - countTrailingZeros(rpv);        // lanes a row: 256 / rpv (rpv: 4 .. 32)
    let lanes = 1u << sh;
    let slot = lid >> sh;
    let lane = lid & (lanes - 1u);
    let ngroups = k.ngroups;
    let ok = on && lane < ngroups && slot_valid(k, wg, slot);
    let wb = select(0u, wb_of(ci, slot_row(k, wg, slot), row_words), ok);
    return PreAt(qt, bw, wb, select(0u, lane, ok), lanes, select(0u, ngroups - 1u, ok));
}

// ROPE: the rope table's (cos, sin) of the step's position for output row `row` (q or k)
fn rope_at(ci: u32, fl: u32, row: u32) -> u32 {
    let hd = A_HD;
    let i = select((row % hd) / 2u, row % hd, (fl & F_NEOX) != 0u);
    return cw(ci, C_ROPE) + (spos * (hd / 2u) + i) * 2u;
}

fn mv_out(ci: u32, k: MvK, blk: u32, slot: u32, row: u32) {
    let fl = k.fl;
    let rpv = k.rpv;
    var scale = 1.0;
    if ((fl & F_NORM) != 0u) { scale = norm_scale(ci, k); }
    var v = slot_total(slot) * scale;
    if ((fl & F_BIAS) != 0u) { v += wf(cw(ci, C_BIAS) + row); }
    let yb = cw(ci, C_Y);
    if ((fl & F_SWIGLU) != 0u) {
        if (slot % 2u == 1u) { return; }
        let u = slot_total(slot + 1u) * scale;
        act_st(yb + blk * (rpv / 2u) + slot / 2u, v / (1.0 + exp(-v)) * u);
        return;
    }
    if ((fl & F_ROPE) != 0u) {
        if (slot % 2u == 1u) { return; }
        let row1 = slot_row(k, blk, slot + 1u);
        var v1 = slot_total(slot + 1u) * scale;
        if ((fl & F_BIAS) != 0u) { v1 += wf(cw(ci, C_BIAS) + row1); }
        let qd = k.qd;
        let kvd = k.kvd;
        let hd = A_HD;
        let nctx = cw(ci, C_N_CTX);
        let pos = spos;
        if (row < qd + kvd) {
            let rb = rope_at(ci, fl, row);
            let c = wf(rb);
            let s = wf(rb + 1u);
            let r0 = v * c - v1 * s;
            let r1 = v * s + v1 * c;
            if (row < qd) {
                act_st(yb + row, r0);
                act_st(yb + row1, r1);
            } else {
                let kr = row - qd;
                let kb = cw(ci, C_K) + ((kr / hd) * nctx + pos) * hd;
                kv_store(kb + kr % hd, r0);
                kv_store(kb + (row1 - qd) % hd, r1);
                act_st(cw(ci, C_CUR) + kr, r0);          // for this step's attention (cur_block)
                act_st(cw(ci, C_CUR) + row1 - qd, r1);
            }
        } else {
            let vr = row - qd - kvd;
            let vb = cw(ci, C_V) + ((vr / hd) * nctx + pos) * hd;
            kv_store(vb + vr % hd, v);
            kv_store(vb + (row1 - qd - kvd) % hd, v1);
            act_st(cw(ci, C_CUR) + row - qd, v);
            act_st(cw(ci, C_CUR) + row1 - qd, v1);
        }
        return;
    }
    if ((fl & F_RESIDUAL) != 0u) { v += act_ld(cw(ci, C_RES) + row); }
    if ((fl & F_RAW) != 0u) {
        atomicStore(&act[abase + yb + row], bitcast<u32>(v));
        if ((fl & F_ARGMAX) != 0u && v > am.v) { am = Best(v, row); }   // rows increase: the first of equals
    } else {
        act_st(yb + row, v);
    }
}

fn op_matvec(ci: u32, k: MvK, wg: u32, lid: u32, n_wg: u32, pre: Batch) {
    let nv = k.nvwg;
    if (wg >= nv) {               // no block here: no input row to stage
        prefetch(ci, wg - nv, n_wg - nv, lid);
        return;
    }
    stage_x(ci, k, wg, lid);
    let use_pre = (k.fl & F_PRE) != 0u;
    for (var b = wg; b < nv; b += n_wg) { mv_block(ci, k, b, lid, b + n_wg < nv, pre, use_pre && b == wg); }
    if ((k.fl & F_ARGMAX) != 0u) { argmax_finish(wg, lid, min(nv, n_wg)); }
}
