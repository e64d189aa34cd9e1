"""The wgpu-py adapter: the Adapter interface over wgpu-py (wgpu-native: Vulkan, Metal, D3D12).

wgpu is imported lazily (it is a platform wheel and absent in Pyodide). The replay loop calls
wgpu-native's C functions for setPipeline / setBindGroup / dispatchWorkgroups directly when it
can (about 1/10 the cost of going through wgpu-py's checked wrappers); the bind groups and
pipelines stay alive because the device holds them.

Not here: anything that is not a WebGPU call (the device does it, shared with the browser).
"""

from __future__ import annotations

import os
import sys
import tempfile
from contextlib import contextmanager

from ...errors import DeviceError
from .adapter import READBACK, STORAGE, UNIFORM, is_cpu_emulation


def request_adapter():
    """A WgpuAdapter on the best adapter wgpu-py finds, or DeviceError saying why not."""
    try:
        import wgpu
    except ImportError as e:
        raise DeviceError(f"wgpu-py is not installed ({e}); `pip install wgpu`") from None
    try:
        with _without_wayland_noise():
            adapter = wgpu.gpu.request_adapter_sync(power_preference="high-performance")
    except Exception as e:  # wgpu raises plain RuntimeErrors when no driver is found
        raise DeviceError(f"no WebGPU adapter: {e}") from None
    if adapter is None:
        raise DeviceError("no WebGPU adapter found (wgpu-py)")
    return WgpuAdapter(wgpu, adapter)


# What libwayland-client prints, straight to fd 2, when wl_display_connect(NULL) finds
# XDG_RUNTIME_DIR unset or relative. Mesa's Vulkan device-select layer calls it inside
# vkEnumeratePhysicalDevices (twice per request_adapter: count, then list) to find the
# compositor's GPU, because wgpu-native's Vulkan instance enables VK_KHR_wayland_surface. Nothing
# here draws to a screen, so the probe failing is harmless and the line is only noise.
WAYLAND_NOISE = b"error: XDG_RUNTIME_DIR is invalid or not set in the environment.\n"


@contextmanager
def _without_wayland_noise():
    """Drop WAYLAND_NOISE from what C code writes to fd 2 inside the block; every other byte is
    written back after it, in order. Only where libwayland would complain (XDG_RUNTIME_DIR unset
    or not absolute); the environment is left alone (children and other libraries see it as is)."""
    if os.environ.get("XDG_RUNTIME_DIR", "").startswith("/"):
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):   # no fd 2 to filter
        yield
        return
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            yield
        finally:
            try:
                sys.stderr.flush()
            except (OSError, ValueError):
                pass
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            rest = caught.read().replace(WAYLAND_NOISE, b"")
            while rest:
                rest = rest[os.write(2, rest):]


