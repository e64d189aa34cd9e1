"""Will a model fit in this tab? A verdict before its weights are read: "fits", "tight" (say so, let
the user go on) or "cannot" (refuse), with one line that names the numbers.

What it is: arithmetic over what is known before loading. The model: its file's size and, once the
GGUF header is read, its dimensions (the KV cache at the context the page allocates, whether NumPy
expands the weights to float32, the vocabulary). The runtime: the engine heap's ceiling (Pyodide's
wasm32 memory: 4 GiB) and what it holds already, navigator.deviceMemory where the browser gives it,
a WebGPU adapter's buffer limits. Every part of the need is an estimate, calibrated on the page's
measured heap (bench/site_memory.py, bench/RESULTS.md "Memory of the page on NumPy"); the message
says "about", and "from the file size" where the header is not known.
What it is not: a promise (the browser or the machine may refuse memory sooner: other tabs share
it), or a measurement.

It runs under MicroPython too: the chat page's main thread imports it as py/fit.py (copied by
tools/build_site.py) to judge a model by its size before downloading it. So: plain functions over
dicts and ints, no imports at module level, no dataclasses or typing.

    v = verdict(file_size, dims=None, runtime={"heap_limit": WASM32_HEAP, "heap_in_use": n}, name="x.gguf")
    v["verdict"], v["message"]      # "fits" | "tight" | "cannot", one line
"""

MiB = 1 << 20
GiB = 1 << 30

WASM32_HEAP = 4 * GiB        # Pyodide's memory maximum (pyodide.asm.js: 65536 pages of 64 KiB)
# What Pyodide, numpy and webinfer hold in the page's worker beside a model's own parts: chosen so
# that need() + this lands within 5% of the heap measured with three models (bench/RESULTS.md).
RUNTIME_BYTES = 64 * MiB
# numpy_device.F32_BUDGET inside Pyodide, generate.PREFILL_CHUNK, model.DEFAULT_N_CTX: copied, not
# imported, so that this module runs in MicroPython; tests/test_fit.py checks they agree.
F32_BUDGET = 640 * MiB
PREFILL_CHUNK = 512
DEFAULT_N_CTX = 4096
TIGHT = 0.85                 # a need past this share of the memory left is "tight": the estimate's margin
# Without the header: bits per weight of the densest and the sparsest types a file may use (Q8_0's
# 8.5, Q2_K's 2.6), the KV cache at DEFAULT_N_CTX as a share of the file (0.25-0.47 for Qwen2.5-0.5B,
# Llama-3.2-1B and -3B at Q4_K_M; 0.1-0.2 for 7-8B ones), and a vocabulary of 150k tokens.
BITS_MAX, BITS_MIN = 8.5, 2.6
KV_SHARE = 0.35
VOCAB_GUESS = 150000
TOKEN_BYTES = 200            # the tokenizer's Python objects per vocabulary entry and merge (CPython: ~180)
# What a model streamed to WebGPU holds of its file at once (webinfer.stream): the header while it is
# parsed (a few MB for a 150k vocabulary, read in doubling steps) and the chunk in hand.
STREAM_WINDOW = 16 * MiB


