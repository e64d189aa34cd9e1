"""pytest-pyodide runners for this machine: Node and the system Chromium, offline by force.

What this is: two small subclasses of pytest-pyodide's own runners (the objects its
`@run_in_pyodide` tests receive as `selenium`), the static server they boot from, and the
two offline guards:
- `NodeRunner`: pytest-pyodide's Node runner; `offline_guard.cjs` (preloaded with
  `node --require`, set up by `configure_node`) makes every fetch to a host other than
  127.0.0.1/localhost throw and records it.
- `ChromeRunner`: pytest-pyodide's selenium Chrome runner pointed at Debian's Chromium and
  chromedriver (/usr/bin/chromium, /usr/bin/chromedriver: Selenium Manager would try to
  download both), with the flags given (WebGPU on SwiftShader, or none: the no-GPU case).
  Every request the page makes is in chromedriver's performance log, which the runner reads
  after each call; `--proxy-server` points at a `RefusingProxy`, so whatever Chromium sends
  to a non-local host is refused (Chromium never proxies loopback).
After every JavaScript call, each runner fails with `OfflineError` if the code under test asked
for a non-local URL during it, even when that code caught the error: offline means no attempt.

What it is not: fixtures (pyodide_fixtures.py) or tests.
"""

from __future__ import annotations

import functools
import json
import os
import shlex
import socket
import threading
from pathlib import Path
from urllib.parse import urlsplit

from pytest_pyodide import get_global_config
from pytest_pyodide.runner import NodeRunner as _NodeRunner
from pytest_pyodide.runner import SeleniumChromeRunner as _SeleniumChromeRunner
from pytest_pyodide.server import DefaultHandler

