"""WebGPU device: WGSL kernels over the browser's navigator.gpu (Pyodide) or wgpu-py (CPython).

``request_adapter()`` gives the adapter WebGPU would run on (its ``description`` and
``is_cpu_emulation`` are what device selection looks at); ``open_device()`` returns a ready
WebGPUDevice on it, or raises DeviceError with the reason (no adapter, wgpu-py missing, the
self-test kernel disagreeing with NumPy).
"""

from __future__ import annotations

import sys

from ...errors import DeviceError
from .device import WebGPUDevice


def request_adapter():
    """CPython: wgpu-py's best adapter. Pyodide: the adapter ``await webinfer.init_gpu()`` opened
    (navigator.gpu is async-only, so it cannot be opened here). DeviceError says why there is none."""
    if sys.platform == "emscripten":
        from .adapter_js import opened_adapter
        return opened_adapter()
    from .adapter_wgpu import request_adapter as request_wgpu
    return request_wgpu()


def open_device(selftest: bool = True, limits: dict[str, int] | None = None, adapter=None) -> WebGPUDevice:
    """A WebGPUDevice on `adapter` (default: request_adapter()). limits: lower some of the
    adapter's limits (tests: a small max_storage_buffer_binding_size makes weights split as on a
    small-limit GPU); never raises one."""
    if adapter is None:
        adapter = request_adapter()
    if sys.platform == "emscripten":
        # mapAsync cannot be awaited here: init_gpu ran the self-test, unless it skipped it on a
        # CPU-emulated adapter that "auto" was not going to use
        if not getattr(adapter, "self_tested", False):
            raise DeviceError(f"the WebGPU adapter {adapter.description} is not self-tested yet: "
                              "`await webinfer.init_gpu(device=\"webgpu\")` first")
        return WebGPUDevice(adapter)
    if limits:
        adapter.limits = {k: min(v, int(limits.get(k, v))) for k, v in adapter.limits.items()}
    dev = WebGPUDevice(adapter)
    if selftest:
        from .selftest import quick_check
        quick_check(dev)
    return dev
