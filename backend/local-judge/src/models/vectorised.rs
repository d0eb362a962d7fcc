//! Our CPU kernels for f32: the element-wise activations (erf and tanh GELU, SiLU, quick GELU),
//! the softmax over the last dimension and the layer / RMS normalisation, each vectorised and each
//! with a backward pass.
//!
//! candle's CPU `gelu_erf`, `gelu`, `silu` and `sigmoid` call scalar `erff`, `tanhf` or `expf`
//! (libm) once per element: 6-7 % of a BERT-base scoring pass once the matrix products run on
//! AVX-512 (docs/benchmarks.md). Here the same functions are written branch-free in plain `f32`
//! arithmetic (an exponential by range reduction and a polynomial, erf by Abramowitz & Stegun
//! 7.1.26), which the compiler turns into SIMD code; `pulp` compiles each loop for AVX2 and for
//! AVX-512 and picks one at run time, and rayon splits large tensors across threads.
//!
//! Each is a candle custom op with a backward pass (an activation's closed-form derivative; the
//! softmax's and the normalisation's row formulas), itself vectorised, so training every weight
//! goes through the same code, and the softmax and normalisation backward passes are one pass over
//! a row where the composed forms of [`super::kernels`] take five to eight operations. Tensors
//! that are not `f32` on the CPU (CUDA, half precision) take candle's own operations, unchanged.
//!
//! Accuracy: the exponential is within 2 ulp of libm's; erf is within 3e-7 of it (the formula's
//! bound is 1.5e-7, plus f32 rounding), so a GELU output moves by at most 1.5e-7 · |x|, far inside the 1e-4 parity
//! tolerance of the reward tests. The tests below compare every function with libm over a grid.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, DType, Device, Layout, Shape, Tensor, bail};
use rayon::prelude::*;

/// Elements per parallel chunk: large enough that a thread's share outweighs scheduling it.
const CHUNK: usize = 1 << 15;

/// The erf GELU, `x · Φ(x)` (`transformers`' `gelu`).
pub(crate) fn gelu_erf(xs: &Tensor) -> candle_core::Result<Tensor> {
    apply(xs, Function::GeluErf, Tensor::gelu_erf)
}

/// The tanh approximation of GELU (`gelu_new`, `gelu_pytorch_tanh`, `gelu_fast`).
pub(crate) fn gelu_tanh(xs: &Tensor) -> candle_core::Result<Tensor> {
    apply(xs, Function::GeluTanh, Tensor::gelu)
}

/// SiLU, `x · sigmoid(x)`.
pub(crate) fn silu(xs: &Tensor) -> candle_core::Result<Tensor> {
    apply(xs, Function::Silu, Tensor::silu)
}

/// Quick GELU, `x · sigmoid(1.702 x)` (CLIP's and Qwen2-VL's vision towers).
pub(crate) fn quick_gelu(xs: &Tensor) -> candle_core::Result<Tensor> {
    apply(xs, Function::QuickGelu, |xs| {
        xs * candle_nn::ops::sigmoid(&(xs * 1.702)?)?
    })
}

/// Runs `function` vectorised where the tensor is `f32` on the CPU, `fallback` elsewhere.
fn apply(
    xs: &Tensor,
    function: Function,
    fallback: impl FnOnce(&Tensor) -> candle_core::Result<Tensor>,
) -> candle_core::Result<Tensor> {
    if matches!(xs.device(), Device::Cpu) && xs.dtype() == DType::F32 {
        xs.contiguous()?.apply_op1(ElementWise(function))
    } else {
        fallback(xs)
    }
}

/// The functions this module computes: four activations and their derivatives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Function {
    GeluErf,
    GeluTanh,
    Silu,
    QuickGelu,
    GeluErfDerivative,
    GeluTanhDerivative,
    SiluDerivative,
    QuickGeluDerivative,
}

