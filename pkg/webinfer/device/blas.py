"""x @ W^T for float32, the fastest way this Python's NumPy offers.

CPython's numpy wheels link OpenBLAS, so ``x @ w.T`` is one sgemm/sgemv. Pyodide's numpy has no
BLAS and no SIMD (its __cpu_baseline__ is empty): its matmul is a plain loop. There, in order:

1. "wasm-simd": a 1 KB WebAssembly module, assembled below, linked into Pyodide's own memory
   (Emscripten's loadWebAssemblyModule, through ffi.make_kit) so it reads the numpy buffers in
   place. Two f32x4 kernels:

   mv, one token (decode). Memory-bound: a decode streams ~540 MB of float32 weights a token.
   It reads one weight row after another (16 floats a step, 4 accumulators), so the matrix is
   read start to end as ONE sequential stream, which the hardware prefetcher follows. That is
   what counts: kernels reading 2-8 rows side by side (sharing each x load, as the first mm did
   for decode too) read as many interleaved streams and got 13-18 GB/s, no better than einsum's
   scalar loop (12-15 GB/s); one row at a time gets 31-34 GB/s, ~94% of a wasm loop that only
   loads (35 GB/s) and on par with native one-thread OpenBLAS sgemv here (27-32). A packed layout
   ([rows/R][cols/4][R][4]: R rows as one stream, R = 4, 8, 16) measured the same 32 GB/s, so
   the weights keep their plain layout (embed, webinfer.inspect and the einsum fallback read
   them as they are). 8 loads a step, or 1-2 accumulators, were equal or slower.
   mm, several tokens (prefill). Compute-bound: blocks of 4 rows x 2 tokens, 8 accumulators,
   so each w load feeds 2 tokens, each x load 4 rows, and 8 fadd chains run side by side; every
   token pair runs against the 4-row block while it sits in cache. 4 rows x 1 token (the first
   kernel) waits on its 4 fadd chains: 1.3x slower; 8x1, 4x3, 4x4, 2x4, 2x6 need more than 11
   v128 locals, which V8 spills: 1.3-1.9x slower than 4x2. An odd token count repeats its last
   token (the extra output row is dropped).

   Measured on AMD EPYC (Zen 5, 2 cores; one used), Pyodide 0.27.7 under Node 20, with
   ``python3 bench/wasm_kernel_bench.py`` (40 distinct 3072x576 matrices, so not in cache):
   one token 12-15 GB/s (einsum) -> 31-34 GB/s (mv), the 49152x576 lm head 7.8 -> 3.5 ms;
   40 tokens through 3072x576 18-19 ms (einsum), 3.3-3.6 ms (first mm), 2.6-2.9 ms (mm). The whole
   model, ``python3 bench/pyodide_numpy_bench.py --reps 3`` (SmolLM2-135M, 40-token prompt),
   4 runs each: decode 24.0-24.9 -> 44.5-46.3 tok/s (41 -> 22 ms a token, 18.4 ms of it the
   linears), prefill 136-139 -> 166-185 tok/s; the chat page in Chromium 156 (noisier): decode
   20-25 -> 32-45 tok/s, prefill 99-136 -> 98-157 (bench/RESULTS.md).
2. "numpy-einsum": where that module can't load (no wasm SIMD, another Emscripten, a page that
   forbids it) or a shape doesn't fit (one token: columns not a multiple of 16; more tokens: rows
   or columns not a multiple of 4; weights not C-contiguous float32). ``np.einsum("ij,j->i", w,
   x)`` beats ``x @ w.T`` by 1.6-1.8x for one token (49152x576: 7.7 vs 13.0 ms) and "nj,ij->ni"
   by 1.3x for a prefill. Pyodide's scipy links OpenBLAS, but through it the page decoded slower
   (3.0 vs 5.3 tok/s) for 19 MB more download, so scipy is not used.

The choice is made once (see _simd). Not here: quantized arithmetic, threads.
"""

from __future__ import annotations

import sys

import numpy as np


# -- the wasm kernels -----------------------------------------------------------------------------
# All float32 C-contiguous, addresses in the wasm heap, y[n, r] = sum_j w[r, j] * x[n, j]:
# mm(w, x, y, rows, cols, ntok): rows % 4 == 0, cols % 4 == 0, ntok % 2 == 0, all > 0 (prefill);
# mv(w, x, y, rows, cols): ntok = 1, cols % 16 == 0, rows and cols > 0 (decode).

def _leb(n: int, signed: bool = False) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        done = (n == 0 and not (signed and b & 0x40)) or (signed and n == -1 and b & 0x40)
        out.append(b if done else b | 0x80)
        if done:
            return bytes(out)


def _vec(items) -> bytes:
    return _leb(len(items)) + b"".join(items)


def _name(s: str) -> bytes:
    return _leb(len(s)) + s.encode()


# The few instructions the kernels use (locals by index; "4" = f32x4).
def _get(i: int) -> bytes:
    return bytes([0x20, i])


def _set(i: int) -> bytes:
    return bytes([0x21, i])


