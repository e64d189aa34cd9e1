// quant.wgsl -- decoding 8 weights at a time from a weight matrix stored as array<u32>.
// Included (#include "quant.wgsl") by matvec.wgsl, matmul.wgsl and embed.wgsl; the includer
// declares the storage binding `w: array<u32>` and defines exactly one of Q4_0, Q4_1, Q8_0,
// F16, F32, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS, which picks BLOCK_WORDS,
// GROUPS_PER_BLOCK and dq8. decode_fused.wgsl defines none and calls the per-type decoders
// (dq8_q4_0 ...) itself: one module there serves every type of a model (layout.FUSED_QUANTS).
// A decoder after dq8_f32 and its helpers are compiled in only where its define is, or, in the
// fused step, its W_<type> (the types the step uses).
//
// On-GPU layout: ggml's raw blocks per row (32 weights; 256 for the K-quants and IQ4_XS),
// unchanged except that the f16 scale of Q4_0, Q5_0, Q8_0 and IQ4_NL is padded to a whole u32
// (Q4_0 and IQ4_NL 18 -> 20 bytes, Q5_0 22 -> 24, Q8_0 34 -> 36) and a Q3_K or Q6_K block gets
// 2 zero bytes at its end (110 -> 112, 210 -> 212, so the next block starts on a word; its
// fields already do).
// Why: WGSL has no byte loads, and unpadded 18/34-byte blocks start mid-word every other
// block, which costs a funnel shift per word; padding makes every block start on a u32 and
// every quant byte group sit in whole words, for 11% (Q4_0, IQ4_NL) / 9% (Q5_0) / 6% (Q8_0) /
// 2% (Q3_K) / 1% (Q6_K) more bytes. Q4_1, Q5_1, Q2_K, Q4_K, Q5_K and IQ4_XS are uploaded
// exactly as in the file.
// F16/F32 rows are zero-padded to a multiple of 32 values so every type is whole blocks and
// the matmul loops need no per-type tail code.
//
//   Q4_0  5 words: [f16 d | pad] [qs 16 bytes]   x = d * (q - 8)
//   Q4_1  5 words: [f16 d | f16 m] [qs 16 bytes] x = d * q + m
//   Q8_0  9 words: [f16 d | pad] [i8 qs 32]      x = d * q
//   F16  16 words: 32 halves                     (read with unpack2x16float: no shader-f16)
//   F32  32 words: 32 floats
//   Q5_0  6 words: [f16 d | pad] [qh] [qs 16]    x = d * (q - 16), q = nibble | qh bit j << 4
//   Q5_1  6 words: [f16 d | f16 m] [qh] [qs 16]  x = d * q + m
//   Q2_K 21 words (256 weights): [scales 16 bytes] [qs 64 bytes] [f16 d | f16 dmin]
//   Q3_K 28 words (256 weights): [hmask 32 bytes] [qs 64 bytes] [scales 12 bytes] [f16 d | pad]
//   Q4_K 36 words (256 weights): [f16 d | f16 dmin] [scales 12 bytes] [qs 128 bytes]
//   Q5_K 44 words (256 weights): [f16 d | f16 dmin] [scales 12 bytes] [qh 32 bytes] [qs 128 bytes]
//   IQ4_NL 5 words: [f16 d | pad] [qs 16]        x = d * kvalues[q] (quant_iq4.wgsl), nibbles as Q4_0
//   IQ4_XS 34 words (256 weights): [f16 d | u16 scales_h] [scales_l 4 bytes] [qs 128 bytes]
//   Q6_K 53 words (256 weights): [ql 128 bytes] [qh 64] [i8 scales 16] [f16 d | pad]
// In the 32-weight 4/5-bit types byte j holds element j (low nibble) and element j+16 (high
// nibble). The K-quants' bit positions: formats/kquants.py's docstring.
// A block is GROUPS_PER_BLOCK groups of 8 weights (4; 32 for a 256-weight K-quant block).

