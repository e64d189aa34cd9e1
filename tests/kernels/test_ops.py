"""rmsnorm, add, rope_kv, attention (decode + causal prefill, GQA) and argmax vs NumPy."""

from __future__ import annotations

import numpy as np
import pytest

from webinfer.device.numpy_device import NumpyDevice

from kernel_check import assert_close

REF = NumpyDevice()


@pytest.mark.parametrize("width", [1, 31, 32, 33, 255, 256, 257, 1000])
def test_rms_norm_and_add(gdev, width):
    rng = np.random.default_rng(width)
    x = rng.standard_normal((3, width)).astype(np.float32)
    b = rng.standard_normal((3, width)).astype(np.float32)
    w = rng.standard_normal(width).astype(np.float32)
    assert_close(gdev.read_sync(gdev.rms_norm(gdev.tensor(x), gdev.vector(w), 1e-6)), REF.rms_norm(x, w, 1e-6),
                 1e-6, 1e-5, "rms_norm")
    assert_close(gdev.read_sync(gdev.add(gdev.tensor(x), gdev.tensor(b))), x + b, 0, 0, "add")


GQA = [(4, 4, 16), (9, 3, 64), (8, 2, 32), (6, 1, 8), (2, 1, 128)]   # (heads, kv heads, head_dim): ratios 1, 3, 4, 6, 2


@pytest.mark.parametrize("heads,kv,hd", GQA)
@pytest.mark.parametrize("neox", [False, True])
def test_rope_kv_and_attention(gdev, heads, kv, hd, neox):
    """Prefill 33 tokens (rope_kv kernel + causal attention), then decode 2 more at later positions."""
    rng = np.random.default_rng(heads * 100 + hd + neox)
    ctx = 300
    gc, rc = gdev.kv_cache(2, kv, hd, ctx), REF.kv_cache(2, kv, hd, ctx)
    width = (heads + 2 * kv) * hd
    pos = 0
    for n in (33, 1, 1, 257 - 35, 1, 1):   # decodes over 1, then 5 flash-decoding splits of 64 keys
        qkv = rng.standard_normal((n, width)).astype(np.float32)
        gq = gdev.rope_kv(gdev.tensor(qkv), gc, 1, pos, heads, kv, hd, 10000.0, neox)
        rq = REF.rope_kv(qkv, rc, 1, pos, heads, kv, hd, 10000.0, neox)
        assert_close(gdev.read_sync(gq), rq, 1e-5, 1e-5, f"rope q n={n} pos={pos}")
        ga = gdev.attention(gq, gc, 1, pos, heads, kv, hd)
        assert_close(gdev.read_sync(ga), REF.attention(rq, rc, 1, pos, heads, kv, hd), 1e-5, 1e-4,
                     f"attention n={n} pos={pos}")
        pos += n


@pytest.mark.parametrize("heads,kv,hd", GQA + [(16, 8, 128), (4, 1, 256)])
@pytest.mark.parametrize("n", [1, 5])
def test_head_norm(gdev, heads, kv, hd, n):
    """Per-head RMSNorm of q and k (Qwen3, Gemma 3), v untouched; from a pending projection too."""
    from webinfer.device.webgpu.selftest import random_qweight
    rng = np.random.default_rng(heads * 7 + kv + hd + n)
    width = (heads + 2 * kv) * hd
    qkv = (3 * rng.standard_normal((n, width))).astype(np.float32)
    qw, kw = rng.standard_normal(hd).astype(np.float32), rng.standard_normal(hd).astype(np.float32)
    want = REF.head_norm(qkv, qw, kw, heads, kv, hd, 1e-6)
    for h, w, lo in ((0, qw, 0), (1, kw, heads * hd)):     # the reference itself, head by head
        nh = heads if h == 0 else kv
        x = qkv[:, lo:lo + nh * hd].reshape(n, nh, hd).astype(np.float64)
        ref = x / np.sqrt((x * x).mean(-1, keepdims=True) + 1e-6) * w
        assert_close(want[:, lo:lo + nh * hd], ref.reshape(n, nh * hd), 1e-6, 1e-5, "numpy head_norm")
    assert np.array_equal(want[:, (heads + kv) * hd:], qkv[:, (heads + kv) * hd:])
    got = gdev.read_sync(gdev.head_norm(gdev.tensor(qkv), gdev.vector(qw), gdev.vector(kw), heads, kv, hd, 1e-6))
    assert_close(got, want, 1e-6, 1e-5, "head_norm")
    d = 64
    w = random_qweight(rng, "Q8_0", width, d)
    x = rng.standard_normal((n, d)).astype(np.float32)
    got = gdev.read_sync(gdev.head_norm(gdev.linear(gdev.tensor(x), gdev.weight(w)), gdev.vector(qw),
                                        gdev.vector(kw), heads, kv, hd, 1e-6))
    want = REF.head_norm(REF.linear(x, REF.weight(w)), qw, kw, heads, kv, hd, 1e-6)
    assert_close(got, want, 1e-5, 1e-4, "head_norm of a projection")


