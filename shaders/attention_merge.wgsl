// attention_merge.wgsl -- merge the flash-decoding partials of attention_split.wgsl into the
// workgroup array xs, as attention_combine.wgsl does into a buffer:
//   x[h, d] = sum_z wz[h, z] acc_z[h, d],  wz[h, z] = exp(m_z - M) / sum_z exp(m_z - M) l_z,
// over the na splits that saw keys (pos + 1 keys: the splits past them are skipped, not read).
// Included by matvec.wgsl (COMBINE) and decode_fused.wgsl, which declare the workgroup arrays
// xs (>= cols) and wz (>= n_heads * n_splits) and say where the data lives:
//   fn merge_part(i) -> f32      word i of the partials ((n_heads, n_splits, head_dim + 2) from pb)
//   fn merge_store(i, v: f32)    the merged row (from xb), written by workgroup 0 only so x stays
//                                valid for any later reader
// Every load of a phase is issued at once: a decode step is a chain of memory latencies.
// Ends with a barrier: xs is ready for every thread.
fn merge_partials(wg: u32, lid: u32, hd: u32, ns: u32, sl: u32, cols: u32, pos: u32, pb: u32, xb: u32) {
    let nh = cols / hd;
    let stride = hd + 2u;
    let na = min(ns, (pos + sl) / sl);
    // 1. (m, l) of every (head, active split): m into wz, l into xs (free until step 3)
    for (var i = lid; i < nh * na; i += 256u) {
        let b = pb + ((i / na) * ns + i % na) * stride + hd;
        wz[i] = merge_part(b);
        xs[i] = merge_part(b + 1u);
    }
    workgroupBarrier();
    // 2. per head, in place: wz = exp(m_z - M) / sum_z exp(m_z - M) l_z, M over splits with l > 0
    if (lid < nh) {
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
    // 3. the merged row (xs's l values were last read in step 2), 4 splits' loads in flight
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
