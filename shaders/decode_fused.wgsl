// decode_fused.wgsl -- a whole recorded decode step in ONE dispatch: persistent workgroups that
// run the step's commands in order, with a grid-wide barrier between commands.
//
// How to read this: start at `main` (the end of this file): take a ticket, then for each command
// of the table wait at the barrier, run the command, arrive. Then, in this order:
//   fused_sync.wgsl       the grid barrier and the tickets (grid_arrive, grid_wait, close_window)
//   fused_arena.wgsl      where activations live and how a reader knows one was written (act_*)
//   fused_matvec.wgsl     EMBED and MATVEC (stage_x, row_dot, mv_block, mv_out), weight decoders,
//                         the prefetch of idle workgroups
//   fused_attention.wgsl  ATTN (attention_split.wgsl and attention_merge.wgsl over the arenas)
//   fused_argmax.wgsl     the greedy token inside the logits' command
// The table's layout (C_*, S_*, flags, quant types) is device/webgpu/fused_layout.py's, which
// fused.py fills in; fused.py also compiles in each kind of matvec (fused_kinds.wgsl's MVK<i>)
// and the step's attention shape (A_*).
//
// Why: a decode step of SmolLM2-135M is ~152 small dependent dispatches, and on wgpu/Vulkan each
// costs ~4 us of GPU time however little it does, plus CPU time to encode it; reading the
// ~100 MB of weights would take ~36 us at ~2.8 TB/s. Here the G workgroups of one dispatch
// walk a command table (built from the recorded step by device/webgpu/fused.py): for each
// command a workgroup takes virtual workgroups wg, wg + G, ... of that command's grid, then all
// meet at a barrier in storage memory (an atomic counter) before the next command.
//
// A grid barrier needs every workgroup that takes part resident at once, which WebGPU does not
// promise. On CPU emulators (TICKETS, fused.py) the workgroups that take part are the ones that
// have started (discovery): each takes a ticket as it starts, and ticket 0, after the step's first
// command, closes the window once all G have a ticket or after `window` polls; the tickets then
// number the step's workgroups 0 .. n - 1 (n <= G), one that starts after the window closed leaves
// at once, and every command's virtual workgroups are spread over the n. On a GPU all G take part,
// numbered by their builtin id, and G is modest (device.fused_workgroups). Every wait is bounded
// (spin_limit polls, then the abort word is set and every workgroup leaves), the host reads the
// abort word with every token, and the program is compared with the plain replay on its first step
// before it is used (fused.py), where the host also learns n (and rebuilds for n where fewer than
// G took part).
//
// Memory: every activation a command writes is a fresh region of `act` (write-once within a
// step, 256-byte aligned), its values stored with their bits complemented into one of two arenas
// (by the step's parity), the other arena's word zeroed for the next step: a reader that finds a
// 0 knows the value was not there yet, and the step reports it (act_ld, LATE) instead of using
// it. So the barrier needs no memory fence (grid_arrive; the KV cache row a step writes is read by
// later steps only, but in one-split attention: F_FENCE), and a step needs no copy before it. The
// logits' command also picks the greedy token (ARGMAX), which the next step reads on the GPU, and
// leaves the next step its position: a greedy token is one dispatch, one 16-byte readback, and no
// host write.
//
// A step takes about half the GPU time of the replay's ~153 dispatches and none of their CPU
// encoding, so it decodes about twice as fast on an H100 or H200; G = 264 is the fastest there
// (bench/RESULTS.md has the numbers, the breakdown per command and what was tried). On by default
// on GPUs (device.py, "auto").
//
// What makes a command slow here is chains of waits and instructions, not bytes: each
// workgroupBarrier(), storageBarrier() (several times dearer) and load from L2 is a wait of
// hundreds of cycles (bench/latency_probe.py; a workgroup barrier does not wait for loads in
// flight). So loads are issued in batches before their values are used (row_dot, stage_x), in
// straight-line code: a
// load in a loop or a branch that uses it waits for the one before (reads of workgroup memory
// too); a workgroup's first weights are loaded before the barrier that precedes their command
// (mv_pre); workgroup barriers are kept to those that order something; and a workgroup with
// nothing to do in a command reads the weights of a later one into L2 (prefetch) and leaves.
// Each thread's arithmetic counts as much: an integer division by a value known only at run
// time is ~20 instructions, and every workgroup of an SM shares its issue slots. So the step's
// shapes are compile-time constants where they can be: the attention shape (A_*), each kind
// of matvec's flags, layout and sizes (mv_kinds, pre_kinds in fused_kinds.wgsl), the weight
// types (W_*). Registers count too: loading more of attention's keys and values ahead, or
// batches of 8 weight groups, measured slower.
//
// Commands (CMD_WORDS u32 each, after a header of CMD_WORDS: n_cmds, G, spin_limit, parity,
// window; the host binds one copy of the table a parity, so a step's parity is its dispatch's):
//   EMBED   row of the table for the token in sync[S_TOKEN] (the first command; ticket 0) -> act
//   MATVEC  matvec.wgsl's decode kernel with its variants as flag bits      -> act (+ KV cache)
//   ATTN    attention.wgsl SPLIT: one (head, key run) per virtual workgroup -> act (partials);
//           with one run (NORMALIZED, contexts up to 256) the finished output, as attention.wgsl
// Attention and the merge of its partials are the same code as the plain kernels'
// (attention_split.wgsl, attention_merge.wgsl), reading the arenas; the matvec is
// matvec.wgsl's with its variants as flags and a layout picked per command. The tests hold this
// kernel to the plain replay and to the NumPy device (tests/kernels/test_fused.py).

