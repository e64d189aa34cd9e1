"""webinfer.fit: the verdict the chat page gives before loading a model, and the GGUF header read
from a file's first bytes that feeds it.

The need is checked against what webinfer allocates (the KV cache, NumPy's float32 expansion), the
constants copied from the package against their sources (fit.py cannot import them: it also runs
under MicroPython on the page's main thread), and the verdicts at the edges of the heap.
"""

from __future__ import annotations

import ast
import inspect

import numpy as np
import pytest

from synthetic_model import build_synthetic_model
from webinfer import fit
from webinfer.errors import GGUFError
from webinfer.formats.gguf import read_gguf, read_gguf_header

MiB, GiB = fit.MiB, fit.GiB
HEAP = {"heap_limit": fit.WASM32_HEAP, "heap_in_use": fit.RUNTIME_BYTES}
TINY = {"n_layers": 2, "d_model": 64, "d_ff": 128, "n_heads": 4, "n_kv_heads": 2, "n_vocab": 300, "n_ctx": 256}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return build_synthetic_model(tmp_path_factory.mktemp("fit") / "tiny.gguf", shapes=TINY)


def test_copied_constants_match_their_sources():
    from webinfer.device.numpy_device import F32_BUDGET_PYODIDE
    from webinfer.generate import PREFILL_CHUNK
    from webinfer.model import DEFAULT_N_CTX
    assert fit.F32_BUDGET == F32_BUDGET_PYODIDE
    assert fit.PREFILL_CHUNK == PREFILL_CHUNK
    assert fit.DEFAULT_N_CTX == DEFAULT_N_CTX


def test_runs_under_micropython_rules():
    """No imports, dataclasses or typing at module level: the page's MicroPython imports it as is."""
    tree = ast.parse(inspect.getsource(fit))
    for node in tree.body:
        assert not isinstance(node, (ast.Import, ast.ImportFrom)), ast.dump(node)[:80]
        assert not getattr(node, "decorator_list", None), node.name
    assert "_000" not in inspect.getsource(fit), "MicroPython builds may lack digit separators"


@pytest.mark.parametrize("n_ctx", [1, 4, 5, 255, 4096])
def test_kv_cache_bytes_is_what_numpy_allocates(n_ctx):
    from webinfer.device.numpy_device import NumpyDevice
    kv = NumpyDevice().kv_cache(3, 2, 16, n_ctx)
    assert fit.kv_cache_bytes(3, 2, 16, n_ctx) == kv.k.base.nbytes + kv.v.base.nbytes


@pytest.mark.parametrize("budget", [fit.F32_BUDGET, 64 << 10])
def test_float32_part_is_what_numpy_expands(tiny, budget, monkeypatch):
    """With the budget above the model's float32 size, need() counts the expansion NumpyDevice makes;
    below it, none (the weights stay the file's blocks)."""
    import webinfer
    from webinfer.device.numpy_device import NumpyDevice
    monkeypatch.setattr(fit, "F32_BUDGET", budget)
    gf = read_gguf(tiny)
    dims = fit.dims_from_gguf(gf.metadata, gf.tensors)
    dev = NumpyDevice("test", budget)
    webinfer.load(tiny, device=dev)
    transient = 4 * dims["largest_elements"] if dev.f32_bytes else 0
    assert fit.need(gf.file_size, dims)["parts"]["float32 weights"] == dev.f32_bytes + transient
    assert (dev.f32_bytes == 0) == (budget < 4 * dims["weight_elements"])


def test_dims_from_header(tiny):
    gf = read_gguf(tiny)
    dims = fit.dims_from_gguf(gf.metadata, gf.tensors)
    assert dims["n_layers"] == 2 and dims["n_kv_heads"] == 2 and dims["head_dim"] == 16 and dims["n_vocab"] == 300
    assert dims["n_ctx_train"] == 256 and dims["d_ff"] == 128
    need = fit.need(gf.file_size, dims)
    assert need["parts"]["KV cache"] == fit.kv_cache_bytes(2, 2, 16, 256)      # min(n_ctx_train, 4096)
    assert fit.need(gf.file_size, dims, n_ctx=64)["parts"]["KV cache"] == fit.kv_cache_bytes(2, 2, 16, 64)
    on_gpu = fit.need(gf.file_size, dims, device="webgpu")["parts"]
    assert on_gpu["KV cache"] == 0 and on_gpu["float32 weights"] == 0 and "file" not in on_gpu   # streamed
    assert on_gpu["stream window"] == min(gf.file_size, fit.STREAM_WINDOW)


def test_by_size_alone():
    """Without the header: a file too big to be Q8_0 weights within the budget is never expanded; a
    small one is counted at the most it could expand to (up to the budget)."""
    big = fit.need(800 * MiB)
    assert big["from_size"] and big["parts"]["float32 weights"] == 0
    assert big["parts"]["KV cache"] == int(fit.KV_SHARE * 800 * MiB)
    small = fit.need(40 * MiB)["parts"]["float32 weights"]
    assert small == min(fit.F32_BUDGET, int(4 * 40 * MiB * 8 / fit.BITS_MIN))


