"""The adapter interface: the handful of WebGPU calls the shared WebGPU device makes.

Two implementations: ``adapter_wgpu.WgpuAdapter`` (wgpu-py, CPython) and a browser one over
Pyodide's FFI (navigator.gpu). Everything above this line -- buffers, pipelines, kernels,
record/replay -- is shared and lives in ``device.py``. Handles (buffers, pipelines, bind
groups) are whatever the implementation returns; the device never looks inside them.

Names follow the WebGPU spec in snake_case, so the two adapters read side by side.

A ``Command`` list is what one submit carries:
    ("dispatch", pipeline, bind_group, (x, y, z))       -- inside one compute pass
    ("copy", src, src_offset, dst, dst_offset, size)     -- copyBufferToBuffer
Consecutive dispatches share one compute pass; a copy ends the pass. This is the replay
loop: in Pyodide it is a few lines of JS, so a decode step costs O(1) Python->JS calls.
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence

# usage kinds for create_buffer
STORAGE = "storage"     # STORAGE | COPY_SRC | COPY_DST
UNIFORM = "uniform"     # UNIFORM | COPY_DST
READBACK = "readback"   # MAP_READ | COPY_DST

Command = tuple


# Names of software rasterizers that run WGSL on the CPU, as they appear in an adapter's
# vendor / architecture / device / description (lower case): Mesa's llvmpipe, lavapipe and
# softpipe, Google's SwiftShader (Chromium's fallback adapter), Microsoft's WARP.
CPU_EMULATIONS = ("llvmpipe", "lavapipe", "softpipe", "swiftshader", "microsoft basic render driver")


def is_cpu_emulation(info: dict) -> bool:
    """Whether an adapter emulates a GPU on the CPU, from what it says about itself: WebGPU's
    ``isFallbackAdapter``, wgpu-native's ``adapter_type`` "CPU", or a known software rasterizer's
    name (browsers that hide adapter details still name SwiftShader in ``architecture``).
    On such an adapter every WGSL kernel runs as emulated threads: NumPy on the same CPU decodes
    tens of times faster (bench/RESULTS.md), so device "auto" prefers NumPy there."""
    if info.get("is_fallback_adapter") or str(info.get("adapter_type") or "").upper() == "CPU":
        return True
    words = " ".join(str(info.get(k) or "") for k in ("vendor", "architecture", "device", "description")).lower()
    return any(name in words for name in CPU_EMULATIONS)


class Adapter(Protocol):
    description: str        # "NVIDIA H100 (Vulkan)", shown to users
    is_cpu_emulation: bool  # a software rasterizer (llvmpipe, SwiftShader): see is_cpu_emulation()
    limits: dict[str, int]  # max_storage_buffer_binding_size, max_buffer_size,
                            # max_compute_workgroups_per_dimension, max_compute_workgroup_storage_size
    in_browser: bool        # navigator.gpu (a page's GPU time is watched: kernels must not spin for long)

    def create_buffer(self, size: int, usage: str, label: str = "") -> Any:
        """A zero-filled buffer of `size` bytes (a multiple of 4)."""

    def write_buffer(self, buffer: Any, offset: int, data) -> None:
        """queue.writeBuffer from a bytes-like / C-contiguous numpy array."""

    def create_compute_pipeline(self, code: str, label: str) -> Any:
        """A compute pipeline with layout "auto" for the entry point `main` of WGSL `code`.
        Raises DeviceError with the compiler's message if the WGSL does not compile."""

    def create_bind_group(self, pipeline: Any, entries: dict[int, tuple[Any, int, int]]) -> Any:
        """Group 0 of `pipeline`: binding -> (buffer, offset, size)."""

    def submit(self, commands: Sequence[Command]) -> None:
        """Encode the commands (see module doc) into one command buffer and submit it."""

    async def read_buffer(self, buffer: Any, size: int) -> bytes:
        """Map a READBACK buffer (after a submitted copy into it), copy `size` bytes out, unmap."""

    def destroy_buffer(self, buffer: Any) -> None:
        """Free GPU memory now (optional: garbage collection also frees it)."""
