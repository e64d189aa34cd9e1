"""The tensor checks every network runs before loading: a tensor the forward pass reads is present
with the shape the file's keys imply, else a GGUFError that names it (and, where given, the key
the shape comes from)."""

from __future__ import annotations

from ..errors import GGUFError


def require_tensors(tensors, want: dict, missing: str = "") -> None:
    """tensors: name -> info with .shape. want: name -> shape, or -> (shape, why) where `why` names
    the metadata keys the shape comes from. `missing`: words added to a missing tensor's error."""
    for name, spec in want.items():
        shape, why = spec if isinstance(spec[0], tuple) else (spec, "")
        info = tensors.get(name)
        if info is None:
            raise GGUFError(f"missing required tensor {name!r}{missing}")
        if tuple(info.shape) != shape:
            raise GGUFError(f"tensor {name!r} has shape {tuple(info.shape)}, expected {shape}"
                            + (f" from the metadata: {why}" if why else ""))


def require_positions(tensors, d: int, n: int, what: str = "") -> None:
    """A learned position table 'position_embd.weight' of at least n rows of width d."""
    pe = tensors.get("position_embd.weight")
    if pe is None:
        raise GGUFError("missing required tensor 'position_embd.weight'")
    if len(pe.shape) != 2 or pe.shape[1] != d or pe.shape[0] < n:
        raise GGUFError(f"tensor 'position_embd.weight' has shape {tuple(pe.shape)}, expected ({n}, {d}){what}")
