//! AdamW with decoupled weight decay, whose moments can be saved and restored.
//!
//! The update is candle_nn's `AdamW` operation for operation (a test checks bit-equality), but
//! candle keeps its moments private, and a resumed run must continue from the exact moments to
//! reproduce an uninterrupted one. Global-norm gradient clipping is here too, as it acts on the
//! same gradient list.

use std::collections::HashMap;

use candle_core::{DType, Tensor, Var};

/// AdamW hyper-parameters (the learning rate comes from the schedule at each step).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AdamWSettings {
    /// β₁.
    pub beta1: f64,
    /// β₂.
    pub beta2: f64,
    /// ε.
    pub epsilon: f64,
    /// Decoupled weight decay λ (the weights shrink by `lr × λ` per step).
    pub weight_decay: f64,
}

impl Default for AdamWSettings {
    /// `transformers`' defaults, with the paper's weight decay 1e-3.
    fn default() -> Self {
        AdamWSettings {
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
            weight_decay: 1e-3,
        }
    }
}

/// The optimizer over a fixed list of variables.
pub struct AdamW {
    variables: Vec<Var>,
    first_moments: Vec<Tensor>,
    second_moments: Vec<Tensor>,
    steps_taken: usize,
    settings: AdamWSettings,
}

impl AdamW {
    /// Zero moments for every variable.
    pub fn new(variables: Vec<Var>, settings: AdamWSettings) -> candle_core::Result<AdamW> {
        let first_moments = variables
            .iter()
            .map(|variable| variable.as_tensor().zeros_like())
            .collect::<candle_core::Result<Vec<_>>>()?;
        let second_moments = first_moments.clone();
        Ok(AdamW {
            variables,
            first_moments,
            second_moments,
            steps_taken: 0,
            settings,
        })
    }

    /// The variables, in the order gradients are given.
    pub fn variables(&self) -> &[Var] {
        &self.variables
    }

    /// Updates taken so far.
    pub fn steps_taken(&self) -> usize {
        self.steps_taken
    }

    /// One update with `learning_rate`; `gradients[i]` belongs to `variables()[i]` (`None`: the
    /// variable is left as it is, and so are its moments).
    pub fn step(
        &mut self,
        gradients: &[Option<Tensor>],
        learning_rate: f64,
    ) -> candle_core::Result<()> {
        self.steps_taken += 1;
        let AdamWSettings {
            beta1,
            beta2,
            epsilon,
            weight_decay,
        } = self.settings;
        let scale_m = 1f64 / (1f64 - beta1.powi(self.steps_taken as i32));
        let scale_v = 1f64 / (1f64 - beta2.powi(self.steps_taken as i32));
        for (index, gradient) in gradients.iter().enumerate() {
            let Some(gradient) = gradient else { continue };
            let theta = &self.variables[index];
            let next_m = ((&self.first_moments[index] * beta1)? + (gradient * (1.0 - beta1))?)?;
            let next_v =
                ((&self.second_moments[index] * beta2)? + (gradient.sqr()? * (1.0 - beta2))?)?;
            let m_hat = (&next_m * scale_m)?;
            let v_hat = (&next_v * scale_v)?;
            let next_theta = (theta.as_tensor() * (1f64 - learning_rate * weight_decay))?;
            let adjusted = (m_hat / (v_hat.sqrt()? + epsilon)?)?;
            let next_theta = (next_theta - (adjusted * learning_rate)?)?;
            self.first_moments[index] = next_m;
            self.second_moments[index] = next_v;
            theta.set(&next_theta)?;
        }
        Ok(())
    }

    /// The moments by name (`m.<name>`, `v.<name>`), for a checkpoint; `names[i]` names
    /// `variables()[i]`.
    pub fn state_tensors(&self, names: &[String]) -> HashMap<String, Tensor> {
        let mut tensors = HashMap::with_capacity(2 * names.len());
        for (index, name) in names.iter().enumerate() {
            tensors.insert(format!("m.{name}"), self.first_moments[index].clone());
            tensors.insert(format!("v.{name}"), self.second_moments[index].clone());
        }
        tensors
    }