def test_fused_qkv_rope_matches_unfused(gdev, layout):
    """matvec ROPE (decode) writes the same q and cache as projection -> rope_kv in NumPy."""
    from webinfer.device.webgpu.selftest import random_qweight
    rng = np.random.default_rng(11)
    heads, kv, hd, d = 9, 3, 64, 128
    w = random_qweight(rng, "Q4_1", (heads + 2 * kv) * hd, d)
    nw = rng.standard_normal(d).astype(np.float32)
    for neox in (False, True):
        gc, rc = gdev.kv_cache(1, kv, hd, 64), REF.kv_cache(1, kv, hd, 64)
        for pos in (0, 1, 40):
            x = rng.standard_normal((1, d)).astype(np.float32)
            gq = gdev.rope_kv(gdev.linear(gdev.rms_norm(gdev.tensor(x), gdev.vector(nw), 1e-5), gdev.weight(w)),
                              gc, 0, pos, heads, kv, hd, 10000.0, neox)
            rq = REF.rope_kv(REF.linear(REF.rms_norm(x, nw, 1e-5), REF.weight(w)), rc, 0, pos, heads, kv, hd,
                             10000.0, neox)
            assert_close(gdev.read_sync(gq), rq, 1e-4, 1e-4, f"q pos={pos} neox={neox}")
            ga = gdev.attention(gq, gc, 0, pos, heads, kv, hd)
            assert_close(gdev.read_sync(ga), REF.attention(rq, rc, 0, pos, heads, kv, hd), 1e-4, 1e-4, "attn")


@pytest.mark.parametrize("heads,kv,hd", [(9, 3, 64), (4, 2, 32)])
@pytest.mark.parametrize("pos", [1030, 300])    # 9 splits of 128 saw keys (the merge's loop) / 3 (its straight line)
def test_out_projection_folds_split_combine(gdev, layout, heads, kv, hd, pos):
    """Decode attention over several flash-decoding splits, then out-projection + residual: the
    matvec merges the partials itself (one dispatch fewer) and still leaves the attention output."""
    from webinfer.device.webgpu.selftest import random_qweight
    rng = np.random.default_rng(heads + hd)
    ctx = 1100                                  # 9 splits of 128 keys (split_length)
    gc, rc = gdev.kv_cache(1, kv, hd, ctx), REF.kv_cache(1, kv, hd, ctx)
    keys = rng.standard_normal((kv, ctx, hd)).astype(np.float32)
    vals = rng.standard_normal((kv, ctx, hd)).astype(np.float32)
    gdev.adapter.write_buffer(gc.k[0].buf, gc.k[0].offset, keys)      # layer 0's range of the KV buffer
    gdev.adapter.write_buffer(gc.v[0].buf, gc.v[0].offset, vals)
    rc.k[0][...] = keys
    rc.v[0][...] = vals
    q = (rng.standard_normal((1, heads * hd)) * 2).astype(np.float32)
    res = rng.standard_normal((1, 96)).astype(np.float32)
    w = random_qweight(rng, "Q4_1", 96, heads * hd)
    # uploads first: tensor() writes at once, so it must not reuse a buffer that queued work reads
    gq, gres, gw = gdev.tensor(q), gdev.tensor(res), gdev.weight(w)
    before = gdev.dispatch_count()
    ga = gdev.attention(gq, gc, 0, pos, heads, kv, hd)
    gy = gdev.add(gres, gdev.linear(ga, gw))
    assert gdev.dispatch_count() - before == 2          # split attention + matvec COMBINE
    ra = REF.attention(q, rc, 0, pos, heads, kv, hd)
    assert_close(gdev.read_sync(gy), REF.add(res, REF.linear(ra, REF.weight(w))), 1e-4, 1e-4, "out+res")
    assert_close(gdev.read_sync(ga), ra, 1e-5, 1e-4, "attention output written by the fold")


@pytest.mark.parametrize("width", [1, 31, 257, 10245, 32000, 49152])   # (rounds of 32 loads a lane, of 8, then one)
def test_argmax(gdev, width):
    rng = np.random.default_rng(width)
    x = rng.standard_normal((3, width)).astype(np.float32)
    x[1, :] = 0.5                              # all ties -> lowest id
    x[2, width // 2:] = 100.0                  # a run of ties in the middle
    got = gdev.read_sync(gdev.argmax(gdev.tensor(x)))
    assert got.reshape(-1).tolist() == REF.argmax(x).tolist()
