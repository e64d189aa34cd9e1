"""The fused decode step (decode_fused.wgsl) in real Chromium: Dawn and Tint, not wgpu-native.

Dawn validates and translates WGSL on its own (Tint) and has its own limits and robustness
rewrites, so a shader wgpu-py accepts may still fail here. This runs the fused step on Chromium's
SwiftShader adapter inside Pyodide against the plain replay and the NumPy device on a tiny random
model: the step must build, pass its first-step check, and give the replay's logits and NumPy's
greedy tokens, with one persistent workgroup and with two that meet at its grid barrier (as
tests/kernels/test_fused_several_workgroups.py does through wgpu-py on the same emulator).
"""

from __future__ import annotations

import pytest
from pytest_pyodide import run_in_pyodide

pytestmark = [pytest.mark.slow]



@pytest.mark.driver_timeout(900)
@pytest.mark.parametrize("n_ctx", [64, 512])      # one-split attention / split attention + merge
@run_in_pyodide
async def test_fused_step_on_dawn_equals_replay_and_numpy(selenium_webgpu_synthetic, n_ctx):
    import numpy as np

    import webinfer
    import webinfer.aload as aload
    from synthetic_model import build_synthetic_model
    from webinfer.device import select_device

    shapes = {"n_layers": 2, "d_model": 64, "n_heads": 4, "n_kv_heads": 2, "d_ff": 96, "n_vocab": 300, "n_ctx": 512}
    path = build_synthetic_model("/tmp/tiny_fused.gguf", seed=3, shapes=shapes)
    prompt = [1, 5, 9, 33, 7, 120, 250, 3]
    init = await aload.init_gpu(device="webgpu")
    assert init.startswith("webgpu: "), init

    async def steps(mode, n=6):
        if mode is None:
            m = webinfer.load(path, device="numpy", n_ctx=n_ctx)
        else:
            dev = select_device("webgpu")
            dev.fused, dev.fused_workgroups = mode, 1
            m = webinfer.load(path, device=dev, n_ctx=n_ctx)
        logits, _ = m.prefill(prompt)
        out = []
        for _ in range(n):
            lg = np.asarray(await m.device.read(logits)).reshape(-1).astype(np.float64)
            out.append(lg)
            logits = m.step(int(np.argmax(lg)))
        return out, m.device

    ref, _ = await steps(None)
    plain, pdev = await steps("off")
    got, dev = await steps("on")
    assert pdev.decode_path().startswith("replayed"), pdev.decode_path()
    assert dev.decode_path().startswith("fused"), (dev.decode_path(), dev.notes)
    for i, (r, p, g) in enumerate(zip(ref, plain, got)):
        assert np.all(np.abs(g - r) <= 2e-3 * (1 + np.abs(r))), f"step {i}: fused vs numpy {np.max(np.abs(g - r)):.3g}"
        assert np.max(np.abs(g - p)) <= 1e-4 * (1 + np.max(np.abs(p))), f"step {i}: fused vs replay"
    assert [int(np.argmax(g)) for g in got] == [int(np.argmax(r)) for r in ref]


@pytest.mark.driver_timeout(900)
@run_in_pyodide
async def test_two_workgroups_meet_at_the_grid_barrier_on_dawn(selenium_webgpu_synthetic):
    """Two workgroups on SwiftShader under Dawn: every step agrees with NumPy, and in one attempt
    (of up to 3: an emulator's threads need not start both in time, and then the step goes on with
    one, decode_fused.wgsl close_window) both took part in the steps after the first-step check."""
    import numpy as np

    import webinfer
    import webinfer.aload as aload
    from synthetic_model import build_synthetic_model
    from webinfer.device import select_device
    from webinfer.device.webgpu import fused

    fused.SPIN_LIMIT, fused.WINDOW = 1 << 22, 1 << 14      # an emulator's workgroups arrive slowly
    shapes = {"n_layers": 2, "d_model": 64, "n_heads": 4, "n_kv_heads": 2, "d_ff": 96, "n_vocab": 300, "n_ctx": 512}
    path = build_synthetic_model("/tmp/tiny_two.gguf", seed=3, shapes=shapes)
    prompt = [1, 5, 9, 33, 7, 120, 250, 3]
    assert (await aload.init_gpu(device="webgpu")).startswith("webgpu: ")

    async def steps(dev, n=8):
        m = webinfer.load(path, device=dev, n_ctx=512)
        logits, _ = m.prefill(prompt)
        out, took = [], []
        for i in range(n):
            lg = np.asarray(await m.device.read(logits)).reshape(-1).astype(np.float64)
            out.append(lg)
            f = next((p.fused for p in m.device._programs.values() if p.fused is not None), None) if dev != "numpy" else None
            took.append(f.took if f is not None and f.n_wg == 2 else 0)
            logits = m.step(int(np.argmax(lg)) if i % 2 else 7)
        return out, took

    ref, _ = await steps("numpy")
    seen = []
    for _ in range(3):
        dev = select_device("webgpu")
        dev.fused, dev.fused_workgroups = "on", 2
        got, took = await steps(dev)
        for i, (r, g) in enumerate(zip(ref, got)):
            assert np.all(np.abs(g - r) <= 2e-3 * (1 + np.abs(r))), (i, dev.notes)
        seen.append((took, dev.decode_path(), dev.notes))
        if took.count(2) >= 3:
            break
    assert seen[-1][0].count(2) >= 3, seen
    assert seen[-1][1] == "fused: 1 dispatch a step, 2 persistent workgroups", seen


