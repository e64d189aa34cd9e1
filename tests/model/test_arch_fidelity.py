"""Every architecture answers as HF transformers does, on NumPy and on WebGPU (llvmpipe on CI).

Each tests/data/arch/NAME.json (written by tools/hf_fixtures, which needs torch: CI does not run
it, it reads the committed files) holds a prompt of token ids and, for NAME.f32.gguf and
NAME.q8_0.gguf, HF's greedy 32 new tokens and its logits at the last prompt position. For f32 HF
ran on the same float32 weights; for q8_0 on that file's weights dequantized by the gguf package.
Both devices must give the same 32 tokens (through webinfer's own generate loop: prefill, the
recorded decode step, decode-ahead on WebGPU) and last-position logits within LOGITS_RTOL of HF's,
relative to the largest |logit|: max |webinfer - HF| <= LOGITS_RTOL * max |HF| (the fixture's
greedy margins are all >= 5e-4 of that scale, so a near tie cannot flip a right answer).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from gpu_available import open_webgpu

ARCH_DIR = Path(__file__).resolve().parents[1] / "data" / "arch"
FIXTURES = sorted(p.stem for p in ARCH_DIR.glob("*.json"))
LOGITS_RTOL = {"f32": 1e-4,    # the same float32 weights: only the order of float32 sums differs
               "q8_0": 1e-4}   # HF on the gguf package's dequantization of the file: the same values


def load_fixture(name: str) -> dict:
    return json.loads((ARCH_DIR / f"{name}.json").read_text())


@pytest.fixture(scope="module")
def gdev():
    return open_webgpu()


def test_fixtures_found():
    assert "llama" in FIXTURES, f"no tests/data/arch/llama.json (found {FIXTURES})"


@pytest.mark.parametrize("device", ["numpy", "webgpu"])
@pytest.mark.parametrize("variant", ["f32", "q8_0"])
@pytest.mark.parametrize("name", FIXTURES)
def test_answers_as_hf(name, variant, device, request):
    import webinfer
    doc = load_fixture(name)
    want = doc["variants"][variant]
    dev = request.getfixturevalue("gdev") if device == "webgpu" else "numpy"
    model = webinfer.load(ARCH_DIR / want["file"], device=dev, n_ctx=64)
    assert model.config.arch == doc["arch"]

    logits = np.asarray(model.device.read_sync(model.prefill(doc["prompt"])[0]), np.float64).reshape(-1)
    ref = np.asarray(want["logits"], np.float64)
    err = float(np.abs(logits - ref).max() / np.abs(ref).max())
    assert err <= LOGITS_RTOL[variant], f"{name} {variant} on {device}: logits off by {err:.3g} of max |logit|"

    model.reset()
    got = model.complete(doc["prompt"], max_tokens=doc["n_new"], temperature=0)
    assert got.token_ids == want["tokens"], (
        f"{name} {variant} on {device}: greedy tokens differ from HF's at step "
        f"{next(i for i, (a, b) in enumerate(zip(got.token_ids + [-1] * 99, want['tokens'])) if a != b)}")


@pytest.mark.skipif("qwen3" not in FIXTURES, reason="no qwen3 fixture")
def test_fused_decode_step_refuses_head_norm(gdev):
    """The fused decode step has no command for head_norm (qwen3): it says so in the device's notes
    and the replayed step runs, still giving HF's tokens."""
    import webinfer
    from webinfer.device.webgpu import open_device
    dev = open_device()
    dev.fused, dev.fused_workgroups = "on", 4     # asked for even on llvmpipe (its "auto" never fuses)
    doc = load_fixture("qwen3")
    model = webinfer.load(ARCH_DIR / doc["variants"]["f32"]["file"], device=dev, n_ctx=64)
    got = model.complete(doc["prompt"], max_tokens=6, temperature=0)
    assert got.token_ids == doc["variants"]["f32"]["tokens"][:6]
    assert "no fused command for head_norm.wgsl" in dev.decode_path(), (dev.decode_path(), dev.notes)


# -- files whose keys contradict their tensors ---------------------------------------------------------

