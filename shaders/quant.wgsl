// quant.wgsl -- decoding 8 weights at a time from a weight matrix stored as array<u32>.
// Included (#include "quant.wgsl") by matvec.wgsl, matmul.wgsl and embed.wgsl; the includer
// declares the storage binding `w: array<u32>` and defines exactly one of Q4_0, Q4_1, Q8_0,
// F16, F32, which picks BLOCK_WORDS and dq8. decode_fused.wgsl defines none and calls the
// per-type decoders (dq8_q4_0 ...) itself: one module there serves every type of a model.
//
// On-GPU layout: ggml's raw blocks of 32 weights per row, unchanged except that the f16 scale
// of Q4_0 and Q8_0 is padded to a whole u32 (Q4_0 18 -> 20 bytes, Q8_0 34 -> 36). Why: WGSL
// has no byte loads, and unpadded 18/34-byte blocks start mid-word every other block, which
// costs a funnel shift per word; padding makes every block start on a u32 and every quant
// byte group sit in whole words, for 11% (Q4_0) / 6% (Q8_0) more bytes. Q4_1 (20 bytes) is
// uploaded exactly as in the file. F16/F32 rows are zero-padded to a multiple of 32 values
// so every type is "blocks of 32" and the matmul loops need no per-type tail code.
//
//   Q4_0  5 words: [f16 d | pad] [qs 16 bytes]   x = d * (q - 8)
//   Q4_1  5 words: [f16 d | f16 m] [qs 16 bytes] x = d * q + m
//   Q8_0  9 words: [f16 d | pad] [i8 qs 32]      x = d * q
//   F16  16 words: 32 halves                     (read with unpack2x16float: no shader-f16)
//   F32  32 words: 32 floats
// In the 4-bit types byte j holds element j (low nibble) and element j+16 (high nibble).

#ifdef Q4_0
const BLOCK_WORDS: u32 = 5u;
fn dq8(base: u32, sub: u32) -> W8 { return dq8_q4_0(base, sub); }
#endif
#ifdef Q4_1
const BLOCK_WORDS: u32 = 5u;
fn dq8(base: u32, sub: u32) -> W8 { return dq8_q4_1(base, sub); }
#endif
#ifdef Q8_0
const BLOCK_WORDS: u32 = 9u;
fn dq8(base: u32, sub: u32) -> W8 { return dq8_q8_0(base, sub); }
#endif
#ifdef F16
const BLOCK_WORDS: u32 = 16u;
fn dq8(base: u32, sub: u32) -> W8 { return dq8_f16(base, sub); }
#endif
#ifdef F32
const BLOCK_WORDS: u32 = 32u;
fn dq8(base: u32, sub: u32) -> W8 { return dq8_f32(base, sub); }
#endif

struct W8 { a: vec4<f32>, b: vec4<f32> }   // weights k = 8*sub .. 8*sub+7 of one block

fn nib4(word: u32, shift: u32) -> vec4<f32> {
    return vec4<f32>(f32((word >> shift) & 15u), f32((word >> (shift + 8u)) & 15u),
                     f32((word >> (shift + 16u)) & 15u), f32((word >> (shift + 24u)) & 15u));
}

fn i8x4(word: u32) -> vec4<f32> {
    let s = i32(word);
    return vec4<f32>(f32(extractBits(s, 0u, 8u)), f32(extractBits(s, 8u, 8u)),
                     f32(extractBits(s, 16u, 8u)), f32(extractBits(s, 24u, 8u)));
}

// base: word index of the block's first word; sub: which 8 of its 32 weights (0..3).
fn dq8_q4_0(base: u32, sub: u32) -> W8 {
    let d = unpack2x16float(w[base]).x;
    let qw = base + 1u + (sub & 1u) * 2u;      // elements 0-7 / 8-15 are words 0-1 / 2-3 ...
    let sh = (sub >> 1u) * 4u;                  // ... low nibbles; 16-31 the same words, high nibbles
    return W8((nib4(w[qw], sh) - 8.0) * d, (nib4(w[qw + 1u], sh) - 8.0) * d);
}

fn dq8_q4_1(base: u32, sub: u32) -> W8 {
    let dm = unpack2x16float(w[base]);
    let qw = base + 1u + (sub & 1u) * 2u;
    let sh = (sub >> 1u) * 4u;
    return W8(nib4(w[qw], sh) * dm.x + dm.y, nib4(w[qw + 1u], sh) * dm.x + dm.y);
}

fn dq8_q8_0(base: u32, sub: u32) -> W8 {
    let d = unpack2x16float(w[base]).x;
    let qw = base + 1u + sub * 2u;
    return W8(i8x4(w[qw]) * d, i8x4(w[qw + 1u]) * d);
}

fn dq8_f16(base: u32, sub: u32) -> W8 {
    let i = base + sub * 4u;
    return W8(vec4<f32>(unpack2x16float(w[i]), unpack2x16float(w[i + 1u])),
              vec4<f32>(unpack2x16float(w[i + 2u]), unpack2x16float(w[i + 3u])));
}

fn dq8_f32(base: u32, sub: u32) -> W8 {
    let i = base + sub * 8u;
    return W8(vec4<f32>(bitcast<f32>(w[i]), bitcast<f32>(w[i + 1u]), bitcast<f32>(w[i + 2u]), bitcast<f32>(w[i + 3u])),
              vec4<f32>(bitcast<f32>(w[i + 4u]), bitcast<f32>(w[i + 5u]), bitcast<f32>(w[i + 6u]), bitcast<f32>(w[i + 7u])));
}
