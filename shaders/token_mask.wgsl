// token_mask.wgsl -- a grammar constraint's allowed tokens as a bit mask (the MASK variants of
// argmax.wgsl, sample.wgsl and decode_fused.wgsl's greedy pick). Bit (i & 31) of word i >> 5 is
// token i, little-endian within the word: what webinfer.grammar.mask.pack_ids makes on the host
// (numpy.packbits(..., bitorder="little") read as little-endian u32) and device.gpu_sample.unpack_mask
// reads back. ceil(vocab / 32) words (~6 KB for 49k tokens), written by the host once a token.

@group(0) @binding(6) var<storage, read> tmask: array<u32>;

fn allowed(i: u32) -> bool {
    return ((tmask[i >> 5u] >> (i & 31u)) & 1u) != 0u;
}
