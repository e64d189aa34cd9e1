// reduce.wgsl -- workgroup-wide max and sum over 256 threads, every thread gets the result.
// Included by attention.wgsl (its whole-context kernel); the includer declares the workgroup arrays
// red (256 f32), red2 (at least 16) and red3 (16).
//
// Two-level reductions: 16 threads fold 16 values each, then every thread folds the 16
// results (2 barriers instead of log2(256) + 1 = 9). No trailing barrier is needed: red and
// red2/red3 are next written only after a later barrier that every reader has passed.
fn reduce_max(lid: u32, v: f32) -> f32 {
    red[lid] = v;
    workgroupBarrier();
    if (lid < 16u) {
        let b = lid * 16u;
        var m = max(max(red[b], red[b + 1u]), max(red[b + 2u], red[b + 3u]));
        for (var i = b + 4u; i < b + 16u; i += 4u) { m = max(m, max(max(red[i], red[i + 1u]), max(red[i + 2u], red[i + 3u]))); }
        red2[lid] = m;
    }
    workgroupBarrier();
    var r = red2[0];
    for (var i = 1u; i < 16u; i++) { r = max(r, red2[i]); }
    return r;
}

fn reduce_sum(lid: u32, v: f32) -> f32 {
    red[lid] = v;
    workgroupBarrier();
    if (lid < 16u) {
        let b = lid * 16u;
        var s = 0.0;
        for (var i = b; i < b + 16u; i += 4u) { s += (red[i] + red[i + 1u]) + (red[i + 2u] + red[i + 3u]); }
        red3[lid] = s;
    }
    workgroupBarrier();
    var r = 0.0;
    for (var i = 0u; i < 16u; i += 4u) { r += (red3[i] + red3[i + 1u]) + (red3[i + 2u] + red3[i + 3u]); }
    return r;
}
