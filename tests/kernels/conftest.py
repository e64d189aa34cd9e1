"""Kernel tests: each WGSL kernel against its NumPy twin (webinfer.device.numpy_device)."""

from __future__ import annotations

import pytest
from gpu_available import open_webgpu


@pytest.fixture(scope="session")
def gdev():
    return open_webgpu()


@pytest.fixture(params=[4, 16], ids=["4x64", "16x16"])
def layout(gdev, request):
    """Run a matvec test with both workgroup layouts (GPU 4 x 64, CPU-adapter 16 x 16), whichever
    this machine's adapter would pick."""
    old = getattr(gdev, "matvec_rows", None)
    gdev.matvec_rows = request.param
    yield request.param
    gdev.matvec_rows = old