def rewrite(src: Path, dest: Path, meta: dict | None = None, drop=(), add: dict | None = None) -> Path:
    """src's metadata (with `meta` changed) and tensors (less `drop`, plus `add`) as a new GGUF."""
    from webinfer.formats.gguf import read_gguf
    from webinfer.formats.gguf_write import RawTensor, write_gguf
    gf = read_gguf(src)
    m = {k: (gf.metadata_types[k], v) for k, v in gf.metadata.items() if k != "general.alignment"}
    m.update(meta or {})
    t = {n: RawTensor(tuple(info.shape), info.ggml_type, gf.raw(n).tobytes())
         for n, info in gf.tensors.items() if n not in drop}
    t.update(add or {})
    write_gguf(dest, m, t)
    return dest


def load_numpy(path):
    import webinfer
    return webinfer.load(path, device="numpy", n_ctx=64)


@pytest.mark.skipif("qwen3" not in FIXTURES, reason="no qwen3 fixture")
def test_qwen3_keys_that_contradict_its_tensors(tmp_path):
    from webinfer.errors import GGUFError
    src = ARCH_DIR / "qwen3.f32.gguf"
    with pytest.raises(GGUFError, match=r"'blk.0.attn_q.weight' has shape \(128, 64\), expected \(256, 64\).*head_count"):
        load_numpy(rewrite(src, tmp_path / "heads.gguf", {"qwen3.attention.head_count": 8}))
    with pytest.raises(GGUFError, match=r"'blk.0.attn_k.weight' has shape \(32, 64\), expected \(64, 64\).*head_count_kv"):
        load_numpy(rewrite(src, tmp_path / "kv.gguf", {"qwen3.attention.head_count_kv": 2}))
    with pytest.raises(GGUFError, match="qwen3 needs per-head q/k norms.*blk.0.attn_k_norm.weight"):
        load_numpy(rewrite(src, tmp_path / "nonorm.gguf", drop={"blk.0.attn_k_norm.weight"}))
    with pytest.raises(GGUFError, match="missing required tensor 'blk.1.attn_q_norm.weight'"):
        load_numpy(rewrite(src, tmp_path / "nonorm1.gguf", drop={"blk.1.attn_q_norm.weight"}))
    with pytest.raises(GGUFError, match=r"'blk.0.attn_q.weight' has shape \(128, 64\), expected \(64, 64\).*"
                                        r"4 heads of 16 .*key_length"):
        load_numpy(rewrite(src, tmp_path / "hd.gguf", {"qwen3.attention.key_length": 16}))


def prompt_logits_error(path, doc, variant="f32", device="numpy") -> float:
    import webinfer
    model = webinfer.load(path, device=device, n_ctx=64)
    got = np.asarray(model.device.read_sync(model.prefill(doc["prompt"])[0]), np.float64).reshape(-1)
    ref = np.asarray(doc["variants"][variant]["logits"], np.float64)
    return float(np.abs(got - ref).max() / np.abs(ref).max())


@pytest.mark.skipif("llama3" not in FIXTURES, reason="no llama3 fixture")
def test_llama3_rope_scaling_from_the_keys_too(tmp_path):
    """Llama 3's scaled RoPE from the llama3 scaling keys (no rope_freqs tensor) answers as HF too;
    with neither, the fixture's logits are far off (its scaling is not a no-op)."""
    doc = load_fixture("llama3")
    src = ARCH_DIR / "llama3.f32.gguf"
    keys = {"llama.rope.scaling.type": "llama3", "llama.rope.scaling.factor": 32.0,
            "llama.rope.scaling.low_freq_factor": 1.0, "llama.rope.scaling.high_freq_factor": 4.0,
            "llama.rope.scaling.original_context_length": 8192}
    assert prompt_logits_error(rewrite(src, tmp_path / "keys.gguf", keys, drop={"rope_freqs.weight"}), doc) <= 1e-4
    assert prompt_logits_error(rewrite(src, tmp_path / "plain.gguf", drop={"rope_freqs.weight"}), doc) > 1e-3


def test_rope_scaling_refusals(tmp_path):
    from webinfer.errors import GGUFError, UnsupportedModelError
    src = ARCH_DIR / "llama.f32.gguf"
    with pytest.raises(UnsupportedModelError, match="RoPE scaling type 'yarn' is not supported"):
        load_numpy(rewrite(src, tmp_path / "yarn.gguf", {"llama.rope.scaling.type": "yarn"}))
    with pytest.raises(GGUFError, match="rope_freqs.weight must hold 12 positive values"):
        load_numpy(rewrite(src, tmp_path / "freqs.gguf", add={"rope_freqs.weight": np.ones(8, np.float32)}))


