// webinfer's recorded NumPy decode step: walks the flat command list numpy_step.py records and
// calls blas.py's wasm kernels with it, so a decoded token costs one Python->JS call.
// Called by webinfer.device.numpy_step through ffi.make_kit("numpy_step", ...). The op codes
// (case 0 = EMBED ... case 8 = DQ) are numpy_step.py's; tests/unit/test_ffi_kits.py checks.
// The whole file is one expression, (Module) => {...}: Pyodide evaluates it, or the site's
// js/kits.js holds it as static code under the sha256 of this text (webinfer.ffi).
(Module) => {
  const steps = [];
  return {
    // lib: blas.Kernels' wasm exports; code: the flat command list (numbers: addresses, sizes, floats);
    // dq: the types of the dequantize kernels, comma-separated (numpy_step.DQ_TYPES, lower case),
    // which DQ's kernel argument indexes.
    define: (lib, code, dq) => steps.push({
      lib, code: Float64Array.from(code), dq: dq.split(",").map((t) => lib["webinfer_dq_" + t]),
    }) - 1,
    run: (id, pos, token) => {
      const { lib, code: c, dq } = steps[id];
      const F = Module.HEAPF32;   // read now: the heap may have grown since the last step
      // n rows of w floats from x (ldx bytes apart) to y (ldy bytes apart), times scale (an f32:
      // the double product of two f32 is exact, the store rounds it once, as NumPy's f32 multiply).
      const copy = (x, y, n, w, ldx, ldy, scale) => {
        for (let r = 0; r < n; r++) {
          const s = (x + r * ldx) >>> 2, d = (y + r * ldy) >>> 2;
          if (scale === 1) F.copyWithin(d, s, s + w);
          else for (let j = 0; j < w; j++) F[d + j] = F[s + j] * scale;
        }
      };
      for (let i = 0; i < c.length;) {
        switch (c[i]) {
          case 0: // EMBED table, row bytes, y, d: y = table[token]
            copy(c[i + 1] + token * c[i + 2], c[i + 3], 1, c[i + 4], 0, 0, 1); i += 5; break;
          case 1: // RMS_NORM x, w, y, d, 1/d, eps
            lib.webinfer_rms_norm(c[i + 1], c[i + 2], c[i + 3], 1, c[i + 4], c[i + 5], c[i + 6]); i += 7; break;
          case 2: // MV w, x, y, rows, cols
            lib.webinfer_mv(c[i + 1], c[i + 2], c[i + 3], c[i + 4], c[i + 5]); i += 6; break;
          case 3: { // ADD a, b, y, n (the f64 sum of two f32 rounds to their f32 sum)
            const a = c[i + 1] >>> 2, b = c[i + 2] >>> 2, y = c[i + 3] >>> 2, n = c[i + 4];
            for (let j = 0; j < n; j++) F[y + j] = F[a + j] + F[b + j];
            i += 5; break;
          }
          case 4: // SWIGLU gu, y, d_ff
            lib.webinfer_swiglu(c[i + 1], c[i + 2], 1, c[i + 3]); i += 4; break;
          case 5: { // ROPE neox, x, y, cos, sin, heads, hd, ldyh, ystep: the tables' row pos; y + pos * ystep
            const hb = 4 * c[i + 7], rope = c[i + 1] ? lib.webinfer_rope_neox : lib.webinfer_rope;
            rope(c[i + 2], c[i + 3] + pos * c[i + 9], c[i + 4] + pos * hb, c[i + 5] + pos * hb, 1, c[i + 6],
                 c[i + 7], 0, 0, c[i + 8]);
            i += 10; break;
          }
          case 6: // COPY x, y, rows, w, ldx, ldy, ystep: to y + pos * ystep (a cache row)
            copy(c[i + 1], c[i + 2] + pos * c[i + 7], c[i + 3], c[i + 4], c[i + 5], c[i + 6], 1); i += 8; break;
          case 7: { // ATTEND q, y, buf, k, v, kvh, g, hd, hstride, rows, scale: blas._attend_block for one token
            const q = c[i + 1], y = c[i + 2], buf = c[i + 3], pk = c[i + 4], pv = c[i + 5], kvh = c[i + 6];
            const g = c[i + 7], hd = c[i + 8], hs = c[i + 9], rows = c[i + 10], scale = c[i + 11];
            const rp = g + (g & 1), tb = pos + 1, tp = (tb + 3) & ~3;   // query rows in pairs, keys in fours
            const hq = rp * hd * 4, hsc = rp * rows * 4, po = buf + kvh * hq, ps = po + kvh * hq;
            copy(q, buf, kvh, g * hd, g * hd * 4, hq, scale);          // (KVH, rp, hd) scaled; pad rows stay 0
            lib.webinfer_mm_b(pk, buf, ps, tp, hd, rp, kvh, hs, hq, hsc);         // scores (KVH, rp, tp)
            lib.webinfer_softmax_b(ps, rp, tp, tb, g, kvh, hsc);
            lib.webinfer_mmn_b(pv, ps, po, tb, hd, rp, tp, kvh, hs, hsc, hq);     // (KVH, rp, hd)
            copy(po, y, kvh, g * hd, hq, g * hd * 4, 1);                // the g real rows of each kv head
            i += 12; break;
          }
          case 8: // DQ kernel, src, dst, n_blocks, src_step: dq_<type>(src + token * src_step, dst, n_blocks)
            dq[c[i + 1]](c[i + 2] + token * c[i + 5], c[i + 3], c[i + 4]); i += 6; break;
          default: throw new Error("webinfer decode step: bad command " + c[i] + " at " + i);
        }
      }
    },
  };
}