impl Function {
    fn name(self) -> &'static str {
        match self {
            Function::GeluErf => "vectorised-gelu-erf",
            Function::GeluTanh => "vectorised-gelu-tanh",
            Function::Silu => "vectorised-silu",
            Function::QuickGelu => "vectorised-quick-gelu",
            Function::GeluErfDerivative => "vectorised-gelu-erf-derivative",
            Function::GeluTanhDerivative => "vectorised-gelu-tanh-derivative",
            Function::SiluDerivative => "vectorised-silu-derivative",
            Function::QuickGeluDerivative => "vectorised-quick-gelu-derivative",
        }
    }

    fn derivative(self) -> Option<Function> {
        match self {
            Function::GeluErf => Some(Function::GeluErfDerivative),
            Function::GeluTanh => Some(Function::GeluTanhDerivative),
            Function::Silu => Some(Function::SiluDerivative),
            Function::QuickGelu => Some(Function::QuickGeluDerivative),
            _ => None,
        }
    }

    /// Writes the function of every element of `input` into `output` (same length), in the
    /// widest SIMD the CPU has.
    fn evaluate(self, input: &[f32], output: &mut [f32]) {
        let arch = pulp::Arch::new();
        // One loop per function, so that each is a straight-line body the compiler vectorises
        // (a `match` inside the loop would not be).
        macro_rules! each {
            ($scalar:path) => {
                arch.dispatch(
                    #[inline(always)]
                    || {
                        for (out, &x) in output.iter_mut().zip(input) {
                            *out = $scalar(x);
                        }
                    },
                )
            };
        }
        match self {
            Function::GeluErf => each!(scalar::gelu_erf),
            Function::GeluTanh => each!(scalar::gelu_tanh),
            Function::Silu => each!(scalar::silu),
            Function::QuickGelu => each!(scalar::quick_gelu),
            Function::GeluErfDerivative => each!(scalar::gelu_erf_derivative),
            Function::GeluTanhDerivative => each!(scalar::gelu_tanh_derivative),
            Function::SiluDerivative => each!(scalar::silu_derivative),
            Function::QuickGeluDerivative => each!(scalar::quick_gelu_derivative),
        }
    }
}

/// One [`Function`] as a candle custom op.
struct ElementWise(Function);

impl CustomOp1 for ElementWise {
    fn name(&self) -> &'static str {
        self.0.name()
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let input = contiguous_f32(self.name(), storage, layout)?;
        let mut output = vec![0.0f32; input.len()];
        if input.len() <= CHUNK {
            self.0.evaluate(input, &mut output);
        } else {
            output
                .par_chunks_mut(CHUNK)
                .zip(input.par_chunks(CHUNK))
                .for_each(|(output, input)| self.0.evaluate(input, output));
        }
        Ok((CpuStorage::F32(output), layout.shape().clone()))
    }

    fn bwd(
        &self,
        arg: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        let Some(derivative) = self.0.derivative() else {
            bail!("{} has no second derivative here", self.name())
        };
        let slope = arg
            .contiguous()?
            .apply_op1_no_bwd(&ElementWise(derivative))?;
        Ok(Some(grad_res.mul(&slope)?))
    }
}

/// Softmax over the last dimension, with a backward pass: `softmax(x)` row by row, and
/// `y ⊙ (g − Σ g ⊙ y)` per row for the gradient `g` of its output `y`, each in one pass over
/// the row instead of the five operations (and five tensors) of the composed form.
pub(crate) fn softmax_last_dim(xs: &Tensor) -> candle_core::Result<Option<Tensor>> {
    if matches!(xs.device(), Device::Cpu) && xs.dtype() == DType::F32 && xs.rank() > 0 {
        xs.contiguous()?.apply_op1(SoftmaxLastDim).map(Some)
    } else {
        Ok(None)
    }
}

/// SIMD lanes of the row reductions: sixteen f32 accumulators are one AVX-512 register (two
/// AVX2 ones), updated independently so that the compiler can keep them in vector registers.
const LANES: usize = 16;

/// The largest element of `row` (−∞ for an empty row).
#[inline(always)]
fn row_maximum(row: &[f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; LANES];
    let mut chunks = row.chunks_exact(LANES);
    for chunk in &mut chunks {
        for (lane, &value) in lanes.iter_mut().zip(chunk) {
            *lane = lane.max(value);
        }
    }
    let tail = chunks
        .remainder()
        .iter()
        .copied()
        .fold(f32::NEG_INFINITY, f32::max);
    lanes.into_iter().fold(tail, f32::max)
}

