//! AdamW with decoupled weight decay, whose moments can be saved and restored.
//!
//! The update is candle_nn's `AdamW` operation for operation (a test checks bit-equality), but
//! candle keeps its moments private, and a resumed run must continue from the exact moments to
//! reproduce an uninterrupted one. Global-norm gradient clipping is here too, as it acts on the
//! same gradient list.
//!
//! Half-precision variables (bf16 on CUDA) get f32 master weights: the update is computed and
//! accumulated in f32, and the variable the model reads is the master rounded to its dtype.
//! Updating bf16 weights directly would lose every step smaller than half a bf16 step of the
//! weight (about 0.2 % of it): at fine-tuning learning rates (1e-5 to 1e-4) that is nearly all of
//! them, and training would silently stall.

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
    /// f32 copies of the half-precision variables (`None` for f32 and f64 ones).
    masters: Vec<Option<Tensor>>,
    first_moments: Vec<Tensor>,
    second_moments: Vec<Tensor>,
    steps_taken: usize,
    settings: AdamWSettings,
}

/// Whether a variable of `dtype` is trained through an f32 master copy.
fn needs_master(dtype: DType) -> bool {
    matches!(dtype, DType::BF16 | DType::F16)
}

impl AdamW {
    /// Zero moments for every variable (in f32 for half-precision ones, beside their masters).
    pub fn new(variables: Vec<Var>, settings: AdamWSettings) -> candle_core::Result<AdamW> {
        let masters = variables
            .iter()
            .map(|variable| {
                needs_master(variable.dtype())
                    .then(|| variable.as_tensor().to_dtype(DType::F32))
                    .transpose()
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        let first_moments = variables
            .iter()
            .zip(&masters)
            .map(|(variable, master)| master.as_ref().unwrap_or(variable.as_tensor()).zeros_like())
            .collect::<candle_core::Result<Vec<_>>>()?;
        let second_moments = first_moments.clone();
        Ok(AdamW {
            variables,
            masters,
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
            let variable = &self.variables[index];
            let master = self.masters[index].as_ref();
            let gradient = match master {
                Some(_) => gradient.to_dtype(DType::F32)?,
                None => gradient.clone(),
            };
            let theta = master.unwrap_or(variable.as_tensor());
            let next_m = ((&self.first_moments[index] * beta1)? + (&gradient * (1.0 - beta1))?)?;
            let next_v =
                ((&self.second_moments[index] * beta2)? + (gradient.sqr()? * (1.0 - beta2))?)?;
            let m_hat = (&next_m * scale_m)?;
            let v_hat = (&next_v * scale_v)?;
            let next_theta = (theta * (1f64 - learning_rate * weight_decay))?;
            let adjusted = (m_hat / (v_hat.sqrt()? + epsilon)?)?;
            let next_theta = (next_theta - (adjusted * learning_rate)?)?;
            self.first_moments[index] = next_m;
            self.second_moments[index] = next_v;
            if master.is_some() {
                variable.set(&next_theta.to_dtype(variable.dtype())?)?;
                self.masters[index] = Some(next_theta);
            } else {
                variable.set(&next_theta)?;
            }
        }
        Ok(())
    }

    /// The moments by name (`m.<name>`, `v.<name>`) and the f32 masters of half-precision
    /// variables (`w.<name>`), for a checkpoint; `names[i]` names `variables()[i]`.
    pub fn state_tensors(&self, names: &[String]) -> HashMap<String, Tensor> {
        let mut tensors = HashMap::with_capacity(3 * names.len());
        for (index, name) in names.iter().enumerate() {
            tensors.insert(format!("m.{name}"), self.first_moments[index].clone());
            tensors.insert(format!("v.{name}"), self.second_moments[index].clone());
            if let Some(master) = &self.masters[index] {
                tensors.insert(format!("w.{name}"), master.clone());
            }
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
            if let Some(master) = self.masters[index].as_mut() {
                // The rounded variable alone cannot restore the master: resuming from it would
                // not reproduce an uninterrupted run.
                let key = format!("w.{name}");
                let saved = tensors
                    .get(&key)
                    .ok_or_else(|| format!("the optimizer state has no {key}"))?;
                if saved.shape() != master.shape() {
                    return Err(format!(
                        "{key} has shape {:?}, the model needs {:?}",
                        saved.dims(),
                        master.dims()
                    ));
                }
                *master = saved
                    .to_dtype(DType::F32)
                    .and_then(|tensor| tensor.to_device(master.device()))
                    .map_err(|error| format!("{key}: {error}"))?;
            }
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
    fn half_precision_variables_accumulate_small_steps_in_an_f32_master() {
        let device = Device::Cpu;
        let start = Tensor::new(&[1.0f32, -2.0], &device)
            .and_then(|tensor| tensor.to_dtype(DType::BF16))
            .expect("tensor");
        let variable = Var::from_tensor(&start).expect("var");
        let settings = AdamWSettings {
            weight_decay: 0.0,
            ..AdamWSettings::default()
        };
        let mut optimizer = AdamW::new(vec![variable.clone()], settings).expect("optimizer");
        let gradient = Tensor::new(&[1.0f32, -1.0], &device)
            .and_then(|tensor| tensor.to_dtype(DType::BF16))
            .expect("gradient");
        // Each step moves a weight by about the learning rate, 1e-4: less than half a bf16 step
        // at 1.0 (2^-8 / 2), so a bf16 weight updated in place would never move.
        for _ in 0..50 {
            optimizer
                .step(&[Some(gradient.clone())], 1e-4)
                .expect("step");
        }
        let values = |tensor: &Tensor| {
            tensor
                .to_dtype(DType::F32)
                .and_then(|tensor| tensor.to_vec1::<f32>())
                .expect("values")
        };
        let master = values(optimizer.masters[0].as_ref().expect("a master"));
        assert!((master[0] - 0.995).abs() < 1e-4, "{master:?}");
        assert!((master[1] + 1.995).abs() < 1e-4, "{master:?}");
        assert_eq!(variable.dtype(), DType::BF16);
        // The variable is the master rounded to bf16.
        assert_eq!(values(variable.as_tensor()), vec![0.99609375, -1.9921875]);
        // Checkpointed and restored, the master survives.
        let names = vec!["weight".to_owned()];
        let state = optimizer.state_tensors(&names);
        assert!(state.contains_key("w.weight"));
        let mut resumed = AdamW::new(vec![variable.clone()], settings).expect("optimizer");
        resumed.restore(&names, &state, 50).expect("restores");
        assert_eq!(
            values(resumed.masters[0].as_ref().expect("a master")),
            master
        );
        let mut without = state.clone();
        without.remove("w.weight");
        let mut refused = AdamW::new(vec![variable], settings).expect("optimizer");
        let error = refused
            .restore(&names, &without, 50)
            .expect_err("a master is required");
        assert!(error.contains("w.weight"), "{error}");
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
