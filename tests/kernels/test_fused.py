"""The fused decode step (decode_fused.wgsl, device/webgpu/fused.py) against the plain replay and NumPy.

On llvmpipe the fused program runs with ONE persistent workgroup: its grid barrier then never
waits, so the test is deterministic (with 2 and 4 workgroups the barrier's arrival count came
out wrong in 34 and 100 of 100 llvmpipe steps, while an H100 ran 66-264 correctly); the workgroup walks every virtual workgroup of every
command, through each matvec layout (rows per block 4 .. 32, forced here), the split attention
with its merge (contexts over 128 positions), the one-split attention (short contexts), biases
and NeoX rotary pairs (a qwen2-style model). Several workgroups meeting at the barrier are
measured on a real GPU (bench/fused_check.py: tokens and logits equal to the replay on an H100
at G = 132 and 264, and a refused program at G = 528 where not every workgroup was resident).
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from gpu_available import open_webgpu
from synthetic_model import build_synthetic_model

import webinfer
from webinfer.device.webgpu import fused
from webinfer.device.webgpu.gpu import GTensor

SHAPES = {"n_layers": 2, "d_model": 64, "n_heads": 4, "n_kv_heads": 2, "d_ff": 96, "n_vocab": 300, "n_ctx": 512}
PROMPT = [1, 5, 9, 33, 7, 120, 250, 3]


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    return build_synthetic_model(tmp_path_factory.mktemp("fused") / "tiny.gguf", seed=3, shapes=SHAPES)


def _steps(path, mode, n_ctx, n=6, device="numpy", prompt=PROMPT):
    """Logits of the prompt's last token and of n greedy decode steps after it."""
    if device == "numpy":
        dev = "numpy"
    else:
        dev = open_webgpu()
        dev.fused, dev.fused_workgroups = mode, 1
    m = webinfer.load(path, device=dev, n_ctx=n_ctx)
    # device.read, as generation reads: it also settles the fused program's first-step check
    read = (lambda t: np.asarray(t)) if device == "numpy" else (lambda t: asyncio.run(m.device.read(t)))
    logits, _ = m.prefill(prompt)
    out = []
    for _ in range(n):
        lg = read(logits).reshape(-1).astype(np.float64)
        out.append(lg)
        logits = m.step(int(np.argmax(lg)))
    return out, m.device


@pytest.mark.parametrize("n_ctx", [64, 512])      # one-split attention / split attention + merge
def test_fused_step_matches_numpy_and_replay(model_path, n_ctx):
    ref, _ = _steps(model_path, None, n_ctx)
    plain, _ = _steps(model_path, "off", n_ctx, device="webgpu")
    got, dev = _steps(model_path, "on", n_ctx, device="webgpu")
    assert dev.decode_path().startswith("fused"), dev.notes
    for i, (r, p, g) in enumerate(zip(ref, plain, got)):
        tol = 2e-3 * (1 + np.abs(r))
        assert np.all(np.abs(g - r) <= tol), f"step {i}: fused vs numpy {np.max(np.abs(g - r)):.3g}"
        assert np.max(np.abs(g - p)) <= 1e-4 * (1 + np.max(np.abs(p))), f"step {i}: fused vs replay"
    assert int(np.argmax(got[-1])) == int(np.argmax(ref[-1]))
    # split attention reads the current key and value from the activations the rotary matvec wrote
    # (its C_CUR), so that matvec arrives at the barrier unfenced; a one-split attention reads them
    # from the KV cache, and its rotary matvec is fenced (F_FENCE)
    t = next(p.fused for p in dev._programs.values() if p.fused is not None).table[1:]
    C = fused.C
    rope = t[(t[:, C["op"]] == fused.OP_MATVEC) & ((t[:, C["flags"]] & fused.FLAGS["ROPE"]) != 0)]
    attn = t[t[:, C["op"]] == fused.OP_ATTN]
    fenced = (rope[:, C["flags"]] & fused.F_FENCE) != 0
    if n_ctx == 64:
        assert fenced.all() and ((attn[:, C["flags"]] & fused.F_NORMALIZED) != 0).all()
    else:
        assert not fenced.any() and attn[:, C["cur"]].tolist() == rope[:, C["cur"]].tolist()


