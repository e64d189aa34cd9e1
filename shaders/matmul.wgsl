// matmul.wgsl -- Y = X @ W^T for many rows of X (prefill), W quantized (quant.wgsl).
//
// Tiled: a workgroup computes a 64-token x 64-row tile of Y, 16 threads x 16 threads each
// owning 4 x 4 outputs (tokens ty + 16a, rows tx + 16b). Per step of 16 along K the tile of
// X and the dequantized tile of W go through workgroup memory (2 x 4 KiB), so each weight
// is dequantized once per 64 tokens rather than once per token. Grid: x = row tiles,
// y = token tiles.
//
// Variants (#ifdef): BIAS, RESIDUAL (Y += R), SWIGLU (the tile's rows 0-31 are gate rows and
// 32-63 the matching up rows, so thread rows b and b+2 pair up: Y = silu(g) * u); plus the
// weight type Q4_0 | Q4_1 | Q8_0 | F16 | F32.

#include "quant.wgsl"

struct Params { rows: u32, cols: u32, row_words: u32, n: u32, half: u32, _a: u32, _b: u32, _c: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read> w: array<u32>;
@group(0) @binding(3) var<storage, read> x: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
#ifdef BIAS
@group(0) @binding(6) var<storage, read> bias: array<f32>;
#endif
#ifdef RESIDUAL
@group(0) @binding(7) var<storage, read> res: array<f32>;
#endif

var<workgroup> xs: array<f32, 1024>;   // [k][token], 16 x 64
var<workgroup> ws: array<f32, 1024>;   // [k][row],   16 x 64

// The W row behind local tile row lr (0..63).
fn tile_row(tile: u32, lr: u32) -> u32 {
#ifdef SWIGLU
    return tile * 32u + (lr % 32u) + (lr / 32u) * p.half;
#endif
    return tile * 64u + lr;
}

fn row_ok(tile: u32, lr: u32) -> bool {
#ifdef SWIGLU
    return tile * 32u + (lr % 32u) < p.half;
#endif
    return tile * 64u + lr < p.rows;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let tile = wid.x;
    let t0 = wid.y * 64u;
    let tx = lid % 16u;
    let ty = lid / 16u;
    var acc: array<array<f32, 4>, 4>;    // [a: token][b: row]
    let kpad = p.row_words / BLOCK_WORDS * 32u;
    for (var k0 = 0u; k0 < kpad; k0 += 16u) {
        // X tile: thread -> (token lid/4, 4 consecutive k)
        let xt = lid / 4u;
        let xk = (lid % 4u) * 4u;
        for (var i = 0u; i < 4u; i++) {
            let k = k0 + xk + i;
            var v = 0.0;
            if (t0 + xt < p.n && k < p.cols) { v = x[(t0 + xt) * p.cols + k]; }
            xs[(xk + i) * 64u + xt] = v;
        }
        // W tile: threads 0..127 -> (row lid/2, 8 consecutive k)
        if (lid < 128u) {
            let lr = lid / 2u;
            let kk = (lid % 2u) * 8u;
            var q = W8(vec4<f32>(0.0), vec4<f32>(0.0));
            if (row_ok(tile, lr)) {
                let k = k0 + kk;
                q = dq8(tile_row(tile, lr) * p.row_words + (k / 32u) * BLOCK_WORDS, (k % 32u) / 8u);
            }
            for (var i = 0u; i < 4u; i++) {
                ws[(kk + i) * 64u + lr] = q.a[i];
                ws[(kk + 4u + i) * 64u + lr] = q.b[i];
            }
        }
        workgroupBarrier();
        for (var kk = 0u; kk < 16u; kk++) {
            var xa: array<f32, 4>;
            var wb: array<f32, 4>;
            for (var a = 0u; a < 4u; a++) { xa[a] = xs[kk * 64u + ty + 16u * a]; }
            for (var b = 0u; b < 4u; b++) { wb[b] = ws[kk * 64u + tx + 16u * b]; }
            for (var a = 0u; a < 4u; a++) {
                for (var b = 0u; b < 4u; b++) { acc[a][b] += xa[a] * wb[b]; }
            }
        }
        workgroupBarrier();
    }
    for (var a = 0u; a < 4u; a++) {
        let t = t0 + ty + 16u * a;
        if (t >= p.n) { continue; }
        for (var b = 0u; b < 4u; b++) {
            let lr = tx + 16u * b;
            if (!row_ok(tile, lr)) { continue; }
            let row = tile_row(tile, lr);
            var v = acc[a][b];
#ifdef BIAS
            v += bias[row];
#endif
#ifdef SWIGLU
            if (b >= 2u) { continue; }
            var u = acc[a][b + 2u];
#ifdef BIAS
            u += bias[row + p.half];
#endif
            y[t * p.half + tile * 32u + lr] = v / (1.0 + exp(-v)) * u;
            continue;
#endif
#ifdef RESIDUAL
            v += res[t * p.rows + row];
#endif
            y[t * p.rows + row] = v;
        }
    }
}
