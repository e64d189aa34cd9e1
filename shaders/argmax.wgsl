// argmax.wgsl -- greedy token of each row of logits (ties -> lowest id), one workgroup per row.
// The result stays on the GPU (the next decode step's embed reads it); only 4 bytes go back.

struct Params { cols: u32, _a: u32, _b: u32, _c: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(3) var<storage, read> x: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<u32>;

var<workgroup> bv: array<f32, 256>;
var<workgroup> bi: array<u32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let base = wid.x * p.cols;
    var best = -3.4e38;
    var arg = 0xffffffffu;
    for (var k = lid; k < p.cols; k += 256u) {
        let v = x[base + k];
        if (v > best) { best = v; arg = k; }      // strided scan: the first max of this lane
    }
    bv[lid] = best;
    bi[lid] = arg;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (lid < s) {
            let v = bv[lid + s];
            let i = bi[lid + s];
            if (v > bv[lid] || (v == bv[lid] && i < bi[lid])) { bv[lid] = v; bi[lid] = i; }
        }
        workgroupBarrier();
    }
    if (lid == 0u) { y[wid.x] = select(bi[0], 0u, bi[0] == 0xffffffffu); }
}
