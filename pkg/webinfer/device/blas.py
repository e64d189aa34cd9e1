"""x @ W^T for float32, the fastest way this Python's NumPy offers.

CPython's numpy wheels link OpenBLAS, so ``x @ w.T`` is one sgemm/sgemv. Pyodide's numpy has no
BLAS and no SIMD (its __cpu_baseline__ is empty): its matmul is a plain loop. There, in order:

1. "wasm-simd": a 476-byte WebAssembly module, assembled below, linked into Pyodide's own memory
   (Emscripten's loadWebAssemblyModule, through ffi.make_kit) so it reads the numpy buffers in
   place. f32x4 dot products, 4 weight rows at a time sharing each x load, every token of a
   prefill against a 4-row block while it sits in cache. Measured in Pyodide 0.27.7 under Node,
   one core: a 40-token prefill 3072x576 matmul 19.3 -> 3.7 ms (5.3x); a decode matvec 3072x576
   with the weights in cache 0.50 -> 0.12 ms, but a real decode streams ~540 MB of float32
   weights per token and was already near the memory bandwidth (~13 GB/s; the 49152x576 lm head
   takes 8.4 ms either way), so one-row products (decode) stay on einsum, which also saves the
   JS call: 41.0 vs 41.9-43.4 ms a token under Node.
2. "numpy-einsum": one-row products, and where that module can't load (no wasm SIMD, another
   Emscripten, a page that forbids it) or a shape doesn't fit (rows or columns not a multiple of 4). ``np.einsum("ij,j->i", w, x)`` beats
   ``x @ w.T`` by 1.6-1.8x for one token (49152x576: 7.7 vs 13.0 ms) and "nj,ij->ni" by 1.3x for
   a prefill. Pyodide's scipy links OpenBLAS, but through it the page decoded slower (3.0 vs 5.3
   tok/s) for 19 MB more download, so scipy is not used.

The choice is made once (see _simd). Not here: quantized arithmetic, threads.
"""

from __future__ import annotations

import sys

import numpy as np


# -- the wasm kernel ------------------------------------------------------------------------------
# mm(w, x, y, rows, cols, ntok): y[n, r] = sum_j w[r, j] * x[n, j]; all float32 C-contiguous,
# addresses in the wasm heap; rows % 4 == 0, cols % 4 == 0.

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


def _mm_body() -> bytes:
    W, X, Y, ROWS, COLS, NT, R, N, Q, PX, END, RB = range(12)   # 6 params, 6 i32 locals
    ACC, XV = (12, 13, 14, 15), 16                               # 5 v128 locals
    get, set_, tee = (lambda i: bytes([0x20, i])), (lambda i: bytes([0x21, i])), (lambda i: bytes([0x22, i]))
    const = lambda n: b"\x41" + _leb(n, True)                    # noqa: E731
    add, mul, shl, lt_u = b"\x6a", b"\x6c", b"\x74", b"\x49"
    vload, vzero = b"\xfd\x00\x02\x00", b"\xfd\x0c" + bytes(16)  # v128.load align 4; v128.const 0
    fadd4, fmul4, fadd = b"\xfd\xe4\x01", b"\xfd\xe6\x01", b"\x92"
    loop, end, br_if0 = b"\x03\x40", b"\x0b", b"\x0d\x00"
    lane = lambda a, i: get(a) + b"\xfd\x1f" + bytes([i])        # noqa: E731  f32x4.extract_lane
    b = get(COLS) + const(2) + shl + set_(RB)                    # rb = row bytes
    b += const(0) + set_(R) + loop                               # for r in 0, 4, .. rows
    b += const(0) + set_(N) + loop                               # for n in 0 .. ntok
    b += b"".join(vzero + set_(a) for a in ACC)
    b += get(W) + get(R) + get(RB) + mul + add + tee(Q) + get(RB) + add + set_(END)
    b += get(X) + get(N) + get(RB) + mul + add + set_(PX)
    b += loop + get(PX) + vload + set_(XV)                       # for j in 0, 4, .. cols
    for k, a in enumerate(ACC):                                  # acc_k += w[r + k, j:j+4] * x[n, j:j+4]
        row = get(Q) + (get(RB) + const(k) + mul + add if k else b"")
        b += get(a) + row + vload + get(XV) + fmul4 + fadd4 + set_(a)
    b += get(PX) + const(16) + add + set_(PX)
    b += get(Q) + const(16) + add + tee(Q) + get(END) + lt_u + br_if0 + end
    b += get(Y) + get(N) + get(ROWS) + mul + get(R) + add + const(2) + shl + add + set_(Q)
    for k, a in enumerate(ACC):                                  # y[n, r + k] = horizontal sum of acc_k
        b += get(Q) + lane(a, 0) + lane(a, 1) + fadd + lane(a, 2) + fadd + lane(a, 3) + fadd
        b += b"\x38\x02" + _leb(4 * k)                           # f32.store offset 4k
    b += get(N) + const(1) + add + tee(N) + get(NT) + lt_u + br_if0 + end
    b += get(R) + const(4) + add + tee(R) + get(ROWS) + lt_u + br_if0 + end
    return _vec([_leb(6) + b"\x7f", _leb(5) + b"\x7b"]) + b + end


