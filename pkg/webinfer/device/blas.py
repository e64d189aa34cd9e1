"""The NumPy device's heavy ops the fastest way this Python's NumPy offers: x @ W^T, and inside
Pyodide also causal attention, SwiGLU, RMSNorm, RoPE and the dequantizing of quantized weights.

CPython's numpy wheels link OpenBLAS, so ``x @ w.T`` is one sgemm/sgemv and every function here but
matmul_t answers None (numpy_device keeps its NumPy code). Pyodide's numpy has no BLAS and no SIMD
(its __cpu_baseline__ is empty): its matmul is a plain loop, its exp ~12 ns a value. There, in order:

1. "wasm-simd": the f32x4 kernels of device/wasm/kernels.wat (wasm_kernels.py), one ~7 KB WebAssembly module linked into
   Pyodide's own memory (Emscripten's loadWebAssemblyModule, through ffi.make_kit) so they read
   and write the numpy buffers in place.
   - matmul_t: mv for one token (decode: the weights read as one sequential stream, over twice
     einsum's bandwidth), mm for more (prefill: 4 rows x 2 tokens, several times einsum; as fast
     at 512 tokens as at 146, so no blocking of tokens for the cache). Where the engine has relaxed
     SIMD (Chromium), mm and mmn use its fused multiply-add. Numbers: bench/RESULTS.md.
   - attend: causal attention over the KV cache, per block of ATTN_TOKENS query tokens, every kv
     head in one call of each of mm (scores), softmax (masked, in place) and mmn (probabilities @
     V). NumPy's version builds the whole (rows x keys) score matrix with a mask and multiplies with
     its plain-loop matmul, which made a long prompt's prefill mostly attention.
   - swiglu and rms_norm: one pass where NumPy makes five, and one call where a decode step made
     many small NumPy calls.
   - dequantize: a tile of a weight kept as the file's blocks (qmat.QMat) to float32, one kernel
     per type (dq_<type>), bit for bit the NumPy dequantizer's values, about ten times faster
     than Pyodide's NumPy does it (bench/RESULTS.md).
2. "numpy-einsum": where that module can't load (no wasm SIMD, another Emscripten, a page that
   forbids it) or a shape doesn't fit (one token: columns not a multiple of 16; more tokens: rows
   or columns not a multiple of 4; weights not C-contiguous float32). ``np.einsum("ij,j->i", w,
   x)`` beats ``x @ w.T`` for one token and "nj,ij->ni" for a prefill (bench/RESULTS.md).
Pyodide's scipy links OpenBLAS (19 MB more download), but its wasm build is far slower than the
kernels: sgemm 2-3 GMAC/s against mm's 14-24, sgemv 0.2-0.7 against mv's 3.7-6.7 (146 to 512
tokens and one token through SmolLM2's shapes, Node and Chromium), so scipy is not used.

The choice is made once (see _simd). Not here: the kernels' code (wasm/kernels.wat), the block
formats (formats/quants.py, formats/kquants.py), products on quantized blocks without a float32
tile, threads.
"""

from __future__ import annotations

import sys
import weakref

import numpy as np

from ..formats.quants import QUANT_BY_NAME as _QUANT_BY_NAME
from .wasm_kernels import PREFIX, wasm_module

ATTN_TOKENS = 64   # query tokens attention takes at a time: their scores over every key they see
RELAXED = True     # try the module with fused multiply-adds (relaxed SIMD) first


class Kernels:
    """The loaded wasm kernels (JS functions; arguments as in wasm/kernels.wat), the module's exports
    (lib: numpy_step's replay calls them from JS), ffi.pointer, and whether mm and mmn fuse their
    multiply-adds (relaxed SIMD). dq maps a ggml type's name (formats.quants) to its dequantize
    kernel dq_<type>(src, dst, n_blocks); _self_check drops a type whose kernel disagrees with NumPy."""

    NAMES = ("mm", "mv", "mm_b", "mmn_b", "softmax_b", "swiglu", "rms_norm", "rope", "rope_neox")
    DQ_TYPES = ("Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K",
                "IQ4_NL", "IQ4_XS", "F16", "BF16")

    def __init__(self, lib, ptr, fused: bool):
        for name in self.NAMES:
            setattr(self, name, getattr(lib, PREFIX + name))
        self.dq = {t: getattr(lib, PREFIX + "dq_" + t.lower()) for t in self.DQ_TYPES}
        self.lib, self.ptr, self.fused = lib, ptr, fused