def _tee(i: int) -> bytes:
    return bytes([0x22, i])


def _const(n: int) -> bytes:
    return b"\x41" + _leb(n, True)


def _vload(offset: int = 0) -> bytes:
    return b"\xfd\x00\x02" + _leb(offset)                        # v128.load align 4 offset


def _hsum(a: int) -> bytes:
    lane = lambda i: _get(a) + b"\xfd\x1f" + bytes([i])          # noqa: E731  f32x4.extract_lane
    return lane(0) + lane(1) + _FADD + lane(2) + _FADD + lane(3) + _FADD


_ADD, _MUL, _SHL, _LT_U, _FADD = b"\x6a", b"\x6c", b"\x74", b"\x49", b"\x92"
_VZERO, _FADD4, _FMUL4 = b"\xfd\x0c" + bytes(16), b"\xfd\xe4\x01", b"\xfd\xe6\x01"
_LOOP, _END, _BR_IF0 = b"\x03\x40", b"\x0b", b"\x0d\x00"
_STORE = b"\x38\x02"                                              # f32.store align 4, then offset


def _locals(i32: int, v128: int) -> bytes:
    return _vec([_leb(i32) + b"\x7f", _leb(v128) + b"\x7b"])


def _mm_body() -> bytes:
    """Blocks of 4 weight rows x 2 tokens: each w load feeds 2 tokens, each x load 4 rows (8
    independent accumulators); every token pair runs against the 4-row block while it sits in cache."""
    W, X, Y, ROWS, COLS, NT, R, N, Q, PX, END, RB = range(12)   # 6 params, 6 i32 locals
    ACC = ((12, 13), (14, 15), (16, 17), (18, 19))               # acc[k][t]: row r + k, token n + t
    XV, WV = (20, 21), 22                                        # 11 v128 locals (more spill in V8)
    b = _get(COLS) + _const(2) + _SHL + _set(RB)                 # rb = row bytes
    b += _const(0) + _set(R) + _LOOP                             # for r in 0, 4, .. rows
    b += _const(0) + _set(N) + _LOOP                             # for n in 0, 2, .. ntok
    b += b"".join(_VZERO + _set(a) for pair in ACC for a in pair)
    b += _get(W) + _get(R) + _get(RB) + _MUL + _ADD + _tee(Q) + _get(RB) + _ADD + _set(END)
    b += _get(X) + _get(N) + _get(RB) + _MUL + _ADD + _set(PX)
    b += _LOOP                                                   # for j in 0, 4, .. cols
    b += _get(PX) + _vload() + _set(XV[0]) + _get(PX) + _get(RB) + _ADD + _vload() + _set(XV[1])
    for k, pair in enumerate(ACC):                               # acc[k][t] += w[r+k, j:j+4] * x[n+t, j:j+4]
        b += _get(Q) + (_get(RB) + _const(k) + _MUL + _ADD if k else b"") + _vload() + _set(WV)
        for a, xv in zip(pair, XV):
            b += _get(a) + _get(WV) + _get(xv) + _FMUL4 + _FADD4 + _set(a)
    b += _get(PX) + _const(16) + _ADD + _set(PX)
    b += _get(Q) + _const(16) + _ADD + _tee(Q) + _get(END) + _LT_U + _BR_IF0 + _END
    b += _get(Y) + _get(N) + _get(ROWS) + _MUL + _get(R) + _ADD + _const(2) + _SHL + _ADD + _set(Q)
    for t, ptr in enumerate((_get(Q), _get(Q) + _get(ROWS) + _const(2) + _SHL + _ADD)):
        for k, pair in enumerate(ACC):                           # y[n + t, r + k] = horizontal sum
            b += ptr + _hsum(pair[t]) + _STORE + _leb(4 * k)
    b += _get(N) + _const(2) + _ADD + _tee(N) + _get(NT) + _LT_U + _BR_IF0 + _END
    b += _get(R) + _const(4) + _ADD + _tee(R) + _get(ROWS) + _LT_U + _BR_IF0 + _END
    return _locals(6, 11) + b + _END


def _mv_body() -> bytes:
    """One row at a time, so the weights are read as one sequential stream (w advances through
    the whole matrix); 16 floats a step into 4 independent accumulators."""
    W, X, Y, ROWS, COLS, PX, END, YEND = range(8)                # 5 params, 3 i32 locals
    ACC = (8, 9, 10, 11)                                         # 4 v128 locals
    b = _get(Y) + _get(ROWS) + _const(2) + _SHL + _ADD + _set(YEND)
    b += _LOOP                                                   # for each row (w walks on)
    b += b"".join(_VZERO + _set(a) for a in ACC)
    b += _get(X) + _set(PX) + _get(W) + _get(COLS) + _const(2) + _SHL + _ADD + _set(END)
    b += _LOOP                                                   # for j in 0, 16, .. cols
    for k, a in enumerate(ACC):                                  # acc_k += w[r, j+4k:+4] * x[j+4k:+4]
        b += _get(a) + _get(W) + _vload(16 * k) + _get(PX) + _vload(16 * k) + _FMUL4 + _FADD4 + _set(a)
    b += _get(PX) + _const(64) + _ADD + _set(PX)
    b += _get(W) + _const(64) + _ADD + _tee(W) + _get(END) + _LT_U + _BR_IF0 + _END
    b += _get(ACC[0]) + _get(ACC[1]) + _FADD4 + _get(ACC[2]) + _get(ACC[3]) + _FADD4 + _FADD4 + _set(ACC[0])
    b += _get(Y) + _hsum(ACC[0]) + _STORE + _leb(0)              # y[r] = horizontal sum
    b += _get(Y) + _const(4) + _ADD + _tee(Y) + _get(YEND) + _LT_U + _BR_IF0 + _END
    return _locals(3, 4) + b + _END


