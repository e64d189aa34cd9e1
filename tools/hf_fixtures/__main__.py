"""python3 -m tools.hf_fixtures [NAME ...]: (re)write tests/data/arch/NAME.* (all fixtures by default)."""

from __future__ import annotations

import argparse
import importlib

from . import FIXTURES


def main() -> None:
    ap = argparse.ArgumentParser(prog="python3 -m tools.hf_fixtures", description=__doc__)
    ap.add_argument("names", nargs="*", help=f"fixtures to build (default: all of {', '.join(FIXTURES)})")
    args = ap.parse_args()
    from .common import build
    for name in args.names or FIXTURES:
        if name not in FIXTURES:
            ap.error(f"unknown fixture {name!r} (known: {', '.join(FIXTURES)})")
        build(importlib.import_module(f"{__package__}.{name}"))


if __name__ == "__main__":
    main()