class WgpuAdapter:
    in_browser = False

    def __init__(self, wgpu, adapter):
        self._wgpu = wgpu
        info = adapter.info
        self.info = dict(info)   # vendor, architecture, device, description, adapter_type, backend_type
        self.description = f"{info.get('device') or info.get('vendor')} ({info.get('backend_type')})"
        self.is_cpu_emulation = is_cpu_emulation(self.info)
        self._adapter = adapter
        U = wgpu.BufferUsage
        self._usage = {STORAGE: U.STORAGE | U.COPY_SRC | U.COPY_DST, UNIFORM: U.UNIFORM | U.COPY_DST,
                       READBACK: U.MAP_READ | U.COPY_DST}
        self._raw = _raw_pass_functions()
        self._encoder = None

    def __getattr__(self, name):
        """`device` and `limits` come into being on first use: requesting the device costs ~1 s on
        llvmpipe, which device "auto" passes over after reading the adapter's info alone."""
        if name not in ("device", "limits"):
            raise AttributeError(name)
        self._request_device()
        return self.__dict__[name]

    def _request_device(self) -> None:
        lim = self._adapter.limits
        wanted = {k: lim[k] for k in ("max-storage-buffer-binding-size", "max-buffer-size",
                                      "max-compute-workgroup-storage-size", "max-storage-buffers-per-shader-stage")}
        self.device = self._adapter.request_device_sync(required_limits=wanted)
        dl = self.device.limits
        self.limits = {
            "max_storage_buffer_binding_size": dl["max-storage-buffer-binding-size"],
            "max_buffer_size": dl["max-buffer-size"],
            "max_compute_workgroups_per_dimension": dl["max-compute-workgroups-per-dimension"],
            "max_compute_workgroup_storage_size": dl["max-compute-workgroup-storage-size"],
        }

    def create_buffer(self, size, usage, label=""):
        return self.device.create_buffer(size=max(4, size), usage=self._usage[usage], label=label)

    def write_buffer(self, buffer, offset, data):
        self.device.queue.write_buffer(buffer, offset, data)

    def create_compute_pipeline(self, code, label):
        try:
            module = self.device.create_shader_module(code=code, label=label)
            return self.device.create_compute_pipeline(layout="auto", compute={"module": module, "entry_point": "main"},
                                                       label=label)
        except Exception as e:
            raise DeviceError(f"WGSL pipeline {label!r} failed: {e}") from None

    def create_bind_group(self, pipeline, entries):
        layout = pipeline.get_bind_group_layout(0)
        return self.device.create_bind_group(layout=layout, entries=[
            {"binding": b, "resource": {"buffer": buf, "offset": off, "size": size}}
            for b, (buf, off, size) in sorted(entries.items())])

    def submit(self, commands, prepared=None):
        """Encode commands and submit them; `prepared` (from prepare()) is submitted right after
        them in the same queue.submit."""
        cbs = [self._encode(commands)] if commands else []
        if prepared is not None:
            cbs.append(prepared.result())
        self.device.queue.submit(cbs)

    def prepare(self, commands):
        """Start encoding commands into a command buffer on a helper thread: a Future of it.
        The replayed decode step is encoded while the GPU runs the current one: through wgpu-py
        encoding a step costs about as much CPU time as the GPU takes to run it (most of it in
        wgpu-core's end/finish, which releases the GIL). One thread: two (the step cut into 2
        command buffers) decoded slower, contending for the GIL and wgpu-core's locks
        (bench/RESULTS.md)."""
        if self._encoder is None:
            from concurrent.futures import ThreadPoolExecutor
            self._encoder = ThreadPoolExecutor(1, thread_name_prefix="webinfer-encode")
        return self._encoder.submit(self._encode, commands)

    def _encode(self, commands):
        enc = self.device.create_command_encoder()
        cpass = None
        raw = self._raw
        if raw:      # hoisted: 2-3 calls per dispatch, ~150 dispatches a decode step
            set_pipeline, set_bind_group, dispatch, null = raw.set_pipeline, raw.set_bind_group, raw.dispatch, raw.null
        for c in commands:
            if c[0] == "dispatch":
                if cpass is None:
                    cpass = enc.begin_compute_pass()
                    h = cpass._internal if raw else None
                    last = None
                _, pipe, bg, (x, y, z) = c
                if raw:
                    if pipe is not last:   # the pipeline stays set across dispatches in one pass
                        set_pipeline(h, pipe._internal)
                        last = pipe
                    set_bind_group(h, 0, bg._internal, 0, null)
                    dispatch(h, x, y, z)
                else:
                    cpass.set_pipeline(pipe)
                    cpass.set_bind_group(0, bg)
                    cpass.dispatch_workgroups(x, y, z)
            else:
                if cpass is not None:
                    cpass.end()
                    cpass = None
                _, src, so, dst, do, size = c
                enc.copy_buffer_to_buffer(src, so, dst, do, size)
        if cpass is not None:
            cpass.end()
        return enc.finish()

    async def read_buffer(self, buffer, size):
        return self.read_buffer_sync(buffer, size)

    def read_buffer_sync(self, buffer, size):
        raw = self._raw
        if raw is not None and raw.map is not None:
            return raw.read(self.device._internal, buffer._internal, size)
        buffer.map_sync(self._wgpu.MapMode.READ, 0, size)
        try:
            return bytes(buffer.read_mapped(0, size, copy=True))
        finally:
            buffer.unmap()

    def destroy_buffer(self, buffer):
        buffer.destroy()


class _RawPass:
    """wgpu-native's compute-pass entry points as plain cffi functions: not wgpu-py's checked
    wrappers, nor its `libf` proxies (which arm an error handler around every call). Recording
    into a pass reports its errors at end()/finish(), which still go through wgpu-py and raise.

    Also the readback (``read``): wgpu-py's map_sync wakes a thread that calls wgpuDevicePoll
    with wait=true, which returns only when EVERY submitted command buffer has finished. With the
    next decode step queued ahead (decode_ahead), reading token t then waited for step t + 1 as
    well, and the CPU's work for step t + 2 could not overlap the GPU. Here the map is requested
    directly and the device polled without waiting until that map's callback has run."""
    def __init__(self, lib, ffi):
        self.set_pipeline = lib.wgpuComputePassEncoderSetPipeline
        self.set_bind_group = lib.wgpuComputePassEncoderSetBindGroup
        self.dispatch = lib.wgpuComputePassEncoderDispatchWorkgroups
        self.null = ffi.NULL
        self._lib, self._ffi = lib, ffi
        self._status = []
        try:
            @ffi.callback("void(WGPUMapAsyncStatus, WGPUStringView, void *, void *)")
            def on_map(status, message, u1, u2):
                self._status.append(int(status))
            self._on_map = on_map
            self._info = ffi.new("WGPUBufferMapCallbackInfo *")
            self._info.mode = lib.WGPUCallbackMode_AllowProcessEvents
            self._info.callback = on_map
            self.map = lib.wgpuBufferMapAsync
            self._read_mode = lib.WGPUMapMode_Read
            self._ok = lib.WGPUMapAsyncStatus_Success
        except Exception:   # another wgpu-native header: wgpu-py's map_sync
            self.map = None

    def read(self, device, buffer, size):
        lib, status = self._lib, self._status
        status.clear()
        self.map(buffer, self._read_mode, 0, size, self._info[0])
        while not status:
            lib.wgpuDevicePoll(device, False, self.null)
        if status[0] != self._ok:
            raise DeviceError(f"WebGPU readback failed (map status {status[0]})")
        try:
            ptr = lib.wgpuBufferGetConstMappedRange(buffer, 0, size)
            return bytes(self._ffi.buffer(ptr, size))
        finally:
            lib.wgpuBufferUnmap(buffer)


def _raw_pass_functions():
    try:
        from wgpu.backends.wgpu_native._ffi import ffi, lib
        return _RawPass(lib, ffi)
    except Exception:   # another wgpu-py version: fall back to the public API
        return None
