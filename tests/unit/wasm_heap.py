"""The shipped wasm kernels module under wasmtime, for the tests that run its kernels against
NumPy (test_wasm_kernels_source.py, test_wasm_dequant.py)."""

from __future__ import annotations

import pytest

from webinfer.device.wasm_kernels import wasm_module


class WasmHeap:
    """One shipped module (fused: the relaxed-SIMD one) instantiated on a fresh memory of `pages`
    64 KiB pages; its exports by name."""

    def __init__(self, fused: bool, pages: int):
        wt = pytest.importorskip("wasmtime", reason="runs the kernels (pip install wasmtime)")
        cfg = wt.Config()
        cfg.wasm_simd = cfg.wasm_relaxed_simd = True
        engine = wt.Engine(cfg)
        self.wt, self.store = wt, wt.Store(engine)
        self.memory = wt.Memory(self.store, wt.MemoryType(wt.Limits(pages, None)))
        module = wt.Module(engine, wasm_module(fused))
        self.exports = wt.Instance(self.store, module, [self.memory]).exports(self.store)
