"""What the CPython benchmark scripts share: this checkout's package first on sys.path (they run
from the source tree, on the GPU machine too, without installing), and a synthetic model (the
tests' helper, tests/synthetic_model.py: tests/ goes on sys.path too, last).

    import _common                      # (bench/ is the script's own folder: first on sys.path)
    path = _common.synthetic_model(n_layers=2)

Where PYTHONPATH names a folder that holds a webinfer package (a wheel installed with
`pip install --target`, as bench/gpu_browser/native_ab.sh does to time another version), that
webinfer is the one imported and pkg/ is not put on sys.path.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _webinfer_on_pythonpath() -> bool:
    return any((Path(p) / "webinfer" / "__init__.py").is_file()
               for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p)


if not _webinfer_on_pythonpath() and str(REPO / "pkg") not in sys.path:
    sys.path.insert(0, str(REPO / "pkg"))
if str(REPO / "tests") not in sys.path:
    sys.path.append(str(REPO / "tests"))


def synthetic_model(**shapes) -> str:
    """A random-weight SmolLM2-135M-shaped GGUF (some shapes overridden) in a fresh temp folder."""
    from synthetic_model import build_synthetic_model
    return str(build_synthetic_model(Path(tempfile.mkdtemp()) / "s.gguf", shapes=shapes or None))
