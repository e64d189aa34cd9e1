"""The NumPy device's recorded decode step inside Pyodide: a token costs one Python->JS call.

A decode step in Pyodide is ~500 small kernel calls (blas.py's wasm kernels) around the matrix-
vector products; from Python each costs a pointer lookup, a numpy allocation and a Python->JS
crossing, together a sixth of a step or so (bench/RESULTS.md). So, as the WebGPU device replays its recorded
dispatches, NumpyDevice.replay records the step once (record): the model's forward runs with the
device's ops handed to a _Recorder, which appends one command per op to a flat list and returns a
buffer of the op's shape at an address fixed for the step's life (nothing is computed while
recording). DecodeStep.run then hands (position, token) to a few lines of JS (js/numpy_step.js)
that walk the list and call the same wasm kernels with the same arguments the plain ops pass, so a
replayed step equals the plain forward bit for bit (tests/pyodide/test_pyodide_blas.py checks it).

Commands take the step's position where the plain ops take `pos`: RoPE's table rows and the KV
cache row written (ROPE, COPY), the keys attention sees (ATTEND); EMBED takes the token, and so
does DQ (a quantized embedding table's row). Every other argument is an address or a size fixed
at recording.

Weights kept quantized (qmat.QMat) record as QMat.matmul_t computes them for one token: per tile
of rows, DQ (the type's dq kernel, blas.dequantize's) into a scratch tile the step keeps, then MV
into the tile's slice of the output; the same kernels on the same bytes, so the same bits.

What it is not: the kernels (wasm/kernels.wat), their choice and fallbacks (blas.py), a prefill
(one token only), or CPython's path (record answers None where blas has no wasm kernels).
"""

from __future__ import annotations

import numpy as np

from ..errors import ContextLengthError, KitUnavailableError, WebinferError
from . import blas
from .qmat import QMat

# Op codes, the same numbers as in js/numpy_step.js (tests/unit/test_ffi_kits.py checks); each
# command is its code then its arguments.
EMBED, RMS_NORM, MV, ADD, SWIGLU, ROPE, COPY, ATTEND, DQ = range(9)

# DQ's first argument indexes this list; define() hands the JS the kernels' names in this order.
DQ_TYPES = blas.Kernels.DQ_TYPES


class Unrecordable(Exception):
    """An op or a shape the recorded step does not take: the plain forward runs instead."""


class DecodeStep:
    """A recorded decode step: run(token, pos) -> logits (1, n_vocab), one Python->JS call."""

    def __init__(self, kit, step_id: int, out: np.ndarray, keep: list, n_tokens: int, n_ctx: int, commands: int):
        self.kit, self.id, self.out = kit, step_id, out
        self.keep = keep              # every array whose address the commands hold: alive while the step is
        self.n_tokens, self.n_ctx = n_tokens, n_ctx
        self.commands = commands      # kernel commands a step runs (reported by the bench)

    def run(self, token, pos: int) -> np.ndarray:
        tok = int(np.asarray(token).reshape(-1)[0])
        if not 0 <= tok < self.n_tokens:
            raise WebinferError(f"token id {tok} is outside the embedding table (0..{self.n_tokens - 1})")
        if not 0 <= pos < self.n_ctx:
            raise ContextLengthError(f"decode position {pos} is outside the KV cache (0..{self.n_ctx - 1})")
        self.kit.run(self.id, pos, tok)
        return self.out.copy()        # the caller may keep it; the step's buffer is rewritten next token


_kit = None


def _step_kit():
    global _kit
    if _kit is None:
        from .. import ffi
        _kit = ffi.make_kit("numpy_step", ["define", "run"])
    return _kit


def record(dev, forward, token, pos: int) -> DecodeStep | None:
    """The decode step of forward(tokens, pos) -> logits as a DecodeStep, or None where it can't be
    recorded (no wasm kernels: CPython or einsum; an op or shape _Recorder doesn't take; no JS kit
    under a CSP without the kits module): the caller then runs forward as before."""
    kern = blas._kernels()
    if kern is None:
        return None
    rec = _Recorder(dev, kern)
    dev._recorder = rec
    try:
        out = forward(np.asarray(token, dtype=np.int64).reshape(-1), pos)
    except Unrecordable:
        return None
    finally:
        dev._recorder = None
    if rec.n_tokens is None or rec.cache is None or not any(out is a for a in rec.keep):
        return None                                  # no token in, no cache, or logits no op made
    try:
        kit = _step_kit()
    except KitUnavailableError:
        return None
    step_id = int(kit.define(kern.lib, kit.to_js(rec.code), ",".join(t.lower() for t in DQ_TYPES)))
    return DecodeStep(kit, step_id, out, rec.keep, rec.n_tokens, rec.cache.n_ctx, rec.commands)


