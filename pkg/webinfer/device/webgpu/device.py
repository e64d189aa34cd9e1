"""The WebGPU device: every Device op as WGSL kernels, shared by the browser and wgpu-py.

Everything here is adapter-agnostic (see adapter.py). Two things make decode fast:

* Deferred fusion. ``rms_norm`` and ``linear`` return *pending* values rather than launching;
  the op that consumes them picks a fused kernel: norm -> projection (matvec NORM), qkv
  projection -> ``rope_kv`` (matvec ROPE: rotate + KV write in the epilogue; ``store_kv``: the
  same without the rotation, NOROPE), projection -> ``add`` (RESIDUAL), norm -> ``linear_swiglu``
  (NORM + SWIGLU). Any other use materialises them. The forward pass in models/llama.py stays
  the one straight line it is; per layer a decode step is 5 dispatches: qkv+rope+kv, attention,
  out+residual, gate/up+silu, down+residual. (GPT-2, models/gpt2.py: 7, as its ``layer_norm``s
  are launched at once; ``linear_gelu`` is a projection with the GELU epilogue.) BERT encoders
  (models/bert.py) run the same projections with the erf GELU (ERF) and attention_encoder.wgsl.
  Gemma (models/gemma.py) adds: norm -> ``add`` (rmsnorm RESIDUAL, its post-norms), GEGLU for
  SWIGLU (gate.wgsl), attention WINDOW / SOFTCAP, and elementwise SCALE / SOFTCAP; its step is
  replayed, not fused (fused.GEMMA_VARIANTS).
* Record / replay (``replay``). The first decode step's dispatches (pipelines, bind groups,
  grids) are kept; later steps write the position into one uniform buffer, copy the input token
  (left on the GPU by ``argmax``) into the step's token buffer, and re-issue the same list:
  one compute pass, one submit, a 4-byte readback.
* Fused where it is safe (``fused = "auto"``, the default; env WEBINFER_FUSED): on a GPU (wgpu-py
  or a browser's WebGPU, not a CPU-emulated adapter) the recorded step is rebuilt as one dispatch of
  persistent workgroups (fused.py, decode_fused.wgsl), checked against the replay on its first
  step. Where fewer workgroups took part than were launched (those that had not started when the
  step went on), it is rebuilt for that many; where the check failed (its grid barrier timed out,
  or a value was read before it was written) it is rebuilt with half the workgroups, down to
  FUSED_MIN_WORKGROUPS (FUSED_MIN_AFTER_LATE where no wait timed out), then the replay stays; a failure mid-generation raises
  fused.abort_error. The fused step also
  picks its greedy token (``argmax`` of its logits is then no dispatch: ``FusedProgram.token``)
  and leaves the next step its position, so a greedy token is one dispatch, no host write, and
  one 16-byte readback (the token with the abort word). On an H100 or H200 it decodes about
  twice as fast as the replay, whose CPU encoding of ~150 dispatches a token bounds it there
  (bench/RESULTS.md).
* Grammar constraints on the GPU (``token_mask``): the allowed tokens arrive as a bit mask (u32
  words, ~6 KB a token for 49k tokens, one write_buffer) that the MASK variants of argmax.wgsl,
  sample.wgsl and the fused step's greedy pick read, so a constrained token still reads back 4
  bytes, not the logits row.

Not here: WebGPU calls (adapter*.py), buffer pooling and submits (gpu.py), WGSL (shaders/).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ...errors import DeviceError
from ..base import Capabilities
from ..numpy_device import rope_tables
from .gpu import GPU, GSlice, GTensor
from . import fused, split
from .layout import gpu_blocks

MATVEC_ROWS = 4        # = SLOTS in matvec.wgsl (GPUs: 4 rows x 64 lanes)
MATVEC_ROWS_CPU = 16   # ... its ROWS16 variant, for CPU adapters (16 rows x 16 lanes; measured there)
ATTN_SPLIT_LEN = 128   # keys per workgroup in decode attention (flash-decoding splits), at least
ATTN_MAX_SPLITS = 64   # ... more keys per split past n_ctx = 64 * 64, up to 256 (attention.wgsl's sc)
ATTN_TILE_Q = 16       # query tokens per workgroup in prefill attention (BQ in attention_prefill.wgsl)
ATTN_TILE_HEAD_DIM = 64  # its 16 lanes x vec4 cover head_dim <= 64
MATVEC_COMBINE_COLS = 2048     # matvec COMBINE: xs in matvec.wgsl
MATVEC_COMBINE_SPLITS = 1024   # ... and n_heads * n_splits (wz)
MATVEC_WIDE_ROWS = 16384   # from this many rows (the lm head) a GPU matvec slot takes 4 rows (WIDE)
MATVEC_MAX_TOKENS = 8   # up to this many rows a matvec per row beats the tiled matmul
FUSED_WORKGROUPS = 264  # persistent workgroups of the fused decode step (decode_fused.wgsl, fused.py):
                        # 2 a multiprocessor on an H100 / H200 (132 SMs), faster there than 132
FUSED_MIN_WORKGROUPS = 32   # halved from FUSED_WORKGROUPS while the barrier times out, not below this
FUSED_MIN_AFTER_LATE = FUSED_WORKGROUPS // 4   # ... and while values are read too early (LATE), not below
                        # this: so few workgroups can decode slower than the replay (bench/RESULTS.md)


def split_length(n_ctx: int) -> int:
    """Keys per decode-attention split: ATTN_SPLIT_LEN, more once that would pass ATTN_MAX_SPLITS."""
    per = -(-n_ctx // ATTN_MAX_SPLITS)
    return min(256, max(ATTN_SPLIT_LEN, -(-per // ATTN_SPLIT_LEN) * ATTN_SPLIT_LEN))


@dataclass(eq=False)
class GWeight:
    buf: object
    qtype: str        # the shader define: a name of layout.GPU_QUANTS (Q4_0 ... Q6_K)
    rows: int
    cols: int
    row_words: int
    bias: object      # storage buffer (rows,) f32, or None


@dataclass(eq=False)
class GVec:
    buf: object
    size: int


@dataclass(eq=False)
class GKVCache:
    k: list           # per layer: (n_kv_heads, n_ctx, head_dim) f32, a GSlice of the one buffer all layers
                      # share (when it fits a binding: the fused step binds it whole), else its own buffer
    v: list
    n_kv_heads: int
    head_dim: int
    n_ctx: int


@dataclass(eq=False)
class _Norm:          # rms_norm(x, w, eps), not yet launched
    x: GTensor
    w: GVec
    eps: float


@dataclass(eq=False)
class _Proj:          # linear(x, w), not yet launched; x may be a pending norm
    x: object
    w: GWeight


@dataclass(eq=False)
class GMask:          # the token mask: a grammar's allowed tokens (shaders/token_mask.wgsl)
    buf: object
    words: np.ndarray  # (n_words,) uint32, as written to buf
    serial: int        # a new number for every token_mask(): what a fused step picked under

    def binding(self):
        return (self.buf, 0, self.words.nbytes)


@dataclass
class _Program:       # a recorded decode step
    commands: list
    out: GTensor
    token: GTensor    # (1, 1) u32: the step's input token
    dispatches: int
    recorded: list = None  # gpu.recorded: what fused.build reads
    next: object = None   # the adapter's prepare(): the next replay's command buffer, being encoded
    fused: object = None  # a fused.FusedProgram: on probation until its first step is checked, then used
    fused_ok: bool = False
    probing: bool = False  # its fused step ran beside the replay; the verdict comes at a read


class WebGPUDevice:
    name = "webgpu"
    # reads are submitted eagerly (generate may queue step t+1 before token t arrives); sample.wgsl
    # token_mask: grammar constraints as a bit mask in argmax, sample and the fused step
    caps = Capabilities(samples=True, decode_ahead=True, masks=True)

    def __init__(self, adapter):
        self.adapter = adapter
        self.gpu = GPU(adapter)
        self.description = f"webgpu: {adapter.description}"
        self.notes: list[str] = []       # per-tensor fallbacks, e.g. a type uploaded as F32
        self._rope: dict = {}
        self._programs: dict = {}
        self._step = None                # the recording's step uniform, else None (eager)
        # The fused decode step (fused.py): "auto" (the default: on GPUs, native or in a browser;
        # not on CPU-emulated adapters, where workgroups may run one after another), "on" anywhere,
        # "off". It copies the weights once more. A browser watches a page's GPU time: the step's
        # barrier gives up after fused.SPIN_LIMIT polls (~0.3 s), far below a GPU watchdog.
        # WEBINFER_FUSED / WEBINFER_FUSED_WORKGROUPS set them from the environment (benchmarks).
        self.fused = os.environ.get("WEBINFER_FUSED", "auto")
        self.fused_workgroups = int(os.environ.get("WEBINFER_FUSED_WORKGROUPS", FUSED_WORKGROUPS))
        self._probe = None               # (program, FusedProgram) whose first step the next read checks
        self._watch = None               # (program, FusedProgram) whose abort word the next read checks
        self._fused_last = None          # the FusedProgram of the step queued last, if it was fused (argmax)
        self.streamed = None             # while webinfer.stream loads a model: its streamed.Uploads
        self._mask = None                # GMask: argmax and sample pick among its tokens (token_mask)
        self._mask_buf = None
        self._mask_serial = 0

    # -- memory ------------------------------------------------------------------------------------
    def plan_weights(self, f32_bytes: int) -> None:
        """Nothing to plan: the GPU keeps every weight as its blocks."""

    def weight(self, w):
        if self.streamed is not None:    # a streamed load's second run: its buffers were made and filled
            return self.streamed.take(w)
        qtype, data, row_words, note = gpu_blocks(w)
        if note:
            self.notes.append(note)
        limit = split.binding_limit(self.gpu)
        if data.nbytes > limit:          # over maxStorageBufferBindingSize: row chunks (split.py)
            parts = [self.weight(c) for c in split.row_chunks(w, 4 * row_words, limit)]
            self.notes.append(split.split_note(w, data.nbytes, limit, len(parts)))
            return split.GSplitWeight(parts, split.starts_of(parts), qtype, w.rows, w.cols)
        buf = self.gpu.upload(data, f"{w.name} ({qtype}, {w.rows}x{w.cols})")
        bias = self.gpu.upload(w.bias.astype(np.float32), w.name + ".bias") if w.bias is not None else None
        return GWeight(buf, qtype, w.rows, w.cols, row_words, bias)

    def vector(self, v):
        v = np.ascontiguousarray(v, dtype=np.float32).reshape(-1)
        return GVec(self.gpu.upload(v, f"vector ({v.size})"), v.size)

    def kv_cache(self, n_layers, n_kv_heads, head_dim, n_ctx):
        size = 4 * n_kv_heads * n_ctx * head_dim
        step = -(-size // 256) * 256                 # binding offsets are multiples of 256 bytes
        lim = min(self.gpu.limits["max_storage_buffer_binding_size"], self.gpu.limits["max_buffer_size"])
        if 2 * n_layers * step <= lim:               # one buffer: the fused decode step binds it whole
            buf = self.gpu.zeros(2 * n_layers * step, "KV cache")
            k = [GSlice(buf, 2 * i * step, size) for i in range(n_layers)]
            v = [GSlice(buf, (2 * i + 1) * step, size) for i in range(n_layers)]
            return GKVCache(k, v, n_kv_heads, head_dim, n_ctx)
        k = [self.gpu.zeros(size, f"layer {i} keys") for i in range(n_layers)]   # each under the limit
        v = [self.gpu.zeros(size, f"layer {i} values") for i in range(n_layers)]
        return GKVCache(k, v, n_kv_heads, head_dim, n_ctx)

    def tensor(self, a: np.ndarray) -> GTensor:
        """Upload a float32 (n, width) array as an activation (tests, selftest)."""
        a = np.ascontiguousarray(a, dtype=np.float32)
        t = self.gpu.tensor(a.shape[0], a.shape[1])
        self.gpu.flush()                 # (as embed: not before queued work that reads the pooled buffer)
        self.adapter.write_buffer(t.buf, 0, a)
        return t

    # -- ops -----------------------------------------------------------------------------------------
    def embed(self, table: GWeight, tokens, positions: GVec | None = None, pos: int = 0):
        if isinstance(tokens, GTensor):
            tok = tokens
        else:
            ids = np.asarray(tokens, dtype=np.uint32).reshape(-1, 1)
            tok = self.gpu.tensor(ids.shape[0], 1, "u32")
            # write_buffer lands before anything still queued: a pooled buffer that a queued embed
            # (the previous prefill chunk's) reads must not get these ids first
            self.gpu.flush()
            self.adapter.write_buffer(tok.buf, 0, ids)
        # learned positions (GPT-2): embed.wgsl POS adds rows step.pos + t of the table
        pos_defines, pos_b = (({"POS"}, {1: self._step_uniform(pos, tok.n), 5: positions.buf})
                              if positions is not None else (set(), {}))
        if isinstance(table, split.GSplitWeight):
            return split.embed(self.gpu, table, tok, pos_defines, pos_b)
        y = self.gpu.tensor(tok.n, table.cols)
        self.gpu.dispatch("embed.wgsl", {table.qtype} | pos_defines, {
            0: self.gpu.uniform(table.row_words, table.cols, table.rows, 0, 0, 0, 0, 0), 2: table.buf, 3: tok, 4: y,
            **pos_b}, (tok.n, 1, 1))
        return y

    def rms_norm(self, x, w, eps):
        return _Norm(self._t(x), w, float(eps))

    def layer_norm(self, x, w, b, eps):
        """rmsnorm.wgsl LAYERNORM, launched at once (not fused into the next projection: its
        mean and bias would need more than matvec NORM's one scale)."""
        x = self._t(x)
        y = self.gpu.tensor(x.n, x.width)
        self.gpu.dispatch("rmsnorm.wgsl", {"LAYERNORM"}, {0: self.gpu.uniform(x.width, float(eps), 0, 0), 3: x,
                                                          4: y, 5: w.buf, 6: b.buf}, (x.n, 1, 1))
        return y

    def linear(self, x, w, bias=None):
        if isinstance(w, split.GSplitWeight):
            return split.linear(self.gpu, self._t(x), w, lambda xx, part: self._t(_Proj(xx, part)))
        return _Proj(x if isinstance(x, _Norm) else self._t(x), w)

    def linear_swiglu(self, x, w_gate_up, geglu=False):
        if isinstance(w_gate_up, split.GSplitWeight):
            return split.swiglu(self.gpu, self.linear(x, w_gate_up), geglu)
        return self._project(_Proj(x if isinstance(x, _Norm) else self._t(x), w_gate_up), swiglu=True, geglu=geglu)

    def linear_geglu(self, x, w_gate_up):
        """gelu_tanh(g) * u: the SWIGLU kernels' GEGLU variant (gate.wgsl)."""
        return self.linear_swiglu(x, w_gate_up, geglu=True)

    def scale(self, x, s):
        return self._elementwise(self._t(x), "SCALE", float(s))

    def softcap(self, x, cap):
        return self._elementwise(self._t(x), "SOFTCAP", float(cap))

    def _elementwise(self, x, variant, c):
        y = self.gpu.tensor(x.n, x.width)
        n = x.n * x.width
        grid = self.gpu.grid(-(-n // 256))
        self.gpu.dispatch("elementwise.wgsl", {variant}, {0: self.gpu.uniform(n, grid[0], 0, c), 3: x, 4: y}, grid)
        return y

    def linear_gelu(self, x, w, erf=False):
        if isinstance(w, split.GSplitWeight):
            return split.gelu(self.gpu, self.linear(x, w), erf)
        return self._project(_Proj(x if isinstance(x, _Norm) else self._t(x), w), gelu=True, erf=erf)

    def linear_gelu_erf(self, x, w):
        """The projection's GELU epilogue in erf's form (gelu.wgsl ERF): BERT's MLP."""
        return self.linear_gelu(x, w, erf=True)

    def encoder_attention(self, qkv, lengths, seq_len, n_heads, head_dim):
        """attention_encoder.wgsl: each row's query over its own sequence's unpadded keys (TILED:
        16 queries a workgroup sharing K/V tiles, for head_dim <= 64; else a workgroup a query row)."""
        x = self._t(qkv)
        d = n_heads * head_dim
        if head_dim > 256 or seq_len > 512 or x.width != 3 * d or x.n != len(lengths) * seq_len:
            raise DeviceError(f"encoder_attention of a ({x.n}, {x.width}) qkv as {len(lengths)} sequences of "
                              f"{seq_len} with {n_heads} heads of {head_dim} (at most 512 keys, head_dim 256)")
        lens = self.gpu.tensor(len(lengths), 1, "u32")
        self.gpu.flush()                 # (as embed: a queued reader of the pooled buffer goes first)
        self.adapter.write_buffer(lens.buf, 0, np.asarray(lengths, np.uint32).reshape(-1, 1))
        y = self.gpu.tensor(x.n, d)
        binds = {3: x, 4: y, 5: lens}
        if head_dim <= ATTN_TILE_HEAD_DIM and head_dim % 4 == 0:
            # 16 queries of a sequence per workgroup share each K/V tile (TILED)
            params = self.gpu.uniform(n_heads, head_dim, seq_len, x.n, float(1.0 / np.sqrt(head_dim)), 0, 0, 0)
            self.gpu.dispatch("attention_encoder.wgsl", {"TILED"}, {0: params, **binds},
                              (n_heads, -(-seq_len // ATTN_TILE_Q), len(lengths)))
            return y
        gx, gy, _ = self.gpu.grid(x.n)
        params = self.gpu.uniform(n_heads, head_dim, seq_len, x.n, float(1.0 / np.sqrt(head_dim)), gx, 0, 0)
        self.gpu.dispatch("attention_encoder.wgsl", (), {0: params, **binds}, (n_heads, gx, gy))
        return y

    def add(self, a, b):
        if isinstance(a, _Norm) and not isinstance(b, _Norm):
            a, b = b, a
        if isinstance(b, _Norm):
            # a norm of a block's output added to the residual (Gemma's post-norms): rmsnorm RESIDUAL
            return self._norm(b, residual=self._t(a))
        if isinstance(b, _Proj):
            return self._project(b, residual=self._t(a))
        if isinstance(a, _Proj):
            return self._project(a, residual=self._t(b))
        a, b = self._t(a), self._t(b)
        y = self.gpu.tensor(a.n, a.width)
        n = a.n * a.width
        grid = self.gpu.grid(-(-n // 256))
        self.gpu.dispatch("elementwise.wgsl", (), {0: self.gpu.uniform(n, grid[0], 0, 0), 3: a, 4: y, 5: b}, grid)
        return y

    def head_norm(self, qkv, q_w, k_w, n_heads, n_kv_heads, head_dim, eps):
        # The qkv projection is materialised (its matvec's ROPE epilogue is lost: rope_kv.wgsl
        # rotates after this); the fused decode step has no command for it (fused.py refuses).
        x = self._t(qkv)
        if x.width != (n_heads + 2 * n_kv_heads) * head_dim:
            raise DeviceError(f"head_norm of a {x.width}-wide qkv with {n_heads}+2x{n_kv_heads} heads of {head_dim}")
        y = self.gpu.tensor(x.n, x.width)
        params = self.gpu.uniform(n_heads, n_kv_heads, head_dim, float(eps))
        self.gpu.dispatch("head_norm.wgsl", (), {0: params, 3: x, 4: y, 5: q_w.buf, 6: k_w.buf},
                          (n_heads + 2 * n_kv_heads, x.n, 1))
        return y

    def rope_kv(self, qkv, cache, layer, pos, n_heads, n_kv_heads, head_dim, theta, neox, freqs=None):
        rope = self._rope_table(theta, head_dim, cache.n_ctx, freqs)
        return self._kv(qkv, cache, layer, pos, n_heads, n_kv_heads, head_dim, neox, set(), {10: rope})

    def store_kv(self, qkv, cache, layer, pos, n_heads, n_kv_heads, head_dim):
        """rope_kv's kernels (matvec ROPE in decode, rope_kv.wgsl in prefill) with NOROPE: no table."""
        if head_dim % 2:
            raise DeviceError(f"store_kv needs an even head_dim (the kernels walk pairs), got {head_dim}")
        return self._kv(qkv, cache, layer, pos, n_heads, n_kv_heads, head_dim, False, {"NOROPE"}, {})

    def _kv(self, qkv, cache, layer, pos, n_heads, n_kv_heads, head_dim, neox, defines, rope_b):
        qd, kvd = n_heads * head_dim, n_kv_heads * head_dim
        kv = {8: cache.k[layer], 9: cache.v[layer], **rope_b}
        if isinstance(qkv, _Proj) and self._rows(qkv.x) <= MATVEC_MAX_TOKENS:
            extra = dict(q_dim=qd, kv_dim=kvd, head_dim=head_dim, neox=int(neox), n_ctx=cache.n_ctx)
            return self._matvec(qkv, {"ROPE"} | defines, kv, pos, out_width=qd, pairs=True, extra=extra)
        x = self._t(qkv)
        y = self.gpu.tensor(x.n, qd)
        n_threads = x.n * (qd // 2 + kvd // 2 + kvd)
        grid = self.gpu.grid(-(-n_threads // 256))
        params = self.gpu.uniform(x.n, qd, kvd, head_dim, int(neox), cache.n_ctx, grid[0], 0)
        self.gpu.dispatch("rope_kv.wgsl", defines, {0: params, 1: self._step_uniform(pos, x.n), 3: x, 4: y, **kv},
                          grid)
        return y

    def attention(self, q, cache, layer, pos, n_heads, n_kv_heads, head_dim, scale=0.0, window=0, softcap=0.0):
        if head_dim % 4 or head_dim > 256:
            raise DeviceError(f"attention.wgsl needs head_dim <= 256 and a multiple of 4, got {head_dim}")
        q = self._t(q)
        y = self.gpu.tensor(q.n, q.width)
        scale = float(scale or 1.0 / np.sqrt(head_dim))
        # WINDOW / SOFTCAP (Gemma): the variants read window and softcap from Params' last words
        var = ({"WINDOW"} if window else set()) | ({"SOFTCAP"} if softcap else set())
        tail = (int(window), float(softcap), 0, 0, 0) if var else ()
        b = {1: self._step_uniform(pos, q.n), 3: q, 4: y, 8: cache.k[layer], 9: cache.v[layer]}
        if q.n == 1 and cache.n_ctx > ATTN_SPLIT_LEN:
            # Decode: split the keys over many workgroups, then merge (flash-decoding). The split
            # count follows n_ctx, not pos, so one recorded step serves every position; splits
            # past pos return at once, and the merge reads only the splits that saw keys.
            split_len = split_length(cache.n_ctx)
            n_splits = -(-cache.n_ctx // split_len)
            part = self.gpu.tensor(n_heads * n_splits, head_dim + 2)
            params = self.gpu.uniform(n_heads, n_kv_heads, head_dim, cache.n_ctx, scale, n_splits, split_len,
                                      *(tail or (0,)))
            del b[4]                        # the split kernel writes partials, not y
            self.gpu.dispatch("attention.wgsl", {"SPLIT"} | var, {0: params, 10: part, **b}, (n_heads, 1, n_splits))
            self.gpu.dispatch("attention_combine.wgsl", (), {0: params, 4: y, 10: part}, (n_heads, 1, 1))
            # A projection of y queued right after may drop this combine and merge the partials
            # itself (matvec COMBINE, see _matvec); any other use finds y combined as usual.
            y.split_partials = (part, n_splits, head_dim, self.gpu.pending[-1], split_len, b[1])
            return y
        params = self.gpu.uniform(n_heads, n_kv_heads, head_dim, cache.n_ctx, scale, 0, 0, *(tail or (0,)))
        if q.n > 1 and head_dim <= ATTN_TILE_HEAD_DIM:
            # Prefill: 16 query tokens per workgroup share each K/V tile (attention_prefill.wgsl)
            self.gpu.dispatch("attention_prefill.wgsl", var, {0: params, **b}, (n_heads, -(-q.n // ATTN_TILE_Q), 1))
            return y
        self.gpu.dispatch("attention.wgsl", var, {0: params, **b}, (n_heads, q.n, 1))
        return y

    def last_row(self, x):
        if isinstance(x, (_Norm, _Proj)) or x.n == 1:
            return x if x.n == 1 else self.last_row(self._t(x))
        y = self.gpu.tensor(1, x.width)
        self.gpu.copy(x.buf, x.offset + (x.n - 1) * x.width * 4, y.buf, 0, x.width * 4)
        return y

    def token_mask(self, words) -> None:
        """argmax and sample (and the fused step's greedy pick) from now on only among the tokens
        the bit mask `words` allows (u32, bit i & 31 of word i >> 5: grammar.mask.pack_ids), or
        every token (None). Written now, before the next submit: set it before queueing the step
        whose token it constrains (generate does), so that a fused step picks under it."""
        self.gpu.flush()                 # queued work that reads the mask buffer keeps the words it had
        if words is None:
            self._mask = None
            return
        words = np.ascontiguousarray(words, dtype=np.uint32).reshape(-1)
        if self._mask_buf is None or self._mask_buf.size < words.nbytes:
            self._mask_buf = self.gpu.zeros(max(16, words.nbytes), "token mask")
        self.adapter.write_buffer(self._mask_buf, 0, words)
        self._mask_serial += 1
        self._mask = GMask(self._mask_buf, words, self._mask_serial)

    def _mask_binding(self, x):
        """The MASK variant's defines and binding for logits x under the current mask, else none."""
        m = self._mask
        if m is None:
            return (), {}
        if 32 * m.words.size < x.width:
            raise DeviceError(f"a token mask of {m.words.size} words covers {32 * m.words.size} tokens, "
                              f"not the logits' {x.width}")
        return ("MASK",), {6: m.binding()}

    def argmax(self, logits):
        f = self._fused_last
        if f is not None and f.argmax and logits is f.out and f.masked_with is self._mask:
            return f.token           # picked inside the fused step (decode_fused.wgsl, ARGMAX): no dispatch
        x = self._t(logits)
        y = self.gpu.tensor(x.n, 1, "u32")
        var, mb = self._mask_binding(x)
        self.gpu.dispatch("argmax.wgsl", var, {0: self.gpu.uniform(x.width, 0, 0, 0), 3: x, 4: y, **mb}, (x.n, 1, 1))
        return y

    def sample(self, logits, temperature, top_k, top_p, min_p, u):
        """Temperature / top-k / top-p / min-p draw of each row with the uniform number u (sample.wgsl;
        twin: device.gpu_sample.sample_reference): (n, 1) u32 ids that stay on the GPU, like argmax."""
        x = self._t(logits)
        y = self.gpu.tensor(x.n, 1, "u32")
        scratch = self.gpu.tensor(x.n, x.width)     # exp(x - max), reused by the top-p search
        params = self.gpu.uniform(x.width, int(top_k), float(top_p), float(min_p), float(temperature), float(u), 0, 0)
        var, mb = self._mask_binding(x)
        self.gpu.dispatch("sample.wgsl", var, {0: params, 3: x, 4: y, 5: scratch, **mb}, (x.n, 1, 1))
        return y

    def read(self, x):
        """Submit everything queued plus a copy of x now; the returned awaitable maps it.
        After a fused decode step the same submit also copies its abort word (and, on its first
        step, both programs' logits for the check): see fused.py."""
        probe, self._probe = self._probe, None
        watch, self._watch = self._watch, None
        x = self._t(x)
        if probe is None and watch is None:
            return self.gpu.finish_read(self.gpu.start_read(x))
        f = (probe or watch)[1]
        reads = (f.status, f.out, probe[0].out) if probe is not None else (f.status,)
        extra = [self.gpu.start_read(t, submit=False) for t in reads]
        if watch is not None and x is f.token:      # the greedy token is in the status words: one copy
            self.gpu.flush()
            return self._finish_read(None, probe, watch, extra)
        return self._finish_read(self.gpu.start_read(x), probe, watch, extra)

    async def _finish_read(self, started, probe, watch, extra):
        got = await self.gpu.finish_read(started) if started is not None else None
        vals = [await self.gpu.finish_read(e) for e in extra]
        if got is None:
            got = vals[0][:, fused.S_TOKEN:fused.S_TOKEN + 1].copy()
        if probe is not None:
            self._judge(*probe, *vals)
        else:
            self._watch_step(*watch, vals[0])
        return got

    def _judge(self, prog: _Program, f, status, fused_logits, plain_logits) -> None:
        """The verdict on a fused program's first step, run beside the plain replay: use it, rebuild
        it (for the workgroups that took part, or with half as many after an abort), or drop it."""
        prog.probing = False
        aborted = int(status[0, fused.S_ABORT])
        f.took = f.took_part(status)
        why = fused.check(fused_logits, plain_logits, aborted, int(status[0, fused.S_TOKEN]) if f.argmax else None,
                          f.masked_with.words if f.masked_with is not None else None)
        if why is None and FUSED_MIN_WORKGROUPS <= f.took < f.n_wg:
            # fewer started than were launched: the step waited for the others every time
            # (decode_fused.wgsl, close_window); a program of that many need not
            self.notes.append(f"decode step fused with {f.took} of {f.n_wg} workgroups taking part: rebuilt for {f.took}")
            prog.fused = self._fuse(prog, f.took)
        elif why is None:
            prog.fused_ok = True
        else:
            self.notes.append(f"decode step not fused with {f.n_wg} workgroups: {why}{fused.describe(f, status)}")
            prog.fused = None
            # fewer may all be resident (TIMED_OUT), or read in step (LATE), checked at their first step too
            floor = FUSED_MIN_WORKGROUPS if aborted & fused.ABORT_BITS["TIMED_OUT"] else FUSED_MIN_AFTER_LATE
            if aborted and f.n_wg // 2 >= floor:
                prog.fused = self._fuse(prog, f.n_wg // 2)

    def _watch_step(self, prog: _Program, f, status) -> None:
        """A used fused program's step: raise fused.abort_error (and drop the program) where it aborted."""
        f.took = f.took_part(status)
        aborted = int(status[0, fused.S_ABORT])
        if aborted:
            prog.fused, prog.fused_ok = None, False
            err = fused.abort_error(aborted)
            self.notes.append(f"decode step no longer fused: {err}")
            raise err

    def read_sync(self, x) -> np.ndarray:
        stage, cap, size, t = self.gpu.start_read(self._t(x))
        data = self.adapter.read_buffer_sync(stage, size)
        self.gpu._staging.setdefault(cap, []).append(stage)
        return np.frombuffer(data, np.float32 if t.dtype == "f32" else np.int32).reshape(t.n, t.width).copy()

    def decode_path(self) -> str:
        """How replayed decode steps run: "fused (G workgroups)", or "replayed" and why not fused."""
        used = [p.fused for p in self._programs.values() if p.fused is not None and p.fused_ok]
        if used:
            return f"fused: 1 dispatch a step, {used[0].n_wg} persistent workgroups"
        why = [n for n in self.notes if n.startswith("decode step")]
        return "replayed" + (f" ({why[-1]})" if why else f" (fused decode {self.fused})")

    async def check_errors(self) -> None:
        """A browser's WebGPU reports validation errors late (adapter_js); wgpu-py raises at once."""
        if self.adapter.in_browser:
            await self.adapter.check_errors()

    def dispatch_count(self) -> int:
        """Compute dispatches issued so far (the benchmark reports dispatches per token)."""
        return self.gpu.dispatches

    # -- record / replay -----------------------------------------------------------------------------
    def replay(self, key, forward, token, pos):
        """One decode step, forward(tokens, pos) -> logits, recorded on first use and replayed after."""
        prog = self._programs.get(key)
        self.gpu.flush()                 # the step's position written below must not reach earlier queued work
        self._fused_last = None
        if prog is None:
            prog = self._record(forward, pos)
            self._programs[key] = prog
            prog.fused = self._fuse(prog, self.fused_workgroups)
        f = prog.fused
        if f is not None and (prog.fused_ok or not prog.probing):
            # One dispatch for the whole step (fused.py). Its first step runs next to the plain
            # replay below, and read() compares the two logits before the fused one is used
            # (steps queued before that verdict take the replay alone). A greedy step's token
            # (argmax of the step before) is already in place: f.token.
            out = f.queue(self.gpu, pos, None if token is f.token else token, self._mask)
            if prog.fused_ok:
                # Native: submit now. In a browser the dispatch waits for the copy that read()
                # queues next (or for the next step's flush, which keeps the order), so both go in
                # one submit: a Python->JS call saved, 3 a token (tests/browser/test_browser_fused.py).
                if not self.adapter.in_browser:
                    self.gpu.flush()
                self._watch = (prog, f)
                self._fused_last = f
                return out
            prog.probing = True
            self._probe = (prog, f)
        self.adapter.write_buffer(self._step_buf, 0, np.array([pos, 1, 0, 0], np.uint32))
        self._set_token(token, prog.token.buf, 0)
        self.gpu.dispatches += prog.dispatches
        # Encode and submit now, not at the next read: with the next token queued ahead (greedy),
        # the CPU's encoding of this step overlaps the GPU still running the previous one. Where
        # the adapter can encode ahead on another thread (wgpu-py), the step's command buffer was
        # encoded during the previous token, and the next one's starts now.
        prepare = getattr(self.adapter, "prepare", None)
        if prepare is None:
            self.gpu.pending.extend(prog.commands)
            self.gpu.flush()
            return prog.out
        ready, prog.next = prog.next, None
        self.gpu.flush(ready if ready is not None else prepare(prog.commands))
        prog.next = prepare(prog.commands)
        return prog.out

    def _set_token(self, token, buf, offset):
        if isinstance(token, GTensor):
            self.gpu.copy(token.buf, token.offset, buf, offset, 4)
        else:
            self.adapter.write_buffer(buf, offset, np.array([int(np.asarray(token).reshape(-1)[0])], np.uint32))

    def _fuse(self, prog: _Program, n_wg: int):
        """The recorded step as a fused.FusedProgram of n_wg workgroups, or None (the reason in notes)."""
        mode = self.fused
        if mode == "off":
            return None
        if mode == "auto" and self._matvec_rows() == MATVEC_ROWS_CPU:
            return None
        try:
            return fused.build(self, prog.recorded, prog.out, prog.token, self._step_buf, n_wg)
        except Exception as e:   # Refused; DeviceError (did not compile); the arenas not allocated
            self.notes.append(f"decode step not fused: {e}")
            return None

    def _record(self, forward, pos) -> _Program:
        if getattr(self, "_step_buf", None) is None:
            self._step_buf = self.gpu.adapter.create_buffer(16, "uniform", "decode step")
        token = self.gpu.tensor(1, 1, "u32")
        token.pooled = False             # owned by the program for good
        before, d0 = len(self.gpu.pending), self.gpu.dispatches
        self._step, self.gpu.recording, self.gpu.recorded = self._step_buf, True, []
        try:
            out = self._t(forward(token, pos))
        finally:
            self._step, self.gpu.recording = None, False
        commands = self.gpu.pending[before:]
        del self.gpu.pending[before:]
        out.pooled = False
        recorded, self.gpu.recorded = self.gpu.recorded, []
        return _Program(commands, out, token, self.gpu.dispatches - d0, recorded)

    # -- helpers -------------------------------------------------------------------------------------
    def _step_uniform(self, pos, n):
        return self._step if self._step is not None else self.gpu.uniform(int(pos), int(n), 0, 0)

    def _rope_table(self, theta, head_dim, n_ctx, freqs=None):
        key = (float(theta), head_dim, n_ctx, None if freqs is None else np.asarray(freqs, np.float32).tobytes())
        buf = self._rope.get(key)
        if buf is None:
            cos, sin = rope_tables(theta, head_dim, n_ctx, freqs)
            buf = self.gpu.upload(np.stack([cos, sin], axis=-1).astype(np.float32), "rope table")
            self._rope[key] = buf
        return buf

    @staticmethod
    def _rows(x) -> int:
        return x.x.n if isinstance(x, _Norm) else x.n

    def _t(self, v) -> GTensor:
        """Materialise a pending value."""
        if isinstance(v, _Norm):
            return self._norm(v)
        if isinstance(v, _Proj):
            return self._project(v)
        return v

    def _norm(self, v: _Norm, residual: GTensor | None = None) -> GTensor:
        """rmsnorm.wgsl of a pending norm; with residual, that + the norm (its RESIDUAL variant)."""
        y = self.gpu.tensor(v.x.n, v.x.width)
        b = {0: self.gpu.uniform(v.x.width, v.eps, 0, 0), 3: v.x, 4: y, 5: v.w.buf}
        if residual is not None:
            b[7] = residual
        self.gpu.dispatch("rmsnorm.wgsl", {"RESIDUAL"} if residual is not None else (), b, (v.x.n, 1, 1))
        return y

    def _project(self, pr: _Proj, residual: GTensor | None = None, swiglu: bool = False,
                 geglu: bool = False, gelu: bool = False, erf: bool = False) -> GTensor:
        defines, extra_b = set(), {}
        if residual is not None:
            defines.add("RESIDUAL")
            extra_b[7] = residual
        if swiglu:
            defines.add("SWIGLU")
        if geglu:
            defines.add("GEGLU")
        if gelu:
            defines.add("GELU")
            if erf:
                defines.add("ERF")
        out_w = pr.w.rows // 2 if swiglu else pr.w.rows
        if self._rows(pr.x) <= MATVEC_MAX_TOKENS:
            return self._matvec(pr, defines, extra_b, None, out_width=out_w, pairs=swiglu)
        x = self._t(pr.x)
        w = pr.w
        if w.bias is not None:
            defines.add("BIAS")
            extra_b[6] = w.bias
        y = self.gpu.tensor(x.n, out_w)
        tiles = -(-out_w // 32) if swiglu else -(-w.rows // 64)
        params = self.gpu.uniform(w.rows, w.cols, w.row_words, x.n, w.rows // 2, 0, 0, 0)
        self.gpu.dispatch("matmul.wgsl", defines | {w.qtype}, {0: params, 2: w.buf, 3: x, 4: y, **extra_b},
                          (tiles, -(-x.n // 64), 1))
        return y

    def _fold_combine(self, x, w):
        """(partials, n_splits, head_dim) when x is decode attention's output whose combine is
        the last queued command (nothing has used x yet): that command is dropped, and the
        matvec merges the partials while loading x (removes a dispatch per layer)."""
        sp = getattr(x, "split_partials", None)
        if sp is None or x.n != 1 or not self.gpu.pending or self.gpu.pending[-1] is not sp[3]:
            return None
        part, n_splits, head_dim, _, split_len, step = sp
        if w.cols != x.width or w.cols > MATVEC_COMBINE_COLS or (w.cols // head_dim) * n_splits > MATVEC_COMBINE_SPLITS:
            return None
        self.gpu.pending.pop()
        if self.gpu.recording:
            self.gpu.recorded.pop()
        self.gpu.dispatches -= 1
        x.split_partials = None
        return part, n_splits, head_dim, split_len, step

    def _matvec_rows(self) -> int:
        """Rows per matvec workgroup: 4 x 64 lanes on GPUs, 16 x 16 on CPU-emulated adapters
        (llvmpipe, SwiftShader), where wide lanes only add reduction work (matvec.wgsl header)."""
        rows = getattr(self, "matvec_rows", None)
        if rows is None:
            rows = MATVEC_ROWS_CPU if self.adapter.is_cpu_emulation else MATVEC_ROWS
            self.matvec_rows = rows
        return rows

    def _matvec(self, pr: _Proj, defines, extra_b, pos, out_width, pairs, extra=None) -> GTensor:
        w = pr.w
        defines, b = set(defines) | {w.qtype}, dict(extra_b)
        eps = 0.0
        if isinstance(pr.x, _Norm):
            defines.add("NORM")
            b[5], eps, x = pr.x.w.buf, pr.x.eps, pr.x.x
        else:
            x = pr.x
        if w.bias is not None:
            defines.add("BIAS")
            b[6] = w.bias
        combine = self._fold_combine(x, w)
        if combine is not None:
            defines.add("COMBINE")
            b[10] = combine[0]
        rows_per_wg = self._matvec_rows()
        if rows_per_wg == MATVEC_ROWS_CPU:
            defines.add("ROWS16")
        elif w.rows >= MATVEC_WIDE_ROWS and not defines & {"SWIGLU", "ROPE", "COMBINE", "GELU"}:
            defines.add("WIDE")
            rows_per_wg *= 4
        y = self.gpu.tensor(x.n, out_width)
        blocks = -(-w.rows // rows_per_wg)  # rows (an even number: row pairs) per workgroup
        grid = self.gpu.grid(blocks, x.n)
        e = dict(extra or {})
        if combine is not None:
            e.update(head_dim=combine[2], n_splits=combine[1], split_len=combine[3])
        params = self.gpu.uniform(w.rows, w.cols, w.row_words, grid[0], w.rows // 2, eps,
                                  e.get("q_dim", 0), e.get("kv_dim", 0), e.get("head_dim", 0),
                                  e.get("neox", 0), e.get("n_ctx", 0), 0, e.get("n_splits", 0),
                                  e.get("split_len", 0))
        b.update({0: params, 2: w.buf, 3: x, 4: y})
        if "ROPE" in defines:            # only ROPE and COMBINE read the position
            b[1] = self._step_uniform(pos, x.n)
        if combine is not None:          # the attention's own step uniform
            b[1] = combine[4]
        self.gpu.dispatch("matvec.wgsl", defines, b, grid)
        return y
