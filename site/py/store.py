"""Model bytes for the chat page: download with byte progress, keep in Cache Storage, list and clear.

What it is: the only code that fetches a model or touches the page's model cache, through the
browser's fetch and Cache Storage. It runs in both of the page's interpreters, so it uses only
what both have (the `js` module, pyscript.ffi, json, plain Python): the worker (Pyodide,
py/worker.py) downloads and caches, the main thread (MicroPython, py/main.py) lists, measures and
clears. A model is put in the cache only after webinfer has loaded it (the worker calls
``remember`` then), so a file that is not a usable model is never kept.
What it is not: GGUF parsing (webinfer does that) or UI (view.py).
"""

import js
from pyscript.ffi import to_js

CACHE_NAME = "webinfer-models-v1"
REPORT_EVERY_S = 0.1      # progress reports at most this often (each one crosses to the main thread)


class DownloadError(Exception):
    """A model could not be downloaded; the message says why in words a user can act on."""


def now_s() -> float:
    return js.performance.now() / 1000


def file_name(url: str) -> str:
    path = js.URL.new(url, "http://localhost/").pathname
    return js.decodeURIComponent(path.split("/")[-1]) or url


def format_bytes(n) -> str:
    units = ("B", "KB", "MB", "GB", "TB")
    i = 0
    while n >= 1024 and i < len(units) - 1:
        n /= 1024
        i += 1
    return ("{:.1f} {}" if i and n < 100 else "{:.0f} {}").format(n, units[i])


class Meter:
    """Bytes received against the total: rate (bytes/s) and seconds left, for a progress line."""

    def __init__(self, total: int):
        self.total, self.done = total, 0
        self.t0 = now_s()
        self.last = 0.0

    def add(self, n: int) -> bool:
        """Count n bytes; True when it is time to report (throttled, and always at the end)."""
        self.done += n
        t = now_s()
        if t - self.last >= REPORT_EVERY_S or (self.total and self.done >= self.total):
            self.last = t
            return True
        return False

    def snapshot(self) -> dict:
        secs = now_s() - self.t0
        rate = self.done / secs if secs > 0.05 else 0.0
        left = (self.total - self.done) / rate if rate and self.total > self.done else 0.0
        return {"done": self.done, "total": self.total, "rate": rate, "left_s": left}


def _has_caches() -> bool:
    return bool(js.Reflect.has(js.globalThis, "caches"))     # absent outside secure contexts


async def cached(url: str):
    """The cached bytes of `url` as a JS ArrayBuffer, or None (no entry, or no Cache Storage here)."""
    if not _has_caches():
        return None
    try:
        cache = await js.caches.open(CACHE_NAME)
        hit = await cache.match(url)
        return (await hit.arrayBuffer()) if hit else None
    except Exception as e:  # noqa: BLE001 - an unreadable cache means: download
        js.console.warn("webinfer: the model cache could not be read: " + str(e))
        return None


async def download(url: str, page_origin: str, on_progress):
    """GET url with a byte count; returns a JS Uint8Array. on_progress(Meter.snapshot()) is called
    while it runs. Raises DownloadError with the cause in words."""
    try:
        resp = await js.fetch(url)
    except Exception as e:  # noqa: BLE001 - fetch rejects with a bare TypeError
        if js.URL.new(url).origin != page_origin:
            raise DownloadError(
                "could not download " + url + ": this site loads models only from its own origin ("
                + page_origin + "; its Content-Security-Policy blocks other hosts). Download the file and "
                "choose it under \"Local GGUF file\", or put it on this site.")
        raise DownloadError("could not download " + url + ": the server did not answer (" + str(e) + ")")
    if not resp.ok:
        raise DownloadError("could not download {}: the server answered HTTP {} {}".format(
            url, resp.status, resp.statusText).rstrip())
    total = int(resp.headers.get("Content-Length") or 0)
    meter = Meter(total)
    buf = js.Uint8Array.new(total or (1 << 20))
    reader = resp.body.getReader()
    on_progress(meter.snapshot())
    while True:
        chunk = await reader.read()
        if chunk.done:
            break
        value = chunk.value
        if meter.done + value.length > buf.length:        # size unknown or wrong: grow
            bigger = js.Uint8Array.new(max(2 * buf.length, meter.done + value.length))
            bigger.set(buf.subarray(0, meter.done))
            buf = bigger
        buf.set(value, meter.done)
        if meter.add(value.length):
            on_progress(meter.snapshot())
    if meter.total and meter.done != meter.total:
        raise DownloadError("could not download {}: the connection ended after {} of {}".format(
            url, format_bytes(meter.done), format_bytes(meter.total)))
    meter.total = meter.done
    on_progress(meter.snapshot())
    return buf if meter.done == buf.length else buf.slice(0, meter.done)


async def remember(url: str, data):
    """Put the bytes (a JS Uint8Array) in the cache; None, or the notice to show when that failed."""
    if not _has_caches():
        return "This browser has no Cache Storage here: the model will be downloaded again next time."
    try:
        cache = await js.caches.open(CACHE_NAME)
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(data.length)}
        await cache.put(url, js.Response.new(data, to_js({"headers": headers})))
        return None
    except Exception as e:  # noqa: BLE001 - a full disk (or any failing put) is not fatal
        js.console.warn("webinfer: model not cached: " + str(e))
        if "QuotaExceeded" in str(e):
            return ("Not enough browser storage to keep this model: it is loaded without caching "
                    "and will be downloaded again next time.")
        return "The model could not be cached (" + str(e) + "): it will be downloaded again next time."


async def list_cached() -> list:
    """[{url, name, size}] of the cached models."""
    if not _has_caches():
        return []
    cache = await js.caches.open(CACHE_NAME)
    keys = await cache.keys()
    out = []
    for i in range(keys.length):
        req = keys[i]
        resp = await cache.match(req)
        size = int((resp.headers.get("Content-Length") if resp else None) or 0)
        out.append({"url": req.url, "name": file_name(req.url), "size": size})
    return out


async def clear() -> None:
    if _has_caches():
        await js.caches.delete(CACHE_NAME)


async def estimate():
    """{usage, quota} in bytes, or None where the browser does not say."""
    if not js.Reflect.has(js.navigator, "storage"):
        return None
    est = await js.navigator.storage.estimate()
    return {"usage": int(est.usage), "quota": int(est.quota)}
