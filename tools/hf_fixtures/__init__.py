"""HF-fidelity fixtures: tiny random checkpoints of each architecture, as GGUF, with what Hugging
Face transformers answers on them (tests/model/test_arch_fidelity.py reads them).

For a fixture NAME (one module here, e.g. ``llama.py``) ``python3 -m tools.hf_fixtures NAME``
(from the repo root; no name: all of them) writes to tests/data/arch/:

    NAME.f32.gguf   a random checkpoint built with the family's own transformers config class and
                    model (seeded; a few layers; its real head layout: GQA, head_dim != d_model /
                    n_heads where the family allows), written with webinfer's GGUF writer under
                    llama.cpp's tensor names and metadata keys for that architecture, as its
                    convert_hf_to_gguf.py writes them, and a tiny byte-level BPE vocabulary
                    (256 bytes + a few merges, no special tokens) so webinfer loads it as any file
    NAME.q8_0.gguf  the same re-quantized by webinfer's quantizer (webinfer.quantize, Q8_0)
    NAME.json       the prompt (token ids), and for each file HF's greedy 32 new tokens, its logits at
                    the last prompt position, and the smallest top-1/top-2 logit margin of the 33 steps.
                    For q8_0 HF runs on that file's weights dequantized by the ``gguf`` package (an
                    implementation independent of webinfer's), loaded back into the HF model.

The builder tries seeds from the module's SEED until every greedy step's margin is at least
MIN_MARGIN of the logits' scale, so a right implementation cannot flip a near tie, and each greedy
run has MIN_DISTINCT different tokens (not one token repeated: random models like to).

Torch and transformers are needed here only (the CPU torch wheel is ~555 MB): CI does not install
them; the fixtures are committed and the tests read them. Regenerate on purpose, with:

    python3 -m pip install torch --index-url https://download.pytorch.org/whl/cpu
    python3 -m pip install transformers gguf
    python3 -m tools.hf_fixtures [NAME ...]

Same library versions, same bytes (the JSON records the versions).

Adding an architecture is one module beside llama.py defining: NAME / ARCH (general.architecture),
SEED, ``config()`` (the transformers config), ``metadata(cfg)`` (the arch's GGUF keys, see
common.text_keys) and ``maps(cfg)`` (common.Map: each GGUF tensor from which HF tensors, how), and
optionally TOKENIZER_PRE and ``extra_tensors(cfg)`` (GGUF tensors the converter computes, not
HF weights: rope_freqs); then list it in FIXTURES below. common.py does the rest.
"""

FIXTURES = ["llama", "llama3", "qwen3", "phi3", "gpt2", "gemma3", "gemma2"]