# Rows of 256 weights (a K-quant super-block) at the smallest: each type of layout.GPU_QUANTS the
# mix gives is in the fused step (tests/model/test_webgpu_new_types.py has the rest of them)
K_SHAPES = dict(SHAPES, d_model=256, d_ff=512)
MIX_TYPES = {"Q4_K_M": {"Q4_K", "Q6_K"},   # Q6_K: the tied embedding (EMBED and the lm head), attn_v, ffn_down
             "Q5_1": {"Q5_1", "Q6_K"}, "IQ4_NL": {"IQ4_NL", "Q6_K"}}


@pytest.mark.parametrize("mix", list(MIX_TYPES))
def test_a_model_of_other_types_runs_the_fused_step(tmp_path, mix):
    """Q4_K_M (256-weight blocks, a group at a time), Q5_1 and IQ4_NL (the batched path): the
    fused step is not refused and gives NumPy's and the plain replay's logits and greedy tokens."""
    path = build_synthetic_model(tmp_path / "k.gguf", seed=4, shapes=K_SHAPES, mix=mix, random_blocks=True)
    from webinfer.formats.gguf import read_gguf
    from webinfer.device.webgpu.layout import GPU_TYPES
    gf = read_gguf(path)
    assert {GPU_TYPES[t.ggml_type] for t in gf.tensors.values() if len(t.shape) == 2} == MIX_TYPES[mix]
    gf.close()
    ref, _ = _steps(path, None, 512, n=4)
    plain, _ = _steps(path, "off", 512, n=4, device="webgpu")
    got, dev = _steps(path, "on", 512, n=4, device="webgpu")
    assert dev.decode_path().startswith("fused"), dev.notes
    for i, (r, p, g) in enumerate(zip(ref, plain, got)):
        assert np.all(np.abs(g - r) <= 2e-3 * (1 + np.abs(r))), f"step {i}: fused vs numpy {np.max(np.abs(g - r)):.3g}"
        assert np.max(np.abs(g - p)) <= 1e-4 * (1 + np.max(np.abs(p))), f"step {i}: fused vs replay"
        assert int(np.argmax(g)) == int(np.argmax(r)) == int(np.argmax(p))
    prog = next(p.fused for p in dev._programs.values() if p.fused is not None)
    assert prog.table[1, fused.C["op"]] == fused.OP_EMBED and prog.table[1, fused.C["qt"]] == fused.QTYPES["Q6_K"]


def test_attention_merged_over_many_splits(model_path, monkeypatch):
    """Splits of 32 keys and a 100-token prompt: 4 splits saw keys, and the next matvec's
    workgroups merge their partials (COMBINE) when they stage its input row."""
    from webinfer.device.webgpu import device as wdev
    monkeypatch.setattr(wdev, "ATTN_SPLIT_LEN", 32)
    prompt = [int(t) for t in np.random.default_rng(5).integers(1, 300, 100)]
    ref, _ = _steps(model_path, None, 512, n=4, prompt=prompt)
    plain, _ = _steps(model_path, "off", 512, n=4, device="webgpu", prompt=prompt)
    got, dev = _steps(model_path, "on", 512, n=4, device="webgpu", prompt=prompt)
    assert dev.decode_path().startswith("fused"), dev.notes
    prog = next(p.fused for p in dev._programs.values() if p.fused is not None)
    attn = prog.table[prog.table[:, fused.C["op"]] == fused.OP_ATTN]
    assert len(attn) == 2 and np.all(attn[:, fused.C["n_splits"]] == 16)
    for r, p, g in zip(ref, plain, got):
        assert np.all(np.abs(g - r) <= 2e-3 * (1 + np.abs(r)))
        assert np.max(np.abs(g - p)) <= 1e-4 * (1 + np.max(np.abs(p)))