#ifdef Q4_0
const BLOCK_WORDS: u32 = 5u;
const GROUPS_PER_BLOCK: u32 = 4u;
fn dq8(base: u32, sub: u32) -> W8 { return dq8_q4_0(base, sub); }
#endif
#ifdef Q4_1
const BLOCK_WORDS: u32 = 5u;
const GROUPS_PER_BLOCK: u32 = 4u;
fn dq8(base: u32, sub: u32) -> W8 { return dq8_q4_1(base, sub); }
#endif
#ifdef Q8_0
const BLOCK_WORDS: u32 = 9u;
const GROUPS_PER_BLOCK: u32 = 4u;
fn dq8(base: u32, sub: u32) -> W8 { return dq8_q8_0(base, sub); }
#endif
#ifdef F16
const BLOCK_WORDS: u32 = 16u;
const GROUPS_PER_BLOCK: u32 = 4u;
fn dq8(base: u32, sub: u32) -> W8 { return dq8_f16(base, sub); }
#endif
#ifdef F32
const BLOCK_WORDS: u32 = 32u;
const GROUPS_PER_BLOCK: u32 = 4u;
fn dq8(base: u32, sub: u32) -> W8 { return dq8_f32(base, sub); }
#endif
#ifdef Q5_0
const BLOCK_WORDS: u32 = 6u;
const GROUPS_PER_BLOCK: u32 = 4u;
fn dq8(base: u32, sub: u32) -> W8 { return dq8_q5_0(base, sub); }
#endif
#ifdef Q5_1
const BLOCK_WORDS: u32 = 6u;
const GROUPS_PER_BLOCK: u32 = 4u;
fn dq8(base: u32, sub: u32) -> W8 { return dq8_q5_1(base, sub); }
#endif
#ifdef Q4_K
const BLOCK_WORDS: u32 = 36u;
const GROUPS_PER_BLOCK: u32 = 32u;
fn dq8(base: u32, sub: u32) -> W8 { return dq8_q4_k(base, sub); }
#endif
#ifdef Q5_K
const BLOCK_WORDS: u32 = 44u;
const GROUPS_PER_BLOCK: u32 = 32u;
fn dq8(base: u32, sub: u32) -> W8 { return dq8_q5_k(base, sub); }
#endif
#ifdef IQ4_NL
const BLOCK_WORDS: u32 = 5u;
const GROUPS_PER_BLOCK: u32 = 4u;
fn dq8(base: u32, sub: u32) -> W8 { return dq8_iq4_nl(base, sub); }
#endif
#ifdef IQ4_XS
const BLOCK_WORDS: u32 = 34u;
const GROUPS_PER_BLOCK: u32 = 32u;
fn dq8(base: u32, sub: u32) -> W8 { return dq8_iq4_xs(base, sub); }
#endif
#ifdef Q2_K
const BLOCK_WORDS: u32 = 21u;
const GROUPS_PER_BLOCK: u32 = 32u;
fn dq8(base: u32, sub: u32) -> W8 { return dq8_q2_k(base, sub); }
#endif
#ifdef Q3_K
const BLOCK_WORDS: u32 = 28u;
const GROUPS_PER_BLOCK: u32 = 32u;
fn dq8(base: u32, sub: u32) -> W8 { return dq8_q3_k(base, sub); }
#endif
#ifdef Q6_K
const BLOCK_WORDS: u32 = 53u;
const GROUPS_PER_BLOCK: u32 = 32u;
fn dq8(base: u32, sub: u32) -> W8 { return dq8_q6_k(base, sub); }
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

// The decoders below (Q5_0 ... Q3_K) are compiled in only under their own define (the plain
// kernels' variants of that type) or its W_<type> (a fused step that uses the type): the other
// types' variants carry none of their code (nor their helper files, each pasted once).
#ifdef Q5_0 W_Q5_0
// The 8 five-bit codes of group sub (exact in f32): nibbles as Q4_0 (qs from word 2), plus bit
// 8*sub+i of qh (word 1) times 16; x = (q - 16) * d.
fn dq8_q5_0(base: u32, sub: u32) -> W8 {
    let d = unpack2x16float(w[base]).x;
    let qh = vec4<u32>(w[base + 1u] >> (sub * 8u)) >> vec4<u32>(0u, 1u, 2u, 3u);
    let qw = base + 2u + (sub & 1u) * 2u;
    let sh = (sub >> 1u) * 4u;
    let qa = nib4(w[qw], sh) + 16.0 * vec4<f32>(qh & vec4<u32>(1u));
    let qb = nib4(w[qw + 1u], sh) + 16.0 * vec4<f32>((qh >> vec4<u32>(4u)) & vec4<u32>(1u));
    return W8((qa - 16.0) * d, (qb - 16.0) * d);
}
#endif
#ifdef Q5_1 W_Q5_1
// As Q5_0 with [f16 d | f16 m] in word 0; x = d * q + m.
fn dq8_q5_1(base: u32, sub: u32) -> W8 {
    let dm = unpack2x16float(w[base]);
    let qh = vec4<u32>(w[base + 1u] >> (sub * 8u)) >> vec4<u32>(0u, 1u, 2u, 3u);
    let qw = base + 2u + (sub & 1u) * 2u;
    let sh = (sub >> 1u) * 4u;
    let qa = nib4(w[qw], sh) + 16.0 * vec4<f32>(qh & vec4<u32>(1u));
    let qb = nib4(w[qw + 1u], sh) + 16.0 * vec4<f32>((qh >> vec4<u32>(4u)) & vec4<u32>(1u));
    return W8(qa * dm.x + dm.y, qb * dm.x + dm.y);
}
#endif
#ifdef Q4_K W_Q4_K
#include "quant_kscales.wgsl"

