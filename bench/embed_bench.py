"""Sentence embeddings per second for 128-token chunks: webinfer on NumPy and on WebGPU (wgpu-py:
llvmpipe on a box without a GPU), optionally HF beside it in the same command.

    python3 bench/embed_bench.py [--model DIR] [--devices numpy webgpu] [--batch 1 32]
                                 [--texts 64] [--hf] [--repeat 3]

What it measures: `Embedder.embed(texts, batch_size=B)` over `--texts` different texts of
exactly 128 tokens each ([CLS] + 126 WordPiece tokens + [SEP]: the store's 128-token chunks
are 126 without the specials, so this is a little over a chunk), after one warm-up call; the
best of `--repeat` runs (a shared box's noise is all upward). The texts are sentences of common
English words, different per text, so no batch is a copy of another.
With --hf (where torch and transformers import, else "hf" says why not; sentence-transformers
too if it imports): the same
texts, the same model folder, batch sizes and padding (longest in the batch), on CUDA when
torch sees a GPU, else the CPU: transformers' BertModel + mean pooling + L2 normalisation
(what webinfer computes), and SentenceTransformer.encode. The first embeddings of each are
compared with webinfer's on NumPy (cosine), so a fast wrong answer shows.

Prints one JSON object: {"model", "tokens_per_text", "n_texts", "results": [{"impl", "device",
"batch", "emb_s", "tok_s", "seconds"}], "hf_cosine_min"?: ...}.
What it is not: a test (numbers only; bench/RESULTS.md records them).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time

import numpy as np

import _common  # noqa: F401  (this checkout's pkg/ on sys.path)
import webinfer
from webinfer.embed import default_embedder_path

TOKENS = 128
WORDS = ("the keeper of the lighthouse wrote letters to his sister in the city every winter night while ships "
         "passed the harbour and stones glowed under the lamp a vector store holds documents chunks and "
         "queries from a browser python numpy model reads text answers questions about rivers mountains "
         "bread comets towns music gardens trains weather history science").split()


def make_texts(tokenizer, n: int, tokens: int, seed: int = 0) -> list[str]:
    """n different texts that tokenize to exactly `tokens` ids with [CLS] and [SEP]."""
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        words = rng.choice(WORDS, tokens * 2).tolist()
        lo, hi = 1, len(words)          # the longest prefix with at most `tokens` ids
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if len(tokenizer.encode(" ".join(words[:mid]))) <= tokens:
                lo = mid
            else:
                hi = mid - 1
        text = " ".join(words[:lo])
        if len(tokenizer.encode(text)) == tokens:
            out.append(text)
    return out


def best_of(fn, repeat: int, warm=None) -> float:
    (warm or fn)()                        # warm-up (one batch will do): pipelines, buffers, caches
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def row(impl: str, device: str, batch: int, n: int, seconds: float) -> dict:
    return {"impl": impl, "device": device, "batch": batch, "emb_s": round(n / seconds, 2),
            "tok_s": round(n * TOKENS / seconds, 1), "seconds": round(seconds, 4)}


def hf_rows(model_dir, texts, batches, repeat, ref) -> tuple[list[dict], dict]:
    import torch
    from transformers import AutoModel, AutoTokenizer
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    name = torch.cuda.get_device_name(0) if dev == "cuda" else f"cpu ({torch.get_num_threads()} threads)"
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModel.from_pretrained(str(model_dir)).eval().to(dev)

    def hf_embed(batch):
        out = []
        with torch.no_grad():
            for a in range(0, len(texts), batch):
                enc = tok(texts[a:a + batch], padding=True, truncation=True, max_length=TOKENS,
                          return_tensors="pt").to(dev)
                h = model(**enc).last_hidden_state
                m = enc["attention_mask"].unsqueeze(-1).to(h.dtype)
                out.append(torch.nn.functional.normalize((h * m).sum(1) / m.sum(1), dim=1).cpu())
        if dev == "cuda":
            torch.cuda.synchronize()
        return torch.cat(out).numpy()

    rows, cos = [], {}
    for b in batches:
        rows.append(row("transformers", f"torch {dev}: {name}", b, len(texts), best_of(lambda: hf_embed(b), repeat)))
    cos["transformers"] = float((hf_embed(32)[:len(ref)] * ref).sum(1).min())
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        return rows, cos
    st = SentenceTransformer(str(model_dir), device=dev)
    for b in batches:
        rows.append(row("sentence-transformers", f"torch {dev}: {name}", b, len(texts),
                        best_of(lambda: st.encode(texts, batch_size=b, normalize_embeddings=True), repeat)))
    cos["sentence-transformers"] = float((st.encode(texts[:len(ref)], normalize_embeddings=True) * ref).sum(1).min())
    return rows, cos


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=None, help="embedding model folder (default: all-MiniLM-L6-v2 in the cache)")
    ap.add_argument("--devices", nargs="+", default=["numpy", "webgpu"])
    ap.add_argument("--batch", nargs="+", type=int, default=[1, 32])
    ap.add_argument("--texts", type=int, default=64, help="texts per timed run")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--hf", action="store_true", help="also HF transformers / sentence-transformers (torch)")
    a = ap.parse_args(argv)
    model_dir = a.model or default_embedder_path()
    result = {"model": str(model_dir), "tokens_per_text": TOKENS, "n_texts": a.texts,
              "python": platform.python_version(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "results": []}
    texts, ref = None, None
    for device in a.devices:
        emb = webinfer.load_embedder(model_dir, device=device)
        if emb.max_length < TOKENS:
            raise SystemExit(f"{emb.config.name} reads at most {emb.max_length} tokens, fewer than {TOKENS}")
        texts = texts or make_texts(emb.tokenizer, a.texts, TOKENS)
        for b in a.batch:
            result["results"].append(row("webinfer", emb.device.description, b, len(texts),
                                         best_of(lambda: emb.embed(texts, batch_size=b), a.repeat,
                                                 lambda: emb.embed(texts[:b], batch_size=b))))
        if ref is None:
            ref = emb.embed(texts[:8])
        print(json.dumps(result["results"][-len(a.batch):]), file=sys.stderr)
    if a.hf:
        try:
            import torch  # noqa: F401
            import transformers  # noqa: F401
        except ImportError as e:
            result["hf"] = f"not timed: {e}"
        else:
            rows, cos = hf_rows(model_dir, texts, a.batch, a.repeat, ref)
            result["results"] += rows
            result["hf_cosine_min"] = cos
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
