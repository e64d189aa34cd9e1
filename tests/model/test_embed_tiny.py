"""Sentence embeddings of the tiny random BERT (tests/data/embed/tiny/, tools/embed_fixtures.py)
against HF transformers' (tiny.json: ids and mean-pooled, L2-normalised embeddings, computed there
with torch; CI reads the file), on NumPy and WebGPU (llvmpipe on CI), from its HF checkpoint and
from the same weights written as a llama.cpp-style bert GGUF by the project's writer. Also:
padding and batch size change no embedding, the CLI's --json lines, and bad input."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from gpu_available import open_webgpu

import webinfer
from webinfer.cli import main as cli_main
from webinfer.errors import GGUFError, UnsupportedModelError, WebinferError
from webinfer.formats.gguf_write import write_gguf
from webinfer.formats.safetensors import read_safetensors
from webinfer.tokenizer.wordpiece import PHANTOM_SPACE

EMBED = Path(__file__).resolve().parents[1] / "data" / "embed"
TINY = EMBED / "tiny"
REF = json.loads((EMBED / "tiny.json").read_text())
MIN_COS = 0.9999

# HF BertModel name -> llama.cpp's GGUF name (convert_hf_to_gguf.py's BERT tensor map), spelled out
# here rather than taken from webinfer's own map
HF_TO_GGUF = {
    "embeddings.word_embeddings": "token_embd", "embeddings.position_embeddings": "position_embd",
    "embeddings.token_type_embeddings": "token_types", "embeddings.LayerNorm": "token_embd_norm",
    "attention.self.query": "attn_q", "attention.self.key": "attn_k", "attention.self.value": "attn_v",
    "attention.output.dense": "attn_output", "attention.output.LayerNorm": "attn_output_norm",
    "intermediate.dense": "ffn_up", "output.dense": "ffn_down", "output.LayerNorm": "layer_output_norm",
}


def gguf_name(hf: str) -> str:
    stem, kind = hf.rsplit(".", 1)
    if stem.startswith("encoder.layer."):
        i, rest = stem[len("encoder.layer."):].split(".", 1)
        return f"blk.{i}.{HF_TO_GGUF[rest]}.{kind}"
    return f"{HF_TO_GGUF[stem]}.{kind}"


def tiny_gguf(types: str = "F32", pooling: int = 1) -> bytes:
    """The tiny checkpoint as llama.cpp writes a BERT GGUF: its keys, tensor names, phantom-space vocab."""
    cfg = json.loads((TINY / "config.json").read_text())
    spec = json.loads((TINY / "tokenizer.json").read_text())
    vocab = spec["model"]["vocab"]
    tokens = sorted(vocab, key=vocab.get)
    special = {a["content"] for a in spec["added_tokens"]}
    st = read_safetensors(TINY / "model.safetensors")
    meta = {
        "general.architecture": "bert", "general.name": "tiny-bert",
        "bert.block_count": cfg["num_hidden_layers"], "bert.context_length": cfg["max_position_embeddings"],
        "bert.embedding_length": cfg["hidden_size"], "bert.feed_forward_length": cfg["intermediate_size"],
        "bert.attention.head_count": cfg["num_attention_heads"],
        "bert.attention.layer_norm_epsilon": float(cfg["layer_norm_eps"]), "bert.attention.causal": False,
        "bert.pooling_type": pooling, "tokenizer.ggml.model": "bert", "tokenizer.ggml.token_type_count": 2,
        "tokenizer.ggml.tokens": [t if t in special else t[2:] if t.startswith("##") else PHANTOM_SPACE + t
                                  for t in tokens],
        "tokenizer.ggml.token_type": [3 if t in special else 1 for t in tokens],
        "tokenizer.ggml.bos_token_id": vocab["[CLS]"], "tokenizer.ggml.seperator_token_id": vocab["[SEP]"],
        "tokenizer.ggml.unknown_token_id": vocab["[UNK]"], "tokenizer.ggml.padding_token_id": vocab["[PAD]"],
    }
    tensors = {gguf_name(n): (st.dequantize(n).copy(), types if n.endswith("weight") and "LayerNorm" not in n
                              and "embeddings" not in n else "F32") for n in st.tensors}
    buf = io.BytesIO()
    write_gguf(buf, meta, tensors)
    return buf.getvalue()


@pytest.fixture(scope="module")
def gdev():
    return open_webgpu()


@pytest.fixture(scope="module", params=["numpy", "webgpu"])
def device(request):
    return request.getfixturevalue("gdev") if request.param == "webgpu" else "numpy"


def check_as_hf(emb, what: str) -> None:
    assert [emb.tokenize(t) for t in REF["texts"]] == REF["ids"], f"{what}: token ids differ from HF's"
    got = emb.embed(REF["texts"], batch_size=5)
    ref = np.asarray(REF["embeddings"], np.float32)
    assert got.shape == ref.shape and got.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    cos = (got.astype(np.float64) * ref).sum(1)
    assert cos.min() >= MIN_COS, f"{what}: cosine {cos.min():.6f} to HF's for {REF['texts'][int(cos.argmin())]!r}"


def test_checkpoint_as_hf(device):
    emb = webinfer.load_embedder(TINY, device=device)
    assert (emb.dim, emb.max_length, emb.config.pooling) == (32, 64, "mean")
    check_as_hf(emb, f"tiny checkpoint on {emb.device.name}")


def test_gguf_as_hf(device):
    emb = webinfer.load_embedder(tiny_gguf(), device=device)
    assert emb.config.name == "tiny-bert" and emb.max_length == 64
    check_as_hf(emb, f"tiny GGUF on {emb.device.name}")


def test_padding_and_batching_change_nothing(device):
    emb = webinfer.load_embedder(TINY / "model.safetensors", device=device)
    texts = REF["texts"]
    alone = np.concatenate([emb.embed(t) for t in texts])
    for bs in (1, 3, len(texts)):
        np.testing.assert_allclose(emb.embed(texts, batch_size=bs), alone, atol=2e-6, err_msg=f"batch_size={bs}")


def test_q8_0_gguf_close():
    """Q8_0 projections (the embedding tables stay F32): still close to HF's float32 embeddings."""
    emb = webinfer.load_embedder(tiny_gguf("Q8_0"), device="numpy")
    cos = (emb.embed(REF["texts"]).astype(np.float64) * np.asarray(REF["embeddings"])).sum(1)
    assert cos.min() >= 0.99, cos


