"""Decode speed of one model through the token loop users get (generate.Generation, as
`webinfer bench` times it) and through a bare loop of the public step API (argmax on the device,
the next step queued before the token is read, nothing else), in turn, in one process: the
difference is the host's per-token work in the token loop (detokenizing, stop checks, the
result's bookkeeping), separate from the device's step.

    python3 bench/decode_loop_ab.py [--model PATH] [--device webgpu] [--prompt 512] [--decode 128] [--rounds 3]

The model is --model, else the synthetic SmolLM2-135M-shaped one (tests/synthetic_model.py).
"""

import argparse
import asyncio
import os
import tempfile
import time

import numpy as np

import _common  # noqa: F401 - this checkout's webinfer first on sys.path

from synthetic_model import build_synthetic_model  # noqa: E402
import webinfer  # noqa: E402
from webinfer.bench import _decode, _prefill  # noqa: E402


def bare(m, ids, n) -> float:
    """n greedy steps after the prompt `ids` with the public step API only."""
    dev = m.device

    async def loop():
        m.reset()
        logits, _ = m.prefill(ids)
        t0 = time.perf_counter()
        for i in range(n):
            tok_t = dev.argmax(logits)
            pending = dev.read(tok_t)
            nxt = m.step(tok_t) if dev.caps.decode_ahead and i + 1 < n else None
            tok = int(np.asarray(await pending).reshape(-1)[0])
            if nxt is not None:
                m.confirm(tok)
            logits = nxt if nxt is not None else (m.step(tok) if i + 1 < n else None)
        return time.perf_counter() - t0

    return asyncio.run(loop())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model")
    ap.add_argument("--device", default="webgpu")
    ap.add_argument("--prompt", type=int, default=512)
    ap.add_argument("--decode", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = a.model or build_synthetic_model(os.path.join(tmp, "s.gguf"))
        m = webinfer.load(path, device=a.device, n_ctx=a.prompt + a.decode + 64)
        ids = [int(t) for t in np.random.default_rng(0).integers(0, m.config.n_vocab, a.prompt)]
        _prefill(m, ids[:64])
        bare(m, ids[:64], 4)
        print(m.device.description, "|", m.device.decode_path())
        for r in range(a.rounds):
            _prefill(m, ids)
            g = a.decode / _decode(m, ids, a.decode)
            b = a.decode / bare(m, ids, a.decode)
            print(f"round {r + 1}: token loop {g:.1f} tok/s, bare step loop {b:.1f} tok/s ({g / b - 1:+.1%})", flush=True)


if __name__ == "__main__":
    main()