@pytest.mark.driver_timeout(900)
@pytest.mark.parametrize("d_ff", [96, 2400])      # 2400: the down projection's input staged in chunks (X_CHUNKS)
@run_in_pyodide
async def test_the_gpu_variant_on_dawn(selenium_webgpu_synthetic, d_ff):
    """The step as a GPU builds it (no TICKETS: every workgroup takes part, numbered by its
    builtin id) compiles under Tint and gives NumPy's greedy tokens (one workgroup here); with an
    input wider than 2048 too (Tint's uniformity analysis of the chunks' barriers)."""
    import webinfer
    import webinfer.aload as aload
    from synthetic_model import build_synthetic_model
    from webinfer.device import select_device

    shapes = {"n_layers": 2, "d_model": 64, "n_heads": 4, "n_kv_heads": 2, "d_ff": d_ff, "n_vocab": 300, "n_ctx": 512}
    path = build_synthetic_model("/tmp/tiny_gpuvar.gguf", seed=3, shapes=shapes)
    prompt = [1, 5, 9, 33, 7, 120, 250, 3]
    ref = await webinfer.load(path, device="numpy", n_ctx=512).acomplete(prompt, max_tokens=8, temperature=0)
    assert (await aload.init_gpu(device="webgpu")).startswith("webgpu: ")
    dev = select_device("webgpu")
    dev.adapter.is_cpu_emulation = False          # as on a GPU (the adapter is shared: put back below)
    try:
        dev.fused, dev.fused_workgroups = "on", 1
        m = webinfer.load(path, device=dev, n_ctx=512)
        res = await m.acomplete(prompt, max_tokens=8, temperature=0)
        await dev.check_errors()
    finally:
        dev.adapter.is_cpu_emulation = True
    f = next(p.fused for p in dev._programs.values() if p.fused is not None)
    assert not f.tickets and dev.decode_path().startswith("fused"), (dev.decode_path(), dev.notes)
    assert list(res.token_ids) == list(ref.token_ids)


@run_in_pyodide
async def test_auto_keeps_the_replay_on_a_cpu_emulated_adapter(selenium_webgpu_synthetic):
    """device.fused = "auto" (the default) builds the fused step on a browser's GPU, not on
    SwiftShader, whose workgroups need not run at once: the replay stays and says why."""
    import numpy as np

    import webinfer
    import webinfer.aload as aload
    from synthetic_model import build_synthetic_model
    from webinfer.device import select_device

    shapes = {"n_layers": 2, "d_model": 64, "n_heads": 4, "n_kv_heads": 2, "d_ff": 96, "n_vocab": 300, "n_ctx": 64}
    path = build_synthetic_model("/tmp/tiny_auto.gguf", seed=3, shapes=shapes)
    assert (await aload.init_gpu(device="webgpu")).startswith("webgpu: ")
    dev = select_device("webgpu")
    assert dev.fused == "auto" and dev.adapter.in_browser and dev.adapter.is_cpu_emulation
    m = webinfer.load(path, device=dev)
    res = await m.acomplete([1, 5, 9], max_tokens=4, temperature=0)
    assert len(res.token_ids) == 4 and np.all(np.asarray(res.token_ids) < 300)
    assert dev.decode_path() == "replayed (fused decode auto)", dev.decode_path()


@pytest.mark.driver_timeout(900)
@run_in_pyodide
async def test_greedy_generation_through_the_fused_step_costs_at_most_3_js_calls_a_token(selenium_webgpu_synthetic):
    """Greedy generation on the fused step (its own greedy pick, one dispatch a token): the tokens
    equal NumPy's, and a decoded token costs at most 3 Python->JS calls in the steady state."""
    import webinfer
    import webinfer.aload as aload
    from synthetic_model import build_synthetic_model
    from webinfer.device import select_device

    shapes = {"n_layers": 2, "d_model": 64, "n_heads": 4, "n_kv_heads": 2, "d_ff": 96, "n_vocab": 300, "n_ctx": 64}
    path = build_synthetic_model("/tmp/tiny_calls.gguf", seed=3, shapes=shapes)
    prompt, n = [1, 5, 9, 33, 7], 10
    ref = await webinfer.load(path, device="numpy").acomplete(prompt, max_tokens=n, temperature=0)
    assert (await aload.init_gpu(device="webgpu")).startswith("webgpu: ")
    dev = select_device("webgpu")
    dev.fused, dev.fused_workgroups = "on", 1
    m = webinfer.load(path, device=dev)
    marks, decode = [], m.step

    def counted(token):
        marks.append(dev.adapter.js_calls)
        return decode(token)
    m.step = counted
    res = await m.acomplete(prompt, max_tokens=n, temperature=0)
    marks.append(dev.adapter.js_calls)
    assert dev.decode_path().startswith("fused"), (dev.decode_path(), dev.notes)
    assert list(res.token_ids) == list(ref.token_ids)
    # step 0 records and builds the step, step 1 runs its first-step check, step 2 registers the
    # other parity's dispatch with the JS side (a command's first use: adapter_js._slot_numbers);
    # the last interval is the tail
    steady = [b - a for a, b in zip(marks, marks[1:])][3:-1]
    assert len(steady) >= 5 and max(steady) <= 3, (steady, marks)
