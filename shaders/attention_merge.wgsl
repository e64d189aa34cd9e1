// attention_merge.wgsl -- merge the flash-decoding partials of attention_split.wgsl into the
// workgroup array xs, as attention_combine.wgsl does into a buffer:
//   x[h, d] = sum_z wz[h, z] acc_z[h, d],  wz[h, z] = exp(m_z - M) / sum_z exp(m_z - M) l_z,
// over the na splits that saw keys (pos + 1 keys: the splits past them are skipped, not read).
// Included by matvec.wgsl (COMBINE) and decode_fused.wgsl, which declare the workgroup arrays
// xs (>= cols) and wz (>= n_heads * n_splits) and say where the data lives:
//   fn merge_part(i) -> f32      word i of the partials ((n_heads, n_splits, head_dim + 2) from pb)
//   fn merge_parts8(a) -> array<f32, 8>   the words at the 8 indices a, all loaded at once
//   fn merge_store(i, v: f32)    the merged row (from xb), written by workgroup 0 only so x stays
//                                valid for any later reader

// Column k merged over na <= 8 splits: 8 loads (clamped to the splits there are), then the sum.
fn merge_col(k: u32, hd: u32, ns: u32, na: u32, pb: u32) -> f32 {
    let stride = hd + 2u;
    let wb = (k / hd) * na;
    let b = pb + (k / hd) * ns * stride + k % hd;
    let l = na - 1u;
    let z = array<u32, 8>(0u, min(1u, l), min(2u, l), min(3u, l), min(4u, l), min(5u, l), min(6u, l), min(7u, l));
    let a = array<u32, 8>(b, b + z[1] * stride, b + z[2] * stride, b + z[3] * stride, b + z[4] * stride,
                          b + z[5] * stride, b + z[6] * stride, b + z[7] * stride);
    let p = merge_parts8(a);
    var o = wz[wb] * p[0];
    o += select(0.0, wz[wb + z[1]] * p[1], 1u < na);
    o += select(0.0, wz[wb + z[2]] * p[2], 2u < na);
    o += select(0.0, wz[wb + z[3]] * p[3], 3u < na);
    o += select(0.0, wz[wb + z[4]] * p[4], 4u < na);
    o += select(0.0, wz[wb + z[5]] * p[5], 5u < na);
    o += select(0.0, wz[wb + z[6]] * p[6], 6u < na);
    o += select(0.0, wz[wb + z[7]] * p[7], 7u < na);
    return o;
}

// Step 2 for one head of na <= 8 splits: its m (in wz) and l (in xs) from b, read at once, then
// wz[b + z] = exp(m_z - M) / sum_z exp(m_z - M) l_z.
fn merge_weights8(b: u32, na: u32) {
    let n = na - 1u;
    let i = array<u32, 8>(b, b + min(1u, n), b + min(2u, n), b + min(3u, n), b + min(4u, n), b + min(5u, n),
                          b + min(6u, n), b + min(7u, n));
    let m = array<f32, 8>(wz[i[0]], wz[i[1]], wz[i[2]], wz[i[3]], wz[i[4]], wz[i[5]], wz[i[6]], wz[i[7]]);
    let l = array<f32, 8>(xs[i[0]], xs[i[1]], xs[i[2]], xs[i[3]], xs[i[4]], xs[i[5]], xs[i[6]], xs[i[7]]);
    let ok = array<bool, 8>(l[0] > 0.0, 1u < na && l[1] > 0.0, 2u < na && l[2] > 0.0, 3u < na && l[3] > 0.0,
                            4u < na && l[4] > 0.0, 5u < na && l[5] > 0.0, 6u < na && l[6] > 0.0, 7u < na && l[7] > 0.0);
    let mm = array<f32, 8>(select(-3.4e38, m[0], ok[0]), select(-3.4e38, m[1], ok[1]), select(-3.4e38, m[2], ok[2]),
                           select(-3.4e38, m[3], ok[3]), select(-3.4e38, m[4], ok[4]), select(-3.4e38, m[5], ok[5]),
                           select(-3.4e38, m[6], ok[6]), select(-3.4e38, m[7], ok[7]));
    let mx = max(max(max(mm[0], mm[1]), max(mm[2], mm[3])), max(max(mm[4], mm[5]), max(mm[6], mm[7])));
    let e = array<f32, 8>(select(0.0, exp(m[0] - mx), ok[0]), select(0.0, exp(m[1] - mx), ok[1]),
                          select(0.0, exp(m[2] - mx), ok[2]), select(0.0, exp(m[3] - mx), ok[3]),
                          select(0.0, exp(m[4] - mx), ok[4]), select(0.0, exp(m[5] - mx), ok[5]),
                          select(0.0, exp(m[6] - mx), ok[6]), select(0.0, exp(m[7] - mx), ok[7]));
    let den = ((e[0] * l[0] + e[1] * l[1]) + (e[2] * l[2] + e[3] * l[3])) +
              ((e[4] * l[4] + e[5] * l[5]) + (e[6] * l[6] + e[7] * l[7]));
    wz[b] = e[0] / den;
    if (1u < na) { wz[b + 1u] = e[1] / den; }
    if (2u < na) { wz[b + 2u] = e[2] / den; }
    if (3u < na) { wz[b + 3u] = e[3] / den; }
    if (4u < na) { wz[b + 4u] = e[4] / den; }
    if (5u < na) { wz[b + 5u] = e[5] / den; }
    if (6u < na) { wz[b + 6u] = e[6] / den; }
    if (7u < na) { wz[b + 7u] = e[7] / den; }
}

