"""What every fixture shares: the seeded random checkpoint, the HF -> GGUF tensor maps (both ways),
the tiny tokenizer, HF's greedy run, the two files and the JSON. See __init__.py."""

from __future__ import annotations

import json
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "data" / "arch"
sys.path.insert(0, str(ROOT / "pkg"))

PROMPT = [72, 101, 108, 108, 111, 44, 32, 119, 111, 114, 108, 100, 33, 260]   # 14 ids: prefill takes the tiled matmul
N_NEW = 32           # greedy tokens HF generates (the first from the prompt's logits)
MIN_MARGIN = 5e-4    # each greedy step's top-1 minus top-2 logit, at least this times max |logits| (errors are ~1e-6)
N_SEEDS = 200        # seeds tried from the module's SEED
MIN_DISTINCT = 8     # distinct tokens in each greedy run (random models, tied ones above all, tend to repeat one)
FORMAT = ("prompt: token ids; variants.<type>: file (tests/data/arch/), reference (what HF ran on), "
          "tokens (HF's greedy new tokens), logits (HF's float32 logits at the last prompt position), "
          "min_margin (smallest top-1 minus top-2 logit over the greedy steps); config: the HF config "
          "(to_diff_dict); versions: the libraries that made it")


@dataclass
class Map:
    """One GGUF tensor made from HF tensors: their rows stacked (concatenated on axis 0) in order,
    then fwd applied; back: inv, then split into the parts' row counts. fwd / inv None: as they are."""
    gguf: str
    hf: list
    fwd: Callable | None = None
    inv: Callable | None = None


def text_keys(arch: str, cfg, n_vocab: int) -> dict:
    """The keys llama.cpp's convert_hf_to_gguf.py (TextModel.set_gguf_parameters) writes for most
    decoder-only models: sizes, heads, RoPE base, RMS epsilon; key/value length where the config has
    an explicit head_dim."""
    m = {
        f"{arch}.block_count": cfg.num_hidden_layers,
        f"{arch}.context_length": cfg.max_position_embeddings,
        f"{arch}.embedding_length": cfg.hidden_size,
        f"{arch}.feed_forward_length": cfg.intermediate_size,
        f"{arch}.attention.head_count": cfg.num_attention_heads,
        f"{arch}.attention.head_count_kv": cfg.num_key_value_heads,
        f"{arch}.rope.freq_base": float(cfg.rope_parameters["rope_theta"]),
        f"{arch}.attention.layer_norm_rms_epsilon": float(cfg.rms_norm_eps),
        f"{arch}.vocab_size": n_vocab,
    }
    hd = getattr(cfg, "head_dim", None)
    if hd is not None:
        m[f"{arch}.attention.key_length"] = hd
        m[f"{arch}.attention.value_length"] = hd
    return m


# -- the tokenizer ------------------------------------------------------------------------------------

_TEXT = ("the quick brown fox jumps over the lazy dog. hello, world! a tiny model says the same "
         "thing as its reference, token for token, on every device that runs it.")


