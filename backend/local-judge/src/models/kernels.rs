//! Layer norm, RMS norm and the attention softmax in the two forms the models run them in.
//!
//! candle 0.11's fused kernels (`candle_nn::ops::layer_norm`, `rms_norm`, `softmax_last_dim`,
//! `candle_nn::rotary_emb::rope`) are the fast path for scoring, but they have no backward pass: a weight below one of them gets
//! no gradient. Training every weight (`omnireward train --train all`) therefore builds the
//! models with [`Kernels::Differentiable`], where the same functions are composed from primitive
//! operations candle differentiates (mean, square, square root, exp, sum, broadcast arithmetic,
//! concatenation).
//! The choice is made once, when a model is built ([`super::ModelSource::kernels`]), so nothing
//! global decides how a model computes; the two forms agree to rounding (tested below).
//!
//! On the CPU in f32 the softmax (both forms) and the differentiable normalisations go to
//! [`super::vectorised`] first: single operations with their own backward passes.

use candle_core::{D, DType, Module, Tensor};
use candle_nn::VarBuilder;

use super::vectorised;

/// How normalisations, the attention softmax and rotary embeddings are computed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Kernels {
    /// candle's fused kernels: fastest, no backward pass (scoring, head-only training).
    #[default]
    Fused,
    /// Compositions of differentiable primitive operations (training every weight).
    Differentiable,
}

/// Half-precision inputs are normalised in f32, as the fused kernels and `transformers` do.
fn internal_dtype(dtype: DType) -> DType {
    match dtype {
        DType::F16 | DType::BF16 => DType::F32,
        other => other,
    }
}

/// A layer norm over the last dimension (with or without bias).
#[derive(Clone, Debug)]
pub struct LayerNorm {
    inner: candle_nn::LayerNorm,
    kernels: Kernels,
}

impl LayerNorm {
    /// Reads `weight` and `bias` (or the old `gamma` and `beta`) from `weights`.
    pub fn load(
        size: usize,
        eps: f64,
        weights: VarBuilder<'_>,
        kernels: Kernels,
    ) -> candle_core::Result<Self> {
        Ok(LayerNorm {
            inner: candle_nn::layer_norm(size, eps, weights)?,
            kernels,
        })
    }

    /// Reads `weight` only: a layer norm without bias (ModernBERT's `norm_bias: false`).
    pub fn load_without_bias(
        size: usize,
        eps: f64,
        weights: VarBuilder<'_>,
        kernels: Kernels,
    ) -> candle_core::Result<Self> {
        Ok(LayerNorm {
            inner: candle_nn::layer_norm_no_bias(size, eps, weights)?,
            kernels,
        })
    }
}

impl Module for LayerNorm {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        match self.kernels {
            Kernels::Fused => self.inner.forward(xs),
            Kernels::Differentiable => {
                // f32 on the CPU: one vectorised op with its own backward pass.
                if let Some(normalised) =
                    vectorised::normalise_last_dim(xs, self.inner.eps(), true)?
                {
                    let normalised = normalised.broadcast_mul(self.inner.weight())?;
                    return match self.inner.bias() {
                        Some(bias) => normalised.broadcast_add(bias),
                        None => Ok(normalised),
                    };
                }
                let dtype = xs.dtype();
                let internal = xs.to_dtype(internal_dtype(dtype))?;
                let centred = internal.broadcast_sub(&internal.mean_keepdim(D::Minus1)?)?;
                let variance = centred.sqr()?.mean_keepdim(D::Minus1)?;
                let normalised = centred
                    .broadcast_div(&(variance + self.inner.eps())?.sqrt()?)?
                    .to_dtype(dtype)?
                    .broadcast_mul(self.inner.weight())?;
                match self.inner.bias() {
                    Some(bias) => normalised.broadcast_add(bias),
                    None => Ok(normalised),
                }
            }
        }
    }
}

/// An RMS norm over the last dimension (the decoders' `RMSNorm`).
#[derive(Clone, Debug)]
pub struct RmsNorm {
    inner: candle_nn::RmsNorm,
    kernels: Kernels,
}

impl RmsNorm {
    /// Reads `weight` from `weights`.
    pub fn load(
        size: usize,
        eps: f64,
        weights: VarBuilder<'_>,
        kernels: Kernels,
    ) -> candle_core::Result<Self> {
        Ok(RmsNorm {
            inner: candle_nn::rms_norm(size, eps, weights)?,
            kernels,
        })
    }
}

