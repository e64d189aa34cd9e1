"""The fused decode step: a recorded decode step rebuilt as ONE dispatch of decode_fused.wgsl.

A replayed step is ~152 dispatches (5 a layer); on wgpu/Vulkan each costs ~4 us of GPU time and
CPU time to encode however small it is (bench/dispatch_floor.py), while reading the ~100 MB of
weights would take ~36 us at the ~2.8 TB/s this GPU machine streams. ``build`` turns the
dispatches the device recorded (shader, variant, bindings, grid) into a command table for
decode_fused.wgsl, whose persistent workgroups run the commands in order with a grid barrier
between them (the WGSL header says how and what guards it), and picks each matvec's layout
(``rows_per_block``). The pipeline is compiled for the step: its attention shape
(``_attention_shape``), each kind of matvec (``_matvec_kinds``) and its weight types are
constants in the WGSL, so a program costs one compile per model and runs faster than with those
read from the table (bench/RESULTS.md).

Memory it adds, made once per recorded step:
* a weight arena: a GPU-side copy of every weight, norm, bias and rope table the step reads (one
  binding for all of them: WebGPU binds a handful of buffers per dispatch, not ~100). It doubles
  the weights' GPU memory; ``build`` says no when the arena would pass the binding limit.
* two activation arenas, used by turns (the step's parity): a fresh region for every value the
  step writes (write-once, see the WGSL); each store also zeroes its word in the other arena, for
  the next step: a value still 0 when it is read was not written yet, and the step says so in
  its abort word (LATE) rather than use it.
* the sync words: barrier counters (which also carry how many workgroups took part: those that
  had started when ticket 0 closed the step's window, decode_fused.wgsl), ticket words, the abort
  word, the token (the step's input, then its greedy output: the logits' command picks it, so a
  greedy token costs no argmax dispatch, and the next step reads it where it is), the position
  (which a step advances for the next one: the host writes it only where a step does not follow),
  and two words a workgroup for that argmax. The parity is the dispatch's (both_tables).
* under a grammar constraint (the device's token_mask), the same table run by the MASK variant
  of the program (fused_argmax.wgsl), which binds the mask's words as well and picks the greedy
  token among the allowed ones; compiled at the first constrained step, the unconstrained
  program's WGSL and table unchanged.
* a region for each layer's current key and value: split attention reads them there (checked
  like every activation), not from the KV cache row the step writes, so no command needs a fence
  but a rotary matvec before a one-split attention (F_FENCE).
* the KV cache is the model's own (one buffer for all layers, WebGPUDevice.kv_cache).

Why it may be refused (the reason goes to the device's notes): an op the table has no command
for (a prefill, a split weight, a GPU sampler inside the step, GPT-2's learned positions,
LayerNorm and GELU, Gemma's ops: GEMMA_VARIANTS), more than the binding limit, a
workgroup-memory limit under the kernel's SMEM_BYTES, layers whose attention shapes differ, an
attention output wider than XS merged into a matvec's input (COMBINE). A matvec's input row wider
than XS (an FFN's down projection past 2048) is staged XS columns at a time (X_CHUNKS).
Before a program is used the device runs it once next to the plain replay and compares logits
(device.py, ``replay`` / ``read``).

Not here: choosing when to fuse (device.py), the kernels (shaders/decode_fused.wgsl).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import DeviceError
from ..gpu_sample import argmax_reference
from .gpu import GTensor

from .fused_layout import ABORT_BITS, BATCHED, BLOCK_GROUPS, BLOCK_WORDS, C, CMD_WORDS, FLAGS, GROUPWISE, HEADER, N_SHIFT
from .fused_layout import OPS, QTYPES, STEP_FLAGS, SYNC, XS
from .fused_layout import wgsl as layout_wgsl
from . import layout

OP_EMBED, OP_MATVEC, OP_ATTN = OPS["EMBED"], OPS["MATVEC"], OPS["ATTN"]
BATCHED_QT = {QTYPES[t] for t in BATCHED}     # the types of row_dot's batches (PRE loads a batch)
F_PRE, F_NORMALIZED, F_NEOX, F_RAW, F_ARGMAX, F_FENCE = (STEP_FLAGS[k] for k in ("PRE", "NORMALIZED", "NEOX", "RAW", "ARGMAX", "FENCE"))
S_ABORT, S_TOKEN, S_POS, S_CNT1, S_TICKET, S_SLOTS = (SYNC[k] for k in ("ABORT", "TOKEN", "POS", "CNT1", "TICKET", "SLOTS"))
TIMED_OUT, LATE = ABORT_BITS["TIMED_OUT"], ABORT_BITS["LATE"]
STATUS_WORDS = 8            # the sync words read back after a step: both parities' counters among them
MERGE_SPLITS = 1024         # decode_fused.wgsl's merge weights (wz): heads x splits
KG = 6                      # ... and the weight groups a matvec lane decodes in one batch (row_dot)
SMEM_BYTES = 4 * (2048 + 1024 + 256 + 256 + 16 + 256 + 256 + 1 + 2 * (256 + 16)) + 16 * (256 + 64)   # its workgroup memory (23,748 B)
SPIN_LIMIT = 1 << 20        # polls of the barrier counters in a step before a workgroup gives up: a fraction
                            # of a second on a GPU, far longer than its longest command (bench/RESULTS.md)
WINDOW = 1 << 12            # polls ticket 0 waits for every workgroup to start before the step goes on
                            # with those that have (decode_fused.wgsl, close_window)
ALIGN = 64                  # floats: regions start on 256 bytes (binding offsets, no shared cache lines)
PF_MAX_WORDS = 1 << 20      # the most weight words a command's idle workgroups prefetch (4 MiB)
PRELOAD = True              # F_PRE where it applies (False: every batch loaded after the barrier)


@dataclass(eq=False)
class FusedProgram:
    dispatches: tuple       # the one dispatch of a step, by parity (gpu.command; each binds its table's copy)
    outs: tuple             # the logits: views of activation arena 0 and 1 (the step's parity)
    weights: object         # the weight arena (held here as well as by the dispatch's bind group)
    sync: object            # buffer: [arrivals, abort, token, pos, arrivals', tickets, tickets', -, done, done', -, slots ...]
    status: GTensor         # its first STATUS_WORDS, read back with each step: [0, S_ABORT], [0, S_TOKEN]
    token: GTensor          # word S_TOKEN: the step's input token, then (argmax) its greedy token
    argmax: bool            # the step writes its greedy token (F_ARGMAX)
    table: np.ndarray       # the command table as uploaded: header row, then one row a command
    cmds: object            # ... its buffer: one copy a parity, `stride` bytes apart (both_tables)
    n_wg: int
    stride: int = 0
    chained: bool = False   # a step sets the next one's position (ARGMAX, every workgroup in it)
    parity: int = 0         # the arena of the next step queued
    next_pos: int = -1      # the position the step queued last left for the next one (chained)
    took: int = 0           # workgroups that took part in the last step whose status was read (took_part)
    tickets: bool = True    # built with TICKETS (CPU emulators: only the workgroups that started take part)
    variant: tuple = ()     # (defines, bindings without the table's, values, grid): what masked() compiles
    masked_with: object = None   # the device's token mask the step queued last picked under (None: every token)
    _masked: dict = None    # (id(mask buffer), bytes bound) -> the MASK variant's dispatches by parity

    def masked(self, gpu, mask) -> tuple:
        """The dispatches by parity of the MASK variant, which also binds mask.buf (binding 6)."""
        key = (id(mask.buf), mask.binding()[2])
        hit = (self._masked or {}).get(key)
        if hit is None:
            defines, bindings, values, grid = self.variant
            hit = tuple(gpu.command("decode_fused.wgsl", defines + ("MASK",),
                                    {0: (self.cmds, p * self.stride, self.table.nbytes), **bindings, 6: mask.binding()},
                                    grid, values)[0] for p in (0, 1))
            self._masked = {key: hit}                # one mask buffer at a time (the device's)
        return hit

    @property
    def out(self) -> GTensor:
        """The logits of the step queued last (the arena before the next one's)."""
        return self.outs[self.parity ^ 1]

    def took_part(self, status: np.ndarray) -> int:
        """How many workgroups took part in the step queued last (its counter's bits 20-29), from
        the status words read after it; all of them where the program has no tickets."""
        if not self.tickets:
            return self.n_wg
        word = int(np.asarray(status).reshape(-1)[S_CNT1 if self.parity ^ 1 else 0])
        return (word >> N_SHIFT) & 0x3FF

    def queue(self, gpu, pos: int, token=None, mask=None) -> GTensor:
        """Append one step at position pos to gpu.pending and return its logits. token: an int, a
        (1, 1) u32 GTensor to copy in, or None where the token word holds it already (the step
        before was greedy). mask: the device's token mask (the MASK variant picks the greedy token
        among its tokens), or None. The position is written only where the step before did not leave it
        (chained: a step of decoding after a step of this program). Every dispatch must run
        (steps alternate arenas: one left out would leave an arena unzeroed)."""
        if not (self.chained and pos == self.next_pos):
            gpu.adapter.write_buffer(self.sync, 4 * S_POS, np.array([pos], np.uint32))
        self.next_pos = pos + 1
        if isinstance(token, GTensor):
            gpu.copy(token.buf, token.offset, self.sync, 4 * S_TOKEN, 4)
        elif token is not None:
            gpu.adapter.write_buffer(self.sync, 4 * S_TOKEN, np.asarray(token, np.uint32).reshape(-1)[:1])
        use_mask = mask is not None and self.argmax
        gpu.pending.append((self.masked(gpu, mask) if use_mask else self.dispatches)[self.parity])
        self.masked_with = mask if use_mask else None
        gpu.dispatches += 1
        self.parity ^= 1
        return self.out


def both_tables(table: np.ndarray, stride: int) -> np.ndarray:
    """The command buffer's contents: the table twice, `stride` bytes apart (a multiple of 256, a
    binding offset), each copy's header with its parity. A step's parity is its dispatch's, which
    binds its copy: a workgroup that starts after its step's window closed must not read the next
    step's parity (decode_fused.wgsl, main)."""
    both = np.zeros((2, stride // 4), np.uint32)
    for p in (0, 1):
        both[p, :table.size] = table.reshape(-1)
        both[p, HEADER["PARITY"]] = p
    return both


class Refused(Exception):
    """The step cannot be fused; the message says why."""


def rows_per_block(rows: int, n_wg: int, groups: int) -> int:
    """Matrix rows a virtual workgroup of decode_fused.wgsl's matvec takes (4 .. 32, 256 / that
    many lanes each) for `rows` rows of `groups` weight groups (8 weights) each. A lane decodes
    its groups in batches of KG (row_dot: a batch's loads go out together) and a workgroup takes
    its blocks in rounds; each batch of each round is a wait on memory, so the fewest rounds x
    batches, and of those the most rows a block: fewer lanes a row leave fewer of a batch's KG
    groups masked off (decoded for nothing). A row wider than XS is taken XS columns (XS / 8
    groups) at a time (decode_fused.wgsl, X_CHUNKS): its batches are those of each chunk."""
    chunk = XS // 8

    def cost(rpv):
        batches = -(-groups // chunk) * -(-min(groups, chunk) // (256 // rpv * KG))
        rounds = -(-(-(-rows // rpv)) // n_wg)
        return rounds * batches, -rpv
    return min((4, 8, 16, 32), key=cost)


def _prefetch_ranges(table: list) -> None:
    """For each matvec, the command whose idle workgroups read its weights ahead into L2
    (decode_fused.wgsl's prefetch): two commands before it (a layer: qkv reads the output
    projection's, attention gate/up's, the output projection down's, gate/up the next qkv's),
    else three, else the one before, if no other matvec took that command; not over
    PF_MAX_WORDS (the lm head's 30 MB is left to itself)."""
    for i, c in enumerate(table):
        if c[C["op"]] != OP_MATVEC or i == 0:
            continue
        words = int(c[C["rows"]]) * int(c[C["row_words"]])
        if words > PF_MAX_WORDS:
            continue
        for j in (i - 2, i - 3, i - 1):
            if j >= 0 and table[j][C["pfn"]] == 0:
                table[j][C["pf"]], table[j][C["pfn"]] = c[C["w"]], words
                break


def _attention_shape(table: list) -> dict:
    """decode_fused.wgsl's A_* constants: head_dim, heads, KV heads, keys a split and splits, which
    every attention command (and every ROPE and COMBINE matvec) of the step must share."""
    shapes = {(int(c[C["head_dim"]]), int(c[C["n_heads"]]), int(c[C["n_kv"]]), int(c[C["split_len"]]),
               int(c[C["n_splits"]])) for c in table if c[C["op"]] == OP_ATTN}
    if len(shapes) != 1:
        raise Refused(f"the step's attention commands differ in shape ({sorted(shapes)})")
    hd, nh, nkv, sl, ns = shapes.pop()
    split = {bool(c[C["flags"]] & F_NORMALIZED) for c in table if c[C["op"]] == OP_ATTN} == {False}
    for c in table:
        fl = int(c[C["flags"]]) if c[C["op"]] == OP_MATVEC else 0
        if (fl & FLAGS["ROPE"] and c[C["head_dim"]] != hd) or (
                fl & FLAGS["COMBINE"] and (c[C["head_dim"]], c[C["n_splits"]], c[C["split_len"]]) != (hd, ns, sl)):
            raise Refused("a matvec's head shape differs from the attention's")
    # split attention: the current key's split, then the ns over the cache (attn_block)
    return {"A_HD": hd, "A_NH": nh, "A_NKV": nkv, "A_SL": sl, "A_NS": ns + 1 if split else 1}


MV_KIND_FIELDS = ("flags", "qt", "rpv", "ngroups", "cols", "rows", "row_words", "half", "q_dim", "kv_dim", "nvwg")
MAX_KINDS = 8


def _matvec_kinds(table: list) -> tuple[tuple[str, ...], dict]:
    """fused_kinds.wgsl's variant: each kind of matvec in `table` (its MvK fields; the first
    MAX_KINDS kinds) gets a number, written to its commands' C_KIND, a define MVK<i> and the value
    {{MVK<i>}} (its fields as u32 literals); commands of further kinds get 0 (read from the table)."""
    kinds: dict[tuple, int] = {}
    for c in table:
        if c[C["op"]] == OP_MATVEC:
            key = tuple(int(c[C[f]]) for f in MV_KIND_FIELDS)
            if key not in kinds and len(kinds) < MAX_KINDS:
                kinds[key] = len(kinds) + 1
            c[C["kind"]] = kinds.get(key, 0)
    return (tuple(f"MVK{i}" for i in kinds.values()),
            {f"MVK{i}": ", ".join(f"{v}u" for v in key) for key, i in kinds.items()})


class _Arenas:
    """Where a step's data go in the fused program: every weight-like binding it reads, once, in the
    weight arena (``weight``); every value it writes, a fresh region of an activation arena
    (``write``, ``alloc``), which later commands find by the binding they read (``read``); offsets
    into the model's KV cache (``kv``). Offsets are words; regions start on ALIGN words."""

    def __init__(self, kv_buf):
        self.kv_buf = kv_buf
        self.weights: dict[int, list] = {}    # id(buffer) -> [buffer, word offset in the weight arena]
        self.wsize = 0
        self.regions: dict[tuple, int] = {}   # (id(buffer), byte offset) -> its current region
        self.asize = 0

    def weight(self, entry) -> int:
        buf, off, size = entry
        hit = self.weights.get(id(buf))
        if hit is None:
            hit = self.weights[id(buf)] = [buf, self.wsize]
            self.wsize += -(-buf.size // 4 // ALIGN) * ALIGN
        return hit[1] + off // 4

    def alloc(self, words) -> int:
        r = self.asize
        self.asize += -(-words // ALIGN) * ALIGN
        return r

    def write(self, entry) -> int:
        buf, off, size = entry
        r = self.regions[(id(buf), off)] = self.alloc(-(-size // 4))
        return r

    def read(self, entry, what) -> int:
        buf, off, size = entry
        r = self.regions.get((id(buf), off))
        if r is None:
            raise Refused(f"{what} reads a value made outside the step")
        return r

    def kv(self, entry) -> int:
        buf, off, size = entry
        if buf is not self.kv_buf:
            raise Refused("the KV cache is not one buffer (it passes the binding limit)")
        return off // 4


def _qtype(defines, shader: str) -> int:
    """The fused id of the weight type of a recorded embed / matvec; Refused for a type that
    decode_fused.wgsl has no path for (fused_layout: BATCHED, GROUPWISE, F32). Every type of
    layout.GPU_QUANTS has one (tests/unit/test_fused_layout.py), and the device uploads any other
    as F32: a guard for a type added to GPU_QUANTS without its fused decoder."""
    qt = [d for d in defines if d in QTYPES and (d in BATCHED or d in GROUPWISE or d == "F32")]
    if not qt:
        other = sorted(d for d in defines if d in layout.BLOCK_WORDS)   # the plain kernels' type
        raise Refused(f"{shader} of a weight of type {'/'.join(other) or '?'}: the fused step has no decoder for it")
    return QTYPES[qt[0]]


def _embed(c, pw, defines, entries, grid, ar: _Arenas, token, n_wg, rope):
    row_words, cols, n_rows, first_row, split = (int(v) for v in pw[:5])
    if "POS" in defines:
        raise Refused("an embedding with learned positions (gpt2: position_embd, then LayerNorm, GELU): "
                      "the fused step has no commands for them")
    if split or entries[3][0] is not token.buf or grid != (1, 1, 1):
        raise Refused("embed of a split table or of another input")
    qt = _qtype(defines, "embed")
    c[[C["op"], C["qt"], C["nvwg"], C["rows"], C["cols"], C["row_words"]]] = (
        OP_EMBED, qt, 1, n_rows, cols, row_words)
    c[C["w"]] = ar.weight(entries[2])
    c[C["y"]] = ar.write(entries[4])
    return rope


def _matvec(c, pw, defines, entries, grid, ar: _Arenas, token, n_wg, rope):
    """matvec.wgsl's decode kernel and its variants (flags); returns the step's last ROPE command."""
    qt = _qtype(defines, "matvec")
    extra = set(defines) - set(QTYPES) - set(FLAGS) - {"ROWS16", "WIDE"}   # (layouts: fused picks its own)
    rows, cols, row_words = (int(v) for v in pw[:3])
    if extra or grid[2] != 1:
        raise Refused(f"matvec variant {sorted(extra)} or {grid[2]} tokens")
    fl = sum(FLAGS[d] for d in defines if d in FLAGS)
    if fl & FLAGS["COMBINE"] and cols > XS:
        raise Refused(f"a {cols}-wide attention output merged into a matvec's input (decode_fused.wgsl merges "
                      f"up to {XS} columns)")
    # matvec.wgsl's Params: rows cols row_words nwg_x half eps q_dim kv_dim head_dim neox
    # n_ctx layer_off n_splits split_len
    for name, i in (("rows", 0), ("cols", 1), ("row_words", 2), ("half", 4), ("eps", 5), ("q_dim", 6),
                    ("kv_dim", 7), ("head_dim", 8), ("n_ctx", 10), ("n_splits", 12), ("split_len", 13)):
        c[C[name]] = pw[i]
    c[[C["op"], C["flags"], C["qt"]]] = (OP_MATVEC, fl | (F_NEOX if pw[9] else 0), qt)
    c[C["rpv"]] = rpv = rows_per_block(rows, n_wg, -(-cols // 8))    # (SWIGLU / ROPE: rpv / 2 row pairs)
    c[C["nvwg"]] = -(-rows // rpv)
    c[C["ngroups"]] = row_words // BLOCK_WORDS[qt] * BLOCK_GROUPS[qt]
    if PRELOAD and qt in BATCHED_QT and -(-cols // 8) <= KG * (256 // rpv) and cols <= XS:
        c[C["flags"]] |= F_PRE
    c[C["w"]] = ar.weight(entries[2])
    if fl & FLAGS["NORM"]:
        c[C["nw"]] = ar.weight(entries[5])
    if fl & FLAGS["BIAS"]:
        c[C["bias"]] = ar.weight(entries[6])
    if fl & FLAGS["RESIDUAL"]:
        c[C["res"]] = ar.read(entries[7], "a residual")
    if fl & FLAGS["ROPE"]:
        if fl & FLAGS["RESIDUAL"]:
            raise Refused("a rotary matvec with a residual")      # (C_CUR is C_RES's word)
        c[C["k"]], c[C["v"]] = ar.kv(entries[8]) + pw[11], ar.kv(entries[9]) + pw[11]
        c[C["rope"]] = ar.weight(entries[10])
        c[C["cur"]] = ar.alloc(2 * int(pw[7]))      # the current key and value, for the attention
        rope = c
    if fl & FLAGS["COMBINE"]:
        c[C["part"]] = ar.read(entries[10], "attention partials")
        c[C["x"]] = ar.write(entries[3])
    else:
        c[C["x"]] = ar.read(entries[3], "a matvec")
    c[C["y"]] = ar.write(entries[4])
    return rope


def _attention(c, pw, defines, entries, grid, ar: _Arenas, token, n_wg, rope):
    """attention.wgsl over one query token: split (partials, the current key's split first) or one split."""
    n_heads, n_kv, head_dim, n_ctx = (int(v) for v in pw[:4])
    if defines - {"SPLIT"} or grid[1] != 1 or head_dim % 4 or head_dim > 256:
        raise Refused("attention over more than one query token")
    c[[C["op"], C["head_dim"], C["n_ctx"], C["n_heads"], C["n_kv"]]] = (OP_ATTN, head_dim, n_ctx, n_heads, n_kv)
    c[C["scale"]] = pw[4]
    c[C["k"]], c[C["v"]] = ar.kv(entries[8]), ar.kv(entries[9])
    c[C["x"]] = ar.read(entries[3], "attention")
    if rope is None or (rope[C["k"]], rope[C["v"]]) != (c[C["k"]], c[C["v"]]):
        raise Refused("an attention whose keys no rotary matvec of the step wrote")
    if "SPLIT" in defines:
        # the current key's split (from the ROPE command's C_CUR), then pw[5] over the cache
        ns = int(pw[5])
        c[C["n_splits"]], c[C["split_len"]] = ns, pw[6]
        if n_heads * (ns + 1) > MERGE_SPLITS:
            raise Refused(f"{n_heads} heads x {ns + 1} splits to merge (decode_fused.wgsl's wz: {MERGE_SPLITS})")
        buf, off, _ = entries[10]
        c[C["part"]] = ar.write((buf, off, 4 * n_heads * (ns + 1) * (head_dim + 2)))
        c[C["cur"]] = rope[C["cur"]]
        c[C["nvwg"]] = n_heads * (ns + 1)
    else:
        if n_ctx > 256:
            raise Refused("one-split attention over more than 256 keys")
        c[C["n_splits"]], c[C["split_len"]] = 1, n_ctx
        c[C["flags"]] = F_NORMALIZED
        c[C["y"]] = ar.write(entries[4])
        c[C["nvwg"]] = n_heads
        rope[C["flags"]] |= F_FENCE          # it reads the KV cache row rope writes
    return rope


TRANSLATORS = {"embed.wgsl": _embed, "matvec.wgsl": _matvec, "attention.wgsl": _attention}

# The Gemma family's ops (models/gemma.py) that decode_fused.wgsl has no command for: its
# embedding scaling and logit soft-cap (elementwise), post-norms added to the residual (rmsnorm
# RESIDUAL), the GELU-tanh MLP (matvec GEGLU), sliding-window and soft-capped attention.
GEMMA_VARIANTS = {("elementwise.wgsl", "SCALE"): "embedding scaling",
                  ("elementwise.wgsl", "SOFTCAP"): "logit soft-capping",
                  ("rmsnorm.wgsl", "RESIDUAL"): "post-norms",
                  ("matvec.wgsl", "GEGLU"): "a GELU-tanh MLP",
                  ("attention.wgsl", "WINDOW"): "sliding-window attention",
                  ("attention.wgsl", "SOFTCAP"): "soft-capped attention"}


def _gemma_ops(recorded: list) -> list[str]:
    """What of GEMMA_VARIANTS the recorded step uses, in GEMMA_VARIANTS' order."""
    used = {(shader, d) for shader, defines, _, _ in recorded if defines for d in defines}
    return [what for key, what in GEMMA_VARIANTS.items() if key in used]


def build(dev, recorded: list, out: GTensor, token: GTensor, step_buf, n_wg: int) -> FusedProgram:
    """A FusedProgram for the dispatches `recorded` (gpu.recorded) while the device recorded a
    decode step whose logits are `out` and whose input token is `token`: each dispatch becomes a
    command (TRANSLATORS), its data placed by an _Arenas. Raises Refused with the reason."""
    gpu = dev.gpu
    gemma = _gemma_ops(recorded)
    if gemma:
        raise Refused(f"decode_fused.wgsl has no commands for {', '.join(gemma)} (Gemma's step)")
    kv_buf = next((e[8][0] for _, _, e, _ in recorded if e is not None and 8 in e), None)
    lim = min(gpu.limits["max_storage_buffer_binding_size"], gpu.limits["max_buffer_size"])
    if gpu.limits.get("max_compute_workgroup_storage_size", 16384) < SMEM_BYTES:
        raise Refused(f"the adapter allows {gpu.limits.get('max_compute_workgroup_storage_size')} bytes of "
                      f"workgroup memory, decode_fused.wgsl needs {SMEM_BYTES}")
    if kv_buf is None:
        raise Refused("the step reads no KV cache")
    ar = _Arenas(kv_buf)
    words = gpu.uniform_contents()
    table = []
    rope = None                           # the last ROPE command: its attention reads its current key and value
    for shader, defines, entries, grid in recorded:
        if shader == "copy":
            raise Refused("the step copies between buffers")
        if 1 in entries and entries[1][0] is not step_buf:
            raise Refused(f"{shader} reads a position other than the step's")
        pw = words.get(id(entries[0][0])) if 0 in entries else None
        if pw is None:
            raise Refused(f"{shader}: its parameters are unknown")
        translate = TRANSLATORS.get(shader)
        if translate is None:
            raise Refused(f"no fused command for {shader} {sorted(defines)}")
        c = np.zeros(CMD_WORDS, np.uint32)
        rope = translate(c, pw, set(defines), entries, grid, ar, token, n_wg, rope)
        table.append(c)

    if not table or table[0][C["op"]] != OP_EMBED:
        raise Refused("the step does not start with its token's embedding")   # ticket 0's command (close_window)
    _prefetch_ranges(table)
    regions, asize, wsize = ar.regions, ar.asize, ar.wsize
    key = (id(out.buf), out.offset)
    if key not in regions:
        raise Refused("the step's logits are not written by the step")
    last = [c for c in table if c[C["y"]] == regions[key]]
    if len(last) != 1 or last[0][C["op"]] != OP_MATVEC or last[0][C["flags"]] & (FLAGS["SWIGLU"] | FLAGS["ROPE"]):
        raise Refused("the step's logits are not one plain matvec's output")
    last[0][C["flags"]] |= F_RAW
    argmax = last[0] is table[-1]          # the token is picked after every logit is written
    if argmax:
        last[0][C["flags"]] |= F_ARGMAX
    values = _attention_shape(table)
    kind_defines, kind_values = _matvec_kinds(table)
    values.update(kind_values)
    values["ASIZE"] = asize
    if 4 * wsize > lim or 8 * asize > lim:
        raise Refused(f"an arena of {4 * max(wsize, 2 * asize) / 2**20:.0f} MiB passes the binding limit "
                      f"({lim / 2**20:.0f} MiB)")

    # the arenas, filled on the GPU (one submit)
    warena = gpu.zeros(4 * max(wsize, 1), "fused decode: weight arena")
    aarena = gpu.zeros(8 * max(asize, 1), "fused decode: activations (two arenas)")
    for buf, off in ar.weights.values():
        gpu.copy(buf, 0, warena, 4 * off, buf.size)
    gpu.flush()
    header = np.zeros(CMD_WORDS, np.uint32)
    header[[HEADER[k] for k in ("N_CMDS", "G", "SPIN_LIMIT", "WINDOW")]] = (len(table), n_wg, SPIN_LIMIT, WINDOW)
    table = np.stack([header] + table)
    stride = -(-table.nbytes // 256) * 256
    cmds = gpu.upload(both_tables(table, stride), "fused decode: command table (a copy a parity)")
    sync = gpu.zeros(4 * (S_SLOTS + 4 * n_wg), "fused decode: sync words")
    # only the weight types the step uses are compiled in (dot_batch's and dq's cases: less code)
    # CPU emulators need not run every workgroup at once: there the workgroups that started take
    # part (decode_fused.wgsl, TICKETS); on a GPU every one does, numbered by its builtin id, which
    # measured faster (bench/RESULTS.md)
    tickets = bool(dev.adapter.is_cpu_emulation)
    used = {t for t, v in QTYPES.items() for c in table[1:] if c[C["op"]] in (OP_EMBED, OP_MATVEC) and c[C["qt"]] == v}
    wtypes = tuple(sorted("W_" + t for t in used))
    # W_256: a type of 256-weight blocks, decoded a group at a time (fused_matvec.wgsl, groupwise)
    wtypes += ("W_256",) if used & set(GROUPWISE) else ()
    # X_CHUNKS: an input row wider than XS is staged in chunks of XS (fused_matvec.wgsl, chunked_dot);
    # a step without one compiles the program it did before that path was added
    wide = any(c[C["op"]] == OP_MATVEC and c[C["cols"]] > XS for c in table[1:])
    defines = wtypes + kind_defines + (("TICKETS",) if tickets else ()) + (("X_CHUNKS",) if wide else ())
    values["W_BATCHED"] = " ".join(t for t in QTYPES if t in used and t in BATCHED)   # table order
    values["W_GROUPWISE"] = " ".join(t for t in QTYPES if t in used and t in GROUPWISE)
    values["LAYOUT"] = layout_wgsl(used)          # QT_<type>: the step's types (and fused_layout.CORE)
    bindings = {2: warena, 3: aarena, 4: kv_buf, 5: sync}
    dispatches = tuple(gpu.command("decode_fused.wgsl", defines, {0: (cmds, p * stride, table.nbytes), **bindings},
                                   (n_wg, 1, 1), values)[0] for p in (0, 1))
    outs = tuple(GTensor(gpu, aarena, out.n, out.width, out.dtype, offset=4 * (p * asize + regions[key]), pooled=False)
                 for p in (0, 1))
    status = GTensor(gpu, sync, 1, STATUS_WORDS, "u32", pooled=False)
    tok = GTensor(gpu, sync, 1, 1, "u32", offset=4 * S_TOKEN, pooled=False)
    # a step leaves the next one its position where every workgroup takes part in its ARGMAX (so
    # every one has read it before it changes)
    chained = argmax and int(last[0][C["nvwg"]]) >= n_wg
    return FusedProgram(dispatches, outs, warena, sync, status, tok, argmax, table, cmds, n_wg, stride, chained,
                        tickets=tickets, variant=(defines, bindings, values, (n_wg, 1, 1)))




def abort_reason(abort: int) -> str:
    """What the abort word says went wrong: TIMED_OUT (grid_wait) or LATE (act_ld)."""
    if abort & TIMED_OUT:
        return "its grid barrier timed out (not every workgroup ran at once on this adapter)"
    return "a workgroup read an activation before it was written (its writer's stores were not yet seen)"


def check(fused_logits: np.ndarray, plain_logits: np.ndarray, abort: int, token: int | None = None,
          mask: np.ndarray | None = None) -> str | None:
    """None when the fused step agrees with the plain replay (and its greedy token, where it picks
    one, with argmax.wgsl's rule over its own logits: the first of the largest; of the tokens the
    bit mask `mask` allows, where the step ran under one), else why not."""
    if abort:
        return abort_reason(abort)
    ref = np.asarray(plain_logits, np.float64)
    err = float(np.max(np.abs(np.asarray(fused_logits, np.float64) - ref)))
    tol = 1e-3 * (1.0 + float(np.max(np.abs(ref))))
    if not np.isfinite(err) or err > tol:
        return f"its logits differ from the plain replay by {err:.3g} (tolerance {tol:.3g})"
    if token is not None:
        want = int(argmax_reference(np.asarray(fused_logits, np.float32).reshape(1, -1), mask)[0])
        if token != want:
            return f"its greedy token {token} is not its logits' argmax {want}"
    return None


def describe(f: FusedProgram, status: np.ndarray) -> str:
    """Where a LATE abort happened: the first command (by number) in which a workgroup read a word
    not yet written (S_LATE_CMD), with its op and shape; "" where the status names none."""
    i = int(status.reshape(-1)[SYNC["LATE_CMD"]]) - 1
    if i < 0 or i + 1 >= len(f.table):
        return ""
    row = f.table[i + 1]
    op = {v: k for k, v in OPS.items()}.get(int(row[C["op"]]), "?").lower()
    if op != "matvec":
        return f" (first in command {i}: {op})"
    qt = {v: k for k, v in QTYPES.items()}.get(int(row[C["qt"]]), "?")
    flags = [k for k, v in {**FLAGS, **STEP_FLAGS}.items() if int(row[C["flags"]]) & v]
    return (f" (first in command {i}: matvec {qt} {int(row[C['rows']])}x{int(row[C['cols']])} "
            f"rpv {int(row[C['rpv']])} blocks {int(row[C['nvwg']])} {'|'.join(flags)})")


def abort_error(abort: int = TIMED_OUT) -> DeviceError:
    return DeviceError(f"the fused decode step failed mid-generation: {abort_reason(abort)}; the tokens "
                       "of that step are not trusted")

