"""The machinery under the WebGPU ops: buffers, pipelines, bind groups, the pending command list.

``GPU`` wraps an Adapter with what every kernel launch needs: a pipeline cache keyed by
(shader, variant), pooled storage buffers, content-keyed uniform buffers (a kernel's shape
parameters repeat across layers, so a handful of small buffers serve a whole model), and the
list of commands waiting for the next submit. Ops only append commands; ``flush`` submits them
all at once (ggml-webgpu's batching), and a readback is a copy appended to the same submit.

Not here: what the kernels compute (device.py, shaders/).
"""

from __future__ import annotations

import bisect
import struct
from dataclasses import dataclass, field

import numpy as np

from ...errors import DeviceError
from . import shaders
from .adapter import READBACK, STORAGE, UNIFORM


FLUSH_EVERY = 64   # queued commands that are submitted without waiting for a read (never while recording)


@dataclass(eq=False)
class GTensor:
    """A device activation: `n` rows of `width` values (f32, or u32 token ids) in `buf`."""
    gpu: "GPU"
    buf: object
    n: int
    width: int
    dtype: str = "f32"
    offset: int = 0   # bytes
    pooled: bool = True

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n, self.width)

    @property
    def nbytes(self) -> int:
        return 4 * self.n * self.width

    def binding(self):
        return (self.buf, self.offset, max(4, self.nbytes))

    def __del__(self):
        if self.pooled and self.gpu is not None:
            self.gpu.release(self.buf, self._cap)

    _cap: int = field(default=0, repr=False)


@dataclass(eq=False)
class GSlice:
    """A byte range of a buffer bound on its own (one layer's keys in the model's KV buffer)."""
    buf: object
    offset: int
    size: int

    def binding(self):
        return (self.buf, self.offset, self.size)


