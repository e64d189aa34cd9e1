// argmax_best.wgsl -- the best of a workgroup's 256 candidates: the largest value, the lowest id on
// a tie (a NaN never wins: it is not > anything). Included by argmax.wgsl (each row's token) and
// decode_fused.wgsl (the greedy token of the fused step: each workgroup's best of its logits,
// then the best of those). The includer declares bv (f32, 256), bi (u32, 256), bv2 (f32, 16),
// bi2 (u32, 16) in workgroup memory.
//
// Two levels (16 x 16), 2 barriers, not a tree's 8.

struct Best { v: f32, i: u32 }

// The better of two candidates: larger value, or on a tie the lower id.
fn better(a: Best, v: f32, i: u32) -> Best {
    if (v > a.v || (v == a.v && i < a.i)) { return Best(v, i); }
    return a;
}

// Every thread's candidate b -> the workgroup's best, returned to thread 0 (the others get their
// group's). Call from uniform control flow; bv .. bi2 are free again after the next barrier.
fn best_of_workgroup(lid: u32, b: Best) -> Best {
    bv[lid] = b.v;
    bi[lid] = b.i;
    workgroupBarrier();
    if (lid < 16u) {
        var c = Best(bv[lid * 16u], bi[lid * 16u]);
        for (var j = lid * 16u + 1u; j < lid * 16u + 16u; j++) { c = better(c, bv[j], bi[j]); }
        bv2[lid] = c.v;
        bi2[lid] = c.i;
    }
    workgroupBarrier();
    var c = Best(bv2[0], bi2[0]);
    if (lid == 0u) {
        for (var j = 1u; j < 16u; j++) { c = better(c, bv2[j], bi2[j]); }
    }
    return c;
}
