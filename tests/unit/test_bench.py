"""webinfer.bench.run_bench on NumPy with a tiny random-weight model: the numbers it reports come
from the same token loop users run (generate.Generation), for exactly the steps asked."""

from __future__ import annotations

from synthetic_model import build_synthetic_model

from webinfer import bench, generate

TINY = {"n_layers": 2, "d_model": 64, "n_heads": 4, "n_kv_heads": 2, "d_ff": 96, "n_vocab": 300, "n_ctx": 256}


def test_run_bench_times_the_decode_through_generation(tmp_path, monkeypatch):
    path = build_synthetic_model(tmp_path / "tiny.gguf", seed=1, shapes=TINY)
    runs = []
    real = generate.Generation._run

    def counted(self):
        runs.append(self)
        return real(self)

    monkeypatch.setattr(generate.Generation, "_run", counted)
    res = bench.run_bench(path, "numpy", prompt_len=24, n_decode=5, hf_baseline=False, print_fn=lambda *a: None)
    # the warm-up (4 steps) and the timed run (5 steps), each one Generation with no stop token
    assert [len(r.result.token_ids) for r in runs] == [5, 6]
    assert [r.result.decode_steps for r in runs] == [4, 5]
    assert runs[-1].stop_token_ids == set() and runs[-1].result.finish_reason == "length"
    assert res["prompt_len"] == 24 and res["n_decode"] == 5
    assert res["decode_s"] == runs[-1].result.decode_s and res["decode_tok_s"] > 0 and res["prefill_tok_s"] > 0
    assert res["decode_path"] and "hf" not in res
