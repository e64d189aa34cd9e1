"""What decode_fused.wgsl and fused.py share, defined once: the command table's words, its header,
the op codes and flag bits, the quant-type ids, the sync words and the abort word's bits.

fused.py builds tables with these; the shader gets them as WGSL constants through its {{LAYOUT}}
placeholder (``wgsl()``), so the two cannot disagree. The quant types are those of
layout.FUSED_QUANTS: every type of layout.GPU_QUANTS. To add a quant type to the fused step: its
row in GPU_QUANTS (its id here follows, after the others'), its dq8_<type> in quant.wgsl under
``#ifdef <type> W_<type>`` (fused.py defines W_<type> for the types a step uses) and, to take the
batched path (a 32-weight block whose group of 8 is at most 4 words), its name in BATCHED, its
rd_<type> in fused_matvec.wgsl and, if its group's words are not [scale word, two quant words],
them in raw_group; other types (F32, the 256-weight K-quants and IQ4_XS: GROUPWISE) are decoded
a group at a time with dq8_<type> (gdot, gdot32). `dq` and `dot_batch` get a case for every type
the step uses through `#each` (W_BATCHED, W_GROUPWISE).
"""

from __future__ import annotations

from .layout import BLOCK_WEIGHTS as TYPE_BLOCK_WEIGHTS
from .layout import BLOCK_WORDS as TYPE_BLOCK_WORDS
from .layout import FUSED_QUANTS

CMD_WORDS = 32              # 128 bytes: a command is one cache line, read before the barrier that precedes it

# The table's first row (CMD_WORDS words): H_<name> is the word's index.
HEADER = {"N_CMDS": 0, "G": 1, "SPIN_LIMIT": 2, "PARITY": 3, "WINDOW": 4}

OPS = {"EMBED": 1, "MATVEC": 2, "ATTN": 3}

# The plain kernels' variants a recorded command carries over (matvec.wgsl's defines)...
FLAGS = {"NORM": 1, "BIAS": 2, "RESIDUAL": 4, "SWIGLU": 8, "ROPE": 16, "COMBINE": 32}
# ... and the fused step's own bits
STEP_FLAGS = {
    "PRE": 64,              # MATVEC: a lane's groups of a row take one batch, loaded before the barrier (mv_pre)
    "NORMALIZED": 128,      # ATTN with one split: write the normalised output, not partials
    "NEOX": 256,            # MATVEC ROPE: NeoX rotary pairs (i, i + head_dim / 2)
    "RAW": 512,             # MATVEC: its y is the step's logits, stored as plain f32 bits (others: act_st)
    "ARGMAX": 1024,         # ... and the step's last command: the greedy token to the sync words (S_TOKEN)
    "FENCE": 2048,          # MATVEC ROPE before a one-split attention (which reads the KV row it writes)
}

QTYPES = {name: i for i, name in enumerate(FUSED_QUANTS)}         # QT_<name>: a command's C_QT
BLOCK_WORDS = tuple(TYPE_BLOCK_WORDS[t] for t in QTYPES)              # u32 words of a block, by C_QT
BLOCK_GROUPS = tuple(TYPE_BLOCK_WEIGHTS[t] // 8 for t in QTYPES)       # groups of 8 weights a block: 4 or 32
# The types of fused_matvec.wgsl's batched path (raw_group, rd_<type>), and those decoded a group
# at a time with dq8_<type> (32 groups a block: gdot32); F32 (gdot) is neither.
BATCHED = ("Q4_0", "Q4_1", "Q8_0", "F16", "Q5_0", "Q5_1", "IQ4_NL")
GROUPWISE = tuple(t for t in QTYPES if TYPE_BLOCK_WEIGHTS[t] == 256)
# The types whose QT_<name> every step declares (the shader names some in code every step has);
# the others' only where the step uses them (wgsl(types)), so that a step of these types
# compiles the program it did before the other types joined (the one measured).
CORE = ("Q4_0", "Q4_1", "Q8_0", "F16", "F32")

# A command's words (C_<NAME>); MATVEC's weight groups a row and kind share ATTN's n_heads and
# n_kv, the current key and value (ROPE, ATTN) a residual's word; word 12 is free.
C = dict(op=0, flags=1, qt=2, nvwg=3, rows=4, cols=5, row_words=6, half=7, eps=8, q_dim=9, kv_dim=10,
         head_dim=11, n_ctx=13, n_splits=14, split_len=15, n_heads=16, n_kv=17, scale=18, rpv=19,
         w=20, x=21, y=22, nw=23, bias=24, res=25, k=26, v=27, rope=28, part=29, pf=30, pfn=31,
         ngroups=16, kind=17, cur=25)

# The sync buffer's words (S_<NAME>): arrival counters at 0 (parity 0) and CNT1, ticket words at
# TICKET + parity, ARGMAX's done counts at DONE + parity, then two words a workgroup and parity.
SYNC = {"ABORT": 1, "TOKEN": 2, "POS": 3, "CNT1": 4, "TICKET": 5, "LATE_CMD": 7, "DONE": 8, "SLOTS": 16}
N_SHIFT = 20                # an arrival counter's bits 20-29: the workgroups that took part in its step

ABORT_BITS = {"TIMED_OUT": 1, "LATE": 2}     # the abort word: a barrier wait gave up; a value was read before it was written

XS = 2048                   # the widest input row staged at once (cols; a wider one: XS at a time, X_CHUNKS)


def wgsl(types=None) -> str:
    """The constants above as WGSL, for decode_fused.wgsl's {{LAYOUT}}, and block_words(); the
    quant types: CORE and those of `types` (the step's; None: every type)."""
    qtypes = {t: q for t, q in QTYPES.items() if types is None or t in CORE or t in types}
    consts = [("CMD_WORDS", CMD_WORDS), ("N_SHIFT", N_SHIFT), ("XS", XS)]
    consts += [("H_" + k, v) for k, v in HEADER.items()]
    consts += [("OP_" + k, v) for k, v in OPS.items()]
    consts += [("F_" + k, v) for k, v in {**FLAGS, **STEP_FLAGS}.items()]
    consts += [("QT_" + k, v) for k, v in qtypes.items()]
    consts += [("C_" + k.upper(), v) for k, v in C.items()]
    consts += [("S_" + k, v) for k, v in SYNC.items()]
    consts += list(ABORT_BITS.items())
    lines = [f"const {name}: u32 = {value}u;" for name, value in consts]
    cases = {}
    for t, q in qtypes.items():
        cases.setdefault(BLOCK_WORDS[q], []).append("QT_" + t)
    arms = [f"        case {', '.join(ts)}: {{ return {n}u; }}" for n, ts in cases.items()]
    arms[-1] = arms[-1].replace("case " + ", ".join(cases[list(cases)[-1]]), "default")
    return "\n".join(lines + ["", "fn block_words(qt: u32) -> u32 {", "    switch qt {", *arms, "    }", "}"]) + "\n"


def names() -> set[str]:
    """Every WGSL name wgsl() declares."""
    return {line.split()[1].rstrip(":") for line in wgsl().splitlines() if line.startswith("const ")} | {"block_words"}
