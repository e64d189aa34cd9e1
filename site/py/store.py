"""Model bytes for the chat page: download with byte progress, keep in Cache Storage, list and clear.

What it is: the only code that fetches a model or touches the page's model cache, through the
browser's fetch and Cache Storage. It runs in both of the page's interpreters, so its module level
uses only what both have (the `js` module, pyscript.ffi, json, plain Python): the worker (Pyodide,
py/worker.py) downloads, reads and caches model bytes (ModelBytes: straight into Pyodide's heap, or a
chunk at a time to the GPU; CacheTee: into the cache as they stream past),
the main thread (MicroPython, py/main.py) lists, measures and clears. A model is kept in the cache only once webinfer has loaded it (the worker calls
``remember`` then, or closes the CacheTee that wrote it as it streamed), so a file that is not a
usable model is never kept.
What it is not: GGUF parsing (webinfer does that) or UI (view.py).
"""

import js
from pyscript.ffi import create_proxy, to_js

CACHE_NAME = "webinfer-models-v1"
REPORT_EVERY_S = 0.1      # progress reports at most this often (each one crosses to the main thread)
CHUNK = 8 << 20           # bytes a cache write hands over at a time
READ_BYTES = 1 << 20      # bytes a model's stream is read in at most at a time
QUEUE_CHUNKS = 8          # chunks a CacheTee lets wait for the cache before the stream waits for it


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
        self._next = next_chunk          # async (keep) -> a JS Uint8Array (kept: a copy), or None at the end
        self._cancel = cancel            # async () -> None: stop the stream
        self.total, self.what = total, what
        self.meter = Meter(total)
        self._on_progress = on_progress or (lambda snap: None)
        self._first = []                 # the chunks head() has read, still in JS
        self._got = 0

    async def _chunk(self, keep: bool = False):
        chunk = await self._next(keep)
        if chunk is not None and self.meter.add(chunk.length):
            self._on_progress(self.meter.snapshot())
        return chunk

    async def head(self, n: int) -> bytes:
        """A copy of at least the first n bytes (fewer only when the file is shorter). The chunks stay
        in JS for body(): a Python copy kept alive there would sit in the heap right where the whole
        file is about to go, and split the space the model in use leaves free."""
        while self._got < n:
            chunk = await self._chunk(keep=True)
            if chunk is None:
                break
            self._first.append(chunk)
            self._got += chunk.length
        return b"".join(c.to_bytes() for c in self._first)

    async def body(self) -> bytearray:
        """The whole file, in one bytearray allocated once (at the announced size)."""
        self._on_progress(self.meter.snapshot())
        buf = bytearray(max(self.total, self._got))
        pos, view = 0, memoryview(buf)
        while True:
            chunk = self._first.pop(0) if self._first else await self._chunk()
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

    def chunks(self, tee=None):
        """The file from its first byte, a chunk at a time (an async iterator, for webinfer.ByteStream):
        each a memoryview of one heap buffer that the next chunk reuses, so the heap holds a chunk and
        never the file (webinfer.stream sends each to the GPU before asking for the next). tee: a
        CacheTee that gets a JS copy of every chunk. Raises DownloadError where the file ends short."""
        self._on_progress(self.meter.snapshot())
        return _Chunks(self, tee)

    async def cancel(self) -> None:
        """Stop reading (a refused or failed load); the rest of the file is never fetched."""
        self._first = []
        if self._cancel is not None:
            try:
                await self._cancel()
            except Exception as e:  # noqa: BLE001 - a stream that already failed has nothing to stop
                js.console.warn("webinfer: the model's stream did not cancel: " + str(e))


class _Chunks:
    """ModelBytes.chunks (a class, not an async generator: MicroPython has none, and imports this module)."""

    def __init__(self, src: ModelBytes, tee):
        self.src, self.tee = src, tee
        self.buf = bytearray(READ_BYTES)
        self.pos = 0

    def __aiter__(self):
        return self

    async def __anext__(self):
        src = self.src
        chunk = src._first.pop(0) if src._first else await src._chunk()
        if chunk is None:
            if src.total and self.pos != src.total:
                raise DownloadError("could not {}: it ended after {} of {}".format(
                    src.what, format_bytes(self.pos), format_bytes(src.total)))
            src._on_progress(src.meter.snapshot())
            raise StopAsyncIteration
        if self.tee is not None:
            await self.tee.room()
            self.tee.add(chunk)
        n = chunk.length
        if n > len(self.buf):                 # (a reader without BYOB hands out chunks of any size)
            self.buf = bytearray(n)
        view = memoryview(self.buf)[:n]
        chunk.assign_to(view)
        self.pos += n
        return view