class _Recorder:
    """NumpyDevice's ops for one token, recording instead of computing: each appends its command(s)
    and returns a zeroed float32 buffer of the op's output shape that the step keeps (a fixed
    address). Shapes the kernels don't take raise Unrecordable, as blas's functions return None."""

    def __init__(self, dev, kern):
        self.dev, self.kern = dev, kern
        self.code: list = []
        self.keep: list = []
        self.commands = 0
        self.n_tokens = None          # rows of the embedding table (the token's range)
        self.cache = None             # the KV cache the step writes
        self._scratch: dict = {}      # (kvh, rp, hd, rows) -> attention's buffer, shared by the layers
        self._tiles: dict = {}        # floats -> a QMat tile's scratch, shared by the products

    # -- helpers ----------------------------------------------------------------------------------
    def emit(self, op: int, *args) -> None:
        self.code += [op, *args]
        self.commands += 1

    def addr(self, a: np.ndarray, contiguous: bool = True) -> int:
        """The address of a float32 C-contiguous array (or any float32 array whose layout the caller
        checked: the KV cache, a view of rows padded to 4), kept alive as long as the step."""
        if a.dtype != np.float32 or (contiguous and not a.flags.c_contiguous):
            raise Unrecordable(f"an operand is {a.dtype}, C-contiguous {a.flags.c_contiguous}")
        self.keep.append(a)
        return self.kern.ptr(a)

    def buffer(self, *shape) -> np.ndarray:
        a = np.zeros(shape, np.float32)
        self.keep.append(a)
        return a

    @staticmethod
    def one_row(x) -> int:
        if x.ndim != 2 or x.shape[0] != 1:
            raise Unrecordable(f"a step of {x.shape[0] if x.ndim == 2 else x.shape} tokens")
        return x.shape[1]

    def dq_kernel(self, qtype) -> int:
        """DQ's kernel argument for a part's type: its index in DQ_TYPES, where blas has its kernel
        (the plain product dequantizes the same way only then)."""
        name = qtype.name
        if name not in self.kern.dq:
            raise Unrecordable(f"{name} blocks, which have no dequantize kernel")
        return DQ_TYPES.index(name)

    def blocks(self, raw: np.ndarray) -> int:
        """The address of uint8 C-contiguous blocks, kept alive as long as the step."""
        if raw.dtype != np.uint8 or not raw.flags.c_contiguous:
            raise Unrecordable("quantized blocks that are not C-contiguous bytes")
        self.keep.append(raw)
        return self.kern.ptr(raw)

    def cache_layout(self, cache, hd):
        """The byte stride between kv heads of cache, which the kernels need as (heads, rows, hd)."""
        k, v = cache.k, cache.v
        hstride = cache.rows * hd * 4
        if (k.dtype != np.float32 or v.dtype != np.float32 or k.strides[1:] != (hstride, hd * 4, 4)
                or v.strides != k.strides or (self.cache is not None and cache is not self.cache)):
            raise Unrecordable("a KV cache the kernels don't take")
        self.cache = cache
        return hstride

    # -- the ops (NumpyDevice's signatures) -----------------------------------------------------------
    def embed(self, table, tokens):
        w, _ = table
        if len(tokens) != 1 or self.n_tokens is not None or (not isinstance(w, QMat) and w.ndim != 2):
            raise Unrecordable("not one token")
        if isinstance(w, QMat):                       # DQ of the token's row, as QMat.take
            if len(w.parts) != 1:
                raise Unrecordable("a quantized embedding table in parts")
            qt, part = w.parts[0]
            y = self.buffer(1, w.cols)
            self.n_tokens = w.rows
            self.emit(DQ, self.dq_kernel(qt), self.blocks(part), self.addr(y), part.shape[1] // qt.type_size,
                      part.strides[0])
            return y
        y = self.buffer(1, w.shape[1])
        self.n_tokens = w.shape[0]
        self.emit(EMBED, self.addr(w), w.strides[0], self.addr(y), w.shape[1])
        return y

    def rms_norm(self, x, w, eps):
        d = self.one_row(x)
        if d % 4 or w.shape != (d,):
            raise Unrecordable(f"rms_norm over {d} values")
        y = self.buffer(1, d)
        self.emit(RMS_NORM, self.addr(x), self.addr(w), self.addr(y), d, blas._inverse(d), float(eps))
        return y

    def linear(self, x, w, bias=None):
        mat, b = w
        cols = self.one_row(x)
        if isinstance(mat, QMat):
            rows = mat.rows
            y = self.qmat_product(x, mat, cols)
        else:
            if mat.ndim != 2 or mat.shape[1] != cols or cols % 16 or not mat.shape[0]:
                raise Unrecordable(f"a {mat.shape} product")
            rows = mat.shape[0]
            y = self.buffer(1, rows)
            self.emit(MV, self.addr(mat), self.addr(x), self.addr(y), rows, cols)
        if b is not None:
            self.emit(ADD, self.addr(y), self.addr(np.ascontiguousarray(b, dtype=np.float32)), self.addr(y), rows)
        return y

    def qmat_product(self, x, mat: QMat, cols: int) -> np.ndarray:
        """x @ mat^T for one token as QMat.matmul_t computes it: per tile of rows, DQ into a scratch
        tile, then MV into the tile's columns of y."""
        if mat.cols != cols or cols % 16 or not mat.rows:
            raise Unrecordable(f"a quantized ({mat.rows}, {mat.cols}) product")
        size = mat.tile_rows * cols
        tile = self._tiles.get(size)
        if tile is None:
            tile = self._tiles[size] = self.buffer(size)
        y = self.buffer(1, mat.rows)
        pt, px, py = self.addr(tile), self.addr(x), self.addr(y)
        for r, qt, raw in mat.tiles():
            self.emit(DQ, self.dq_kernel(qt), self.blocks(raw), pt, raw.size // qt.type_size, 0)
            self.emit(MV, pt, px, py + 4 * r, raw.shape[0], cols)
        return y

    def linear_swiglu(self, x, w_gate_up):
        gu = self.linear(x, w_gate_up)
        d_ff = gu.shape[1] // 2
        if gu.shape[1] % 8:
            raise Unrecordable(f"SwiGLU of width {gu.shape[1]}")
        y = self.buffer(1, d_ff)
        self.emit(SWIGLU, self.addr(gu), self.addr(y), d_ff)
        return y

    def head_norm(self, qkv, q_w, k_w, n_heads, n_kv_heads, head_dim, eps):
        """One RMS_NORM a head (the plain op's rows, one at a time: the same kernel, the same bits),
        then v copied."""
        hd = head_dim
        width = self.one_row(qkv)
        if hd % 4 or width != (n_heads + 2 * n_kv_heads) * hd or q_w.shape != (hd,) or k_w.shape != (hd,):
            raise Unrecordable("a head_norm layout the kernel doesn't take")
        y = self.buffer(1, width)
        px, py, pq, pk = self.addr(qkv), self.addr(y), self.addr(q_w), self.addr(k_w)
        inv = blas._inverse(hd)
        for h in range(n_heads + n_kv_heads):
            self.emit(RMS_NORM, px + 4 * h * hd, pq if h < n_heads else pk, py + 4 * h * hd, hd, inv, float(eps))
        off = 4 * (n_heads + n_kv_heads) * hd
        self.emit(COPY, px + off, py + off, 1, n_kv_heads * hd, 0, 0, 0)
        return y

    def rope_kv(self, qkv, cache, layer, pos, n_heads, n_kv_heads, head_dim, theta, neox, freqs=None):
        hd, kvh = head_dim, n_kv_heads
        width = self.one_row(qkv)
        if hd % 8 or width != (n_heads + 2 * kvh) * hd or cache.k.shape[1] != kvh:
            raise Unrecordable("a RoPE layout the kernel doesn't take")
        hstride = self.cache_layout(cache, hd)
        c, s = self.dev._rope_full(theta, hd, neox, cache.n_ctx, freqs)   # rows for every position
        pc, ps, px = self.addr(c), self.addr(s), self.addr(qkv)
        q = self.buffer(1, n_heads * hd)
        pk = self.addr(cache.k, False) + layer * cache.k.strides[0]
        pv = self.addr(cache.v, False) + layer * cache.v.strides[0]
        self.emit(ROPE, int(neox), px, self.addr(q), pc, ps, n_heads, hd, hd * 4, 0)
        self.emit(ROPE, int(neox), px + n_heads * hd * 4, pk, pc, ps, kvh, hd, hstride, hd * 4)
        self.emit(COPY, px + (n_heads + kvh) * hd * 4, pv, kvh, hd, hd * 4, hstride, hd * 4)
        return q

    def attention(self, q, cache, layer, pos, n_heads, n_kv_heads, head_dim):
        hd, kvh = head_dim, n_kv_heads
        g = n_heads // kvh
        if hd % 16 or self.one_row(q) != n_heads * hd or g * kvh != n_heads or cache.k.shape[1] != kvh:
            raise Unrecordable("an attention layout the kernels don't take")
        hstride = self.cache_layout(cache, hd)
        rp = g + g % 2
        key = (kvh, rp, hd, cache.rows)
        buf = self._scratch.get(key)
        if buf is None:                                   # q, out, scores (keys for every position)
            buf = self._scratch[key] = self.buffer(kvh * rp * (2 * hd + cache.rows))
        y = self.buffer(1, n_heads * hd)
        scale = float(np.float32(1.0 / np.sqrt(hd)))      # as blas.attend scales q
        pk = self.addr(cache.k, False) + layer * cache.k.strides[0]
        pv = self.addr(cache.v, False) + layer * cache.v.strides[0]
        self.emit(ATTEND, self.addr(q), self.addr(y), self.addr(buf), pk, pv, kvh, g, hd, hstride, cache.rows, scale)
        return y

    def add(self, a, b):
        n = self.one_row(a)
        if b.shape != a.shape:
            raise Unrecordable(f"add of {a.shape} and {b.shape}")
        y = self.buffer(1, n)
        self.emit(ADD, self.addr(a), self.addr(b), self.addr(y), n)
        return y

    def last_row(self, x):
        self.one_row(x)
        return x
