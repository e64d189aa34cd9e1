"""The networks, one class a family, each with ``load(gf, cfg, device, progress)`` and
``forward(tokens, pos, cache, all_logits=False, tap=None)`` written against the Device ops.

``network(cfg)`` picks the class for a file's ``general.architecture``; which architectures are
supported at all is config.SUPPORTED_ARCHS (ModelConfig refuses the rest before any weight loads).
BERT (bert.py) is an encoder with a forward of its own, loaded by webinfer.embed, not from here.
"""

from __future__ import annotations

from .gemma import Gemma
from .gpt2 import GPT2
from .llama import Llama

# general.architecture -> the class whose forward pass runs it
NETWORKS = {"llama": Llama, "mistral": Llama, "qwen2": Llama, "qwen3": Llama, "phi3": Llama, "gpt2": GPT2,
            "gemma": Gemma, "gemma2": Gemma, "gemma3": Gemma}


def network(cfg):
    """The network class for cfg.arch (ModelConfig has already refused an unsupported one)."""
    return NETWORKS[cfg.arch]
