"""The notebooks in notebooks/ are valid nbformat 4, committed with outputs cleared, and portable.

Portable means: each loads the model through the same first cell, which handles both
JupyterLite (fetch from the site's /models/) and CPython (the local file); and none imports
dev-only packages. Running them is tests/lite's job (in a browser).
"""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="pip install nbformat")

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))


def test_the_four_notebooks_exist():
    assert {p.stem for p in NOTEBOOKS} >= {"quickstart", "devices", "inside_the_model", "sampling"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_valid_and_cleared(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, f"{path.name} has no code"
    dirty = [i for i, c in enumerate(code) if c.outputs or c.execution_count is not None]
    assert not dirty, f"{path.name}: code cells {dirty} have outputs or execution counts (clear them)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_loads_the_model_in_both_worlds(path):
    nb = nbformat.read(path, as_version=4)
    src = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    setup = next(c.source for c in nb.cells if c.cell_type == "code")
    assert 'sys.platform == "emscripten"' in setup and "pyfetch" in setup and "default_model_path" in setup
    assert "disablePyPIFallback" not in src and "http://" not in src and "https://" not in src
    for banned in ("import torch", "import transformers", "from transformers"):
        assert banned not in src, f"{path.name} imports a dev-only package: {banned}"