HERE = Path(__file__).resolve().parent
NODE_GUARD = HERE / "offline_guard.cjs"
CHROMIUM = Path(os.environ.get("WEBINFER_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("WEBINFER_CHROMEDRIVER", "/usr/bin/chromedriver"))
LOCAL_HOSTS = ("127.0.0.1", "localhost")

# The page keeps full speed in a headless window (no timer throttling, no backgrounded renderer),
# as under Playwright, whose launch adds these too.
BASE_FLAGS = ["--headless=new", "--no-sandbox", "--disable-background-networking", "--disable-component-update",
              "--disable-sync", "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
              "--disable-backgrounding-occluded-windows"]
# WebGPU on the CPU (SwiftShader), offline. Without these the
# same browser is the no-GPU case (navigator.gpu exists, requestAdapter() gives null).
WEBGPU_FLAGS = ["--enable-unsafe-webgpu", "--enable-unsafe-swiftshader", "--use-webgpu-adapter=swiftshader",
                "--enable-features=Vulkan"]
# pytest-pyodide's default is 20 s per JavaScript call; tests that need more say so with
# @pytest.mark.driver_timeout(seconds).
SCRIPT_TIMEOUT_S = 300
# selenium -> chromedriver HTTP timeout (selenium's default is 120 s, less than a long test's
# script timeout); a hung chromedriver still fails the run after this.
HTTP_TIMEOUT_S = 3600


class OfflineError(AssertionError):
    """Code running in Pyodide tried to reach a host other than 127.0.0.1/localhost."""


def _check_offline(what: str, blocked: list[str], error: BaseException | None) -> None:
    if blocked:
        raise OfflineError(f"{what} tried to reach the network (offline test): {blocked}") from error


def configure_node() -> None:
    """Make every Node runner pytest-pyodide starts preload the fetch guard (idempotent).

    pytest-pyodide builds the `node` command line from its global config, so the guard goes
    there, and the guard's list of refused URLs is handed into the driver's sandbox as a global."""
    cfg = get_global_config()
    flag = f"--require={shlex.quote(str(NODE_GUARD))}"
    if flag not in cfg.get_flags("node"):
        cfg.set_flags("node", [*cfg.get_flags("node"), flag])
    if "webinferBlockedRequests" not in cfg.get_node_extra_globals():
        cfg.add_node_extra_globals(["webinferBlockedRequests"])


class NodeRunner(_NodeRunner):
    """pytest-pyodide's Node runner; fails a call that made a non-local fetch (see offline_guard.cjs)."""

    script_timeout = SCRIPT_TIMEOUT_S

    def set_script_timeout(self, timeout):
        super().set_script_timeout(timeout)
        self.p.timeout = timeout   # pexpect waits for a call's answer with this, not script_timeout

    def run_js_inner(self, code, check_code):
        error = None
        try:
            return super().run_js_inner(code, check_code)
        except BaseException as e:
            error = e
            raise
        finally:
            blocked = super().run_js_inner("return webinferBlockedRequests.splice(0);", "")
            _check_offline("Pyodide under Node", blocked, error)


class RefusingProxy:
    """An HTTP proxy on 127.0.0.1 that answers every request 403 and keeps its request line.

    Chromium sends it everything not on loopback: the page's requests (which the performance
    log attributes, see ChromeRunner) and the browser's own background ones (network time,
    component updates, account checks, made despite the flags): none leaves the machine."""

    def __init__(self):
        self.refused: list[str] = []
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return   # closed
            threading.Thread(target=self._refuse, args=(conn,), daemon=True).start()

    def _refuse(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(10)
            try:
                head = conn.recv(8192).split(b"\r\n", 1)[0].decode("latin-1")   # "CONNECT host:443 HTTP/1.1"
                conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            except OSError as e:
                head = f"(unreadable request: {e})"
            self.refused.append(head)   # list.append is atomic

    def close(self) -> None:
        self._sock.close()


def _is_local(url: str) -> bool:
    """True for URLs that do not leave the machine: loopback hosts, and data:/blob:/about: etc."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https", "ws", "wss", "ftp"):
        return True
    return parts.hostname in LOCAL_HOSTS


class ChromeRunner(_SeleniumChromeRunner):
    """pytest-pyodide's selenium Chrome runner on the system Chromium, with `flags`, behind a
    RefusingProxy; fails a call during which the page asked for a non-local URL (chromedriver's
    performance log lists every request the page makes, refused or not)."""

    script_timeout = SCRIPT_TIMEOUT_S

    def __init__(self, *args, flags: list[str], **kwargs):
        self.flags = flags
        self.proxy = RefusingProxy()
        try:
            super().__init__(*args, **kwargs)
        except BaseException:
            self.proxy.close()
            raise

    def get_driver(self, jspi=False):
        from selenium.webdriver import Chrome
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service

        options = Options()
        options.binary_location = str(CHROMIUM)
        for flag in [*BASE_FLAGS, f"--proxy-server=http://127.0.0.1:{self.proxy.port}", *self.flags]:
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
        options.add_experimental_option("perfLoggingPrefs", {"enableNetwork": True, "enablePage": False})
        driver = Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
        driver.command_executor.client_config.timeout = HTTP_TIMEOUT_S
        return driver

    def page_requests(self) -> list[str]:
        """Non-local URLs the page asked for since the last look (the log is drained by reading)."""
        urls = []
        for entry in self.driver.get_log("performance"):
            msg = json.loads(entry["message"])["message"]
            if msg["method"] == "Network.requestWillBeSent":
                urls.append(msg["params"]["request"]["url"])
            elif msg["method"] == "Network.webSocketCreated":
                urls.append(msg["params"]["url"])
        return [u for u in urls if not _is_local(u)]

    def run_js_inner(self, code, check_code):
        error = None
        try:
            return super().run_js_inner(code, check_code)
        except BaseException as e:
            error = e
            raise
        finally:
            _check_offline("the page in Chromium", self.page_requests(), error)

    def quit(self):
        try:
            super().quit()
        finally:
            self.proxy.close()


class Handler(DefaultHandler):
    """pytest-pyodide's static handler (its test pages, the dist at /) plus folders by URL prefix."""
    extensions_map = {**DefaultHandler.extensions_map, ".mjs": "text/javascript", ".wasm": "application/wasm",
                      ".whl": "application/zip", ".gguf": "application/octet-stream"}

    def __init__(self, *args, roots: dict[str, Path], **kwargs):
        self.roots = roots
        super().__init__(*args, **kwargs)

    def translate_path(self, path: str) -> str:
        path = urlsplit(path).path
        for prefix, root in self.roots.items():
            if path.startswith(prefix):
                rel = path[len(prefix):].lstrip("/")
                if ".." in Path(rel).parts:
                    return str(root / "__forbidden__")
                return str(root / rel)
        return super().translate_path(path)

    def log_message(self, *args):
        pass


def handler_with(roots: dict[str, Path]):
    """The handler class pytest_pyodide.spawn_web_server takes (it serves the dist at /)."""
    return functools.partial(Handler, roots=roots)
