// webinfer's browser WebGPU adapter: the navigator.gpu calls behind
// webinfer.device.webgpu.adapter_js.JsAdapter (open, buffers, pipelines, the command replay,
// reads), through ffi.make_kit("webgpu", ...). M is Pyodide's Module (HEAPU8: wasm memory).
// The whole file is one expression, (M) => {...}: Pyodide evaluates it, or the site's
// js/kits.js holds it as static code under the sha256 of this text (webinfer.ffi).
(M) => {
  const S = {device: null, queue: null, errors: [], lost: null, cmds: [], scopes: []};
  const status = () => (S.lost !== null ? -1 : S.errors.length);
  const fail = (what, e) => S.errors.push(`${what}: ${(e && e.message) || e}`);
  const kit = {
    // -> JSON {description, info, limits} or a string saying why there is no WebGPU
    async open(powerPreference, limitNames) {
      const gpu = globalThis.navigator && globalThis.navigator.gpu;
      if (!gpu) return "no navigator.gpu (this browser has no WebGPU, or the page is not a secure context)";
      const adapter = await gpu.requestAdapter({powerPreference});
      if (!adapter) return "navigator.gpu.requestAdapter() returned no adapter (WebGPU is disabled or no usable GPU)";
      const requiredLimits = {};
      for (const k of limitNames) requiredLimits[k] = adapter.limits[k];
      const device = await adapter.requestDevice({requiredLimits});
      S.device = device; S.queue = device.queue;
      device.lost.then((info) => { S.lost = `WebGPU device lost (${info.reason}): ${info.message}`; });
      device.addEventListener("uncapturederror", (ev) => fail("WebGPU error", ev.error));
      const i = adapter.info || {};
      const name = [i.vendor, i.architecture, i.device, i.description].filter((s) => s).join(" ");
      // isFallbackAdapter: on GPUAdapterInfo in current browsers, on GPUAdapter in older ones
      const info = {vendor: i.vendor || "", architecture: i.architecture || "", device: i.device || "",
                    description: i.description || "",
                    is_fallback_adapter: Boolean(i.isFallbackAdapter ?? adapter.isFallbackAdapter)};
      const limits = {};
      for (const k of limitNames) limits[k] = device.limits[k];
      return JSON.stringify({description: `${name || "unknown adapter"} (browser WebGPU)`, info, limits});
    },
    createBuffer(size, usage, label) {
      const U = GPUBufferUsage;
      const flags = {storage: U.STORAGE | U.COPY_SRC | U.COPY_DST, uniform: U.UNIFORM | U.COPY_DST,
                     readback: U.MAP_READ | U.COPY_DST}[usage];
      return S.device.createBuffer({size, usage: flags, label});
    },
    // queue.writeBuffer straight from wasm memory (writeBuffer copies before returning)
    writeBuffer(buf, offset, ptr, size) {
      S.queue.writeBuffer(buf, offset, M.HEAPU8, ptr, size);
      return status();
    },
    createPipeline(code, label) {
      const d = S.device;
      d.pushErrorScope("validation");
      const module = d.createShaderModule({code, label});
      const pipeline = d.createComputePipeline({layout: "auto", compute: {module, entryPoint: "main"}, label});
      S.scopes.push(Promise.all([d.popErrorScope(), module.getCompilationInfo()]).then(([err, info]) => {
        if (!err) return;
        const lines = info.messages.filter((m) => m.type === "error").map((m) => `${m.lineNum}:${m.linePos} ${m.message}`);
        fail(`WGSL pipeline '${label}'`, lines.length ? lines.join("; ") : err);
      }));
      return pipeline;
    },
    createBindGroup(pipeline, entries) {
      return S.device.createBindGroup({layout: pipeline.getBindGroupLayout(0), entries});
    },
    // commands: [[0, pipeline, bindGroup, x, y, z] | [1, src, srcOffset, dst, dstOffset, size], ...]
    register(first, commands) {
      for (let i = 0; i < commands.length; i++) S.cmds[first + i] = commands[i];
    },
    forget() { S.cmds.length = 0; },
    // the replay loop: encode the slots at ptr (n int32s) into one command buffer, submit it
    // (held writes [2, buffer, offset, size] come first; their bytes follow each other at dataPtr)
    submit(ptr, n, dataPtr) {
      if (S.lost !== null) return -1;
      const slots = new Int32Array(M.HEAPU8.buffer, ptr, n);
      const enc = S.device.createCommandEncoder();
      let pass = null, data = dataPtr, encoded = 0;
      for (let i = 0; i < n; i++) {
        const c = S.cmds[slots[i]];
        if (c[0] === 2) {
          S.queue.writeBuffer(c[1], c[2], M.HEAPU8, data, c[3]);
          data += c[3];
          continue;
        }
        encoded++;
        if (c[0] === 0) {
          if (pass === null) pass = enc.beginComputePass();
          pass.setPipeline(c[1]);
          pass.setBindGroup(0, c[2]);
          pass.dispatchWorkgroups(c[3], c[4], c[5]);
        } else {
          if (pass !== null) { pass.end(); pass = null; }
          enc.copyBufferToBuffer(c[1], c[2], c[3], c[4], c[5]);
        }
      }
      if (pass !== null) pass.end();
      if (encoded) S.queue.submit([enc.finish()]);
      return status();
    },
    // map a READBACK buffer and copy `size` bytes to wasm memory at ptr
    async read(buf, size, ptr) {
      if (S.lost !== null) return -1;
      try {
        await buf.mapAsync(GPUMapMode.READ, 0, size);
      } catch (e) {
        if (S.lost === null) fail("mapAsync", e);
        return status();
      }
      M.HEAPU8.set(new Uint8Array(buf.getMappedRange(0, size)), ptr);
      buf.unmap();
      return status();
    },
    async settle() {
      const scopes = S.scopes; S.scopes = [];
      await Promise.all(scopes);
      if (S.lost === null) await S.queue.onSubmittedWorkDone();
      return status();
    },
    messages(from) { return JSON.stringify(S.lost !== null ? [S.lost, ...S.errors.slice(from)] : S.errors.slice(from)); },
    destroy(buf) { buf.destroy(); },
  };
  return kit;
}
