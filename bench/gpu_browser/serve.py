#!/usr/bin/env python3
"""Serve a folder on 127.0.0.1 and collect what a page POSTs to /result.

    python3 serve.py --root DIR --port 8311 --out result.json [--timeout 120]

Each POST body to /result is printed as one `RESULT <json>` line and written to --out; the
server then stops (the page sends one result). It stops with exit status 2 after --timeout
seconds without a result. This is how the GPU machine, which has Python but no Node or
WebDriver, reads what a headless browser's page measured.

What it is not: the site's server (tools/serve.py adds the site's CSP and headers).
"""

from __future__ import annotations

import argparse
import functools
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

MIME = {".wasm": "application/wasm", ".mjs": "text/javascript", ".js": "text/javascript",
        ".json": "application/json", ".html": "text/html; charset=utf-8"}


class Handler(SimpleHTTPRequestHandler):
    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, **MIME}
    out_path = ""

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        with open(self.out_path, "w") as f:
            f.write(body)
        print("RESULT", body, flush=True)
        self.send_response(200)
        self.end_headers()
        threading.Thread(target=self.server.shutdown).start()

    def log_message(self, *args):
        pass


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", required=True)
    ap.add_argument("--port", type=int, default=8311)
    ap.add_argument("--out", required=True)
    ap.add_argument("--timeout", type=float, default=120)
    a = ap.parse_args()
    Handler.out_path = a.out
    srv = ThreadingHTTPServer(("127.0.0.1", a.port), functools.partial(Handler, directory=a.root))
    timer = threading.Timer(a.timeout, srv.shutdown)
    timer.start()
    srv.serve_forever()
    got = timer.is_alive()
    timer.cancel()
    if not got:
        print(f"serve.py: no result within {a.timeout:.0f} s", file=sys.stderr)
    return 0 if got else 2


if __name__ == "__main__":
    sys.exit(main())
