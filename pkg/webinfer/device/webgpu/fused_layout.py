"""What decode_fused.wgsl and fused.py share, defined once: the command table's words, its header,
the op codes and flag bits, the quant-type ids, the sync words and the abort word's bits.

fused.py builds tables with these; the shader gets them as WGSL constants through its {{LAYOUT}}
placeholder (``wgsl()``), so the two cannot disagree. The quant types are those of
layout.FUSED_QUANTS (a weight of any other type of layout.GPU_QUANTS makes fused.py refuse the
step). To add a quant type to the fused step: its name in FUSED_QUANTS (its id here follows; the
step assumes blocks of 32 weights), and its decoders in WGSL: dq8_<type> (quant.wgsl) and
rd_<type> (fused_matvec.wgsl; `dq` and `dot_batch` get a case for every type the step uses
through `#each`), and, if its block is not a scale word then quant words, its words in raw_group.
"""

from __future__ import annotations

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
BLOCK_WORDS = tuple(TYPE_BLOCK_WORDS[t] for t in sorted(QTYPES, key=QTYPES.get))   # u32 words of a 32-weight block

# A command's words (C_<NAME>); MATVEC's weight groups a row and kind share ATTN's n_heads and
# n_kv, the current key and value (ROPE, ATTN) a residual's word; word 12 is free.
C = dict(op=0, flags=1, qt=2, nvwg=3, rows=4, cols=5, row_words=6, half=7, eps=8, q_dim=9, kv_dim=10,
         head_dim=11, n_ctx=13, n_splits=14, split_len=15, n_heads=16, n_kv=17, scale=18, rpv=19,
         w=20, x=21, y=22, nw=23, bias=24, res=25, k=26, v=27, rope=28, part=29, pf=30, pfn=31,
         ngroups=16, kind=17, cur=25)

# The sync buffer's words (S_<NAME>): arrival counters at 0 (parity 0) and CNT1, ticket words at
# TICKET + parity, ARGMAX's done counts at DONE + parity, then two words a workgroup and parity.
SYNC = {"ABORT": 1, "TOKEN": 2, "POS": 3, "CNT1": 4, "TICKET": 5, "DONE": 8, "SLOTS": 16}
N_SHIFT = 20                # an arrival counter's bits 20-29: the workgroups that took part in its step

ABORT_BITS = {"TIMED_OUT": 1, "LATE": 2}     # the abort word: a barrier wait gave up; a value was read before it was written

XS = 2048                   # the widest staged input row (cols, padded to 32)


def wgsl() -> str:
    """The constants above as WGSL, for decode_fused.wgsl's {{LAYOUT}}, and block_words()."""
    consts = [("CMD_WORDS", CMD_WORDS), ("N_SHIFT", N_SHIFT), ("XS", XS)]
    consts += [("H_" + k, v) for k, v in HEADER.items()]
    consts += [("OP_" + k, v) for k, v in OPS.items()]
    consts += [("F_" + k, v) for k, v in {**FLAGS, **STEP_FLAGS}.items()]
    consts += [("QT_" + k, v) for k, v in QTYPES.items()]
    consts += [("C_" + k.upper(), v) for k, v in C.items()]
    consts += [("S_" + k, v) for k, v in SYNC.items()]
    consts += list(ABORT_BITS.items())
    lines = [f"const {name}: u32 = {value}u;" for name, value in consts]
    cases = {}
    for t, q in QTYPES.items():
        cases.setdefault(BLOCK_WORDS[q], []).append("QT_" + t)
    arms = [f"        case {', '.join(ts)}: {{ return {n}u; }}" for n, ts in cases.items()]
    arms[-1] = arms[-1].replace("case " + ", ".join(cases[list(cases)[-1]]), "default")
    return "\n".join(lines + ["", "fn block_words(qt: u32) -> u32 {", "    switch qt {", *arms, "    }", "}"]) + "\n"


def names() -> set[str]:
    """Every WGSL name wgsl() declares."""
    return {line.split()[1].rstrip(":") for line in wgsl().splitlines() if line.startswith("const ")} | {"block_words"}
