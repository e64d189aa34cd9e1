"""WGSL sources: find the .wgsl files and expand their variants.

The shaders live as real files (the repo's ``shaders/``, shipped as ``webinfer/shaders/`` in
the wheel). A variant is a set of names: ``#ifdef NAME`` / ``#ifndef`` / ``#else`` / ``#endif``
keep or drop lines (``#ifdef A B``: any of the names; ``#ifndef A B``: none of them),
``#include "file.wgsl"`` pastes another file once (a later include of it in the same expansion
pastes nothing: quant.wgsl's helpers, which several types' decoders include), ``{{NAME}}`` is
replaced by a value. ``#each T in NAME`` ... ``#endeach`` repeats the lines between once per word of the value
NAME (a space-separated list), ``{{T}}`` in them replaced by the word and ``{{t}}`` by it in
lower case (a switch with one case per weight type the variant uses, say). Anything left over
(an unknown directive, an unmatched ``#endif``, a ``{{NAME}}`` with no value) is an error here,
not a confusing WGSL compile error later.

Not here: compiling (the adapter) or choosing variants (the device).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from ...errors import DeviceError

_DIRECTIVE = re.compile(r"^\s*#(ifdef|ifndef|else|endif|include|each|endeach)\b\s*(.*?)\s*$")
_EACH = re.compile(r"^(\w+) in (\w+)$")
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


def shader_dir() -> Path:
    """webinfer/shaders/ inside an installed wheel, else the source tree's top-level shaders/
    (found from this file's place: no import of the package)."""
    pkg = Path(__file__).resolve().parents[2]          # .../webinfer (device/webgpu/shaders.py)
    for d in (pkg / "shaders", pkg.parents[1] / "shaders"):
        if d.is_dir():
            return d
    raise DeviceError(f"WGSL shaders not found (looked in {pkg / 'shaders'} and {pkg.parents[1] / 'shaders'})")


@lru_cache(maxsize=None)
def _read(name: str) -> str:
    path = shader_dir() / name
    if not path.is_file():
        raise DeviceError(f"shader file {name!r} not found in {shader_dir()}")
    return path.read_text()


def expand(name: str, defines: frozenset[str] = frozenset(), values: dict | None = None) -> str:
    """The WGSL of shader `name` for the variant `defines` (+ `{{NAME}}` values)."""
    values = values or {}
    out = _expand_lines(name, _read(name).splitlines(), defines, values, depth=0, seen={name})
    text = _PLACEHOLDER.sub(lambda m: _value(m.group(1), values, name), "\n".join(out))
    return text + "\n"


def _value(key: str, values: dict, name: str) -> str:
    if key not in values:
        raise DeviceError(f"{name}: no value for placeholder {{{{{key}}}}}")
    return str(values[key])


def _expand_lines(name: str, lines: list[str], defines: frozenset[str], values: dict, depth: int,
                  seen: set[str]) -> list[str]:
    if depth > 4:
        raise DeviceError(f"{name}: #include nested too deeply")
    out: list[str] = []
    stack: list[tuple[bool, bool]] = []   # (this branch active, enclosing active)
    active = True
    each: tuple[int, str, str, list[str]] | None = None   # an open #each: line, variable, list name, its lines
    for lineno, line in enumerate(lines, 1):
        m = _DIRECTIVE.match(line)
        if each is not None:                 # collect up to #endeach; the copies are expanded then
            if m is not None and m.group(1) == "each":
                raise DeviceError(f"{name}:{lineno}: #each inside #each")
            if m is None or m.group(1) != "endeach":
                each[3].append(line)
                continue
            start, var, key, body = each
            each = None
            if active:
                for word in _value(key, values, name).split():
                    copy = [b.replace("{{" + var + "}}", word).replace("{{" + var.lower() + "}}", word.lower())
                            for b in body]
                    out.extend(_expand_lines(f"{name}:{start} ({var}={word})", copy, defines, values, depth + 1,
                                                seen))
            continue
        if m is None:
            if line.lstrip().startswith("#"):
                raise DeviceError(f"{name}:{lineno}: unknown directive {line.strip()!r}")
            if active:
                out.append(line)
            continue
        kind, arg = m.groups()
        if kind in ("ifdef", "ifndef"):
            cond = any(n in defines for n in arg.split()) == (kind == "ifdef")
            stack.append((cond, active))
            active = active and cond
        elif kind == "else":
            if not stack:
                raise DeviceError(f"{name}:{lineno}: #else without #ifdef")
            cond, outer = stack[-1]
            stack[-1] = (not cond, outer)
            active = outer and not cond
        elif kind == "endif":
            if not stack:
                raise DeviceError(f"{name}:{lineno}: #endif without #ifdef")
            _, active = stack.pop()
        elif kind == "each":
            e = _EACH.match(arg)
            if e is None:
                raise DeviceError(f"{name}:{lineno}: expected '#each VAR in NAME', got {line.strip()!r}")
            each = (lineno, e.group(1), e.group(2), [])
        elif kind == "endeach":
            raise DeviceError(f"{name}:{lineno}: #endeach without #each")
        elif active:  # include
            inc = arg.strip('"')
            if inc not in seen:
                seen.add(inc)
                out.extend(_expand_lines(inc, _read(inc).splitlines(), defines, values, depth + 1, seen))
    if each is not None:
        raise DeviceError(f"{name}:{each[0]}: #each not closed")
    if stack:
        raise DeviceError(f"{name}: {len(stack)} #ifdef block(s) not closed")
    return out
