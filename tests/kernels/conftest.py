"""Kernel tests: each WGSL kernel against its NumPy twin (webinfer.device.numpy_device)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from webinfer.errors import DeviceError

os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")   # Mesa's loader complains without it


@pytest.fixture(scope="session")
def gdev():
    from webinfer.device.webgpu import open_device
    try:
        return open_device()
    except DeviceError as e:
        pytest.skip(f"no usable WebGPU adapter: {e}")
