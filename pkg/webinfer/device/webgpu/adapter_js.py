"""The browser adapter: the Adapter interface (adapter.py) over `navigator.gpu`, through Pyodide.

Works on a page and in a Web Worker (both have `navigator.gpu`). The twin of adapter_wgpu.py;
read them side by side. Everything that touches JS goes through one small "kit" of JS
functions made once (``js/webgpu.js`` via ffi.make_kit), so the crossings are few and counted:

* ``submit`` sends a command list as an Int32Array of slot numbers read straight out of wasm
  memory; the JS side holds each command (pipeline, bind group, grid / copy) in a slot,
  registered the first time Python sends it. A replayed decode step (the same tuples every
  token) is therefore ONE call, however many dispatches it has.
* ``create_bind_group`` is memoised on (pipeline, entries): bind groups are immutable, and the
  per-token argmax outside the recorded step then costs no JS call at all.
* ``write_buffer`` / ``read_buffer`` pass (pointer, size) into Module.HEAPU8: no copy into a JS
  ArrayBuffer on the way up, and the mapped bytes land directly in a numpy array on the way down.
  Small writes (the per-token step uniform) are held and issued by the next submit call, in
  order and before its command buffer, as queue.writeBuffer would have been: no call of their own.
A decoded token costs: a submit for the replayed step (with its step-uniform write), a submit
for argmax + the 4-byte copy, and read_buffer's call + await: 4; with the fused step (its greedy
pick inside, device.py) one submit for the dispatch and the copy, and the read: 3 (tests/browser
counts both).

Errors: the browser reports WebGPU validation errors asynchronously. Pipelines are created in
an error scope (its message, with the WGSL compiler's line numbers, is collected when the
scope pops); anything else lands in `onuncapturederror`; `device.lost` sets a flag. Every kit
call returns the number of errors so far (-1 once the device is lost), so the next
``submit``/``read_buffer`` raises DeviceError with the messages -- and so does every later
call: a failed device stays failed and generation can fall back. ``await check_errors()``
waits for the pending scopes and the queue (load time, self-test).

Not here: the async opening (``open_js_adapter``: requestAdapter/requestDevice cannot be
awaited inside the sync ``open_device()``; see aload.py), anything above the WebGPU calls.
"""

from __future__ import annotations

import json
import sys

import numpy as np

from ...errors import DeviceError
from .adapter import is_cpu_emulation

# Limits asked of requestDevice (the adapter's maxima, not the spec defaults) and their
# names in Adapter.limits.
LIMITS = {
    "maxStorageBufferBindingSize": "max_storage_buffer_binding_size",
    "maxBufferSize": "max_buffer_size",
    "maxComputeWorkgroupsPerDimension": "max_compute_workgroups_per_dimension",
    "maxComputeWorkgroupStorageSize": "max_compute_workgroup_storage_size",
    "maxStorageBuffersPerShaderStage": "max_storage_buffers_per_shader_stage",
}
_MAX_SLOTS = 8192        # registered commands before the registry starts over (prefill makes new ones)
_MAX_BIND_GROUPS = 4096  # memoised bind groups before that cache starts over
_HELD_WRITE = 256        # bytes: writes up to this size wait for the next submit call

_KIT_NAMES = ("open", "createBuffer", "writeBuffer", "createPipeline", "createBindGroup", "register", "forget",
              "submit", "read", "settle", "messages", "destroy")


# The adapter `await webinfer.init_gpu()` opened (aload.py), for the sync open_device(), with
# `self_tested` set once its self-test passed; or why there is none, and the DeviceError class
# to raise it as (KitUnavailableError when the page's CSP blocks the kit).
_opened: "JsAdapter | None" = None
_why_not = ("the browser's WebGPU must be opened asynchronously first: `await webinfer.init_gpu()` "
            "(or load with `await webinfer.load_async(...)`)")
_why_class: type = DeviceError


def opened_adapter() -> "JsAdapter":
    """The adapter init_gpu opened, for open_device(); DeviceError with the reason if none."""
    if _opened is None:
        raise _why_class(_why_not)
    _opened._alive()
    return _opened


