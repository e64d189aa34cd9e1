"""The sampling settings a model should run with when the user gives none, and where they come from.

One answer shared by the library (``Model.generate``'s defaults), the CLI and the page:
``model.recommended_sampling`` is a RecommendedSampling, built here once per model from, in order
of precedence,

1. the GGUF's own ``general.sampling.*`` keys (llama.cpp writes them from a model's
   generation_config.json: ``temp``, ``top_k``, ``top_p``, ``min_p``, ``penalty_repeat``,
   ``penalty_last_n``; see gguf.constants.Keys.General.SAMPLING_*);
2. its model card, for the few models in MODEL_CARDS (keyed by ``general.basename``, else the
   start of ``general.name``);
3. webinfer's default, for whatever the first two leave open.

``source`` says which of these gave values, e.g. "gguf", "model card: SmolLM2 + webinfer default".

Like the tokenizer's ``tokenizer.ggml.*``, the ``general.sampling.*`` keys are read here and
nowhere else (config.py knows the model's shape keys). Not here: the sampler (sampling.py).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

from .errors import GGUFError

# webinfer's own defaults, for every value that neither the GGUF nor a model card gives: the
# lowest temperature / top_p that common model cards recommend (Llama 3 instruct: 0.6 / 0.9),
# below llama.cpp's 0.8 / 0.95 because the models webinfer runs in a browser are small ones,
# which drift at higher temperatures; llama.cpp's top_k 40 and min_p 0.05 cut the long tail. No
# repetition penalty: it needs the token history, so it would move sampling off the GPU (4 bytes
# a token back) onto the CPU (the whole logits row), and it would change what temperature=0
# (greedy) gives.
WEBINFER_DEFAULT = dict(temperature=0.6, top_k=40, top_p=0.9, min_p=0.05, repetition_penalty=1.0,
                        repetition_window=64)
# Tokens an answer may take when the caller does not say: enough for a few paragraphs or a short
# program; a chat keeps that much of the context free for it (chat.ChatSession).
DEFAULT_MAX_TOKENS = 512

# Models whose card recommends sampling settings: lower-case basename -> (name, settings, where).
MODEL_CARDS = {
    "smollm2": ("SmolLM2", dict(temperature=0.2, top_p=0.9),
                "huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct (and -360M, -1.7B): "
                "model.generate(..., temperature=0.2, top_p=0.9, do_sample=True)"),
}

# general.sampling.<key> -> (our field, type, lowest allowed, highest allowed)
GGUF_KEYS = {
    "temp": ("temperature", float, 0.0, math.inf),
    "top_k": ("top_k", int, 0, 1 << 31),
    "top_p": ("top_p", float, 0.0, 1.0),
    "min_p": ("min_p", float, 0.0, 1.0),
    "penalty_repeat": ("repetition_penalty", float, 1e-6, math.inf),
    "penalty_last_n": ("repetition_window", int, -1, 1 << 31),
}
WHOLE_HISTORY = 1 << 30   # penalty_last_n = -1 (llama.cpp: the whole context) as a window


@dataclass(frozen=True)
class RecommendedSampling:
    temperature: float         # 0 -> greedy
    top_k: int                 # 0 -> off
    top_p: float               # 1.0 -> off
    min_p: float               # 0 -> off
    repetition_penalty: float  # 1.0 -> off
    repetition_window: int     # last N ids the penalty looks at
    max_tokens: int            # answer length when the caller gives none
    source: str                # "gguf" | "model card: <name>" | "webinfer default", joined by " + "

    def generate_kwargs(self) -> dict:
        """These settings as Model.generate keywords."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "source"}

    def to_dict(self) -> dict:
        """Everything, source included (JSON for a page's settings panel)."""
        return asdict(self)

    def describe(self) -> str:
        """One line for a status bar or the CLI: "temperature 0.2, top_p 0.9, ... (model card: SmolLM2)"."""
        kw = self.generate_kwargs()
        parts = [f"temperature {kw.pop('temperature'):g}"] + [f"{k} {v:g}" for k, v in kw.items()]
        return f"{', '.join(parts)} ({self.source})"


def recommended_sampling(meta: dict) -> RecommendedSampling:
    """The settings for a model with GGUF metadata `meta`; GGUFError names a general.sampling.*
    value that is not a number in range."""
    values, sources = {}, []
    for key, (name, typ, lo, hi) in GGUF_KEYS.items():
        full = f"general.sampling.{key}"
        if full in meta:
            values[name] = _number(full, meta[full], typ, lo, hi)
    if values.get("repetition_window") == -1:
        values["repetition_window"] = WHOLE_HISTORY
    if values:
        sources.append("gguf")
    card = _model_card(meta)
    if card is not None:
        name, settings, _ = card
        added = {k: v for k, v in settings.items() if k not in values}
        if added:
            values.update(added)
            sources.append(f"model card: {name}")
    rest = {k: v for k, v in WEBINFER_DEFAULT.items() if k not in values}
    if rest:
        values.update(rest)
        sources.append("webinfer default")
    return RecommendedSampling(**values, max_tokens=DEFAULT_MAX_TOKENS, source=" + ".join(sources))


def _model_card(meta: dict):
    base = str(meta.get("general.basename") or "").strip().lower()
    if base in MODEL_CARDS:
        return MODEL_CARDS[base]
    name = str(meta.get("general.name") or "").strip().lower()
    for key, card in MODEL_CARDS.items():
        if name == key or name.startswith((key + " ", key + "-")):
            return card
    return None


def _number(key: str, value, typ, lo, hi):
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok and typ is int:
        ok = float(value).is_integer()
    if not ok or not (lo <= value <= hi):
        kind = "an integer" if typ is int else "a number"
        raise GGUFError(f"metadata {key!r} must be {kind} in {lo}..{hi}, got {value!r}")
    return typ(value)
