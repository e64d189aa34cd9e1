// gate.wgsl -- the gate activation of a gated MLP, for the SWIGLU epilogues of matvec.wgsl,
// matmul.wgsl and elementwise.wgsl: silu(g) = g / (1 + exp(-g)), or with GEGLU (Gemma) GELU's
// tanh approximation, 0.5 g (1 + tanh(sqrt(2/pi) (g + 0.044715 g^3))) as PyTorch computes it
// (twin: numpy_device.gelu_tanh). tanh's argument is clamped to +-15, where it is +-1 in f32
// already: some backends build tanh from exp and give NaN for a large argument.

#ifdef GEGLU
fn gate(g: f32) -> f32 {
    let inner = 0.7978845608028654 * (g + 0.044715 * (g * g * g));
    return 0.5 * g * (1.0 + tanh(clamp(inner, -15.0, 15.0)));
}
fn gate2(g: vec2<f32>) -> vec2<f32> { return vec2<f32>(gate(g.x), gate(g.y)); }
#else
fn gate(g: f32) -> f32 { return g / (1.0 + exp(-g)); }
fn gate2(g: vec2<f32>) -> vec2<f32> { return g / (1.0 + exp(-g)); }
#endif
