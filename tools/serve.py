#!/usr/bin/env python3
"""Serve the built site (build/site/) on http://127.0.0.1:$PORT/ with the right headers.

    python3 tools/serve.py [--port 8000] [--dir build/site] [--connect-src https://host ...]

What it adds to Python's static file server: MIME types the page needs (application/wasm, so
browsers can stream-compile Pyodide; text/javascript for .mjs), a Content-Security-Policy on
every response that allows only this origin (plus 'wasm-unsafe-eval', which WebAssembly
compilation needs), `X-Content-Type-Options: nosniff`, and `Cache-Control: no-cache` (the
browser revalidates page files; the model itself is kept in Cache Storage by the page).
`--connect-src` adds origins the page may fetch GGUF URLs from (none by default).

What it is not: a production server, or the build (tools/build_site.py). It binds to
127.0.0.1 only. No COOP/COEP headers: the pages need no SharedArrayBuffer (site/README.md).
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

MIME = {
    ".wasm": "application/wasm", ".mjs": "text/javascript", ".js": "text/javascript",
    ".json": "application/json", ".css": "text/css", ".html": "text/html; charset=utf-8",
    ".py": "text/plain; charset=utf-8", ".whl": "application/zip", ".zip": "application/zip",
    ".gguf": "application/octet-stream", ".safetensors": "application/octet-stream",
    ".ts": "text/plain; charset=utf-8",
}


def csp(connect_extra=()) -> str:
    """The site's Content-Security-Policy: own origin only; wasm compilation allowed; no inline
    JavaScript and no eval (PyScript runs without it: site/js/pyscript-no-eval.js)."""
    connect = " ".join(["'self'", *connect_extra])
    return "; ".join([
        "default-src 'self'",
        "script-src 'self' 'wasm-unsafe-eval'",
        "worker-src 'self' blob:",     # PyScript starts its workers from blob: URLs
        f"connect-src {connect}",
        "img-src 'self' data:",
        "style-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ])


def lite_csp(connect_extra=()) -> str:
    """JupyterLite (/lite/) needs more than the chat page: its HTML has an inline script and
    inline styles, its bundles call `new Function`, and its kernel starts workers from blob: URLs.
    Still own-origin only: nothing may be fetched from anywhere else."""
    connect = " ".join(["'self'", *connect_extra])
    return "; ".join([
        "default-src 'self'", "script-src 'self' 'unsafe-inline' 'unsafe-eval' 'wasm-unsafe-eval'",
        "worker-src 'self' blob:", f"connect-src {connect}", "img-src 'self' data: blob:",
        "style-src 'self' 'unsafe-inline'", "font-src 'self' data:", "object-src 'none'", "base-uri 'self'",
    ])


class SiteHandler(SimpleHTTPRequestHandler):
    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, **MIME}
    policy = csp()
    lite_policy = lite_csp()
    quiet = False

    def end_headers(self):
        lite = self.path == "/lite" or self.path.startswith("/lite/")
        self.send_header("Content-Security-Policy", self.lite_policy if lite else self.policy)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def log_message(self, fmt, *args):
        if not self.quiet:
            super().log_message(fmt, *args)


def make_server(directory, port: int = 8000, connect_extra=(), quiet: bool = False) -> ThreadingHTTPServer:
    """A server for `directory` on 127.0.0.1:port (port 0: any free port; see server.server_port)."""
    handler = type("Handler", (SiteHandler,), {"policy": csp(connect_extra), "lite_policy": lite_csp(connect_extra),
                                               "quiet": quiet})
    return ThreadingHTTPServer(("127.0.0.1", port), functools.partial(handler, directory=str(directory)))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=int(os.environ.get("PORT") or 8000), help="port (default $PORT or 8000)")
    ap.add_argument("--dir", default=str(REPO / "build" / "site"), help="folder to serve (default build/site)")
    ap.add_argument("--connect-src", nargs="*", default=[], help="extra origins the page may fetch models from")
    ap.add_argument("--quiet", action="store_true", help="do not log requests")
    args = ap.parse_args(argv)
    root = Path(args.dir)
    if not (root / "index.html").is_file() or not (root / "site-config.json").is_file():
        print(f"serve: {root} is not a built site; run `python3 tools/build_site.py` first", file=sys.stderr)
        return 1
    server = make_server(root, args.port, args.connect_src, args.quiet)
    print(f"webinfer chat: http://127.0.0.1:{server.server_port}/  (serving {root}; Ctrl+C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