def load_kernels(fused: bool) -> Kernels | None:
    """A fresh load of the module (fused: the relaxed-SIMD one), checked on small products; None
    where it doesn't compile or load (no wasm SIMD, no relaxed SIMD, no loadWebAssemblyModule)."""
    try:
        from .. import ffi
        kit = ffi.make_kit("wasm_load", ["load"])   # js/wasm_load.js
        kern = Kernels(kit.load(kit.to_js(wasm_module(fused))), ffi.pointer, fused)   # wasm compile is allowed
        return kern if _self_check(kern) else None
    except Exception:
        return None


def _load_simd():
    """The fused kernels where the engine compiles relaxed SIMD (Chromium does; Node 20 only behind
    a flag), else the plain ones; None where neither loads (einsum it is)."""
    return (RELAXED and load_kernels(True)) or load_kernels(False)


def _self_check(kern) -> bool:
    """Every kernel on a small product against NumPy (a module that computes wrong is not used);
    then every dequantize kernel (_dequant_check), whose failures drop only their types."""
    return _product_check(kern) and _dequant_check(kern)


def _dequant_check(kern) -> bool:
    """Each dq kernel on a few blocks of patterned bytes against the type's NumPy dequantizer, bit
    for bit; a type that differs leaves kern.dq (its weights then take the NumPy path). The f16
    scales (and the F16 and BF16 values) are kept finite: NaN payloads are the engine's business,
    not a sign that the kernel is wrong."""
    from ..formats.gguf import SCALE_FIELDS

    for name in list(kern.dq):
        q = _QUANT_BY_NAME[name]
        nb = 2 if q.block_size > 1 else 12              # F16, BF16: 8 values a vector, then 4 one by one
        raw = ((np.arange(nb * q.type_size) * 73 + 5) % 251).astype(np.uint8).reshape(nb, q.type_size)
        for off in SCALE_FIELDS.get(name, (0,)):
            raw[:, off + 1] &= 0xBF                     # the top exponent bit clear: finite, |value| < 2
        out = np.full(nb * q.block_size, np.nan, np.float32)
        kern.dq[name](kern.ptr(raw), kern.ptr(out), nb)
        if not np.array_equal(out.view(np.uint32), q.dequantize(raw).view(np.uint32)):
            del kern.dq[name]
    return True


def _product_check(kern) -> bool:
    """The product, attention, SwiGLU and RMSNorm kernels on small inputs against NumPy."""
    ptr, close = kern.ptr, lambda a, b: np.allclose(a, b, rtol=1e-5, atol=1e-30)
    w = np.arange(8 * 32, dtype=np.float32).reshape(8, 32) / 7
    x = np.arange(4 * 32, dtype=np.float32).reshape(4, 32) / 5
    ref = np.einsum("nj,ij->ni", x, w)
    y, y1, y2 = np.zeros((4, 8), np.float32), np.zeros((1, 5), np.float32), np.zeros((4, 8), np.float32)
    kern.mm(ptr(w), ptr(x), ptr(y), 8, 32, 4)
    kern.mv(ptr(w), ptr(x), ptr(y1), 5, 32)
    kern.mm_b(ptr(w), ptr(x), ptr(y2), 8, 32, 2, 2, 0, 2 * 32 * 4, 2 * 8 * 4)
    wt = np.ascontiguousarray(np.concatenate([w.T, w.T[::-1]], 1))           # (32, 16)
    z = np.zeros((4, 16), np.float32)
    kern.mmn_b(ptr(wt), ptr(x), ptr(z), 32, 16, 4, 32, 1, 0, 0, 0)
    s = np.array([[1, 2, 3, 4], [1, 2, 3, 4]], np.float32)
    kern.softmax_b(ptr(s), 2, 4, 2, 1, 1, 0)                                 # rows see 2 and 3 entries
    e = np.exp(np.array([-1, 0, -2, -1, 0]))
    ref_s = [[e[0] / e[:2].sum(), e[1] / e[:2].sum(), 0, 0], [*(e[2:] / e[2:].sum()), 0]]
    gu = np.linspace(-100, 100, 16, dtype=np.float32).reshape(2, 8)
    sw, nrm = np.zeros((2, 4), np.float32), np.zeros((2, 4), np.float32)
    kern.swiglu(ptr(gu), ptr(sw), 2, 4)
    g = gu[:, :4].astype(np.float64)
    kern.rms_norm(ptr(gu), ptr(w), ptr(nrm), 2, 4, 0.25, 1e-5)               # row 0 is gu[0, :4]
    ref_n = g / np.sqrt((g * g).mean(-1, keepdims=True) + 1e-5) * w[0, :4]
    return (close(y, ref) and close(y1, ref[:1, :5]) and close(y2, ref) and close(z, x @ wt)
            and close(s, ref_s) and close(sw, g / (1 + np.exp(-g)) * gu[:, 4:]) and close(nrm[0], ref_n[0]))


