"""Sentence embeddings: a BERT-family encoder's files -> ``Embedder.embed(texts)`` -> unit vectors.

    emb = webinfer.load_embedder()                     # the default: all-MiniLM-L6-v2 (make embed-model)
    vecs = emb.embed(["a sentence", "another"])        # (2, 384) float32, each row of length 1
    vecs = await emb.aembed(texts)                     # the same in Pyodide / notebooks

A model is either
- a Hugging Face checkpoint: a folder (or a ``{file name: bytes}`` dict, the browser's fetched
  files) with config.json, model.safetensors and tokenizer.json; sentence-transformers'
  sentence_bert_config.json (max_seq_length) and 1_Pooling/config.json (mean or cls) are read
  where present; a path to the .safetensors file means its folder;
- a GGUF with general.architecture = bert (llama.cpp's embedding files: tensors by llama.cpp's
  names, the WordPiece vocabulary in tokenizer.ggml.*, bert.pooling_type), as a path or bytes.

Texts are tokenized (tokenizer/wordpiece.py: [CLS] ... [SEP], truncated at ``max_length``),
sorted by length and run ``batch_size`` at a time, each batch padded to its longest text
(padding changes no embedding: attention never sees a padded key, and pooling never a padded
row), pooled (the mean over a text's tokens, specials included, as sentence-transformers does,
or the [CLS] row) and L2-normalised, in the caller's order.

Not here: the network (models/bert.py), the ops (device/), a vector store.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from .device import select_device
from .errors import GGUFError, WebinferError
from .formats.gguf import read_gguf
from .formats.safetensors import read_safetensors
from .models.bert import Bert, EncoderConfig, hf_names
from .sources import cache_dir
from .tokenizer.wordpiece import WordPieceTokenizer

DEFAULT_EMBEDDER_DIR = "all-MiniLM-L6-v2"   # under the cache's models/ (tools/fetch_model.py puts it there)
HF_FILES = ("config.json", "model.safetensors", "tokenizer.json")
ST_FILES = ("sentence_bert_config.json", "1_Pooling/config.json")   # sentence-transformers', optional
DEFAULT_BATCH = 32


def default_embedder_path() -> Path:
    """The default embedding model's folder in the cache; WEBINFER_EMBED_MODEL overrides."""
    env = os.environ.get("WEBINFER_EMBED_MODEL")
    return Path(env) if env else cache_dir() / "models" / DEFAULT_EMBEDDER_DIR


class _ByGGUFName:
    """A SafetensorsFile of a HF BertModel, read by llama.cpp's tensor names (models/bert.hf_names)."""

    def __init__(self, st):
        self._st, self._names = st, hf_names(list(st.tensors) + list(st.other))
        self.tensors = {g: st.tensors[h] for g, h in self._names.items() if h in st.tensors}

    def raw(self, name):
        return self._st.raw(self._names.get(name, name))

    def dequantize(self, name):
        return self._st.dequantize(self._names.get(name, name))


def _read_files(source) -> dict:
    """{file name: bytes or path} of a HF checkpoint folder or dict (HF_FILES required)."""
    if isinstance(source, dict):
        files = dict(source)
    else:
        folder = Path(source)
        files = {n: folder / n for n in HF_FILES + ST_FILES if (folder / n).is_file()}
    missing = [n for n in HF_FILES if n not in files]
    if missing:
        where = "the files given" if isinstance(source, dict) else str(source)
        raise WebinferError(f"embedding model {where} lacks {', '.join(missing)} (a Hugging Face BERT checkpoint "
                            "needs config.json, model.safetensors and tokenizer.json), or pass a bert GGUF")
    return files


def _json(files: dict, name: str):
    v = files[name]
    text = v.read_bytes() if isinstance(v, Path) else v
    try:
        return json.loads(text)
    except ValueError as e:
        raise WebinferError(f"{name} is not valid JSON ({e})") from None


def open_embedder(source=None, max_length: int | None = None):
    """(EncoderConfig, WordPieceTokenizer, tensors by GGUF name) of an embedding model source."""
    if source is None:
        source = default_embedder_path()
        if not source.exists():
            raise WebinferError(f"default embedding model not found at {source}; fetch it with `make embed-model` "
                                "(python3 tools/fetch_model.py) or pass a model folder or bert GGUF")
    is_path = isinstance(source, (str, os.PathLike))
    if is_path and not Path(source).exists():
        raise WebinferError(f"embedding model not found: {source}")
    if is_path and str(source).endswith(".safetensors"):
        source = Path(source).parent
    if is_path and Path(source).is_dir() or isinstance(source, dict):
        files = _read_files(source)
        cfg = EncoderConfig.from_hf(_json(files, "config.json"),
                                    name=Path(source).name if is_path else "")
        st_cfg = _json(files, ST_FILES[0]) if ST_FILES[0] in files else {}
        pool = _json(files, ST_FILES[1]) if ST_FILES[1] in files else {}
        if pool.get("pooling_mode_cls_token"):
            cfg = EncoderConfig(**{**cfg.__dict__, "pooling": "cls"})
        elif pool and not pool.get("pooling_mode_mean_tokens", True):
            raise WebinferError("1_Pooling/config.json asks for a pooling other than mean or cls")
        tok_json = files["tokenizer.json"]
        tok_json = tok_json.read_bytes() if isinstance(tok_json, Path) else tok_json
        spec = json.loads(tok_json)
        limit = max_length or st_cfg.get("max_seq_length") or (spec.get("truncation") or {}).get("max_length")
        tok = WordPieceTokenizer.from_tokenizer_json(spec, max_length=min(int(limit or cfg.n_pos), cfg.n_pos))
        weights = files["model.safetensors"]
        st = read_safetensors(weights if isinstance(weights, Path) else memoryview(weights))
        return cfg, tok, _ByGGUFName(st)
    gf = read_gguf(source)
    if gf.metadata.get("general.architecture") != "bert":
        raise GGUFError(f"general.architecture={gf.metadata.get('general.architecture')!r}: not an embedding "
                        "model (load it with webinfer.load; embeddings need a bert GGUF)")
    cfg = EncoderConfig.from_gguf(gf.metadata)
    tok = WordPieceTokenizer.from_gguf_metadata(gf.metadata, max_length=min(max_length or cfg.n_pos, cfg.n_pos))
    return cfg, tok, gf