@pytest.mark.parametrize("pre", [True, False])      # each workgroup's first batch loaded before the barrier, or not
@pytest.mark.parametrize("rpv", [4, 8, 16, 32])
def test_every_matvec_layout(model_path, monkeypatch, rpv, pre):
    monkeypatch.setattr(fused, "rows_per_block", lambda rows, n_wg, groups: rpv)
    monkeypatch.setattr(fused, "PRELOAD", pre)
    ref, _ = _steps(model_path, None, 512, n=3)
    got, dev = _steps(model_path, "on", 512, n=3, device="webgpu")
    assert dev.decode_path().startswith("fused"), dev.notes
    t = next(p.fused for p in dev._programs.values() if p.fused is not None).table[1:]
    mv = t[t[:, fused.C["op"]] == fused.OP_MATVEC]
    assert np.all((mv[:, fused.C["flags"]] & fused.F_PRE != 0) == pre)     # (a tiny row is one batch a lane)
    for r, g in zip(ref, got):
        assert np.all(np.abs(g - r) <= 2e-3 * (1 + np.abs(r)))


def test_matvec_kinds_past_the_limit_read_the_table(model_path, monkeypatch):
    """Each kind of matvec runs an instance with its shape compiled in (mv_kinds); past MAX_KINDS
    the rest read theirs from the table (kind 0): both give the replay's logits."""
    got = {}
    for limit in (8, 1):
        monkeypatch.setattr(fused, "MAX_KINDS", limit)
        out, dev = _steps(model_path, "on", 512, n=3, device="webgpu")
        assert dev.decode_path().startswith("fused"), dev.notes
        t = next(p.fused for p in dev._programs.values() if p.fused is not None).table[1:]
        mv = t[t[:, fused.C["op"]] == fused.OP_MATVEC]
        kinds = {tuple(int(r[fused.C[f]]) for f in fused.MV_KIND_FIELDS): int(r[fused.C["kind"]]) for r in mv}
        got[limit] = out
        if limit == 8:        # qkv, output projection, gate/up, down, lm head: one kind each
            assert sorted(kinds.values()) == [1, 2, 3, 4, 5]
        else:
            assert sorted(set(kinds.values())) == [0, 1]
    plain, _ = _steps(model_path, "off", 512, n=3, device="webgpu")
    for a, b, p in zip(got[8], got[1], plain):
        for g in (a, b):
            assert np.max(np.abs(g - p)) <= 1e-4 * (1 + np.max(np.abs(p)))


def test_layers_with_different_attention_shapes_are_refused():
    def attn(hd):
        c = np.zeros(fused.CMD_WORDS, np.uint32)
        c[[fused.C["op"], fused.C["head_dim"], fused.C["n_heads"], fused.C["n_kv"], fused.C["split_len"],
           fused.C["n_splits"]]] = (fused.OP_ATTN, hd, 4, 2, 128, 4)
        return c
    # split attention: the current key's split, then the 4 over the cache
    assert fused._attention_shape([attn(64), attn(64)]) == {"A_HD": 64, "A_NH": 4, "A_NKV": 2, "A_SL": 128, "A_NS": 5}
    one = [attn(64), attn(64)]
    for c in one:
        c[fused.C["flags"]], c[fused.C["n_splits"]] = fused.F_NORMALIZED, 1
    assert fused._attention_shape(one)["A_NS"] == 1
    with pytest.raises(fused.Refused, match="differ in shape"):
        fused._attention_shape([attn(64), attn(128)])


