"""A model streamed to WebGPU as its bytes arrive (webinfer.stream) against the same file loaded whole.

Both load on the same wgpu-py device (llvmpipe on CI), so the GPU holds the same bytes and the
logits must be identical. The files stress the row writer: tiny chunks (333 bytes: every weight is
bigger than the window, and boundaries fall inside rows and blocks), a small binding limit (weights
split across buffers, a row range of one tensor then spans several), a stack of mixed types (Q4_K
q/k beside a Q6_K v: float32 on the GPU), a type with no WGSL decoder (BF16: float32), F16, q/k/v
biases (qwen2) and GPT-2's biases on split weights and its position table (read on the host).
A stream that ends early, or a damaged block in it, is a GGUFError, and every buffer made for it is
destroyed; a GPU that cannot hold a row means NumPy under "auto" (the rest of the stream read whole).
"""

from __future__ import annotations

import asyncio
import io

import numpy as np
import pytest
from gpt2_model import make_gpt2
from gpu_available import open_webgpu

import webinfer
from webinfer.formats.gguf import read_gguf
from webinfer.formats.gguf_write import write_gguf
from webinfer.stream import ByteStream, file_stream

LIMIT = 16384     # bytes a binding holds: the 256-wide weights split, 5-token activations still fit
IDS = [1, 96, 50, 7, 33]


def make_qwen2(path, seed=0):
    """2 layers, d 256 (K-quants need rows of 256): Q4_K q/k + Q6_K v, F16 out, Q4_K gate/up, BF16 down."""
    rng = np.random.default_rng(seed)
    d, ff, heads, kv, vocab = 256, 256, 4, 2, 97

    def r(*shape, s=0.3):
        return (rng.standard_normal(shape) * s).astype(np.float32)
    meta = {"general.architecture": "qwen2", "qwen2.block_count": 2, "qwen2.embedding_length": d,
            "qwen2.feed_forward_length": ff, "qwen2.attention.head_count": heads,
            "qwen2.attention.head_count_kv": kv, "qwen2.context_length": 64,
            "qwen2.attention.layer_norm_rms_epsilon": 1e-6, "qwen2.rope.freq_base": 10000.0,
            "tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": "qwen2",
            "tokenizer.ggml.tokens": [f"<t{i}>" for i in range(vocab)],
            "tokenizer.ggml.token_type": [1] * vocab, "tokenizer.ggml.merges": ["<t a"][:0]}
    t = {"token_embd.weight": (r(vocab, d), "Q8_0"), "output_norm.weight": 1 + r(d, s=0.1),
         "output.weight": (r(vocab, d), "Q6_K")}
    for i in range(2):
        p = f"blk.{i}."
        t.update({p + "attn_norm.weight": 1 + r(d, s=0.1), p + "ffn_norm.weight": 1 + r(d, s=0.1),
                  p + "attn_q.weight": (r(d, d), "Q4_K"), p + "attn_q.bias": r(d),
                  p + "attn_k.weight": (r(kv * 64, d), "Q4_K"), p + "attn_k.bias": r(kv * 64),
                  p + "attn_v.weight": (r(kv * 64, d), "Q6_K"), p + "attn_v.bias": r(kv * 64),
                  p + "attn_output.weight": (r(d, d), "F16"),
                  p + "ffn_gate.weight": (r(ff, d), "Q4_K"), p + "ffn_up.weight": (r(ff, d), "Q4_K"),
                  p + "ffn_down.weight": (r(d, ff, s=0.1), "BF16")})
    write_gguf(path, meta, t)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("stream")
    return {"qwen2": make_qwen2(tmp / "qwen2.gguf"), "gpt2": make_gpt2(tmp / "gpt2.gguf", wtype="Q8_0")}


@pytest.fixture(scope="module")
def dev():
    return open_webgpu(limits={"max_storage_buffer_binding_size": LIMIT})


def stream_load(path, dev, chunk, size=None, data=None):
    """load_async over `data` (default: the file's bytes) in `chunk`-byte pieces, announced as `size`."""
    data = open(path, "rb").read() if data is None else data

    async def chunks():
        for a in range(0, len(data), chunk):
            yield memoryview(data)[a:a + chunk]
    return asyncio.run(webinfer.load_async(ByteStream(chunks(), size or len(data)), device=dev, n_ctx=16))


def logits_and_tokens(model, dev):
    model.reset()
    logits = dev.read_sync(model.prefill(IDS)[0]).reshape(-1)
    model.reset()
    return logits, model.complete(IDS, max_tokens=6, temperature=0).token_ids


@pytest.mark.parametrize("name", ["qwen2", "gpt2"])
@pytest.mark.parametrize("chunk", [333, 1 << 16])
def test_streamed_model_equals_the_whole_file(files, dev, name, chunk):
    whole = webinfer.load(files[name], device=dev, n_ctx=16)
    streamed = stream_load(files[name], dev, chunk)
    assert streamed.gguf is None                  # nothing of the file kept
    want, got = logits_and_tokens(whole, dev), logits_and_tokens(streamed, dev)
    np.testing.assert_array_equal(got[0], want[0])
    assert got[1] == want[1]
    assert any("row chunks" in n for n in dev.notes)     # the small limit split weights as a whole load does


