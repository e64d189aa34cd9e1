// fused_argmax.wgsl -- decode_fused.wgsl's greedy token, picked by the logits' command.

// -- ARGMAX: the greedy token inside the step -------------------------------------------------
// The logits' matvec (the step's last command) keeps each thread's best row (mv_out: am); each
// workgroup that had rows folds its threads' into its slot in `sync` and counts itself done; the
// last one folds the slots and writes the token to sync[S_TOKEN]. The next step's EMBED reads it
// there, and the host reads it with the abort word (one copy of 16 bytes): a greedy token needs
// no argmax dispatch after the step and no copy of the token into the next one. Slots are stored
// complemented, per parity, the other parity's zeroed (as act_st): a slot still 0 sets LATE.
// A storageBarrier() puts the slot out before the count, and another follows the count
// (once a step each); argmax.wgsl's rule: the largest logit, the lowest row on a tie.
var<private> am: Best = Best(-3.4e38, NO_ROW);
#ifdef MASK

// MASK: a grammar constraint's allowed tokens (token_mask.wgsl, binding 6; fused.py compiles this
// variant and binds the mask for the steps of a constrained generation, the table unchanged).
// `am` holds a thread's best of every row it wrote, so each thread that wrote logits takes its
// best again over the allowed ones: lane 0 of each slot of mv_block wrote row blk * rpv + slot
// of the workgroup's blocks wg, wg + writers, ... (op_matvec's blocks: with fewer blocks than
// workgroups each has one), and reads them back in that order (its own stores: no barrier). The
// logits' command is the step's last (fused.py sets ARGMAX only there).
#include "token_mask.wgsl"

fn masked_best(wg: u32, lid: u32, writers: u32) -> Best {
    let ci = CMD_WORDS * cmds[H_N_CMDS];
    let rpv = cw(ci, C_RPV);
    let sh = 8u - countTrailingZeros(rpv);        // lanes a row (mv_block)
    var b = Best(-3.4e38, NO_ROW);
    if ((lid & ((1u << sh) - 1u)) != 0u) { return b; }
    let slot = lid >> sh;
    let rows = cw(ci, C_ROWS);
    let nv = cw(ci, C_NVWG);
    let yb = cw(ci, C_Y);
    for (var blk = wg; blk < nv; blk += writers) {
        let row = blk * rpv + slot;
        if (row < rows && allowed(row)) {
            let v = bitcast<f32>(act_get(abase + yb + row));
            if (v > b.v) { b = Best(v, row); }      // rows increase: the first of equals
        }
    }
    return b;
}
#endif

fn argmax_finish(wg: u32, lid: u32, writers: u32) {
    let par = spar;
    let g = cmds[H_G];           // slots a parity: G (a step's n may differ from the next one's)
#ifdef MASK
    let c = best_of_workgroup(lid, masked_best(wg, lid, writers));
#else
    let c = best_of_workgroup(lid, am);
#endif
    if (lid == 0u) {
        let s = S_SLOTS + (par * g + wg) * 2u;
        let o = S_SLOTS + ((1u - par) * g + wg) * 2u;
        atomicStore(&sync[s], ~bitcast<u32>(c.v));
        atomicStore(&sync[s + 1u], ~c.i);
        atomicStore(&sync[o], 0u);
        atomicStore(&sync[o + 1u], 0u);
    }
    storageBarrier();
    if (lid == 0u) { wflag = atomicAdd(&sync[S_DONE + par], 1u); }
    if (workgroupUniformLoad(&wflag) + 1u != writers) { return; }
    storageBarrier();
    var b = Best(-3.4e38, NO_ROW);
    for (var k = lid; k < writers; k += 256u) {
        let s = S_SLOTS + (par * g + k) * 2u;
        let rv = atomicLoad(&sync[s]);
        let ri = atomicLoad(&sync[s + 1u]);
        late |= u32(rv == 0u || ri == 0u);
        b = better(b, bitcast<f32>(~rv), ~ri);
    }
    let t = best_of_workgroup(lid, b);
    if (lid == 0u) {
        atomicStore(&sync[S_TOKEN], select(t.i, 0u, t.i == NO_ROW));
        // the next step's position: every workgroup taking part has read this step's (each
        // counted itself done above, and fused.py chains steps only where every workgroup has
        // logits' rows); one that starts late reads it too, but leaves without using it (main)
        atomicStore(&sync[S_POS], spos + 1u);
    }
}
