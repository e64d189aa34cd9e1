"""llama3: llama (as llama.py, tied, but GQA 4/1 and head_dim 32: shapes the Pyodide recorded step
takes) with Llama 3.x's RoPE scaling (rope_type "llama3": factor 32, low/high frequency factors 1
and 4, original context 8192, base 500000, as Llama 3.2 1B). With head_dim 32 its 16 frequency
pairs take all three branches: unscaled (wavelength < 8192 / 4), blended, divided by 32
(wavelength > 8192). llama.cpp's
converter writes no scaling keys for it, only the ``rope_freqs`` tensor: each pair's divisor."""

from __future__ import annotations

import math

import numpy as np

from . import llama

NAME = "llama3"
ARCH = "llama"
SEED = 1
TOKENIZER_PRE = "llama-bpe"
ROPE = {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 32.0, "low_freq_factor": 1.0,
        "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}


def config():
    return llama.config(rope_parameters=dict(ROPE), max_position_embeddings=131072, num_key_value_heads=1,
                        head_dim=32)


def metadata(cfg) -> dict:
    return llama.metadata(cfg)


maps = llama.maps


def extra_tensors(cfg) -> dict:
    """rope_freqs.weight (head_dim/2,): 1 where the wavelength is under original / high_freq_factor,
    `factor` where it is over original / low_freq_factor, else 1 / ((1 - s) / factor + s) with
    s = (original / wavelength - low) / (high - low): what HF's scaled inverse frequency divides by."""
    r, hd = cfg.rope_parameters, cfg.head_dim
    orig, low, high, factor = (r["original_max_position_embeddings"], r["low_freq_factor"],
                               r["high_freq_factor"], r["factor"])
    div = []
    for i in range(0, hd, 2):
        wavelen = 2 * math.pi * r["rope_theta"] ** (i / hd)
        if wavelen < orig / high:
            div.append(1.0)
        elif wavelen > orig / low:
            div.append(factor)
        else:
            s = (orig / wavelen - low) / (high - low)
            div.append(1 / ((1 - s) / factor + s))
    return {"rope_freqs.weight": np.array(div, np.float32)}