def test_file_object_streams_on_webgpu_and_reads_whole_on_numpy(files):
    gpu = open_webgpu()
    with open(files["gpt2"], "rb") as f:
        streamed = asyncio.run(webinfer.load_async(f, device=gpu, n_ctx=16))
    on_numpy = asyncio.run(webinfer.load_async(io.BytesIO(open(files["gpt2"], "rb").read()), device="numpy", n_ctx=16))
    ref = webinfer.load(files["gpt2"], device="numpy", n_ctx=16)
    assert on_numpy.gguf is not None              # NumPy computes from the bytes in memory
    want = ref.complete(IDS, max_tokens=6, temperature=0).token_ids
    assert on_numpy.complete(IDS, max_tokens=6, temperature=0).token_ids == want
    assert streamed.complete(IDS, max_tokens=6, temperature=0).token_ids == want


class Spy:
    """The buffers the device's adapter makes and destroys (the real calls, counted)."""

    def __init__(self, adapter):
        self.made, self.destroyed = [], []
        make, destroy = adapter.create_buffer, adapter.destroy_buffer

        def create_buffer(*a, **k):
            self.made.append(make(*a, **k))
            return self.made[-1]

        def destroy_buffer(buf):
            self.destroyed.append(buf)
            destroy(buf)
        adapter.create_buffer, adapter.destroy_buffer = create_buffer, destroy_buffer


@pytest.mark.parametrize("cut", ["header", "tensor"])
def test_a_truncated_stream_is_a_gguf_error_and_leaves_nothing(files, cut):
    gpu = open_webgpu()
    data = open(files["qwen2"], "rb").read()
    gf = read_gguf(data)
    end = 200 if cut == "header" else gf.tensors["blk.1.attn_q.weight"].offset + 1000
    spy = Spy(gpu.adapter)
    with pytest.raises(webinfer.GGUFError, match=f"ended after {end} of {len(data)} bytes") as err:
        stream_load(files["qwen2"], gpu, 4096, size=len(data), data=data[:end])
    assert gpu.streamed is None
    assert {id(b) for b in spy.made} == {id(b) for b in spy.destroyed}
    if cut == "tensor":                           # the weights' buffers had been made: all destroyed
        assert "'blk.1.attn_q.weight'" in str(err.value) and len(spy.made) > 10
    assert webinfer.load(files["qwen2"], device=gpu, n_ctx=16).complete(IDS, max_tokens=2, temperature=0).token_ids


def test_a_stream_longer_than_its_size_is_a_gguf_error(files, dev):
    data = open(files["gpt2"], "rb").read()
    with pytest.raises(webinfer.GGUFError, match="longer than the file's size"):
        stream_load(files["gpt2"], dev, 4096, size=len(data), data=data + bytes(64))


def test_a_damaged_block_in_a_streamed_weight_is_named(files, tmp_path):
    gpu = open_webgpu()
    data = bytearray(open(files["qwen2"], "rb").read())
    t = read_gguf(bytes(data)).tensors["blk.0.attn_q.weight"]        # Q4_K: 256 rows of one 144-byte block
    data[t.offset + 5 * 144:t.offset + 5 * 144 + 2] = (0x7C00).to_bytes(2, "little")   # block 5's d: Inf
    spy = Spy(gpu.adapter)
    with pytest.raises(webinfer.GGUFError, match="'blk.0.attn_q.weight' \\(Q4_K\\): block 5 of 256 has a scale that is Inf"):
        stream_load(files["qwen2"], gpu, 333, data=bytes(data))
    assert spy.made and {id(b) for b in spy.made} == {id(b) for b in spy.destroyed}


def test_auto_falls_back_to_numpy_when_the_gpu_cannot_hold_a_row(files):
    from webinfer.stream import load_stream
    tiny = open_webgpu(selftest=False, limits={"max_storage_buffer_binding_size": 64})   # a Q8_0 row of 64: 72 bytes
    with open(files["gpt2"], "rb") as f:
        with pytest.raises(webinfer.DeviceError, match="one row needs"):
            asyncio.run(load_stream(file_stream(f, chunk=1000), tiny, n_ctx=16))
    with open(files["gpt2"], "rb") as f:
        model = asyncio.run(load_stream(file_stream(f, chunk=1000), tiny, n_ctx=16, fall_back=True))
    assert model.device.name == "numpy" and "WebGPU cannot hold this model" in model.device.description
    ref = webinfer.load(files["gpt2"], device="numpy", n_ctx=16)
    assert model.complete(IDS, max_tokens=4, temperature=0).token_ids == ref.complete(IDS, max_tokens=4, temperature=0).token_ids
