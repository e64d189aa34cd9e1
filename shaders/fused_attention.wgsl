// fused_attention.wgsl -- decode_fused.wgsl's ATTN command: attention_split.wgsl and
// attention_merge.wgsl reading the arenas.

// where attention_split.wgsl and attention_merge.wgsl find their data: the arenas
fn split_q4(i: u32) -> vec4<f32> { return act_ld4(i); }
fn split_k(i: u32) -> vec4<f32> { return kv[i]; }
fn split_v(i: u32) -> vec4<f32> { return kv[i]; }
fn split_store(i: u32, v: f32) { act_st(i, v); }
fn merge_part(i: u32) -> f32 { return act_ld(i); }
fn merge_parts8(a: array<u32, 8>) -> array<f32, 8> { return act_ld8(a); }
fn merge_store(i: u32, v: f32) { act_st(i, v); }

#include "attention_split.wgsl"
#include "attention_merge.wgsl"

// -- ATTN (attention.wgsl SPLIT) -------------------------------------------------------------
// Split attention (A_NS > 1): virtual workgroup (head h, split z). z = 0 is the current key alone
// (cur_block), z >= 1 keys (z - 1) * A_SL .. of the cache below pos, which earlier steps wrote: so
// the KV cache row this step writes (the ROPE command before) is not read in this step, and that
// command needs no fence before its arrival. One split (NORMALIZED, short contexts): keys 0 ..= pos
// from the cache, the ROPE command fenced (F_FENCE).
fn attn_block(ci: u32, vb: u32, lid: u32, pos: u32) {
    let nh = A_NH;
    let h = vb % nh;
    let zs = vb / nh;
    let hd = A_HD;
    let sl = A_SL;
    let kvh = h / (nh / A_NKV);
    let qb = cw(ci, C_X) + h * hd;
    if ((cw(ci, C_FLAGS) & F_NORMALIZED) != 0u) {
        let row4 = kvh * cw(ci, C_N_CTX) * (hd / 4u);          // vec4 index of key 0's row in a layer
        split_block(lid, hd, 0u, pos + 1u, qb, cw(ci, C_K) / 4u + row4, cw(ci, C_V) / 4u + row4,
                    cf(ci, C_SCALE), cw(ci, C_Y) + h * hd, true);
    } else {
        let pb = cw(ci, C_PART) + (h * A_NS + zs) * (hd + 2u);
        if (zs == 0u) {
            cur_block(ci, qb, kvh, lid, pb);
        } else {
            let k0 = (zs - 1u) * sl;
            let row4 = (kvh * cw(ci, C_N_CTX) + k0) * (hd / 4u);
            split_block(lid, hd, k0, min(pos, k0 + sl), qb, cw(ci, C_K) / 4u + row4, cw(ci, C_V) / 4u + row4,
                        cf(ci, C_SCALE), pb, false);
        }
    }
    workgroupBarrier();     // qs, sc, red and redv are rewritten by the next virtual workgroup
}

// The current key's partial: m = its score q . k * scale, l = 1, acc = its value, from the
// activations the ROPE command wrote (C_CUR: keys then values, kv_dim each; act_ld checks them).
fn cur_block(ci: u32, qb: u32, kvh: u32, lid: u32, pb: u32) {
    let hd = A_HD;
    let n4 = hd / 4u;
    let cb = cw(ci, C_CUR) + kvh * hd;
    let i = 4u * min(lid, n4 - 1u);
    let q = act_ld4(qb + i);
    let k = act_ld4(cb + i);
    let v = act_ld(cb + A_NKV * hd + min(lid, hd - 1u));
    if (lid < n4) { red[lid] = dot(q, k); }
    if (lid < hd) { act_st(pb + lid, v); }
    workgroupBarrier();
    if (lid == 0u) {
        var s = 0.0;
        for (var j = 0u; j < n4; j++) { s += red[j]; }
        act_st(pb + hd, s * cf(ci, C_SCALE));
        act_st(pb + hd + 1u, 1.0);
    }
}

fn op_attn(ci: u32, wg: u32, lid: u32, n_wg: u32) {
    let nv = cw(ci, C_NVWG);
    if (wg >= nv) { prefetch(ci, wg - nv, n_wg - nv, lid); }
    // the position through workgroupUniformLoad: split_block's barriers depend on it (see stage_x)
    let pos = workgroupUniformLoad(&wpos);
    for (var b = wg; b < nv; b += n_wg) { attn_block(ci, b, lid, pos); }
}