def byte_bpe(n_vocab: int, pre: str = "default") -> dict:
    """A byte-level BPE vocabulary of n_vocab tokens: the 256 bytes (id = byte), then merges learnt
    greedily from a fixed sentence. No special tokens (nothing stops a greedy run early)."""
    from webinfer.tokenizer.bpe import BYTE_TO_CHAR     # GPT-2's printable stand-in for each byte
    chars = [BYTE_TO_CHAR[b] for b in range(256)]
    words = Counter(tuple(chars[b] for b in (("" if i == 0 else " ") + w).encode()) for i, w in enumerate(_TEXT.split()))
    tokens, merges = list(chars), []
    while len(tokens) < n_vocab:
        pairs = Counter()
        for w, c in words.items():
            for a, b in zip(w, w[1:]):
                pairs[a, b] += c
        if not pairs:
            raise ValueError(f"the text gives only {len(tokens)} tokens")
        (a, b), _ = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))
        merges.append(f"{a} {b}")
        tokens.append(a + b)
        new = Counter()
        for w, c in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and w[i] == a and w[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            new[tuple(out)] += c
        words = new
    return {"tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": pre, "tokenizer.ggml.tokens": tokens,
            "tokenizer.ggml.token_type": [1] * len(tokens), "tokenizer.ggml.merges": merges}


# -- HF side ------------------------------------------------------------------------------------------

def randomize(model, seed: int) -> None:
    """Seeded weights with logits spread wide enough for greedy runs to mean something: matrices
    N(0, 1/cols), norm weights 1 + N(0, 0.2), biases N(0, 0.1) (HF's own init has 0.02 matrices and
    unit norms, which would leave the norms untested and the logits nearly flat)."""
    import torch
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            r = torch.randn(p.shape, generator=g, dtype=torch.float32)
            if p.ndim >= 2:
                p.copy_(r / np.sqrt(p.shape[-1]))
            elif name.endswith("bias"):
                p.copy_(0.1 * r)
            else:
                p.copy_(1 + 0.2 * r)


def greedy(model, prompt: list[int], n_new: int):
    """HF's greedy continuation, one cached step at a time: (new tokens, float32 logits at the last
    prompt position, smallest top-1 minus top-2 margin relative to max |logits|)."""
    import torch
    margins = []

    def pick(logits):
        top = torch.topk(logits, 2).values
        margins.append(float((top[0] - top[1]) / logits.abs().max()))
        return int(torch.argmax(logits))

    with torch.no_grad():
        out = model(torch.tensor([prompt]), use_cache=True)
        first = out.logits[0, -1].clone()
        tokens = [pick(first)]
        while len(tokens) < n_new:
            out = model(torch.tensor([[tokens[-1]]]), cache=out.cache, use_cache=True)
            tokens.append(pick(out.logits[0, -1]))
    return tokens, first.numpy().astype(np.float32), min(margins)


def end_maps(cfg) -> list[Map]:
    """The token embedding, the final norm and (untied) the output head, as HF's llama-style
    models name them (model.embed_tokens, model.norm, lm_head)."""
    m = [Map("token_embd.weight", ["model.embed_tokens.weight"]), Map("output_norm.weight", ["model.norm.weight"])]
    if not cfg.tie_word_embeddings:
        m.append(Map("output.weight", ["lm_head.weight"]))
    return m


def to_gguf(maps: list[Map], sd: dict) -> dict:
    out = {}
    for m in maps:
        a = np.concatenate([sd[h] for h in m.hf], axis=0) if len(m.hf) > 1 else sd[m.hf[0]]
        out[m.gguf] = np.ascontiguousarray((m.fwd(a) if m.fwd else a).astype(np.float32))
    return out


def from_gguf(maps: list[Map], tensors: dict, sd: dict) -> dict:
    """HF tensors (shapes from sd) from GGUF tensors: each Map undone."""
    out = {}
    for m in maps:
        a = tensors[m.gguf]
        a = m.inv(a) if m.inv else a
        rows = np.cumsum([sd[h].shape[0] for h in m.hf])[:-1]
        for h, part in zip(m.hf, np.split(a, rows, axis=0)):
            out[h] = part.reshape(sd[h].shape)
    return out


def read_dequantized(path) -> dict:
    """Every tensor of a GGUF as float32 in NumPy order, read and dequantized by the gguf package."""
    from gguf import GGUFReader
    from gguf.quants import dequantize
    r = GGUFReader(str(path))
    out = {}
    for t in r.tensors:
        shape = tuple(int(s) for s in reversed(t.shape.tolist()))
        out[t.name] = np.asarray(dequantize(t.data, t.tensor_type), np.float32).reshape(shape)
    return out


def permute_rows(n_head: int):
    """llama.cpp's q/k permutation for GGUF "llama": HF's rotate-half pairs (i, i + d/2) of each
    head become adjacent pairs (2i, 2i + 1). Returns (fwd, inv)."""
    def fwd(w):
        return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)

    def inv(w):
        return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)
    return fwd, inv


# -- one fixture ------------------------------------------------------------------------------------