def load_embedder(source=None, device: str = "auto", max_length: int | None = None, progress=None) -> "Embedder":
    """Load a sentence-embedding model. source: a HF checkpoint folder (or its .safetensors path, or a
    {file name: bytes} dict), a bert GGUF (path or bytes), or None for the default (all-MiniLM-L6-v2).
    device: "auto" | "numpy" | "webgpu". max_length: tokens a text keeps, the specials included
    (default: the model's own, sentence-transformers' max_seq_length where given).
    progress(stage, done, total): stage "upload"."""
    cfg, tok, f = open_embedder(source, max_length)
    dev = select_device(device) if isinstance(device, str) else device
    net = Bert.load(f, cfg, dev, (lambda d, t: progress("upload", d, t)) if progress else None)
    return Embedder(cfg, tok, dev, net)


class Embedder:
    def __init__(self, config: EncoderConfig, tokenizer: WordPieceTokenizer, device, net: Bert):
        self.config, self.tokenizer, self.device, self.net = config, tokenizer, device, net
        self.dim = config.d_model                  # length of each embedding
        self.max_length = tokenizer.max_length     # tokens a text keeps, [CLS] and [SEP] included

    def __repr__(self) -> str:
        c = self.config
        return (f"<webinfer.Embedder {c.name!r} bert {c.n_layers} layers dim={self.dim} "
                f"max_length={self.max_length} {c.pooling} pooling on {self.device.description}>")

    def tokenize(self, text: str) -> list[int]:
        """Ids of text as the model sees it: [CLS] ... [SEP], truncated at max_length."""
        return self.tokenizer.encode(text)

    def embed(self, texts: str | Sequence[str], batch_size: int = DEFAULT_BATCH) -> np.ndarray:
        """(len(texts), dim) float32 unit vectors (one text: (1, dim)). CPython, or the NumPy device
        anywhere; WebGPU in a browser reads back asynchronously: ``await aembed(texts)`` there."""
        if getattr(getattr(self.device, "adapter", None), "in_browser", False):
            raise WebinferError("WebGPU in the browser reads back asynchronously: use `await embedder.aembed(texts)`")
        ids = self._ids(texts)
        out = np.zeros((len(ids), self.dim), np.float32)
        for order, batch, lengths in self._batches(ids, batch_size):
            out[order] = self._pool(self.device.read_sync(self.net.forward(batch, lengths)), lengths)
        return out

    async def aembed(self, texts: str | Sequence[str], batch_size: int = DEFAULT_BATCH) -> np.ndarray:
        """``embed`` for Pyodide, PyScript and notebooks (the GPU's readback is awaited)."""
        ids = self._ids(texts)
        out = np.zeros((len(ids), self.dim), np.float32)
        for order, batch, lengths in self._batches(ids, batch_size):
            out[order] = self._pool(await self.device.read(self.net.forward(batch, lengths)), lengths)
        await self.device.check_errors()
        return out

    # -- helpers ---------------------------------------------------------------------------------
    def _ids(self, texts) -> list[list[int]]:
        if isinstance(texts, str):
            texts = [texts]
        bad = [t for t in texts if not isinstance(t, str)]
        if bad:
            raise WebinferError(f"embed() takes str or a list of str, got {type(bad[0]).__name__}")
        return [self.tokenizer.encode(t) for t in texts]

    def _batches(self, ids: list[list[int]], batch_size: int):
        """(positions in the caller's order, (B, S) ids padded with [PAD], lengths), longest first."""
        if batch_size < 1:
            raise WebinferError(f"batch_size must be at least 1, got {batch_size}")
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
        for lo in range(0, len(order), batch_size):
            part = order[lo:lo + batch_size]
            lengths = [len(ids[i]) for i in part]
            batch = np.full((len(part), max(lengths)), self.tokenizer.pad_id, np.int64)
            for r, i in enumerate(part):
                batch[r, :lengths[r]] = ids[i]
            yield part, batch, lengths

    def _pool(self, hidden: np.ndarray, lengths: list[int]) -> np.ndarray:
        """(B, dim) unit vectors from the (B * S, dim) last hidden states: a text's mean (or [CLS]) row."""
        b = len(lengths)
        h = np.asarray(hidden, np.float32).reshape(b, -1, self.dim)
        if self.config.pooling == "cls":
            v = h[:, 0].astype(np.float64)
        else:
            v = np.stack([h[r, :n].astype(np.float64).mean(axis=0) for r, n in enumerate(lengths)])
        norm = np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)   # as torch's F.normalize
        return (v / norm).astype(np.float32)


