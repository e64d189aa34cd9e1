// elementwise.wgsl -- y = a + b (the residual add when it is not fused into a projection), or
// with SWIGLU: y = silu(g) * u of a (rows, 2 h) gate|up activation a (after a projection that
// could not fuse it: a weight split over the binding limit, see device/webgpu/split.py; + GEGLU:
// gelu_tanh(g) * u, gate.wgsl), or with GELU: y = gelu(a), GELU's tanh form, + ERF its erf form
// (gelu.wgsl, as matvec.wgsl's GELU epilogue; the same split weights), or with SCALE: y = a * c
// (Gemma's embedding scaling), or with SOFTCAP: y = tanh(a / c) * c (Gemma 2's logit soft-capping; twin numpy_device.softcap).
// Grid: 2-D over blocks of 256 elements.

struct Params { n: u32, nwg_x: u32, h: u32, c: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(3) var<storage, read> a: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
#ifndef SWIGLU GELU SCALE SOFTCAP
@group(0) @binding(5) var<storage, read> b: array<f32>;
#endif
#ifdef SWIGLU
#include "gate.wgsl"
#endif
#ifdef GELU
#include "gelu.wgsl"
#endif

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.x + wid.y * p.nwg_x) * 256u + lid;
    if (i >= p.n) { return; }
#ifdef SWIGLU
    let g = a[(i / p.h) * 2u * p.h + i % p.h];
    y[i] = gate(g) * a[(i / p.h) * 2u * p.h + p.h + i % p.h];
#endif
#ifdef GELU
    y[i] = gelu(a[i]);
#endif
#ifdef SCALE
    y[i] = a[i] * p.c;
#endif
#ifdef SOFTCAP
    // tanh's argument clamped where it is +-1 in f32 already (gate.wgsl says why)
    y[i] = tanh(clamp(a[i] / p.c, -15.0, 15.0)) * p.c;
#endif
#ifndef SWIGLU GELU SCALE SOFTCAP
    y[i] = a[i] + b[i];
#endif
}