def test_cli_json(capsys):
    texts = ["Hello, world!", "北京 😀", ""]
    assert cli_main(["embed", "--model", str(TINY), "--device", "numpy", "--json", "--quiet", *texts]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    emb = webinfer.load_embedder(TINY, device="numpy")
    for line, text, want in zip(lines, texts, emb.embed(texts)):
        row = json.loads(line)
        assert set(row) == {"text", "ids", "embedding"} and row["text"] == text
        assert row["ids"] == emb.tokenize(text) and row["ids"][0] == emb.tokenizer.cls_id
        np.testing.assert_allclose(row["embedding"], want, atol=1e-7)
    assert cli_main(["embed", "--model", str(TINY), "--device", "numpy", "--quiet", "one text"]) == 0
    assert len(capsys.readouterr().out.split()) == 32


def test_bad_input(tmp_path, capsys):
    emb = webinfer.load_embedder(TINY, device="numpy")
    with pytest.raises(WebinferError, match="takes str"):
        emb.embed(["ok", 5])
    with pytest.raises(WebinferError, match="batch_size"):
        emb.embed(["ok"], batch_size=0)
    (tmp_path / "config.json").write_text((TINY / "config.json").read_text())
    with pytest.raises(WebinferError, match="lacks model.safetensors, tokenizer.json"):
        webinfer.load_embedder(tmp_path)
    with pytest.raises(WebinferError, match="not found"):
        webinfer.load_embedder(tmp_path / "nope.gguf")
    buf = io.BytesIO()
    write_gguf(buf, {"general.architecture": "llama"}, {})
    with pytest.raises(GGUFError, match="not an embedding model"):
        webinfer.load_embedder(buf.getvalue())
    cfg = json.loads((TINY / "config.json").read_text())
    files = {n: (TINY / n).read_bytes() for n in ("model.safetensors", "tokenizer.json")}
    with pytest.raises(UnsupportedModelError, match="hidden_act 'relu'"):
        webinfer.load_embedder({**files, "config.json": json.dumps({**cfg, "hidden_act": "relu"})})
    with pytest.raises(GGUFError, match="has shape"):
        webinfer.load_embedder({**files, "config.json": json.dumps({**cfg, "intermediate_size": 48})})
    with pytest.raises(UnsupportedModelError, match="load_embedder"):
        webinfer.load(tiny_gguf(), device="numpy")
    assert cli_main(["embed", "--model", str(tmp_path), "x"]) == 1
    assert "lacks model.safetensors" in capsys.readouterr().err


def test_cls_pooling_as_hf():
    """sentence-transformers' 1_Pooling/config.json asking for the [CLS] row, and a GGUF's
    bert.pooling_type 2: HF's [CLS] row, normalised."""
    files = {n: (TINY / n).read_bytes() for n in ("config.json", "model.safetensors", "tokenizer.json")}
    files["1_Pooling/config.json"] = json.dumps({"pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False})
    gguf = tiny_gguf().replace(b"bert.pooling_type", b"bert.pooling_typX")   # (then no key: mean)
    assert webinfer.load_embedder(gguf, device="numpy").config.pooling == "mean"
    ref = np.asarray(REF["cls_embeddings"])
    for emb in (webinfer.load_embedder(files, device="numpy"), webinfer.load_embedder(tiny_gguf(pooling=2))):
        assert emb.config.pooling == "cls"
        cos = (emb.embed(REF["texts"], batch_size=4).astype(np.float64) * ref).sum(1)
        assert cos.min() >= MIN_COS, cos


def test_max_length_and_async_loader():
    import asyncio
    emb = asyncio.run(webinfer.load_embedder_async(TINY, device="numpy", max_length=8))
    long = REF["texts"][-1]
    assert emb.max_length == 8 and emb.tokenize(long) == [*REF["ids"][-1][:7], REF["ids"][-1][-1]]
    got = asyncio.run(emb.aembed([long, "hello"]))
    np.testing.assert_allclose(got, emb.embed([long, "hello"]), atol=1e-7)
    assert emb.embed([]).shape == (0, 32)
    assert "Embedder" in repr(emb) and "max_length=8" in repr(emb)
