// fused_sync.wgsl -- decode_fused.wgsl's grid barrier (grid_arrive, grid_wait) and the step's
// tickets (close_window).

// -- grid barrier ----------------------------------------------------------------------------
// The workgroups that wrote something in a command arrive (sync[cnt] counts arrivals over the
// whole dispatch: grid_arrive gives thread 0 the count before its own), then every workgroup's
// thread 0 polls until `arrivals` have (grid_wait; main loads the next command's weights in
// between, mv_pre). A workgroup that had nothing to do does not arrive: it is waited for by no
// one, so its read-ahead (prefetch) cannot hold the barrier up, and the counter takes fewer
// atomics. Every command's writers waited for the one before, so passing a barrier means every
// earlier command is done as well. false: the wait ran past spin_limit polls, or another
// workgroup gave up.
// fence: the command wrote the KV cache row that the one-split attention after it reads as plain
// floats (F_FENCE); a storageBarrier() puts those stores out before the arrival is counted (as
// every command did before activations carried their own check: act_ld; split attention takes
// the current key and value from the activations instead, cur_block).
// add: 1, and ticket 0's first arrival also puts n in the counter's bits 20-29 (close_window).
fn grid_arrive(lid: u32, fence: bool, add: u32) -> u32 {
    if (fence) { storageBarrier(); }
    var before = 0u;
    if (lid == 0u) { before = atomicAdd(&sync[cnt], add); }
    return before;
}

// Returns the counter as thread 0 last saw it (so its bits 20-29 give n to the workgroups that
// learn it at the first barrier), or 0 where the wait gave up. On a GPU (every workgroup resident
// and running) thread 0 polls until the count is reached while the rest wait at one barrier. With
// TICKETS (CPU emulators) it polls in rounds of POLL_ROUND, and between rounds the whole workgroup
// meets at a barrier, where an implementation that runs several workgroups on one CPU thread
// (SwiftShader's coroutines) may switch to another: a workgroup that polled without end would
// keep those from arriving.
fn grid_wait(lid: u32, arrivals: u32, before: u32, arrived: bool) -> u32 {
    if (lid == 0u) {
        // A workgroup that gives up sets ABORTED in the counter itself (and the abort word the
        // host reads): every later arrival or poll sees it. A workgroup that was not resident
        // and arrives after the others gave up must not take the full count for a pass (it
        // would run the next commands alone and write the KV cache).
        if ((before & ABORTED) != 0u) { wflag = 0u; }
        else if (arrived && (before & ARR_MASK) + 1u >= arrivals) { wflag = before + 1u; }   // the last to arrive need not poll
#ifdef TICKETS
        else { wflag = poll_round(arrivals); }
#else
        else { wflag = poll_until(arrivals); }
#endif
    }
    // No storageBarrier() after the wait (one costs several workgroup barriers): a word of `act` read
    // too early (its loads are atomic: fused_arena.wgsl) holds 0 where the value was not yet written,
    // which act_ld reports; the KV cache's
    // row pos is read in this step only by a one-split attention, after the fenced arrival of the
    // command that wrote it, and no line read ahead holds it (prefetch). The first step's check
    // against the replay (fused.py) would see a stale read as wrong logits.
#ifdef TICKETS
    var seen = WAITING;
    loop {
        seen = workgroupUniformLoad(&wflag);
        if (seen != WAITING) { break; }
        if (lid == 0u) { wflag = poll_round(arrivals); }
    }
    return seen;
#else
    return workgroupUniformLoad(&wflag);
#endif
}

// Thread 0 on a GPU: polls of the counter until `arrivals` have arrived (what it saw then), or 0
// where a workgroup gave up (or this one: past spin_limit polls in the step).
fn poll_until(arrivals: u32) -> u32 {
    let limit = cmds[H_SPIN_LIMIT];
    var seen = 0u;
    loop {
        let c = atomicLoad(&sync[cnt]);
        if ((c & ABORTED) != 0u) { break; }
        if ((c & ARR_MASK) >= arrivals) { seen = c; break; }
        polls += 1u;
        if (polls >= limit) {
            atomicOr(&sync[cnt], ABORTED);
            atomicOr(&sync[S_ABORT], TIMED_OUT);
            break;
        }
    }
    return seen;
}

// Thread 0: up to POLL_ROUND polls of the counter: what it saw once `arrivals` have arrived, 0
// where a workgroup gave up (or this one: past spin_limit polls in all), else WAITING.
fn poll_round(arrivals: u32) -> u32 {
    for (var k = 0u; k < POLL_ROUND; k++) {
        let c = atomicLoad(&sync[cnt]);
        if ((c & ABORTED) != 0u) { return 0u; }
        if ((c & ARR_MASK) >= arrivals) { return c; }
    }
    polls += POLL_ROUND;
    if (polls >= cmds[H_SPIN_LIMIT]) {
        atomicOr(&sync[cnt], ABORTED);
        atomicOr(&sync[S_ABORT], TIMED_OUT);
        return 0u;
    }
    return WAITING;
}

// Ticket 0, after the step's first command: wait until all G workgroups have a ticket or `window`
// polls have passed, then close the window; n is the number of tickets given before it closed.
fn close_window(lid: u32, g: u32) -> u32 {
    let t = S_TICKET + spar;
    let window = cmds[H_WINDOW];
    var k = 0u;
    loop {       // in rounds, with a barrier between them (as grid_wait, for the same reason)
        if (lid == 0u) {
            var r = 0u;
            loop {
                if (atomicLoad(&sync[t]) >= g || r >= POLL_ROUND) { break; }
                r += 1u;
            }
            wflag = u32(r < POLL_ROUND);
        }
        k += POLL_ROUND;
        if (workgroupUniformLoad(&wflag) != 0u || k >= window) { break; }
    }
    if (lid == 0u) { wticket = atomicOr(&sync[t], CLOSED) & ARR_MASK; }
    return workgroupUniformLoad(&wticket);
}
