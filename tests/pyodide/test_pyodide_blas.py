"""blas inside Pyodide (Node and Chromium): the wasm SIMD kernels against float64 NumPy.

What this covers: the kernels load (BACKEND "wasm-simd"), fused (relaxed SIMD) exactly where the
engine compiles relaxed SIMD (Chromium; not Node 20); mv (one row: decode) and mm (pairs of rows:
prefill, an odd count padded) give x @ W^T on awkward and on the real model's
shapes, the shapes they take run on them (calls counted) and the ones they don't fall back to
einsum; causal attention over a KV cache (mm_b, softmax_b, mmn_b through blas.attend), the softmax
and mmn kernels on their edge cases, SwiGLU, RMSNorm and RoPE, each through the NumpyDevice op and
with its NumPy fallback. Where the fused kernels load, every check runs on them and on the plain ones.
Needs no model: random weights.
"""

from __future__ import annotations

import pytest
from pytest_pyodide import run_in_pyodide

pytestmark = [pytest.mark.pyodide]

# (n tokens, rows, cols): the real model's (SmolLM2-135M) products (chat-prompt sizes too), then awkward ones.
REAL = [(n, r, c) for n in (1, 2, 7, 40) for r, c in ((3072, 576), (576, 1536), (960, 576), (576, 576))]
REAL += [(1, 49152, 576), (3, 49152, 576), (146, 960, 576), (129, 576, 576), (128, 64, 32)]
AWKWARD = [(1, 1, 16), (1, 3, 32), (1, 5, 48), (1, 4, 20), (1, 7, 8), (1, 2, 3),
           (2, 4, 4), (3, 4, 4), (5, 8, 12), (4, 12, 36), (9, 20, 100), (2, 6, 16), (3, 4, 18), (2, 1, 1)]

# (n query tokens, pos, kv heads, g query heads per kv head, head_dim, n_ctx): SmolLM2's attention
# (3 kv heads x 3, hd 64) at a decode step, a chat prompt and past a block of ATTN_TOKENS = 64;
# GQA ratios 1, 3, 4; n_ctx not a multiple of 4; a context filled to its last row; head_dim 8 (no kernel).
ATTENTION = [(1, 0, 3, 3, 64, 64), (1, 39, 3, 3, 64, 4096), (39, 0, 3, 3, 64, 4096), (146, 0, 3, 3, 64, 4096),
             (2, 0, 1, 1, 16, 5), (3, 1, 2, 4, 32, 9), (31, 2, 3, 3, 64, 37), (32, 1, 1, 4, 128, 33),
             (33, 0, 2, 1, 16, 33), (63, 1, 3, 3, 64, 67), (64, 0, 3, 3, 64, 64), (65, 61, 3, 3, 64, 130),
             (130, 3, 1, 3, 16, 133), (1, 132, 3, 3, 64, 133), (5, 0, 2, 2, 8, 7)]


def _fits(n, rows, cols):
    return ("mv" if cols % 16 == 0 else None) if n == 1 else ("mm" if rows % 4 == 0 and cols % 4 == 0 else None)


@pytest.fixture(scope="module")
def cases() -> list[tuple[int, int, int, str]]:
    """(n, rows, cols, the kernel that must run it: "mv", "mm" or "einsum")."""
    return [(n, r, c, _fits(n, r, c) or "einsum") for n, r, c in REAL + AWKWARD]


@pytest.fixture(scope="module")
def attention_cases() -> list[tuple[int, int, int, int, int, int]]:
    return ATTENTION


