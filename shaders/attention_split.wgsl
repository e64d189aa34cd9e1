// attention_split.wgsl -- one (query head, run of keys) of flash-decoding attention for one token.
// Included by attention.wgsl (SPLIT: one workgroup per head and run) and decode_fused.wgsl (a
// virtual workgroup of its ATTN command). The includer declares the workgroup arrays qs
// (64 vec4), sc (256), red (256), red2 (16) and redv (256 vec4), and says where the data lives:
//   fn split_q4(i) -> vec4<f32>   query elements i .. i + 3 (the head's row starts at qb)
//   fn split_k(i) -> vec4<f32>    keys, as vec4 (key k0's row starts at kb4)
//   fn split_v(i) -> vec4<f32>    values, likewise from vb4
//   fn split_store(i, v: f32)     the output (from pb)
// and, where it defines SOFTCAP (attention.wgsl), fn soft_cap(s) -> f32, applied to each scaled score.
//
// A decode step is a chain of memory latencies, not a bandwidth problem, so each phase issues
// its loads at once: a key's dot product is spread over head_dim/16 threads (4 vec4 loads each;
// 64 keys per round of 256 threads at head_dim 64), and the values are read as vec4 by
// (part, dim/4) threads, 4 keys' loads in flight per thread (faster than the one-key-per-thread
// loop of attention.wgsl's main, whose vec4 loads per key are serial). Reads of workgroup memory
// are straight-line where they can be (sc_max16, the merge's weights): in a loop each read waits
// for the one before; and folding the exp sums into the value pass saves reduce_sum's two
// barriers. (Measurements: bench/RESULTS.md.)

// max of sc[b .. b + 16) below nk: all 16 read at once, then folded
fn sc_max16(b: u32, nk: u32) -> f32 {
    let v = array<f32, 16>(
        select(-3.4e38, sc[b + 0u], b + 0u < nk), select(-3.4e38, sc[b + 1u], b + 1u < nk),
        select(-3.4e38, sc[b + 2u], b + 2u < nk), select(-3.4e38, sc[b + 3u], b + 3u < nk),
        select(-3.4e38, sc[b + 4u], b + 4u < nk), select(-3.4e38, sc[b + 5u], b + 5u < nk),
        select(-3.4e38, sc[b + 6u], b + 6u < nk), select(-3.4e38, sc[b + 7u], b + 7u < nk),
        select(-3.4e38, sc[b + 8u], b + 8u < nk), select(-3.4e38, sc[b + 9u], b + 9u < nk),
        select(-3.4e38, sc[b + 10u], b + 10u < nk), select(-3.4e38, sc[b + 11u], b + 11u < nk),
        select(-3.4e38, sc[b + 12u], b + 12u < nk), select(-3.4e38, sc[b + 13u], b + 13u < nk),
        select(-3.4e38, sc[b + 14u], b + 14u < nk), select(-3.4e38, sc[b + 15u], b + 15u < nk));
    return max(max(max(max(v[0], v[1]), max(v[2], v[3])), max(max(v[4], v[5]), max(v[6], v[7]))),
               max(max(max(v[8], v[9]), max(v[10], v[11])), max(max(v[12], v[13]), max(v[14], v[15]))));
}

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
        qs[lid] = split_q4(qb + 4u * lid);
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
            let b = lid * tpk;                    // the first 4 read at once (tpk = 4 at head_dim 64)
            s = (red[b] + select(0.0, red[min(b + 1u, 255u)], 1u < tpk)) +
                (select(0.0, red[min(b + 2u, 255u)], 2u < tpk) + select(0.0, red[min(b + 3u, 255u)], 3u < tpk));
            for (var t = 4u; t < tpk; t++) { s += red[b + t]; }
#ifdef SOFTCAP
            sc[r0 + lid] = soft_cap(s * scale);
#else
            sc[r0 + lid] = s * scale;
