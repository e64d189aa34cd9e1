"""A random-weight GGUF with SmolLM2-135M-Instruct's shapes and types, for tests and benchmarks.

What this is: the one builder of synthetic llama models that the tests (CPython, and inside
Pyodide: tests/browser/conftest.py copies this file there) and the bench scripts
(bench/_common.py puts tests/ on sys.path) share; smaller shapes through `shapes`. It writes
through webinfer.formats.gguf_write, so it runs wherever webinfer does (CPython, Pyodide).

What it is not: part of the webinfer package (`webinfer bench` benchmarks a model file), or a
model that says anything (random weights, placeholder vocabulary `<t0>`, `<t1>`, ...).

    from synthetic_model import build_synthetic_model
    path = build_synthetic_model(tmp_path / "tiny.gguf", seed=3, shapes={"n_layers": 2, "d_model": 64})
"""

from __future__ import annotations

import numpy as np

SMOLLM2_135M = dict(n_layers=30, d_model=576, d_ff=1536, n_heads=9, n_kv_heads=3, n_vocab=49152,
                    n_ctx=8192, rope_theta=100000.0, rms_eps=1e-5)
# The shapes of two models people run in a tab (their attention layouts, vocabularies, tied
# embeddings), for memory and speed at the 0.5-1B scale. Llama-3.2-1B's own RoPE scaling is not
# modelled: random weights say nothing either way.
LLAMA32_1B = dict(n_layers=16, d_model=2048, d_ff=8192, n_heads=32, n_kv_heads=8, n_vocab=128256,
                  n_ctx=131072, rope_theta=500000.0, rms_eps=1e-5)
QWEN25_05B = dict(n_layers=24, d_model=896, d_ff=4864, n_heads=14, n_kv_heads=2, n_vocab=151936,
                  n_ctx=32768, rope_theta=1000000.0, rms_eps=1e-6)


def build_synthetic_model(path, seed: int = 0, shapes: dict | None = None, mix: str | None = None,
                          random_blocks: bool = False, tokens: list[str] | None = None) -> str:
    """Write a random-weight GGUF with SmolLM2-135M-Instruct's shapes (SMOLLM2_135M, `shapes`
    overriding some) and types (Q4_1 layers, Q8_0 tied embedding, F32 norms) and a placeholder
    byte-level vocabulary. mix: instead of those types, the ones `webinfer quantize --type MIX`
    gives each tensor (e.g. "Q4_K_M", "Q6_K"). random_blocks: quantized tensors are random blocks
    (random codes, one scale putting values within about 0.05) instead of quantized Gaussian
    values: the same bytes to read and decode, written in seconds where the quantizers take many
    minutes for a 1B model (for speed and memory benchmarks). tokens: the vocabulary instead of the
    placeholder one (GPT-2's byte spelling, n_vocab of them: text_vocabulary's). The same
    arguments give the same file. Returns the path."""
    from webinfer.formats.gguf_write import write_gguf
    s = dict(SMOLLM2_135M, **(shapes or {}))
    d, ff, hd = s["d_model"], s["d_ff"], s["d_model"] // s["n_heads"]
    kvd = s["n_kv_heads"] * hd

    def rand(rows, cols, scale):
        # made when written (write_gguf calls it): one tensor of the model in memory at a time
        return lambda: (np.random.default_rng(seed + rows * 7 + cols).standard_normal((rows, cols)) * scale
                        ).astype(np.float32)

    meta = {
        "general.architecture": "llama", "general.name": "synthetic SmolLM2-135M shapes",
        "llama.block_count": s["n_layers"], "llama.embedding_length": d, "llama.feed_forward_length": ff,
        "llama.attention.head_count": s["n_heads"], "llama.attention.head_count_kv": s["n_kv_heads"],
        "llama.context_length": s["n_ctx"], "llama.rope.freq_base": s["rope_theta"],
        "llama.attention.layer_norm_rms_epsilon": s["rms_eps"], "llama.vocab_size": s["n_vocab"],
        "tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": "smollm",
        "tokenizer.ggml.tokens": tokens if tokens is not None else [f"<t{i}>" for i in range(s["n_vocab"])],
        "tokenizer.ggml.token_type": [1] * s["n_vocab"], "tokenizer.ggml.merges": ["<t a"][:0],
    }
    ones = np.ones(d, np.float32)
    tensors = {"token_embd.weight": (rand(s["n_vocab"], d, 0.05), "Q8_0", (s["n_vocab"], d)),
               "output_norm.weight": ones}
    for i in range(s["n_layers"]):
        p = f"blk.{i}."
        tensors.update({
            p + "attn_norm.weight": ones, p + "ffn_norm.weight": ones,
            p + "attn_q.weight": (rand(d, d, 0.05), "Q4_1", (d, d)),
            p + "attn_k.weight": (rand(kvd, d, 0.05), "Q4_1", (kvd, d)),
            p + "attn_v.weight": (rand(kvd, d, 0.05), "Q4_1", (kvd, d)),
            p + "attn_output.weight": (rand(d, d, 0.05), "Q4_1", (d, d)),
            p + "ffn_gate.weight": (rand(ff, d, 0.05), "Q4_1", (ff, d)),
            p + "ffn_up.weight": (rand(ff, d, 0.05), "Q4_1", (ff, d)),
            p + "ffn_down.weight": (rand(d, ff, 0.03), "Q4_1", (d, ff)),
        })
    if mix is not None:
        from webinfer.quantize import tensor_type
        for name, t in tensors.items():
            if isinstance(t, tuple):
                tensors[name] = (t[0], tensor_type(name, t[2], mix, s["n_layers"], False), t[2])
    if random_blocks:
        from webinfer.formats.gguf import SCALE_FIELDS
        for i, (name, t) in enumerate(tensors.items()):
            if isinstance(t, tuple) and t[1] in SCALE_FIELDS:
                tensors[name] = _random_blocks(np.random.default_rng(seed + i), t[1], t[2])
    write_gguf(path, meta, tensors)
    return str(path)


