"""What the CPython benchmark scripts share: this checkout's package first on sys.path (they run
from the source tree, on the GPU machine too, without installing), and a synthetic model.

    import _common                      # (bench/ is the script's own folder: first on sys.path)
    path = _common.synthetic_model(n_layers=2)
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO / "pkg") not in sys.path:
    sys.path.insert(0, str(REPO / "pkg"))


def synthetic_model(**shapes) -> str:
    """A random-weight SmolLM2-135M-shaped GGUF (some shapes overridden) in a fresh temp folder."""
    from webinfer.bench import build_synthetic_model
    return str(build_synthetic_model(Path(tempfile.mkdtemp()) / "s.gguf", shapes=shapes or None))
