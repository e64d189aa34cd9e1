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

fn argmax_finish(wg: u32, lid: u32, writers: u32) {
    let par = spar;
    let g = cmds[H_G];           // slots a parity: G (a step's n may differ from the next one's)
    let c = best_of_workgroup(lid, am);
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