#include "quant.wgsl"

// The words fused.py and this shader share (fused_layout.py, as WGSL constants): CMD_WORDS, the
// header's H_*, OP_*, the flags F_*, the quant types QT_*, a command's words C_*, the sync
// words S_*, the abort bits TIMED_OUT and LATE, N_SHIFT, XS, and block_words().
{{LAYOUT}}
const ABORTED: u32 = 0x80000000u;   // in the arrival counter: a workgroup gave up waiting (grid_wait)
const ARR_MASK: u32 = 0xFFFFFu;     // ... its low bits count arrivals; bits 20-29 hold n (ticket 0's first arrival)
const CLOSED: u32 = 0x80000000u;    // in the ticket word: the window is closed (no more workgroups take part)
const NO_TICKET: u32 = 0xFFFFFFFFu;
const WAITING: u32 = 0xFFFFFFFFu;   // grid_wait: thread 0 has not seen the arrivals yet
const POLL_ROUND: u32 = 64u;        // polls between two workgroup barriers in a wait (grid_wait)
const NO_ROW: u32 = 0x7FFFFFFFu;   // ARGMAX: no row yet (its complement is not 0)
const ASIZE: u32 = {{ASIZE}}u;     // words of one activation arena (act holds two)

// The step's attention shape, the same in every layer (fused.py checks and fills these in):
// divisions by them fold at compile time (attn_block, split_block, the merge, ROPE's pairs).
const A_HD: u32 = {{A_HD}}u;       // head_dim
const A_NH: u32 = {{A_NH}}u;       // query heads
const A_NKV: u32 = {{A_NKV}}u;     // KV heads
const A_SL: u32 = {{A_SL}}u;       // keys a split
const A_NS: u32 = {{A_NS}}u;       // splits: one split (NORMALIZED), or the current key's and those over the cache (CUR)

@group(0) @binding(0) var<storage, read> cmds: array<u32>;
@group(0) @binding(2) var<storage, read> w: array<u32>;             // weights, norms, biases, rope table
@group(0) @binding(3) var<storage, read_write> act: array<atomic<u32>>;  // activations, one region per write (act_*)
@group(0) @binding(4) var<storage, read_write> kv: array<vec4<f32>>;  // the model's KV cache (all layers)
@group(0) @binding(5) var<storage, read_write> sync: array<atomic<u32>>;  // arrivals, abort, token

var<workgroup> xs: array<f32, 2048>;       // the command's input row (normalised by nw under NORM)
var<workgroup> wz: array<f32, 1024>;       // COMBINE: split weights
var<workgroup> red: array<f32, 256>;
var<workgroup> red2: array<f32, 256>;
var<workgroup> red3: array<f32, 16>;
var<workgroup> redv: array<vec4<f32>, 256>;
var<workgroup> sc: array<f32, 256>;         // attention scores
var<workgroup> qs: array<vec4<f32>, 64>;
var<workgroup> redss: array<f32, 256>;     // NORM: each thread's sum of squares of x
var<workgroup> wflag: u32;
var<workgroup> wticket: u32;               // the workgroup's ticket (main), n (close_window)
var<workgroup> wpos: u32;                  // the step's position, for workgroupUniformLoad (see main)
var<workgroup> bv: array<f32, 256>;        // ARGMAX (argmax_best.wgsl)
var<workgroup> bi: array<u32, 256>;
var<workgroup> bv2: array<f32, 16>;
var<workgroup> bi2: array<u32, 16>;

