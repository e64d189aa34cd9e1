"""webinfer.selftest() and device="auto": WebGPU only when an adapter exists and its quick
self-test agrees with NumPy, else NumPy with the reason."""

from __future__ import annotations

import numpy as np
import pytest

import webinfer
from webinfer.device import select_device
from webinfer.device.webgpu import adapter_wgpu
from webinfer.device.webgpu.device import WebGPUDevice
from webinfer.errors import DeviceError

OPS = ["linear[Q4_0]", "embed[Q4_0]", "linear[F32]", "embed[F32]", "rms_norm", "linear_swiglu", "add",
       "rope_kv", "attention", "argmax", "sample"]


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


def test_auto_picks_webgpu_when_it_works(gdev):
    assert select_device("auto").description.startswith("webgpu: ")


def test_auto_without_an_adapter_is_numpy_with_the_reason(monkeypatch):
    def none():
        raise DeviceError("no WebGPU adapter found (wgpu-py)")
    monkeypatch.setattr(adapter_wgpu, "request_adapter", none)
    assert select_device("auto").description == "numpy: no WebGPU adapter found (wgpu-py)"
    with pytest.raises(DeviceError, match="no WebGPU adapter"):
        select_device("webgpu")


def test_auto_with_wrong_gpu_results_is_numpy(gdev, monkeypatch):
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