impl Module for RmsNorm {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        match self.kernels {
            Kernels::Fused => self.inner.forward(xs),
            Kernels::Differentiable => {
                if let Some(normalised) =
                    vectorised::normalise_last_dim(xs, self.inner.eps(), false)?
                {
                    return normalised.broadcast_mul(self.inner.weight());
                }
                let dtype = xs.dtype();
                let internal = xs.to_dtype(internal_dtype(dtype))?;
                let mean_square = internal.sqr()?.mean_keepdim(D::Minus1)?;
                internal
                    .broadcast_div(&(mean_square + self.inner.eps())?.sqrt()?)?
                    .to_dtype(dtype)?
                    .broadcast_mul(self.inner.weight())
            }
        }
    }
}

/// Softmax over the last dimension. f32 tensors on the CPU take the vectorised op of
/// [`vectorised`], which has a backward pass and so serves both forms.
pub fn softmax_last_dim(xs: &Tensor, kernels: Kernels) -> candle_core::Result<Tensor> {
    if let Some(probabilities) = vectorised::softmax_last_dim(xs)? {
        return Ok(probabilities);
    }
    match kernels {
        Kernels::Fused => candle_nn::ops::softmax_last_dim(xs),
        Kernels::Differentiable => {
            // Softmax does not change when a constant is subtracted from a row, so the row
            // maximum (subtracted to keep exp finite) is detached: it needs no gradient.
            let maximum = xs.max_keepdim(D::Minus1)?.detach();
            let exponentials = xs.broadcast_sub(&maximum)?.exp()?;
            exponentials.broadcast_div(&exponentials.sum_keepdim(D::Minus1)?)
        }
    }
}

