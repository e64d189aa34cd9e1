"""fused.py and decode_fused.wgsl share one layout (device/webgpu/fused_layout.py): the command
table's words, header, op codes, flags, quant-type ids, sync words and abort bits. The shader gets
them as generated WGSL constants ({{LAYOUT}}); these tests fail where the shader spells one out
itself, where a name would be declared twice, or where fused.py keeps a value of its own."""

from __future__ import annotations

import re

from webinfer.device.webgpu import fused, fused_layout, shaders

# decode_fused.wgsl and the parts it includes (fused_*.wgsl)
SOURCE = "\n".join(p.read_text() for p in sorted(shaders.shader_dir().glob("*fused*.wgsl")))


def expanded() -> str:
    values = {"ASIZE": 64, "A_HD": 64, "A_NH": 9, "A_NKV": 3, "A_SL": 128, "A_NS": 5, "MV_KINDS": "",
              "LAYOUT": fused_layout.wgsl()}
    return shaders.expand("decode_fused.wgsl", frozenset({"W_Q4_1"}), values)


def test_the_shader_takes_the_shared_names_from_the_layout_only():
    assert SOURCE.count("{{LAYOUT}}") == 1
    declared = set(re.findall(r"^\s*(?:const|fn)\s+(\w+)", SOURCE, re.M))
    assert declared & fused_layout.names() == set()
    # quant types and header words by name, not by number
    assert re.findall(r"case \d+u|qt [=!]= \d+u|cmds\[\d+u?\]", SOURCE) == []


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