# Under Pyodide the kernels load on the first product, not at import: a page may install its kits
# table (ffi.install_kits) after `import webinfer`. BACKEND then says which path won.
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


def _kernels():
    """The Kernels where they run (Pyodide, loaded); None in CPython or where they won't load."""
    return None if BACKEND == "numpy-blas" else _simd()


_addresses: dict = {}   # id(array) -> (weakref to it, its address, float32 and C-contiguous)


def _lookup(kern, a: np.ndarray) -> tuple:
    """(address, float32 and C-contiguous) of a long-lived array (weights, norms, the KV cache, RoPE
    tables), worked out once while it lives: a pointer and the dtype and flags checks cost
    microseconds in Pyodide, and a decode step asks for hundreds."""
    hit = _addresses.get(id(a))
    if hit is None or hit[0]() is not a:
        hit = (weakref.ref(a, lambda _, key=id(a): _addresses.pop(key, None)), kern.ptr(a),
               a.dtype == np.float32 and a.flags.c_contiguous)
        _addresses[id(a)] = hit
    return hit[1], hit[2]


def _address(kern, a: np.ndarray) -> int:
    return _lookup(kern, a)[0]


def matmul_t(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """x (n, in) @ w (out, in)^T -> (n, out) float32."""
    if BACKEND == "numpy-blas":
        return x @ w.T
    n, cols = x.shape
    rows = w.shape[0]
    kern = _simd()
    pw, ok = _lookup(kern, w) if kern else (0, False)
    if ok and n and rows and cols:
        ptr = kern.ptr
        if n == 1 and cols % 16 == 0:                            # decode
            x = np.ascontiguousarray(x, dtype=np.float32)
            y = np.empty((1, rows), np.float32)
            kern.mv(pw, ptr(x), ptr(y), rows, cols)
            return y
        if n > 1 and rows % 4 == 0 and cols % 4 == 0:            # prefill: tokens in pairs, an odd
            m = n + n % 2                                        # count repeats its last (row dropped)
            x = np.ascontiguousarray(x if m == n else np.concatenate([x, x[-1:]]), dtype=np.float32)
            y = np.empty((m, rows), np.float32)
            kern.mm(pw, ptr(x), ptr(y), rows, cols, m)
            return y[:n]
    if n == 1:
        return np.einsum("ij,j->i", w, x[0])[None, :]
    return np.einsum("nj,ij->ni", x, w)


def dequantize(type_name: str, raw: np.ndarray, out: np.ndarray) -> bool:
    """Dequantize the uint8 block rows `raw` of a `type_name` weight into float32 `out` (rows, cols)
    with its wasm kernel (dq_<type>, bit for bit the NumPy dequantizer's result); False where that
    doesn't run: CPython, no kernels loaded, no kernel for the type, raw not uint8 C-contiguous
    bytes of whole blocks, out not float32 C-contiguous of their size. The caller then uses the
    type's NumPy dequantizer."""
    kern = _kernels()
    fn = kern.dq.get(type_name) if kern is not None else None
    if fn is None or raw.dtype != np.uint8 or out.dtype != np.float32:
        return False
    q = _QUANT_BY_NAME[type_name]
    nb = raw.size // q.type_size
    if (raw.size % q.type_size or out.size != nb * q.block_size or not raw.flags.c_contiguous
            or not out.flags.c_contiguous or not out.flags.writeable):
        return False
    if nb:
        fn(kern.ptr(raw), kern.ptr(out), nb)
    return True


def attend(q: np.ndarray, k: np.ndarray, v: np.ndarray, layer: int, pos: int, g: int, rows: int) -> np.ndarray | None:
    """Causal attention of q (n, KVH * g * hd), tokens at positions pos.., over a KV cache k, v
    (n_layers, KVH, n_ctx, hd) whose layer `layer` holds the keys and values of positions
    0..pos + n - 1 and whose heads have `rows` rows in memory (n_ctx rounded up to 4: mm reads keys
    in fours). Returns (n, KVH * g * hd) float32, or None where the kernels don't take it (the
    caller uses NumPy).

    Per block of ATTN_TOKENS tokens, each kernel once for every kv head: scores = (q / sqrt(hd)) K^T
    over the keys the block's last token sees (mm), a causal softmax in place (softmax), then
    probabilities @ V (mmn). Blocks skip the keys after their last token: about half the work of the
    full square for a long prompt."""
    kern = _kernels()
    _, kvh, _, hd = k.shape
    n = q.shape[0]
    hstride = rows * hd * 4                                      # bytes from one kv head to the next
    if (kern is None or hd % 16 or q.dtype != np.float32 or k.dtype != np.float32 or v.dtype != np.float32
            or k.strides[1:] != (hstride, hd * 4, 4) or v.strides != k.strides or pos + n > rows):
        return None
    pk = _address(kern, k) + layer * k.strides[0]
    pv = _address(kern, v) + layer * v.strides[0]
    scale = _scales.get(hd)
    if scale is None:
        scale = _scales[hd] = np.float32(1.0 / np.sqrt(hd))
    qv = q.reshape(n, kvh, g, hd)
    if n == 1:                                                   # decode: the block is the answer
        return _attend_block(kern, qv[0][:, None], pk, pv, pos, hstride, scale)[:, :g].reshape(1, -1)
    out = np.empty((n, kvh, g, hd), np.float32)
    for i0 in range(0, n, ATTN_TOKENS):
        b = min(ATTN_TOKENS, n - i0)
        ob = _attend_block(kern, qv[i0:i0 + b].transpose(1, 0, 2, 3), pk, pv, pos + i0, hstride, scale)
        out[i0:i0 + b] = ob[:, :b * g].reshape(kvh, b, g, hd).transpose(1, 0, 2, 3)
    return out.reshape(n, kvh * g * hd)


_scales: dict = {}   # head_dim -> float32 1 / sqrt(head_dim)


def _attend_block(kern, qb4, pk, pv, pos, hstride, scale) -> np.ndarray:
    """Attention of the tokens qb4 (KVH, b, g, hd) at positions pos..pos + b - 1, every kv head in
    one call of each kernel -> (KVH, rows, hd) with rows = b * g (+ 1 if odd), token-major."""
    kvh, b, g, hd = qb4.shape
    r = b * g                                                    # query rows per kv head, token-major
    rp = r + r % 2                                               # mm and mmn take rows in pairs
    tb = pos + b                                                 # keys the block's last token sees
    tp = (tb + 3) & ~3                                           # mm takes keys in fours
    buf = np.empty(kvh * rp * (2 * hd + tp), np.float32)         # q, out, scores: one pointer
    qb = buf[:kvh * rp * hd].reshape(kvh, rp, hd)                # (KVH, rows, hd), scaled
    np.multiply(qb4, scale, out=qb[:, :r].reshape(kvh, b, g, hd))
    if rp > r:
        qb[:, r:] = 0
    pq = kern.ptr(buf)
    po, ps = pq + kvh * rp * hd * 4, pq + 2 * kvh * rp * hd * 4
    kern.mm_b(pk, pq, ps, tp, hd, rp, kvh, hstride, rp * hd * 4, rp * tp * 4)      # scores (KVH, rows, tp)
    kern.softmax_b(ps, rp, tp, pos + 1, g, kvh, rp * tp * 4)                     # row i sees pos+i//g+1 keys
    kern.mmn_b(pv, ps, po, tb, hd, rp, tp, kvh, hstride, rp * tp * 4, rp * hd * 4)  # (KVH, rows, hd)
    return buf[kvh * rp * hd:2 * kvh * rp * hd].reshape(kvh, rp, hd)


def swiglu(gu: np.ndarray) -> np.ndarray | None:
    """silu(g) * u for gu = [g | u] (n, 2 * d_ff) float32 C-contiguous -> (n, d_ff), or None where the
    kernel doesn't take it."""
    kern = _kernels()
    n, two_d = gu.shape
    if kern is None or two_d % 8 or not n or gu.dtype != np.float32 or not gu.flags.c_contiguous:
        return None
    y = np.empty((n, two_d // 2), np.float32)
    kern.swiglu(kern.ptr(gu), kern.ptr(y), n, two_d // 2)
    return y


def rms_norm(x: np.ndarray, w: np.ndarray, eps: float) -> np.ndarray | None:
    """x / sqrt(mean(x^2) + eps) * w over rows of x (n, d) float32 C-contiguous, w (d,) float32
    -> (n, d), or None where the kernel doesn't take it."""
    kern = _kernels()
    n, d = x.shape
    if kern is None or d % 4 or not n or w.shape != (d,) or x.dtype != np.float32 or not x.flags.c_contiguous:
        return None
    pw, ok = _lookup(kern, w)
    if not ok:
        return None
    y = np.empty((n, d), np.float32)
    kern.rms_norm(kern.ptr(x), pw, kern.ptr(y), n, d, _inverse(d), float(eps))
    return y


_inverses: dict = {}   # d -> float32(1 / d) as a Python float


def _inverse(d: int) -> float:
    """float32(1 / d) as a Python float, as numpy_device's rms_norm scales by it."""
    inv = _inverses.get(d)
    if inv is None:
        inv = _inverses[d] = float(np.float32(1.0 / d))
    return inv


def rope_kv(qkv: np.ndarray, k: np.ndarray, v: np.ndarray, layer: int, pos: int, n_heads: int, rows: int,
            c: np.ndarray, s: np.ndarray, neox: bool) -> np.ndarray | None:
    """numpy_device.rope_kv with the rope kernel: qkv (n, (H + 2 KVH) hd) -> rotated q (n, H hd);
    the rotated keys and the values go to layer `layer` of the cache k, v (n_layers, KVH, n_ctx, hd)
    at positions pos..pos + n - 1. c, s: numpy_device._rope_full's tables (rows for pos + n
    positions at least). None where the kernel doesn't take it."""
    kern = _kernels()
    n, width = qkv.shape
    _, kvh, _, hd = k.shape
    hstride = rows * hd * 4
    if (kern is None or hd % 8 or width != (n_heads + 2 * kvh) * hd or qkv.dtype != np.float32
            or not qkv.flags.c_contiguous or k.strides[1:] != (hstride, hd * 4, 4) or k.dtype != np.float32
            or c.shape[1:] != (hd,) or s.shape != c.shape or c.shape[0] < pos + n
            or not (c.flags.c_contiguous and s.flags.c_contiguous and c.dtype == s.dtype == np.float32)):
        return None
    rope = kern.rope_neox if neox else kern.rope
    q = np.empty((n, n_heads * hd), np.float32)
    px, pc, ps = kern.ptr(qkv), _address(kern, c) + pos * hd * 4, _address(kern, s) + pos * hd * 4
    rope(px, kern.ptr(q), pc, ps, n, n_heads, hd, width * 4, n_heads * hd * 4, hd * 4)
    pk = _address(kern, k) + layer * k.strides[0] + pos * hd * 4
    rope(px + n_heads * hd * 4, pk, pc, ps, n, kvh, hd, width * 4, hd * 4, hstride)
    v[layer, :, pos:pos + n] = qkv[:, (n_heads + kvh) * hd:].reshape(n, kvh, hd).transpose(1, 0, 2)
    return q
