"""The numpy device: every op of the Device protocol in plain NumPy.

It is the ground truth the WGSL kernels are tested against and the fallback where there is
no GPU, so it favours clarity, but it is also the fast path on a CPU: weights are dequantized
once at load to float32 (BLAS sgemm/sgemv then does the work) as long as their float32 copies
fit F32_BUDGET, and every op is a handful of whole-array calls — no Python loop over heads or
tokens. The weights past the budget stay as the file's blocks (qmat.QMat, dequantized a tile at a
time inside the product), so a model bigger than memory would allow as float32 still loads, at
about the file's size. Inside Pyodide, whose NumPy has no BLAS
and no SIMD, blas.py's wasm kernels take the products, attention, SwiGLU and RMSNorm (each op here
asks blas first and keeps its NumPy code for where blas declines), and a decode step is recorded
once and replayed in one Python->JS call a token (numpy_step.py; the ops hand themselves to its
recorder while it records). GPT-2's ops (layer_norm, linear_gelu's GELU, store_kv, embed's
positions) are plain NumPy everywhere, and its decode step is not recorded (numpy_step.Unrecordable):
it runs op by op. BERT's (linear_gelu_erf, encoder_attention: models/bert.py) are plain
NumPy too; an encoder has no decode step.

Not here: quantized arithmetic on the codes themselves, anything GPU-specific.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np

from ..weights import QWeight
from . import blas, numpy_step
from .base import Capabilities
from .qmat import QMat

# Bytes of float32 weights a NumpyDevice expands (the fastest layout on a CPU): a model whose
# weights would take more as float32 keeps them all quantized (QMat), at about its file's size.
# Inside Pyodide the whole wasm32 heap is 4 GB and holds the file's bytes too: 640 MiB takes
# SmolLM2-135M's 540 MB and leaves a 0.5-1B model in its ~0.4-0.8 GB of blocks.
# (webinfer.fit copies the Pyodide budget to judge a model before loading it.)
F32_BUDGET_PYODIDE = 640 << 20
F32_BUDGET = F32_BUDGET_PYODIDE if sys.platform == "emscripten" else 2048 << 20


@dataclass
class NumpyKVCache:
    k: np.ndarray   # (n_layers, n_kv_heads, n_ctx, head_dim) float32, a view of (.., rows, head_dim)
    v: np.ndarray   # same
    rows: int       # rows each head has in memory: n_ctx rounded up to 4 (blas.attend reads keys in fours)

    @property
    def n_ctx(self) -> int:
        return self.k.shape[2]


class NumpyDevice:
    name = "numpy"
    caps = Capabilities(reference=True)
    record_decode = True   # replay decode steps recorded by numpy_step where it can (Pyodide's wasm kernels)

    def __init__(self, reason: str = "requested", f32_budget: int | None = None):
        self.description = f"numpy: {reason}"
        self.notes: list[str] = []    # the Device protocol's notes: the NumPy device has none to give
        # float32 bytes of weights still to expand; weights past it stay quantized (QMat)
        self.f32_left = F32_BUDGET if f32_budget is None else f32_budget
        self.f32_bytes = 0            # bytes of weights held as float32
        self.quantized_bytes = 0      # bytes of weights held as the file's blocks (QMat)
        self._rope_cache: dict = {}   # (theta, head_dim, neox) -> (cos, sin) tables, grown on demand
        self._steps: dict = {}        # replay's key -> numpy_step.DecodeStep, or None: not recordable
        self._recorder = None         # while numpy_step records a step, the ops go to its _Recorder

    # -- memory ------------------------------------------------------------------------------
    def plan_weights(self, f32_bytes: int) -> None:
        """All weights as float32 if they fit what is left of the budget, else all quantized (one
        speed for the whole model, and memory about the file's size where it matters)."""
        if f32_bytes > self.f32_left:
            self.f32_left = 0

    def weight(self, w: QWeight) -> tuple[np.ndarray | QMat, np.ndarray | None]:
        # float32 (rows, cols), C-contiguous: x @ W.T is one sgemm with a transposed operand; or,
        # past the budget, the blocks as they are (F32 ones are float32 already).
        size = 4 * w.rows * w.cols
        if size > self.f32_left and any(t != 0 for t in w.part_types):
            q = QMat.of(w)
            self.quantized_bytes += q.nbytes
            return q, w.bias
        self.f32_left -= size
        self.f32_bytes += size
        return np.ascontiguousarray(w.dequantize(), dtype=np.float32), w.bias

    def vector(self, v: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(v, dtype=np.float32)

    def kv_cache(self, n_layers, n_kv_heads, head_dim, n_ctx) -> NumpyKVCache:
        rows = -(-n_ctx // 4) * 4
        shape = (n_layers, n_kv_heads, rows, head_dim)
        return NumpyKVCache(np.zeros(shape, np.float32)[:, :, :n_ctx], np.zeros(shape, np.float32)[:, :, :n_ctx], rows)

    # -- ops ---------------------------------------------------------------------------------
    def embed(self, table, tokens, positions=None, pos=0) -> np.ndarray:
        if self._recorder is not None:
            if positions is not None:
                raise numpy_step.Unrecordable("learned position embeddings")
            return self._recorder.embed(table, tokens)
        w, _ = table
        if isinstance(w, QMat):
            y = w.take(tokens)                                         # only those rows dequantized
        else:
            y = w[np.asarray(tokens, dtype=np.int64)]                 # (n, d_model)
        if positions is not None:                                      # GPT-2: + rows pos..pos+n-1
            y = y + positions.reshape(-1, y.shape[1])[pos:pos + y.shape[0]]
        return y

    def rms_norm(self, x, w, eps) -> np.ndarray:
        if self._recorder is not None:
            return self._recorder.rms_norm(x, w, eps)
        y = blas.rms_norm(x, w, eps)                                   # wasm kernel (Pyodide)
        if y is not None:
            return y
        # One einsum for the sums of squares: np.mean's Python wrapper alone cost more than the
        # whole norm of a decode row in Pyodide.
        ss = np.einsum("ij,ij->i", x, x)                               # (n,) float32
        r = np.float32(1.0) / np.sqrt(ss * np.float32(1.0 / x.shape[-1]) + np.float32(eps))
        y = x * r[:, None]
        y *= w
        return y

    def layer_norm(self, x, w, b, eps) -> np.ndarray:
        if self._recorder is not None:
            raise numpy_step.Unrecordable("layer_norm")
        # two passes, in float32 as torch's LayerNorm: the mean, then the biased variance around it
        inv_n = np.float32(1.0 / x.shape[-1])
        d = x - (np.einsum("ij->i", x) * inv_n)[:, None]                # (n, d_model)
        var = np.einsum("ij,ij->i", d, d) * inv_n
        d *= (np.float32(1.0) / np.sqrt(var + np.float32(eps)))[:, None]
        d *= w
        d += b
        return d

    def linear_gelu(self, x, w) -> np.ndarray:
        if self._recorder is not None:
            raise numpy_step.Unrecordable("linear_gelu")
        return gelu_tanh(self.linear(x, w))                            # (n, out)

    def linear_gelu_erf(self, x, w) -> np.ndarray:
        return gelu_erf(self.linear(x, w))                             # (n, out)

    def encoder_attention(self, qkv, lengths, seq_len, n_heads, head_dim) -> np.ndarray:
        # (B * S, 3 * H * hd) -> q, k, v: (B, H, S, hd), contiguous. With BLAS (CPython) the stacked
        # matmul over a contiguous k^T is one sgemm a head (~15x faster than over a transposed
        # view); without (Pyodide) einsum beats matmul's plain loop.
        b = len(lengths)
        t = qkv.reshape(b, seq_len, 3, n_heads, head_dim)
        q, v = (np.ascontiguousarray(t[:, :, i].transpose(0, 2, 1, 3)) for i in (0, 2))
        if blas.BACKEND == "numpy-blas":
            s = np.matmul(q, np.ascontiguousarray(t[:, :, 1].transpose(0, 2, 3, 1)))   # (B, H, S, S)
        else:
            s = np.einsum("bhqd,bhkd->bhqk", q, np.ascontiguousarray(t[:, :, 1].transpose(0, 2, 1, 3)))
        s *= np.float32(1.0 / np.sqrt(head_dim))
        pad = np.arange(seq_len)[None, :] >= np.asarray(lengths)[:, None]   # (B, S): keys past a length
        if pad.any():
            s += np.where(pad, np.float32(-np.inf), np.float32(0))[:, None, None, :]
        s -= s.max(axis=-1, keepdims=True)
        np.exp(s, out=s)
        s /= s.sum(axis=-1, keepdims=True)
        o = np.matmul(s, v) if blas.BACKEND == "numpy-blas" else np.einsum("bhqk,bhkd->bhqd", s, v)
        return np.ascontiguousarray(o.transpose(0, 2, 1, 3)).reshape(b * seq_len, n_heads * head_dim)

    def tensor(self, a) -> np.ndarray:
        return np.ascontiguousarray(a, dtype=np.float32)

    def store_kv(self, qkv, cache, layer, pos, n_heads, n_kv_heads, head_dim) -> np.ndarray:
        if self._recorder is not None:
            raise numpy_step.Unrecordable("store_kv")
        n = qkv.shape[0]
        qd, kvd = n_heads * head_dim, n_kv_heads * head_dim
        cache.k[layer, :, pos:pos + n] = qkv[:, qd:qd + kvd].reshape(n, n_kv_heads, head_dim).transpose(1, 0, 2)
        cache.v[layer, :, pos:pos + n] = qkv[:, qd + kvd:].reshape(n, n_kv_heads, head_dim).transpose(1, 0, 2)
        return np.ascontiguousarray(qkv[:, :qd])                      # (n, q_dim)

    def linear(self, x, w, bias=None) -> np.ndarray:
        if self._recorder is not None:
            return self._recorder.linear(x, w, bias)
        mat, b = w
        y = mat.matmul_t(x) if isinstance(mat, QMat) else blas.matmul_t(x, mat)   # (n, out)
        if b is not None:
            y += b
        return y

    def linear_swiglu(self, x, w_gate_up) -> np.ndarray:
        if self._recorder is not None:
            return self._recorder.linear_swiglu(x, w_gate_up)
        gu = self.linear(x, w_gate_up)                                 # (n, 2 * d_ff)
        y = blas.swiglu(gu)                                            # wasm kernel (Pyodide)
        if y is not None:
            return y
        half = gu.shape[1] // 2
        g, u = gu[:, :half], gu[:, half:]
        t = np.negative(g)                                             # one temporary, reused in place
        np.exp(t, out=t)
        t += np.float32(1.0)
        np.divide(g, t, out=t)
        t *= u
        return t                                                       # (n, d_ff)

    def head_norm(self, qkv, q_w, k_w, n_heads, n_kv_heads, head_dim, eps) -> np.ndarray:
        if self._recorder is not None:
            return self._recorder.head_norm(qkv, q_w, k_w, n_heads, n_kv_heads, head_dim, eps)
        n = qkv.shape[0]
        qd, kvd = n_heads * head_dim, n_kv_heads * head_dim
        y = np.empty_like(qkv)                                         # (n, q_dim + 2 * kv_dim)
        # each head a row of its own: rms_norm over (n * heads, head_dim)
        for lo, heads, w in ((0, n_heads, q_w), (qd, n_kv_heads, k_w)):
            part = np.ascontiguousarray(qkv[:, lo:lo + heads * head_dim]).reshape(n * heads, head_dim)
            y[:, lo:lo + heads * head_dim] = self.rms_norm(part, w, eps).reshape(n, heads * head_dim)
        y[:, qd + kvd:] = qkv[:, qd + kvd:]
        return y

    def linear_geglu(self, x, w_gate_up) -> np.ndarray:
        if self._recorder is not None:
            raise numpy_step.Unrecordable("linear_geglu (no wasm kernel)")
        gu = self.linear(x, w_gate_up)                                 # (n, 2 * d_ff)
        half = gu.shape[1] // 2
        return gelu_tanh(gu[:, :half]) * gu[:, half:]                  # (n, d_ff)

    def scale(self, x, s) -> np.ndarray:
        if self._recorder is not None:
            raise numpy_step.Unrecordable("scale (no wasm kernel)")
        return x * np.float32(s)

    def softcap(self, x, cap) -> np.ndarray:
        if self._recorder is not None:
            raise numpy_step.Unrecordable("softcap (no wasm kernel)")
        return softcap(x, cap)

    def rope_kv(self, qkv, cache, layer, pos, n_heads, n_kv_heads, head_dim, theta, neox, freqs=None):
        if self._recorder is not None:
            return self._recorder.rope_kv(qkv, cache, layer, pos, n_heads, n_kv_heads, head_dim, theta, neox, freqs)
        n = qkv.shape[0]
        c, s = self._rope_full(theta, head_dim, neox, pos + n, freqs)
        q = blas.rope_kv(qkv, cache.k, cache.v, layer, pos, n_heads, cache.rows, c, s, neox)   # wasm kernel
        if q is not None:
            return q
        qd, kvd = n_heads * head_dim, n_kv_heads * head_dim
        # q and k heads sit side by side in qkv: rotate them together, (n, H + KVH, hd).
        qk = qkv[:, :qd + kvd].reshape(n, n_heads + n_kv_heads, head_dim)
        v = qkv[:, qd + kvd:].reshape(n, n_kv_heads, head_dim)         # (n, KVH, hd)
        qk = _rotate_full(qk, c[pos:pos + n, None, :], s[pos:pos + n, None, :], neox)
        cache.k[layer, :, pos:pos + n] = qk[:, n_heads:].transpose(1, 0, 2)
        cache.v[layer, :, pos:pos + n] = v.transpose(1, 0, 2)
        return qk[:, :n_heads].reshape(n, qd)

    def attention(self, q, cache, layer, pos, n_heads, n_kv_heads, head_dim, scale=0.0, window=0,
                  softcap=0.0) -> np.ndarray:
        plain = not (window or softcap or (scale and scale != 1.0 / np.sqrt(head_dim)))
        if self._recorder is not None:
            if not plain:
                raise numpy_step.Unrecordable("windowed, soft-capped or rescaled attention")
            return self._recorder.attention(q, cache, layer, pos, n_heads, n_kv_heads, head_dim)
        n = q.shape[0]
        t = pos + n                                                    # keys visible to the last row
        g = n_heads // n_kv_heads                                      # query heads per kv head
        if not plain:
            return _attend_gemma(q, cache.k[layer, :, :t], cache.v[layer, :, :t], pos, g, head_dim,
                                 scale or float(1.0 / np.sqrt(head_dim)), window, softcap)
        o = blas.attend(q, cache.k, cache.v, layer, pos, g, cache.rows)   # wasm kernels (Pyodide)
        if o is not None:
            return o
        if n == 1:
            return _attend_one(q, cache.k[layer, :, :t], cache.v[layer, :, :t], g, head_dim)
        # Group the query heads that share a kv head into one matrix per kv head, rows (g, n).
        qh = q.reshape(n, n_kv_heads, g, head_dim).transpose(1, 2, 0, 3).reshape(n_kv_heads, g * n, head_dim)
        k = cache.k[layer, :, :t]                                      # (KVH, t, hd)
        v = cache.v[layer, :, :t]                                      # (KVH, t, hd)
        s = np.matmul(qh, k.transpose(0, 2, 1))                        # (KVH, g*n, t)
        s *= np.float32(1.0 / np.sqrt(head_dim))
        if n > 1:
            # row r is token r % n at position pos + r % n; it sees keys 0..pos + r % n.
            qpos = pos + np.tile(np.arange(n), g)                      # (g*n,)
            s[:, np.arange(t)[None, :] > qpos[:, None]] = -np.inf
        s -= s.max(axis=-1, keepdims=True)
        np.exp(s, out=s)
        s /= s.sum(axis=-1, keepdims=True)
        o = np.matmul(s, v)                                            # (KVH, g*n, hd)
        return o.reshape(n_kv_heads, g, n, head_dim).transpose(2, 0, 1, 3).reshape(n, n_heads * head_dim)

    def add(self, a, b) -> np.ndarray:
        if self._recorder is not None:
            return self._recorder.add(a, b)
        return a + b

    def last_row(self, x) -> np.ndarray:
        if self._recorder is not None:
            return self._recorder.last_row(x)
        return x[-1:]

    def argmax(self, logits) -> np.ndarray:
        return np.argmax(logits, axis=-1).astype(np.int32)

    async def read(self, x) -> np.ndarray:
        return np.asarray(x)

    def read_sync(self, x) -> np.ndarray:
        return np.asarray(x)

    def replay(self, key, forward, token, pos) -> np.ndarray:
        """One decode step. Inside Pyodide the step is recorded on first use for `key` and replayed
        in one Python->JS call (numpy_step); elsewhere, or where it can't be recorded, forward runs."""
        step = self._steps.get(key, _UNSET) if self.record_decode else None
        if step is _UNSET:
            step = self._steps[key] = numpy_step.record(self, forward, token, pos)
        if step is None:
            return forward(np.asarray(token, dtype=np.int64).reshape(-1), pos)
        return step.run(token, pos)

    def decode_path(self) -> str:
        """How decode steps run: a recorded step replayed by one Python->JS call (Pyodide), or op by op."""
        if any(step is not None for step in self._steps.values()):
            return "replayed: the recorded step, one Python->JS call a token"
        return "op by op" + ("" if self.record_decode else " (recording off)")

    def dispatch_count(self) -> int:
        return 0

    async def check_errors(self) -> None:
        """Errors here raise where they happen."""

    # -- helpers -----------------------------------------------------------------------------
    def _rope_full(self, theta, head_dim, neox, n_pos, freqs=None):
        """Full-width (n_pos, hd) tables for _rotate_full: cos on both elements of a pair; sin with
        the sign of the partner's term (-sin on the first, +sin on the second)."""
        key = (theta, head_dim, neox, _freqs_key(freqs))
        tabs = self._rope_cache.get(key)
        if tabs is None or tabs[0].shape[0] < n_pos:
            cos, sin = self._rope_tables(theta, head_dim, n_pos, freqs)
            if neox:
                c, s = np.concatenate([cos, cos], -1), np.concatenate([-sin, sin], -1)
            else:
                c, s = np.repeat(cos, 2, -1), np.stack([-sin, sin], -1).reshape(cos.shape[0], head_dim)
            tabs = (np.ascontiguousarray(c), np.ascontiguousarray(s))
            self._rope_cache[key] = tabs
        return tabs

    def _rope_tables(self, theta, head_dim, n_pos, freqs=None):
        key = (theta, head_dim, _freqs_key(freqs))
        tabs = self._rope_cache.get(key)
        if tabs is None or tabs[0].shape[0] < n_pos:
            size = max(n_pos, 2 * (tabs[0].shape[0] if tabs else 256))
            tabs = rope_tables(theta, head_dim, size, freqs)
            self._rope_cache[key] = tabs
        return tabs


_UNSET = object()


def rope_inv_freq(theta: float, head_dim: int) -> np.ndarray:
    """theta^(-2i/head_dim), i < head_dim/2, in float32 as HF computes its inverse frequencies."""
    return (1.0 / (np.float32(theta) ** (np.arange(0, head_dim, 2, dtype=np.float32) / np.float32(head_dim)))
            ).astype(np.float32)


def rope_tables(theta: float, head_dim: int, n_pos: int, freqs=None) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin, float32 (n_pos, head_dim/2): angle = pos * theta^(-2i/head_dim), as HF computes it
    (inverse frequencies and angles in float32); freqs: other inverse frequencies (head_dim/2,), such
    as Llama 3's scaled ones, used instead."""
    inv = rope_inv_freq(theta, head_dim) if freqs is None else np.asarray(freqs, np.float32).reshape(-1)
    if inv.shape != (head_dim // 2,):
        raise ValueError(f"RoPE frequencies of shape {inv.shape} for head_dim {head_dim}")
    ang = np.arange(n_pos, dtype=np.float32)[:, None] * inv[None, :]
    return np.cos(ang).astype(np.float32), np.sin(ang).astype(np.float32)


def gelu_tanh(y: np.ndarray) -> np.ndarray:
    """GELU's tanh form in float32 as torch computes it (PyTorch's gelu(approximate="tanh"): HF's
    gelu_new for GPT-2, gelu_pytorch_tanh for Gemma): 0.5 y (1 + tanh(sqrt(2/pi) (y + 0.044715 y^3))).
    y itself is left as it is; the work is done in place on one temporary."""
    y = np.asarray(y, np.float32)
    t = y * y
    t *= y
    t *= np.float32(0.044715)
    t += y
    t *= np.float32(np.sqrt(2.0 / np.pi))
    np.tanh(t, out=t)
    t += np.float32(1.0)
    t *= y
    t *= np.float32(0.5)
    return t


# erf(z) ~ 1 - t (a1 + t (a2 + t (a3 + t (a4 + t a5)))) exp(-z^2), t = 1 / (1 + p |z|), odd in z:
# Abramowitz & Stegun 7.1.26, |error| < 1.5e-7 (Pyodide's NumPy has no erf, and scipy is optional).
# The WGSL twin (gelu.wgsl, ERF) evaluates the same polynomial.
ERF_P, ERF_A = 0.3275911, (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)


def gelu_erf(y: np.ndarray) -> np.ndarray:
    """GELU's exact form, 0.5 y (1 + erf(y / sqrt 2)) (torch's gelu, HF's "gelu": BERT's MLP), in
    float32 through ERF_A's polynomial (as gelu.wgsl's ERF), in place on two temporaries; y is left
    as it is. With h = 0.5 (1 - erf(|y| / sqrt 2)) (the normal tail past |y|), gelu(y) is y h below
    0 and y - y h above. Within 1.3e-6 of torch's float32 gelu (tests/kernels/test_bert_ops.py)."""
    y = np.asarray(y, np.float32)
    z = np.abs(y)
    z *= np.float32(1.0 / np.sqrt(2.0))                             # |y| / sqrt 2
    t = z * np.float32(ERF_P)
    t += np.float32(1.0)
    np.reciprocal(t, out=t)                                         # t = 1 / (1 + p z)
    a1, a2, a3, a4, a5 = (np.float32(0.5 * a) for a in ERF_A)       # (the 0.5 of h folded in)
    h = t * a5
    for a in (a4, a3, a2, a1):
        h += a
        h *= t
    np.square(z, out=z)
    np.negative(z, out=z)
    np.exp(z, out=z)
    h *= z                                                          # h
    h *= y                                                          # y h
    np.subtract(y, h, out=h, where=y >= 0)                          # y - y h where y >= 0
    return h


def softcap(x: np.ndarray, cap: float) -> np.ndarray:
    """tanh(x / cap) * cap, float32 (Gemma 2's logit soft-capping, as HF computes it)."""
    c = np.float32(cap)
    return np.tanh(np.asarray(x, np.float32) / c) * c


def _attend_gemma(q, k, v, pos, g, head_dim, scale, window, cap):
    """Attention of q (n, H*hd) at positions pos.. over k, v (KVH, t, hd) with HF Gemma's order:
    scores (q . k) * scale, soft-cap, the causal (and, window > 0, sliding-window: key j seen by the
    query at p when p - j < window) mask, softmax in float32."""
    n = q.shape[0]
    kvh, t, _ = k.shape
    qh = q.reshape(n, kvh, g, head_dim).transpose(1, 2, 0, 3).reshape(kvh, g * n, head_dim)
    s = np.matmul(qh, k.transpose(0, 2, 1))                           # (KVH, g*n, t)
    s *= np.float32(scale)
    if cap:
        s = softcap(s, cap)
    qpos = pos + np.tile(np.arange(n), g)                              # row r: token r % n
    j = np.arange(t)[None, :]
    hide = j > qpos[:, None]
    if window:
        hide |= qpos[:, None] - j >= window
    s[:, hide] = -np.inf
    s -= s.max(axis=-1, keepdims=True)
    np.exp(s, out=s)
    s /= s.sum(axis=-1, keepdims=True)
    o = np.matmul(s, v)                                                # (KVH, g*n, hd)
    return o.reshape(kvh, g, n, head_dim).transpose(2, 0, 1, 3).reshape(n, kvh * g * head_dim)


def _freqs_key(freqs):
    """A cache key for optional RoPE frequencies."""
    return None if freqs is None else np.asarray(freqs, np.float32).tobytes()


def _attend_one(q, k, v, g, head_dim):
    """Decode attention of one query row q (1, H*hd) over k, v (KVH, t, hd), no mask needed.
    Scales q (H*hd values) rather than the scores and normalises the output (H*hd) rather than the
    probabilities: fewer, smaller array ops; 3.4x faster than the general path in Pyodide at t=60."""
    kvh = k.shape[0]
    qh = q.reshape(kvh, g, head_dim) * np.float32(1.0 / np.sqrt(head_dim))   # (KVH, g, hd)
    s = np.matmul(qh, k.transpose(0, 2, 1))                              # (KVH, g, t)
    s -= s.max(axis=-1, keepdims=True)
    np.exp(s, out=s)
    o = np.matmul(s, v)                                                  # (KVH, g, hd)
    o /= s.sum(axis=-1, keepdims=True)
    return o.reshape(1, kvh * g * head_dim)


def _rotate_full(x, c, s, neox):
    """x (n, heads, hd) rotated by full-width tables c, s (n, 1, hd) from _rope_full:
    x * c + partner(x) * s, where partner swaps the two elements of each pair. Bit-identical to the
    pairwise a*cos - b*sin, a*sin + b*cos (a*cos - b*sin == a*cos + b*(-sin) in IEEE arithmetic), in
    4 array ops instead of ~8, and q and k in one call (half the time of a decode layer's rotation
    in Pyodide)."""
    hd = x.shape[-1]
    if neox:
        half = hd // 2
        p = np.empty_like(x)
        p[..., :half] = x[..., half:]
        p[..., half:] = x[..., :half]
    else:
        p = x.reshape(*x.shape[:-1], hd // 2, 2)[..., ::-1].reshape(x.shape)   # a copy
    p *= s
    y = x * c
    y += p
    return y