@pytest.mark.parametrize("wtype", ["Q4_0", "Q8_0", "F16", "F32"])   # each type's code in row_dot
def test_qwen2_biases_and_neox_pairs(tmp_path, wtype):
    import importlib.util
    from pathlib import Path

    from webinfer.config import ModelConfig
    from webinfer.device.numpy_device import NumpyDevice
    from webinfer.formats.gguf import read_gguf
    from webinfer.models.llama import Llama
    spec = importlib.util.spec_from_file_location(      # the tiny-model writer of tests/model
        "tiny_models", Path(__file__).parents[1] / "model" / "test_tiny_models.py")
    tiny = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tiny)
    gf = read_gguf(str(tiny.make_model(tmp_path / "q.gguf", arch="qwen2", heads=4, kv=1, wtype=wtype,
                                       tied=False, bias=True)))
    cfg = ModelConfig.from_gguf(gf.metadata, gf.tensors.keys())
    assert cfg.qkv_bias and cfg.rope_neox

    def run(dev, read):
        llama = Llama.load(gf, cfg, dev)
        cache = dev.kv_cache(cfg.n_layers, cfg.n_kv_heads, cfg.head_dim, 48)
        prompt = [1, 5, 9, 33, 7]
        logits, pos, out = llama.forward(prompt, 0, cache), len(prompt), []
        for _ in range(4):
            lg = read(logits).reshape(-1).astype(np.float64)
            out.append(lg)
            logits = dev.replay("step", lambda toks, p: llama.forward(toks, p, cache), [int(np.argmax(lg))], pos)
            pos += 1
        return out

    ref = run(NumpyDevice(), np.asarray)
    dev = open_webgpu()
    dev.fused, dev.fused_workgroups = "on", 1
    got = run(dev, lambda t: asyncio.run(dev.read(t)))
    assert dev.decode_path().startswith("fused"), dev.notes
    for r, g in zip(ref, got):
        assert np.all(np.abs(g - r) <= 2e-3 * (1 + np.abs(r)))


def test_greedy_generation_uses_the_fused_step(model_path):
    want = webinfer.load(model_path, device="numpy", n_ctx=256).complete(PROMPT, max_tokens=10, temperature=0)
    dev = open_webgpu()
    dev.fused, dev.fused_workgroups = "on", 1
    m = webinfer.load(model_path, device=dev, n_ctx=256)
    d0 = dev.dispatch_count()
    got = m.complete(PROMPT, max_tokens=10, temperature=0)
    assert got.token_ids == want.token_ids
    assert dev.decode_path().startswith("fused"), dev.notes
    assert dev.dispatch_count() - d0 < 100    # the replay alone would be 12 a step + the prompt's
    # once checked, a greedy token is ONE dispatch: the step picks its token (ARGMAX), and the
    # next step reads it where it is (no argmax dispatch, no copy); the step also leaves the
    # next one's position and parity too: the host writes them (and nothing else) at the first
    # decoded step only
    f = next(p.fused for p in dev._programs.values() if p.fused is not None)
    counts, writes, real = [], [], dev.adapter.write_buffer

    def write_buffer(buf, offset, data):
        if buf is f.sync:
            writes.append(offset)
        return real(buf, offset, data)
    dev.adapter.write_buffer = write_buffer
    for n in (10, 20):
        m.reset()
        d0 = dev.dispatch_count()
        assert m.complete(PROMPT, max_tokens=n, temperature=0).token_ids[:10] == want.token_ids
        counts.append(dev.dispatch_count() - d0)
    assert counts[1] - counts[0] == 10, counts
    assert f.chained and writes == [4 * fused.S_POS] * 2, writes