/// The sum of the products of `left` and `right` (the sum of `left` when `right` is `None`).
#[inline(always)]
fn row_sum(left: &[f32], right: Option<&[f32]>) -> f32 {
    let mut lanes = [0.0f32; LANES];
    let mut tail = 0.0;
    match right {
        None => {
            let mut chunks = left.chunks_exact(LANES);
            for chunk in &mut chunks {
                for (lane, &value) in lanes.iter_mut().zip(chunk) {
                    *lane += value;
                }
            }
            tail += chunks.remainder().iter().sum::<f32>();
        }
        Some(right) => {
            let mut chunks = left.chunks_exact(LANES).zip(right.chunks_exact(LANES));
            for (left, right) in &mut chunks {
                for ((lane, &a), &b) in lanes.iter_mut().zip(left).zip(right) {
                    *lane += a * b;
                }
            }
            let done = left.len() - left.len() % LANES;
            tail += left[done..]
                .iter()
                .zip(&right[done..])
                .map(|(a, b)| a * b)
                .sum::<f32>();
        }
    }
    lanes.into_iter().sum::<f32>() + tail
}

/// Splits `input` and `output` into rows of `width` and runs `each` on every pair of rows, in
/// parallel blocks of rows, in the widest SIMD the CPU has.
fn by_rows(
    input: &[f32],
    output: &mut [f32],
    width: usize,
    each: impl Fn(&[f32], &mut [f32]) + Sync,
) {
    let rows_per_block = (CHUNK / width.max(1)).max(1);
    output
        .par_chunks_mut(width * rows_per_block)
        .zip(input.par_chunks(width * rows_per_block))
        .for_each(|(output, input)| {
            pulp::Arch::new().dispatch(
                #[inline(always)]
                || {
                    for (output, input) in output.chunks_mut(width).zip(input.chunks(width)) {
                        each(input, output);
                    }
                },
            )
        });
}

/// The softmax over the last dimension as a candle custom op.
struct SoftmaxLastDim;

impl CustomOp1 for SoftmaxLastDim {
    fn name(&self) -> &'static str {
        "vectorised-softmax-last-dim"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (input, width) = rows_of(self.name(), storage, layout)?;
        let mut output = vec![0.0f32; input.len()];
        if width > 0 {
            by_rows(input, &mut output, width, |row, out| {
                let maximum = row_maximum(row);
                for (out, &x) in out.iter_mut().zip(row) {
                    *out = scalar::exp(x - maximum);
                }
                let scale = 1.0 / row_sum(out, None);
                for out in out.iter_mut() {
                    *out *= scale;
                }
            });
        }
        Ok((CpuStorage::F32(output), layout.shape().clone()))
    }

    fn bwd(
        &self,
        _arg: &Tensor,
        res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        let probabilities = res.contiguous()?;
        let gradient = grad_res.contiguous()?.to_dtype(DType::F32)?;
        probabilities
            .apply_op2_no_bwd(&gradient, &SoftmaxLastDimBackward)
            .map(Some)
    }
}

/// `y ⊙ (g − Σ g ⊙ y)` per row, from the softmax output `y` and its gradient `g`.
struct SoftmaxLastDimBackward;

impl candle_core::CustomOp2 for SoftmaxLastDimBackward {
    fn name(&self) -> &'static str {
        "vectorised-softmax-last-dim-backward"
    }

    fn cpu_fwd(
        &self,
        probabilities: &CpuStorage,
        probabilities_layout: &Layout,
        gradient: &CpuStorage,
        gradient_layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let operand = (probabilities, probabilities_layout);
        row_gradients(
            self.name(),
            operand,
            (gradient, gradient_layout),
            |probabilities, row| {
                let weighted = row_sum(row, Some(probabilities));
                for (value, &probability) in row.iter_mut().zip(probabilities) {
                    *value = probability * (*value - weighted);
                }
            },
        )
    }
}

/// Normalises each row of the last dimension: `(x − mean) / sqrt(variance + eps)` when `centred`
/// (layer norm), `x / sqrt(mean(x²) + eps)` otherwise (RMS norm); the caller applies the weight
/// and bias. The backward pass is one row-wise formula as well,
/// `rstd · (g − mean(g) − x̂ · mean(g ⊙ x̂))` (without `mean(g)` for RMS norm), in place of the
/// backward passes of the eight operations of the composed form. `None` where the tensor is not
/// `f32` on the CPU: the caller composes the function instead.
pub(crate) fn normalise_last_dim(
    xs: &Tensor,
    eps: f64,
    centred: bool,
) -> candle_core::Result<Option<Tensor>> {
    if matches!(xs.device(), Device::Cpu) && xs.dtype() == DType::F32 && xs.rank() > 0 {
        let normalise = Normalise {
            eps: eps as f32,
            centred,
        };
        xs.contiguous()?.apply_op1(normalise).map(Some)
    } else {
        Ok(None)
    }
}

/// The row normalisation of [`normalise_last_dim`] as a candle custom op.
#[derive(Clone, Copy)]
struct Normalise {
    eps: f32,
    centred: bool,
}