def wasm_module() -> bytes:
    """The side module: a dylink.0 section (no data, no table), env.memory imported, mm and mv exported."""
    sec = lambda i, body: bytes([i]) + _leb(len(body)) + body    # noqa: E731
    sig = lambda n: b"\x60" + _vec([b"\x7f"] * n) + _vec([])     # noqa: E731  n i32 params, no result
    bodies = [_mm_body(), _mv_body()]
    return (b"\x00asm\x01\x00\x00\x00"
            + sec(0, _name("dylink.0") + b"\x01" + _leb(4) + bytes(4))
            + sec(1, _vec([sig(6), sig(5)]))
            + sec(2, _vec([_name("env") + _name("memory") + b"\x02\x00\x00"]))
            + sec(3, _vec([_leb(0), _leb(1)]))
            + sec(7, _vec([_name("mm") + b"\x00" + _leb(0), _name("mv") + b"\x00" + _leb(1)]))
            + sec(10, _vec([_leb(len(body)) + body for body in bodies])))


# A constant (no formatting): the chat page's CSP forbids eval, so tools/build_site.py ships every
# module-level *_JS string as static code, looked up by its hash (site/py/engine.py).
_MM_JS = """(Module) => ({
  load: (bytes) => Module.loadWebAssemblyModule(bytes, {loadAsync: false, nodelete: true}, "webinfer_mm.so", {}, 0),
})"""


def _load_simd():
    """(mm, mv, pointer): the kernels, each checked on a small product; None where they won't load."""
    try:
        from .. import ffi
        kit = ffi.make_kit(_MM_JS, ["load"])
        lib = kit.load(kit.to_js(wasm_module()))                # JS functions; wasm compile is allowed
        mm, mv, ptr = lib.mm, lib.mv, ffi.pointer
        w = np.arange(8 * 32, dtype=np.float32).reshape(8, 32) / 7
        x = np.arange(4 * 32, dtype=np.float32).reshape(4, 32) / 5
        y, y1 = np.zeros((4, 8), np.float32), np.zeros((1, 5), np.float32)
        mm(ptr(w), ptr(x), ptr(y), 8, 32, 4)
        mv(ptr(w), ptr(x), ptr(y1), 5, 32)
        ref = np.einsum("nj,ij->ni", x, w)
        if not (np.allclose(y, ref, rtol=1e-5) and np.allclose(y1, ref[:1, :5], rtol=1e-5)):
            return None
        return mm, mv, ptr
    except Exception:   # no wasm SIMD, no loadWebAssemblyModule: einsum it is
        return None


# Under Pyodide the kernels load on the first product, not at import: the chat page installs its
# static-kit hook (site/py/engine.py) after `import webinfer`. BACKEND then says which path won.
BACKEND = "numpy-einsum" if sys.platform == "emscripten" else "numpy-blas"
_SIMD = None
_tried = False


def _simd():
    global _SIMD, _tried, BACKEND
    if not _tried:
        _tried = True
        _SIMD = _load_simd()
        BACKEND = "wasm-simd" if _SIMD else "numpy-einsum"
    return _SIMD


def matmul_t(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """x (n, in) @ w (out, in)^T -> (n, out) float32."""
    if BACKEND == "numpy-blas":
        return x @ w.T
    n, cols = x.shape
    rows = w.shape[0]
    simd = _simd()
    if simd and n and rows and cols and w.dtype == np.float32 and w.flags.c_contiguous:
        mm, mv, ptr = simd
        if n == 1 and cols % 16 == 0:                            # decode
            x = np.ascontiguousarray(x, dtype=np.float32)
            y = np.empty((1, rows), np.float32)
            mv(ptr(w), ptr(x), ptr(y), rows, cols)
            return y
        if n > 1 and rows % 4 == 0 and cols % 4 == 0:            # prefill: tokens in pairs, an odd
            m = n + n % 2                                        # count repeats its last (row dropped)
            x = np.ascontiguousarray(x if m == n else np.concatenate([x, x[-1:]]), dtype=np.float32)
            y = np.empty((m, rows), np.float32)
            mm(ptr(w), ptr(x), ptr(y), rows, cols, m)
            return y[:n]
    if n == 1:
        return np.einsum("ij,j->i", w, x[0])[None, :]
    return np.einsum("nj,ij->ni", x, w)
