// attention_split.wgsl -- one (query head, run of keys) of flash-decoding attention for one token.
// Included by attention.wgsl (SPLIT: one workgroup per head and run) and decode_fused.wgsl (a
// virtual workgroup of its ATTN command). The includer declares the workgroup arrays qs
// (64 vec4), sc (256), red (256), red2 and red3 (16 each, for reduce.wgsl, included before
// this file) and redv (256 vec4), and says where the data lives:
//   fn split_q(i) -> f32          query element i (the head's row starts at qb)
//   fn split_k(i) -> vec4<f32>    keys, as vec4 (key k0's row starts at kb4)
//   fn split_v(i) -> vec4<f32>    values, likewise from vb4
//   fn split_store(i, v: f32)     the output (from pb)
//
// A decode step is a chain of memory latencies, not a bandwidth problem, so each phase issues
// its loads at once: a key's dot product is spread over head_dim/16 threads (4 vec4 loads each;
// 64 keys per round of 256 threads at head_dim 64), and the values are read as vec4 by
// (part, dim/4) threads, 4 keys' loads in flight per thread. The one-key-per-thread loop of
// attention.wgsl's main (serial vec4 loads per key) took 21.4 us a layer at split_len 256 on an
// H200 (ctx 512, timestamps between dispatches, which add ~5 us each); this 13.8-14.3 us at 128.
//
// Output at pb: the unnormalised partial acc[head_dim], m, l (attention_combine.wgsl or
// matvec.wgsl COMBINE merge the runs), or with `normalized` (a single run) acc / l only.
// Keys [k0, k1); k0 >= k1 (a run past the last key) leaves an empty partial. The arguments are
// uniform, so the early return skips no barrier.
fn split_block(lid: u32, hd: u32, k0: u32, k1: u32, qb: u32, kb4: u32, vb4: u32, scale: f32, pb: u32,
               normalized: bool) {
    let n4 = hd / 4u;
    if (k0 >= k1) {
        if (lid < hd) { split_store(pb + lid, 0.0); }
        if (lid == 0u) { split_store(pb + hd, -3.4e38); split_store(pb + hd + 1u, 0.0); }
        return;
    }
    let nk = k1 - k0;
    // The first round's keys and the first 4 values a thread reads do not depend on q or on the
    // scores: their loads go out first, so their waits overlap the query's and the softmax's.
    let tpk = (n4 + 3u) / 4u;
    let kpr = 256u / tpk;
    let jl = lid / tpk;
    let i0 = (lid % tpk) * 4u;
    let full = i0 + 4u <= n4;
    let kr0 = kb4 + min(jl, nk - 1u) * n4;
    var k0v = array<vec4<f32>, 4>();
    if (full) {
        k0v = array<vec4<f32>, 4>(split_k(kr0 + i0), split_k(kr0 + i0 + 1u), split_k(kr0 + i0 + 2u),
                                  split_k(kr0 + i0 + 3u));
    }
    let nparts = 256u / n4;
    let part = lid / n4;
    let d4 = lid % n4;
    let pc = min(part, nparts - 1u);
    let vc = array<u32, 4>(min(pc, nk - 1u), min(pc + nparts, nk - 1u), min(pc + 2u * nparts, nk - 1u),
                           min(pc + 3u * nparts, nk - 1u));
    let v0v = array<vec4<f32>, 4>(split_v(vb4 + vc[0] * n4 + d4), split_v(vb4 + vc[1] * n4 + d4),
                                  split_v(vb4 + vc[2] * n4 + d4), split_v(vb4 + vc[3] * n4 + d4));
    if (lid < n4) {
        qs[lid] = vec4<f32>(split_q(qb + 4u * lid), split_q(qb + 4u * lid + 1u), split_q(qb + 4u * lid + 2u),
                            split_q(qb + 4u * lid + 3u));
    }
    workgroupBarrier();
    // scores: tpk threads per key, 4 vec4 each, all loads issued together
    for (var r0 = 0u; r0 < nk; r0 += kpr) {
        var dsum = 0.0;
        if (jl < kpr && r0 + jl < nk) {
            let kr = kb4 + (r0 + jl) * n4;
            if (full && r0 == 0u) {
                dsum = (dot(qs[i0], k0v[0]) + dot(qs[i0 + 1u], k0v[1])) + (dot(qs[i0 + 2u], k0v[2]) + dot(qs[i0 + 3u], k0v[3]));
            } else if (full) {
                dsum = (dot(qs[i0], split_k(kr + i0)) + dot(qs[i0 + 1u], split_k(kr + i0 + 1u))) +
                       (dot(qs[i0 + 2u], split_k(kr + i0 + 2u)) + dot(qs[i0 + 3u], split_k(kr + i0 + 3u)));
            } else {
                for (var i = i0; i < n4; i++) { dsum += dot(qs[i], split_k(kr + i)); }
            }
        }
        red[lid] = dsum;
        workgroupBarrier();
        if (lid < kpr && r0 + lid < nk) {
            var s = 0.0;
            for (var t = 0u; t < tpk; t++) { s += red[lid * tpk + t]; }
            sc[r0 + lid] = s * scale;
        }
        workgroupBarrier();
    }
    var s = -3.4e38;
    if (lid < nk) { s = sc[lid]; }
    let m = reduce_max(lid, s);
    var pj = 0.0;
    if (lid < nk) { pj = exp(s - m); sc[lid] = pj; }
    let l = reduce_sum(lid, pj);                      // its barriers also publish sc
    // values: thread = (part, d4); part takes keys part, part + nparts, ... (4 loads in flight;
    // the first 4 were loaded above)
    var a0 = vec4<f32>(0.0); var a1 = vec4<f32>(0.0); var a2 = vec4<f32>(0.0); var a3 = vec4<f32>(0.0);
    if (part < nparts) {
        a0 = select(0.0, sc[vc[0]], part < nk) * v0v[0];
        a1 = select(0.0, sc[vc[1]], part + nparts < nk) * v0v[1];
        a2 = select(0.0, sc[vc[2]], part + 2u * nparts < nk) * v0v[2];
        a3 = select(0.0, sc[vc[3]], part + 3u * nparts < nk) * v0v[3];
        var jj = part + 4u * nparts;
        for (; jj + 3u * nparts < nk; jj += 4u * nparts) {
            a0 += sc[jj] * split_v(vb4 + jj * n4 + d4);
            a1 += sc[jj + nparts] * split_v(vb4 + (jj + nparts) * n4 + d4);
            a2 += sc[jj + 2u * nparts] * split_v(vb4 + (jj + 2u * nparts) * n4 + d4);
            a3 += sc[jj + 3u * nparts] * split_v(vb4 + (jj + 3u * nparts) * n4 + d4);
        }
        for (; jj < nk; jj += nparts) { a0 += sc[jj] * split_v(vb4 + jj * n4 + d4); }
    }
    redv[lid] = (a0 + a1) + (a2 + a3);
    workgroupBarrier();
    if (lid < n4) {
        var o = vec4<f32>(0.0);
        for (var pp = 0u; pp < nparts; pp++) { o += redv[pp * n4 + lid]; }
        if (normalized) { o /= l; }
        split_store(pb + 4u * lid, o.x);
        split_store(pb + 4u * lid + 1u, o.y);
        split_store(pb + 4u * lid + 2u, o.z);
        split_store(pb + 4u * lid + 3u, o.w);
        if (lid == 0u && !normalized) { split_store(pb + hd, m); split_store(pb + hd + 1u, l); }
    }
}
