"""`webinfer bench`: prefill and decode tokens/s of a model on a device, with an HF baseline.

    webinfer bench --device webgpu [--model PATH]     # the default model, or a GGUF
    python3 bench/gpu_bench.py                        # a synthetic model of SmolLM2-135M's shapes
                                                      # (tests/synthetic_model.py), for the GPU machine

Decode is timed through the token loop itself (generate.Generation, what Model.generate runs:
argmax on the device, the recorded decode step, the next step queued before the token is read
back, the text decoded as it streams), greedy on random prompt ids with no stop token, so the
run is exactly as long as asked. When torch and transformers import, the same
shapes run in HF transformers eager (LlamaForCausalLM, random weights, fp32, cuda if present)
in the same process, and the ratio is reported.

Not here: the CLI parsing (cli.py), the forward pass (models/llama.py).
"""

from __future__ import annotations

import asyncio
import time

import numpy as np

def run_bench(model=None, device="auto", prompt_len: int = 512, n_decode: int = 128,
              hf_baseline: bool = True, print_fn=print) -> dict:
    """Benchmark `model`: a GGUF path, URL, bytes, or None (the default model)."""
    import webinfer
    t0 = time.perf_counter()
    m = webinfer.load(model, device=device, n_ctx=prompt_len + n_decode + 64)
    res = {"model": m.config.name, "device": m.device.description, "load_s": round(time.perf_counter() - t0, 2),
           "prompt_len": prompt_len, "n_decode": n_decode}
    print_fn(f"{res['model']} on {res['device']} (loaded in {res['load_s']} s)")
    rng = np.random.default_rng(0)
    ids = [int(t) for t in rng.integers(0, m.config.n_vocab, prompt_len)]
    _prefill(m, ids[:64])                        # warm-up: compiles every pipeline
    _decode(m, ids[:64], 4)
    res["prefill_s"] = min(_prefill(m, ids) for _ in range(3))
    res["prefill_tok_s"] = round(prompt_len / res["prefill_s"], 1)
    d0 = m.device.dispatch_count()
    res["decode_s"] = _decode(m, ids, n_decode)
    res["decode_tok_s"] = round(n_decode / res["decode_s"], 1)
    res["ms_per_token"] = round(1000 * res["decode_s"] / n_decode, 3)
    if m.device.dispatch_count():
        res["dispatches_per_token"] = round((m.device.dispatch_count() - d0) / n_decode, 1)
    print_fn(f"prefill {prompt_len} tokens: {res['prefill_tok_s']} tok/s   decode: {res['decode_tok_s']} tok/s "
             f"({res['ms_per_token']} ms/token, {res.get('dispatches_per_token', '-')} dispatches/token)")
    res["decode_path"] = m.device.decode_path()
    res["device_notes"] = list(m.device.notes)
    print_fn(f"decode step: {res['decode_path']}")
    if hf_baseline:
        hf = hf_eager_bench(m.config, prompt_len, n_decode)
        res["hf"] = hf
        if "decode_tok_s" in hf:
            res["decode_vs_hf"] = round(res["decode_tok_s"] / hf["decode_tok_s"], 2)
            res["prefill_vs_hf"] = round(res["prefill_tok_s"] / hf["prefill_tok_s"], 2)
            print_fn(f"HF eager ({hf['device']}): prefill {hf['prefill_tok_s']} tok/s, decode {hf['decode_tok_s']} "
                     f"tok/s -> decode x{res['decode_vs_hf']}, prefill x{res['prefill_vs_hf']}")
        else:
            print_fn(f"HF baseline skipped: {hf.get('skipped')}")
    return res


def _prefill(m, ids) -> float:
    m.reset()
    t0 = time.perf_counter()
    logits, _ = m.prefill(ids)
    asyncio.run(m.device.read(m.device.argmax(logits)))
    return time.perf_counter() - t0


def _decode(m, ids, n) -> float:
    """Seconds for n greedy steps after the prompt `ids` (cached by the _prefill before it: only its
    last token runs again), through the one token loop, from the first token on."""
    from .generate import Generation
    from .sampling import SamplingParams

    async def run():
        gen = Generation(m, list(ids), n + 1, SamplingParams(temperature=0.0), [], set())
        async for _ in gen:
            pass
        return gen.result

    r = asyncio.run(run())
    if r.decode_steps != n:
        raise RuntimeError(f"bench: the decode ran {r.decode_steps} steps, not {n} ({r.finish_reason})")
    return r.decode_s


def hf_eager_bench(cfg, prompt_len: int, n_decode: int, model=None) -> dict:
    """HF transformers eager on the same shapes (random weights, fp32), decode with a KV cache:
    a LlamaForCausalLM of cfg's shapes, or `model` (an HF causal LM of any family, already built)."""
    try:
        import torch
        from transformers import LlamaConfig, LlamaForCausalLM
    except ImportError as e:
        return {"skipped": f"torch/transformers not importable ({e})"}
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    if model is not None:
        return _hf_timed(model.to(dev).eval(), torch, dev, cfg, prompt_len, n_decode)
    if cfg.arch == "gpt2":                      # its own block (LayerNorm, learned positions, GELU)
        from transformers import GPT2Config, GPT2LMHeadModel
        hcfg = GPT2Config(vocab_size=cfg.n_vocab, n_embd=cfg.d_model, n_inner=cfg.d_ff, n_layer=cfg.n_layers,
                          n_head=cfg.n_heads, n_positions=cfg.n_ctx_train, layer_norm_epsilon=cfg.rms_eps)
        hcfg._attn_implementation = "eager"
        return _hf_timed(GPT2LMHeadModel(hcfg).to(dev).eval(), torch, dev, cfg, prompt_len, n_decode)
    hcfg = LlamaConfig(vocab_size=cfg.n_vocab, hidden_size=cfg.d_model, intermediate_size=cfg.d_ff,
                       num_hidden_layers=cfg.n_layers, num_attention_heads=cfg.n_heads,
                       num_key_value_heads=cfg.n_kv_heads, rms_norm_eps=cfg.rms_eps, rope_theta=cfg.rope_theta,
                       max_position_embeddings=prompt_len + n_decode + 8, tie_word_embeddings=True)
    hcfg._attn_implementation = "eager"
    return _hf_timed(LlamaForCausalLM(hcfg).to(dev).eval(), torch, dev, cfg, prompt_len, n_decode)


def _hf_timed(model, torch, dev, cfg, prompt_len: int, n_decode: int) -> dict:
    sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
    ids = torch.randint(0, cfg.n_vocab, (1, prompt_len), device=dev)

    def run(n_dec):
        with torch.no_grad():
            sync()
            t0 = time.perf_counter()
            out = model(ids, use_cache=True)
            tok = out.logits[:, -1:].argmax(-1)
            int(tok)
            t1 = time.perf_counter()
            past = out.past_key_values
            for _ in range(n_dec):
                out = model(tok, past_key_values=past, use_cache=True)
                past, tok = out.past_key_values, out.logits[:, -1:].argmax(-1)
                int(tok)                        # the token goes back to the CPU, as in generation
            sync()
            return t1 - t0, time.perf_counter() - t1

    run(4)                                      # warm-up
    pre, dec = run(n_decode)
    return {"device": torch.cuda.get_device_name() if dev == "cuda" else "cpu", "prefill_tok_s": round(prompt_len / pre, 1),
            "decode_tok_s": round(n_decode / dec, 1)}
