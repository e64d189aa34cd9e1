"""adapter_js's Python side in CPython, over a fake kit (no browser, runs in milliseconds).

What this covers: the bookkeeping that makes a replayed step cost one JS call -- commands are
registered once (by identity, or by content when a fresh tuple repeats an earlier command),
bind groups are memoised, the registry starts over instead of growing -- and the error
contract: a kit status > 0 or -1 (device lost) raises DeviceError with the kit's messages, and
every later call raises it too. The browser test (test_browser_webgpu.py) runs the real kit.
"""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest

from webinfer.device.webgpu import adapter_js
from webinfer.device.webgpu.adapter_js import JsAdapter
from webinfer.errors import DeviceError


class FakeKit:
    """Records calls like ffi.Kit counts them; submit decodes the slot numbers it is given."""

    def __init__(self):
        self.calls, self.log, self.slots, self.submitted, self.writes = 0, [], [], [], []
        self.status, self.msgs = 0, []
        self.memory: dict[int, np.ndarray] = {}    # pointer -> array (stands in for HEAPU8)

    def _call(self, name, *args):
        self.calls += 1
        self.log.append(name)

    def createBuffer(self, size, usage, label):
        self._call("createBuffer")
        return object()

    def createPipeline(self, code, label):
        self._call("createPipeline")
        return object()

    def createBindGroup(self, pipeline, entries):
        self._call("createBindGroup")
        return object()

    def to_js(self, value):
        self._call("to_js")
        return value

    def register(self, first, commands):
        self._call("register")
        del self.slots[first:]
        self.slots.extend(commands)

    def forget(self):
        self._call("forget")
        self.slots.clear()

    def submit(self, ptr, n, data_ptr):
        self._call("submit")
        cmds, data, pos = [self.slots[i] for i in self.memory[ptr][:n]], self.memory[data_ptr], 0
        for c in cmds:
            if c[0] == 2:                                   # a held write: its bytes, in order
                self.writes.append((c[1], c[2], data[pos:pos + c[3]].tobytes()))
                pos += c[3]
        self.submitted.append([c for c in cmds if c[0] != 2])
        return self.status

    def writeBuffer(self, buf, offset, ptr, size):
        self._call("writeBuffer")
        self.writes.append((buf, offset, self.memory[ptr][:size].tobytes()))
        return self.status

    async def _read(self, ptr, size):
        self.memory[ptr][:size] = 7
        return self.status

    def read(self, buf, size, ptr):
        self._call("read")
        return self._read(ptr, size)

    async def wait(self, promise):
        self.calls += 1
        return await promise

    def messages(self, start):
        return json.dumps(self.msgs[start:])

    def destroy(self, buf):
        self._call("destroy")


@pytest.fixture
def adapter():
    kit = FakeKit()

    def pointer(a):        # remember the array so the fake kit can "read wasm memory"
        kit.memory[id(a)] = a
        return id(a)
    limits = {"max_storage_buffer_binding_size": 1 << 27, "max_buffer_size": 1 << 28,
              "max_compute_workgroups_per_dimension": 65535, "max_compute_workgroup_storage_size": 16384}
    return JsAdapter(kit, pointer, "fake (browser WebGPU)", limits)


def step(a, pipe, bufs, n=20):
    """A recorded decode step: n dispatches over memoised bind groups, then a copy."""
    cmds = [("dispatch", pipe, a.create_bind_group(pipe, {0: (bufs[i % 3], 0, 64)}), (i + 1, 1, 1))
            for i in range(n)]
    return cmds + [("copy", bufs[0], 0, bufs[1], 0, 4)]


def test_replayed_step_costs_one_call_and_encodes_the_same_commands(adapter):
    kit = adapter._kit
    pipe = adapter.create_compute_pipeline("@compute fn main() {}", "p")
    bufs = [adapter.create_buffer(64, "storage") for _ in range(3)]
    cmds = step(adapter, pipe, bufs)
    assert kit.log.count("createBindGroup") == 3           # 20 dispatches, 3 distinct bind groups
    adapter.submit(cmds)                                    # first time: to_js + register + submit
    first = kit.submitted[-1]
    assert [c[0] for c in first] == [0] * 20 + [1] and first[4][3:] == [5, 1, 1]
    for _ in range(3):
        before = kit.calls
        fresh_copy = ("copy", bufs[0], 0, bufs[1], 0, 4)    # a new tuple repeating a known command
        adapter.submit(cmds + [fresh_copy])
        assert kit.calls - before == 1, kit.log[-3:]
        assert kit.submitted[-1] == first + [first[-1]]
    before = kit.calls
    step(adapter, pipe, bufs)                               # same bind groups again: memoised
    assert kit.calls == before