// sub 0..31 (8 weights each) of a 256-weight block; sub-block s = sub / 4 (32 weights) has one
// scale and min (scale_min_k4). x = (d * sc) * q - dmin * m, as dequantize_row_q4_K.
fn dq8_q4_k(base: u32, sub: u32) -> W8 {
    let s = sub / 4u;
    let dm = scale_min_k4(base, s);
    // codes: qs (from word 4) byte 32 * (s / 2) + l, l = 8 * (sub % 4) + i; low nibble for even s
    let qw = base + 4u + (s / 2u) * 8u + (sub % 4u) * 2u;
    let sh = (s % 2u) * 4u;
    return W8(dm.x * nib4(w[qw], sh) - dm.y, dm.x * nib4(w[qw + 1u], sh) - dm.y);
}
#endif
#ifdef Q5_K W_Q5_K
#include "quant_kscales.wgsl"
#include "quant_bits.wgsl"

// As Q4_K, with a fifth bit: bit s of qh[l] (qh: words 4..11), qs from word 12.
fn dq8_q5_k(base: u32, sub: u32) -> W8 {
    let s = sub / 4u;
    let dm = scale_min_k4(base, s);
    let qw = base + 12u + (s / 2u) * 8u + (sub % 4u) * 2u;
    let hw = base + 4u + (sub % 4u) * 2u;
    let sh = (s % 2u) * 4u;
    let qa = nib4(w[qw], sh) + 16.0 * bit4(w[hw], s);
    let qb = nib4(w[qw + 1u], sh) + 16.0 * bit4(w[hw + 1u], s);
    return W8(dm.x * qa - dm.y, dm.x * qb - dm.y);
}
#endif
#ifdef Q6_K W_Q6_K
#include "quant_bits.wgsl"

// sub 0..31. Element e = 8 * sub + i of the block: half h = e / 128, k = e % 128 / 32,
// l = e % 32: low 4 bits in ql[64h + 32(k % 2) + l] (nibble k / 2), high 2 bits in
// (qh[32h + l] >> 2k) & 3 (qh from word 32); x = (d * scales[e / 16]) * (q - 32), as
// dequantize_row_q6_K (scales: i8 from word 48; d: word 52's low half).
fn dq8_q6_k(base: u32, sub: u32) -> W8 {
    let d = unpack2x16float(w[base + 52u]).x;
    let h = sub / 16u;
    let k = (sub % 16u) / 4u;
    let l4 = (sub % 4u) * 2u;                            // l / 4: byte l's word within a 32-byte run
    let s = sub / 2u;                                    // the scale's sub-block of 16
    let dl = d * f32(extractBits(i32(w[base + 48u + s / 4u]), (s % 4u) * 8u, 8u));
    let ql = base + h * 16u + (k % 2u) * 8u + l4;
    let qh = base + 32u + h * 8u + l4;
    let qa = nib4(w[ql], (k / 2u) * 4u) + 16.0 * crumb4(w[qh], k * 2u) - 32.0;
    let qb = nib4(w[ql + 1u], (k / 2u) * 4u) + 16.0 * crumb4(w[qh + 1u], k * 2u) - 32.0;
    return W8(dl * qa, dl * qb);
}
#endif
#ifdef IQ4_NL W_IQ4_NL
#include "quant_iq4.wgsl"