def build(mod, out_dir: Path = OUT, log=print) -> dict:
    """Write mod.NAME's two GGUFs and JSON (see __init__.py); returns the JSON's dict."""
    from importlib.metadata import version

    import torch
    import transformers
    from webinfer.formats.gguf_write import write_gguf
    from webinfer.quantize import quantize_gguf

    torch.set_num_threads(1)               # the same sums in the same order, run to run
    out_dir.mkdir(parents=True, exist_ok=True)
    cfg = mod.config()
    cfg._attn_implementation = "eager"
    for seed in range(mod.SEED, mod.SEED + N_SEEDS):
        run = _attempt(mod, cfg, seed, out_dir, write_gguf, quantize_gguf)
        margins = min(run["f32"][2], run["q8_0"][2])
        distinct = min(len(set(run["f32"][0])), len(set(run["q8_0"][0])))
        if margins >= MIN_MARGIN and distinct >= MIN_DISTINCT:
            break
        log(f"{mod.NAME}: seed {seed}: greedy margin {margins:.2g}, {distinct} distinct tokens, next seed")
    else:
        raise RuntimeError(f"{mod.NAME}: no seed in {N_SEEDS} gives greedy margins >= {MIN_MARGIN} "
                           f"and {MIN_DISTINCT} distinct tokens")
    f32, q8 = out_dir / f"{mod.NAME}.f32.gguf", out_dir / f"{mod.NAME}.q8_0.gguf"
    (tokens, logits, margin), (q_tokens, q_logits, q_margin) = run["f32"], run["q8_0"]
    doc = {
        "format": FORMAT,
        "name": mod.NAME, "arch": mod.ARCH, "hf_class": run["hf_class"], "seed": seed,
        "prompt": PROMPT, "n_new": N_NEW,
        "variants": {
            "f32": {"file": f32.name, "reference": "HF on the random float32 weights",
                    "tokens": tokens, "logits": [float(v) for v in logits], "min_margin": margin},
            "q8_0": {"file": q8.name, "reference": "HF on this file's weights dequantized by the gguf package",
                     "tokens": q_tokens, "logits": [float(v) for v in q_logits], "min_margin": q_margin},
        },
        "config": json.loads(json.dumps(cfg.to_diff_dict(), default=str)),
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     "gguf": version("gguf"), "numpy": np.__version__},
    }
    (out_dir / f"{mod.NAME}.json").write_text(json.dumps(doc, indent=1) + "\n")
    sizes = ", ".join(f"{p.name} {p.stat().st_size // 1024} KiB" for p in (f32, q8, out_dir / f"{mod.NAME}.json"))
    log(f"{mod.NAME}: seed {seed}, margins {margin:.3g} / {q_margin:.3g}, tokens {tokens[:8]}...; {sizes}")
    return doc


def _attempt(mod, cfg, seed, out_dir, write_gguf, quantize_gguf) -> dict:
    """Build, write and run one seed: {"f32": (tokens, logits, margin), "q8_0": (...), "hf_class"}."""
    import torch
    import transformers
    torch.manual_seed(seed)
    model = transformers.AutoModelForCausalLM.from_config(cfg, attn_implementation="eager",
                                                          dtype=torch.float32).eval()
    randomize(model, seed)
    run = {"f32": greedy(model, PROMPT, N_NEW), "hf_class": type(model).__name__}

    sd = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    maps = mod.maps(cfg)
    meta = {"general.architecture": mod.ARCH, "general.name": f"hf_fixtures {mod.NAME} (random weights)",
            "general.file_type": 0, **mod.metadata(cfg),
            **byte_bpe(cfg.vocab_size, getattr(mod, "TOKENIZER_PRE", "default"))}
    f32, q8 = out_dir / f"{mod.NAME}.f32.gguf", out_dir / f"{mod.NAME}.q8_0.gguf"
    extra = mod.extra_tensors(cfg) if hasattr(mod, "extra_tensors") else {}   # not from HF's weights (rope_freqs)
    write_gguf(f32, meta, {**to_gguf(maps, sd), **extra})
    quantize_gguf(f32, q8, "Q8_0")

    state = {k: torch.from_numpy(v.copy()) for k, v in from_gguf(maps, read_dequantized(q8), sd).items()}
    tied = {k for k in sd if cfg.tie_word_embeddings and k == "lm_head.weight"}
    left = set(sd) - set(state) - tied
    if left:
        raise RuntimeError(f"{mod.NAME}: the maps give no GGUF tensor for {sorted(left)}")
    model.load_state_dict(state, strict=False)
    if tied:
        model.tie_weights()
        assert model.get_output_embeddings().weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()
    run["q8_0"] = greedy(model, PROMPT, N_NEW)
    return run