/// Rotates `xs` `[rows, heads, length, head_dim]` by positions `0..length` with `cos` and `sin`
/// `[length, head_dim / 2]` (the half-split layout of `transformers`' `rotate_half`).
pub fn rotary(
    xs: &Tensor,
    cos: &Tensor,
    sin: &Tensor,
    kernels: Kernels,
) -> candle_core::Result<Tensor> {
    match kernels {
        Kernels::Fused => candle_nn::rotary_emb::rope(&xs.contiguous()?, cos, sin),
        Kernels::Differentiable => candle_nn::rotary_emb::rope_slow(xs, cos, sin),
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Var};

    use super::*;

    /// Deterministic values spread like activations: mostly within ±3, every 17th larger.
    fn activations(shape: (usize, usize, usize), seed: u64) -> Tensor {
        let count = shape.0 * shape.1 * shape.2;
        let values: Vec<f32> = (0..count)
            .map(|index| {
                let wave = ((index as f32 + 1.0) * (0.618 + seed as f32 * 0.37)).sin();
                wave * if index % 17 == 0 { 20.0 } else { 3.0 }
            })
            .collect();
        Tensor::from_vec(values, shape, &Device::Cpu).expect("tensor")
    }

    fn largest_difference(first: &Tensor, second: &Tensor) -> f32 {
        (first - second)
            .and_then(|difference| difference.abs())
            .and_then(|difference| difference.flatten_all())
            .and_then(|difference| difference.max(0))
            .and_then(|difference| difference.to_scalar::<f32>())
            .expect("difference")
    }

    fn builder(seed: u64, size: usize) -> VarBuilder<'static> {
        let mut tensors = std::collections::HashMap::new();
        tensors.insert(
            "weight".to_owned(),
            activations((1, 1, size), seed).flatten_all().expect("w"),
        );
        tensors.insert(
            "bias".to_owned(),
            activations((1, 1, size), seed + 1)
                .flatten_all()
                .expect("b"),
        );
        VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu)
    }

    #[test]
    fn composed_layer_norm_equals_the_fused_kernel() {
        let xs = activations((3, 7, 48), 1);
        for bias in [true, false] {
            let load = |kernels| {
                if bias {
                    LayerNorm::load(48, 1e-12, builder(2, 48), kernels)
                } else {
                    LayerNorm::load_without_bias(48, 1e-5, builder(2, 48), kernels)
                }
                .expect("layer norm")
            };
            let fused = load(Kernels::Fused).forward(&xs).expect("fused");
            let composed = load(Kernels::Differentiable)
                .forward(&xs)
                .expect("composed");
            let difference = largest_difference(&fused, &composed);
            assert!(difference <= 1e-5, "bias {bias}: {difference}");
        }
    }

    #[test]
    fn composed_rms_norm_equals_the_fused_kernel() {
        let xs = activations((2, 5, 64), 3);
        let fused = RmsNorm::load(64, 1e-6, builder(4, 64), Kernels::Fused)
            .and_then(|norm| norm.forward(&xs))
            .expect("fused");
        let composed = RmsNorm::load(64, 1e-6, builder(4, 64), Kernels::Differentiable)
            .and_then(|norm| norm.forward(&xs))
            .expect("composed");
        // Outputs reach about 100 here (weights up to 20): a few f32 ulps of the largest output,
        // as the two sum the squares in different orders.
        let largest = fused
            .abs()
            .and_then(|values| values.max_all())
            .and_then(|value| value.to_scalar::<f32>())
            .expect("largest");
        let difference = largest_difference(&fused, &composed);
        assert!(
            difference <= 4.0 * f32::EPSILON * largest,
            "{difference} (largest output {largest})"
        );
    }

    #[test]
    fn composed_softmax_equals_the_fused_kernel_with_masked_entries() {
        // Attention scores with padding masked by adding f32::MIN, as the encoders do.
        let scores = activations((2, 6, 9), 5);
        let mask: Vec<f32> = (0..9)
            .map(|column| if column >= 7 { f32::MIN } else { 0.0 })
            .collect();
        let mask = Tensor::from_vec(mask, 9, &Device::Cpu).expect("mask");
        let scores = scores.broadcast_add(&mask).expect("masked");
        let fused = softmax_last_dim(&scores, Kernels::Fused).expect("fused");
        let composed = softmax_last_dim(&scores, Kernels::Differentiable).expect("composed");
        // Outputs reach about 100 here (weights up to 20): a few f32 ulps of the largest output,
        // as the two sum the squares in different orders.
        let largest = fused
            .abs()
            .and_then(|values| values.max_all())
            .and_then(|value| value.to_scalar::<f32>())
            .expect("largest");
        let difference = largest_difference(&fused, &composed);
        assert!(
            difference <= 4.0 * f32::EPSILON * largest,
            "{difference} (largest output {largest})"
        );
    }

    #[test]
    fn composed_rotary_embedding_equals_the_fused_kernel() {
        let xs = activations((2, 3, 20), 9)
            .reshape((2, 3, 5, 4))
            .expect("heads");
        let cos = activations((1, 5, 2), 10).squeeze(0).expect("cos");
        let sin = activations((1, 5, 2), 11).squeeze(0).expect("sin");
        let fused = rotary(&xs, &cos, &sin, Kernels::Fused).expect("fused");
        let composed = rotary(&xs, &cos, &sin, Kernels::Differentiable).expect("composed");
        // Outputs reach about 100 here (weights up to 20): a few f32 ulps of the largest output,
        // as the two sum the squares in different orders.
        let largest = fused
            .abs()
            .and_then(|values| values.max_all())
            .and_then(|value| value.to_scalar::<f32>())
            .expect("largest");
        let difference = largest_difference(&fused, &composed);
        assert!(
            difference <= 4.0 * f32::EPSILON * largest,
            "{difference} (largest output {largest})"
        );
    }

    #[test]
    fn composed_forms_pass_gradients_to_their_inputs_and_weights() {
        let input = Var::from_tensor(&activations((2, 3, 16), 6)).expect("input");
        let norm = LayerNorm::load(16, 1e-12, builder(7, 16), Kernels::Differentiable)
            .expect("layer norm");
        let output = softmax_last_dim(
            &norm.forward(input.as_tensor()).expect("norm"),
            Kernels::Differentiable,
        )
        .expect("softmax");
        // Weighted so that the gradient is not zero by symmetry (a softmax row sums to 1).
        let weights = activations((1, 1, 16), 8).flatten_all().expect("weights");
        let gradients = output
            .broadcast_mul(&weights)
            .and_then(|weighted| weighted.sum_all())
            .and_then(|loss| loss.backward())
            .expect("backward");
        let gradient = gradients
            .get(input.as_tensor())
            .expect("a gradient for the input");
        let size = gradient
            .abs()
            .and_then(|gradient| gradient.sum_all())
            .and_then(|gradient| gradient.to_scalar::<f32>())
            .expect("size");
        assert!(size > 0.0 && size.is_finite(), "{size}");
    }
}