@run_in_pyodide
def test_kernels_match_numpy(selenium_webinfer, cases):
    import js
    import numpy as np
    from pyodide.ffi import to_js
    from webinfer.device import blas
    from webinfer.device.wasm_kernels import wasm_module

    kern = blas._simd()
    assert kern is not None, "the wasm kernels did not load"
    assert blas.BACKEND == "wasm-simd"
    assert kern.fused == bool(js.WebAssembly.validate(to_js(wasm_module(True))))   # fused wherever it compiles
    errors, wrong_kernel = [], []
    for ks in [kern] + ([blas.load_kernels(False)] if kern.fused else []):
        # count the calls of each product kernel
        originals = {name: getattr(ks, name) for name in ("mv", "mm", "mm_b")}
        calls = dict.fromkeys(originals, 0)

        def counted(name, fn):
            def call(*args):
                calls[name] += 1
                return fn(*args)
            return call

        for name, fn in originals.items():
            setattr(ks, name, counted(name, fn))
        blas._SIMD = ks
        rng = np.random.default_rng(0)
        try:
            for n, rows, cols, kernel in cases:
                w = rng.standard_normal((rows, cols), dtype=np.float32)
                x = rng.standard_normal((n, cols), dtype=np.float32)
                before = dict(calls)
                y = blas.matmul_t(x, w)
                ref = x.astype(np.float64) @ w.T.astype(np.float64)
                err = float(np.abs(y - ref).max() / (1 + np.abs(ref).max()))
                used = sorted(k for k in calls if calls[k] > before[k]) or ["einsum"]
                if used != [kernel]:
                    wrong_kernel.append((ks.fused, n, rows, cols, used, kernel))
                if y.shape != (n, rows) or y.dtype != np.float32 or not err < 1e-5:
                    errors.append((ks.fused, n, rows, cols, y.shape, str(y.dtype), err))
            # a weight that is not C-contiguous, and a strided x, still give the right answer
            w = rng.standard_normal((64, 96), dtype=np.float32)
            x = rng.standard_normal((3, 192), dtype=np.float32)[:, ::2]
            for ww in (w, np.asfortranarray(w)):
                if not np.allclose(blas.matmul_t(x, ww), x @ ww.T, rtol=1e-4, atol=1e-4):
                    errors.append((ks.fused, "layout", ww.flags.c_contiguous))
        finally:
            for name, fn in originals.items():
                setattr(ks, name, fn)
            blas._SIMD = kern
    assert errors == []
    assert wrong_kernel == []   # (fused, n, rows, cols, kernels used, kernel expected)


@run_in_pyodide
def test_attention_matches_float64(selenium_webinfer, attention_cases):
    """NumpyDevice.attention (blas.attend's kernels: mm_b, softmax_b, mmn_b) against float64 softmax
    attention, key by key, on the cases above; keys past a token's position hold huge garbage and
    another layer NaN, which the causal mask and the layer offset must keep out."""
    import numpy as np
    from webinfer.device import blas
    from webinfer.device.numpy_device import NumpyDevice

    kern = blas._simd()
    assert kern is not None and blas.BACKEND == "wasm-simd"
    dev = NumpyDevice()
    errors, paths = [], []
    for ks in [kern] + ([blas.load_kernels(False)] if kern.fused else []):
        blas._SIMD, rng = ks, np.random.default_rng(1)
        try:
            for n, pos, kvh, g, hd, ctx in attention_cases:
                cache = dev.kv_cache(2, kvh, hd, ctx)
                t = pos + n
                cache.k[1, :, :t] = rng.standard_normal((kvh, t, hd), dtype=np.float32) * 2
                cache.v[1, :, :t] = rng.standard_normal((kvh, t, hd), dtype=np.float32)
                cache.k[1, :, t:], cache.k[0], cache.v[0] = 1e30, np.nan, np.nan
                q = rng.standard_normal((n, kvh * g * hd), dtype=np.float32) * 2
                paths.append(blas.attend(q, cache.k, cache.v, 1, pos, g, cache.rows) is not None)
                o = dev.attention(q, cache, 1, pos, kvh * g, kvh, hd)
                k, v = cache.k[1].astype(np.float64), cache.v[1].astype(np.float64)
                qh = q.reshape(n, kvh, g, hd).astype(np.float64)
                ref = np.empty((n, kvh, g, hd))
                for i in range(n):
                    s = np.einsum("hgd,htd->hgt", qh[i], k[:, :pos + i + 1]) / np.sqrt(hd)
                    p = np.exp(s - s.max(-1, keepdims=True))
                    ref[i] = np.einsum("hgt,htd->hgd", p / p.sum(-1, keepdims=True), v[:, :pos + i + 1])
                ref = ref.reshape(n, -1)
                bad = ~(np.abs(o - ref) <= 2e-5 + 1e-4 * np.abs(ref))
                if o.shape != ref.shape or o.dtype != np.float32 or bad.any():
                    errors.append((ks.fused, (n, pos, kvh, g, hd, ctx), np.argwhere(bad)[:3].tolist(),
                                   float(np.abs(o - ref).max())))
        finally:
            blas._SIMD = kern
    assert errors == []   # (fused, case, first mismatches, largest error)
    n_sets = 2 if kern.fused else 1
    assert paths == [hd % 16 == 0 for *_, hd, _ in attention_cases] * n_sets   # kernels took every head_dim they can


