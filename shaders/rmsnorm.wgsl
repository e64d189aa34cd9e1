// rmsnorm.wgsl -- y = x / sqrt(mean(x^2) + eps) * w, one workgroup per row.
// (In the decode step this is fused into the next matvec, see matvec.wgsl NORM; this kernel
// serves prefill and any norm whose consumer is not a projection.)
// RESIDUAL: y = res + norm(x) * w, Gemma's norm of a block's output added to the residual
// (post_attention_norm, post_ffw_norm): one dispatch, not a norm then an add.
// LAYERNORM (GPT-2): y = (x - mean(x)) / sqrt(mean((x - mean)^2) + eps) * w + b, two passes over
// the row as torch's LayerNorm (the mean, then the biased variance around it); b at binding 6.

struct Params { cols: u32, eps: f32, _a: u32, _b: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(3) var<storage, read> x: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read> nw: array<f32>;
#ifdef LAYERNORM
@group(0) @binding(6) var<storage, read> nb: array<f32>;
#endif
#ifdef RESIDUAL
@group(0) @binding(7) var<storage, read> res: array<f32>;
#endif

var<workgroup> red: array<f32, 256>;

// The sum of every thread's v, for every thread (red is free again when it returns).
fn row_sum(lid: u32, v: f32) -> f32 {
    red[lid] = v;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (lid < s) { red[lid] += red[lid + s]; }
        workgroupBarrier();
    }
    let r = red[0];
    workgroupBarrier();
    return r;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let base = wid.x * p.cols;
#ifdef LAYERNORM
    var sx = 0.0;
    for (var k = lid; k < p.cols; k += 256u) { sx += x[base + k]; }
    let mean = row_sum(lid, sx) / f32(p.cols);
    var sd = 0.0;
    for (var k = lid; k < p.cols; k += 256u) { let d = x[base + k] - mean; sd += d * d; }
    let scale = inverseSqrt(row_sum(lid, sd) / f32(p.cols) + p.eps);
    for (var k = lid; k < p.cols; k += 256u) { y[base + k] = (x[base + k] - mean) * scale * nw[k] + nb[k]; }
#else
    var ss = 0.0;
    for (var k = lid; k < p.cols; k += 256u) { let v = x[base + k]; ss += v * v; }
    let scale = inverseSqrt(row_sum(lid, ss) / f32(p.cols) + p.eps);
#ifdef RESIDUAL
    for (var k = lid; k < p.cols; k += 256u) { y[base + k] = res[base + k] + x[base + k] * scale * nw[k]; }
#else
    for (var k = lid; k < p.cols; k += 256u) { y[base + k] = x[base + k] * scale * nw[k]; }
#endif
#endif
}
