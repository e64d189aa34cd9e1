"""Device selection: the one place that decides where the model runs, and says why.

``select_device("auto")`` tries WebGPU (the browser's navigator.gpu in Pyodide, wgpu-py in
CPython) and falls back to NumPy with the reason in ``device.description``.
"""

from __future__ import annotations

from ..errors import DeviceError
from .numpy_device import NumpyDevice

DEVICE_KINDS = ("auto", "numpy", "webgpu")


def select_device(kind: str = "auto"):
    """Return a ready device. kind: "auto" | "numpy" | "webgpu" (webgpu raises DeviceError if unusable)."""
    if kind not in DEVICE_KINDS:
        raise DeviceError(f"unknown device {kind!r} (choose one of {', '.join(DEVICE_KINDS)})")
    if kind == "numpy":
        return NumpyDevice("requested")
    try:
        from . import webgpu  # noqa: F401  (absent until the WebGPU backend lands)
    except ImportError as e:
        reason = f"webgpu backend unavailable ({e})"
        if kind == "webgpu":
            raise DeviceError(reason) from None
        return NumpyDevice(reason)
    try:
        return webgpu.open_device()
    except DeviceError as e:
        if kind == "webgpu":
            raise
        return NumpyDevice(str(e))
