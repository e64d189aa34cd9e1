// quant_kscales.wgsl -- the 6-bit sub-block scales and mins of Q4_K and Q5_K, for quant.wgsl
// (included under #ifdef Q4_K / Q5_K or their W_<type>, so the other types' WGSL does not carry them).

// Byte k of the block at word base, 0..255.
fn byte_at(base: u32, k: u32) -> u32 {
    return (w[base + k / 4u] >> ((k % 4u) * 8u)) & 255u;
}

// (d * sc, dmin * m) of sub-block s (0..7, 32 weights) of the block at word base: ggml's
// get_scale_min_k4 over the 12 scale bytes (block bytes 4..15: scales[j] = byte 4 + j), the
// products rounded as dequantize_row_q4_K / q5_K round them.
fn scale_min_k4(base: u32, s: u32) -> vec2<f32> {
    let dm = unpack2x16float(w[base]);
    var sc: u32;
    var m: u32;
    if (s < 4u) {
        sc = byte_at(base, 4u + s) & 63u;                          // scales[s]
        m = byte_at(base, 8u + s) & 63u;                           // scales[s + 4]
    } else {
        let hi = byte_at(base, 8u + s);                            // scales[s + 4]
        sc = (hi & 15u) | ((byte_at(base, s) >> 6u) << 4u);        // top bits from scales[s - 4]
        m = (hi >> 4u) | ((byte_at(base, 4u + s) >> 6u) << 4u);    // top bits from scales[s]
    }
    return vec2<f32>(dm.x * f32(sc), dm.y * f32(m));
}
