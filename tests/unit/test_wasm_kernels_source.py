"""The wasm SIMD kernels' shipped bytes come from their source, and have the shape blas.py loads.

What this covers: kernels.wat assembled by tools/build_wasm.py (plain and fused) gives exactly the
committed kernels.wasm and kernels_fused.wasm, which wasm_kernels.wasm_module returns; each is an
Emscripten side module (dylink.0 first, only env.memory imported, no table, data or start) exporting
PREFIX + every kernel with the signature kernels.wat's calling convention gives; the fused one
differs only in mm's and mmn's multiply-adds; and every kernel, run under wasmtime on small random
inputs, agrees with NumPy in float64 (the dequantize kernels, bit for bit: test_wasm_dequant.py).
The numerics on the real model's and awkward shapes, inside Pyodide, are
tests/pyodide/test_pyodide_blas.py's.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from webinfer.device import blas
from webinfer.device.wasm_kernels import PREFIX, wasm_module
from wasm_heap import WasmHeap

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
import build_wasm  # noqa: E402
from build_wasm import OUTPUTS, custom_name, read_uleb as _leb, sections  # noqa: E402

VARIANTS = pytest.mark.parametrize("fused", [False, True], ids=["plain", "fused"])

# Parameter types by kernel ("i" i32, "f" f32; no results), as kernels.wat's header documents them;
# a batched kernel takes its inner one's, then nb and a byte stride per pointer.
SIGNATURES = {"mm": "i" * 6, "mv": "i" * 5, "mmn": "i" * 7, "softmax": "i" * 5, "swiglu": "i" * 4,
              "rms_norm": "i" * 5 + "ff", "rope": "i" * 10, "rope_neox": "i" * 10,
              "mm_b": "i" * (6 + 1 + 3), "mmn_b": "i" * (7 + 1 + 3), "softmax_b": "i" * (5 + 1 + 1),
              **{"dq_" + t.lower(): "iii" for t in blas.Kernels.DQ_TYPES}}   # (src, dst, n_blocks)
RELAXED_MADD = b"\xfd\x85\x02"      # f32x4.relaxed_madd: prefix 0xfd, opcode 0x105 as LEB128


def _name(data: bytes, pos: int) -> tuple[str, int]:
    n, pos = _leb(data, pos)
    return data[pos:pos + n].decode(), pos + n


def _vec(data: bytes, item) -> list:
    """The items of a vector section payload, each read by item(data, pos) -> (value, pos)."""
    n, pos = _leb(data, 0)
    out = []
    for _ in range(n):
        value, pos = item(data, pos)
        out.append(value)
    assert pos == len(data), "trailing bytes in a section"
    return out


def _functype(data: bytes, pos: int):
    assert data[pos] == 0x60
    params, pos = _leb(data, pos + 1)
    types = "".join({0x7F: "i", 0x7D: "f"}.get(t, "?") for t in data[pos:pos + params])
    results, pos = _leb(data, pos + params)
    return (types, data[pos:pos + results]), pos + results


def _import(data: bytes, pos: int):
    module, pos = _name(data, pos)
    field, pos = _name(data, pos)
    kind = data[pos]
    assert kind == 2, f"import {module}.{field} is not a memory"
    flags, pos = _leb(data, pos + 1)
    _, pos = _leb(data, pos)                                   # minimum pages
    if flags & 1:
        _, pos = _leb(data, pos)                               # maximum pages
    return (module, field, kind), pos


def _export(data: bytes, pos: int):
    name, pos = _name(data, pos)
    kind = data[pos]
    index, pos = _leb(data, pos + 1)
    return (name, kind, index), pos


def _body(data: bytes, pos: int):
    size, pos = _leb(data, pos)
    return data[pos:pos + size], pos + size


def _module(fused: bool) -> dict:
    """The shipped module parsed: section ids in order, and its functions by export name as
    (param types, result bytes, code body)."""
    secs = sections(wasm_module(fused))
    by_id = {sid: payload for sid, payload in secs if sid}
    types, funcs = _vec(by_id[1], _functype), _vec(by_id[3], _leb)
    bodies = _vec(by_id[10], _body)
    exports = _vec(by_id[7], _export)
    assert all(kind == 0 for _, kind, _ in exports), "only functions are exported"
    return {"ids": [sid for sid, _ in secs], "dylink": secs[0], "imports": _vec(by_id[2], _import),
            "functions": {name: (*types[funcs[i]], bodies[i]) for name, _, i in exports}}


@VARIANTS
def test_shipped_wasm_is_assembled_from_the_source(fused):
    pytest.importorskip("wasmtime", reason="the assembler (pip install wasmtime; pyproject's test extra)")
    path = OUTPUTS[fused]
    assert path.read_bytes() == build_wasm.assemble(fused), (
        f"{path.name} does not match kernels.wat: run `python3 tools/build_wasm.py` and commit the .wasm files")


@VARIANTS
def test_wasm_module_returns_the_shipped_file(fused):
    assert wasm_module(fused) == OUTPUTS[fused].read_bytes()


@VARIANTS
def test_is_a_side_module_exporting_every_kernel(fused):
    mod = _module(fused)
    sid, payload = mod["dylink"]
    assert sid == 0 and custom_name(payload) == "dylink.0", "the dylink.0 custom section must come first"
    assert payload.endswith(b"\x01\x04\x00\x00\x00\x00"), "mem-info: no memory, no table of its own"
    assert not {4, 5, 8, 9, 11, 12} & set(mod["ids"]), "no table, memory, start, elements or data of its own"
    assert mod["imports"] == [("env", "memory", 2)]
    got = {name: (types, results) for name, (types, results, _) in mod["functions"].items()}
    assert got == {PREFIX + name: (types, b"") for name, types in SIGNATURES.items()}
    assert {PREFIX + name for name in blas.Kernels.NAMES} <= got.keys()


def test_fused_differs_only_in_the_multiply_adds_of_mm_and_mmn():
    plain, fused = _module(False)["functions"], _module(True)["functions"]
    for name, (_, _, body) in plain.items():
        fbody = fused[name][2]
        assert RELAXED_MADD not in body, f"{name}: relaxed SIMD in the plain module"
        if name in (PREFIX + "mm", PREFIX + "mmn"):
            assert fbody.count(RELAXED_MADD) == 8, f"{name}: 8 multiply-adds (4 x 2 and 2 x 4 accumulators)"
        else:
            assert fbody == body, f"{name} differs between the plain and the fused module"


def test_fused_rule_fails_loudly_on_a_marked_line_it_cannot_rewrite():
    with pytest.raises(ValueError, match="kernels.wat:2"):
        build_wasm.fused_source("(module\n  (local.set $a (f32x4.add (local.get $a) (local.get $b)))  ;; madd\n)")
    with pytest.raises(ValueError, match="no line marked"):
        build_wasm.fused_source("(module)")


class _Heap(WasmHeap):
    """The module on a fresh 256 KiB memory; float32 arrays placed one after the other."""

    def __init__(self, fused: bool):
        super().__init__(fused, 4)
        self.top = 64

    def put(self, a) -> int:
        a = np.ascontiguousarray(a, np.float32)
        addr, self.top = self.top, self.top + (a.nbytes + 15) // 16 * 16 + 16
        self.memory.write(self.store, a.tobytes(), addr)
        return addr

    def get(self, addr: int, shape) -> np.ndarray:
        n = int(np.prod(shape)) * 4
        return np.frombuffer(bytes(self.memory.read(self.store, addr, addr + n)), np.float32).reshape(shape)

    def __call__(self, name: str, *args):
        self.exports[PREFIX + name](self.store, *args)


def _softmax_ref(s, lim0, g):
    out = np.zeros_like(s)
    for r in range(s.shape[0]):
        L = min(lim0 + r // g, s.shape[1])
        e = np.exp(s[r, :L] - s[r, :L].max())
        out[r, :L] = e / e.sum()
    return out


@VARIANTS
def test_kernels_compute_what_the_source_says(fused):
    heap, rng = _Heap(fused), np.random.default_rng(7)
    rand = lambda *shape: rng.standard_normal(shape).astype(np.float32)   # noqa: E731

    def check(name, got, want):
        variant = "fused" if fused else "plain"
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5, err_msg=f"{name} ({variant})")

    w, x = rand(8, 20), rand(6, 20)                            # mm: rows 8, cols 20, ntok 6
    heap("mm", heap.put(w), heap.put(x), y := heap.put(np.zeros((6, 8))), 8, 20, 6)
    check("mm", heap.get(y, (6, 8)), x.astype(np.float64) @ w.T)
    w, x = rand(7, 48), rand(48)                               # mv: rows 7, cols 48
    heap("mv", heap.put(w), heap.put(x), y := heap.put(np.zeros(7)), 7, 48)
    check("mv", heap.get(y, (7,)), w.astype(np.float64) @ x)
    w, x = rand(5, 32), rand(4, 9)                             # mmn: k 5, cols 32, ntok 4, ldx 9
    heap("mmn", heap.put(w), heap.put(x), y := heap.put(np.zeros((4, 32))), 5, 32, 4, 9)
    check("mmn", heap.get(y, (4, 32)), x[:, :5].astype(np.float64) @ w)
    s = rand(6, 12) * 4                                        # softmax: rows 6, ld 12, lim0 3, g 2
    heap("softmax", p := heap.put(s), 6, 12, 3, 2)
    check("softmax", heap.get(p, (6, 12)), _softmax_ref(s.astype(np.float64), 3, 2))
    gu = rand(3, 16) * 4                                       # swiglu: n 3, d_ff 8
    heap("swiglu", heap.put(gu), y := heap.put(np.zeros((3, 8))), 3, 8)
    g, u = gu[:, :8].astype(np.float64), gu[:, 8:]
    check("swiglu", heap.get(y, (3, 8)), g / (1 + np.exp(-g)) * u)
    x, w = rand(3, 16), rand(16)                               # rms_norm: n 3, d 16
    heap("rms_norm", heap.put(x), heap.put(w), y := heap.put(np.zeros((3, 16))), 3, 16, 1 / 16, 1e-5)
    x64 = x.astype(np.float64)
    check("rms_norm", heap.get(y, (3, 16)), x64 / np.sqrt((x64 ** 2).mean(1, keepdims=True) + 1e-5) * w)
    x, c, sn = rand(3, 2, 8), rand(3, 8), rand(3, 8)           # rope: n 3, nh 2, hd 8, y packed like x
    px, pc, ps = heap.put(x), heap.put(c), heap.put(sn)
    for name, partner in (("rope", x.reshape(3, 2, 4, 2)[..., ::-1].reshape(3, 2, 8)),
                          ("rope_neox", np.concatenate([x[..., 4:], x[..., :4]], -1))):
        heap(name, px, y := heap.put(np.zeros((3, 2, 8))), pc, ps, 3, 2, 8, 64, 64, 32)
        check(name, heap.get(y, (3, 2, 8)), x * c[:, None] + partner * sn[:, None])
    w, x = rand(2, 4, 8), rand(2, 2, 8)                        # mm_b: 2 items of mm(rows 4, cols 8, ntok 2)
    heap("mm_b", heap.put(w), heap.put(x), y := heap.put(np.zeros((2, 2, 4))), 4, 8, 2, 2, 128, 64, 32)
    check("mm_b", heap.get(y, (2, 2, 4)), x.astype(np.float64) @ w.transpose(0, 2, 1))
    w, x = rand(2, 3, 16), rand(2, 2, 4)                       # mmn_b: 2 items of mmn(k 3, cols 16, ntok 2, ldx 4)
    heap("mmn_b", heap.put(w), heap.put(x), y := heap.put(np.zeros((2, 2, 16))), 3, 16, 2, 4, 2, 192, 32, 128)
    check("mmn_b", heap.get(y, (2, 2, 16)), x[..., :3].astype(np.float64) @ w)
    s = rand(2, 4, 8) * 4                                      # softmax_b: 2 x softmax(rows 4, ld 8, lim0 5, g 1)
    heap("softmax_b", p := heap.put(s), 4, 8, 5, 1, 2, 128)
    check("softmax_b", heap.get(p, (2, 4, 8)), np.stack([_softmax_ref(t.astype(np.float64), 5, 1) for t in s]))
