"""A prompt prefilled in several chunks on WebGPU gives NumPy's logits (a synthetic llama).

Regression: each chunk's token ids go into a pooled buffer by queue.writeBuffer, which lands
before any command still queued; the next chunk's ids, written into the same pooled buffer (same
size class), were read by the previous chunk's embed, not yet submitted. The device now submits
what is queued before that write (WebGPUDevice.embed)."""

from __future__ import annotations

import numpy as np
from gpu_available import open_webgpu
from synthetic_model import build_synthetic_model

import webinfer

SHAPES = {"n_layers": 2, "d_model": 64, "n_heads": 4, "n_kv_heads": 2, "d_ff": 96, "n_vocab": 300, "n_ctx": 128}


def test_chunked_prefill_equals_numpy(tmp_path, monkeypatch):
    monkeypatch.setattr("webinfer.model.PREFILL_CHUNK", 8)   # 14 ids: chunks of 8 and 6 (both 32-byte buffers)
    path = build_synthetic_model(tmp_path / "tiny.gguf", seed=2, shapes=SHAPES)
    ids = [1, 5, 9, 33, 7, 120, 250, 3, 77, 78, 79, 80, 81, 82]
    got = webinfer.load(path, device=open_webgpu(), n_ctx=64)
    want = webinfer.load(path, device="numpy", n_ctx=64)
    g = got.device.read_sync(got.prefill(ids)[0]).reshape(-1)
    w = np.asarray(want.prefill(ids)[0]).reshape(-1)
    np.testing.assert_allclose(g, w, rtol=1e-3, atol=1e-3)
