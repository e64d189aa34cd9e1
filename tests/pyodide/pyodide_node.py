"""A hand-made Node runner for Pyodide, kept only for bench/wasm_kernel_bench.py (no test uses it).

Why it stays: that bench (not the tests' code) still imports it; the benches are moving to their
own bench/node_pyodide.py, and this file and node_driver.mjs go once none imports them.
What this is: `NodePyodide`, a handle on one `node node_driver.mjs` process running Pyodide,
with `run(code)` -> the JSON value of the code's last expression; `dist_dir()`, `model_path()`.
What it is not: the tests' runtime (pyodide_fixtures.py, on pytest-pyodide) or a pytest plugin.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).with_name("node_driver.mjs")
BOOT_TIMEOUT_S = 120


def dist_dir() -> Path:
    return Path(os.environ.get("WEBINFER_PYODIDE_DIST", REPO / "build" / "pyodide")).resolve()


def model_path() -> Path:
    from webinfer.sources import default_model_path
    return default_model_path()


class PyodideError(AssertionError):
    """Python code inside Pyodide raised; the message is its traceback."""


class NodePyodide:
    """One Node process running Pyodide; `run` sends code and waits for its one-line answer."""

    def __init__(self, dist: Path, mounts: dict[str, Path]):
        config = {"indexURL": str(dist) + "/", "mounts": {k: str(v) for k, v in mounts.items()}}
        self.proc = subprocess.Popen(
            ["node", str(DRIVER), json.dumps(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=None,  # Pyodide's prints and Node errors go straight to pytest's capture
            text=True,
            bufsize=1,
        )
        # A reader thread turns the stdout pipe into a queue so every wait can time out.
        self._answers: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.boot = self._answer(BOOT_TIMEOUT_S, "booting Pyodide")

    def _read(self) -> None:
        for line in self.proc.stdout:
            if line.startswith("@@RESULT "):
                self._answers.put(json.loads(line[len("@@RESULT "):]))
        self._answers.put(None)  # EOF: node exited

    def _answer(self, timeout: float, what: str):
        try:
            out = self._answers.get(timeout=timeout)
        except queue.Empty:
            self.close()
            raise PyodideError(f"no answer from Pyodide after {timeout} s while {what}") from None
        if out is None:
            raise PyodideError(f"node exited (code {self.proc.poll()}) while {what}; see captured stderr")
        if not out["ok"]:
            raise PyodideError(f"inside Pyodide, while {what}:\n{out['error']}")
        return out["value"]

    def run(self, code: str, timeout: float = 300, what: str = "running test code"):
        """Run `code` in a fresh namespace; return its last expression, JSON-converted.

        Any fetch of a non-local URL during the call fails the test, even if the code
        caught the error: offline means no attempt, not a failed attempt that was hidden.
        """
        if self.proc.poll() is not None:
            raise PyodideError(f"node is not running (exit code {self.proc.returncode})")
        self.proc.stdin.write(json.dumps({"code": code}) + "\n")
        self.proc.stdin.flush()
        try:
            out = self._answers.get(timeout=timeout)
        except queue.Empty:
            self.close()
            raise PyodideError(f"no answer from Pyodide after {timeout} s while {what}") from None
        if out is None:
            raise PyodideError(f"node exited (code {self.proc.poll()}) while {what}; see captured stderr")
        if out.get("blocked_fetches"):
            raise PyodideError(f"network access attempted while {what}: {out['blocked_fetches']}")
        if not out["ok"]:
            raise PyodideError(f"inside Pyodide, while {what}:\n{out['error']}")
        return out["value"]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

