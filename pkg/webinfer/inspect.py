"""Looking inside the model as it runs: activations per layer, attention maps, hooks.

    res = model.trace("The capital of France is")
    res.token_strs                 # ['The', ' capital', ' of', ' France', ' is']
    res.resid_mlp.shape            # (n_layers, n_tokens, d_model): each layer's output
    res.attn.shape                 # (n_layers, n_heads, n_tokens, n_tokens): rows sum to 1, causal
    res.top_k(5)                   # [(id, ' Paris', 0.41), ...] the next-token distribution
    res.logit_lens()               # (n_layers, n_vocab): what each layer's residual "would say"

    # Hooks read or change an activation during the pass (ablation: zero head 5 of layer 3)
    res2 = model.trace(prompt, hooks=ablate_heads({3: [5]}))

A trace runs ONE forward pass of the whole prompt, from an empty KV cache at position 0, through
``Llama.forward``'s tap points (see ``HOOK_POINTS``); the model's own KV cache is not touched.
It always runs on the NumPy device, where activations are plain arrays: on a NumPy model it
shares the model's weights; on a WebGPU model it runs a NumPy *twin* built from the same GGUF
(from the GGUF the model keeps, or ``source=``; built once, ~0.5 GB of float32 for the
default model). So the numbers are the reference numbers on every device, and a hook never
needs a GPU readback. ``atrace`` is the same call for code that awaits (notebooks, Pyodide).

Hooks: ``{name_or_pattern: fn}`` with ``fn(x, name) -> new x | None``. ``x`` is the activation
as a float32 array; edit it in place and return None, or return a replacement of the same
shape. Names are "embed" and "blk.{i}.{point}"; patterns use fnmatch ("blk.*.attn_heads").
Shapes seen by a hook: attn_q and attn_heads (n_tokens, n_heads, head_dim); embed, resid_attn and
resid_mlp (n_tokens, d_model); mlp (n_tokens, d_ff). A name that matches no point is an error.

Not here: the forward pass itself (models.llama), sampling (webinfer.sampling), plotting
(the notebooks do that with matplotlib).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from .errors import ContextLengthError, DeviceError, WebinferError

# Where Llama.forward lets a tap see (and replace) an activation, per layer, in pass order.
HOOK_POINTS = ("attn_q", "attn_heads", "resid_attn", "mlp", "resid_mlp")
_HEADED = ("attn_q", "attn_heads")   # shown to hooks split per head

Hook = Callable[[np.ndarray, str], "np.ndarray | None"]


@dataclass
class Trace:
    """What one traced forward pass saw. Per-layer arrays are stacked on axis 0 (n_layers)."""
    tokens: list[int]            # the prompt ids
    token_strs: list[str]        # each id decoded on its own (a split multi-byte char shows as U+FFFD)
    embed: np.ndarray            # (n_tokens, d_model) token embeddings (GPT-2: + positions): the residual stream's start
    resid_attn: np.ndarray       # (n_layers, n_tokens, d_model) residual after the attention add
    resid_mlp: np.ndarray        # (n_layers, n_tokens, d_model) residual after the MLP add (layer output)
    attn: np.ndarray             # (n_layers, n_heads, n_tokens, n_tokens) softmax weights: query row, key col
    attn_heads: np.ndarray       # (n_layers, n_tokens, n_heads, head_dim) each head's output, before W_o
    mlp: np.ndarray              # (n_layers, n_tokens, d_ff) SwiGLU output, silu(gate) * up (GPT-2: gelu(up))
    logits: np.ndarray           # (n_vocab,) float32 next-token logits (after the last prompt token)
    probs: np.ndarray            # (n_vocab,) float64 softmax(logits)
    _unembed: Callable[[np.ndarray], np.ndarray] = field(repr=False, default=None)
    _decode: Callable[[int], str] = field(repr=False, default=None)

    @property
    def n_layers(self) -> int:
        return self.resid_mlp.shape[0]

    def top_k(self, k: int = 10, probs: np.ndarray | None = None) -> list[tuple[int, str, float]]:
        """The k most likely next tokens as (id, text, probability), most likely first."""
        p = self.probs if probs is None else probs
        k = min(int(k), p.shape[-1])
        ids = np.argpartition(-p, k - 1)[:k]
        ids = ids[np.lexsort((ids, -p[ids]))]                # by probability, ties by id
        return [(int(i), self._decode(int(i)), float(p[i])) for i in ids]

    def unembed(self, resid: np.ndarray) -> np.ndarray:
        """Final norm (RMSNorm, or GPT-2's LayerNorm) + output head of residual rows (..., d_model) -> logits (..., n_vocab)."""
        r = np.asarray(resid, dtype=np.float32)
        flat = r.reshape(-1, r.shape[-1])
        out = np.concatenate([self._unembed(flat[i:i + 1]) for i in range(flat.shape[0])])
        return out.reshape(*r.shape[:-1], out.shape[-1])

    def logit_lens(self, position: int = -1, after: str = "mlp") -> np.ndarray:
        """(n_layers, n_vocab) logits read off each layer's residual at one position, through the
        final norm and output head (nostalgebraist's logit lens). after: "mlp" (the layer's
        output; the last layer's row then equals ``logits`` at the last position) or "attn"."""
        stream = {"mlp": self.resid_mlp, "attn": self.resid_attn}.get(after)
        if stream is None:
            raise WebinferError(f"logit_lens after={after!r}: choose 'mlp' or 'attn'")
        return self.unembed(stream[:, position, :])

    def lens_top(self, position: int = -1, after: str = "mlp") -> list[tuple[str, float]]:
        """Per layer, the lens's most likely token and its probability: [(text, p), ...]."""
        lens = self.logit_lens(position, after).astype(np.float64)
        p = np.exp(lens - lens.max(axis=-1, keepdims=True))
        p /= p.sum(axis=-1, keepdims=True)
        best = p.argmax(axis=-1)
        return [(self._decode(int(b)), float(p[i, b])) for i, b in enumerate(best)]


def trace(model, prompt: str | Sequence[int], *, hooks: dict[str, Hook] | None = None,
          add_special: bool = True, source=None) -> Trace:
    """Run prompt (text, or ids) through the model once and record every tap point; see the module
    docstring. source: the GGUF (path/bytes) for the NumPy twin of a non-NumPy model."""
    llama = numpy_twin(model, source)
    cfg = model.config
    ids = model.tokenize(prompt, add_special) if isinstance(prompt, str) else [int(t) for t in prompt]
    if not ids:
        raise WebinferError("empty prompt: give at least one token")
    bad = [t for t in ids if not 0 <= t < cfg.n_vocab]
    if bad:
        raise WebinferError(f"token id {bad[0]} is outside the vocabulary (0..{cfg.n_vocab - 1})")
    if len(ids) > cfg.n_ctx_train:
        raise ContextLengthError(f"prompt is {len(ids)} tokens; the model's context is {cfg.n_ctx_train}")
    n = len(ids)
    cache = llama.dev.kv_cache(cfg.n_layers, cfg.n_kv_heads, cfg.head_dim, n)
    rec = _Recorder(cfg, cache, _resolve_hooks(hooks or {}, cfg.n_layers))
    logits = np.asarray(llama.forward(ids, 0, cache, tap=rec))[0]          # (n_vocab,)
    dev = llama.dev

    def unembed(row):                                                        # (1, d_model) -> (1, n_vocab)
        if cfg.norm == "layer":                                              # GPT-2's final LayerNorm
            return np.asarray(dev.linear(dev.layer_norm(row, llama.out_norm, llama.out_norm_b, cfg.rms_eps),
                                         llama.output))
        return np.asarray(dev.linear(dev.rms_norm(row, llama.out_norm, cfg.rms_eps), llama.output))

    def decode(i: int) -> str:
        return model.tokenizer.decode([i])

    z = logits.astype(np.float64)
    probs = np.exp(z - z.max())
    probs /= probs.sum()
    L, hd = cfg.n_layers, cfg.head_dim
    return Trace(
        tokens=ids, token_strs=[decode(i) for i in ids], embed=rec.seen["embed"],
        resid_attn=rec.stack("resid_attn"), resid_mlp=rec.stack("resid_mlp"),
        attn=np.stack(rec.attn), attn_heads=rec.stack("attn_heads").reshape(L, n, cfg.n_heads, hd),
        mlp=rec.stack("mlp"), logits=logits, probs=probs, _unembed=unembed, _decode=decode)


async def atrace(model, prompt, **kw) -> Trace:
    """trace() for code that awaits: the traced pass runs on NumPy, so nothing here is really async."""
    return trace(model, prompt, **kw)


def ablate_heads(heads: dict[int, Sequence[int]]) -> dict[str, Hook]:
    """Hooks that zero the output of the given heads, {layer: [head, ...]}, before the output
    projection: the heads then contribute nothing to the residual stream."""
    hooks = {}
    for layer, hs in heads.items():
        chosen = [int(h) for h in hs]

        def zero(x, name, chosen=chosen):
            x[:, chosen, :] = 0.0                                            # (n, n_heads, head_dim)
        hooks[f"blk.{int(layer)}.attn_heads"] = zero
    return hooks


def numpy_twin(model, source=None):
    """The Llama that traces run on: the model's own on the NumPy device, else a NumPy copy of the
    same GGUF (built once and kept on the model)."""
    if model.device.caps.reference:
        return model.net
    twin = getattr(model, "_numpy_twin", None)
    if twin is not None:
        return twin
    if source is None and getattr(model, "gguf", None) is not None:
        source = model.gguf          # the GGUFFile load() kept: no second read
    if source is None:
        raise DeviceError(
            f"tracing runs on NumPy, and this model is on {model.device.description!r}: pass source= "
            "(the GGUF path or bytes it was loaded from) once to build a NumPy twin, or load with device='numpy'")
    from .config import ModelConfig
    from .device.numpy_device import NumpyDevice
    from .models import network
    from .sources import open_source
    gf = source if hasattr(source, "tensors") else open_source(source)
    if ModelConfig.from_gguf(gf.metadata, gf.tensors.keys()) != model.config:
        raise WebinferError("source= is a different model from the one loaded (configs differ)")
    twin = network(model.config).load(gf, model.config, NumpyDevice(f"trace twin of {model.device.description}"))
    model._numpy_twin = twin
    return twin


def _resolve_hooks(hooks: dict[str, Hook], n_layers: int) -> dict[str, list[Hook]]:
    """Expand names/patterns to the exact tap names; unknown names fail loudly (a typo would
    otherwise silently do nothing)."""
    names = ["embed"] + [f"blk.{i}.{p}" for i in range(n_layers) for p in HOOK_POINTS]
    out: dict[str, list[Hook]] = {}
    for key, fn in hooks.items():
        if not callable(fn):
            raise WebinferError(f"hook {key!r} is not callable: {fn!r}")
        hit = [nm for nm in names if fnmatch.fnmatchcase(nm, key)]
        if not hit:
            raise WebinferError(f"hook {key!r} matches no tap point: use 'embed' or 'blk.{{0..{n_layers - 1}}}."
                                f"{{{','.join(HOOK_POINTS)}}}' (fnmatch patterns allowed)")
        for nm in hit:
            out.setdefault(nm, []).append(fn)
    return out


class _Recorder:
    """The tap Llama.forward calls: runs the hooks, keeps what each point finally held, and
    computes each layer's attention weights from the (hooked) queries and the cached keys."""

    def __init__(self, cfg, cache, hooks: dict[str, list[Hook]]):
        self.cfg, self.cache, self.hooks = cfg, cache, hooks
        self.seen: dict[str, np.ndarray] = {}
        self.per_layer: dict[str, list[np.ndarray]] = {p: [] for p in HOOK_POINTS}
        self.attn: list[np.ndarray] = []

    def __call__(self, name: str, x):
        x = np.asarray(x)
        point = name.rsplit(".", 1)[-1]
        for fn in self.hooks.get(name, ()):
            x = self._run_hook(fn, name, point, x)
        if name == "embed":
            self.seen[name] = x
            return x
        self.per_layer[point].append(x)
        if point == "attn_q":
            self.attn.append(self._weights(int(name.split(".")[1]), x))
        return x

    def _run_hook(self, fn, name, point, x):
        c = self.cfg
        shape = (x.shape[0], c.n_heads, c.head_dim) if point in _HEADED else x.shape
        x = np.array(x, dtype=np.float32, copy=True)      # never let a hook edit a device-owned buffer
        out = fn(x.reshape(shape), name)
        if out is None:
            return x
        out = np.asarray(out, dtype=np.float32)
        if out.shape != shape:
            raise WebinferError(f"hook for {name!r} returned shape {out.shape}, expected {shape}")
        return np.ascontiguousarray(out.reshape(x.shape))

    def _weights(self, layer: int, q: np.ndarray) -> np.ndarray:
        """softmax(q k^T / sqrt(hd)) with the causal mask, as the attention op computes it:
        (n_heads, n, n). Query head h reads kv head h // (n_heads / n_kv_heads)."""
        c = self.cfg
        n = q.shape[0]
        qh = q.reshape(n, c.n_heads, c.head_dim).transpose(1, 0, 2)          # (H, n, hd)
        k = self.cache.k[layer, :, :n]                                       # (KVH, n, hd)
        k = np.repeat(k, c.n_heads // c.n_kv_heads, axis=0)                  # (H, n, hd)
        s = np.matmul(qh, k.transpose(0, 2, 1)) * np.float32(1.0 / np.sqrt(c.head_dim))   # (H, n, n)
        s[:, np.triu(np.ones((n, n), dtype=bool), 1)] = -np.inf
        s -= s.max(axis=-1, keepdims=True)
        np.exp(s, out=s)
        s /= s.sum(axis=-1, keepdims=True)
        return s

    def stack(self, point: str) -> np.ndarray:
        return np.stack(self.per_layer[point])
