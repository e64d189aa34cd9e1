"""Re-quantize a GGUF model to another type or llama.cpp mix: ``webinfer quantize IN OUT --type T``.

What this is: the choice of a ggml type for each tensor, as llama.cpp's ``llama_tensor_get_type``
(src/llama-quant.cpp) makes it for the llama architecture, and a writer that dequantizes each
tensor of IN to float32 and quantizes it with ``formats.quants`` (float32 -> blocks). What this
is not: an importance-matrix quantizer (llama-quantize --imatrix), or MoE / non-llama rules.

The mixes (``MIXES``) name a default type; every 2-D ``*.weight`` tensor gets it except:

    output.weight                Q6_K (Q8_0 stays Q8_0). A model with no output.weight (tied
                                 embeddings) applies this rule to token_embd.weight instead.
    token_embd.weight            the default type (when output.weight exists).
    blk.N.attn_v.weight          Q4_K_M, Q5_K_M: Q6_K where use_more_bits(N, n_layers), else the
    blk.N.ffn_down.weight        default. use_more_bits(i, n) = i < n/8 or i >= 7n/8 or
                                 (i - n/8) % 3 == 2 (integer division): the first and last eighth
                                 of the layers and every third layer between, about half of them.
    1-D tensors (norms, biases)  F32, whatever the type asked.

Rows whose length is not a multiple of the type's block fall back as llama.cpp does: a K-quant
or IQ4_XS needs rows of 256, else Q2_K/Q3_K/IQ4_XS -> IQ4_NL, Q4_K -> Q5_0, Q5_K -> Q5_1,
Q6_K -> Q8_0; and a row that still does not divide the fallback's block is written F16.
Plain type names (Q4_0, Q8_0, Q6_K, IQ4_NL, F16, ...) use the same rules with that default type
and no attn_v / ffn_down bumps; F32, F16 and BF16 write every matrix in that type.
"""

from __future__ import annotations

import re

import numpy as np

from .errors import WebinferError
from .formats.gguf import read_gguf
from .formats.gguf_write import write_gguf
from .formats.quants import GGML_BLOCK_SIZES, QUANT_BY_NAME

# name -> (default type, whether attn_v / ffn_down get Q6_K in use_more_bits layers)
MIXES: dict[str, tuple[str, bool]] = {"Q4_K_M": ("Q4_K", True), "Q5_K_M": ("Q5_K", True)}

# llama_ftype values for general.file_type (llama.h), for the names this module writes.
FILE_TYPES = {"F32": 0, "F16": 1, "Q4_0": 2, "Q4_1": 3, "Q8_0": 7, "Q5_0": 8, "Q5_1": 9, "Q2_K": 10,
              "Q3_K": 12, "Q4_K": 15, "Q4_K_M": 15, "Q5_K": 17, "Q5_K_M": 17, "Q6_K": 18,
              "IQ4_NL": 25, "IQ4_XS": 30, "BF16": 32}

# llama.cpp's fallback when the rows do not divide into 256 (the K-quant super-block).
_ROW_FALLBACK = {"Q2_K": "IQ4_NL", "Q3_K": "IQ4_NL", "IQ4_XS": "IQ4_NL", "Q4_K": "Q5_0",
                 "Q5_K": "Q5_1", "Q6_K": "Q8_0"}
_FLOAT_TYPES = ("F32", "F16", "BF16")
_LAYER = re.compile(r"blk\.(\d+)\.")


def use_more_bits(i_layer: int, n_layers: int) -> bool:
    """llama.cpp's use_more_bits: the layers that get the extra bits in the _M mixes."""
    return i_layer < n_layers // 8 or i_layer >= 7 * n_layers // 8 or (i_layer - n_layers // 8) % 3 == 2


def tensor_type(name: str, shape: tuple[int, ...], mix: str, n_layers: int, has_output: bool) -> str:
    """The type name `name` (NumPy `shape`, rows last) gets in `mix` -- the rules of the module
    docstring."""
    if len(shape) < 2 or not name.endswith(".weight"):
        return "F32"
    default, bumps = MIXES.get(mix, (mix, False))
    if default in _FLOAT_TYPES:
        return default
    t = default
    if name == "output.weight" or (not has_output and name == "token_embd.weight"):
        t = "Q8_0" if default == "Q8_0" else "Q6_K"
    elif bumps and (name.endswith(".attn_v.weight") or name.endswith(".ffn_down.weight")):
        m = _LAYER.match(name)
        if m and use_more_bits(int(m.group(1)), n_layers):
            t = "Q6_K"
    row = shape[-1]
    if row % GGML_BLOCK_SIZES[QUANT_BY_NAME[t].ggml_type][0]:
        t = _ROW_FALLBACK.get(t, t)
        if row % GGML_BLOCK_SIZES[QUANT_BY_NAME[t].ggml_type][0]:
            t = "F16"
    return t


def quantize_gguf(src, dest, mix: str) -> dict[str, str]:
    """Write `dest`: `src`'s metadata (general.file_type updated) and its tensors re-quantized
    as `mix` decides. Returns {tensor name: type name written}."""
    if mix not in MIXES and mix not in QUANT_BY_NAME:
        raise WebinferError(f"unknown quantization type {mix!r} (choose from "
                            f"{', '.join([*MIXES, *QUANT_BY_NAME])})")
    gf = read_gguf(src)
    try:
        n_layers = int(next((v for k, v in gf.metadata.items() if k.endswith(".block_count")), 0))
        has_output = "output.weight" in gf.tensors
        meta = {k: (gf.metadata_types[k], v) for k, v in gf.metadata.items() if k != "general.alignment"}
        if mix in FILE_TYPES:
            meta["general.file_type"] = ("u32", FILE_TYPES[mix])
        meta["general.quantization_version"] = ("u32", 2)
        chosen, tensors = {}, {}
        for name, info in gf.tensors.items():
            chosen[name] = tensor_type(name, info.shape, mix, n_layers, has_output)
            # made when written: one float32 tensor in memory at a time
            tensors[name] = ((lambda n=name: np.asarray(gf.dequantize(n), dtype=np.float32)),
                             chosen[name], info.shape)
        write_gguf(dest, meta, tensors)
    finally:
        gf.close()
    return chosen
