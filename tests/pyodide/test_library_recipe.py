"""The library recipe (docs/library.md, examples/micropip_app/app.py) in a bare Pyodide.

Runs the example app's own Python file, on Node and in Chromium without WebGPU:
`install(<wheel URL>)` through micropip from the local server (every other host refused),
then `load_model(<model URL>)` and `generate(...)` on the real model, streaming deltas.
Checks the streamed text is the answer and came in pieces.
"""

from __future__ import annotations

import pytest
from pytest_pyodide import run_in_pyodide

from pyodide_fixtures import REPO

pytestmark = [pytest.mark.pyodide, pytest.mark.slow]


@pytest.fixture(scope="module")
def app_source() -> str:
    return (REPO / "examples" / "micropip_app" / "app.py").read_text()


@run_in_pyodide(packages=["micropip"])
async def test_example_app_installs_loads_and_generates(selenium_bare, app_source, webinfer_url, model_url):
    app = {}
    exec(app_source, app)
    version = await app["install"](webinfer_url)
    model = await app["load_model"](model_url)
    pieces = []
    text = await app["generate"](model, "What is the capital of France?", pieces.append, max_tokens=24)
    assert version
    assert "Paris" in text, text
    assert len(pieces) >= 3 and "".join(pieces) == text, pieces
    assert model.device.name == "numpy", model.device.description