def test_sampled_generation_feeds_the_fused_step(model_path):
    """Sampling draws from the fused step's logits (in the arena of that step's parity) and the
    drawn token is copied into the next step's token word: seeded draws equal the NumPy device's,
    on the GPU (sample.wgsl) and on the CPU (a repetition penalty reads the whole row), and greedy
    decoding after them too."""
    ref = webinfer.load(model_path, device="numpy", n_ctx=256)
    dev = open_webgpu()
    dev.fused, dev.fused_workgroups = "on", 1
    m = webinfer.load(model_path, device=dev, n_ctx=256)
    for kw in (dict(temperature=0.8, top_k=30, top_p=0.9, seed=4), dict(temperature=0.9, seed=1, repetition_penalty=1.3),
               dict(temperature=0)):
        assert m.complete(PROMPT, max_tokens=12, **kw).token_ids == ref.complete(PROMPT, max_tokens=12, **kw).token_ids
    assert dev.decode_path().startswith("fused"), dev.notes


def test_idle_workgroups_read_the_next_weights_ahead(model_path, monkeypatch):
    """Each matvec's weights but the first one's are read into L2 by the idle workgroups of one
    of the three commands before it, two before where that one is free; over PF_MAX_WORDS (the
    real lm head's 30 MB) by none (the prefetch changes no result: the tests above hold the step
    to NumPy and the replay)."""
    monkeypatch.setattr(fused, "PF_MAX_WORDS", 2000)        # the tiny model's lm head: 5400 words
    _, dev = _steps(model_path, "on", 512, n=1, device="webgpu")
    t = next(p.fused for p in dev._programs.values() if p.fused is not None).table[1:]
    C = fused.C
    mv = [i for i in range(len(t)) if t[i, C["op"]] == fused.OP_MATVEC]
    for i in mv[1:]:
        w, n = int(t[i, C["w"]]), int(t[i, C["rows"]] * t[i, C["row_words"]])
        by = [j for j in range(len(t)) if t[j, C["pfn"]] and (t[j, C["pf"]], t[j, C["pfn"]]) == (w, n)]
        assert by == ([] if n > 2000 else [i - 2]), (i, by)


def test_check_and_block_sizes():
    a = np.zeros(10)
    assert fused.check(a, a, 0) is None
    assert "timed out" in fused.check(a, a, 1)
    assert "differ" in fused.check(a + 1, a, 0)
    assert "differ" in fused.check(a * np.nan, a, 0)
    # SmolLM2's shapes: 576 columns = 72 groups (one batch of 6 a lane up to 16 rows a block),
    # 1536 (ffn_down) = 192 (up to 8 rows); rows 960 (qkv), 3072 (gate/up), 49152 (lm head)
    assert [fused.rows_per_block(r, 264, 72) for r in (960, 576, 3072)] == [16, 16, 16]
    assert [fused.rows_per_block(r, 132, 72) for r in (960, 576, 3072)] == [16, 16, 32]
    assert fused.rows_per_block(576, 132, 192) == 8 and fused.rows_per_block(576, 264, 192) == 8
    assert fused.rows_per_block(49152, 264, 72) == 32 and fused.rows_per_block(10, 1, 256) == 16


def test_a_step_that_cannot_be_fused_is_refused_with_its_reason(model_path):
    """A small binding limit splits the embedding table and the KV cache into per-layer buffers:
    no fused program, the reason in the notes, the replay's tokens (= NumPy's)."""
    prompt = PROMPT[:5]        # (5, 192) activations fit the 4096-byte limit (test_webgpu_split.py)
    want = webinfer.load(model_path, device="numpy", n_ctx=32).complete(prompt, max_tokens=4, temperature=0)
    dev = open_webgpu(limits={"max_storage_buffer_binding_size": 4096})
    dev.fused, dev.fused_workgroups = "on", 1
    m = webinfer.load(model_path, device=dev, n_ctx=32)
    got = m.complete(prompt, max_tokens=4, temperature=0)
    assert m.device is dev, "fell back to NumPy"
    assert got.token_ids == want.token_ids
    path = dev.decode_path()
    assert path.startswith("replayed (decode step not fused: "), path
    assert all(p.fused is None for p in dev._programs.values())