@pytest.mark.skipif("phi3" not in FIXTURES, reason="no phi3 fixture")
def test_phi3_refusals_and_contradictions(tmp_path):
    from webinfer.errors import ContextLengthError, GGUFError, UnsupportedModelError
    src = ARCH_DIR / "phi3.f32.gguf"
    long = {"rope_factors_long.weight": np.ones(8, np.float32), "rope_factors_short.weight": np.ones(8, np.float32)}
    with pytest.raises(UnsupportedModelError, match="LongRoPE.*rope_factors_long.weight"):
        load_numpy(rewrite(src, tmp_path / "long.gguf", {"phi3.rope.scaling.attn_factor": 1.19}, add=long))
    with pytest.raises(UnsupportedModelError, match=r"partial RoPE \(rope.dimension_count 12 != head dim 16\)"):
        load_numpy(rewrite(src, tmp_path / "partial.gguf", {"phi3.rope.dimension_count": 12}))
    with pytest.raises(GGUFError, match="phi3 stores q, k and v in one tensor.*blk.0.attn_qkv.weight"):
        load_numpy(rewrite(src, tmp_path / "noqkv.gguf", drop={"blk.0.attn_qkv.weight"}))
    with pytest.raises(GGUFError, match=r"'blk.0.attn_qkv.weight' has shape \(128, 64\), expected \(192, 64\).*head_count_kv"):
        load_numpy(rewrite(src, tmp_path / "kv.gguf", {"phi3.attention.head_count_kv": 4}))
    with pytest.raises(GGUFError, match=r"'blk.0.ffn_up.weight' has shape \(128, 64\), expected \(256, 64\).*gate and up"):
        load_numpy(rewrite(src, tmp_path / "ff.gguf", {"phi3.feed_forward_length": 128}))
    # the sliding window (2047) caps the context: every key inside it, full attention is exact
    import webinfer
    assert webinfer.load(src, device="numpy").config.n_ctx_train == 2047
    with pytest.raises(ContextLengthError, match="2..2047"):
        webinfer.load(src, device="numpy", n_ctx=4096)


def test_info_names_the_architecture_and_whether_it_runs(tmp_path):
    from webinfer.info import describe
    for name in FIXTURES:
        doc = load_fixture(name)
        out = describe(ARCH_DIR / doc["variants"]["q8_0"]["file"])
        assert out["arch"] == doc["arch"] and out["runnable"] == "yes", out
        assert out["variant"].startswith("learned positions" if doc["arch"] == "gpt2" else "RoPE "), out
    if "qwen3" in FIXTURES:
        out = describe(ARCH_DIR / "qwen3.f32.gguf")
        assert "per-head q/k RMSNorm" in out["variant"] and "no head_norm command" in out["on_webgpu"]
    if "gemma3" in FIXTURES:            # q/k norms and a Gemma architecture: both said
        out = describe(ARCH_DIR / "gemma3.f32.gguf")
        assert "per-head q/k RMSNorm" in out["variant"] and "no head_norm command" in out["on_webgpu"], out
        assert out["on_webgpu"].startswith("the replayed decode step") and "Gemma's ops" in out["on_webgpu"], out
        assert out["context"] == 256 and out["sliding_window"].startswith("8 on 3 of 4 layers"), out   # not capped
    other = rewrite(ARCH_DIR / "llama.f32.gguf", tmp_path / "other.gguf", {"general.architecture": "falcon"})
    out = describe(other)
    assert out["arch"] == "falcon"
    assert out["runnable"].startswith("no: architecture 'falcon' is not supported (supported: llama, "), out


def test_enable_thinking_reaches_the_template():
    """Model.apply_chat_template / encode_chat hand enable_thinking to the template (Qwen3's)."""
    import webinfer
    from webinfer.chat_template import render_chat
    m = webinfer.load(ARCH_DIR / "qwen3.q8_0.gguf", device="numpy")
    m.chat_template = (ARCH_DIR.parent / "chat_templates" / "qwen3.jinja").read_text()
    msgs = [{"role": "user", "content": "hi"}]
    off, default = m.apply_chat_template(msgs, enable_thinking=False), m.apply_chat_template(msgs)
    assert off == render_chat(m.chat_template, msgs, enable_thinking=False) and off != default
    assert off.endswith("<think>\n\n</think>\n\n"), off
    assert m.encode_chat(msgs, enable_thinking=False) == m.tokenize(off, add_special=False)
