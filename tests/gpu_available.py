"""When a WebGPU test may skip: only when this machine has no WebGPU adapter at all, and never
on CI (CI installs Mesa's llvmpipe through tools/sysdeps.sh, so a missing adapter there is a
broken set-up, not a reason). A device that opens but fails its self-test — a WGSL compile
error, a wrong kernel — is a test failure, never a skip."""

from __future__ import annotations

import os

import pytest

NO_ADAPTER = ("no WebGPU adapter", "wgpu-py is not installed")


def open_webgpu(**kw):
    """webinfer.device.webgpu.open_device(**kw), or the skip / failure the rules above give."""
    from webinfer.device.webgpu import open_device
    from webinfer.errors import DeviceError
    try:
        return open_device(**kw)
    except DeviceError as e:
        skip_or_fail(e)


def skip_or_fail(e: Exception):
    """The rules above, for a DeviceError from opening the device."""
    msg = str(e)
    if not msg.startswith(NO_ADAPTER):
        pytest.fail(f"the WebGPU device failed to open: {msg}", pytrace=False)
    if os.environ.get("CI"):
        pytest.fail(f"CI must have a WebGPU adapter (Mesa llvmpipe via tools/sysdeps.sh): {msg}", pytrace=False)
    pytest.skip(f"no WebGPU adapter on this machine: {msg}")
