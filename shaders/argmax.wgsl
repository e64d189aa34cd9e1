// argmax.wgsl -- greedy token of each row of logits (ties -> lowest id), one workgroup per row.
// The result stays on the GPU (the next decode step's embed reads it); only 4 bytes go back.
//
// The scan issues 4 independent loads per iteration (Naga's bounded loops are not unrolled by
// the driver, so one load per iteration would wait out each load's latency: 192 in a row for a
// 49152 vocabulary), and the reduction is two levels (16 x 16) with 2 barriers instead of 8.

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
    for (; k + 768u < p.cols; k += 1024u) {
        let v0 = x[base + k];
        let v1 = x[base + k + 256u];
        let v2 = x[base + k + 512u];
        let v3 = x[base + k + 768u];
        if (v0 > b.v) { b = Best(v0, k); }        // increasing k per lane: strict > keeps the first
        if (v1 > b.v) { b = Best(v1, k + 256u); }
        if (v2 > b.v) { b = Best(v2, k + 512u); }
        if (v3 > b.v) { b = Best(v3, k + 768u); }
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
