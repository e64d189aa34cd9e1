"""Device selection: the one place that decides where the model runs, and says why.

``select_device("auto")`` asks for a WebGPU adapter (the browser's navigator.gpu in Pyodide,
wgpu-py in CPython) and takes it only if one exists, is a real GPU (not a CPU emulation such as
llvmpipe or SwiftShader, where NumPy on the same CPU is far faster), *and* its quick self-test (a
small matvec) agrees with NumPy; otherwise NumPy, with the reason in ``device.description``:
``"numpy: <why>"``, the short reason first. ``"webgpu"`` takes any adapter that works, emulated
or not, and raises DeviceError (KitUnavailableError where a page's CSP blocks webinfer's JS) if
none does. ``selftest(device)`` compares every op of a device with NumPy (``webinfer.selftest``).
"""

from __future__ import annotations

from ..errors import DeviceError
from .numpy_device import NumpyDevice

DEVICE_KINDS = ("auto", "numpy", "webgpu")


def numpy_preferred_over(adapter) -> str | None:
    """Why "auto" runs on NumPy rather than this (working) WebGPU adapter, or None to take it.
    The browser's init_gpu asks the same question before it spends time on a self-test."""
    if adapter.is_cpu_emulation:
        return f'WebGPU adapter "{adapter.description}" is a CPU emulation; NumPy is faster here'
    return None


def select_device(kind: str = "auto"):
    """Return a ready device. kind: "auto" | "numpy" | "webgpu" (webgpu raises DeviceError if unusable)."""
    if kind not in DEVICE_KINDS:
        raise DeviceError(f"unknown device {kind!r} (choose one of {', '.join(DEVICE_KINDS)})")
    if kind == "numpy":
        return NumpyDevice("requested")
    try:
        from . import webgpu
        adapter = webgpu.request_adapter()
        why = numpy_preferred_over(adapter) if kind == "auto" else None
        if why:
            return NumpyDevice(why)
        return webgpu.open_device(adapter=adapter)
    except DeviceError as e:
        if kind == "webgpu":
            raise
        return NumpyDevice(str(e))
    except Exception as e:  # noqa: BLE001 - a broken GPU stack must never stop "auto"
        reason = f"webgpu unavailable ({type(e).__name__}: {e})"
        if kind == "webgpu":
            raise DeviceError(reason) from e
        return NumpyDevice(reason)


def selftest(device="webgpu", print_fn=print) -> dict[str, float]:
    """Run every op of `device` ("webgpu", "auto", or an opened device) on random data and compare
    it with the NumPy device; returns {op: largest |error|} and prints one line per op.
    NumPy is the reference itself (an empty dict). In Pyodide use ``await webinfer.aselftest()``
    (readbacks there must be awaited)."""
    import sys
    dev = select_device(device) if isinstance(device, str) else device
    if dev.name == "numpy":
        if print_fn:
            print_fn(f"{dev.description}: the reference itself, nothing to compare")
        return {}
    if sys.platform == "emscripten":
        raise DeviceError("webinfer.selftest() reads back synchronously: in Pyodide use `await webinfer.aselftest()`")
    from .webgpu.selftest import selftest as run
    errs = run(dev)
    if print_fn:
        print_fn(f"self-test of {dev.description} against NumPy (largest |error| per op):")
        for op, err in errs.items():
            print_fn(f"  {op:<16} {err:.3g}")
    return errs