impl Normalise {
    /// The mean (zero when not centred) and `1 / sqrt(variance + eps)` of a row.
    #[inline(always)]
    fn statistics(self, row: &[f32]) -> (f32, f32) {
        let width = row.len() as f32;
        let mean = if self.centred {
            row_sum(row, None) / width
        } else {
            0.0
        };
        // The variance from the centred values (two passes), as the composed form computes it.
        let mut lanes = [0.0f32; LANES];
        let mut chunks = row.chunks_exact(LANES);
        for chunk in &mut chunks {
            for (lane, &x) in lanes.iter_mut().zip(chunk) {
                *lane += (x - mean) * (x - mean);
            }
        }
        let tail: f32 = chunks
            .remainder()
            .iter()
            .map(|&x| (x - mean) * (x - mean))
            .sum();
        let variance = (lanes.into_iter().sum::<f32>() + tail) / width;
        (mean, 1.0 / (variance + self.eps).sqrt())
    }
}

impl CustomOp1 for Normalise {
    fn name(&self) -> &'static str {
        if self.centred {
            "vectorised-layer-norm"
        } else {
            "vectorised-rms-norm"
        }
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (input, width) = rows_of(self.name(), storage, layout)?;
        let mut output = vec![0.0f32; input.len()];
        if width > 0 {
            let this = *self;
            by_rows(input, &mut output, width, move |row, out| {
                let (mean, scale) = this.statistics(row);
                for (out, &x) in out.iter_mut().zip(row) {
                    *out = (x - mean) * scale;
                }
            });
        }
        Ok((CpuStorage::F32(output), layout.shape().clone()))
    }

    fn bwd(
        &self,
        arg: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        let gradient = grad_res.contiguous()?.to_dtype(DType::F32)?;
        arg.contiguous()?
            .apply_op2_no_bwd(&gradient, &NormaliseBackward(*self))
            .map(Some)
    }
}

/// The gradient of [`Normalise`] from its input `x` and the gradient `g` of its output.
struct NormaliseBackward(Normalise);

impl candle_core::CustomOp2 for NormaliseBackward {
    fn name(&self) -> &'static str {
        if self.0.centred {
            "vectorised-layer-norm-backward"
        } else {
            "vectorised-rms-norm-backward"
        }
    }

    fn cpu_fwd(
        &self,
        input: &CpuStorage,
        input_layout: &Layout,
        gradient: &CpuStorage,
        gradient_layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let normalise = self.0;
        let operand = (input, input_layout);
        row_gradients(
            self.name(),
            operand,
            (gradient, gradient_layout),
            move |row, values| {
                let (mean, scale) = normalise.statistics(row);
                let count = row.len() as f32;
                let mut gradient_sum = [0.0f32; LANES];
                let mut weighted_sum = [0.0f32; LANES];
                let mut rows = row.chunks_exact(LANES).zip(values.chunks_exact(LANES));
                for (xs, gs) in &mut rows {
                    let lanes = gradient_sum.iter_mut().zip(&mut weighted_sum);
                    for ((&x, &g), (gradient_lane, weighted_lane)) in xs.iter().zip(gs).zip(lanes) {
                        *gradient_lane += g;
                        *weighted_lane += g * (x - mean) * scale;
                    }
                }
                let done = row.len() - row.len() % LANES;
                let (mut gradient_total, mut weighted_total) = (0.0f32, 0.0f32);
                for (&x, &g) in row[done..].iter().zip(&values[done..]) {
                    gradient_total += g;
                    weighted_total += g * (x - mean) * scale;
                }
                gradient_total += gradient_sum.into_iter().sum::<f32>();
                weighted_total += weighted_sum.into_iter().sum::<f32>();
                let gradient_mean = if normalise.centred {
                    gradient_total / count
                } else {
                    0.0
                };
                let weighted_mean = weighted_total / count;
                for (value, &x) in values.iter_mut().zip(row) {
                    let normalised = (x - mean) * scale;
                    *value = scale * (*value - gradient_mean - normalised * weighted_mean);
                }
            },
        )
    }
}