def test_a_workgroup_that_starts_after_the_window_closed_leaves(model_path):
    """A workgroup that takes its ticket after ticket 0 closed the window (here: every one, the
    ticket word written closed before the step) leaves at once: it arrives nowhere and writes no
    logits, no token and no abort bit."""
    _, dev = _steps(model_path, "on", 512, n=2, device="webgpu")
    fp = next(p.fused for p in dev._programs.values() if p.fused is not None)
    p = fp.parity
    logits = fp.outs[p]                           # what this step would write
    dev.adapter.write_buffer(logits.buf, logits.offset, np.zeros(logits.width, np.float32))
    token = int(dev.read_sync(fp.status).reshape(-1)[fused.S_TOKEN])
    counter = fused.S_CNT1 if p else 0
    dev.adapter.write_buffer(fp.sync, 4 * counter, np.zeros(1, np.uint32))
    dev.adapter.write_buffer(fp.sync, 4 * (fused.S_TICKET + p), np.array([0x80000000], np.uint32))
    fp.queue(dev.gpu, 10)
    dev.gpu.flush()
    s = dev.read_sync(fp.status).reshape(-1)
    assert (int(s[counter]), int(s[fused.S_ABORT]), int(s[fused.S_TOKEN])) == (0, 0, token), s
    assert not dev.read_sync(logits).any()


def _status(f, took):
    """Status words as a step of f read them back: `took` workgroups in its counter's bits 20-29."""
    s = np.zeros((1, fused.STATUS_WORDS), np.int64)
    s[0, fused.S_CNT1 if f.parity ^ 1 else 0] = (took << fused.N_SHIFT) | 40
    return s


def test_fewer_workgroups_than_launched_rebuild_the_step_for_those(model_path, monkeypatch):
    """Where fewer workgroups took part in the first-step check than were launched (the counter's
    bits 20-29), the device rebuilds the step for that many, to be checked at its first step;
    where as many took part, the program is used."""
    from webinfer.device.webgpu import device as webgpu_device
    monkeypatch.setattr(webgpu_device, "FUSED_MIN_WORKGROUPS", 1)
    dev = open_webgpu()
    dev.fused, dev.fused_workgroups = "on", 8
    m = webinfer.load(model_path, device=dev, n_ctx=64)
    m.prefill(PROMPT)
    m.step(3)                                     # records the step and builds its program (8 workgroups)
    prog = next(p for p in dev._programs.values() if p.fused is not None)
    f, lg = prog.fused, np.zeros((1, 300), np.float32)
    dev._judge(prog, f, _status(f, 3), lg, lg)
    assert dev.notes[-1] == "decode step fused with 3 of 8 workgroups taking part: rebuilt for 3"
    g = prog.fused
    assert g is not f and g.n_wg == 3 and not prog.fused_ok
    dev._judge(prog, g, _status(g, 3), lg, lg)
    assert prog.fused is g and prog.fused_ok


def test_an_abort_rebuilds_with_half_the_workgroups_down_to_its_floor(model_path, monkeypatch):
    """A first step that read a value too early (LATE) is rebuilt with half the workgroups while
    that stays at or above FUSED_MIN_AFTER_LATE, then the replay stays; one whose barrier timed out
    keeps halving down to FUSED_MIN_WORKGROUPS (fewer workgroups may all be resident)."""
    from webinfer.device.webgpu import device as webgpu_device
    monkeypatch.setattr(webgpu_device, "FUSED_MIN_WORKGROUPS", 1)
    monkeypatch.setattr(webgpu_device, "FUSED_MIN_AFTER_LATE", 4)
    dev = open_webgpu()
    dev.fused, dev.fused_workgroups = "on", 8
    m = webinfer.load(model_path, device=dev, n_ctx=64)
    m.prefill(PROMPT)
    m.step(3)
    prog = next(p for p in dev._programs.values() if p.fused is not None)
    lg = np.zeros((1, 300), np.float32)

    def judge(bits):
        f = prog.fused
        st = _status(f, f.n_wg)
        st[0, fused.S_ABORT] = bits
        dev._judge(prog, f, st, lg, lg)
        return prog.fused

    assert judge(fused.LATE).n_wg == 4                 # 8 -> 4
    assert judge(fused.LATE) is None                   # 4 -> 2 is below the floor: the replay stays
    assert dev.notes[-1].startswith("decode step not fused with 4 workgroups")
    prog.fused = dev._fuse(prog, 4)
    assert judge(fused.TIMED_OUT).n_wg == 2            # a time-out halves on, to FUSED_MIN_WORKGROUPS
    assert judge(fused.TIMED_OUT | fused.LATE).n_wg == 1


