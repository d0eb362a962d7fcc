//! The Bradley-Terry objective: the mean of `-log σ(r_chosen - r_rejected)` over a batch of pairs,
//! written as `softplus(-(r_chosen - r_rejected))` and computed stably.
//!
//! `softplus(x) = max(x, 0) + log(1 + exp(-|x|))` never exponentiates a positive number, so it
//! stays finite for any margin; `candle_nn::loss::binary_cross_entropy_with_logit` computes
//! `log(1 - σ)` instead and turns into NaN once pairs are separated by a wide margin. The
//! gradient of the formula is σ(x) everywhere, including at 0 (candle's `relu` and `abs` both
//! take the `x >= 0` branch there).

use candle_core::{DType, Tensor};

/// Elementwise `log(1 + exp(x))`, finite for every finite `x`.
pub fn softplus(values: &Tensor) -> candle_core::Result<Tensor> {
    let positive_part = values.relu()?;
    let tail = ((values.abs()?.neg()?.exp()? + 1.0)?).log()?;
    positive_part + tail
}

/// Mean Bradley-Terry loss of rewards `[pairs]` of the chosen and the rejected answers.
pub fn bradley_terry_loss(chosen: &Tensor, rejected: &Tensor) -> candle_core::Result<Tensor> {
    let margins = (chosen - rejected)?;
    softplus(&margins.neg()?)?.mean_all()
}

/// The sum (not the mean) of the per-pair losses, for gradient accumulation: summing over
/// micro-batches and dividing by the pairs of the whole step gives the same gradient as one big
/// batch.
pub fn bradley_terry_loss_sum(chosen: &Tensor, rejected: &Tensor) -> candle_core::Result<Tensor> {
    let margins = (chosen - rejected)?;
    softplus(&margins.neg()?)?.sum_all()
}

/// How many pairs the rewards rank correctly (`r_chosen > r_rejected`; equal rewards count as
/// wrong, as a judge without a preference does not pick the chosen answer).
pub fn correct_pairs(chosen: &Tensor, rejected: &Tensor) -> candle_core::Result<usize> {
    let wins = chosen.gt(rejected)?.to_dtype(DType::F32)?.sum_all()?;
    Ok(wins.to_scalar::<f32>()? as usize)
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Var};

    use super::*;

    fn reference_loss(margin: f64) -> f64 {
        // -log σ(m) = log(1 + e^{-m}), in a form exact enough in f64 for the tested range.
        if margin > 0.0 {
            (-margin).exp().ln_1p()
        } else {
            -margin + margin.exp().ln_1p()
        }
    }

    #[test]
    fn the_loss_matches_the_closed_form_and_stays_finite_on_separated_pairs() {
        let device = Device::Cpu;
        let chosen = [0.0f64, 2.0, -3.0, 1000.0, -1000.0, 0.5];
        let rejected = [0.0f64, 1.0, 4.0, -1000.0, 1000.0, 0.5];
        let expected: f64 = chosen
            .iter()
            .zip(&rejected)
            .map(|(c, r)| reference_loss(c - r))
            .sum::<f64>()
            / chosen.len() as f64;
        let loss = bradley_terry_loss(
            &Tensor::new(&chosen, &device).expect("tensor"),
            &Tensor::new(&rejected, &device).expect("tensor"),
        )
        .expect("loss")
        .to_scalar::<f64>()
        .expect("scalar");
        // f64 throughout: agreement to 1e-12 absolute.
        assert!((loss - expected).abs() < 1e-12, "{loss} vs {expected}");
        assert!(loss.is_finite());
    }

    #[test]
    fn the_gradient_is_minus_sigmoid_of_minus_the_margin() {
        let device = Device::Cpu;
        let margins = [-30.0f64, -2.0, 0.0, 0.7, 40.0];
        let chosen = Var::new(&margins, &device).expect("var");
        let rejected = Tensor::zeros(margins.len(), DType::F64, &device).expect("zeros");
        let loss = bradley_terry_loss_sum(chosen.as_tensor(), &rejected).expect("loss");
        let gradients = loss.backward().expect("backward");
        let gradient = gradients
            .get(chosen.as_tensor())
            .expect("gradient")
            .to_vec1::<f64>()
            .expect("values");
        for (margin, value) in margins.iter().zip(gradient) {
            let expected = -1.0 / (1.0 + margin.exp());
            assert!(
                (value - expected).abs() < 1e-12,
                "margin {margin}: {value} vs {expected}"
            );
        }
    }

    #[test]
    fn ties_in_reward_count_as_wrong() {
        let device = Device::Cpu;
        let chosen = Tensor::new(&[1.0f32, 0.0, 2.0], &device).expect("tensor");
        let rejected = Tensor::new(&[0.0f32, 0.0, 3.0], &device).expect("tensor");
        assert_eq!(correct_pairs(&chosen, &rejected).expect("count"), 1);
    }
}