/// A backward pass computed row by row: `each(operand row, gradient row)` turns a copy of the
/// gradient's row into the gradient of the op's input (`operand` is what the formula reads: the
/// op's output or its input).
fn row_gradients(
    name: &str,
    (operand, operand_layout): (&CpuStorage, &Layout),
    (gradient, gradient_layout): (&CpuStorage, &Layout),
    each: impl Fn(&[f32], &mut [f32]) + Sync,
) -> candle_core::Result<(CpuStorage, Shape)> {
    let (operand, width) = rows_of(name, operand, operand_layout)?;
    let (gradient, _) = rows_of(name, gradient, gradient_layout)?;
    if operand_layout.shape() != gradient_layout.shape() {
        bail!("{name}: the gradient's shape differs from the op's")
    }
    let mut output = gradient.to_vec();
    if width > 0 {
        by_rows(operand, &mut output, width, each);
    }
    Ok((CpuStorage::F32(output), operand_layout.shape().clone()))
}

/// The contiguous f32 elements of a tensor and the length of its last dimension.
fn rows_of<'a>(
    name: &str,
    storage: &'a CpuStorage,
    layout: &Layout,
) -> candle_core::Result<(&'a [f32], usize)> {
    let width = layout.shape().dims().last().copied().unwrap_or(1);
    Ok((contiguous_f32(name, storage, layout)?, width))
}

/// The elements of an f32 tensor the custom op `name` was given, which must be contiguous.
pub(crate) fn contiguous_f32<'a>(
    name: &str,
    storage: &'a CpuStorage,
    layout: &Layout,
) -> candle_core::Result<&'a [f32]> {
    let CpuStorage::F32(values) = storage else {
        bail!("{name} takes f32 tensors, not {:?}", storage.dtype())
    };
    let Some((start, end)) = layout.contiguous_offsets() else {
        bail!("{name} takes contiguous tensors")
    };
    Ok(&values[start..end])
}

/// The functions on one element, branch-free so that a loop over them vectorises.
mod scalar {
    use std::f32::consts::{FRAC_1_SQRT_2, FRAC_2_SQRT_PI, LOG2_E};

    /// `1 / sqrt(2π)`.
    const FRAC_1_SQRT_2PI: f32 = 0.398_942_3;
    /// `sqrt(2 / π)`, the scale inside the tanh GELU.
    const SQRT_2_OVER_PI: f32 = FRAC_2_SQRT_PI * FRAC_1_SQRT_2;

