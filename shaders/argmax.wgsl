// argmax.wgsl -- greedy token of each row of logits (ties -> lowest id), one workgroup per row.
// The result stays on the GPU (the next decode step's embed reads it); only 4 bytes go back.
//
// The scan issues 32 independent loads per round (Naga's bounded loops are not unrolled by the
// driver, and a round's compares wait for its loads: with 4 a round, a 49152 vocabulary took 48
// waits in a row), and the reduction is two levels (16 x 16) with 2 barriers instead of 8.

struct Params { cols: u32, _a: u32, _b: u32, _c: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(3) var<storage, read> x: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<u32>;

var<workgroup> bv: array<f32, 256>;
var<workgroup> bi: array<u32, 256>;
var<workgroup> bv2: array<f32, 16>;
var<workgroup> bi2: array<u32, 16>;

struct Best { v: f32, i: u32 }

// The better of two candidates: larger value, or on a tie the lower id.
fn better(a: Best, v: f32, i: u32) -> Best {
    if (v > a.v || (v == a.v && i < a.i)) { return Best(v, i); }
    return a;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let base = wid.x * p.cols;
    var b = Best(-3.4e38, 0xffffffffu);
    var k = lid;
    // 32 loads a round (a lane's 192 of a 49152 vocabulary in 6 rounds), all out before the first
    // compare: increasing k per lane, so a strict > keeps the first
    for (; k + 31u * 256u < p.cols; k += 8192u) {
        let v = array<f32, 32>(
            x[base + k + 0u], x[base + k + 256u], x[base + k + 512u], x[base + k + 768u],
            x[base + k + 1024u], x[base + k + 1280u], x[base + k + 1536u], x[base + k + 1792u],
            x[base + k + 2048u], x[base + k + 2304u], x[base + k + 2560u], x[base + k + 2816u],
            x[base + k + 3072u], x[base + k + 3328u], x[base + k + 3584u], x[base + k + 3840u],
            x[base + k + 4096u], x[base + k + 4352u], x[base + k + 4608u], x[base + k + 4864u],
            x[base + k + 5120u], x[base + k + 5376u], x[base + k + 5632u], x[base + k + 5888u],
            x[base + k + 6144u], x[base + k + 6400u], x[base + k + 6656u], x[base + k + 6912u],
            x[base + k + 7168u], x[base + k + 7424u], x[base + k + 7680u], x[base + k + 7936u]);
        if (v[0] > b.v) { b = Best(v[0], k + 0u); }
        if (v[1] > b.v) { b = Best(v[1], k + 256u); }
        if (v[2] > b.v) { b = Best(v[2], k + 512u); }
        if (v[3] > b.v) { b = Best(v[3], k + 768u); }
        if (v[4] > b.v) { b = Best(v[4], k + 1024u); }
        if (v[5] > b.v) { b = Best(v[5], k + 1280u); }
        if (v[6] > b.v) { b = Best(v[6], k + 1536u); }
        if (v[7] > b.v) { b = Best(v[7], k + 1792u); }
        if (v[8] > b.v) { b = Best(v[8], k + 2048u); }
        if (v[9] > b.v) { b = Best(v[9], k + 2304u); }
        if (v[10] > b.v) { b = Best(v[10], k + 2560u); }
        if (v[11] > b.v) { b = Best(v[11], k + 2816u); }
        if (v[12] > b.v) { b = Best(v[12], k + 3072u); }
        if (v[13] > b.v) { b = Best(v[13], k + 3328u); }
        if (v[14] > b.v) { b = Best(v[14], k + 3584u); }
        if (v[15] > b.v) { b = Best(v[15], k + 3840u); }
        if (v[16] > b.v) { b = Best(v[16], k + 4096u); }
        if (v[17] > b.v) { b = Best(v[17], k + 4352u); }
        if (v[18] > b.v) { b = Best(v[18], k + 4608u); }
        if (v[19] > b.v) { b = Best(v[19], k + 4864u); }
        if (v[20] > b.v) { b = Best(v[20], k + 5120u); }
        if (v[21] > b.v) { b = Best(v[21], k + 5376u); }
        if (v[22] > b.v) { b = Best(v[22], k + 5632u); }
        if (v[23] > b.v) { b = Best(v[23], k + 5888u); }
        if (v[24] > b.v) { b = Best(v[24], k + 6144u); }
        if (v[25] > b.v) { b = Best(v[25], k + 6400u); }
        if (v[26] > b.v) { b = Best(v[26], k + 6656u); }
        if (v[27] > b.v) { b = Best(v[27], k + 6912u); }
        if (v[28] > b.v) { b = Best(v[28], k + 7168u); }
        if (v[29] > b.v) { b = Best(v[29], k + 7424u); }
        if (v[30] > b.v) { b = Best(v[30], k + 7680u); }
        if (v[31] > b.v) { b = Best(v[31], k + 7936u); }
    }
    for (; k + 7u * 256u < p.cols; k += 2048u) {     // what is left: 8 a round, then one
        let v = array<f32, 8>(x[base + k + 0u], x[base + k + 256u], x[base + k + 512u], x[base + k + 768u],
                              x[base + k + 1024u], x[base + k + 1280u], x[base + k + 1536u], x[base + k + 1792u]);
        if (v[0] > b.v) { b = Best(v[0], k + 0u); }
        if (v[1] > b.v) { b = Best(v[1], k + 256u); }
        if (v[2] > b.v) { b = Best(v[2], k + 512u); }
        if (v[3] > b.v) { b = Best(v[3], k + 768u); }
        if (v[4] > b.v) { b = Best(v[4], k + 1024u); }
        if (v[5] > b.v) { b = Best(v[5], k + 1280u); }
        if (v[6] > b.v) { b = Best(v[6], k + 1536u); }
        if (v[7] > b.v) { b = Best(v[7], k + 1792u); }
    }
    for (; k < p.cols; k += 256u) {
        let v = x[base + k];
        if (v > b.v) { b = Best(v, k); }
    }
    bv[lid] = b.v;
    bi[lid] = b.i;
    workgroupBarrier();
    if (lid < 16u) {
        var c = Best(bv[lid * 16u], bi[lid * 16u]);
        for (var j = lid * 16u + 1u; j < lid * 16u + 16u; j++) { c = better(c, bv[j], bi[j]); }
        bv2[lid] = c.v;
        bi2[lid] = c.i;
    }
    workgroupBarrier();
    if (lid == 0u) {
        var c = Best(bv2[0], bi2[0]);
        for (var j = 1u; j < 16u; j++) { c = better(c, bv2[j], bi2[j]); }
        y[wid.x] = select(c.i, 0u, c.i == 0xffffffffu);
    }
}
