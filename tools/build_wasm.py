#!/usr/bin/env python3
"""Assemble the NumPy device's wasm SIMD kernels: pkg/webinfer/device/wasm/kernels.wat into
kernels.wasm and kernels_fused.wasm beside it (both committed; Pyodide has no assembler).

    python3 tools/build_wasm.py            # (make wasm) write both after editing kernels.wat
    python3 tools/build_wasm.py --check    # exit 1 where a shipped .wasm differs from the source

The assembler is the wat2wasm of the `wasmtime` package (`pip install -e ".[test]"`): it writes
the `(@dylink.0 ...)` annotation as the first section, as Emscripten's side-module loader needs.
Its "name" section (names of functions, locals and labels) is dropped: the module stays as small
as the code, and its bytes depend on the instruction encoding only, not on the assembler's version.

The fused variant is the same text with one rule (kernels.wat's header says why): on each line
ending in ";; madd", (f32x4.add (local.get $acc) (f32x4.mul A B)) becomes
(f32x4.relaxed_madd A B (local.get $acc)), A and B local.gets. A marked line the rule does not
match exactly once is an error, and so is a source without marked lines.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WASM_DIR = REPO / "pkg" / "webinfer" / "device" / "wasm"
SOURCE = WASM_DIR / "kernels.wat"
OUTPUTS = {False: WASM_DIR / "kernels.wasm", True: WASM_DIR / "kernels_fused.wasm"}

MARK = ";; madd"
_GET = r"\(local\.get \$[\w.]+\)"
_MADD = re.compile(rf"\(f32x4\.add ({_GET}) \(f32x4\.mul ({_GET}) ({_GET})\)\)")


def fused_source(text: str) -> str:
    """kernels.wat with every marked multiply-add turned into one f32x4.relaxed_madd."""
    lines, sites = text.splitlines(keepends=True), 0
    for i, line in enumerate(lines):
        if line.rstrip().endswith(MARK):
            lines[i], n = _MADD.subn(r"(f32x4.relaxed_madd \2 \3 \1)", line)
            if n != 1:
                raise ValueError(f"kernels.wat:{i + 1}: a line marked '{MARK}' needs exactly one "
                                 f"(f32x4.add (local.get $acc) (f32x4.mul (local.get $a) (local.get $b))), "
                                 f"found {n}: {line.strip()}")
            sites += 1
    if not sites:
        raise ValueError(f"kernels.wat: no line marked '{MARK}', so the fused variant would equal the plain one")
    return "".join(lines)


def read_uleb(data: bytes, pos: int) -> tuple[int, int]:
    """An unsigned LEB128 at pos: (value, position after it)."""
    value = shift = 0
    while True:
        b = data[pos]
        value, pos, shift = value | (b & 0x7F) << shift, pos + 1, shift + 7
        if not b & 0x80:
            return value, pos


def _uleb(n: int) -> bytes:
    """n as an unsigned LEB128."""
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def sections(module: bytes) -> list[tuple[int, bytes]]:
    """The module's sections in order, as (id, payload); a custom section's payload starts with its name."""
    if module[:8] != b"\x00asm\x01\x00\x00\x00":
        raise ValueError("not a wasm 1.0 module")
    out, pos = [], 8
    while pos < len(module):
        sid, (size, pos) = module[pos], read_uleb(module, pos + 1)
        out.append((sid, bytes(module[pos:pos + size])))
        pos += size
    return out


def custom_name(payload: bytes) -> str:
    """The name a custom section's payload starts with."""
    n, pos = read_uleb(payload, 0)
    return payload[pos:pos + n].decode()


def assemble(fused: bool, text: str | None = None) -> bytes:
    """The module's bytes from kernels.wat (or text), without the "name" section."""
    from wasmtime import wat2wasm   # build and test only: not a run-time dependency

    text = SOURCE.read_text() if text is None else text
    module = bytes(wat2wasm(fused_source(text) if fused else text))
    out = bytearray(module[:8])
    for sid, payload in sections(module):
        if not (sid == 0 and custom_name(payload) == "name"):
            out += bytes([sid]) + _uleb(len(payload)) + payload
    return bytes(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compare with the shipped files, write nothing")
    args = ap.parse_args()
    try:
        built = {fused: assemble(fused) for fused in OUTPUTS}
    except ImportError:
        print("build_wasm: needs the wasmtime package: python3 -m pip install wasmtime", file=sys.stderr)
        return 2
    stale = [path for fused, path in OUTPUTS.items() if not path.exists() or path.read_bytes() != built[fused]]
    if args.check:
        for path in stale:
            print(f"{path.relative_to(REPO)} is stale: run python3 tools/build_wasm.py", file=sys.stderr)
        return 1 if stale else 0
    for fused, path in OUTPUTS.items():
        path.write_bytes(built[fused])
        print(f"{path.relative_to(REPO)}: {len(built[fused])} bytes"
              + (" (rewritten)" if path in stale else " (unchanged)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