def text_vocabulary(n_vocab: int, seed: int = 0) -> list[str]:
    """n_vocab distinct tokens in GPT-2's byte spelling that can write any text, with pieces of
    JSON and words as a real vocabulary has: the 256 bytes, JSON punctuation runs, numbers up to
    999, then random lower-case words (half with a leading space) of 2 to 9 letters. For a grammar
    constraint on a random-weight model: its masks cost what a real vocabulary's do, roughly."""
    from webinfer.tokenizer.bpe import BYTE_TO_CHAR, spell
    toks = [BYTE_TO_CHAR[b] for b in range(256)]
    seen = set(toks)

    def add(text):
        t = spell(text)
        if t not in seen and len(toks) < n_vocab:
            seen.add(t)
            toks.append(t)
    for piece in ('{"', '":', '": "', '",', '", "', '"}', '},', ', "', '": ', '": [', '],', '"]', '{', '}', '[]',
                  '\n', '  ', '    ', 'true', 'false', 'null', ' true', ' false', ' null'):
        add(piece)
    for i in range(1000):
        add(str(i))
    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    while len(toks) < n_vocab:
        word = "".join(rng.choice(letters, int(rng.integers(2, 10))))
        add(" " + word if rng.random() < 0.5 else word)
    return toks


def _random_blocks(rng, type_name: str, shape):
    """A RawTensor of random `type_name` blocks whose f16 scales are one value, chosen so that the
    largest weight of 64 sample blocks is 0.05."""
    from webinfer.formats.gguf import SCALE_FIELDS
    from webinfer.formats.gguf_write import RawTensor
    from webinfer.formats.quants import QUANT_BY_NAME
    q = QUANT_BY_NAME[type_name]
    blocks = rng.integers(0, 256, (shape[0] * shape[1] // q.block_size, q.type_size), dtype=np.uint8)
    one = np.array([1.0], np.float16).view(np.uint8)
    for off in SCALE_FIELDS[type_name]:
        blocks[:64, off:off + 2] = one
    scale = np.array([0.05 / np.abs(q.dequantize(blocks[:64])).max()], np.float16).view(np.uint8)
    for off in SCALE_FIELDS[type_name]:
        blocks[:, off:off + 2] = scale
    return RawTensor(tuple(shape), q.ggml_type, blocks.tobytes())