#endif
        }
        workgroupBarrier();
    }
    // max: the last round's barrier published sc, so 16 threads fold 16 scores each (one barrier,
    // not reduce_max's two); the exp sums (l) are added up with the values below, not here
    if (lid < 16u) { red2[lid] = sc_max16(lid * 16u, nk); }
    workgroupBarrier();
    let m = max(max(max(max(red2[0], red2[1]), max(red2[2], red2[3])), max(max(red2[4], red2[5]), max(red2[6], red2[7]))),
                max(max(max(red2[8], red2[9]), max(red2[10], red2[11])), max(max(red2[12], red2[13]), max(red2[14], red2[15]))));
    if (lid < nk) { sc[lid] = exp(sc[lid] - m); }     // a thread its own key: no race
    workgroupBarrier();
    // values: thread = (part, d4); part takes keys part, part + nparts, ... (4 loads in flight;
    // the first 4 were loaded above)
    // (and each part's sum of its keys' p into red[part], for l)
    var a0 = vec4<f32>(0.0); var a1 = vec4<f32>(0.0); var a2 = vec4<f32>(0.0); var a3 = vec4<f32>(0.0);
    var ls = 0.0;
    if (part < nparts) {
        let p0 = select(0.0, sc[vc[0]], part < nk);
        let p1 = select(0.0, sc[vc[1]], part + nparts < nk);
        let p2 = select(0.0, sc[vc[2]], part + 2u * nparts < nk);
        let p3 = select(0.0, sc[vc[3]], part + 3u * nparts < nk);
        a0 = p0 * v0v[0];
        a1 = p1 * v0v[1];
        a2 = p2 * v0v[2];
        a3 = p3 * v0v[3];
        ls = (p0 + p1) + (p2 + p3);
        var jj = part + 4u * nparts;
        for (; jj + 3u * nparts < nk; jj += 4u * nparts) {
            a0 += sc[jj] * split_v(vb4 + jj * n4 + d4);
            a1 += sc[jj + nparts] * split_v(vb4 + (jj + nparts) * n4 + d4);
            a2 += sc[jj + 2u * nparts] * split_v(vb4 + (jj + 2u * nparts) * n4 + d4);
            a3 += sc[jj + 3u * nparts] * split_v(vb4 + (jj + 3u * nparts) * n4 + d4);
            ls += (sc[jj] + sc[jj + nparts]) + (sc[jj + 2u * nparts] + sc[jj + 3u * nparts]);
        }
        for (; jj < nk; jj += nparts) { a0 += sc[jj] * split_v(vb4 + jj * n4 + d4); ls += sc[jj]; }
        if (d4 == 0u) { red[part] = ls; }
    }
    redv[lid] = (a0 + a1) + (a2 + a3);
    workgroupBarrier();
    if (lid < n4) {
        // the first 16 parts read at once (nparts = 16 at head_dim 64), clamped and masked
        let np1 = nparts - 1u;
        var o = redv[lid];
        o += select(vec4<f32>(0.0), redv[min(1u, np1) * n4 + lid], 1u < nparts);
        o += select(vec4<f32>(0.0), redv[min(2u, np1) * n4 + lid], 2u < nparts);
        o += select(vec4<f32>(0.0), redv[min(3u, np1) * n4 + lid], 3u < nparts);
        o += select(vec4<f32>(0.0), redv[min(4u, np1) * n4 + lid], 4u < nparts);
        o += select(vec4<f32>(0.0), redv[min(5u, np1) * n4 + lid], 5u < nparts);
        o += select(vec4<f32>(0.0), redv[min(6u, np1) * n4 + lid], 6u < nparts);
        o += select(vec4<f32>(0.0), redv[min(7u, np1) * n4 + lid], 7u < nparts);
        o += select(vec4<f32>(0.0), redv[min(8u, np1) * n4 + lid], 8u < nparts);
        o += select(vec4<f32>(0.0), redv[min(9u, np1) * n4 + lid], 9u < nparts);
        o += select(vec4<f32>(0.0), redv[min(10u, np1) * n4 + lid], 10u < nparts);
        o += select(vec4<f32>(0.0), redv[min(11u, np1) * n4 + lid], 11u < nparts);
        o += select(vec4<f32>(0.0), redv[min(12u, np1) * n4 + lid], 12u < nparts);
        o += select(vec4<f32>(0.0), redv[min(13u, np1) * n4 + lid], 13u < nparts);
        o += select(vec4<f32>(0.0), redv[min(14u, np1) * n4 + lid], 14u < nparts);
        o += select(vec4<f32>(0.0), redv[min(15u, np1) * n4 + lid], 15u < nparts);
        var l = (red[0] + select(0.0, red[min(1u, np1)], 1u < nparts)) +
                (select(0.0, red[min(2u, np1)], 2u < nparts) + select(0.0, red[min(3u, np1)], 3u < nparts)) +
                (select(0.0, red[min(4u, np1)], 4u < nparts) + select(0.0, red[min(5u, np1)], 5u < nparts)) +
                (select(0.0, red[min(6u, np1)], 6u < nparts) + select(0.0, red[min(7u, np1)], 7u < nparts)) +
                (select(0.0, red[min(8u, np1)], 8u < nparts) + select(0.0, red[min(9u, np1)], 9u < nparts)) +
                (select(0.0, red[min(10u, np1)], 10u < nparts) + select(0.0, red[min(11u, np1)], 11u < nparts)) +
                (select(0.0, red[min(12u, np1)], 12u < nparts) + select(0.0, red[min(13u, np1)], 13u < nparts)) +
                (select(0.0, red[min(14u, np1)], 14u < nparts) + select(0.0, red[min(15u, np1)], 15u < nparts));
        for (var pp = 16u; pp < nparts; pp++) { o += redv[pp * n4 + lid]; l += red[pp]; }
        if (normalized) { o /= l; }
        split_store(pb + 4u * lid, o.x);
        split_store(pb + 4u * lid + 1u, o.y);
        split_store(pb + 4u * lid + 2u, o.z);
        split_store(pb + 4u * lid + 3u, o.w);
        if (lid == 0u && !normalized) { split_store(pb + hd, m); split_store(pb + hd + 1u, l); }
    }
}
