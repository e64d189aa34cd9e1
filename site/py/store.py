"""Model bytes for the chat page: download with byte progress, keep in Cache Storage, list and clear.

What it is: the only code that fetches a model or touches the page's model cache, through the
browser's fetch and Cache Storage. It runs in both of the page's interpreters, so its module level
uses only what both have (the `js` module, pyscript.ffi, json, plain Python): the worker (Pyodide,
py/worker.py) downloads, reads and caches model bytes (ModelBytes: straight into Pyodide's heap),
the main thread (MicroPython, py/main.py) lists, measures and clears. A model is put in the cache only after webinfer has loaded it (the worker calls
``remember`` then), so a file that is not a usable model is never kept.
What it is not: GGUF parsing (webinfer does that) or UI (view.py).
"""

import js
from pyscript.ffi import create_proxy, to_js

CACHE_NAME = "webinfer-models-v1"
REPORT_EVERY_S = 0.1      # progress reports at most this often (each one crosses to the main thread)
CHUNK = 8 << 20           # bytes a File read or a cache write hands over at a time


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


class ModelBytes:
    """A model's bytes as they arrive (the network, Cache Storage or a File), copied a chunk at a time
    into this interpreter's memory: the worker's (Pyodide's JsBuffer.assign_to; main.py never reads a
    model). JS holds a chunk at a time, never the whole file: a JS copy beside the one in the heap
    made a load take twice the file's size. The first bytes stay apart (head()) until the caller has
    judged them, so that a model that cannot fit is refused before the file has a place in memory."""

    def __init__(self, next_chunk, total: int, what: str, on_progress=None, cancel=None):
        self._next = next_chunk          # async () -> a JS Uint8Array, or None at the end
        self._cancel = cancel            # async () -> None: stop the stream
        self.total, self.what = total, what
        self.meter = Meter(total)
        self._on_progress = on_progress or (lambda snap: None)
        self._head = b""                 # what head() has read so far

    async def _chunk(self):
        chunk = await self._next()
        if chunk is not None and self.meter.add(chunk.length):
            self._on_progress(self.meter.snapshot())
        return chunk

    async def head(self, n: int) -> bytes:
        """At least the first n bytes (fewer only when the file is shorter); kept for body()."""
        parts = [self._head]
        got = len(self._head)
        while got < n:
            chunk = await self._chunk()
            if chunk is None:
                break
            parts.append(chunk.to_bytes())
            got += chunk.length
        self._head = b"".join(parts)
        return self._head

    async def body(self) -> bytearray:
        """The whole file, in one bytearray allocated once (at the announced size) with the head in it."""
        self._on_progress(self.meter.snapshot())
        first, self._head = self._head, b""
        buf = bytearray(max(self.total, len(first)))
        buf[:len(first)] = first
        pos, view = len(first), memoryview(buf)
        del first
        while True:
            chunk = await self._chunk()
            if chunk is None:
                break
            n = chunk.length
            if pos + n > len(buf):        # size unknown or wrong: grow
                view.release()
                buf.extend(bytes(max(len(buf), pos + n - len(buf))))
                view = memoryview(buf)
            chunk.assign_to(view[pos:pos + n])
            pos += n
        view.release()
        if self.total and pos != self.total:
            raise DownloadError("could not {}: it ended after {} of {}".format(
                self.what, format_bytes(pos), format_bytes(self.total)))
        del buf[pos:]
        self.meter.total = pos
        self._on_progress(self.meter.snapshot())
        return buf

    async def cancel(self) -> None:
        """Stop reading (a refused or failed load); the rest of the file is never fetched."""
        self._head = b""
        if self._cancel is not None:
            try:
                await self._cancel()
            except Exception as e:  # noqa: BLE001 - a stream that already failed has nothing to stop
                js.console.warn("webinfer: the model's stream did not cancel: " + str(e))


def _from_stream(body, total: int, what: str, on_progress) -> ModelBytes:
    reader = body.getReader()

    async def next_chunk():
        step = await reader.read()
        return None if step.done else step.value

    async def cancel():
        await reader.cancel()
    return ModelBytes(next_chunk, total, what, on_progress, cancel)


def from_file(file, on_progress=None) -> ModelBytes:
    """A File from the page's picker, read CHUNK bytes at a time."""
    pos = [0]

    async def next_chunk():
        if pos[0] >= file.size:
            return None
        part = file.slice(pos[0], min(pos[0] + CHUNK, file.size))
        pos[0] += part.size
        return js.Uint8Array.new(await part.arrayBuffer())
    return ModelBytes(next_chunk, int(file.size), "read " + str(file.name), on_progress)


async def cached(url: str, on_progress=None):
    """The cached model of `url` as ModelBytes, or None (no entry, or no Cache Storage here)."""
    if not _has_caches():
        return None
    try:
        cache = await js.caches.open(CACHE_NAME)
        hit = await cache.match(url)
    except Exception as e:  # noqa: BLE001 - an unreadable cache means: download
        js.console.warn("webinfer: the model cache could not be read: " + str(e))
        return None
    if not hit:
        return None
    total = int(hit.headers.get("Content-Length") or 0)
    return _from_stream(hit.body, total, "read " + file_name(url) + " from this browser's cache", on_progress)


async def download(url: str, page_origin: str, on_progress) -> ModelBytes:
    """GET url: its bytes as ModelBytes (on_progress(Meter.snapshot()) while they arrive). Raises
    DownloadError with the cause in words."""
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
    return _from_stream(resp.body, total, "download " + url, on_progress)


async def remember(url: str, data):
    """Put a model's bytes (bytes-like, in this interpreter's memory) in the cache, streamed CHUNK
    bytes at a time (no second copy of the file in JS); None, or the notice to show when that failed."""
    if not _has_caches():
        return "This browser has no Cache Storage here: the model will be downloaded again next time."
    view, pos = memoryview(data), [0]

    def pull(controller):
        n = min(CHUNK, len(view) - pos[0])
        if n <= 0:
            controller.close()
            return
        chunk = js.Uint8Array.new(n)
        chunk.assign(view[pos[0]:pos[0] + n])
        pos[0] += n
        controller.enqueue(chunk)
    puller = create_proxy(pull)
    try:
        cache = await js.caches.open(CACHE_NAME)
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(len(view))}
        body = js.ReadableStream.new(to_js({"pull": puller}))
        await cache.put(url, js.Response.new(body, to_js({"headers": headers})))
        return None
    except Exception as e:  # noqa: BLE001 - a full disk (or any failing put) is not fatal
        js.console.warn("webinfer: model not cached: " + str(e))
        if "QuotaExceeded" in str(e):
            return ("Not enough browser storage to keep this model: it is loaded without caching "
                    "and will be downloaded again next time.")
        return "The model could not be cached (" + str(e) + "): it will be downloaded again next time."
    finally:
        puller.destroy()
        view.release()


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
