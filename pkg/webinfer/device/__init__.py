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
        from . import webgpu
        return webgpu.open_device()
    except DeviceError as e:
        if kind == "webgpu":
            raise
        return NumpyDevice(str(e))
    except Exception as e:  # noqa: BLE001 - a broken GPU stack must never stop "auto"
        reason = f"webgpu unavailable ({type(e).__name__}: {e})"
        if kind == "webgpu":
            raise DeviceError(reason) from e
        return NumpyDevice(reason)
