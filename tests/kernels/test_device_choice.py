"""webinfer.selftest() and device selection: "auto" takes WebGPU only when an adapter exists, is
a real GPU (not a CPU emulation such as llvmpipe: NumPy is faster there) and its quick self-test
agrees with NumPy, else NumPy with the reason; "webgpu" takes any adapter that works."""

from __future__ import annotations

import numpy as np
import pytest

import webinfer
from webinfer.device import select_device
from webinfer.device.webgpu import adapter_wgpu
from webinfer.device.webgpu.device import WebGPUDevice
from webinfer.errors import DeviceError

OPS = ["linear[Q4_0]", "embed[Q4_0]", "linear[F32]", "embed[F32]", "rms_norm", "linear_swiglu", "add",
       "head_norm", "rope_kv", "attention", "argmax", "sample", "layer_norm", "linear_gelu", "store_kv",
       "attention[store_kv]", "embed[positions]",
       "linear_geglu", "scale", "softcap", "add_norm", "rope_kv_scaled", "attention_window_softcap",
       "linear_gelu_erf", "encoder_attention"]


def test_selftest_reports_every_op_small(gdev):
    lines = []
    errs = webinfer.selftest(gdev, print_fn=lines.append)
    assert set(OPS) <= set(errs), sorted(errs)
    assert all(np.isfinite(v) and v < 1e-3 for v in errs.values()), errs
    assert errs["argmax"] == 0 and errs["sample"] == 0
    assert lines[0].startswith("self-test of webgpu:") and len(lines) == len(errs) + 1


def test_selftest_by_name_and_on_numpy(gdev):
    assert set(OPS) <= set(webinfer.selftest("webgpu", print_fn=None))
    lines = []
    assert webinfer.selftest("numpy", print_fn=lines.append) == {}
    assert "reference" in lines[0]


def _adapter_seen_as(monkeypatch, emulated: bool):
    """This machine's real adapter, reported as a CPU emulation or as a real GPU."""
    real = adapter_wgpu.request_adapter

    def request():
        adapter = real()
        adapter.is_cpu_emulation = emulated
        return adapter
    monkeypatch.setattr(adapter_wgpu, "request_adapter", request)


def test_auto_on_this_machine_follows_the_adapter_kind(gdev):
    """llvmpipe (CI, this machine): NumPy, saying why; a real GPU: WebGPU. "webgpu" forces either."""
    adapter = gdev.adapter
    auto = select_device("auto")
    if adapter.is_cpu_emulation:
        assert auto.name == "numpy", auto.description
        assert auto.description == (f'numpy: WebGPU adapter "{adapter.description}" is a CPU emulation; '
                                    "NumPy is faster here")
    else:
        assert auto.description == f"webgpu: {adapter.description}"
    forced = select_device("webgpu")
    assert forced.name == "webgpu" and forced.description == f"webgpu: {adapter.description}"


def test_llvmpipe_is_a_cpu_emulation_and_auto_says_so(gdev):
    adapter = gdev.adapter
    if "llvmpipe" not in adapter.description:
        pytest.skip(f"this machine's adapter is {adapter.description}, not llvmpipe")
    assert adapter.is_cpu_emulation and adapter.info["adapter_type"] == "CPU"
    assert select_device("auto").description.startswith('numpy: WebGPU adapter "llvmpipe')
    assert select_device("webgpu").description.startswith("webgpu: llvmpipe")


def test_auto_takes_a_real_gpu(gdev, monkeypatch):
    _adapter_seen_as(monkeypatch, emulated=False)
    assert select_device("auto").description == f"webgpu: {gdev.adapter.description}"


def test_auto_passes_over_an_emulated_adapter_before_its_self_test(gdev, monkeypatch):
    _adapter_seen_as(monkeypatch, emulated=True)
    tested = []
    monkeypatch.setattr("webinfer.device.webgpu.selftest.quick_check", tested.append)
    dev = select_device("auto")
    assert dev.name == "numpy" and "is a CPU emulation; NumPy is faster here" in dev.description
    assert tested == []                                     # no time spent on a device it will not use
    assert select_device("webgpu").name == "webgpu" and len(tested) == 1


def test_auto_without_an_adapter_is_numpy_with_the_reason(monkeypatch):
    def none():
        raise DeviceError("no WebGPU adapter found (wgpu-py)")
    monkeypatch.setattr(adapter_wgpu, "request_adapter", none)
    assert select_device("auto").description == "numpy: no WebGPU adapter found (wgpu-py)"
    with pytest.raises(DeviceError, match="no WebGPU adapter"):
        select_device("webgpu")


def test_auto_with_wrong_gpu_results_is_numpy(gdev, monkeypatch):
    _adapter_seen_as(monkeypatch, emulated=False)          # so that "auto" gets as far as the self-test
    real = WebGPUDevice.read_sync
    monkeypatch.setattr(WebGPUDevice, "read_sync", lambda self, x: real(self, x) + 0.5)   # a GPU that computes wrong
    dev = select_device("auto")
    assert dev.name == "numpy" and "failed the self-test" in dev.description, dev.description
    with pytest.raises(DeviceError, match="failed the self-test"):
        select_device("webgpu")


def test_auto_with_a_broken_gpu_stack_is_numpy(monkeypatch):
    def broken():
        raise RuntimeError("driver exploded")
    monkeypatch.setattr(adapter_wgpu, "request_adapter", broken)
    assert select_device("auto").description == "numpy: webgpu unavailable (RuntimeError: driver exploded)"