def test_a_workgroup_that_never_arrives_times_the_step_out(model_path, monkeypatch):
    """A ticket taken by a workgroup that then never runs (written here into the ticket word before
    the step: the one real workgroup gets ticket 1, and ticket 0 never closes the window): the
    real one waits at the first barrier for at most spin_limit polls, gives up, and the step says
    so in its abort word (TIMED_OUT) and the counter (ABORTED); the next step, with its words
    reset, runs clean."""
    monkeypatch.setattr(fused, "SPIN_LIMIT", 1 << 12)
    _, dev = _steps(model_path, "on", 512, n=2, device="webgpu")
    fp = next(p.fused for p in dev._programs.values() if p.fused is not None)

    def run(phantom):
        dev.adapter.write_buffer(fp.sync, 4 * fused.S_ABORT, np.zeros(1, np.uint32))
        if phantom:
            dev.adapter.write_buffer(fp.sync, 4 * (fused.S_TICKET + fp.parity), np.ones(1, np.uint32))
        fp.queue(dev.gpu, 10, 7)
        dev.gpu.flush()
        return dev.read_sync(fp.status).reshape(-1)
    s = run(True)
    assert int(s[fused.S_ABORT]) == fused.TIMED_OUT
    counter = int(s[fused.S_CNT1 if fp.parity ^ 1 else 0])
    assert counter & 0x80000000, hex(counter)
    s = run(False)
    assert int(s[fused.S_ABORT]) == 0 and fp.took_part(s) == 1
    assert "timed out" in str(fused.abort_error(fused.TIMED_OUT))


def test_a_value_read_before_it_is_written_is_reported(model_path):
    """Every value is stored with its bits complemented into the arena of the step's parity, and
    the same word of the other arena is zeroed for the next step (decode_fused.wgsl, act_st), so a
    command that reads a value whose store has not arrived sees 0 and the step says so in its
    abort word (LATE) instead of passing it on. Here layer 0's gate/up matvec is blanked (op 0), as
    if its stores had not arrived: the down projection after it reads its region, which the step
    before zeroed. The whole table again reports nothing."""
    _, dev = _steps(model_path, "on", 512, n=2, device="webgpu")
    fp = next(p.fused for p in dev._programs.values() if p.fused is not None)
    C = fused.C
    t = fp.table.copy()
    gate = 1 + next(i for i, r in enumerate(t[1:]) if r[C["op"]] == fused.OP_MATVEC and r[C["flags"]] & fused.FLAGS["SWIGLU"])
    t[gate, C["op"]] = 0

    def run(table):
        dev.adapter.write_buffer(fp.cmds, 0, fused.both_tables(table, fp.stride))
        dev.adapter.write_buffer(fp.sync, 4 * fused.S_ABORT, np.zeros(1, np.uint32))
        fp.queue(dev.gpu, 10, 7)
        dev.gpu.flush()
        return int(dev.read_sync(fp.status).reshape(-1)[fused.S_ABORT])
    late = run(t)
    assert late == fused.LATE
    assert "read an activation before it was written" in fused.check(np.zeros(3), np.zeros(3), late)
    assert "before it was written" in str(fused.abort_error(late))
    assert run(fp.table) == 0 and run(fp.table) == 0