// Every load of a phase is issued at once: a decode step is a chain of memory latencies.
// Ends with a barrier: xs is ready for every thread.
fn merge_partials(wg: u32, lid: u32, hd: u32, ns: u32, sl: u32, cols: u32, pos: u32, pb: u32, xb: u32) {
    let nh = cols / hd;
    let stride = hd + 2u;
    let na = min(ns, (pos + sl) / sl);
    // 1. (m, l) of every (head, active split): m into wz, l into xs (free until step 3); over
    //    (head, split) by ns, not na (a constant in decode_fused.wgsl: no runtime division)
    for (var i = lid; i < nh * ns; i += 256u) {
        let z = i % ns;
        if (z < na) {
            let b = pb + i * stride + hd;
            wz[(i / ns) * na + z] = merge_part(b);
            xs[(i / ns) * na + z] = merge_part(b + 1u);
        }
    }
    workgroupBarrier();
    // 2. per head, in place: wz = exp(m_z - M) / sum_z exp(m_z - M) l_z, M over splits with l > 0
    //    (up to 8 splits straight-line: a loop's workgroup-memory reads went one after another)
    if (lid < nh && na <= 8u) {
        merge_weights8(lid * na, na);
    } else if (lid < nh) {                 // more splits: a loop
        let b = lid * na;
        var mx = -3.4e38;
        for (var z = 0u; z < na; z++) { if (xs[b + z] > 0.0) { mx = max(mx, wz[b + z]); } }
        var den = 0.0;
        for (var z = 0u; z < na; z++) {
            let l = xs[b + z];
            var e = 0.0;
            if (l > 0.0) { e = exp(wz[b + z] - mx); }
            wz[b + z] = e;
            den += e * l;
        }
        for (var z = 0u; z < na; z++) { wz[b + z] /= den; }
    }
    workgroupBarrier();
    // 3. the merged row (xs's l values were last read in step 2). Up to 8 splits and 768 columns
    //    (3 a thread): straight-line code, so all 24 loads go out before the first is used; in
    //    the loop below a column's loads wait for the previous column's sums.
    if (na <= 8u && cols <= 768u) {
        let v0 = merge_col(min(lid, cols - 1u), hd, ns, na, pb);
        let v1 = merge_col(min(lid + 256u, cols - 1u), hd, ns, na, pb);
        let v2 = merge_col(min(lid + 512u, cols - 1u), hd, ns, na, pb);
        if (lid < cols) { xs[lid] = v0; }
        if (lid + 256u < cols) { xs[lid + 256u] = v1; }
        if (lid + 512u < cols) { xs[lid + 512u] = v2; }
        if (wg == 0u) {
            if (lid < cols) { merge_store(xb + lid, v0); }
            if (lid + 256u < cols) { merge_store(xb + lid + 256u, v1); }
            if (lid + 512u < cols) { merge_store(xb + lid + 512u, v2); }
        }
        workgroupBarrier();
        return;
    }
    for (var k = lid; k < cols; k += 256u) {
        let h = k / hd;
        let wb = h * na;
        let b = pb + h * ns * stride + k % hd;
        var o0 = 0.0; var o1 = 0.0; var o2 = 0.0; var o3 = 0.0;
        var z = 0u;
        for (; z + 3u < na; z += 4u) {
            o0 += wz[wb + z] * merge_part(b + z * stride);
            o1 += wz[wb + z + 1u] * merge_part(b + (z + 1u) * stride);
            o2 += wz[wb + z + 2u] * merge_part(b + (z + 2u) * stride);
            o3 += wz[wb + z + 3u] * merge_part(b + (z + 3u) * stride);
        }
        for (; z < na; z++) { o0 += wz[wb + z] * merge_part(b + z * stride); }
        let v = (o0 + o1) + (o2 + o3);
        xs[k] = v;
        if (wg == 0u) { merge_store(xb + k, v); }
    }
    workgroupBarrier();
}
