"""The NumPy device's WebAssembly SIMD kernels: the bytes of the shipped side module.

What it is: wasm_module(fused), the bytes of wasm/kernels.wasm or wasm/kernels_fused.wasm (package
data) that blas.py links into Pyodide's own memory, and PREFIX, which names their exports. The
kernels themselves, their calling convention (the arguments blas.py passes) and why each is built
the way it is are in wasm/kernels.wat, the source of both files. tools/build_wasm.py (`make wasm`)
assembles it; the .wasm files are committed because Pyodide has no assembler, and
tests/unit/test_wasm_kernels_source.py fails when they no longer match the source.

fused=True is the module whose mm and mmn multiply-add with relaxed SIMD's f32x4.relaxed_madd (one
FMA instruction where the CPU has it); only engines with relaxed SIMD compile it, so blas.py tries it
first and falls back to the plain one.

What it is not: the loader, the fallbacks or the choice of kernel (blas.py), nor the model's ops
(numpy_device.py).
"""

from __future__ import annotations

import functools
from importlib import resources

# Exports enter Emscripten's symbol table beside libc's and numpy's: a bare "exp" would replace libm's.
PREFIX = "webinfer_"


@functools.cache
def wasm_module(fused: bool = False) -> bytes:
    """The side module: a dylink.0 section first (no data, no table), env.memory imported, the kernels
    exported as PREFIX + name.
    fused: mm and mmn multiply-add with f32x4.relaxed_madd (a module only engines with relaxed SIMD
    compile)."""
    name = "kernels_fused.wasm" if fused else "kernels.wasm"
    return (resources.files(__package__) / "wasm" / name).read_bytes()
