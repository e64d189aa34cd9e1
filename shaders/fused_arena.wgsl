// fused_arena.wgsl -- decode_fused.wgsl's activations: two arenas by the step's parity, every
// value stored complemented, a 0 read back meaning not yet written (act_ld, act_st).

// -- activations ------------------------------------------------------------------------------
// A value in `act` is stored as the complement of its bits, into the arena of the step's parity
// (abase), and the same word of the other arena (obase) is set to 0: the next step, of the other
// parity, writes the same words (its table is this one), so it finds each still 0 until written,
// and every region is written once a step: a word read as 0 was not written yet, and any other
// word read is this step's value (the previous step's zeros reach this one through the dispatch
// boundary, and no line of a region holds another's). The two arenas replace a copy of zeros
// before each step. Readers check without branching: `late` keeps whether any word they used was
// still 0, and main then sets bit 2 of the abort word, which the host reads with the token
// (device.py: the step is not trusted). So a command needs no memory fence before its arrival at
// the barrier (a storageBarrier() in each of a step's ~150 barriers; only a rotary matvec before a
// one-split attention, which reads the KV cache row it wrote as plain floats, keeps its: F_FENCE,
// grid_arrive): the barrier paces the workgroups, and the values say whether they came in time
// (waiting on a word that came back 0 instead, a branch and a loop at each read, measured far
// slower). The logits (F_RAW) are stored as plain bits, for the host and the sampler after the
// dispatch.
var<private> late: u32;
var<private> polls: u32;     // thread 0: barrier polls so far in the step (grid_wait gives up at spin_limit)
var<private> abase: u32;     // this step's arena: parity * ASIZE
var<private> obase: u32;     // the next step's
var<private> cnt: u32;       // this step's barrier counter: sync[0] or sync[S_CNT1], by parity
var<private> spos: u32;      // the step's position (sync[S_POS])
var<private> spar: u32;      // ... and parity (the header's)

fn act_dec(r: u32) -> f32 { return bitcast<f32>(~r); }

// Every word of `act` is read and written as an atomic (relaxed): WGSL orders nothing between
// workgroups but atomics, and plain loads were seen to return lines from before a writer's stores
// were visible on an H100 (bench/RESULTS.md: the LATE reads) where atomic ones never did.
fn act_get(j: u32) -> u32 { return atomicLoad(&act[j]); }

fn act_ld(i: u32) -> f32 {
    let r = act_get(abase + i);
    late |= u32(r == 0u);
    return act_dec(r);
}

fn act_ld4(i: u32) -> vec4<f32> {
    let j = abase + i;
    let r = vec4<u32>(act_get(j), act_get(j + 1u), act_get(j + 2u), act_get(j + 3u));
    late |= u32(any(r == vec4<u32>(0u)));
    return vec4<f32>(act_dec(r.x), act_dec(r.y), act_dec(r.z), act_dec(r.w));
}

fn act_ld8(a: array<u32, 8>) -> array<f32, 8> {
    let b = abase;
    let r0 = vec4<u32>(act_get(b + a[0]), act_get(b + a[1]), act_get(b + a[2]), act_get(b + a[3]));
    let r1 = vec4<u32>(act_get(b + a[4]), act_get(b + a[5]), act_get(b + a[6]), act_get(b + a[7]));
    late |= u32(any(min(r0, r1) == vec4<u32>(0u)));
    return array<f32, 8>(act_dec(r0.x), act_dec(r0.y), act_dec(r0.z), act_dec(r0.w),
                         act_dec(r1.x), act_dec(r1.y), act_dec(r1.z), act_dec(r1.w));
}

fn act_st(i: u32, v: f32) {
    atomicStore(&act[abase + i], ~bitcast<u32>(v));
    atomicStore(&act[obase + i], 0u);
}
