// Model bytes for the page: download with progress, keep in Cache Storage, list and clear.
//
// What it is: the only code that fetches a model. A model URL is looked up in the cache first
// (a reload does not download it again); on a miss it is streamed with progress and then put
// in the cache. A full disk (QuotaExceededError, or any failing put) is not fatal: the bytes
// are still returned, with a notice that the model was not cached.
// What it is not: parsing or checking GGUF (webinfer does that in the worker).

export const CACHE_NAME = "webinfer-models-v1";

const hasCaches = () => typeof caches !== "undefined";

// -> {buffer: ArrayBuffer, fromCache: bool, cached: bool, notice: string|null}
export async function fetchModel(url, onProgress) {
  const key = new URL(url, location.href).href;
  if (hasCaches()) {
    try {
      const cache = await caches.open(CACHE_NAME);
      const hit = await cache.match(key);
      if (hit) {
        const buffer = await hit.arrayBuffer();
        onProgress(buffer.byteLength, buffer.byteLength);
        return { buffer, fromCache: true, cached: true, notice: null };
      }
    } catch (e) {
      console.warn("webinfer: the model cache could not be read", e);
    }
  }
  const buffer = await download(key, onProgress);
  const notice = await remember(key, buffer);
  return { buffer, fromCache: false, cached: notice === null, notice };
}

async function download(url, onProgress) {
  const resp = await fetch(url);
  if (!resp.ok) throw new Error(`could not download ${url}: HTTP ${resp.status}`);
  const total = Number(resp.headers.get("Content-Length")) || 0;
  const reader = resp.body.getReader();
  // Preallocate when the size is known: one 98 MB buffer instead of a list of chunks + a copy.
  let buf = new Uint8Array(total || 1 << 20);
  let done = 0;
  let lastReport = 0;
  for (;;) {
    const { value, done: end } = await reader.read();
    if (end) break;
    if (done + value.length > buf.length) {
      const bigger = new Uint8Array(Math.max(buf.length * 2, done + value.length));
      bigger.set(buf.subarray(0, done));
      buf = bigger;
    }
    buf.set(value, done);
    done += value.length;
    if (done - lastReport > 1 << 20 || done === total) {
      onProgress(done, total);
      lastReport = done;
    }
  }
  onProgress(done, done);
  return done === buf.length ? buf.buffer : buf.slice(0, done).buffer;
}

// Put the bytes in the cache; returns null, or the notice to show when that was not possible.
async function remember(key, buffer) {
  if (!hasCaches()) return "This browser has no Cache Storage here: the model will be downloaded again next time.";
  try {
    const cache = await caches.open(CACHE_NAME);
    const headers = { "Content-Type": "application/octet-stream", "Content-Length": String(buffer.byteLength) };
    // A copy goes to the cache: the original buffer is transferred to the worker afterwards.
    await cache.put(key, new Response(buffer.slice(0), { headers }));
    return null;
  } catch (e) {
    const full = e?.name === "QuotaExceededError";
    console.warn("webinfer: model not cached", e);
    return full
      ? "Not enough browser storage to keep this model: it is loaded without caching and will be downloaded again next time."
      : `The model could not be cached (${e?.name ?? e}): it will be downloaded again next time.`;
  }
}

// -> [{url, name, size}] of the cached models.
export async function listCached() {
  if (!hasCaches()) return [];
  const cache = await caches.open(CACHE_NAME);
  const out = [];
  for (const req of await cache.keys()) {
    const resp = await cache.match(req);
    const size = Number(resp?.headers.get("Content-Length")) || 0;
    out.push({ url: req.url, name: decodeURIComponent(new URL(req.url).pathname.split("/").pop()), size });
  }
  return out;
}

export async function clearCached() {
  if (hasCaches()) await caches.delete(CACHE_NAME);
}

// -> {usage, quota} in bytes, or null where the browser does not say.
export async function storageEstimate() {
  if (!navigator.storage?.estimate) return null;
  const { usage, quota } = await navigator.storage.estimate();
  return { usage, quota };
}

export function formatBytes(n) {
  if (!Number.isFinite(n)) return "?";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i += 1;
  }
  return `${n.toFixed(i && n < 10 ? 1 : 0)} ${units[i]}`;
}
