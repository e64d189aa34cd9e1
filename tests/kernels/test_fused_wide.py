"""The fused decode step with matvec inputs wider than fused_layout.XS (2048): the row is staged XS
columns at a time (decode_fused.wgsl X_CHUNKS, fused_matvec.wgsl chunked_dot), as in the down
projection of Llama-3.2-1B (8192), Qwen2.5-0.5B (4864) or Qwen3-0.6B (3072), and every
d_model-wide input of a model wider than 2048 (NORM: the sum of squares over every chunk).

On llvmpipe with one workgroup, as tests/kernels/test_fused.py (which says why): the one workgroup
walks every virtual workgroup of every command, so it restages the chunks for each block it takes.
Several workgroups on SwiftShader: tests/kernels/test_fused_several_workgroups.py (a wide shape).
Against NumPy and the plain replay, with test_fused.py's tolerances.
"""

from __future__ import annotations

import numpy as np
import pytest
from synthetic_model import build_synthetic_model
from test_fused import SHAPES, _steps

from webinfer.device.webgpu import fused
from webinfer.device.webgpu.fused_layout import XS

# name: (shapes, mix, n_ctx): each has a matvec input wider than XS
WIDE = {
    # the down projection over three chunks, the last of 768 columns (Q8_0: the batched path);
    # its shape read from the table (kind 0: MAX_KINDS = 3, below)
    "q8_0-ffn4864": (dict(SHAPES, d_model=256, d_ff=4864), "Q8_0", 512),
    # Q4_K_M: the down projection Q4_K (layer 0) and Q6_K (layer 1), 256-weight blocks a group at a time
    "q4_k_m-ffn4864": (dict(SHAPES, d_model=256, d_ff=4864), "Q4_K_M", 512),
    # F16 rows of 2100 (not a multiple of 32): the last chunk's 52 columns padded to 64 with zeros
    "f16-ffn2100": (dict(SHAPES, d_model=256, d_ff=2100), "F16", 512),
    # d_model 2176 (Q4_1 layers): the normed inputs (qkv, gate/up, the lm head with its argmax) and
    # the output projection (one-split attention: no merge) are chunked; one layer
    "q4_1-d2176": (dict(SHAPES, n_layers=1, d_model=2176, n_heads=17, n_kv_heads=1, d_ff=256), None, 64),
}


@pytest.mark.parametrize("name", list(WIDE))
def test_fused_step_with_inputs_wider_than_xs(tmp_path, monkeypatch, name):
    shapes, mix, n_ctx = WIDE[name]
    if name == "q8_0-ffn4864":       # qkv, output projection, gate/up compiled in; down, lm head from the table
        monkeypatch.setattr(fused, "MAX_KINDS", 3)
    path = build_synthetic_model(tmp_path / "w.gguf", seed=5, shapes=shapes, mix=mix, random_blocks=True)
    ref, _ = _steps(path, None, n_ctx, n=3)
    plain, _ = _steps(path, "off", n_ctx, n=3, device="webgpu")
    got, dev = _steps(path, "on", n_ctx, n=3, device="webgpu")
    assert dev.decode_path().startswith("fused"), dev.notes
    for i, (r, p, g) in enumerate(zip(ref, plain, got)):
        assert np.all(np.abs(g - r) <= 2e-3 * (1 + np.abs(r))), f"step {i}: fused vs numpy {np.max(np.abs(g - r)):.3g}"
        assert np.max(np.abs(g - p)) <= 1e-4 * (1 + np.max(np.abs(p))), f"step {i}: fused vs replay"
        assert int(np.argmax(g)) == int(np.argmax(r)) == int(np.argmax(p))
    t = next(p.fused for p in dev._programs.values() if p.fused is not None).table[1:]
    mv = t[t[:, fused.C["op"]] == fused.OP_MATVEC]
    wide = mv[mv[:, fused.C["cols"]] > XS]
    assert len(wide) and not np.any(wide[:, fused.C["flags"]] & fused.F_PRE)
    assert np.all(wide[:, fused.C["kind"]] == 0) == (name == "q8_0-ffn4864")


def test_rows_per_block_counts_a_wide_rows_batches_by_chunk():
    # a chunk is XS / 8 = 256 groups: Llama-3.2-1B's down projection (2048 rows of 1024 groups) at
    # G = 264 takes 8 rows a block (one round; 4 chunks of 2 batches a lane)
    assert fused.rows_per_block(2048, 264, 1024) == 8
    # up to XS columns the cost is the unchunked one (SmolLM2's shapes: test_fused.py)
    assert fused.rows_per_block(576, 264, 192) == 8 and fused.rows_per_block(960, 264, 72) == 16


def test_a_merged_attention_row_wider_than_xs_is_refused():
    """COMBINE merges the attention partials into xs whole (attention_merge.wgsl): a matvec whose
    merged input is wider than XS is refused with the reason (the replay combines those itself:
    device.MATVEC_COMBINE_COLS)."""
    pw = np.zeros(16, np.uint32)
    pw[:3] = (2048, 3072, 3072 // 32 * 5)
    with pytest.raises(fused.Refused, match="a 3072-wide attention output merged into a matvec's input"):
        fused._matvec(np.zeros(fused.CMD_WORDS, np.uint32), pw, {"Q4_1", "COMBINE"}, {}, (1, 1, 1), None, None, 264,
                      None)
