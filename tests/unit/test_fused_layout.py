"""fused.py and decode_fused.wgsl share one layout (device/webgpu/fused_layout.py): the command
table's words, header, op codes, flags, quant-type ids, sync words and abort bits. The shader gets
them as generated WGSL constants ({{LAYOUT}}); these tests fail where the shader spells one out
itself, where a name would be declared twice, or where fused.py keeps a value of its own."""

from __future__ import annotations

import re

from webinfer.device.webgpu import fused, fused_layout, shaders

# decode_fused.wgsl and the parts it includes (fused_*.wgsl)
PARTS = {p.name: p.read_text() for p in sorted(shaders.shader_dir().glob("*fused*.wgsl"))}
SOURCE = "\n".join(PARTS.values())


def expanded() -> str:
    kind = ", ".join(["1u"] * len(fused.MV_KIND_FIELDS))
    values = {"ASIZE": 64, "A_HD": 64, "A_NH": 9, "A_NKV": 3, "A_SL": 128, "A_NS": 5, "MVK1": kind,
              "LAYOUT": fused_layout.wgsl(), "W_BATCHED": "Q4_1"}
    return shaders.expand("decode_fused.wgsl", frozenset({"W_Q4_1", "MVK1"}), values)


def test_the_shader_takes_the_shared_names_from_the_layout_only():
    assert SOURCE.count("{{LAYOUT}}") == 1
    declared = set(re.findall(r"^\s*(?:const|fn)\s+(\w+)", SOURCE, re.M))
    assert declared & fused_layout.names() == set()
    # quant types and header words by name, not by number (fused_kinds.wgsl's cases are kinds)
    assert re.findall(r"qt [=!]= \d+u|cmds\[\d+u?\]", SOURCE) == []
    assert [name for name, text in PARTS.items() if name != "fused_kinds.wgsl" and re.search(r"case \d+u", text)] == []


def test_each_matvec_kind_fused_py_can_number_has_its_case():
    """fused.py numbers up to MAX_KINDS kinds (MVK1..): each has one case in mv_kinds and one in
    pre_kinds, compiled in by its define and filled by its value; no more, no fewer."""
    text = PARTS["fused_kinds.wgsl"]
    n = fused.MAX_KINDS
    assert re.findall(r"#ifdef MVK(\d+)", text) == [str(i) for i in range(1, n + 1)] * 2
    assert re.findall(r"case (\d+)u: \{ op_matvec\(ci, MvK\(\{\{MVK(\d+)\}\}\)", text) == [(str(i), str(i)) for i in range(1, n + 1)]
    assert re.findall(r"case (\d+)u: \{ return pre_at\(ci, MvK\(\{\{MVK(\d+)\}\}\)", text) == [(str(i), str(i)) for i in range(1, n + 1)]
    assert "case 1u: { op_matvec(ci, MvK(1u, 1u" in expanded() and "case 2u" not in expanded()


def test_every_shared_name_is_declared_once():
    text = expanded()
    for name in fused_layout.names():
        assert len(re.findall(rf"^\s*(?:const|fn) {name}\b", text, re.M)) == 1, name


def test_fused_py_uses_the_layout_values():
    assert fused.C is fused_layout.C and fused.QTYPES is fused_layout.QTYPES and fused.FLAGS is fused_layout.FLAGS
    assert (fused.OP_EMBED, fused.OP_MATVEC, fused.OP_ATTN) == tuple(fused_layout.OPS.values())
    assert fused.S_TICKET == fused_layout.SYNC["TICKET"] and fused.LATE == fused_layout.ABORT_BITS["LATE"]
    assert fused.F_FENCE == fused_layout.STEP_FLAGS["FENCE"]
    table = fused.both_tables(__import__("numpy").zeros((2, fused.CMD_WORDS), "uint32"), 256)
    assert table[1, fused_layout.HEADER["PARITY"]] == 1 and table[0, fused_layout.HEADER["PARITY"]] == 0


def test_the_fused_types_are_gpu_types_of_32_weight_blocks():
    """fused.py counts 4 groups of 8 a block (C_NGROUPS); the K-quants' 256-weight blocks and the
    other types the plain kernels decode are not in the fused step (fused.py refuses them)."""
    from webinfer.device.webgpu import layout
    assert list(fused_layout.QTYPES) == list(layout.FUSED_QUANTS) and set(layout.FUSED_QUANTS) <= set(layout.BLOCK_WORDS)
    assert all(layout.BLOCK_WEIGHTS[t] == 32 for t in layout.FUSED_QUANTS)
    assert fused_layout.BLOCK_WORDS == tuple(layout.BLOCK_WORDS[t] for t in layout.FUSED_QUANTS)
