"""WebGPU device: WGSL kernels over the browser's navigator.gpu (Pyodide) or wgpu-py (CPython).

``open_device()`` returns a ready WebGPUDevice or raises DeviceError with the reason (no
adapter, wgpu-py missing, the self-test kernel disagreeing with NumPy).
"""

from __future__ import annotations

import sys

from ...errors import DeviceError
from .device import WebGPUDevice


def open_device(selftest: bool = True, limits: dict[str, int] | None = None) -> WebGPUDevice:
    """limits: lower some of the adapter's limits (tests: a small max_storage_buffer_binding_size
    makes weights split as on a small-limit GPU); never raises one."""
    if sys.platform == "emscripten":
        # navigator.gpu is async-only: `await webinfer.init_gpu()` (aload.py) opened the adapter
        # and ran the self-test already (mapAsync cannot be awaited here); this raises the reason if not.
        from .adapter_js import opened_adapter
        return WebGPUDevice(opened_adapter())
    from .adapter_wgpu import request_adapter
    adapter = request_adapter()
    if limits:
        adapter.limits = {k: min(v, int(limits.get(k, v))) for k, v in adapter.limits.items()}
    dev = WebGPUDevice(adapter)
    if selftest:
        from .selftest import quick_check
        quick_check(dev)
    return dev
