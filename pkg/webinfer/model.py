"""Model: a loaded GGUF (config + tokenizer + weights on a device + KV cache) and its API.

    model = webinfer.load("model.gguf")                 # or bytes, a URL, or None (the default model)
    async for delta in model.generate("Once upon a time", max_tokens=64):
        print(delta, end="")
    model.complete("2 + 2 =", temperature=0).text      # sync, CPython

The KV cache is kept between calls: a prompt that starts with what the cache already holds
(the next turn of a chat) only prefills the new tokens.

Not here: the token loop (generate), the maths (models.llama, device), chat sessions (chat).
"""

from __future__ import annotations

import dataclasses
import itertools
import numbers
from typing import Iterator, Sequence

from .chat_template import render_chat
from .config import ModelConfig
from .device import select_device
from .errors import ContextLengthError, DeviceError, WebinferError
from .generate import PREFILL_CHUNK, Completion, Generation
from .models import network
from .recommended import RecommendedSampling, recommended_sampling
from .sampling import SamplingParams
from .sources import open_source
from .syncio import iterate_sync, run_sync
from .tokenizer import Tokenizer

DEFAULT_N_CTX = 4096
# Keys of the devices' recorded decode steps, one per KV cache made: not id(cache), which a later
# model's cache may reuse once the first is freed, so that a device shared by several models
# (a test module's) would replay the old model's step for the new one.
_STEP_KEYS = itertools.count()


def load(source=None, device: str = "auto", n_ctx: int | None = None, progress=None) -> "Model":
    """Load a GGUF model. source: path, bytes/memoryview, http(s) URL, or None for the default model.
    device: "auto" | "numpy" | "webgpu". n_ctx: context to allocate (default min(train ctx, 4096)).
    progress(stage, done, total) is called while reading and uploading (stage "read" / "upload")."""
    read_cb = (lambda d, t: progress("read", d, t)) if progress else None
    up_cb = (lambda d, t: progress("upload", d, t)) if progress else None
    gf = open_source(source, read_cb)
    cfg = ModelConfig.from_gguf(gf.metadata, gf.tensors.keys())
    tokenizer = Tokenizer.from_metadata(gf.metadata)
    dev = select_device(device) if isinstance(device, str) else device
    net = network(cfg).load(gf, cfg, dev, up_cb)
    return Model(cfg, tokenizer, dev, net, gf.metadata, n_ctx, gguf=gf)


