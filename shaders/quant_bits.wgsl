// quant_bits.wgsl -- the bit fields one byte of each of a word's 4 bytes holds, for quant.wgsl's
// K-quant decoders (included under their defines only). Each gives 4 consecutive elements when
// a word holds byte l .. l+3 of a 32-byte run, which is how those blocks store element l.

// Bit `bit` of each byte, as 0.0 / 1.0 (Q3_K's hmask, Q5_K's qh).
fn bit4(word: u32, bit: u32) -> vec4<f32> {
    return vec4<f32>(f32((word >> bit) & 1u), f32((word >> (bit + 8u)) & 1u),
                     f32((word >> (bit + 16u)) & 1u), f32((word >> (bit + 24u)) & 1u));
}

// Bits shift, shift+1 of each byte, as 0..3 (Q2_K's and Q3_K's qs, Q6_K's qh).
fn crumb4(word: u32, shift: u32) -> vec4<f32> {
    return vec4<f32>(f32((word >> shift) & 3u), f32((word >> (shift + 8u)) & 3u),
                     f32((word >> (shift + 16u)) & 3u), f32((word >> (shift + 24u)) & 3u));
}