def test_verdicts_name_the_numbers():
    v = fit.verdict(5 * GiB, runtime=HEAP, name="big.gguf")
    assert v["verdict"] == "cannot"
    assert v["message"].startswith("big.gguf cannot be loaded here: it needs about ")
    assert "at most 4.0 GB" in v["message"] and "file 5.0 GB" in v["message"] and "from the file size" in v["message"]
    ok = fit.verdict(400 * MiB, runtime=HEAP, name="qwen.gguf")
    assert ok["verdict"] == "fits" and "should fit" in ok["message"]
    # the model in use stays while the next one loads: it counts
    busy = {"heap_limit": fit.WASM32_HEAP, "heap_in_use": 3 * GiB}
    assert fit.verdict(1200 * MiB, runtime=busy)["verdict"] == "cannot"
    assert "3.0 GB of it in use" in fit.verdict(1200 * MiB, runtime=busy)["message"]


def test_tight_between_the_margin_and_the_ceiling():
    left = fit.WASM32_HEAP - fit.RUNTIME_BYTES
    # find file sizes whose need lands just past the TIGHT share and just under all that is left
    sizes = [s * MiB for s in range(100, 4096, 8)]
    kinds = {s: fit.verdict(s, runtime=HEAP)["verdict"] for s in sizes}
    first_tight = min(s for s, k in kinds.items() if k == "tight")
    first_cannot = min(s for s, k in kinds.items() if k == "cannot")
    assert fit.need(first_tight)["total"] > fit.TIGHT * left >= fit.need(first_tight - 8 * MiB)["total"]
    assert fit.need(first_cannot)["total"] > left >= fit.need(first_cannot - 8 * MiB)["total"]
    assert all(k == "fits" for s, k in kinds.items() if s < first_tight)
    assert "may not fit" in fit.verdict(first_tight, runtime=HEAP)["message"]


def test_device_memory():
    """navigator.deviceMemory is rounded down to a power of two: the machine has less than twice it."""
    small = dict(HEAP, device_memory=0.5)
    assert fit.verdict(100 * MiB, runtime=small)["verdict"] == "tight"
    v = fit.verdict(1200 * MiB, runtime=small)
    assert v["verdict"] == "cannot" and "more than twice the about 0.5 GB of memory this device reports" in v["message"]
    assert fit.verdict(100 * MiB, runtime=dict(HEAP, device_memory=8))["verdict"] == "fits"


def test_webgpu_notes():
    dims = {"n_layers": 16, "n_kv_heads": 8, "head_dim": 64, "n_ctx_train": 131072, "d_model": 2048, "d_ff": 8192,
            "n_vocab": 128256, "weight_elements": 10 ** 9, "largest_tensor": 300 * MiB}
    v = fit.verdict(800 * MiB, dims, dict(HEAP, max_storage_buffer_binding_size=128 * MiB), device="webgpu")
    assert v["verdict"] == "fits" and "split" in v["message"] and "GPU's own memory is not known" in v["message"]
    assert "KV cache" not in v["message"]


def test_no_heap_ceiling():
    v = fit.verdict(5 * GiB, runtime={})
    assert v["verdict"] == "fits" and v["available"] is None and v["message"].startswith("this model needs about")


# ---- read_gguf_header: the header from a file's first bytes ---------------------------------------


def test_header_from_a_prefix(tiny):
    data = open(tiny, "rb").read()
    full = read_gguf(data)
    assert read_gguf_header(data[:64], len(data)) is None
    n = 64
    while (got := read_gguf_header(data[:n], len(data))) is None:
        n *= 2
    metadata, tensors = got
    assert metadata.keys() == full.metadata.keys() and tensors == full.tensors
    assert read_gguf_header(data, len(data))[1] == full.tensors


def test_header_refuses_what_read_gguf_refuses(tiny):
    data = open(tiny, "rb").read()
    with pytest.raises(GGUFError, match="magic"):
        read_gguf_header(b"NOPE" + data[4:64], len(data))        # not a GGUF: no need to read more
    with pytest.raises(GGUFError, match="runs past the end"):
        read_gguf_header(data, len(data) - 4096)                  # the tensors need more than the file has
    with pytest.raises(GGUFError, match="truncated"):
        read_gguf_header(data[:64], 64)                           # the whole file, and it ends too soon


def test_prefix_judged_as_the_page_does(tiny):
    """The worker reads 1 MiB, then 4x more until the header is in: a real header (Qwen2.5-0.5B's,
    151,936 tokens) takes ~4 MB, so two reads."""
    data = open(tiny, "rb").read()
    metadata, tensors = read_gguf_header(data[: 1 << 20], len(data))
    dims = fit.dims_from_gguf(metadata, tensors)
    v = fit.verdict(len(data), dims, HEAP, name="tiny.gguf")
    assert v["verdict"] == "fits" and not v["from_size"] and "estimated" not in v["message"]
    assert np.isclose(v["need"], sum(v["parts"].values()))