def kv_cache_bytes(n_layers: int, n_kv_heads: int, head_dim: int, n_ctx: int) -> int:
    """float32 keys and values of every layer, rows rounded up to 4 (numpy_device.NumpyKVCache)."""
    return 2 * n_layers * n_kv_heads * (-(-n_ctx // 4) * 4) * head_dim * 4


def need(file_size: int, dims=None, device: str = "numpy", n_ctx=None) -> dict:
    """The engine heap a model takes, by part, in bytes: {"parts": {name: bytes}, "total", "from_size"}.
    dims: dims_from_gguf's dict, or None (then the parts are judged from the file's size, from_size True).
    device "webgpu" keeps the weights and the KV cache on the GPU, the file streamed there as it
    arrives: the heap holds a window of the file (STREAM_WINDOW), the tokenizer and small activations."""
    on_gpu = device == "webgpu"
    parts = {"stream window": min(file_size, STREAM_WINDOW)} if on_gpu else {"file": file_size}
    if dims is None:
        lo = 4 * file_size * 8 / BITS_MAX            # float32 bytes if every weight were Q8_0 ...
        hi = 4 * file_size * 8 / BITS_MIN            # ... or Q2_K: NumPy expands iff that is <= its budget
        parts["float32 weights"] = 0 if on_gpu or lo > F32_BUDGET else int(min(hi, F32_BUDGET))
        parts["KV cache"] = 0 if on_gpu else int(KV_SHARE * file_size)
        parts["tokenizer"] = VOCAB_GUESS * TOKEN_BYTES
        parts["activations"] = 64 * MiB
    else:
        f32 = 4 * dims["weight_elements"]
        ctx = n_ctx or min(dims["n_ctx_train"], DEFAULT_N_CTX)
        # expanding, the largest tensor passes through a float32 temporary beside its copy
        parts["float32 weights"] = 0 if on_gpu or f32 > F32_BUDGET else f32 + 4 * dims.get("largest_elements", 0)
        parts["KV cache"] = 0 if on_gpu else kv_cache_bytes(dims["n_layers"], dims["n_kv_heads"], dims["head_dim"], ctx)
        parts["tokenizer"] = (dims["n_vocab"] + dims.get("n_merges", 0)) * TOKEN_BYTES
        # one prefill chunk's widest rows (gate and up, q/k/v, the residual) and the logits
        parts["activations"] = 4 * PREFILL_CHUNK * (3 * dims["d_ff"] + 8 * dims["d_model"]) + 8 * dims["n_vocab"]
    return {"parts": parts, "total": sum(parts.values()), "from_size": dims is None}


def size_text(n) -> str:
    """Bytes as "540 MB" or "1.4 GB" (powers of 1024, as the page's other sizes)."""
    if n >= GiB:
        return "{:.1f} GB".format(n / GiB)
    return "{:.0f} MB".format(n / MiB)


PARTS = ("file", "stream window", "float32 weights", "KV cache", "tokenizer", "activations")   # (MicroPython's dicts are unordered)


def _parts_text(parts: dict) -> str:
    shown = [(k, parts[k]) for k in PARTS if parts.get(k, 0) >= 16 * MiB]
    return ", ".join("{} {}".format(k, size_text(v)) for k, v in shown)


def verdict(file_size: int, dims=None, runtime=None, device: str = "numpy", n_ctx=None, name: str = "this model") -> dict:
    """Judge whether `name` fits. runtime (every key optional):
      heap_limit     the engine heap's ceiling in bytes (WASM32_HEAP in Pyodide; None: no ceiling)
      heap_in_use    bytes of it that stay in use while the model loads (the runtime, the model in use)
      device_memory  navigator.deviceMemory in GB (the browser rounds down to a power of two, caps at 8)
      max_buffer_size, max_storage_buffer_binding_size   a WebGPU adapter's limits (device "webgpu")
    Returns {"verdict": "fits" | "tight" | "cannot", "message": one line, "need", "parts", "from_size",
    "available" (bytes left in the heap, or None)}."""
    rt = runtime or {}
    est = need(file_size, dims, device, n_ctx)
    total, parts = est["total"], est["parts"]
    how = " (estimated from the file size)" if est["from_size"] else ""
    needs = "about {} ({}){}".format(size_text(total), _parts_text(parts), how)
    limit, in_use = rt.get("heap_limit"), rt.get("heap_in_use") or 0
    available = limit - in_use if limit else None
    kind, why = "fits", ""
    if limit:
        heap = "this tab's WebAssembly memory holds at most {}, {} of it in use".format(size_text(limit), size_text(in_use))
        if total > available:
            kind, why = "cannot", "it needs " + needs + " and " + heap
        elif total > TIGHT * available:
            kind, why = "tight", "it needs " + needs + ", near the {} left: {}".format(size_text(available), heap)
    mem = rt.get("device_memory")
    if mem and kind != "cannot":
        tab = in_use + total
        said = "the about {} GB of memory this device reports".format(mem)
        if tab > 2 * mem * GiB:            # the browser rounds down: the machine has less than twice what it says
            kind, why = "cannot", "the tab would need {} with it, more than twice {}".format(size_text(tab), said)
        elif tab > mem * GiB / 2 and kind == "fits":
            kind, why = "tight", "the tab would need {} with it, more than half of {}".format(size_text(tab), said)
    note = ""
    binding = rt.get("max_storage_buffer_binding_size")
    if device == "webgpu" and dims is not None and binding and dims.get("largest_tensor", 0) > binding:
        note = " Tensors over the GPU's {} binding limit are split.".format(size_text(binding))
    if kind == "cannot":
        message = "{} cannot be loaded here: {}.".format(name, why)
    elif kind == "tight":
        message = "{} may not fit: {}.".format(name, why)
    elif limit:
        message = "{} should fit: {} of the {} left in this tab's WebAssembly memory.".format(
            name, needs, size_text(available))
    else:
        message = "{} needs {}.".format(name, needs)
    if device == "webgpu":
        note += " The GPU's own memory is not known to the page."
    return {"verdict": kind, "message": message + note, "need": total, "parts": parts, "from_size": est["from_size"],
            "available": available}


def dims_from_gguf(metadata: dict, tensors: dict) -> dict:
    """What need() reads from a GGUF header (CPython and Pyodide only: it reads the keys through
    ModelConfig, the one place that knows them). tensors: name -> formats.gguf.TensorInfo."""
    from .config import ModelConfig
    cfg = ModelConfig.from_gguf(metadata, tensors.keys())
    weights = [t for n, t in tensors.items() if n.endswith(".weight") and len(t.shape) >= 2]
    merges = metadata.get("tokenizer.ggml.merges")
    return {"n_layers": cfg.n_layers, "n_kv_heads": cfg.n_kv_heads, "head_dim": cfg.head_dim,
            "n_ctx_train": cfg.n_ctx_train, "d_model": cfg.d_model, "d_ff": cfg.d_ff, "n_vocab": cfg.n_vocab,
            "n_merges": 0 if merges is None else len(merges),
            "weight_elements": sum(t.n_elements for t in weights),
            "largest_tensor": max((t.nbytes for t in tensors.values()), default=0),
            "largest_elements": max((t.n_elements for t in weights), default=0)}