    /// Restores moments saved by [`AdamW::state_tensors`] and the step count.
    pub fn restore(
        &mut self,
        names: &[String],
        tensors: &HashMap<String, Tensor>,
        steps_taken: usize,
    ) -> Result<(), String> {
        for (index, name) in names.iter().enumerate() {
            for (prefix, moments) in [
                ("m", &mut self.first_moments),
                ("v", &mut self.second_moments),
            ] {
                let key = format!("{prefix}.{name}");
                let saved = tensors
                    .get(&key)
                    .ok_or_else(|| format!("the optimizer state has no {key}"))?;
                let current = &moments[index];
                if saved.shape() != current.shape() {
                    return Err(format!(
                        "{key} has shape {:?}, the model needs {:?}",
                        saved.dims(),
                        current.dims()
                    ));
                }
                moments[index] = saved
                    .to_dtype(current.dtype())
                    .and_then(|tensor| tensor.to_device(current.device()))
                    .map_err(|error| format!("{key}: {error}"))?;
            }
        }
        self.steps_taken = steps_taken;
        Ok(())
    }
}

/// Scales the gradients so that their global L2 norm is at most `max_norm` (as PyTorch's
/// `clip_grad_norm_`, with its 1e-6 guard) and returns the norm before clipping.
pub fn clip_gradient_norm(
    gradients: &mut [Option<Tensor>],
    max_norm: f64,
) -> candle_core::Result<f64> {
    let mut squared = 0f64;
    for gradient in gradients.iter().flatten() {
        squared += gradient
            .to_dtype(DType::F64)?
            .sqr()?
            .sum_all()?
            .to_scalar::<f64>()?;
    }
    let norm = squared.sqrt();
    if max_norm > 0.0 && norm > max_norm {
        let scale = max_norm / (norm + 1e-6);
        for gradient in gradients.iter_mut().flatten() {
            *gradient = (&*gradient * scale)?;
        }
    }
    Ok(norm)
}

#[cfg(test)]
mod tests {
    use candle_core::Device;
    use candle_nn::Optimizer;

    use super::*;

    #[test]
    fn updates_equal_candles_adamw_bit_for_bit() {
        let device = Device::Cpu;
        let start = Tensor::new(&[[0.5f32, -1.5], [2.0, 0.25]], &device).expect("tensor");
        let ours = Var::from_tensor(&start).expect("var");
        let theirs = Var::from_tensor(&start).expect("var");
        let settings = AdamWSettings {
            weight_decay: 0.01,
            ..AdamWSettings::default()
        };
        let mut optimizer = AdamW::new(vec![ours.clone()], settings).expect("ours");
        let mut reference = candle_nn::AdamW::new(
            vec![theirs.clone()],
            candle_nn::ParamsAdamW {
                lr: 0.05,
                beta1: settings.beta1,
                beta2: settings.beta2,
                eps: settings.epsilon,
                weight_decay: settings.weight_decay,
            },
        )
        .expect("theirs");
        for _ in 0..5 {
            // A quadratic with a non-trivial gradient: sum((x - 1)^3 ... ) kept simple.
            let loss = |x: &Var| x.as_tensor().sqr()?.sum_all()?.affine(1.0, 0.0)?.sqr();
            let our_gradients = loss(&ours).expect("loss").backward().expect("backward");
            optimizer
                .step(&[our_gradients.get(ours.as_tensor()).cloned()], 0.05)
                .expect("step");
            let their_gradients = loss(&theirs).expect("loss").backward().expect("backward");
            reference.step(&their_gradients).expect("step");
        }
        let ours = ours
            .as_tensor()
            .flatten_all()
            .expect("flat")
            .to_vec1::<f32>()
            .expect("values");
        let theirs = theirs
            .as_tensor()
            .flatten_all()
            .expect("flat")
            .to_vec1::<f32>()
            .expect("values");
        assert_eq!(ours, theirs);
    }

    #[test]
    fn clipping_scales_to_the_maximum_norm() {
        let device = Device::Cpu;
        let mut gradients = vec![
            Some(Tensor::new(&[3.0f32], &device).expect("t")),
            None,
            Some(Tensor::new(&[4.0f32], &device).expect("t")),
        ];
        let norm = clip_gradient_norm(&mut gradients, 1.0).expect("clip");
        assert!((norm - 5.0).abs() < 1e-12);
        let clipped: Vec<f32> = gradients
            .iter()
            .flatten()
            .map(|gradient| gradient.to_vec1::<f32>().expect("v")[0])
            .collect();
        // 3/5 and 4/5, up to the 1e-6 guard and f32 rounding.
        assert!(
            (clipped[0] - 0.6).abs() < 1e-6 && (clipped[1] - 0.8).abs() < 1e-6,
            "{clipped:?}"
        );
    }
}