def remember(adapter: "JsAdapter | None", reason: "str | DeviceError" = "") -> None:
    """Record init_gpu's outcome: an opened adapter, or the reason there is none (a message, or
    the DeviceError itself, whose class opened_adapter raises again)."""
    global _opened, _why_not, _why_class
    _opened = adapter
    if reason:
        _why_not = str(reason)
        _why_class = type(reason) if isinstance(reason, DeviceError) else DeviceError


async def open_js_adapter(power_preference: str = "high-performance") -> "JsAdapter":
    """requestAdapter + requestDevice on navigator.gpu; DeviceError saying why when there is none."""
    if sys.platform != "emscripten":
        raise DeviceError("the browser WebGPU adapter runs only in Pyodide (use adapter_wgpu in CPython)")
    from ... import ffi
    kit = ffi.make_kit("webgpu", _KIT_NAMES)
    try:
        opened = await kit.wait(kit.open(power_preference, kit.to_js(list(LIMITS))))
    except Exception as e:  # requestDevice rejects on a bad limit or a broken GPU process
        raise DeviceError(f"navigator.gpu: requestDevice failed: {e}") from None
    if not opened.startswith("{"):
        raise DeviceError(opened)
    got = json.loads(opened)
    return JsAdapter(kit, ffi.pointer, got["description"], {LIMITS[k]: int(v) for k, v in got["limits"].items()},
                     info=got["info"])