class Model:
    def __init__(self, config: ModelConfig, tokenizer: Tokenizer, device, net, metadata: dict,
                 n_ctx: int | None = None, gguf=None):
        self.config, self.tokenizer, self.device, self.net = config, tokenizer, device, net
        self.metadata = metadata
        # The parsed file stays referenced (its tensor data are views, no copy): if the GPU fails
        # mid-generation, the weights are rebuilt on NumPy from it (_fall_back_to_numpy).
        self.gguf = gguf
        self.chat_template: str | None = metadata.get("tokenizer.chat_template")
        # What generate() uses for any sampling keyword (and max_tokens) the caller leaves out:
        # the GGUF's general.sampling.* keys, the model card's advice, else webinfer's default.
        self.recommended_sampling: RecommendedSampling = recommended_sampling(metadata)
        self.n_ctx = int(n_ctx or min(config.n_ctx_train, DEFAULT_N_CTX))
        if not 1 < self.n_ctx <= config.n_ctx_train:
            raise ContextLengthError(f"n_ctx {self.n_ctx} must be in 2..{config.n_ctx_train} (the model's context)")
        self.cache = device.kv_cache(config.n_layers, config.n_kv_heads, config.head_dim, self.n_ctx)
        self._step_key = ("decode", next(_STEP_KEYS))   # the device's recorded step for this cache (replay)
        self._cache_ids: list[int] = []   # the tokens whose keys/values the cache holds, in order

    def __repr__(self) -> str:
        c = self.config
        return (f"<webinfer.Model {c.name!r} {c.arch} {c.n_layers} layers d={c.d_model} "
                f"vocab={c.n_vocab} n_ctx={self.n_ctx} on {self.device.description}>")

    # -- text <-> tokens ------------------------------------------------------------------------
    def tokenize(self, text: str, add_special: bool = True) -> list[int]:
        return self.tokenizer.encode(text, add_special=add_special)

    def detokenize(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids))

    def apply_chat_template(self, messages: list[dict], add_generation_prompt: bool = True,
                            enable_thinking: bool | None = None, tools: list | None = None) -> str:
        """The conversation as the model's own template writes it. enable_thinking: given to the
        template as transformers gives it (Qwen3: False opens the answer with an empty think block).
        tools: OpenAI-shaped tools described to the model (webinfer.tools says how)."""
        if not self.chat_template:
            raise WebinferError("this model has no tokenizer.chat_template; pass a raw prompt instead")
        tok = self.tokenizer
        bos = tok.decode([tok.bos_id]) if tok.bos_id is not None else ""
        eos = tok.decode([tok.eos_id]) if tok.eos_id is not None else ""
        return render_chat(self.chat_template, messages, add_generation_prompt=add_generation_prompt,
                           bos_token=bos, eos_token=eos, enable_thinking=enable_thinking, tools=tools)

    def encode_chat(self, messages: list[dict], enable_thinking: bool | None = None,
                    tools: list | None = None) -> list[int]:
        """The rendered conversation as ids (the template writes any BOS itself)."""
        return self.tokenizer.encode(self.apply_chat_template(messages, enable_thinking=enable_thinking, tools=tools),
                                     add_special=False)

    # -- generation -------------------------------------------------------------------------------
    def generate(self, prompt: str | Sequence[int], *, max_tokens: int | None = None, stop: Sequence[str] | None = None,
                 stop_token_ids: Sequence[int] | None = None, add_special: bool = True,
                 params: SamplingParams | None = None, response_format=None, grammar: str | None = None,
                 **sampling) -> Generation:
        """Stream a continuation of prompt (text, or token ids). Sampling keywords: temperature,
        top_k, top_p, min_p, repetition_penalty, repetition_window, presence_penalty,
        frequency_penalty, logit_bias, seed; those left out (and max_tokens) take the model's
        recommended values (``self.recommended_sampling``); `params` replaces them all.
        Ends at an end-of-turn token, a stop string, max_tokens, or a full context.
        response_format ({"type": "json_object"}, {"type": "json_schema", "json_schema": {"schema":
        ...}}) or grammar (GBNF text) constrain the output to that language (webinfer.grammar): it
        ends when the sentence is complete, and a max_tokens cut still leaves a complete one."""
        ids = self.tokenize(prompt, add_special) if isinstance(prompt, str) else [int(t) for t in prompt]
        if not ids:
            raise WebinferError("empty prompt: give at least one token")
        bad = [t for t in ids if not 0 <= t < self.config.n_vocab]
        if bad:
            raise WebinferError(f"token id {bad[0]} is outside the vocabulary (0..{self.config.n_vocab - 1})")
        if len(ids) >= self.n_ctx:
            raise ContextLengthError(
                f"prompt is {len(ids)} tokens but the context holds {self.n_ctx} "
                f"(prompt + at least 1 generated token): shorten it, or load with a larger n_ctx "
                f"(this model allows up to {self.config.n_ctx_train})")
        rec = self.recommended_sampling.generate_kwargs()
        recommended_max = rec.pop("max_tokens")
        if max_tokens is None:
            max_tokens = recommended_max
        if not isinstance(max_tokens, numbers.Integral) or isinstance(max_tokens, bool) or max_tokens < 1:
            raise WebinferError(f"max_tokens must be an integer >= 1, got {max_tokens!r}")
        if params is None:
            unknown = sorted(set(sampling) - {f.name for f in dataclasses.fields(SamplingParams)})
            if unknown:
                raise WebinferError(f"unknown sampling keyword {unknown[0]!r} (see webinfer.SamplingParams)")
            params = SamplingParams(**{**rec, **sampling})
        params.validate(self.config.n_vocab)
        stops = set(self.tokenizer.eot_ids) | set(int(t) for t in (stop_token_ids or ()))
        constraint = None
        if response_format is not None or grammar is not None:
            from .grammar import make_constraint
            constraint = make_constraint(self.tokenizer, stops, response_format=response_format, grammar=grammar)
        if constraint is not None:
            if stop:
                raise WebinferError("stop strings cannot be combined with response_format / grammar "
                                    "(a stop string could cut the constrained output short)")
            need = constraint.min_bytes
            if need > min(max_tokens, self.n_ctx - len(ids)):
                raise WebinferError(f"max_tokens {max_tokens} (or the context left) is too small for the "
                                    f"grammar: its shortest output takes up to {need:g} tokens")
        return Generation(self, ids, max_tokens, params, list(stop or ()), stops, constraint)

    async def acomplete(self, prompt, **kw) -> Completion:
        gen = self.generate(prompt, **kw)
        async for _ in gen:
            pass
        return gen.result

    def complete(self, prompt, **kw) -> Completion:
        """Synchronous generate-to-the-end (CPython; in a notebook or Pyodide use `await acomplete`)."""
        return run_sync(self.acomplete(prompt, **kw))

    def stream(self, prompt, **kw) -> Iterator[str]:
        """Synchronous streaming (CPython): yields text deltas."""
        return iterate_sync(self.generate(prompt, **kw).__aiter__())

    def reset(self) -> None:
        """Forget the KV cache (the next prompt is prefilled from scratch)."""
        self._cache_ids = []

    def chat(self, system: str | None = None, **defaults):
        from .chat import ChatSession
        return ChatSession(self, system=system, **defaults)

    async def acreate_chat_completion(self, messages, stream: bool = False, **kw):
        from .chat import acreate_chat_completion
        return await acreate_chat_completion(self, messages, stream=stream, **kw)

    def create_chat_completion(self, messages, stream: bool = False, **kw):
        from .chat import create_chat_completion
        return create_chat_completion(self, messages, stream=stream, **kw)

    # -- looking inside (webinfer.inspect) --------------------------------------------------------
    def trace(self, prompt: str | Sequence[int], *, hooks=None, add_special: bool = True, source=None):
        """One forward pass of prompt with every layer's activations recorded, optionally changed by
        hooks; returns a webinfer.inspect.Trace. Runs on NumPy (a twin from source= on other devices)."""
        from .inspect import trace
        return trace(self, prompt, hooks=hooks, add_special=add_special, source=source)

    async def atrace(self, prompt: str | Sequence[int], **kw):
        from .inspect import atrace
        return await atrace(self, prompt, **kw)

    # -- the cache and the forward pass: what Generation, bench and inspect drive ------------------
    @property
    def cache_len(self) -> int:
        """Positions the KV cache holds (prompt and generated tokens so far)."""
        return len(self._cache_ids)

    def prefill(self, ids: list[int]):
        """Feed the prompt, re-using the cached prefix; returns (last logits tensor, reused count).
        The logits stay on the device: ``await model.device.read(logits)`` brings them back."""
        common = 0
        for a, b in zip(self._cache_ids, ids):
            if a != b:
                break
            common += 1
        common = min(common, len(ids) - 1)   # always run at least the last token: we need its logits
        self._cache_ids = self._cache_ids[:common]
        logits = None
        for start in range(common, len(ids), PREFILL_CHUNK):
            chunk = ids[start:start + PREFILL_CHUNK]
            logits = self.net.forward(chunk, start, self.cache)
            self._cache_ids.extend(chunk)
        return logits, common

    def _fall_back_to_numpy(self, reason: str) -> None:
        """Move the model to a NumpyDevice (after a GPU error or a lost device): the weights are rebuilt
        from the GGUF and the KV cache starts empty, so the caller re-prefills what it needs."""
        from .device.numpy_device import NumpyDevice
        if self.gguf is None:      # e.g. a model streamed to the GPU (webinfer.stream): its file is not in memory
            err = DeviceError(f"{reason}; no copy of the model's file is kept to rebuild the weights on NumPy: "
                              f"load it again with device=\"numpy\"")
            err.reason = reason            # what failed, without the advice (an app that reloads says its own)
            raise err
        dev = NumpyDevice(reason)
        self.net = network(self.config).load(self.gguf, self.config, dev)
        self.device = dev
        self.cache = dev.kv_cache(self.config.n_layers, self.config.n_kv_heads, self.config.head_dim, self.n_ctx)
        self._step_key = ("decode", next(_STEP_KEYS))
        self._cache_ids = []

    def step(self, token):
        """One token through the model at the next position; returns its logits tensor. token: an
        id, or the (1, 1) device tensor ``device.argmax`` / ``device.sample`` gave, which the step
        reads where it is (its id is then unknown here until read: tell it with ``confirm``). The
        device may replay a recorded step (Device.replay)."""
        pos = len(self._cache_ids)
        logits = self.device.replay(self._step_key, lambda t, p: self.net.forward(t, p, self.cache),
                                    token, pos)
        self._cache_ids.append(token if isinstance(token, int) else -1)
        return logits

    def confirm(self, token: int) -> None:
        """The id of the last step's token, once read (after ``step`` was given a device tensor)."""
        self._cache_ids[-1] = int(token)