def _from_stream(body, total: int, what: str, on_progress) -> ModelBytes:
    """ModelBytes over a byte stream (a fetch's or a cached Response's body, a File's stream()), read
    with a BYOB reader into one READ_BYTES buffer, the same memory each time: a default reader hands
    out a new ArrayBuffer a chunk, garbage that V8 let pile up to ~0.4 GB while a 0.8 GB model
    arrived (bench/site_memory.py). head() keeps copies of its chunks, body() uses each at once."""
    try:
        reader = body.getReader(to_js({"mode": "byob"}))
        space = [js.Uint8Array.new(READ_BYTES)]
    except Exception:  # noqa: BLE001 - a browser without byte streams: chunks as they come
        reader, space = body.getReader(), None

    ended = []    # the stream said done: no read after that (a BYOB read at the end takes its buffer
                  # away, and head() of a file shorter than it asks for reads to the end before body())

    async def next_chunk(keep: bool):
        if ended:
            return None
        if space is None:
            step = await reader.read()
        else:
            step = await reader.read(space[0])
        if step.done:
            ended.append(True)
            return None
        if space is None:
            return step.value
        view = step.value                                  # the bytes read, over the buffer just handed back
        space[0] = js.Uint8Array.new(view.buffer)          # the next read reuses that buffer
        return view.slice() if keep else view

    async def cancel():
        await reader.cancel()
    return ModelBytes(next_chunk, total, what, on_progress, cancel)


def from_file(file, on_progress=None) -> ModelBytes:
    """A File from the page's picker."""
    return _from_stream(file.stream(), int(file.size), "read " + str(file.name), on_progress)


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


class CacheTee:
    """A model put into Cache Storage while it streams to the GPU (ModelBytes.chunks hands add() each
    chunk): the entry is written as the chunks pass, and kept only when the load succeeds (close());
    abort() drops it, so a file that is not a usable model is never kept. JS holds the copies that the
    cache has not written yet, at most QUEUE_CHUNKS: past that the stream waits for the disk (room()).
    Unpaced, a download outran the writes: ~600 MiB of chunks in JS for a 766 MiB model (bench/RESULTS.md)."""

    def __init__(self, url: str, total: int):
        self.url, self.total = url, total
        self._controller = self._put = None
        self._proxies = []
        self._room = None                # a Future the cache's next pull resolves, while room() waits
        self.failed = None               # why the cache stopped taking chunks, if it did
        self.closed = False

    async def open(self):
        """Start the cache entry; returns self, or None where there is no Cache Storage."""
        import asyncio              # (here: the main thread's MicroPython imports this module too)
        if not _has_caches():
            return None

        def start(controller):
            self._controller = controller

        def ended(err):
            self.failed = self.failed or str(err)
            self._wake()
        self._proxies = [create_proxy(f) for f in (start, lambda *_: self._wake(), ended)]
        try:
            cache = await js.caches.open(CACHE_NAME)
            source = {"start": self._proxies[0], "pull": self._proxies[1], "cancel": self._proxies[2]}
            body = js.ReadableStream.new(to_js(source), to_js({"highWaterMark": QUEUE_CHUNKS}))
            headers = {"Content-Type": "application/octet-stream", "Content-Length": str(self.total)}
            self._put = cache.put(self.url, js.Response.new(body, to_js({"headers": headers})))
        except Exception as e:  # noqa: BLE001 - no cache entry: the model still loads
            js.console.warn("webinfer: model not cached: " + str(e))
            self._release()
            return None
        asyncio.ensure_future(self._watch())
        return self

    def _wake(self) -> None:
        """The cache wants more, or the put ended: room() goes on."""
        if self._room is not None and not self._room.done():
            self._room.set_result(None)

    async def _watch(self) -> None:
        """A put that fails (a full disk) stops the pacing, whether or not it cancels the stream."""
        try:
            await self._put
        except Exception as e:  # noqa: BLE001 - close() or abort() reports it
            self.failed = self.failed or str(e)
        self._wake()

    async def room(self) -> None:
        """Wait while QUEUE_CHUNKS chunks wait for the cache (a disk slower than the stream): JS then
        holds at most those, not the file."""
        import asyncio
        while self.failed is None:
            size = self._controller.desiredSize
            if size is None or size > 0:     # (None: the stream failed; add() finds out)
                return
            self._room = asyncio.get_event_loop().create_future()
            await self._room

    def add(self, chunk) -> None:
        if self.failed is None:
            try:
                self._controller.enqueue(chunk.slice())
            except Exception as e:  # noqa: BLE001 - the put gave up (a full disk): close() says so
                self.failed = str(e)

    async def close(self):
        """End the entry (the load succeeded); None, or the notice to show when caching failed. Once."""
        if self.closed:
            return None
        self.closed = True
        try:
            if self.failed is None:
                self._controller.close()
            await self._put
            return None
        except Exception as e:  # noqa: BLE001 - a full disk (or any failing put) is not fatal
            js.console.warn("webinfer: model not cached: " + str(e))
            await self._delete()
            if "QuotaExceeded" in str(e):
                return ("Not enough browser storage to keep this model: it is loaded without caching "
                        "and will be downloaded again next time.")
            return "The model could not be cached (" + str(e) + "): it will be downloaded again next time."
        finally:
            self._release()

    async def abort(self) -> None:
        """Drop the entry (the load failed), written or not."""
        try:
            if self.failed is None:
                self._controller.error(js.Error.new("the model did not load"))
            await self._put
        except Exception:  # noqa: BLE001 - the put fails: that is the point
            pass
        await self._delete()
        self._release()

    async def _delete(self) -> None:
        try:
            await (await js.caches.open(CACHE_NAME)).delete(self.url)
        except Exception as e:  # noqa: BLE001
            js.console.warn("webinfer: a model cache entry could not be deleted: " + str(e))

    def _release(self) -> None:
        self.failed = self.failed or "closed"
        for p in self._proxies:
            p.destroy()
        self._proxies = []


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