class GPU:
    def __init__(self, adapter):
        self.adapter = adapter
        self.limits = adapter.limits
        self.pending: list[tuple] = []
        self.dispatches = 0                     # dispatches issued, for dispatches/token
        self.submits = 0                        # command buffers submitted
        self.fail_at_submit: int | None = None  # tests: raise DeviceError from this submit on (a lost GPU)
        self.recording = False                  # tensors made while recording belong to the program
        self._pipelines: dict = {}
        self._pool: dict[int, list] = {}        # capacity bytes -> free storage buffers
        self._serial: dict[int, int] = {}       # id(pooled buffer) -> creation number (pool order)
        self._uniforms: dict[bytes, object] = {}
        self._bind_groups: dict[tuple, tuple] = {}   # (pipeline, bindings) -> (bind group, its pipeline, buffers)
        self._staging: dict[int, list] = {}
        self.recorded: list[tuple] = []          # while recording: (shader, defines, entries, grid) per dispatch

    # -- memory ----------------------------------------------------------------------------------
    def check_size(self, nbytes: int, what: str) -> None:
        lim = min(self.limits["max_storage_buffer_binding_size"], self.limits["max_buffer_size"])
        if nbytes > lim:
            raise DeviceError(f"{what} needs a {nbytes / 2**20:.1f} MiB storage buffer, over this adapter's "
                              f"limit of {lim / 2**20:.1f} MiB (maxStorageBufferBindingSize/maxBufferSize)")

    def upload(self, data: np.ndarray, what: str):
        data = np.ascontiguousarray(data)
        nbytes = (data.nbytes + 3) // 4 * 4
        self.check_size(nbytes, what)
        buf = self.adapter.create_buffer(nbytes, STORAGE, what)
        if data.nbytes % 4:
            data = np.concatenate([data.reshape(-1).view(np.uint8), np.zeros(nbytes - data.nbytes, np.uint8)])
        self.adapter.write_buffer(buf, 0, data)
        return buf

    def zeros(self, nbytes: int, what: str):
        self.check_size(nbytes, what)
        return self.adapter.create_buffer((nbytes + 3) // 4 * 4, STORAGE, what)

    def tensor(self, n: int, width: int, dtype: str = "f32") -> GTensor:
        """A pooled (n, width) activation; its buffer returns to the pool when the tensor dies."""
        need = max(16, 4 * n * width)
        cap = 1 << (need - 1).bit_length()      # power-of-two size classes keep the pool small
        free = self._pool.get(cap)
        buf = free.pop() if free else None
        if buf is None:
            self.check_size(cap, f"a ({n}, {width}) activation")
            buf = self.adapter.create_buffer(cap, STORAGE)
            self._serial[id(buf)] = len(self._serial)
        t = GTensor(self, buf, n, width, dtype, pooled=not self.recording)
        t._cap = cap
        return t

    def release(self, buf, cap: int) -> None:
        # Free buffers kept in creation order (the oldest popped first): a forward pass of the
        # same shape then gets the same buffers, so its bind groups come from the cache. Handed
        # out in release order, the pool permuted from one prefill to the next and 155 of a
        # 64-token prefill's 243 bind groups were made anew each time.
        bisect.insort(self._pool.setdefault(cap, []), buf, key=lambda b: -self._serial[id(b)])

    def uniform(self, *fields) -> object:
        """A uniform buffer holding `fields` (ints as u32, floats as f32), shared by equal content."""
        data = b"".join(struct.pack("<f", f) if isinstance(f, float) else struct.pack("<I", f) for f in fields)
        data += b"\0" * (-len(data) % 16)
        buf = self._uniforms.get(data)
        if buf is None:
            if len(self._uniforms) > 4096:      # positions of long prefills: don't grow forever
                self._uniforms.clear()
            buf = self.adapter.create_buffer(len(data), UNIFORM)
            self.adapter.write_buffer(buf, 0, data)
            self._uniforms[data] = buf
        return buf

    # -- kernels ---------------------------------------------------------------------------------
    def pipeline(self, shader: str, defines=(), values: dict | None = None):
        """The compiled variant `defines` of `shader`, its {{NAME}} placeholders filled from `values`."""
        vals = tuple(sorted((values or {}).items()))
        key = (shader, frozenset(defines), vals)
        p = self._pipelines.get(key)
        if p is None:
            # (a value with a line break is named, not spelled out: errors quote the label)
            label = shader.removesuffix(".wgsl") + "".join(f"+{d}" for d in sorted(defines)) + \
                "".join(f"+{k}={v}" if "\n" not in str(v) else f"+{k}" for k, v in vals)
            p = self.adapter.create_compute_pipeline(shaders.expand(shader, key[1], dict(vals)), label)
            self._pipelines[key] = p
        return p

    def dispatch(self, shader: str, defines, bindings: dict, grid: tuple[int, int, int]) -> None:
        """Append one dispatch. bindings: binding -> GTensor | GSlice | buffer | (buffer, offset, size)."""
        if len(self.pending) >= FLUSH_EVERY and not self.recording:
            self.flush()       # a long prefill: the GPU starts on the first layers while Python records the rest
        cmd, entries = self.command(shader, defines, bindings, grid)
        if self.recording:
            self.recorded.append((shader, frozenset(defines), entries, tuple(grid)))
        self.pending.append(cmd)
        self.dispatches += 1

    def command(self, shader: str, defines, bindings: dict, grid: tuple[int, int, int], values=None):
        """The ("dispatch", ...) command for these bindings, not queued (a program keeps it), and
        its resolved bindings: binding -> (buffer, offset, size)."""
        pipe = self.pipeline(shader, defines, values)
        entries = {}
        for b, v in bindings.items():
            if isinstance(v, (GTensor, GSlice)):
                entries[b] = v.binding()
            elif isinstance(v, tuple):
                entries[b] = v
            else:
                entries[b] = (v, 0, v.size)
        # Bind groups are cached: a prefill of the same length re-binds the same pooled buffers,
        # and creating ~240 bind groups per prefill cost more CPU time than the GPU took
        # (bench/RESULTS.md). The entry holds its buffers, so an
        # id() in the key cannot be reused by a new buffer while the entry lives.
        key = (id(pipe), tuple((b, id(e[0]), e[1], e[2]) for b, e in sorted(entries.items())))
        hit = self._bind_groups.get(key)
        if hit is None:
            if len(self._bind_groups) > 8192:
                self._bind_groups.clear()
            hit = (self.adapter.create_bind_group(pipe, entries), pipe, [e[0] for e in entries.values()])
            self._bind_groups[key] = hit
        return ("dispatch", pipe, hit[0], grid), entries

    def grid(self, n_blocks: int, z: int = 1) -> tuple[int, int, int]:
        """(x, y, z) with x * y >= n_blocks and both under maxComputeWorkgroupsPerDimension."""
        lim = self.limits["max_compute_workgroups_per_dimension"]
        x = min(n_blocks, lim)
        y = -(-n_blocks // x)
        if y > lim or z > lim:
            raise DeviceError(f"{n_blocks} x {z} workgroups exceed the adapter's grid limit {lim}")
        return (max(1, x), max(1, y), z)

    def uniform_contents(self) -> dict[int, np.ndarray]:
        """id(buffer) -> the u32 words (floats as their bits) of every live uniform() buffer."""
        return {id(buf): np.frombuffer(data, np.uint32) for data, buf in self._uniforms.items()}

    def copy(self, src, src_off: int, dst, dst_off: int, size: int) -> None:
        if self.recording:
            self.recorded.append(("copy", None, None, None))
        self.pending.append(("copy", src, src_off, dst, dst_off, size))

    def flush(self, prepared=None) -> None:
        """Submit the queued commands (and then `prepared`, a command buffer the adapter's
        prepare() is encoding, where it has one)."""
        if self.pending or prepared is not None:
            cmds, self.pending = self.pending, []
            self.submits += 1
            if self.fail_at_submit is not None and self.submits >= self.fail_at_submit:
                raise DeviceError(f"injected fault at submit {self.submits} (test hook fail_at_submit)")
            try:
                if prepared is None:
                    self.adapter.submit(cmds)
                else:
                    self.adapter.submit(cmds, prepared)
            except DeviceError:
                raise
            except Exception as e:   # wgpu-py raises its own GPU errors: generate falls back on DeviceError
                raise DeviceError(f"WebGPU submit failed ({type(e).__name__}: {e})") from e


    # -- readback --------------------------------------------------------------------------------
    def start_read(self, t: GTensor, submit: bool = True):
        """Append a copy of t into a staging buffer and submit now (or with the next submit);
        returns what finish_read needs."""
        size = max(4, t.nbytes)
        cap = 1 << (size - 1).bit_length()
        free = self._staging.get(cap)
        stage = free.pop() if free else self.adapter.create_buffer(cap, READBACK)
        self.copy(t.buf, t.offset, stage, 0, size)
        if submit:
            self.flush()
        return stage, cap, size, t

    async def finish_read(self, started) -> np.ndarray:
        stage, cap, size, t = started
        try:
            data = await self.adapter.read_buffer(stage, size)
        except DeviceError:
            raise
        except Exception as e:   # a lost device fails the map: say so as a DeviceError
            raise DeviceError(f"WebGPU readback failed ({type(e).__name__}: {e})") from e
        self._staging.setdefault(cap, []).append(stage)
        arr = np.frombuffer(data, dtype=np.float32 if t.dtype == "f32" else np.int32, count=t.n * t.width)
        return arr.reshape(t.n, t.width).copy()