// Nibbles as Q4_0; x = d * kvalues[q], as dequantize_row_iq4_nl.
fn dq8_iq4_nl(base: u32, sub: u32) -> W8 {
    let d = unpack2x16float(w[base]).x;
    let qw = base + 1u + (sub & 1u) * 2u;
    let sh = (sub >> 1u) * 4u;
    return W8(d * kv4(w[qw], sh), d * kv4(w[qw + 1u], sh));
}
#endif
#ifdef IQ4_XS W_IQ4_XS
#include "quant_iq4.wgsl"

// sub 0..31; sub-block s = sub / 4 of 32 weights: 6-bit scale ls = nibble s of scales_l (word 1)
// | bits 2s..2s+1 of scales_h (word 0's high half) << 4; its 16 qs bytes from word 2 + 4s hold
// its 32 codes as an IQ4_NL block does. x = (d * (ls - 32)) * kvalues[q], as ggml.
fn dq8_iq4_xs(base: u32, sub: u32) -> W8 {
    let s = sub / 4u;
    let ls = ((w[base + 1u] >> (s * 4u)) & 15u) | (((w[base] >> (16u + s * 2u)) & 3u) << 4u);
    let dl = unpack2x16float(w[base]).x * (f32(ls) - 32.0);
    let g = sub % 4u;
    let qw = base + 2u + s * 4u + (g & 1u) * 2u;
    let sh = (g >> 1u) * 4u;
    return W8(dl * kv4(w[qw], sh), dl * kv4(w[qw + 1u], sh));
}
#endif
#ifdef Q2_K W_Q2_K
#include "quant_bits.wgsl"

// sub 0..31. Element e = 8 * sub + i: h = e / 128, j = e % 128 / 32, l = e % 32; code
// (qs[32h + l] >> 2j) & 3 (qs from word 4); sub-block e / 16 = sub / 2 has the scale byte sc
// (words 0..3): x = (d * (sc & 15)) * q - dmin * (sc >> 4), as dequantize_row_q2_K.
fn dq8_q2_k(base: u32, sub: u32) -> W8 {
    let dm = unpack2x16float(w[base + 20u]);
    let s = sub / 2u;
    let sc = (w[base + s / 4u] >> ((s % 4u) * 8u)) & 255u;
    let dl = dm.x * f32(sc & 15u);
    let ml = dm.y * f32(sc >> 4u);
    let qw = base + 4u + (sub / 16u) * 8u + (sub % 4u) * 2u;
    let sh = ((sub % 16u) / 4u) * 2u;
    return W8(dl * crumb4(w[qw], sh) - ml, dl * crumb4(w[qw + 1u], sh) - ml);
}
#endif
#ifdef Q3_K W_Q3_K
#include "quant_bits.wgsl"

// Byte k of Q3_K's 12 scale bytes (block bytes 96..107: words 24..26).
fn q3_scale_byte(base: u32, k: u32) -> u32 {
    return (w[base + 24u + k / 4u] >> ((k % 4u) * 8u)) & 255u;
}

// sub 0..31. Element e = 8 * sub + i: h = e / 128, j = e % 128 / 32, l = e % 32; code
// (qs[32h + l] >> 2j) & 3 (qs from word 8) minus 4 where bit 4h + j of hmask[l] (words 0..7)
// is clear; sub-block s = e / 16 = sub / 2 has a 6-bit scale stored + 32 (low 4 bits: nibble
// s / 8 of byte s % 8, top 2: bits 2(s / 4) of byte 8 + s % 4): x = (d * (sc - 32)) * q, as
// dequantize_row_q3_K.
fn dq8_q3_k(base: u32, sub: u32) -> W8 {
    let s = sub / 2u;
    let lo = (q3_scale_byte(base, s % 8u) >> ((s / 8u) * 4u)) & 15u;
    let hi = (q3_scale_byte(base, 8u + s % 4u) >> ((s / 4u) * 2u)) & 3u;
    let dl = unpack2x16float(w[base + 27u]).x * (f32(lo | (hi << 4u)) - 32.0);
    let j = (sub % 16u) / 4u;
    let l4 = (sub % 4u) * 2u;
    let qw = base + 8u + (sub / 16u) * 8u + l4;
    let hb = (sub / 16u) * 4u + j;
    let qa = crumb4(w[qw], j * 2u) + 4.0 * bit4(w[base + l4], hb) - 4.0;
    let qb = crumb4(w[qw + 1u], j * 2u) + 4.0 * bit4(w[base + l4 + 1u], hb) - 4.0;
    return W8(dl * qa, dl * qb);
}
#endif
