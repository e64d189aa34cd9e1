"""pyproject lists every package under pkg/ (the list is explicit because webinfer.shaders
lives in shaders/), and the console script points at a real function. The built wheel's
contents (shaders included) are checked in tests/pyodide/test_pyodide_install.py."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_package_dir_is_listed_in_pyproject():
    conf = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = set(conf["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT / "pkg").parts) for p in (ROOT / "pkg").rglob("__init__.py")}
    assert found - listed == set(), f"add to [tool.setuptools] packages: {sorted(found - listed)}"
    assert "webinfer.shaders" in listed and sorted((ROOT / "shaders").glob("*.wgsl"))


def test_console_script_target_exists():
    conf = tomllib.loads((ROOT / "pyproject.toml").read_text())
    module, func = conf["project"]["scripts"]["webinfer"].split(":")
    import importlib
    assert callable(getattr(importlib.import_module(module), func))
