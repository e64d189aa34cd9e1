"""A grammar constraint's bit mask in real Chromium (Dawn and Tint, SwiftShader): the MASK variants
of argmax.wgsl, sample.wgsl and the fused step's greedy pick (decode_fused.wgsl) must compile and
pick what the NumPy device picks after masking on the host, through the browser adapter's writes.
(tests/kernels/test_token_mask.py and test_fused_mask.py hold the kernels to their twins on llvmpipe.)"""

from __future__ import annotations

import pytest
from pytest_pyodide import run_in_pyodide

pytestmark = [pytest.mark.slow]


@pytest.mark.driver_timeout(900)
@run_in_pyodide
async def test_constrained_tokens_on_dawn_equal_numpy(selenium_webgpu_synthetic):
    import webinfer
    import webinfer.aload as aload
    from synthetic_model import build_synthetic_model
    from webinfer.device import select_device

    shapes = {"n_layers": 2, "d_model": 64, "n_heads": 4, "n_kv_heads": 2, "d_ff": 96, "n_vocab": 300, "n_ctx": 512}
    path = build_synthetic_model("/tmp/tiny_mask.gguf", seed=3, shapes=shapes)
    prompt = [1, 5, 9, 33, 7, 120, 250, 3]
    grammar = 'root ::= "<t1" [0-9] [0-9] ">" "<t2" [0-4] [0-9] ">" ("<t" [1-2] [0-9] [0-9] ">"){0,20}'
    init = await aload.init_gpu(device="webgpu")
    assert init.startswith("webgpu: "), init
    ref = webinfer.load(path, device="numpy", n_ctx=128)
    runs = (dict(temperature=0), dict(temperature=0.8, top_k=30, seed=4))
    want = [(await ref.acomplete(prompt, max_tokens=12, grammar=grammar, **kw)).token_ids for kw in runs]
    for mode in ("off", "on"):                    # the replay (argmax / sample MASK), the fused step
        dev = select_device("webgpu")
        dev.fused, dev.fused_workgroups = mode, 1
        m = webinfer.load(path, device=dev, n_ctx=128)
        for kw, w in zip(runs, want):
            m.reset()
            got = await m.acomplete(prompt, max_tokens=12, grammar=grammar, **kw)
            assert got.token_ids == w, (mode, kw, got.token_ids, w, dev.notes)
            assert got.device.startswith("webgpu"), got.device
        assert dev.decode_path().startswith("fused" if mode == "on" else "replayed"), (dev.decode_path(), dev.notes)
