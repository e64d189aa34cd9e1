"""Where model bytes come from: a path, bytes in memory, or a URL; and the default model.

A path is memory-mapped (zero copy); bytes / memoryview (the browser's File or fetch result)
are viewed in place; a URL is downloaded with progress. Not here: parsing (formats.gguf).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from .errors import WebinferError
from .formats.gguf import read_gguf

DEFAULT_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_MODEL_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

Progress = Callable[[int, int], None]   # (done, total); total 0 when unknown


def cache_dir() -> Path:
    """WEBINFER_CACHE, else ~/.cache/webinfer."""
    return Path(os.environ.get("WEBINFER_CACHE") or Path.home() / ".cache" / "webinfer")


def default_model_path() -> Path:
    """The default model (SmolLM2-135M-Instruct Q4_1) in the cache; WEBINFER_MODEL overrides."""
    env = os.environ.get("WEBINFER_MODEL")
    return Path(env) if env else cache_dir() / "models" / DEFAULT_MODEL_FILE


def is_url(source) -> bool:
    return isinstance(source, str) and source.startswith(("http://", "https://"))


def open_source(source=None, progress: Progress | None = None):
    """A GGUFFile from a path, bytes-like, or URL (CPython: urllib). None means the default model."""
    if source is None:
        path = default_model_path()
        if not path.exists():
            raise WebinferError(
                f"default model not found at {path}; fetch it with `make model` "
                "(python3 tools/fetch_model.py) or pass a GGUF path or URL")
        source = path
    if is_url(source):
        source = download(source, progress)
    elif isinstance(source, (str, os.PathLike)):
        if not Path(source).exists():
            raise WebinferError(f"model file not found: {source}")
        if progress:
            size = Path(source).stat().st_size
            progress(size, size)
    return read_gguf(source)


def download(url: str, progress: Progress | None = None, chunk: int = 1 << 20) -> bytearray:
    """Fetch a URL into memory (CPython). In the browser the page fetches and passes bytes."""
    import urllib.request
    try:
        with urllib.request.urlopen(url) as r:
            total = int(r.headers.get("Content-Length") or 0)
            buf = bytearray()
            while True:
                part = r.read(chunk)
                if not part:
                    break
                buf += part
                if progress:
                    progress(len(buf), total)
    except OSError as e:
        raise WebinferError(f"could not download {url}: {e}") from None
    return buf