def test_the_step_picks_its_greedy_token_first_of_equals(model_path):
    """The logits' command also picks the greedy token (decode_fused.wgsl, ARGMAX: each workgroup's
    best, then the best of those) into the sync words, where the next step's embed and the host
    read it: argmax.wgsl's rule, the largest logit and the lowest row on a tie. The same step is run
    again (same position and token, so the same logits) with the lm head's rows a and b made
    copies of the winning row r: a three-way tie for the largest, which the lowest row wins, in
    both arenas."""
    _, dev = _steps(model_path, "on", 512, n=2, device="webgpu")
    fp = next(p.fused for p in dev._programs.values() if p.fused is not None)
    C = fused.C
    head = fp.table[-1]
    assert head[C["flags"]] & fused.F_RAW and head[C["flags"]] & fused.F_ARGMAX and fp.argmax

    def run():
        out = fp.queue(dev.gpu, 10, 7)
        dev.gpu.flush()
        st = dev.read_sync(fp.status).reshape(-1)
        assert st[fused.S_ABORT] == 0
        return dev.read_sync(out).reshape(-1), int(st[fused.S_TOKEN])
    logits, token = run()
    r = int(np.argmax(logits))
    assert token == r and r >= 2, r
    w, rw = int(head[C["w"]]), int(head[C["row_words"]])
    row = dev.read_sync(GTensor(dev.gpu, fp.weights, 1, rw, "u32", offset=4 * (w + r * rw), pooled=False))
    a, b = r // 2, len(logits) - 1 if r != len(logits) - 1 else r - 1
    for dst in (a, b):
        dev.adapter.write_buffer(fp.weights, 4 * (w + dst * rw), row.astype(np.uint32).reshape(-1))
    for _ in range(2):
        tied, token = run()
        assert tied[a] == tied[b] == tied[r] == np.max(tied)
        assert np.array_equal(np.delete(tied, [a, b]), np.delete(logits, [a, b]))
        assert token == min(a, b, r) == a


def test_off_and_cpu_auto_keep_the_replay(model_path):
    for mode in ("off", "auto"):             # auto: llvmpipe is a CPU adapter
        dev = open_webgpu()
        dev.fused = mode
        m = webinfer.load(model_path, device=dev, n_ctx=64)
        m.complete(PROMPT, max_tokens=3, temperature=0)
        assert dev.decode_path().startswith("replayed")
        assert all(p.fused is None for p in dev._programs.values())


@pytest.mark.parametrize("n_ctx", [64, 512])
def test_the_gpu_variant_without_tickets(model_path, n_ctx):
    """On a GPU the step is built without TICKETS (every workgroup takes part, numbered by its
    builtin id): that variant, on one workgroup here, against NumPy."""
    ref, _ = _steps(model_path, None, n_ctx)
    dev = open_webgpu()
    was, dev.adapter.is_cpu_emulation = dev.adapter.is_cpu_emulation, False     # as on a GPU
    try:
        dev.fused, dev.fused_workgroups = "on", 1
        m = webinfer.load(model_path, device=dev, n_ctx=n_ctx)
        logits, _ = m.prefill(PROMPT)
        got = []
        for _ in range(len(ref)):
            lg = asyncio.run(dev.read(logits)).reshape(-1).astype(np.float64)
            got.append(lg)
            logits = m.step(int(np.argmax(lg)))
    finally:
        dev.adapter.is_cpu_emulation = was        # (the adapter may be shared with later tests)
    f = next(p.fused for p in dev._programs.values() if p.fused is not None)
    assert not f.tickets and dev.decode_path().startswith("fused"), dev.notes
    for r, g in zip(ref, got):
        assert np.all(np.abs(g - r) <= 2e-3 * (1 + np.abs(r)))