#include "argmax_best.wgsl"

#include "fused_arena.wgsl"
#include "fused_sync.wgsl"
#include "fused_matvec.wgsl"
#include "fused_argmax.wgsl"
#include "fused_attention.wgsl"

fn cw(ci: u32, k: u32) -> u32 { return cmds[ci + k]; }
fn cf(ci: u32, k: u32) -> f32 { return bitcast<f32>(cmds[ci + k]); }

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let n_cmds = cmds[H_N_CMDS];
    let g = cmds[H_G];
    let par = cmds[H_PARITY] & 1u;
    spar = par;
    abase = par * ASIZE;
    obase = (1u - par) * ASIZE;
    cnt = select(0u, S_CNT1, par == 1u);
#ifdef TICKETS
    // the workgroup's ticket: its number in the step, or none where the window has closed
    if (lid == 0u) {
        let t = atomicAdd(&sync[S_TICKET + par], 1u);
        wticket = select(t, NO_TICKET, (t & CLOSED) != 0u);
    }
    let wg = workgroupUniformLoad(&wticket);
    if (wg == NO_TICKET) { return; }
#else
    // a GPU: every workgroup takes part, numbered by its builtin id (the tickets, which CPU
    // emulators need, are left out where they were measured to cost: bench/RESULTS.md)
    let wg = wid.x;
#endif
    spos = atomicLoad(&sync[S_POS]);
    if (lid == 0u) { wpos = spos; }     // read by workgroupUniformLoad, after its barrier
    if (wg == 0u && lid == 0u) {        // the next step's words (the last step of that parity is done)
        atomicStore(&sync[select(S_CNT1, 0u, par == 1u)], 0u);
        atomicStore(&sync[S_TICKET + 1u - par], 0u);
        atomicStore(&sync[S_DONE + 1u - par], 0u);
    }
    var n = g;           // the workgroups taking part: ticket 0 learns it in close_window, the others at the first barrier
    var before = 0u;
    var arrived = false;
    var goal = 0u;
    var late_cmd = 0u;   // 1 + the first command in which this thread read a word not yet written
    for (var c = 0u; c < n_cmds; c++) {
        let ci = CMD_WORDS + c * CMD_WORDS;
        let op = cmds[ci];
        let pre = mv_pre(ci, wg, lid);       // loads out before the wait, used after it
        if (c > 0u) {
            let seen = grid_wait(lid, goal, before, arrived);
            if (seen == 0u) { return; }
#ifdef TICKETS
            if (c == 1u && wg != 0u) { n = (seen >> N_SHIFT) & 0x3FFu; }
#endif
        }
        if (op == OP_EMBED) { op_embed(ci, wg, lid, n); }
        else if (op == OP_MATVEC) { mv_kinds(ci, wg, lid, n, pre); }
        else if (op == OP_ATTN) { op_attn(ci, wg, lid, n); }
        if (late != 0u && late_cmd == 0u) { late_cmd = c + 1u; }
        var add = 1u;
#ifdef TICKETS
        if (c == 0u && wg == 0u) {           // the first command is ticket 0's alone (EMBED)
            n = close_window(lid, g);
            add += n << N_SHIFT;
        }
#endif
        if (c + 1u < n_cmds) {
            // only the workgroups that had a block in the command arrive; the others go on to wait
            let writers = min(cw(ci, C_NVWG), n);
            goal += writers;
            arrived = wg < writers;
            if (arrived) { before = grid_arrive(lid, op == OP_MATVEC && (cw(ci, C_FLAGS) & F_FENCE) != 0u, add); }
        }
    }
    if (late != 0u) {        // a word this thread used was not written yet; the first command that read one
        atomicOr(&sync[S_ABORT], LATE);
        atomicMax(&sync[S_LATE_CMD], late_cmd);
    }
}
