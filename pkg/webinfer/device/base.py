"""The Device protocol: the ops vocabulary the forward pass is written against.

A device owns memory (weights, activations, the KV cache) and runs ops on it. There are two
kinds: ``numpy`` (the reference and the fallback) and ``webgpu`` (WGSL kernels, over the
browser's navigator.gpu or over wgpu-py). The model code calls only what is listed here and
never asks which device it runs on.

Tensors are opaque handles: a NumPy array on the numpy device, a GPU buffer view on webgpu.
Activations are 2-D, ``(n_tokens, width)`` float32, row-major. Only ``read`` crosses back to
NumPy, and it is async (a GPU readback is).

What is *not* here: sampling policy (webinfer.sampling), the loop over tokens (webinfer.generate),
file formats (webinfer.formats).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, Sequence

import numpy as np

from ..weights import QWeight

Tensor = Any  # a device-owned activation, (n_tokens, width) float32


class KVCache(Protocol):
    n_ctx: int          # positions the cache can hold


@dataclass(frozen=True)
class Capabilities:
    """What a device can do beyond the ops every device has; callers read these, never probe."""
    reference: bool = False      # the NumPy device: the ground truth, and nothing to fall back to from it
    samples: bool = False        # ``sample(logits, temperature, top_k, top_p, min_p, u)`` picks a token on the device
    decode_ahead: bool = False   # read() submits at once: step t + 1 may be queued before token t arrives
    masks: bool = False          # ``token_mask(words)`` restricts argmax / sample to a grammar's allowed tokens


class Device(Protocol):
    name: str            # "numpy" or "webgpu"
    description: str     # shown to users: "webgpu: NVIDIA H100 (Vulkan)", "numpy: no GPU adapter"
    caps: Capabilities
    notes: list[str]     # what the device chose and why, as it went (a weight's fallback, the decode step's path)

    # -- memory, at load time --------------------------------------------------------------
    def plan_weights(self, f32_bytes: int) -> None:
        """Told once before the weights come: what they would take as float32 (the NumPy device
        then keeps them all quantized if that is over its budget)."""

    def weight(self, w: QWeight) -> Any:
        """Take a (possibly quantized) weight matrix; returns an opaque handle used by ops."""

    def vector(self, v: np.ndarray) -> Any:
        """Take a float32 vector (norm weights, biases)."""

    def kv_cache(self, n_layers: int, n_kv_heads: int, head_dim: int, n_ctx: int) -> KVCache:
        """Allocate keys and values for n_ctx positions of every layer."""

    # -- ops ---------------------------------------------------------------------------------
    def embed(self, table: Any, tokens: Sequence[int], positions: Any = None, pos: int = 0) -> Tensor:
        """Rows of the embedding table: (n_tokens, d_model); with positions (a ``vector`` of the
        (n_ctx, d_model) learned position table, GPT-2's), plus its rows pos..pos+n-1."""

    def rms_norm(self, x: Tensor, w: Any, eps: float) -> Tensor:
        """x / sqrt(mean(x^2) + eps) * w, per row."""

    def layer_norm(self, x: Tensor, w: Any, b: Any, eps: float) -> Tensor:
        """(x - mean(x)) / sqrt(var(x) + eps) * w + b, per row (biased variance, as torch's LayerNorm)."""

    def linear(self, x: Tensor, w: Any, bias: Any = None) -> Tensor:
        """x @ W^T (+ bias): (n, in) -> (n, out)."""

    def linear_swiglu(self, x: Tensor, w_gate_up: Any) -> Tensor:
        """silu(x @ Wg^T) * (x @ Wu^T) with Wg, Wu stacked as the rows of one weight: (n, in) -> (n, d_ff)."""

    def linear_geglu(self, x: Tensor, w_gate_up: Any) -> Tensor:
        """gelu_tanh(x @ Wg^T) * (x @ Wu^T), the Gemma MLP; otherwise as linear_swiglu."""

    def scale(self, x: Tensor, s: float) -> Tensor:
        """x * s (float32 s): Gemma's embedding scaling by sqrt(d_model)."""

    def softcap(self, x: Tensor, cap: float) -> Tensor:
        """tanh(x / cap) * cap: Gemma 2's soft-capping of the output logits."""

    def linear_gelu(self, x: Tensor, w: Any) -> Tensor:
        """gelu(x @ W^T + bias) with GELU's tanh form (HF's gelu_new, GPT-2's MLP):
        0.5 y (1 + tanh(sqrt(2/pi) (y + 0.044715 y^3))): (n, in) -> (n, out)."""

    def linear_gelu_erf(self, x: Tensor, w: Any) -> Tensor:
        """gelu(x @ W^T + bias) with GELU's exact form, 0.5 y (1 + erf(y / sqrt 2)) (HF's "gelu",
        BERT's MLP): (n, in) -> (n, out)."""

    def encoder_attention(self, qkv: Tensor, lengths: Sequence[int], seq_len: int, n_heads: int,
                          head_dim: int) -> Tensor:
        """Bidirectional attention of len(lengths) sequences of seq_len rows each (an encoder's
        padded batch): qkv (B * seq_len, 3 * n_heads * head_dim) holds q | k | v of row b * seq_len + i;
        its query sees keys 0..lengths[b] - 1 of its own sequence (never padding), scores scaled by
        1/sqrt(head_dim): (B * seq_len, n_heads * head_dim)."""

    def tensor(self, a: np.ndarray) -> Tensor:
        """Take a float32 (n, width) activation made on the host (an encoder's gathered embeddings)."""

    def store_kv(self, qkv: Tensor, cache: KVCache, layer: int, pos: int,
                 n_heads: int, n_kv_heads: int, head_dim: int) -> Tensor:
        """``rope_kv`` without the rotation (learned positions: GPT-2): write k and v of the fused
        (n, q_dim + 2 kv_dim) projection into the cache at positions pos..pos+n-1, return q: (n, q_dim)."""

    def head_norm(self, qkv: Tensor, q_w: Any, k_w: Any, n_heads: int, n_kv_heads: int,
                  head_dim: int, eps: float) -> Tensor:
        """RMSNorm of each query head and each key head of the fused (n, q_dim + 2 kv_dim)
        projection, over its head_dim values, scaled by q_w or k_w (``vector``s of head_dim):
        the same (n, q_dim + 2 kv_dim) with v unchanged, for ``rope_kv`` (Qwen3, Gemma 3)."""

    def rope_kv(self, qkv: Tensor, cache: KVCache, layer: int, pos: int,
                n_heads: int, n_kv_heads: int, head_dim: int, theta: float, neox: bool,
                freqs: np.ndarray | None = None) -> Tensor:
        """Split the fused (n, q_dim + 2 kv_dim) projection, rotate q and k for positions pos..pos+n-1,
        write k and v into the cache at those positions, and return the rotated q: (n, q_dim).
        The angle of pair i at position p is p * theta^(-2i/head_dim), or p * freqs[i] where freqs
        (head_dim/2 float32 inverse frequencies: Llama 3's scaled RoPE, Gemma 3's linearly scaled
        global layers) is given."""

    def attention(self, q: Tensor, cache: KVCache, layer: int, pos: int,
                  n_heads: int, n_kv_heads: int, head_dim: int,
                  scale: float = 0.0, window: int = 0, softcap: float = 0.0) -> Tensor:
        """Causal grouped-query attention of q (rows at positions pos..pos+n-1) over the cache
        positions 0..pos+n-1, scores scaled by `scale` (0: 1/sqrt(head_dim)): (n, q_dim).
        window > 0: a query at position p sees only keys p - window + 1..p (sliding-window layers;
        the cache still holds every position). softcap > 0: scores -> tanh(s / softcap) * softcap
        after the scaling (Gemma 2)."""

    def add(self, a: Tensor, b: Tensor) -> Tensor:
        """a + b (the residual)."""

    def last_row(self, x: Tensor) -> Tensor:
        """x[-1:], the only row whose logits a prompt needs."""

    def argmax(self, logits: Tensor) -> Tensor:
        """Greedy token of each row (ties -> lowest id)."""

    async def read(self, x: Tensor) -> np.ndarray:
        """Copy a tensor back to NumPy."""

    def token_mask(self, words: np.ndarray | None) -> None:
        """Only where caps.masks (WebGPU; elsewhere a constraint masks the logits on the host):
        from now on argmax and sample pick only among the tokens the bit mask `words` allows
        (grammar.mask.pack_ids' layout), None: every token. Set it before the decode step whose
        logits it applies to is queued: a fused step picks its greedy token inside itself."""

    # -- the decode step and what the device says of itself -----------------------------------------
    def replay(self, key: Any, forward, token: Any, pos: int) -> Tensor:
        """One decode step: ``forward(tokens, pos)`` -> logits, where tokens is [token] or the (1, 1)
        tensor ``argmax`` returned. A device may record the ops forward issues the first time for
        ``key`` and replay them for later positions (WebGPU); NumPy just calls it."""

    def decode_path(self) -> str:
        """How decode steps run here, and why (shown by bench and the page's status)."""

    def dispatch_count(self) -> int:
        """GPU dispatches so far (0 where there are none)."""

    async def check_errors(self) -> None:
        """Raise DeviceError for an error the device reported late (a browser's WebGPU reports
        them asynchronously); nothing on a device that reports at once."""
