"""The `webinfer` command line, run as a subprocess the way scripts run it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run(*args, input=None, timeout=300):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "pkg")}
    return subprocess.run([sys.executable, "-m", "webinfer", *args], capture_output=True, text=True,
                          env=env, input=input, timeout=timeout)


def test_generate_json_greedy_equals_the_golden(model_path, goldens):
    case = next(c for c in goldens["cases"] if c["name"] == "raw_capital_france")
    n = 20
    p = run("generate", "--model", str(model_path), "--device", "numpy", "--temperature", "0",
            "--max-tokens", str(n), "--json", case["prompt"])
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert set(out) >= {"text", "token_ids", "finish_reason", "device", "prompt_tokens", "completion_tokens",
                        "prefill_tok_s", "decode_tok_s"}
    assert out["token_ids"] == case["generated_ids"][:n]
    assert out["prompt_tokens"] == len(case["prompt_ids"]) and out["completion_tokens"] == n
    assert out["finish_reason"] == "length" and out["device"].startswith("numpy")


def test_generate_chat_prints_only_the_text(model_path, goldens):
    case = next(c for c in goldens["cases"] if c["name"] == "chat_translate")
    p = run("generate", "--model", str(model_path), "--device", "numpy", "--temperature", "0", "--chat",
            "--max-tokens", "48", case["messages"][0]["content"])
    assert p.returncode == 0, p.stderr
    assert p.stdout == case["generated_text"] + "\n"


def test_chat_is_interactive_and_multi_turn(model_path):
    p = run("chat", "--model", str(model_path), "--device", "numpy", "--temperature", "0", "--max-tokens", "12",
            input="What is the capital of France?\n/new\nWhat is 2 + 2?\n")
    assert p.returncode == 0, p.stderr
    assert "Paris" in p.stdout and p.stdout.count("\n") >= 2
    assert "tok/s" in p.stderr


def test_info_describes_the_file(model_path):
    p = run("info", str(model_path), "--json")
    assert p.returncode == 0, p.stderr
    info = json.loads(p.stdout)
    assert info["arch"] == "llama" and info["layers"] == 30 and info["vocab"] == 49152
    assert info["tensor_types"] == {"Q8_0": 1, "F32": 61, "Q4_1": 210}
    assert info["chat_template"] == "chatml" and info["runnable"] == "yes"
    text = run("info", str(model_path))
    assert text.returncode == 0 and "Q4_1" in text.stdout


@pytest.mark.parametrize("args, message", [
    (["generate", "--model", "/nonexistent/model.gguf", "hi"], "model file not found"),
    (["info", "{bad}"], "not a gguf file"),
    (["generate", "--model", "{bad}", "--system", "x", "hi"], "not a gguf file"),
])
def test_errors_are_one_line_without_traceback(tmp_path, args, message):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"NOPE" + bytes(60))
    p = run(*[a.replace("{bad}", str(bad)) for a in args])
    assert p.returncode != 0
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("webinfer: error:"), p.stderr
    assert message in lines[0].lower() and "Traceback" not in p.stderr


def test_unknown_option_is_a_usage_error():
    p = run("generate", "--bogus", "x")
    assert p.returncode == 2 and "usage:" in p.stderr