    /// `e^x`, as `2^k · e^r` with `k = round(x / ln 2)` and `|r| ≤ ln 2 / 2`, where a degree-7
    /// Taylor polynomial is exact to f32 rounding (its remainder is below 5e-9). Inputs are
    /// clamped to where `2^k` is a normal f32: `e^x` for `x < -87.3` is within 1.3e-38 of 0.
    #[inline(always)]
    pub(super) fn exp(x: f32) -> f32 {
        // Adding and subtracting 1.5 · 2^23 rounds to the nearest integer in any SIMD width (a
        // `round` call would need SSE4.1 and stay scalar without it).
        const ROUNDING: f32 = 12_582_912.0;
        // ln 2 split in two so that `k · LN_2_HIGH` is exact (Cody and Waite).
        const LN_2_HIGH: f32 = 0.693_359_4;
        const LN_2_LOW: f32 = -2.121_944_4e-4;
        let x = x.clamp(-87.3, 88.3);
        let k = (x * LOG2_E + ROUNDING) - ROUNDING;
        let r = x - k * LN_2_HIGH - k * LN_2_LOW;
        let polynomial = 1.0
            + r * (1.0
                + r * (1.0 / 2.0
                    + r * (1.0 / 6.0
                        + r * (1.0 / 24.0
                            + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
        let power_of_two = f32::from_bits(((k as i32 + 127) as u32) << 23);
        polynomial * power_of_two
    }

    /// erf by Abramowitz & Stegun 7.1.26 (absolute error at most 1.5e-7).
    #[inline(always)]
    pub(super) fn erf(x: f32) -> f32 {
        const P: f32 = 0.327_591_1;
        const A1: f32 = 0.254_829_6;
        const A2: f32 = -0.284_496_74;
        const A3: f32 = 1.421_413_7;
        const A4: f32 = -1.453_152;
        const A5: f32 = 1.061_405_4;
        let magnitude = x.abs();
        let t = 1.0 / (1.0 + P * magnitude);
        let polynomial = t * (A1 + t * (A2 + t * (A3 + t * (A4 + t * A5))));
        (1.0 - polynomial * exp(-magnitude * magnitude)).copysign(x)
    }

    /// `tanh(x) = 1 - 2 / (e^{2x} + 1)`; saturates to ±1 with the clamped exponential.
    #[inline(always)]
    fn tanh(x: f32) -> f32 {
        1.0 - 2.0 / (exp(2.0 * x) + 1.0)
    }

    #[inline(always)]
    fn sigmoid(x: f32) -> f32 {
        1.0 / (1.0 + exp(-x))
    }

    #[inline(always)]
    pub(super) fn gelu_erf(x: f32) -> f32 {
        0.5 * x * (1.0 + erf(x * FRAC_1_SQRT_2))
    }

    /// `Φ(x) + x φ(x)`.
    #[inline(always)]
    pub(super) fn gelu_erf_derivative(x: f32) -> f32 {
        0.5 * (1.0 + erf(x * FRAC_1_SQRT_2)) + x * FRAC_1_SQRT_2PI * exp(-0.5 * x * x)
    }

    #[inline(always)]
    pub(super) fn gelu_tanh(x: f32) -> f32 {
        let inner = SQRT_2_OVER_PI * (x + 0.044_715 * x * x * x);
        0.5 * x * (1.0 + tanh(inner))
    }

    #[inline(always)]
    pub(super) fn gelu_tanh_derivative(x: f32) -> f32 {
        let inner = SQRT_2_OVER_PI * (x + 0.044_715 * x * x * x);
        let t = tanh(inner);
        let inner_slope = SQRT_2_OVER_PI * (1.0 + 3.0 * 0.044_715 * x * x);
        0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * inner_slope
    }

    #[inline(always)]
    pub(super) fn silu(x: f32) -> f32 {
        x * sigmoid(x)
    }

    /// `s + x s (1 - s)` with `s = sigmoid(x)`.
    #[inline(always)]
    pub(super) fn silu_derivative(x: f32) -> f32 {
        let s = sigmoid(x);
        s * (1.0 + x * (1.0 - s))
    }

    #[inline(always)]
    pub(super) fn quick_gelu(x: f32) -> f32 {
        x * sigmoid(1.702 * x)
    }

    #[inline(always)]
    pub(super) fn quick_gelu_derivative(x: f32) -> f32 {
        let s = sigmoid(1.702 * x);
        s * (1.0 + 1.702 * x * (1.0 - s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// -12 to 12 in steps of 1/64, and the edges of the exponential's range.
    fn grid() -> Vec<f32> {
        let mut values: Vec<f32> = (-768..=768).map(|step| step as f32 / 64.0).collect();
        values.extend([-200.0, -88.0, -87.0, 87.0, 88.0, 200.0, 1e-6, -1e-6]);
        values
    }

    fn libm_erf(x: f32) -> f32 {
        // std has no erf: candle's own (libm's `erff`) on a one-element tensor.
        Tensor::new(&[x], &Device::Cpu)
            .and_then(|t| t.erf())
            .and_then(|t| t.to_vec1::<f32>())
            .map(|values| values[0])
            .expect("candle erf")
    }

    #[test]
    fn exp_is_within_two_ulp_of_libm() {
        for x in grid() {
            let expected = x.clamp(-87.3, 88.3).exp();
            let got = scalar::exp(x);
            let ulp = (expected.to_bits() as i64 - got.to_bits() as i64).abs();
            assert!(ulp <= 2, "exp({x}) = {got}, libm {expected} ({ulp} ulp)");
        }
        assert!(scalar::exp(-1000.0) < 1.3e-38);
        assert!(scalar::exp(1000.0).is_finite());
    }

    #[test]
    fn erf_is_within_its_bound_of_libm() {
        for x in grid() {
            let expected = libm_erf(x);
            let got = scalar::erf(x);
            let difference = (got - expected).abs();
            assert!(
                difference <= 3e-7,
                "erf({x}) = {got}, libm {expected} ({difference:e})"
            );
        }
    }

    /// The custom ops against candle's own (scalar) ops, over the grid and through a tensor large
    /// enough to take the parallel path.
    #[test]
    fn activations_match_candle_operations() -> candle_core::Result<()> {
        let mut values = grid();
        while values.len() <= 3 * CHUNK {
            values.extend(grid());
        }
        let xs = Tensor::new(values.as_slice(), &Device::Cpu)?.reshape((values.len() / 8, 8))?;
        type Reference = fn(&Tensor) -> candle_core::Result<Tensor>;
        let cases: [(&str, Tensor, Reference); 4] = [
            ("gelu_erf", gelu_erf(&xs)?, Tensor::gelu_erf),
            ("gelu_tanh", gelu_tanh(&xs)?, Tensor::gelu),
            ("silu", silu(&xs)?, Tensor::silu),
            ("quick_gelu", quick_gelu(&xs)?, |xs| {
                xs * candle_nn::ops::sigmoid(&(xs * 1.702)?)?
            }),
        ];
        for (name, got, reference) in cases {
            assert_eq!(got.dims(), xs.dims(), "{name}");
            let expected = reference(&xs)?.flatten_all()?.to_vec1::<f32>()?;
            for (index, (got, expected)) in got
                .flatten_all()?
                .to_vec1::<f32>()?
                .into_iter()
                .zip(expected)
                .enumerate()
            {
                let tolerance = 1e-6 * (1.0 + values[index].abs());
                assert!(
                    (got - expected).abs() <= tolerance,
                    "{name}({}) = {got}, candle {expected}",
                    values[index]
                );
            }
        }
        Ok(())
    }

    /// The backward passes against candle's autograd through its own composed operations.
    #[test]
    fn derivatives_match_candle_autograd() -> candle_core::Result<()> {
        let values = grid();
        let variable = candle_core::Var::new(values.as_slice(), &Device::Cpu)?;
        type Pair = (
            fn(&Tensor) -> candle_core::Result<Tensor>,
            fn(&Tensor) -> candle_core::Result<Tensor>,
        );
        let cases: [(&str, Pair); 4] = [
            ("gelu_erf", (gelu_erf, Tensor::gelu_erf)),
            ("gelu_tanh", (gelu_tanh, Tensor::gelu)),
            ("silu", (silu, |xs| xs * candle_nn::ops::sigmoid(xs)?)),
            (
                "quick_gelu",
                (quick_gelu, |xs| {
                    xs * candle_nn::ops::sigmoid(&(xs * 1.702)?)?
                }),
            ),
        ];
        for (name, (ours, reference)) in cases {
            let gradient = |function: fn(&Tensor) -> candle_core::Result<Tensor>| {
                let gradients = function(variable.as_tensor())?.sum_all()?.backward()?;
                match gradients.get(variable.as_tensor()) {
                    Some(gradient) => gradient.to_vec1::<f32>(),
                    None => bail!("{name}: no gradient"),
                }
            };
            let expected = gradient(reference)?;
            for (index, (got, expected)) in gradient(ours)?.into_iter().zip(expected).enumerate() {
                assert!(
                    (got - expected).abs() <= 2e-6 * (1.0 + values[index].abs()),
                    "{name}'({}) = {got}, candle {expected}",
                    values[index]
                );
            }
        }
        Ok(())
    }

    /// Other dtypes take candle's operations: the same values as calling them directly.
    #[test]
    fn half_precision_takes_candle_operations() -> candle_core::Result<()> {
        let xs = Tensor::new(grid().as_slice(), &Device::Cpu)?.to_dtype(DType::BF16)?;
        let ours = gelu_erf(&xs)?.to_dtype(DType::F32)?.to_vec1::<f32>()?;
        let candle = xs.gelu_erf()?.to_dtype(DType::F32)?.to_vec1::<f32>()?;
        assert_eq!(ours, candle);
        Ok(())
    }

    /// Softmax against candle's fused op, over rows that are not a multiple of the SIMD width,
    /// with masked (`f32::MIN`) entries, and through enough rows to take the parallel path.
    #[test]
    fn softmax_matches_candle() -> candle_core::Result<()> {
        for width in [1usize, 7, 16, 37, 160] {
            let rows = 3 * CHUNK / width + 5;
            let values: Vec<f32> = (0..rows * width)
                .map(|index| {
                    if index % 11 == 3 {
                        f32::MIN
                    } else {
                        ((index * 7919) % 1000) as f32 / 50.0 - 10.0
                    }
                })
                .collect();
            let xs = Tensor::new(values.as_slice(), &Device::Cpu)?.reshape((rows, width))?;
            let ours = softmax_last_dim(&xs)?
                .expect("f32 on the CPU")
                .to_vec2::<f32>()?;
            let candle = candle_nn::ops::softmax_last_dim(&xs)?.to_vec2::<f32>()?;
            for (got, expected) in ours.iter().flatten().zip(candle.iter().flatten()) {
                assert!(
                    (got - expected).abs() <= 1e-6,
                    "width {width}: {got} vs {expected}"
                );
            }
        }
        Ok(())
    }

    /// The softmax backward pass against candle's autograd through the composed softmax.
    #[test]
    fn softmax_gradient_matches_composed_autograd() -> candle_core::Result<()> {
        let values: Vec<f32> = (0..6 * 37)
            .map(|i| ((i * 31) % 17) as f32 / 4.0 - 2.0)
            .collect();
        let variable = candle_core::Var::new(values.as_slice(), &Device::Cpu)?;
        let xs = variable.as_tensor().reshape((6, 37))?;
        // Weights make the loss depend on each probability differently.
        let weights = Tensor::arange(0f32, (6 * 37) as f32, &Device::Cpu)?
            .reshape((6, 37))?
            .sin()?;
        let gradient = |probabilities: Tensor| -> candle_core::Result<Vec<f32>> {
            let gradients = (probabilities * &weights)?.sum_all()?.backward()?;
            match gradients.get(variable.as_tensor()) {
                Some(gradient) => gradient.to_vec1::<f32>(),
                None => bail!("no gradient"),
            }
        };
        let ours = gradient(softmax_last_dim(&xs)?.expect("f32 on the CPU"))?;
        let maximum = xs.max_keepdim(1)?.detach();
        let exponentials = xs.broadcast_sub(&maximum)?.exp()?;
        let composed = exponentials.broadcast_div(&exponentials.sum_keepdim(1)?)?;
        let expected = gradient(composed)?;
        for (got, expected) in ours.iter().zip(&expected) {
            assert!((got - expected).abs() <= 1e-6, "{got} vs {expected}");
        }
        Ok(())
    }

    /// Layer and RMS normalisation, forward and backward, against the composed form under
    /// candle's autograd.
    #[test]
    fn normalisation_matches_the_composed_form() -> candle_core::Result<()> {
        for (width, centred) in [(37usize, true), (384, true), (37, false), (896, false)] {
            let rows = 5;
            let values: Vec<f32> = (0..rows * width)
                .map(|i| ((i * 7919) % 997) as f32 / 100.0 - 4.0)
                .collect();
            let variable = candle_core::Var::new(values.as_slice(), &Device::Cpu)?;
            let xs = variable.as_tensor().reshape((rows, width))?;
            let weights = Tensor::arange(0f32, (rows * width) as f32, &Device::Cpu)?
                .reshape((rows, width))?
                .cos()?;
            let eps = 1e-6;
            let run = |normalised: Tensor| -> candle_core::Result<(Vec<f32>, Vec<f32>)> {
                let forward = normalised.flatten_all()?.to_vec1::<f32>()?;
                let gradients = (normalised * &weights)?.sum_all()?.backward()?;
                match gradients.get(variable.as_tensor()) {
                    Some(gradient) => Ok((forward, gradient.to_vec1::<f32>()?)),
                    None => bail!("no gradient"),
                }
            };
            let ours = run(normalise_last_dim(&xs, eps, centred)?.expect("f32 on the CPU"))?;
            let centre = if centred {
                xs.broadcast_sub(&xs.mean_keepdim(1)?)?
            } else {
                xs.clone()
            };
            let spread = centre.sqr()?.mean_keepdim(1)?;
            let composed = run(centre.broadcast_div(&(spread + eps)?.sqrt()?)?)?;
            for (what, got, expected) in [
                ("output", &ours.0, &composed.0),
                ("gradient", &ours.1, &composed.1),
            ] {
                for (got, expected) in got.iter().zip(expected) {
                    assert!(
                        (got - expected).abs() <= 1e-6 * (1.0 + expected.abs()),
                        "width {width}, centred {centred}, {what}: {got} vs {expected}"
                    );
                }
            }
        }
        Ok(())
    }

    #[test]
    fn softmax_leaves_other_dtypes_to_the_caller() -> candle_core::Result<()> {
        let xs = Tensor::zeros((2, 3), DType::BF16, &Device::Cpu)?;
        assert!(softmax_last_dim(&xs)?.is_none());
        Ok(())
    }

    #[test]
    fn non_contiguous_inputs_are_evaluated_in_logical_order() -> candle_core::Result<()> {
        let xs = Tensor::arange(0f32, 24.0, &Device::Cpu)?
            .affine(0.25, -3.0)?
            .reshape((4, 6))?
            .t()?;
        let ours = silu(&xs)?.to_vec2::<f32>()?;
        let candle = xs.silu()?.to_vec2::<f32>()?;
        for (got, expected) in ours.iter().flatten().zip(candle.iter().flatten()) {
            assert!((got - expected).abs() <= 1e-6, "{got} vs {expected}");
        }
        Ok(())
    }
}