def wasm_module() -> bytes:
    """The side module: a dylink.0 section (no data, no table), env.memory imported, mm exported."""
    sec = lambda i, body: bytes([i]) + _leb(len(body)) + body    # noqa: E731
    body = _mm_body()
    return (b"\x00asm\x01\x00\x00\x00"
            + sec(0, _name("dylink.0") + b"\x01" + _leb(4) + bytes(4))
            + sec(1, _vec([b"\x60" + _vec([b"\x7f"] * 6) + _vec([])]))
            + sec(2, _vec([_name("env") + _name("memory") + b"\x02\x00\x00"]))
            + sec(3, _vec([_leb(0)]))
            + sec(7, _vec([_name("mm") + b"\x00" + _leb(0)]))
            + sec(10, _vec([_leb(len(body)) + body])))


# A constant (no formatting): the chat page's CSP forbids eval, so tools/build_site.py ships every
# module-level *_JS string as static code, looked up by its hash (site/py/engine.py).
_MM_JS = """(Module) => ({
  load: (bytes) => Module.loadWebAssemblyModule(bytes, {loadAsync: false, nodelete: true}, "webinfer_mm.so", {}, 0).mm,
})"""


def _load_simd():
    """(mm, pointer): the kernel, checked on a small product; None where it won't load."""
    try:
        from .. import ffi
        kit = ffi.make_kit(_MM_JS, ["load"])
        mm = kit.load(kit.to_js(wasm_module()))                 # a JS function; wasm compile is allowed
        w = np.arange(8 * 12, dtype=np.float32).reshape(8, 12) / 7
        x = np.arange(2 * 12, dtype=np.float32).reshape(2, 12) / 5
        y = np.zeros((2, 8), np.float32)
        mm(ffi.pointer(w), ffi.pointer(x), ffi.pointer(y), 8, 12, 2)
        if not np.allclose(y, np.einsum("nj,ij->ni", x, w), rtol=1e-5):
            return None
        return mm, ffi.pointer
    except Exception:   # no wasm SIMD, no loadWebAssemblyModule: einsum it is
        return None


# Under Pyodide the kernel loads on the first product, not at import: the chat page installs its
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
    if n == 1:   # decode: memory-bound, and einsum saves the JS call (measured 41.0 vs 41.9-43.4 ms/token)
        return np.einsum("ij,j->i", w, x[0])[None, :]
    if _simd() and rows % 4 == 0 and cols % 4 == 0 and w.flags.c_contiguous and w.dtype == np.float32:
        mm, ptr = _SIMD
        x = np.ascontiguousarray(x, dtype=np.float32)
        y = np.empty((n, rows), np.float32)
        mm(ptr(w), ptr(x), ptr(y), rows, cols, n)
        return y
    return np.einsum("nj,ij->ni", x, w)