@run_in_pyodide
def test_softmax_and_mmn_kernels_on_awkward_rows(selenium_webinfer):
    """The two attention kernels called directly: softmax_b on rows that see 1 key, on scores far
    apart (exp underflows to 0), with inf and NaN past each row's keys, over a batch of 2; mmn_b
    with a sum length that is not a multiple of 4, rows further apart than it, 16 to 128 columns."""
    import numpy as np
    from webinfer.device import blas

    kern = blas._simd()
    errors = []
    for ks in [kern] + ([blas.load_kernels(False)] if kern.fused else []):
        ptr, rng = ks.ptr, np.random.default_rng(2)
        for rows, ld, lim0, g in ((2, 4, 1, 1), (6, 8, 1, 3), (4, 12, 9, 2), (8, 64, 3, 4), (2, 4, 4, 1)):
            s = (rng.standard_normal((2, rows, ld)) * np.array([1, 300])[:, None, None]).astype(np.float32)
            lim = np.minimum(lim0 + np.arange(rows) // g, ld)       # keys each row sees
            ref = np.zeros(s.shape)
            for b in range(2):
                for r in range(rows):
                    x = s[b, r, :lim[r]].astype(np.float64)
                    ref[b, r, :lim[r]] = np.exp(x - x.max()) / np.exp(x - x.max()).sum()
                    s[b, r, lim[r]:] = [np.inf, np.nan, -np.inf, 1e38][r % 4]
            ks.softmax_b(ptr(s), rows, ld, lim0, g, 2, rows * ld * 4)
            if not np.allclose(s, ref, rtol=1e-5, atol=1e-7):
                errors.append((ks.fused, "softmax", rows, ld, lim0, g, float(np.nanmax(np.abs(s - ref)))))
        for k, cols, ntok, ldx in ((1, 16, 2, 4), (5, 16, 4, 8), (37, 64, 6, 40), (64, 128, 2, 64), (130, 32, 10, 132)):
            w = rng.standard_normal((2, k, cols), dtype=np.float32)
            x = rng.standard_normal((2, ntok, ldx), dtype=np.float32)
            y = np.zeros((2, ntok, cols), np.float32)
            ks.mmn_b(ptr(w), ptr(x), ptr(y), k, cols, ntok, ldx, 2, k * cols * 4, ntok * ldx * 4, ntok * cols * 4)
            ref = np.einsum("bnj,bjc->bnc", x[:, :, :k].astype(np.float64), w)
            if not np.allclose(y, ref, rtol=1e-5, atol=1e-5):
                errors.append((ks.fused, "mmn", k, cols, ntok, ldx, float(np.abs(y - ref).max())))
    assert errors == []


@run_in_pyodide
def test_swiglu_and_rms_norm_match_numpy(selenium_webinfer):
    """NumpyDevice.linear_swiglu's SwiGLU and rms_norm (the swiglu and rms_norm kernels) against
    float64 on SmolLM2's widths, awkward ones, and gate values from -100 to 100 (exp clamped at the
    ends); widths the kernels don't take fall back to NumPy and stay right."""
    import numpy as np
    from webinfer.device import blas
    from webinfer.device.numpy_device import NumpyDevice

    assert blas._simd() is not None
    dev, rng = NumpyDevice(), np.random.default_rng(3)
    errors, took = [], []
    for n, d in ((1, 1536), (2, 4), (7, 12), (146, 1536), (3, 6)):
        gu = rng.standard_normal((n, 2 * d), dtype=np.float32) * 4
        gu[0, :4] = [-100, 100, 0, -0.0][:min(4, d)]
        took.append(blas.swiglu(gu) is not None)
        eye = (np.eye(2 * d, dtype=np.float32), None)               # linear_swiglu's product is then gu
        y = dev.linear_swiglu(gu, eye)
        g, u = gu[:, :d].astype(np.float64), gu[:, d:].astype(np.float64)
        ref = g / (1 + np.exp(-g)) * u
        if y.shape != (n, d) or not np.allclose(y, ref, rtol=1e-5, atol=1e-6):
            errors.append(("swiglu", n, d, float(np.abs(y - ref).max())))
    for n, d in ((1, 576), (2, 4), (146, 576), (3, 6)):
        x = rng.standard_normal((n, d), dtype=np.float32) * 3
        x[0] *= 1e-3                                                # a row near eps
        w = rng.standard_normal(d, dtype=np.float32)
        took.append(blas.rms_norm(x, w, 1e-5) is not None)
        y = dev.rms_norm(x, w, 1e-5)
        xd = x.astype(np.float64)
        ref = xd / np.sqrt((xd * xd).mean(-1, keepdims=True) + 1e-5) * w
        if y.shape != (n, d) or not np.allclose(y, ref, rtol=1e-5, atol=1e-6):
            errors.append(("rms_norm", n, d, float(np.abs(y - ref).max())))
    assert errors == []
    assert took == [True, True, True, True, False, True, True, True, False]


@run_in_pyodide
def test_rope_kv_equals_numpy_bit_for_bit(selenium_webinfer):
    """NumpyDevice.rope_kv through the rope kernels (adjacent and NeoX pairs) against its own NumPy
    code (blas switched off): q, and the keys and values it writes into the cache, equal to the bit
    (the kernel computes (x * c) + (partner * s) as NumPy does); head_dim 4 falls back to NumPy."""
    import numpy as np
    from webinfer.device import blas
    from webinfer.device.numpy_device import NumpyDevice

    kern = blas._simd()
    assert kern is not None
    dev, rng = NumpyDevice(), np.random.default_rng(4)
    diffs, took = [], []
    for neox in (False, True):
        for n, pos, heads, kvh, hd, ctx in ((1, 0, 9, 3, 64, 64), (5, 3, 9, 3, 64, 9), (146, 0, 9, 3, 64, 4096),
                                            (3, 7, 4, 2, 8, 10), (2, 0, 2, 1, 4, 2)):
            qkv = rng.standard_normal((n, (heads + 2 * kvh) * hd), dtype=np.float32)
            caches, qs = [dev.kv_cache(2, kvh, hd, ctx), dev.kv_cache(2, kvh, hd, ctx)], []
            c, s = dev._rope_full(10000.0, hd, neox, pos + n)
            took.append(blas.rope_kv(qkv, caches[0].k, caches[0].v, 1, pos, heads, caches[0].rows, c, s, neox)
                        is not None)
            for cache, simd in zip(caches, (kern, None)):
                blas._SIMD, blas.BACKEND = simd, "wasm-simd" if simd else "numpy-einsum"
                try:
                    qs.append(dev.rope_kv(qkv, cache, 1, pos, heads, kvh, hd, 10000.0, neox))
                finally:
                    blas._SIMD, blas.BACKEND = kern, "wasm-simd"
            same = [np.array_equal(qs[0], qs[1]), np.array_equal(caches[0].k, caches[1].k),
                    np.array_equal(caches[0].v, caches[1].v)]
            if not all(same) or qs[0].shape != (n, heads * hd):
                diffs.append((neox, n, pos, heads, kvh, hd, same))
    assert diffs == []   # (neox, case, [q, k, v equal])
    assert took == [True, True, True, True, False] * 2


# (n_layers, d_model, n_heads, n_kv_heads, head_dim, d_ff, n_ctx, neox, qkv_bias): the recorded step on a
# llama-like model (GQA 2, n_ctx not a multiple of 4, decoded to its last row), a qwen2-like one (NeoX
# pairs, q/k/v biases, GQA 3: an odd group padded to a pair), and head_dim 8, which it doesn't take.
STEP_MODELS = [(2, 64, 4, 2, 16, 64, 13, False, False), (2, 192, 6, 2, 32, 96, 9, True, True),
               (1, 32, 4, 2, 8, 32, 6, False, False)]


@pytest.fixture(scope="module")
def step_models():
    return STEP_MODELS


@run_in_pyodide
def test_recorded_decode_step_equals_the_plain_forward_bit_for_bit(selenium_webinfer, step_models):
    """NumpyDevice.replay (numpy_step: the step recorded once, replayed in one JS call a token) against
    the plain forward on the same random model, prompt and tokens: every step's logits and the whole KV
    cache equal to the bit, one kit call a token, forward called only to record; a model the recorder
    doesn't take (head_dim 8) runs the plain forward. Then a bad token and a full cache raise."""
    import numpy as np
    import pytest
    from webinfer.config import ModelConfig
    from webinfer.device import blas, numpy_step
    from webinfer.device.numpy_device import NumpyDevice
    from webinfer.errors import ContextLengthError, WebinferError
    from webinfer.models.llama import Layer, Llama

    kern = blas._simd()
    assert kern is not None
    rng, errors, recorded = np.random.default_rng(5), [], []
    for ks in [kern] + ([blas.load_kernels(False)] if kern.fused else []):
        blas._SIMD = ks
        try:
            for n_layers, d, nh, kvh, hd, ff, ctx, neox, bias in step_models:
                cfg = ModelConfig("llama", "random", n_layers, d, ff, nh, kvh, hd, 50, 64, 1e-5, 10000.0, hd,
                                  neox, True, bias)
                f32 = lambda *s: rng.standard_normal(s, dtype=np.float32) / np.float32(np.sqrt(s[-1]))   # noqa: E731
                qkv_rows = (nh + 2 * kvh) * hd
                layers = [Layer(1 + f32(d), (f32(qkv_rows, d), f32(qkv_rows) if bias else None), (f32(d, nh * hd), None),
                                1 + f32(d), (f32(2 * ff, d), None), (f32(d, ff), None)) for _ in range(n_layers)]
                emb, out_norm = (f32(50, d) * np.float32(4), None), 1 + f32(d)
                runs = []
                for replay in (False, True):
                    dev = NumpyDevice()
                    dev.record_decode = replay
                    llama, cache = Llama(cfg, dev, layers, emb, out_norm, emb), dev.kv_cache(n_layers, kvh, hd, ctx)
                    calls = [0]

                    def forward(t, p, llama=llama, cache=cache, calls=calls):
                        calls[0] += 1
                        return llama.forward(t, p, cache)

                    logits, steps = llama.forward([3, 1, 4], 0, cache), []
                    kit_before = numpy_step._kit.calls if numpy_step._kit else 0
                    for pos in range(3, ctx):
                        logits = dev.replay(("decode", id(cache)), forward, int(np.argmax(logits)), pos)
                        steps.append(logits)
                    step = dev._steps.get(("decode", id(cache)))
                    kit_calls = (numpy_step._kit.calls if numpy_step._kit else 0) - kit_before
                    runs.append((steps, cache, calls[0], step, kit_calls, dev.decode_path()))
                (plain, c0, n0, _, _, path0), (rep, c1, n1, step, kit_calls, path1) = runs
                recorded.append(step is not None)
                # the device says how its decode steps ran
                assert path0 == "op by op (recording off)"
                assert path1.startswith("replayed: ") if step is not None else path1 == "op by op", path1
                same = [bool(np.array_equal(a, b)) for a, b in zip(plain, rep)]
                cache_same = np.array_equal(c0.k, c1.k) and np.array_equal(c0.v, c1.v)
                # recorded: forward once (to record); kit: to_js and define once, then one run a token.
                # Not recorded: forward for the try, then for every step.
                calls_ok = (n1 == 1 and kit_calls == 2 + (ctx - 3)) if step else n1 == 1 + (ctx - 3)
                if not all(same) or not cache_same or n0 != ctx - 3 or not calls_ok:
                    errors.append((ks.fused, hd, same, cache_same, n0, n1, kit_calls))
                if step is not None:
                    with pytest.raises(WebinferError, match="token id 50 is outside"):
                        step.run(50, 3)
                    with pytest.raises(ContextLengthError, match=f"position {ctx} is outside"):
                        step.run(1, ctx)
        finally:
            blas._SIMD = kern
    assert errors == []   # (fused, head_dim, steps equal, cache equal, forward calls plain/replay, kit calls)
    assert recorded == [True, True, False] * (2 if kern.fused else 1)


@run_in_pyodide
def test_dequantize_kernels_and_qmat_products_equal_numpy_bit_for_bit(selenium_webinfer):
    """blas.dequantize in Pyodide: every type of Kernels.DQ_TYPES runs its wasm kernel (calls counted)
    and gives the NumPy dequantizer's bits (compared as uint32) on random blocks, whose f16 scales
    include subnormals, Inf and NaN, and on blocks whose scales are set to extreme values; what it
    doesn't take returns False. Then a QMat (qmat.py: two parts, several tiles) of each type: its
    product with one token (mv) and with three (mm) equals blas.matmul_t with its float32 matrix,
    bit for bit, and take() gives that matrix's rows."""
    import numpy as np
    from webinfer.device import blas
    from webinfer.device.qmat import QMat
    from webinfer.formats.gguf import SCALE_FIELDS
    from webinfer.formats.quants import QUANT_BY_NAME

    kern = blas._simd()
    assert kern is not None and blas.BACKEND == "wasm-simd"
    assert sorted(kern.dq) == sorted(blas.Kernels.DQ_TYPES), "a dq kernel failed the load's self-check"
    special = np.array([0x0000, 0x8000, 0x0001, 0x83FF, 0x3C00, 0x7BFF, 0x7C00, 0xFC00, 0x7E00, 0xFD55],
                       np.uint16)
    rng, errors = np.random.default_rng(6), []
    for ks in [kern] + ([blas.load_kernels(False)] if kern.fused else []):
        originals, calls = dict(ks.dq), dict.fromkeys(ks.dq, 0)

        def counted(name, fn):
            def call(*args):
                calls[name] += 1
                return fn(*args)
            return call

        ks.dq.update({name: counted(name, fn) for name, fn in originals.items()})
        blas._SIMD = ks
        try:
            for name in blas.Kernels.DQ_TYPES:
                q = QUANT_BY_NAME[name]
                fields = SCALE_FIELDS.get(name, (0,))
                raw = rng.integers(0, 256, (300 if q.block_size > 1 else 3001, q.type_size), dtype=np.uint8)
                ext = rng.integers(0, 256, (special.size ** len(fields), q.type_size), dtype=np.uint8)
                grid = np.stack(np.meshgrid(*[special] * len(fields), indexing="ij"), -1).reshape(-1, len(fields))
                for j, off in enumerate(fields):
                    ext[:, off:off + 2] = grid[:, j:j + 1].view(np.uint8)
                for what, blocks in (("random", raw), ("extreme scales", ext)):
                    out = np.empty(blocks.shape[0] * q.block_size, np.float32)
                    before = calls[name]
                    took = blas.dequantize(name, blocks, out)
                    with np.errstate(all="ignore"):
                        want = q.dequantize(blocks)
                    if not (took and calls[name] == before + 1 and np.array_equal(out.view(np.uint32), want.view(np.uint32))):
                        errors.append((ks.fused, name, what, took, int((out.view(np.uint32) != want.view(np.uint32)).sum())))
                # what it doesn't take: a short or float64 output, strided blocks, no kernel for the type
                out, half = np.empty(raw.shape[0] * q.block_size, np.float32), raw[::2]
                refused = [blas.dequantize(name, raw, out[:-1]), blas.dequantize(name, raw, out.astype(np.float64)),
                           blas.dequantize(name, half, out[:half.shape[0] * q.block_size]),
                           blas.dequantize("Q8_1", raw, out)]
                if any(refused):
                    errors.append((ks.fused, name, "refused", refused))

                # a QMat: 100 rows x 2048 in parts of 60 and 40 rows, tiles of 32 rows (mm takes every tile)
                rows, cols = 100, 2048
                blocks = rng.integers(0, 256, (rows * cols // q.block_size, q.type_size), dtype=np.uint8)
                for off in fields:
                    blocks[:, off + 1] &= 0xBF                        # finite scales (F16, BF16: values)
                raw = blocks.reshape(rows, -1)
                m = QMat([(q, raw[:60]), (q, raw[60:])], rows, cols)
                assert m.tile_rows == 32
                before = calls[name]
                w = m.dequantize()
                want = q.dequantize(blocks).reshape(rows, cols)
                ids = [0, 59, 60, 99, 7]
                for n in (1, 3):
                    x = rng.standard_normal((n, cols), dtype=np.float32)
                    y = m.matmul_t(x)
                    if not np.array_equal(y.view(np.uint32), blas.matmul_t(x, want).view(np.uint32)):
                        errors.append((ks.fused, name, "QMat product", n, float(np.abs(y - x @ want.T).max())))
                if not (np.array_equal(w, want) and np.array_equal(m.take(ids), want[ids])
                        and calls[name] == before + 2 + 2 * 4 + 2):      # dequantize, 2 products x 4 tiles, take (a part each)
                    errors.append((ks.fused, name, "QMat dequantize/take", calls[name] - before))
        finally:
            ks.dq.update(originals)
            blas._SIMD = kern
    assert errors == []


# The quantized recorded step's two models: the types of (q/k/v, wo, gate/up, down) of layer 0, then
# of layer 1, then the (tied) embedding table's; between them every type with a dq kernel.
QUANT_STEP_TYPES = [["Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K"],
                    ["Q6_K", "IQ4_NL", "IQ4_XS", "F16", "BF16", "Q4_K", "Q8_0", "Q6_K", "IQ4_XS"]]


@pytest.fixture(scope="module")
def quant_step_types():
    return QUANT_STEP_TYPES


@run_in_pyodide
def test_recorded_decode_step_with_quantized_weights_equals_the_plain_forward(selenium_webinfer, quant_step_types):
    """NumpyDevice(f32_budget=0) keeps every weight as its blocks (QMat), the tied embedding table
    too; the recorded step (DQ a tile into scratch, MV into its slice of the output; DQ of the
    token's embedding row) against the plain forward (QMat.matmul_t, QMat.take): every step's logits
    and the KV cache equal to the bit, forward called only to record. Tiles of 32 rows, so a part
    spans several. A weight whose type has no dq kernel leaves the step unrecorded (plain forward)."""
    import numpy as np
    from webinfer.config import ModelConfig
    from webinfer.device import blas, numpy_step, qmat
    from webinfer.device.numpy_device import NumpyDevice
    from webinfer.device.qmat import QMat
    from webinfer.formats.gguf import SCALE_FIELDS
    from webinfer.formats.quants import QUANT_BY_NAME
    from webinfer.models.llama import Layer, Llama
    from webinfer.weights import QWeight

    kern = blas._simd()
    assert kern is not None
    rng, errors, recorded = np.random.default_rng(8), [], []
    n_layers, d, nh, kvh, hd, ff, ctx, vocab = 2, 256, 4, 2, 64, 256, 9, 50

    def qweight(name, rows, cols):
        """Random blocks of type `name` whose values reach about 0.1 (F16, BF16: Gaussian values)."""
        q = QUANT_BY_NAME[name]
        if q.block_size == 1:
            return QWeight(name, q.ggml_type, q.quantize(rng.standard_normal(rows * cols) * 0.03).reshape(rows, -1),
                           rows, cols)
        blocks = rng.integers(0, 256, (rows * cols // q.block_size, q.type_size), dtype=np.uint8)
        fields = SCALE_FIELDS[name]
        for off in fields:
            blocks[:, off:off + 2] = np.array([[0x00, 0x3C]], np.uint8)      # 1.0
        top = np.abs(q.dequantize(blocks)).max()
        scale = (rng.uniform(0.5, 1, (len(blocks), 1)) * 0.1 / top).astype(np.float16).view(np.uint8)
        for off in fields:
            blocks[:, off:off + 2] = scale
        return QWeight(name, q.ggml_type, blocks.reshape(rows, -1), rows, cols)

    tile_bytes = qmat.TILE_BYTES
    qmat.TILE_BYTES = 32 * 4 * d                                          # 32 rows of d columns a tile
    try:
        for types in quant_step_types:
            dev0 = NumpyDevice(f32_budget=0)
            layers = []
            for i in range(n_layers):
                t_qkv, t_o, t_gu, t_down = types[4 * i:4 * i + 4]
                qkv = QWeight.stack("qkv", [qweight(t_qkv, nh * hd, d), qweight(t_qkv, kvh * hd, d),
                                            qweight(t_qkv, kvh * hd, d)])
                gu = QWeight.stack("gate_up", [qweight(t_gu, ff, d), qweight(t_gu, ff, d)])
                layers.append(Layer(dev0.vector(1 + rng.standard_normal(d) * 0.1), dev0.weight(qkv),
                                    dev0.weight(qweight(t_o, d, nh * hd)), dev0.vector(1 + rng.standard_normal(d) * 0.1),
                                    dev0.weight(gu), dev0.weight(qweight(t_down, d, ff))))
            emb = dev0.weight(qweight(types[8], vocab, d))
            out_norm = dev0.vector(1 + rng.standard_normal(d) * 0.1)
            mats = [emb[0]] + [w[0] for L in layers for w in (L.wqkv, L.wo, L.w_gate_up, L.w_down)]
            assert all(isinstance(m, QMat) for m in mats) and sorted({q.name for m in mats for q, _ in m.parts}) == sorted(set(types))
            cfg = ModelConfig("llama", "random", n_layers, d, ff, nh, kvh, hd, vocab, 64, 1e-5, 10000.0, hd,
                              False, True, False)
            for ks in [kern] + ([blas.load_kernels(False)] if kern.fused else []):
                for drop in (None, types[1]):                             # all kernels; one type without
                    blas._SIMD, dq = ks, dict(ks.dq)
                    if drop:
                        del ks.dq[drop]
                    try:
                        runs = []
                        for replay in (False, True):
                            dev = NumpyDevice(f32_budget=0)
                            dev.record_decode = replay
                            llama, cache = Llama(cfg, dev, layers, emb, out_norm, emb), dev.kv_cache(n_layers, kvh, hd, ctx)
                            calls = [0]

                            def forward(t, p, llama=llama, cache=cache, calls=calls):
                                calls[0] += 1
                                return llama.forward(t, p, cache)

                            logits, steps = llama.forward([3, 1, 4], 0, cache), []
                            kit_before = numpy_step._kit.calls if numpy_step._kit else 0
                            for pos in range(3, ctx):
                                logits = dev.replay(("decode", id(cache)), forward, int(np.argmax(logits)), pos)
                                steps.append(logits)
                            kit_calls = (numpy_step._kit.calls if numpy_step._kit else 0) - kit_before
                            runs.append((steps, cache, calls[0], dev._steps.get(("decode", id(cache))), kit_calls))
                    finally:
                        ks.dq.clear()
                        ks.dq.update(dq)
                        blas._SIMD = kern
                    (plain, c0, n0, _, _), (rep, c1, n1, step, kit_calls) = runs
                    recorded.append(step is not None)
                    same = [bool(np.array_equal(a.view(np.uint32), b.view(np.uint32))) for a, b in zip(plain, rep)]
                    cache_same = np.array_equal(c0.k, c1.k) and np.array_equal(c0.v, c1.v)
                    calls_ok = (n1 == 1 and kit_calls == 2 + (ctx - 3)) if step else n1 == 1 + (ctx - 3)
                    finite = all(np.isfinite(a).all() for a in plain)
                    if not all(same) or not cache_same or n0 != ctx - 3 or not calls_ok or not finite:
                        errors.append((types[0], ks.fused, drop, same, cache_same, n0, n1, kit_calls, finite))
    finally:
        qmat.TILE_BYTES = tile_bytes
    assert errors == []   # (model, fused, type dropped, steps equal, cache equal, forward calls, kit calls, finite)
    assert recorded == [True, False] * len(quant_step_types) * (2 if kern.fused else 1)