class JsAdapter:
    in_browser = True

    def __init__(self, kit, pointer, description: str, limits: dict[str, int], info: dict | None = None):
        self._kit, self._ptr = kit, pointer
        self.description = description
        self.limits = limits
        # GPUAdapterInfo's vendor / architecture / device / description and is_fallback_adapter
        self.info = dict(info or {})
        self.is_cpu_emulation = is_cpu_emulation({"description": description, **self.info})
        self.self_tested = False                          # init_gpu's quick check passed on it
        # id(command) or its content key -> (slot, the command, kept alive so ids stay unique)
        self._slots: dict[object, tuple[int, tuple]] = {}
        self._n_slots = 0
        self._bind_groups: dict[tuple, tuple] = {}        # key -> (bind group, the handles it names)
        self._held: list[tuple] = []                      # small writes waiting for the next submit
        self._seen_errors = 0
        self._failed: str | None = None                   # first error: every later call raises it

    @property
    def js_calls(self) -> int:
        """Python->JS crossings made so far (calls, awaits, to_js conversions)."""
        return self._kit.calls

    # -- the Adapter interface ------------------------------------------------------------------
    def create_buffer(self, size, usage, label=""):
        self._alive()
        return self._kit.createBuffer(max(4, size), usage, label)

    def write_buffer(self, buffer, offset, data):
        self._alive()
        a = _bytes_view(data)
        if a.nbytes <= _HELD_WRITE:
            self._held.append((buffer, int(offset), a.tobytes()))
            return
        self._flush_writes()                            # keep the queue order of all writes
        self._check(self._kit.writeBuffer(buffer, offset, self._ptr(a), a.nbytes))

    def create_compute_pipeline(self, code, label):
        """Compile errors surface at the next submit/read or check_errors (WebGPU reports them
        asynchronously), with the compiler's line:column messages."""
        self._alive()
        return self._kit.createPipeline(code, label)

    def create_bind_group(self, pipeline, entries):
        key = (id(pipeline), tuple((b, id(buf), off, size) for b, (buf, off, size) in sorted(entries.items())))
        hit = self._bind_groups.get(key)
        if hit is not None:
            return hit[0]
        self._alive()
        desc = [{"binding": int(b), "resource": {"buffer": buf, "offset": int(off), "size": int(size)}}
                for b, (buf, off, size) in sorted(entries.items())]
        bg = self._kit.createBindGroup(pipeline, self._kit.to_js(desc))
        if len(self._bind_groups) >= _MAX_BIND_GROUPS:
            self._bind_groups.clear()
        # the handles stay referenced so their ids cannot be reused while the key exists
        self._bind_groups[key] = (bg, pipeline, [e[0] for e in entries.values()])
        return bg

    def submit(self, commands):
        self._alive()
        held, self._held = self._held, []
        writes = [("write", buf, off, len(b)) for buf, off, b in held]
        slots = self._slot_numbers(writes + list(commands))
        blob = np.frombuffer(b"".join(b for _, _, b in held) or b"\0", np.uint8)
        self._check(self._kit.submit(self._ptr(slots), len(slots), self._ptr(blob)))

    def _flush_writes(self) -> None:
        if self._held:
            self.submit([])

    async def read_buffer(self, buffer, size):
        self._alive()
        out = np.empty(size, np.uint8)
        self._check(await self._kit.wait(self._kit.read(buffer, size, self._ptr(out))))
        return out.tobytes()

    def destroy_buffer(self, buffer):
        self._flush_writes()
        self._kit.destroy(buffer)

    # -- browser-only ----------------------------------------------------------------------------
    async def check_errors(self) -> None:
        """Wait for pending pipeline error scopes and the queue; DeviceError if anything failed."""
        self._alive()
        self._flush_writes()
        self._check(await self._kit.wait(self._kit.settle()))

    # -- helpers ---------------------------------------------------------------------------------
    def _slot_numbers(self, commands) -> np.ndarray:
        """The JS slot of each command, registering new ones (one to_js + one call per batch)."""
        slots = self._slots
        # eager prefill keeps making fresh commands, and every token adds fresh tuples by id
        if self._n_slots + len(commands) > _MAX_SLOTS or len(slots) > 4 * _MAX_SLOTS:
            slots.clear()
            self._n_slots = 0
            self._kit.forget()
        new, out = [], []
        for c in commands:
            hit = slots.get(id(c))
            if hit is None:
                # a fresh tuple may still repeat an earlier command (the per-token token copy
                # and argmax): look it up by content, handles by identity, before registering
                key = _content_key(c)
                hit = slots.get(key)
                if hit is None:
                    hit = (self._n_slots, c)
                    self._n_slots += 1
                    slots[key] = hit
                    new.append(_js_command(c))
                slots[id(c)] = (hit[0], c)
            out.append(hit[0])
        if new:
            self._kit.register(self._n_slots - len(new), self._kit.to_js(new))
        return np.array(out, dtype=np.int32)

    def _alive(self) -> None:
        if self._failed is not None:
            raise DeviceError(self._failed)

    def _check(self, status: int) -> None:
        """Raise DeviceError (and stay failed) if the kit reports new errors or a lost device."""
        if status == self._seen_errors:
            return
        msgs = json.loads(self._kit.messages(self._seen_errors))
        self._seen_errors = max(status, 0)
        self._failed = "; ".join(msgs[:3]) + (f" (+{len(msgs) - 3} more)" if len(msgs) > 3 else "")
        raise DeviceError(self._failed)


def _content_key(c: tuple) -> tuple:
    if c[0] == "dispatch":
        return ("dispatch", id(c[1]), id(c[2]), *c[3])
    if c[0] == "write":
        return ("write", id(c[1]), c[2], c[3])
    return ("copy", id(c[1]), c[2], id(c[3]), c[4], c[5])


def _js_command(c: tuple) -> list:
    if c[0] == "dispatch":
        _, pipe, bg, (x, y, z) = c
        return [0, pipe, bg, int(x), int(y), int(z)]
    if c[0] == "write":
        _, buf, off, size = c
        return [2, buf, int(off), int(size)]
    _, src, so, dst, do, size = c
    return [1, src, int(so), dst, int(do), int(size)]


def _bytes_view(data) -> np.ndarray:
    """A C-contiguous uint8 view of bytes / bytearray / memoryview / numpy data (no copy)."""
    if isinstance(data, np.ndarray):
        return np.ascontiguousarray(data).reshape(-1).view(np.uint8)
    return np.frombuffer(data, dtype=np.uint8)
