"""Which WebGPU adapters count as CPU emulations (device "auto" prefers NumPy over them), from
what real adapters report: wgpu-native's adapter info in CPython, GPUAdapterInfo in a browser."""

from __future__ import annotations

import pytest

from webinfer.device import numpy_preferred_over
from webinfer.device.webgpu.adapter import is_cpu_emulation
from webinfer.device.webgpu.adapter_js import JsAdapter

# wgpu-py 0.32 on Mesa 22.3 (this machine, CI)
LLVMPIPE = {"vendor": "llvmpipe", "architecture": "", "device": "llvmpipe (LLVM 15.0.6, 256 bits)",
            "description": "Mesa 22.3.6 (LLVM 15.0.6)", "adapter_type": "CPU", "backend_type": "Vulkan"}
# headless Chromium with --use-webgpu-adapter=swiftshader (bench/log/runs.md: "google swiftshader")
SWIFTSHADER = {"vendor": "google", "architecture": "swiftshader", "device": "", "description": ""}
NVIDIA = {"vendor": "NVIDIA", "architecture": "", "device": "NVIDIA H100 80GB HBM3", "description": "570.124.06",
          "adapter_type": "DiscreteGPU", "backend_type": "Vulkan"}


@pytest.mark.parametrize("info, emulated", [
    (LLVMPIPE, True),
    ({**LLVMPIPE, "adapter_type": "Unknown"}, True),                 # the name alone is enough
    ({"vendor": "", "device": "", "adapter_type": "CPU"}, True),      # the type alone too
    (SWIFTSHADER, True),
    ({"vendor": "", "architecture": "", "is_fallback_adapter": True}, True),   # a browser hiding names
    ({"device": "lavapipe"}, True),
    ({"device": "Microsoft Basic Render Driver", "backend_type": "D3D12"}, True),   # WARP
    (NVIDIA, False),
    ({"vendor": "apple", "architecture": "metal-3", "is_fallback_adapter": False}, False),
    ({"vendor": "intel", "architecture": "gen-12lp", "device": "", "description": ""}, False),
    ({}, False),
])
def test_is_cpu_emulation(info, emulated):
    assert is_cpu_emulation(info) is emulated


def test_the_browser_adapter_takes_the_kit_s_info():
    """adapter_js's kit open() returns GPUAdapterInfo's fields and isFallbackAdapter; the
    JsAdapter built from them carries the verdict the selection reads."""
    swift = JsAdapter(None, None, "google swiftshader (browser WebGPU)", {}, info={**SWIFTSHADER,
                                                                             "is_fallback_adapter": True})
    assert swift.is_cpu_emulation and not swift.self_tested
    assert numpy_preferred_over(swift) == ('WebGPU adapter "google swiftshader (browser WebGPU)" is a CPU '
                                           "emulation; NumPy is faster here")
    gpu = JsAdapter(None, None, "nvidia ampere (browser WebGPU)", {}, info={"vendor": "nvidia",
                                                                          "architecture": "ampere"})
    assert not gpu.is_cpu_emulation and numpy_preferred_over(gpu) is None
