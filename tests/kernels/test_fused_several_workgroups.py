"""The fused decode step with several workgroups meeting at its grid barrier, on SwiftShader.

The other fused tests run on llvmpipe with one workgroup: Mesa 22's llvmpipe does not run a
spinning grid barrier of several workgroups correctly (bench/grid_barrier.py: with 4 workgroups
its rounds do not all complete, none gives up, and reads after the barrier come out wrong).
SwiftShader (Chromium's Vulkan, the same CPU emulator the browser tests' WebGPU runs on) does, as
far as its threads run the workgroups at once: here 2 workgroups on a 2-core machine, in a process
whose Vulkan loader sees only SwiftShader. Where only one of them starts in time the step goes on
without the other (decode_fused.wgsl, close_window) and is still right; an attempt whose barrier
timed out (a busy machine) ends there; the test asks for one attempt (of up to 3) where both took
part in the steps, and for every step of every attempt to
agree with NumPy: the grid barrier, the tickets, the arenas' parity, the argmax over several
workgroups' slots, and the split attention's merge across workgroups run for real.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from synthetic_model import build_synthetic_model

SHAPES = {"n_layers": 2, "d_model": 64, "n_heads": 4, "n_kv_heads": 2, "d_ff": 96, "n_vocab": 300, "n_ctx": 512}
ICDS = ("/usr/lib/chromium/vk_swiftshader_icd.json",)      # Debian's chromium (tools/sysdeps.sh installs it)


def swiftshader_icd() -> str:
    for p in ICDS:
        if os.path.exists(p):
            return p
    if os.environ.get("CI"):
        pytest.fail(f"CI must have SwiftShader's Vulkan ICD ({', '.join(ICDS)}: tools/sysdeps.sh installs chromium)")
    pytest.skip(f"no SwiftShader Vulkan ICD here ({', '.join(ICDS)}); CI has one")


# one-split attention (fenced) / split attention + merge; and a down projection of 2400 columns,
# staged XS = 2048 at a time (decode_fused.wgsl X_CHUNKS: each workgroup restages for its blocks);
# with the first, a greedy generation under a grammar (the MASK variant's pick over both workgroups)
@pytest.mark.parametrize("n_ctx, shapes, mask", [(64, SHAPES, True), (512, SHAPES, False),
                                                 (512, dict(SHAPES, d_ff=2400), False)],
                         ids=["64-mask", "512", "512-ffn2400"])
def test_two_workgroups_at_the_grid_barrier(tmp_path, n_ctx, shapes, mask):
    icd = swiftshader_icd()
    model = build_synthetic_model(tmp_path / "tiny.gguf", seed=3, shapes=shapes)
    env = dict(os.environ, VK_ICD_FILENAMES=icd, VK_DRIVER_FILES=icd)
    r = subprocess.run([sys.executable, str(Path(__file__).with_name("fused_several.py")), str(model), str(n_ctx), "2", "3",
                        *(["mask"] if mask else [])], env=env, capture_output=True, text=True, timeout=600)
    attempts = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    assert r.returncode == 0 and attempts, r.stderr[-3000:]
    for a in attempts:
        assert "SwiftShader" in a["adapter"], a["adapter"]
        assert "timed_out" in a or a["err"] <= 2e-3, a     # every step, fused or replayed after a refusal
    both = [a for a in attempts if max(a.get("took_part", [0])) == 2]
    assert both, attempts
    a = both[0]
    assert a["path"] == "fused: 1 dispatch a step, 2 persistent workgroups", a
    assert a["took_part"].count(2) >= 3, a
    if mask:
        assert a["masked"]["same"] and 2 in a["masked"]["took_part"], a
