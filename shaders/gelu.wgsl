// gelu.wgsl -- the GELU of the projections' GELU epilogue (matvec.wgsl, matmul.wgsl) and of
// elementwise.wgsl's GELU: the tanh form by default (GPT-2's MLP: HF's gelu_new), as
// y * sigmoid(2u) = y / (1 + exp(-2u)), u = sqrt(2/pi) (y + 0.044715 y^3); with ERF the exact
// form, 0.5 y (1 + erf(y / sqrt 2)) (BERT's MLP: HF's "gelu"), erf by Abramowitz & Stegun 7.1.26
// (|error| < 1.5e-7; WGSL has no erf). Twins: numpy_device.gelu_tanh and numpy_device.gelu_erf
// (the same polynomial, ERF_P and ERF_A).

#ifdef ERF
fn gelu(v: f32) -> f32 {
    let z = abs(v) * 0.7071067811865476;
    let t = 1.0 / (1.0 + 0.3275911 * z);
    let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
    let e = 1.0 - poly * exp(-z * z);
    return 0.5 * v * (1.0 + select(e, -e, v < 0.0));
}
#else
fn gelu(v: f32) -> f32 {
    let u = 0.7978845608028654 * (v + 0.044715 * v * v * v);
    return v / (1.0 + exp(min(-2.0 * u, 80.0)));   // (no overflow to inf: WGSL leaves its value open)
}
#endif
