// elementwise.wgsl -- y = a + b (the residual add when it is not fused into a projection).
// Grid: 2-D over blocks of 256 elements.

struct Params { n: u32, nwg_x: u32, _a: u32, _b: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(3) var<storage, read> a: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read> b: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.x + wid.y * p.nwg_x) * 256u + lid;
    if (i < p.n) { y[i] = a[i] + b[i]; }
}
