// embed.wgsl -- rows of the (quantized) embedding table for a list of token ids.
// Grid: x = token. Each of 64 threads dequantizes 8 values at a time (quant.wgsl).
// The token ids come from a u32 buffer, so the decode step can read the token that the
// previous step's argmax left on the GPU without a round trip through the CPU.
// POS (GPT-2's learned positions): each row also gets row step.pos + t of the f32 position
// table pe (n_ctx, cols), the token's position in the sequence.

#include "quant.wgsl"

// first_row: a table split over the binding limit (device/webgpu/split.py) is one dispatch per
// chunk of rows (split = 1); a chunk writes only the tokens in first_row .. first_row + n_rows - 1.
struct Params { row_words: u32, cols: u32, n_rows: u32, first_row: u32, split: u32, _a: u32, _b: u32, _c: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read> w: array<u32>;
@group(0) @binding(3) var<storage, read> tok: array<u32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
#ifdef POS
struct Step { pos: u32, n_tokens: u32, _a: u32, _b: u32 }
@group(0) @binding(1) var<uniform> step: Step;
@group(0) @binding(5) var<storage, read> pe: array<f32>;
#endif

// Value v of token t's column k as stored: with POS, plus the position's row.
fn out(t: u32, k: u32, v: f32) -> f32 {
#ifdef POS
    return v + pe[(step.pos + t) * p.cols + k];
#else
    return v;
#endif
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let t = wid.x;
    if (p.split != 0u && (tok[t] < p.first_row || tok[t] - p.first_row >= p.n_rows)) { return; }  // another chunk's
    let id = min(tok[t] - p.first_row, p.n_rows - 1u);   // ids are validated on the CPU; never read out of bounds
    let wb = id * p.row_words;
    let ngroups = p.row_words / BLOCK_WORDS * GROUPS_PER_BLOCK;
    for (var g = lid; g < ngroups; g += 64u) {
        let q = dq8(wb + (g / GROUPS_PER_BLOCK) * BLOCK_WORDS, g % GROUPS_PER_BLOCK);
        let o = t * p.cols + g * 8u;
        if (g * 8u + 8u <= p.cols) {       // whole group: 8 plain stores (no short loop, see matmul.wgsl)
            let k = g * 8u;
            y[o] = out(t, k, q.a.x); y[o + 1u] = out(t, k + 1u, q.a.y);
            y[o + 2u] = out(t, k + 2u, q.a.z); y[o + 3u] = out(t, k + 3u, q.a.w);
            y[o + 4u] = out(t, k + 4u, q.b.x); y[o + 5u] = out(t, k + 5u, q.b.y);
            y[o + 6u] = out(t, k + 6u, q.b.z); y[o + 7u] = out(t, k + 7u, q.b.w);
            continue;
        }
        for (var i = 0u; i < 4u; i++) {    // the row's ragged end (F16/F32 rows padded to 32)
            let k = g * 8u + i;
            if (k < p.cols) { y[t * p.cols + k] = out(t, k, q.a[i]); }
            if (k + 4u < p.cols) { y[t * p.cols + k + 4u] = out(t, k + 4u, q.b[i]); }
        }
    }
}
