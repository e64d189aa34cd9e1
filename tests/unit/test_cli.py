"""The `webinfer` command line, run as a subprocess the way scripts run it."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "pkg"), "PYTHONUNBUFFERED": "1"}


def run(*args, input=None, timeout=300, env=None):
    return subprocess.run([sys.executable, "-m", "webinfer", *args], capture_output=True, text=True,
                          env=env or ENV, input=input, timeout=timeout)


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
    assert p.stderr.count("tok/s") == 2
    assert "(new chat: the conversation so far is forgotten)" in p.stderr


def test_chat_slash_commands_never_reach_the_model(model_path):
    p = run("chat", "--model", str(model_path), "--device", "numpy", "--temperature", "0", "--max-tokens", "8",
            input="/help\n/bogus what\n/system Answer in one word.\n/system\n/quit\nWhat is 2 + 2?\n")
    assert p.returncode == 0, p.stderr
    assert "tokens," not in p.stderr and p.stdout.strip(" >\n") == ""   # no answer: nothing was sent
    err = p.stderr
    for name in ("/help", "/new", "/system [TEXT]", "/quit"):
        assert err.count(f"  {name} ") == 2, err                        # /help, and /bogus's help
    assert "unknown command /bogus" in err
    assert "(system message set)" in err and "(system message: 'Answer in one word.')" in err


class Chat:
    """`webinfer chat` as a child process, its stdout and stderr read as they come."""

    def __init__(self, *args):
        self.p = subprocess.Popen([sys.executable, "-m", "webinfer", "chat", *args], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
        self.out, self.err = [], []
        for stream, into in ((self.p.stdout, self.out), (self.p.stderr, self.err)):
            threading.Thread(target=self._read, args=(stream, into), daemon=True).start()

    @staticmethod
    def _read(stream, into):
        while ch := stream.read(1):
            into.append(ch)

    def text(self, which) -> str:
        return "".join(self.out if which == "out" else self.err)

    def wait_for(self, which, pattern, timeout=300, start=0):
        """The first match of regex `pattern` in stdout/stderr after offset `start`."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            m = re.compile(pattern).search(self.text(which), start)
            if m:
                return m
            if self.p.poll() is not None:
                break
            time.sleep(0.02)
        raise AssertionError(f"no {pattern!r} on std{which}; stdout {self.text('out')!r}, stderr {self.text('err')!r}")

    def send(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()


def test_ctrl_c_cancels_the_answer_and_at_the_prompt_leaves(model_path):
    chat = Chat("--model", str(model_path), "--device", "numpy", "--temperature", "0", "--max-tokens", "400")
    try:
        chat.wait_for("out", r"> $")
        chat.send("Write a long story about a dragon who learns to fly.")
        chat.wait_for("out", r"> \S.{20}")                    # the answer is streaming
        chat.p.send_signal(signal.SIGINT)                      # a real Ctrl-C, mid-answer
        done = chat.wait_for("err", r"\[(\d+) tokens, [\d.]+ tok/s, (\w+)\]")
        assert done.group(2) == "cancelled" and 0 < int(done.group(1)) < 400, chat.text("err")
        # the chat goes on: the next question gets its answer
        chat.wait_for("out", r"> $")
        chat.send("What is the capital of France?")
        second = chat.wait_for("err", r"\[(\d+) tokens, [\d.]+ tok/s, (\w+)\]", start=done.end())
        assert second.group(2) == "stop" and "Paris" in chat.text("out")
        chat.wait_for("out", r"> $")
        chat.p.send_signal(signal.SIGINT)                      # Ctrl-C at the prompt: leave
        assert chat.p.wait(timeout=60) == 0
    finally:
        if chat.p.poll() is None:
            chat.p.kill()
    assert "Traceback" not in chat.text("err") and "KeyboardInterrupt" not in chat.text("err")


def test_info_describes_the_file(model_path):
    p = run("info", str(model_path), "--json")
    assert p.returncode == 0, p.stderr
    info = json.loads(p.stdout)
    assert info["arch"] == "llama" and info["layers"] == 30 and info["vocab"] == 49152
    assert info["tensor_types"] == {"Q8_0": 1, "F32": 61, "Q4_1": 210}
    assert info["chat_template"] == "chatml" and info["runnable"] == "yes"
    assert info["on_numpy"] == "float32 weights (513 MiB)" and info["on_webgpu"] == "the fused decode step"
    text = run("info", str(model_path))
    assert text.returncode == 0 and "Q4_1" in text.stdout


def test_info_says_a_k_quant_model_runs_the_fused_step_and_a_big_one_stays_in_blocks(tmp_path, monkeypatch):
    from synthetic_model import build_synthetic_model
    path = build_synthetic_model(tmp_path / "k.gguf", shapes=dict(n_layers=1, d_model=256, d_ff=512, n_heads=4,
                                                                  n_kv_heads=2, n_vocab=1000), mix="Q4_K_M")
    info = json.loads(run("info", path, "--json").stdout)
    assert info["on_webgpu"] == "the fused decode step"           # Q4_K and Q6_K are in it
    assert info["on_numpy"].startswith("float32 weights")
    import webinfer.device.numpy_device as nd
    from webinfer.formats.gguf import read_gguf
    from webinfer.info import _how_it_runs
    monkeypatch.setattr(nd, "F32_BUDGET", 1 << 20)
    assert _how_it_runs(read_gguf(path))["on_numpy"].startswith("weights kept in their blocks (float32 would take")


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


@pytest.mark.parametrize("device", ["webgpu", "auto"])
def test_a_webgpu_run_prints_only_our_lines_on_stderr(model_path, device):
    """No "error: XDG_RUNTIME_DIR is invalid or not set" from the Vulkan stack when the variable
    is unset (CI, containers, ssh): stderr holds webinfer's own lines and nothing else."""
    from gpu_available import open_webgpu
    adapter = open_webgpu(selftest=False).adapter          # skips (off CI) where there is no adapter
    env = {k: v for k, v in ENV.items() if k != "XDG_RUNTIME_DIR"}
    p = run("generate", "--model", str(model_path), "--device", device, "--n-ctx", "64", "--temperature", "0",
            "--max-tokens", "3", "The capital of France is", env=env)
    assert p.returncode == 0, p.stderr
    lines = p.stderr.splitlines()
    assert lines and all(line.startswith("webinfer: ") for line in lines), p.stderr
    chosen = f"webgpu: {adapter.description}" if device == "webgpu" or not adapter.is_cpu_emulation else (
        f'numpy: WebGPU adapter "{adapter.description}" is a CPU emulation; NumPy is faster here')
    assert any(line.endswith(f" on {chosen}") for line in lines), p.stderr
    assert p.stdout.strip() == "Paris."


def test_quantize_writes_a_model_that_answers_as_the_float_one(tmp_path):
    sys.path.insert(0, str(ROOT / "tests"))
    from synthetic_model import build_synthetic_model

    import webinfer
    src = build_synthetic_model(tmp_path / "tiny.gguf", seed=3, shapes={
        "n_layers": 4, "d_model": 256, "n_heads": 4, "n_kv_heads": 2, "d_ff": 512, "n_vocab": 300, "n_ctx": 128})
    out = tmp_path / "q8.gguf"
    p = run("quantize", src, str(out), "--type", "Q8_0")
    assert p.returncode == 0, p.stderr
    assert p.stderr.strip() == f"webinfer: wrote {out}: 9 F32, 29 Q8_0" and p.stdout == ""
    ids = [1, 5, 9, 20, 33, 7]
    greedy = [webinfer.load(f, device="numpy").complete(ids, max_tokens=8, temperature=0).token_ids
              for f in (src, str(out))]
    assert greedy[0] == greedy[1]
    p = run("quantize", src, str(tmp_path / "x.gguf"), "--type", "Q4_K_X")
    assert p.returncode == 1 and "unknown quantization type 'Q4_K_X'" in p.stderr
