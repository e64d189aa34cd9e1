"""The library recipe (docs/library.md, examples/micropip_app/app.py) in a bare Pyodide.

Runs the example app's own Python file: `install(<wheel url>)` through micropip with every
fetch blocked (the wheel comes from the mounted folder), then `load_model(bytes)` and
`generate(...)` on the real model, streaming deltas. Checks the streamed text is the answer.
"""

from __future__ import annotations

import pytest

from pyodide_node import MODEL_MOUNT, REPO, WHEEL_MOUNT, model_path

pytestmark = [pytest.mark.pyodide, pytest.mark.slow]

APP = REPO / "examples" / "micropip_app" / "app.py"


def test_example_app_installs_loads_and_generates(node_pyodide, webinfer_wheel):
    path = model_path()
    if not path.is_file():
        pytest.skip(f"model not found at {path} (set WEBINFER_MODEL or download the default model)")
    out = node_pyodide.run(
        f"""
import pyodide_js
await pyodide_js.loadPackage("micropip")
app = {{}}
exec({APP.read_text()!r}, app)
version = await app["install"]("emfs:{WHEEL_MOUNT}/{webinfer_wheel.name}")
with open("{MODEL_MOUNT}/{path.name}", "rb") as f:
    model = await app["load_model"](f.read())
pieces = []
text = await app["generate"](model, "What is the capital of France?", pieces.append, max_tokens=24)
{{"version": version, "text": text, "pieces": len(pieces), "device": model.device.name}}
""",
        what="running examples/micropip_app/app.py",
    )
    assert out["version"]
    assert "Paris" in out["text"], out
    assert out["pieces"] >= 3 and out["device"] == "numpy"