def test_registry_starts_over_instead_of_growing(adapter, monkeypatch):
    monkeypatch.setattr(adapter_js, "_MAX_SLOTS", 50)
    pipe = adapter.create_compute_pipeline("", "p")
    buf = adapter.create_buffer(64, "storage")
    bg = adapter.create_bind_group(pipe, {0: (buf, 0, 64)})
    for i in range(100):                                    # eager ops: every command is new
        adapter.submit([("dispatch", pipe, bg, (i + 1, 1, 1)) for _ in range(2)] +
                       [("dispatch", pipe, bg, (1000 + i, 1, 1))])
        assert adapter._kit.submitted[-1][-1][3] == 1000 + i
    assert adapter._kit.log.count("forget") >= 2
    assert adapter._n_slots <= 50 and len(adapter._kit.slots) <= 50 and len(adapter._slots) <= 4 * 50 + 6


def test_small_writes_ride_on_the_next_submit_in_order(adapter):
    kit = adapter._kit
    step_buf, big = adapter.create_buffer(16, "uniform"), adapter.create_buffer(4096, "storage")
    pipe = adapter.create_compute_pipeline("", "p")
    cmds = step(adapter, pipe, [big] * 3)
    adapter.submit(cmds)
    for pos in (5, 6, 7):                                   # the per-token step uniform
        before = kit.calls
        adapter.write_buffer(step_buf, 0, np.array([pos, 1, 0, 0], np.uint32))
        adapter.write_buffer(step_buf, 4, b"\x02\x00\x00\x00")
        assert kit.calls == before                          # held: no call of their own
        adapter.submit(cmds)
        if pos > 5:                                         # (pos 5 registered the two writes)
            assert kit.calls - before == 1
        assert kit.writes[-2:] == [(step_buf, 0, np.array([pos, 1, 0, 0], np.uint32).tobytes()),
                                   (step_buf, 4, b"\x02\0\0\0")]
    adapter.write_buffer(step_buf, 0, b"\x09" * 16)          # held ...
    adapter.write_buffer(big, 0, np.ones(1024, np.float32))  # ... then a large one: order kept
    assert [w[1:] for w in kit.writes[-2:]] == [(0, b"\x09" * 16), (0, np.ones(1024, np.float32).tobytes())]
    assert kit.writes[-1][0] is big and kit.log[-2:] == ["submit", "writeBuffer"]


def test_read_lands_in_a_numpy_array(adapter):
    buf = adapter.create_buffer(16, "readback")
    assert asyncio.run(adapter.read_buffer(buf, 8)) == b"\x07" * 8


@pytest.mark.parametrize("status, msgs, expect", [
    (1, ["WGSL pipeline 'matvec+Q4_1': 12:5 unresolved identifier 'x'"], "unresolved identifier"),
    (-1, ["WebGPU device lost (unknown): GPU process crashed"], "device lost"),
])
def test_errors_raise_device_error_and_the_adapter_stays_failed(adapter, status, msgs, expect):
    kit = adapter._kit
    pipe = adapter.create_compute_pipeline("", "p")
    bg = adapter.create_bind_group(pipe, {0: (adapter.create_buffer(4, "storage"), 0, 4)})
    kit.status, kit.msgs = status, msgs
    with pytest.raises(DeviceError, match=expect):
        adapter.submit([("dispatch", pipe, bg, (1, 1, 1))])
    with pytest.raises(DeviceError, match=expect):          # no further GPU work on a failed device
        adapter.create_buffer(4, "storage")
    with pytest.raises(DeviceError, match=expect):
        asyncio.run(adapter.read_buffer(object(), 4))


def test_opened_adapter_says_why_there_is_none(monkeypatch):
    with pytest.raises(DeviceError, match="only in Pyodide"):
        asyncio.run(adapter_js.open_js_adapter())
    with pytest.raises(DeviceError, match="init_gpu"):      # not opened yet: says how
        adapter_js.opened_adapter()
    monkeypatch.setattr(adapter_js, "_why_not", adapter_js._why_not)
    adapter_js.remember(None, "navigator.gpu.requestAdapter() returned no adapter")
    with pytest.raises(DeviceError, match="returned no adapter"):
        adapter_js.opened_adapter()
