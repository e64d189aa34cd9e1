// rmsnorm.wgsl -- y = x / sqrt(mean(x^2) + eps) * w, one workgroup per row.
// (In the decode step this is fused into the next matvec, see matvec.wgsl NORM; this kernel
// serves prefill and any norm whose consumer is not a projection.)
// RESIDUAL: y = res + norm(x) * w, Gemma's norm of a block's output added to the residual
// (post_attention_norm, post_ffw_norm): one dispatch, not a norm then an add.

struct Params { cols: u32, eps: f32, _a: u32, _b: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(3) var<storage, read> x: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read> nw: array<f32>;
#ifdef RESIDUAL
@group(0) @binding(7) var<storage, read> res: array<f32>;
#endif

var<workgroup> red: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let base = wid.x * p.cols;
    var ss = 0.0;
    for (var k = lid; k < p.cols; k += 256u) { let v = x[base + k]; ss += v * v; }
    red[lid] = ss;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (lid < s) { red[lid] += red[lid + s]; }
        workgroupBarrier();
    }
    let scale = inverseSqrt(red[0] / f32(p.cols) + p.eps);
#ifdef RESIDUAL
    for (var k = lid; k < p.cols; k += 256u) { y[base + k] = res[base + k] + x[base + k] * scale * nw[k]; }
#else
    for (var k = lid; k < p.cols; k += 256u) { y[base + k] = x[base + k] * scale * nw[k]; }
#endif
}
