"""Every notebook, opened in JupyterLite in headless Chromium (no WebGPU) and run top to bottom.

Checks per notebook: every code cell ran (an execution count, no "[*]"), no error output
(a traceback in any output), no request left the site's origin, and the expected outputs are
there: the quickstart's answer ("Paris"), at least one image per plotting notebook, and the
no-GPU note of the devices notebook, the retrieval notebook's grounded answer (the made-up
capital, only with retrieval) and the chunks it used, and the structured notebook's records (each
one parses and validates against the schema it printed) and its refused keyword. The kernel boots
the local Pyodide and installs webinfer and matplotlib offline (disablePyPIFallback), and fetches
the model from /models/.
Budget: ~1 min per notebook here (kernel start + 98 MB model + NumPy in WebAssembly).
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow   # the real model, a browser and a JupyterLite build

ERROR_MARKERS = ("Traceback (most recent call last)", "Error:", "Exception:")


def _check_ran(run, name):
    outs = run.outputs()
    errors = [t for mime, t in outs if "stderr" in mime or "error" in mime if any(m in t for m in ERROR_MARKERS)]
    detail = (f"{name}: {run.seconds:.0f} s; kernel idle before Run All: {run.kernel_idle}; Run All given again: "
              f"{run.reruns}; prompts {run.prompts()}; last logs:\n" + "\n".join(run.logs[-15:]))
    assert run.finished, "not every cell ran: " + detail
    assert not errors, f"{name} has error output:\n" + "\n---\n".join(e[-1500:] for e in errors)
    assert not run.external, f"{name} requested other origins: {run.external[:5]}"
    return "\n".join(t for _, t in outs)


def test_quickstart_answers(run_notebook):
    run = run_notebook("quickstart.ipynb")
    text = _check_ran(run, "quickstart")
    assert "on Pyodide 3.12" in text
    answer = [line for line in text.splitlines() if line.startswith("ANSWER:")]
    assert answer and "Paris" in answer[0], text[-2000:]


@pytest.mark.parametrize("name,expect", [
    ("inside_the_model.ipynb", "layer 29:"),
    ("sampling.ipynb", "keeps"),
    ("devices.ipynb", "No usable WebGPU here"),
])
def test_plotting_notebooks(run_notebook, name, expect):
    run = run_notebook(name, timeout_s=200)
    text = _check_ran(run, name)
    assert expect in text, text[-2000:]
    assert run.images() >= 1, f"{name}: no image output"


def test_retrieval_notebook_grounds_the_answer(run_notebook):
    from webinfer.embed import default_embedder_path
    if not (default_embedder_path() / "model.safetensors").is_file():
        pytest.skip(f"embedding model not at {default_embedder_path()}: run `make embed-model` "
                    "(tests/unit/test_rag_ground.py tests the same with it)")
    run = run_notebook("retrieval.ipynb", timeout_s=240)
    text = _check_ran(run, "retrieval")
    lines = text.splitlines()
    without = [line for line in lines if line.startswith("WITHOUT:")]
    with_ = [line for line in lines if line.startswith("WITH:")]
    assert without and "Lutz" not in without[0], text[-2000:]
    assert with_ and "Lutz" in with_[0], text[-2000:]
    assert any(line.startswith("SOURCE [1] zubrowka.txt") for line in lines), text[-2000:]
    assert run.images() >= 1, "retrieval: no image output"


def test_structured_notebook_extracts_valid_records(run_notebook):
    import json

    import jsonschema
    run = run_notebook("structured.ipynb", timeout_s=240)
    text = _check_ran(run, "structured")
    lines = text.splitlines()
    schema = json.loads(next(line for line in lines if line.startswith("SCHEMA:")).removeprefix("SCHEMA:"))
    records = [json.loads(line.removeprefix("RECORD:")) for line in lines if line.startswith("RECORD:")]
    assert len(records) == 6, text[-2000:]
    for record in records:
        jsonschema.validate(record, schema)
    assert sum(line.startswith("CHECK:") for line in lines) == 6, text[-2000:]
    refused = [line for line in lines if line.startswith("REFUSED:")]
    assert refused and "'format'" in refused[0], text[-2000:]
    assert run.images() >= 1, "structured: no image output"
