"""The token loop: prompt ids in, streamed text deltas out, with a Completion at the end.

``Generation`` is what ``Model.generate`` returns: ``async for delta in gen`` streams text (only
complete UTF-8, never a piece of a stop string), ``gen.cancel()`` stops it at the next token,
and ``gen.result`` holds the Completion (text, ids, finish reason, counts, timings) afterwards.

Not here: the forward pass (models.llama), sampling math (sampling), chat formatting (chat).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import numpy as np

from .device.gpu_sample import device_sampling, sample_reference
from .errors import DeviceError
from .sampling import Sampler, SamplingParams
from .stops import StopMatcher
from .tokenizer import IncrementalDecoder

PREFILL_CHUNK = 512   # prompt tokens per forward: bounds the (rows x keys) attention scores


@dataclass
class Completion:
    text: str                    # generated text, stop string excluded
    token_ids: list[int]         # generated ids, stop token excluded
    finish_reason: str           # "stop" | "length" | "cancelled"
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int           # prompt tokens whose keys/values were reused from the cache
    prefill_s: float             # prompt -> first token's logits
    decode_s: float              # the rest
    decode_steps: int            # forward passes of one token
    device: str                  # where it finished: "numpy: webgpu failed mid-generation (...)" after a fallback
    stop: str | None = None      # the stop string or token text that ended it, if any
    fallback: str | None = None  # why the device changed mid-generation (a GPU error, a lost device), if it did

    @property
    def prefill_tok_s(self) -> float:
        n = self.prompt_tokens - self.cached_tokens
        return n / self.prefill_s if self.prefill_s > 0 else 0.0

    @property
    def decode_tok_s(self) -> float:
        return self.decode_steps / self.decode_s if self.decode_s > 0 else 0.0

    def to_dict(self) -> dict:
        return {
            "text": self.text, "token_ids": self.token_ids, "finish_reason": self.finish_reason,
            "device": self.device, "fallback": self.fallback, "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens, "cached_tokens": self.cached_tokens,
            "prefill_tok_s": round(self.prefill_tok_s, 2), "decode_tok_s": round(self.decode_tok_s, 2),
        }


@dataclass
class Generation:
    model: "object"
    prompt_ids: list[int]
    max_tokens: int
    params: SamplingParams
    stop: list[str] = field(default_factory=list)
    stop_token_ids: set[int] = field(default_factory=set)
    constraint: "object | None" = None   # a grammar.Constraint (response_format= / grammar=), or None
    result: Completion | None = None
    _cancelled: bool = False
    _fallback: str | None = None

    def cancel(self) -> None:
        """Stop at the next token; the result's finish_reason is "cancelled"."""
        self._cancelled = True

    def __aiter__(self):
        return self._run()

    async def _run(self):
        m = self.model
        p = self.params
        # Plain greedy needs only the argmax (on the device: 4 bytes back); anything that edits
        # the logits first (bias, penalties) goes through the full sampler, greedy or not.
        # A grammar constraint: on a device with caps.masks (WebGPU) its allowed tokens go to the
        # device as a bit mask before each step (token_mask) and the pick stays there; elsewhere
        # (NumPy, or with bias / penalties) the logits are read back and masked on the host.
        con = self.constraint
        greedy = p.temperature == 0 and not p.logit_bias and p.repetition_penalty == 1.0 \
            and p.presence_penalty == 0 and p.frequency_penalty == 0
        # Filters + temperature only: a device with a `sample` op draws on the GPU (4 bytes back)
        # with u from this Generator -- the stream the CPU Sampler would draw from for this seed.
        self._rng = np.random.Generator(np.random.PCG64(p.seed)) if device_sampling(p) else None
        sampler = None if greedy and con is None else Sampler(p, m.config.n_vocab)
        self._masked_at = -1   # the generated-token count whose mask the device holds (token_mask)
        self._tok_t = None
        decoder, matcher = IncrementalDecoder(m.tokenizer), StopMatcher(self.stop)
        history = self._history = list(self.prompt_ids)   # what the penalties look at
        out_ids: list[int] = []
        text: list[str] = []
        reason, stop_hit = "length", None
        t0 = time.perf_counter()
        try:
            logits_t, cached = m.prefill(self.prompt_ids)
        except DeviceError as e:
            logits_t, cached = self._fall_back(e, history), 0
        t_prefill = t_first = None
        steps = 0
        try:
            for _ in range(self.max_tokens):
                if self._cancelled:    # cancelled during the prefill or the step just computed
                    reason = "cancelled"
                    break
                dev = m.device
                on_dev = self._on_device(dev, greedy)
                # (not under a constraint: the next step's mask needs this token first)
                ahead = (on_dev and con is None and dev.caps.decode_ahead and len(out_ids) + 1 < self.max_tokens
                         and m.cache_len < m.n_ctx)
                try:
                    tok, next_logits = await self._choose(dev, logits_t, sampler, history, greedy, ahead)
                except DeviceError as e:   # the GPU failed: finish on NumPy from the same history
                    logits_t = self._fall_back(e, history)
                    tok, next_logits = await self._choose(m.device, logits_t, sampler, history, greedy)
                if t_prefill is None:
                    t_prefill = time.perf_counter() - t0
                    t_first = time.perf_counter()
                if con is not None:
                    con.advance(tok)
                if tok in self.stop_token_ids:
                    reason, stop_hit = "stop", m.tokenizer.decode([tok])
                    break
                out_ids.append(tok)
                history.append(tok)
                emit, hit = matcher.push(decoder.push(tok))
                if emit:
                    text.append(emit)
                    yield emit
                if hit:
                    reason, stop_hit = "stop", matcher.matched
                    break
                if con is not None and con.finished:   # the grammar's sentence is whole: nothing may follow
                    reason = "length" if con.cut else "stop"
                    break
                if self._cancelled:
                    reason = "cancelled"
                    break
                if len(out_ids) == self.max_tokens or m.cache_len >= m.n_ctx:
                    break   # "length": asked-for tokens done, or the context is full
                try:
                    if next_logits is None and con is not None and self._on_device(m.device, greedy):
                        self._set_mask(m.device, len(out_ids), pending=1)   # before the step: a fused one picks inside
                    if next_logits is not None:
                        logits_t = next_logits
                    elif self._tok_t is not None:   # the picked token feeds the step where it is, on the GPU
                        logits_t = m.step(self._tok_t)
                        m.confirm(tok)
                    else:
                        logits_t = m.step(tok)
                except DeviceError as e:
                    logits_t = self._fall_back(e, history)
                steps += 1
                await asyncio.sleep(0)   # let the page / notebook breathe between tokens
            if reason != "stop":   # nothing more is coming: release what was held back
                tail = matcher.push(decoder.flush())[0] + matcher.flush()
                if tail:
                    text.append(tail)
                    yield tail
        except GeneratorExit:   # the consumer stopped iterating: that is a cancel
            reason = "cancelled"
            raise
        finally:
            if self._masked_at >= 0 and m.device.caps.masks:
                m.device.token_mask(None)        # the device's next generation picks among every token
            now = time.perf_counter()
            self.result = Completion(
                text="".join(text), token_ids=out_ids, finish_reason=reason,
                prompt_tokens=len(self.prompt_ids), completion_tokens=len(out_ids), cached_tokens=cached,
                prefill_s=t_prefill if t_prefill is not None else now - t0,
                decode_s=(now - t_first) if t_first is not None else 0.0,
                decode_steps=steps, device=m.device.description, stop=stop_hit, fallback=self._fallback)

    def _fall_back(self, err: DeviceError, history: list[int]):
        """Rebuild the model on NumPy and prefill every token so far (prompt + generated); returns the
        logits of the last one. Raises if this is already the NumPy device or the rebuild fails."""
        m = self.model
        if self._fallback is not None or m.device.caps.reference:
            raise err
        self._fallback = f"{m.device.description.split(':')[0]} failed mid-generation ({err})"
        m._fall_back_to_numpy(self._fallback)
        return m.prefill(list(history))[0]

    def _on_device(self, dev, greedy) -> bool:
        """Whether the token is picked on `dev` (argmax / sample, 4 bytes back), not on the host."""
        return (greedy or (self._rng is not None and dev.caps.samples)) and (
            self.constraint is None or dev.caps.masks)

    def _remaining(self, pending: int = 0) -> int:
        """Tokens that may still come, the next one included: max_tokens, or a full context (pending:
        tokens taken whose step has not run yet)."""
        m = self.model
        generated = len(self._history) - len(self.prompt_ids)
        return min(self.max_tokens - generated, m.n_ctx - (m.cache_len + pending) + 1)

    def _set_mask(self, dev, generated: int, pending: int = 0) -> None:
        """The constraint's allowed tokens for the next pick, as a bit mask on the device."""
        dev.token_mask(self.constraint.mask_words(self._remaining(pending), self.model.config.n_vocab))
        self._masked_at = generated

    async def _choose(self, dev, logits_t, sampler, history, greedy, ahead=False):
        """The next token id, and the logits of the following step when `ahead` queued it already:
        on a device with caps.decode_ahead read() submits at once, so the next step (fed the token that is
        still on the GPU) runs while this token travels back -- the readback leaves the critical path."""
        p = self.params
        self._tok_t = None   # the picked token on a device whose step reads it there (caps.decode_ahead)
        if self._on_device(dev, greedy):
            if self.constraint is not None and self._masked_at != len(history) - len(self.prompt_ids):
                self._set_mask(dev, len(history) - len(self.prompt_ids))   # the first token (after a prefill)
            tok_t = dev.argmax(logits_t) if greedy else dev.sample(
                logits_t, p.temperature, min(p.top_k, self.model.config.n_vocab), p.top_p, p.min_p, self._rng.random())
            pending = dev.read(tok_t)
            try:
                next_logits = self.model.step(tok_t) if ahead else None
            except DeviceError:
                getattr(pending, "close", lambda: None)()   # the read will never be awaited now
                raise
            tok = int(np.asarray(await pending).reshape(-1)[0])
            if ahead:
                self.model.confirm(tok)             # step could not know the id yet
            elif dev.caps.decode_ahead:
                self._tok_t = tok_t
            return tok, next_logits
        logits = np.asarray(await dev.read(logits_t), dtype=np.float32).reshape(-1)
        if self.constraint is not None:
            logits = self.constraint.mask(logits, self._remaining())
        if self._rng is not None and self._fallback is not None:
            # finished on NumPy after the GPU sampled: the twin keeps drawing from the same u stream
            return int(sample_reference(logits, p.temperature, p.top_k, p.top_p, p.min_p, self._rng.random())[0]), None
        return sampler.sample(logits, history), None
