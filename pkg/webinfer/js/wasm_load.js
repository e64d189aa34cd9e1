// webinfer's wasm kernel loader: links blas.py's WebAssembly module into Pyodide's own memory
// (Emscripten's loadWebAssemblyModule), so its kernels read and write numpy buffers in place.
// Called by webinfer.device.blas.load_kernels through ffi.make_kit("wasm_load", ...).
// The whole file is one expression, (Module) => ({...}): Pyodide evaluates it, or the site's
// js/kits.js holds it as static code under the sha256 of this text (webinfer.ffi).
(Module) => ({
  load: (bytes) => Module.loadWebAssemblyModule(bytes, {loadAsync: false, nodelete: true}, "webinfer_mm.so", {}, 0),
})
