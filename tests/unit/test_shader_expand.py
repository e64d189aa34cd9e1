"""device/webgpu/shaders.expand: the WGSL variant expander (#ifdef, #include, {{NAME}}, #each),
on small files of its own, and its errors naming the file and line."""

from __future__ import annotations

import pytest

from webinfer.device.webgpu import shaders
from webinfer.errors import DeviceError


@pytest.fixture
def files(tmp_path, monkeypatch):
    """Write {name: text} into a shader folder of its own; expand() reads from there."""
    monkeypatch.setattr(shaders, "shader_dir", lambda: tmp_path)
    shaders._read.cache_clear()

    def write(**named):
        for name, text in named.items():
            (tmp_path / f"{name}.wgsl").write_text(text)
    yield write
    shaders._read.cache_clear()


def lines(text: str) -> list[str]:
    return text.splitlines()


def test_ifdef_ifndef_else_keep_the_variant_lines(files):
    files(a="x\n#ifdef F\nf\n#else\nnot f\n#endif\n#ifndef G\nnot g\n#endif\ny\n")
    assert lines(shaders.expand("a.wgsl", frozenset({"F"}))) == ["x", "f", "not g", "y"]
    assert lines(shaders.expand("a.wgsl", frozenset({"G"}))) == ["x", "not f", "y"]


def test_include_pastes_the_file_and_values_fill_placeholders(files):
    files(a='const N: u32 = {{N}}u;\n#include "b.wgsl"\n', b="#ifdef F\nfn f() {}\n#endif\n")
    assert lines(shaders.expand("a.wgsl", frozenset({"F"}), {"N": 7})) == ["const N: u32 = 7u;", "fn f() {}"]


def test_each_repeats_its_lines_per_word_with_the_word_and_its_lower_case(files):
    files(a="switch qt {\n#each T in TYPES\n    case QT_{{T}}: { return dq_{{t}}(); }\n#endeach\n}\n")
    got = lines(shaders.expand("a.wgsl", values={"TYPES": "Q4_1 F16"}))
    assert got == ["switch qt {", "    case QT_Q4_1: { return dq_q4_1(); }",
                   "    case QT_F16: { return dq_f16(); }", "}"]
    assert lines(shaders.expand("a.wgsl", values={"TYPES": ""})) == ["switch qt {", "}"]


def test_each_copies_go_through_ifdef_and_placeholders(files):
    files(a="#each T in L\n#ifdef W_{{T}}\nhas {{T}} {{N}}\n#endif\n#endeach\n#ifdef OFF\n#each T in MISSING\nx\n#endeach\n#endif\n")
    got = lines(shaders.expand("a.wgsl", frozenset({"W_A"}), {"L": "A B", "N": 1}))
    assert got == ["has A 1"]          # B's copy dropped by its #ifdef; the inactive #each needs no value


@pytest.mark.parametrize("text, message", [
    ("#frobnicate\n", "a.wgsl:1: unknown directive '#frobnicate'"),
    ("#endif\n", "a.wgsl:1: #endif without #ifdef"),
    ("#else\n", "a.wgsl:1: #else without #ifdef"),
    ("#ifdef F\n", "a.wgsl: 1 #ifdef block(s) not closed"),
    ("{{NOPE}}\n", "a.wgsl: no value for placeholder {{NOPE}}"),
    ("#each T in L\nx\n", "a.wgsl:1: #each not closed"),
    ("#endeach\n", "a.wgsl:1: #endeach without #each"),
    ("#each T L\n#endeach\n", "a.wgsl:1: expected '#each VAR in NAME'"),
    ("#each T in L\n#each U in L\n#endeach\n#endeach\n", "a.wgsl:2: #each inside #each"),
    ('#include "missing.wgsl"\n', "shader file 'missing.wgsl' not found"),
])
def test_a_malformed_shader_is_an_error_naming_file_and_line(files, text, message):
    files(a=text)
    with pytest.raises(DeviceError) as e:
        shaders.expand("a.wgsl", values={"L": "x"})
    assert message in str(e.value)


def test_the_shipped_shaders_use_only_known_directives():
    names = sorted(p.name for p in shaders.shader_dir().glob("*.wgsl"))
    assert "decode_fused.wgsl" in names
    for name in names:
        text = shaders._read(name)
        for i, line in enumerate(text.splitlines(), 1):
            if line.lstrip().startswith("#"):
                assert shaders._DIRECTIVE.match(line), f"{name}:{i}: {line.strip()}"


def test_ifdef_of_several_names_is_any_and_ifndef_none(files):
    files(a="#ifdef A B\nab\n#endif\n#ifndef A B\nneither\n#endif\n")
    assert lines(shaders.expand("a.wgsl", frozenset({"B"}))) == ["ab"]
    assert lines(shaders.expand("a.wgsl", frozenset({"A", "B"}))) == ["ab"]
    assert lines(shaders.expand("a.wgsl", frozenset({"C"}))) == ["neither"]


def test_a_file_is_pasted_once_per_expansion(files):
    """quant.wgsl's decoders each include their helpers; the fused step compiles several of them."""
    files(a='#ifdef A\n#include "h.wgsl"\nfa\n#endif\n#ifdef B\n#include "h.wgsl"\nfb\n#endif\n', h="fn h() {}\n")
    assert lines(shaders.expand("a.wgsl", frozenset({"A", "B"}))) == ["fn h() {}", "fa", "fb"]
    assert lines(shaders.expand("a.wgsl", frozenset({"B"}))) == ["fn h() {}", "fb"]
