// quant_iq4.wgsl -- the 16 non-uniform levels of IQ4_NL and IQ4_XS (ggml's kvalues_iq4nl), for
// quant.wgsl (included under #ifdef IQ4_NL / IQ4_XS, or their W_<type> in the fused step, only).

// kvalues_iq4nl as 16 i8 in 4 words (little-endian): a code's level is one byte of one of
// them, picked with selects: no private array, which a driver may keep in local memory.
const KV0: u32 = 0xbfad9881u;   // -127 -104  -83  -65
const KV1: u32 = 0xf6eaddcfu;   //  -49  -35  -22  -10
const KV2: u32 = 0x26190d01u;   //    1   13   25   38
const KV3: u32 = 0x71594535u;   //   53   69   89  113

fn kvalue(q: u32) -> f32 {
    let word = select(select(KV0, KV1, q >= 4u), select(KV2, KV3, q >= 12u), q >= 8u);
    return f32(extractBits(i32(word), (q % 4u) * 8u, 8u));
}

// The levels of the 4 nibbles of a word from bit `shift` on (one a byte).
fn kv4(word: u32, shift: u32) -> vec4<f32> {
    return vec4<f32>(kvalue((word >> shift) & 15u), kvalue((word >> (shift + 8u)) & 15u),
                     kvalue((word >> (shift + 16u)) & 15u), kvalue((word >> (shift + 24u)) & 15u));
}
