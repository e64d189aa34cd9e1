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
              "LAYOUT": fused_layout.wgsl(), "W_BATCHED": "Q4_1", "W_GROUPWISE": ""}
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


def test_the_fused_types_are_every_gpu_type_in_the_plain_kernels_order():
    """Every type the plain kernels decode is in the fused step, numbered in layout.GPU_QUANTS's
    order (the first five keep the ids they had); fused.py counts 4 groups of 8 a 32-weight block
    and 32 a 256-weight one (C_NGROUPS), and each type takes one path: batched or group-wise (F32:
    gdot)."""
    from webinfer.device.webgpu import layout
    assert list(fused_layout.QTYPES) == list(layout.FUSED_QUANTS) == [t[0] for t in layout.GPU_QUANTS]
    assert list(fused_layout.QTYPES)[:5] == list(fused_layout.CORE) == ["Q4_0", "Q4_1", "Q8_0", "F16", "F32"]
    assert fused_layout.BLOCK_WORDS == tuple(layout.BLOCK_WORDS[t] for t in layout.FUSED_QUANTS)
    assert fused_layout.BLOCK_GROUPS == tuple(layout.BLOCK_WEIGHTS[t] // 8 for t in layout.FUSED_QUANTS)
    batched, groupwise = set(fused_layout.BATCHED), set(fused_layout.GROUPWISE)
    assert not batched & groupwise and batched | groupwise | {"F32"} == set(layout.FUSED_QUANTS)
    assert all(layout.BLOCK_WEIGHTS[t] == 32 for t in batched)
    # a batch's group is at most raw_group's 4 words: a scale word, (Q5: qh,) two quant words
    assert all(layout.BLOCK_WORDS[t] in (5, 6, 9, 16) for t in batched)


def test_a_step_declares_the_core_types_and_its_own():
    """QT_<type> of fused_layout.CORE always (the program a step of those types compiles is the one
    measured before the other types joined), of the others where the step uses them."""
    core = fused_layout.wgsl(("Q8_0", "Q4_1"))
    assert re.findall(r"const QT_(\w+)", core) == list(fused_layout.CORE)
    assert "default: { return 32u; }" in core and "case QT_Q4_0, QT_Q4_1: { return 5u; }" in core
    k = fused_layout.wgsl(("Q4_K", "Q6_K", "Q5_0"))
    assert re.findall(r"const QT_(\w+)", k) == list(fused_layout.CORE) + ["Q5_0", "Q4_K", "Q6_K"]
    assert "case QT_Q4_K: { return 36u; }" in k and "default: { return 53u; }" in k


def test_every_decoder_after_the_core_types_compiles_under_its_w_define():
    """quant.wgsl's dq8_<type> of each type but CORE (whose decoders are always there) is in the
    fused step's WGSL where W_<type> is defined, and not otherwise; its helpers once."""
    from webinfer.device.webgpu import layout
    for t in layout.FUSED_QUANTS:
        if t in fused_layout.CORE:
            continue
        text = shaders.expand("quant.wgsl", frozenset({"W_" + t}))
        assert f"fn dq8_{t.lower()}(" in text, t
        assert len(re.findall(r"^fn (\w+)", text, re.M)) == len(set(re.findall(r"^fn (\w+)", text, re.M)))
        assert f"fn dq8_{t.lower()}(" not in shaders.expand("quant.wgsl", frozenset({"W_Q4_1"}))
    every = shaders.expand("quant.wgsl", frozenset("W_" + t for t in layout.FUSED_QUANTS))
    names = re.findall(r"^fn (\w+)", every, re.M)
    assert len(names) == len(set(names)) and {"bit4", "crumb4", "scale_min_k4", "kv4"} <= set(names)


def test_a_type_without_a_fused_path_is_refused():
    """Every GPU type has a path (batched, group-wise, F32); a define outside them is refused."""
    import pytest
    assert fused._qtype({"Q6_K", "NORM"}, "matvec") == fused.QTYPES["Q6_K"]
    with pytest.raises(fused.Refused, match="matvec of a weight of type [?]: the fused step has no decoder"):
        fused._qtype({"BF16", "NORM"}, "matvec")


def test_only_the_steps_types_code_is_compiled_in():
    """A step of the core types compiles none of the other types' code (the program measured
    before they joined); one of Q4_K_M's types compiles the group-wise path and their decoders."""
    def fns(types):
        kind = ", ".join(["1u"] * len(fused.MV_KIND_FIELDS))
        values = {"ASIZE": 64, "A_HD": 64, "A_NH": 9, "A_NKV": 3, "A_SL": 128, "A_NS": 5, "MVK1": kind,
                  "LAYOUT": fused_layout.wgsl(types),
                  "W_BATCHED": " ".join(t for t in fused_layout.QTYPES if t in types and t in fused_layout.BATCHED),
                  "W_GROUPWISE": " ".join(t for t in fused_layout.QTYPES if t in types and t in fused_layout.GROUPWISE)}
        defines = {"W_" + t for t in types} | {"MVK1"} | ({"W_256"} if set(types) & set(fused_layout.GROUPWISE) else set())
        return set(re.findall(r"^fn (\w+)", shaders.expand("decode_fused.wgsl", frozenset(defines), values), re.M))
    new = {"groupwise", "gdot32", "embed32", "hi5", "rd_q5_0", "rd_q5_1", "rd_iq4_nl"}
    core = fns(("Q8_0", "Q4_1", "F32"))
    assert not core & new and not {f for f in core if f.startswith("dq8_") and f[4:].upper() not in fused_layout.CORE}
    k = fns(("Q4_K", "Q6_K", "Q5_0"))
    assert {"groupwise", "gdot32", "embed32", "hi5", "rd_q5_0", "dq8_q4_k", "dq8_q6_k", "dq8_q5_0"} <= k
    assert not k & {"rd_q5_1", "rd_iq4_nl", "dq8_q5_k", "dq8_iq4_xs", "kv4"}


def test_the_chunked_input_path_is_compiled_in_only_for_a_step_wider_than_xs():
    """X_CHUNKS (fused.py: a matvec input wider than XS) adds chunked_dot and its helpers; without
    it the expanded program is the one of a step without that path (the one measured)."""
    kind = ", ".join(["1u"] * len(fused.MV_KIND_FIELDS))
    values = {"ASIZE": 64, "A_HD": 64, "A_NH": 9, "A_NKV": 3, "A_SL": 128, "A_NS": 5, "MVK1": kind,
              "LAYOUT": fused_layout.wgsl(("Q4_K",)), "W_BATCHED": "", "W_GROUPWISE": "Q4_K"}
    chunked = {"chunked_dot", "chunk_words", "stage_chunk"}
    for defines in ({"W_Q4_1", "MVK1"}, {"W_Q4_K", "W_256", "MVK1"}):
        plain = shaders.expand("decode_fused.wgsl", frozenset(defines), values)
        wide = shaders.expand("decode_fused.wgsl", frozenset(defines | {"X_CHUNKS"}), values)
        assert not chunked & set(re.findall(r"^fn (\w+)", plain, re.M))
        assert chunked <= set(re.findall(r"^fn (\w+)", wide, re.M))
        assert "k.cols > XS" not in plain and wide.count("k.cols > XS") == 2     # stage_x, mv_block
