//! The training loop: seeded epochs over tokenized pairs, micro-batches with gradient
//! accumulation, global-norm clipping, AdamW on the cosine schedule, periodic validation (and
//! benchmark evaluation through the observer), checkpoints, and resumption that reproduces an
//! uninterrupted run exactly.
//!
//! Everything a step computes is a function of the weights, the optimizer moments and the step
//! number (the epoch's order comes from the seed and the epoch), so a run resumed from the
//! checkpoint of step k continues with bit-identical weights on the same device.

use std::path::Path;
use std::time::Instant;

use candle_core::{DType, Tensor};
use omnireward_local_judge::input::TruncationSide;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::checkpoint::{TrainerState, latest_checkpoint, read_checkpoint, write_checkpoint};
use crate::data::PreferencePair;
use crate::data::split::epoch_order;
use crate::error::TrainingError;
pub use crate::inputs::{EncodedPair, encode_pairs, pair_rewards};
use crate::model::TrainableModel;
use crate::objective::{bradley_terry_loss_sum, correct_pairs};
use crate::optimizer::{AdamW, AdamWSettings, clip_gradient_norm};
use crate::record::{Hyperparameters, StepLog, TrainingLog, ValidationLog};
use crate::schedule::CosineSchedule;

/// How to train.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TrainingSettings {
    /// Peak learning rate.
    pub learning_rate: f64,
    /// AdamW's other settings.
    pub adamw: AdamWSettings,
    /// Fraction of steps spent warming up.
    pub warmup_ratio: f64,
    /// Passes over the training pairs.
    pub epochs: usize,
    /// Pairs per forward/backward pass.
    pub batch_pairs: usize,
    /// Micro-batches per optimizer step.
    pub accumulation_steps: usize,
    /// Global gradient-norm limit (0: none).
    pub max_gradient_norm: f64,
    /// Seed of the epoch orders.
    pub seed: u64,
    /// Validate every N optimizer steps (0: at the end of each epoch only).
    pub validation_every: usize,
    /// Write a checkpoint every N optimizer steps (0: at the end of each epoch only).
    pub checkpoint_every: usize,
    /// Stop this process after N optimizer steps in total (a checkpoint is written there);
    /// `None` runs the whole schedule.
    pub stop_after_steps: Option<usize>,
}

impl Default for TrainingSettings {
    fn default() -> Self {
        TrainingSettings {
            learning_rate: 1e-3,
            adamw: AdamWSettings::default(),
            warmup_ratio: 0.05,
            epochs: 1,
            batch_pairs: 8,
            accumulation_steps: 1,
            max_gradient_norm: 1.0,
            seed: 42,
            validation_every: 0,
            checkpoint_every: 0,
            stop_after_steps: None,
        }
    }
}

impl TrainingSettings {
    /// The settings that define the run, for records and the resume check.
    pub fn hyperparameters(&self, model: &TrainableModel) -> Hyperparameters {
        Hyperparameters {
            learning_rate: self.learning_rate,
            adamw: self.adamw,
            warmup_ratio: self.warmup_ratio,
            epochs: self.epochs,
            batch_pairs: self.batch_pairs,
            accumulation_steps: self.accumulation_steps,
            max_gradient_norm: self.max_gradient_norm,
            seed: self.seed,
            trainable: model.trainable,
            initialisation: model.initialisation,
            max_length: model.encoder.max_length(),
            truncation: match model.encoder.truncation() {
                TruncationSide::Right => "right".to_owned(),
                TruncationSide::Left => "left".to_owned(),
            },
        }
    }

    fn validate(&self) -> Result<(), TrainingError> {
        let problem = if self.epochs == 0 {
            Some("--epochs must be at least 1")
        } else if self.batch_pairs == 0 {
            Some("--batch-pairs must be at least 1")
        } else if self.accumulation_steps == 0 {
            Some("--accumulation-steps must be at least 1")
        } else if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            Some("--learning-rate must be a positive number")
        } else if !(0.0..1.0).contains(&self.warmup_ratio) {
            Some("--warmup-ratio must be in [0, 1)")
        } else {
            None
        };
        match problem {
            Some(message) => Err(TrainingError::Config {
                message: message.to_owned(),
            }),
            None => Ok(()),
        }
    }
}

/// SHA-256 over the pairs' texts and answer media paths, in order: the identity of a run's
/// data. Pairs without answer media hash their texts only, as before media were hashed, so text
/// runs keep their identity.
pub fn data_sha256(training: &[PreferencePair], validation: &[PreferencePair]) -> String {
    fn add(hasher: &mut Sha256, text: &str) {
        hasher.update((text.len() as u64).to_le_bytes());
        hasher.update(text.as_bytes());
    }
    let mut hasher = Sha256::new();
    for (part, pairs) in [("training", training), ("validation", validation)] {
        hasher.update(part.as_bytes());
        for pair in pairs {
            for text in [&pair.criterion, &pair.prompt, &pair.chosen, &pair.rejected] {
                add(&mut hasher, text);
            }
            for item in pair.chosen_media.iter().chain(&pair.rejected_media) {
                add(&mut hasher, &item.path.to_string_lossy());
            }
        }
    }
    hex::encode(hasher.finalize())
}

/// Hooks into a run: progress, benchmark evaluation, interruption.
pub trait TrainingObserver {
    /// Before the first step of this process; `first_step` is above 0 when resuming.
    fn started(&mut self, _first_step: usize, _total_steps: usize) {}
    /// After each optimizer step.
    fn stepped(&mut self, _log: &StepLog) {}
    /// After each validation pass.
    fn validated(&mut self, _log: &ValidationLog) {}
    /// Accuracies on a benchmark subset, by name, at a validation point (none by default).
    fn evaluate_benchmark(
        &mut self,
        _model: &TrainableModel,
        _step: usize,
    ) -> Result<Vec<(String, f64)>, TrainingError> {
        Ok(Vec::new())
    }
    /// Whether to stop (Ctrl-C); checked between steps, and a checkpoint is written first.
    fn should_stop(&self) -> bool {
        false
    }
}

/// An observer that does nothing.
pub struct SilentObserver;

impl TrainingObserver for SilentObserver {}

/// What a call of [`train`] did.
#[derive(Clone, Debug)]
pub struct TrainingOutcome {
    /// Where training stands.
    pub state: TrainerState,
    /// Whether the whole schedule is done (else it stopped early and can resume).
    pub finished: bool,
    /// The step this process resumed from, if it did.
    pub resumed_from_step: Option<usize>,
    /// Training pairs per second over the run's optimizer steps (every process of it).
    pub pairs_per_second: f64,
}

/// Everything one training run works on.
pub struct TrainingJob<'a> {
    /// The model.
    pub model: &'a TrainableModel,
    /// Training pairs.
    pub training: &'a [EncodedPair],
    /// Validation pairs (may be empty).
    pub validation: &'a [EncodedPair],
    /// The data's identity ([`data_sha256`]).
    pub data_sha256: String,
    /// How to train.
    pub settings: &'a TrainingSettings,
    /// Where checkpoints go; the latest complete one is resumed from.
    pub output: &'a Path,
}

/// Optimizer steps per epoch.
pub fn steps_per_epoch(pairs: usize, settings: &TrainingSettings) -> usize {
    pairs.div_ceil(settings.batch_pairs * settings.accumulation_steps)
}

/// Trains (or continues training) and returns where it stopped.
pub fn train(
    job: &TrainingJob<'_>,
    observer: &mut dyn TrainingObserver,
) -> Result<TrainingOutcome, TrainingError> {
    let TrainingJob {
        model,
        training,
        validation,
        settings,
        output,
        ..
    } = *job;
    settings.validate()?;
    if training.is_empty() {
        return Err(TrainingError::Config {
            message: "there are no training pairs".to_owned(),
        });
    }
    let per_epoch = steps_per_epoch(training.len(), settings);
    let total_steps = per_epoch * settings.epochs;
    let schedule = CosineSchedule::new(settings.learning_rate, settings.warmup_ratio, total_steps);
    let hyperparameters = settings.hyperparameters(model);

    let named = model.weights.trainable_variables();
    let names: Vec<String> = named.iter().map(|(name, _)| name.clone()).collect();
    let mut optimizer = AdamW::new(
        named.into_iter().map(|(_, variable)| variable).collect(),
        settings.adamw,
    )
    .map_err(TrainingError::tensor("creating the optimizer"))?;

    let mut state = TrainerState {
        step: 0,
        total_steps,
        data_sha256: job.data_sha256.clone(),
        hyperparameters: hyperparameters.clone(),
        log: TrainingLog::default(),
        trained_pairs: 0,
        training_seconds: 0.0,
    };
    let mut resumed_from_step = None;
    if let Some((folder, _)) = latest_checkpoint(output)? {
        let saved = read_checkpoint(&folder)?;
        let refuse = |message: String| TrainingError::Resume {
            folder: folder.clone(),
            message,
        };
        if saved.state.hyperparameters != hyperparameters {
            return Err(refuse(format!(
                "it was trained with other settings ({}); use another --output or the same settings",
                serde_json::to_string(&saved.state.hyperparameters).unwrap_or_default()
            )));
        }
        if saved.state.data_sha256 != job.data_sha256 {
            return Err(refuse(
                "it was trained on other data; use another --output".to_owned(),
            ));
        }
        model.load_trainable(&saved.weights).map_err(refuse)?;
        optimizer
            .restore(&names, &saved.optimizer, saved.state.step)
            .map_err(refuse)?;
        resumed_from_step = Some(saved.state.step);
        state = saved.state;
    }

    observer.started(state.step, total_steps);
    let stop_at = settings
        .stop_after_steps
        .unwrap_or(total_steps)
        .min(total_steps);
    let checkpoint_due = |step: usize| {
        (settings.checkpoint_every > 0 && step.is_multiple_of(settings.checkpoint_every))
            || step.is_multiple_of(per_epoch)
    };
    let validation_due = |step: usize| {
        (settings.validation_every > 0 && step.is_multiple_of(settings.validation_every))
            || step.is_multiple_of(per_epoch)
    };
    while state.step < stop_at {
        if observer.should_stop() {
            break;
        }
        let started = Instant::now();
        let step = state.step;
        let epoch = step / per_epoch;
        let order = epoch_order(training.len(), settings.seed, epoch);
        let step_size = settings.batch_pairs * settings.accumulation_steps;
        let start = (step % per_epoch) * step_size;
        let indices = &order[start..(start + step_size).min(order.len())];
        let learning_rate = schedule.learning_rate(step);
        let (loss, correct, gradient_norm) = optimizer_step(
            model,
            &mut optimizer,
            &names,
            training,
            indices,
            settings,
            learning_rate,
            step,
        )?;
        state.training_seconds += started.elapsed().as_secs_f64();
        state.trained_pairs += indices.len();
        state.step += 1;
        let log = StepLog {
            step: state.step,
            learning_rate,
            loss,
            accuracy: correct as f64 / indices.len() as f64,
            gradient_norm,
        };
        observer.stepped(&log);
        state.log.steps.push(log);

        // Validation happens on the schedule only, so that an interrupted and resumed run logs
        // exactly what an uninterrupted one does.
        if validation_due(state.step) {
            let (validation_loss, accuracy) = evaluate(model, validation, settings.batch_pairs)?;
            let benchmark = observer.evaluate_benchmark(model, state.step)?;
            let log = ValidationLog {
                step: state.step,
                loss: validation_loss,
                accuracy,
                benchmark,
            };
            observer.validated(&log);
            state.log.validations.push(log);
        }
        if checkpoint_due(state.step) || state.step == stop_at {
            write_checkpoint(output, model, &optimizer, &names, &state)?;
        }
    }
    if state.step < stop_at && state.step > 0 {
        // Stopped by the observer: keep the progress.
        write_checkpoint(output, model, &optimizer, &names, &state)?;
    }
    Ok(TrainingOutcome {
        finished: state.step == total_steps,
        resumed_from_step,
        pairs_per_second: if state.training_seconds > 0.0 {
            state.trained_pairs as f64 / state.training_seconds
        } else {
            0.0
        },
        state,
    })
}

#[expect(
    clippy::too_many_arguments,
    reason = "one step's inputs, private to the loop"
)]
fn optimizer_step(
    model: &TrainableModel,
    optimizer: &mut AdamW,
    names: &[String],
    training: &[EncodedPair],
    indices: &[usize],
    settings: &TrainingSettings,
    learning_rate: f64,
    step: usize,
) -> Result<(f64, usize, f64), TrainingError> {
    let step_pairs = indices.len() as f64;
    let mut gradients: Vec<Option<Tensor>> = vec![None; optimizer.variables().len()];
    let mut loss_total = 0f64;
    let mut correct = 0usize;
    for chunk in indices.chunks(settings.batch_pairs) {
        let pairs: Vec<&EncodedPair> = chunk.iter().map(|&index| &training[index]).collect();
        let (chosen, rejected) = pair_rewards(model, &pairs)?;
        let loss_sum = bradley_terry_loss_sum(&chosen, &rejected)
            .map_err(TrainingError::tensor("the loss"))?;
        loss_total += loss_sum
            .to_dtype(DType::F64)
            .and_then(|loss| loss.to_scalar::<f64>())
            .map_err(TrainingError::tensor("reading the loss"))?;
        correct += correct_pairs(&chosen, &rejected)
            .map_err(TrainingError::tensor("counting correct pairs"))?;
        // Dividing by the step's pairs (not the micro-batch's) makes accumulated gradients those
        // of one batch of the whole step.
        let scaled = (loss_sum / step_pairs).map_err(TrainingError::tensor("scaling the loss"))?;
        let store = scaled
            .backward()
            .map_err(TrainingError::tensor("the backward pass"))?;
        for (slot, variable) in gradients.iter_mut().zip(optimizer.variables()) {
            if let Some(gradient) = store.get(variable.as_tensor()) {
                *slot = Some(match slot.take() {
                    Some(sum) => {
                        (sum + gradient).map_err(TrainingError::tensor("accumulating gradients"))?
                    }
                    None => gradient.clone(),
                });
            }
        }
    }
    let loss = loss_total / step_pairs;
    if !loss.is_finite() {
        return Err(TrainingError::NonFiniteLoss {
            step: step + 1,
            value: loss as f32,
        });
    }
    let missing: Vec<&str> = gradients
        .iter()
        .zip(names)
        .filter(|(gradient, _)| gradient.is_none())
        .map(|(_, name)| name.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(TrainingError::Config {
            message: format!(
                "{} trainable weights get no gradient (first: {}): the model computes them \
                 through an operation without a backward pass; train the head (--train head)",
                missing.len(),
                missing
                    .iter()
                    .take(3)
                    .copied()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
    let gradient_norm = clip_gradient_norm(&mut gradients, settings.max_gradient_norm)
        .map_err(TrainingError::tensor("clipping gradients"))?;
    optimizer
        .step(&gradients, learning_rate)
        .map_err(TrainingError::tensor("the optimizer step"))?;
    Ok((loss, correct, gradient_norm))
}

/// Rewards of both inputs of each pair, as numbers, `batch_pairs` pairs per forward pass (no
/// autograd graph is kept).
pub fn score_pairs(
    model: &TrainableModel,
    pairs: &[EncodedPair],
    batch_pairs: usize,
) -> Result<Vec<[f32; 2]>, TrainingError> {
    let mut rewards = Vec::with_capacity(pairs.len());
    for chunk in pairs.chunks(batch_pairs.max(1)) {
        let chunk: Vec<&EncodedPair> = chunk.iter().collect();
        let (first, second) = pair_rewards(model, &chunk)?;
        let read = |tensor: Tensor| {
            tensor
                .detach()
                .to_dtype(DType::F32)
                .and_then(|tensor| tensor.to_vec1::<f32>())
                .map_err(TrainingError::tensor("reading rewards"))
        };
        let (first, second) = (read(first)?, read(second)?);
        rewards.extend(
            first
                .into_iter()
                .zip(second)
                .map(|(first, second)| [first, second]),
        );
    }
    Ok(rewards)
}

/// Mean Bradley-Terry loss and accuracy over `pairs` (0 and 0 when there are none).
pub fn evaluate(
    model: &TrainableModel,
    pairs: &[EncodedPair],
    batch_pairs: usize,
) -> Result<(f64, f64), TrainingError> {
    if pairs.is_empty() {
        return Ok((0.0, 0.0));
    }
    let mut loss_total = 0f64;
    let mut correct = 0usize;
    for chunk in pairs.chunks(batch_pairs.max(1)) {
        let chunk: Vec<&EncodedPair> = chunk.iter().collect();
        let (chosen, rejected) = pair_rewards(model, &chunk)?;
        // Detached: validation must not grow the autograd graph.
        let (chosen, rejected) = (chosen.detach(), rejected.detach());
        loss_total += bradley_terry_loss_sum(&chosen, &rejected)
            .and_then(|loss| loss.to_dtype(DType::F64))
            .and_then(|loss| loss.to_scalar::<f64>())
            .map_err(TrainingError::tensor("the validation loss"))?;
        correct += correct_pairs(&chosen, &rejected)
            .map_err(TrainingError::tensor("counting correct pairs"))?;
    }
    Ok((
        loss_total / pairs.len() as f64,
        correct as f64 / pairs.len() as f64,
    ))
}

/// Writes the trained model into `output` as a Hugging Face folder, with `training_record.json`
/// and the training curve beside it.
pub fn write_trained_model(
    output: &Path,
    model: &TrainableModel,
    record: &crate::record::TrainingRecord,
    log: &TrainingLog,
) -> Result<(), TrainingError> {
    model.save(output)?;
    crate::model::write_json(&output.join(crate::record::TRAINING_RECORD_FILE), record)?;
    let title = format!(
        "{} on {} pairs · {} steps",
        record.backbone, record.training_pairs, record.steps
    );
    crate::curve::write_curve(
        &output.join(crate::record::TRAINING_CURVE_FILE),
        log,
        &title,
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::HashMap;

    use omnireward_local_judge::input::ScoringText;
    use omnireward_local_judge::judge::{LocalJudge, LocalJudgeOptions};

    use super::*;
    use crate::data::split::train_validation_split;
    use crate::model::{Initialisation, ModelSpec, Trainable, TrainableModel};
    use crate::testing::{separable_pairs, tiny_spec, write_tiny_bert};

    pub(crate) struct Fixture {
        pub(crate) model: TrainableModel,
        pub(crate) training: Vec<EncodedPair>,
        pub(crate) validation: Vec<EncodedPair>,
        pub(crate) data_sha256: String,
    }

    fn fixture(folder: &Path, pairs: usize) -> Fixture {
        fixture_training(folder, pairs, Trainable::Head)
    }

    fn fixture_training(folder: &Path, pairs: usize, trainable: Trainable) -> Fixture {
        fixture_of(&tiny_spec(folder, trainable), pairs)
    }

    fn fixture_of(spec: &ModelSpec, pairs: usize) -> Fixture {
        let model = TrainableModel::build(spec)
            .unwrap_or_else(|error| panic!("{}: {error}", spec.folder.display()));
        let (training, validation) =
            train_validation_split(separable_pairs(pairs, 11), pairs / 5, 3);
        Fixture {
            training: encode_pairs(&model, &training).expect("encode"),
            validation: encode_pairs(&model, &validation).expect("encode"),
            data_sha256: data_sha256(&training, &validation),
            model,
        }
    }

    pub(crate) fn settings() -> TrainingSettings {
        TrainingSettings {
            learning_rate: 1e-2,
            adamw: AdamWSettings {
                weight_decay: 1e-3,
                ..AdamWSettings::default()
            },
            warmup_ratio: 0.1,
            epochs: 3,
            batch_pairs: 16,
            accumulation_steps: 1,
            max_gradient_norm: 1.0,
            seed: 5,
            validation_every: 10,
            checkpoint_every: 0,
            stop_after_steps: None,
        }
    }

    pub(crate) fn run(
        fixture: &Fixture,
        settings: &TrainingSettings,
        output: &Path,
    ) -> TrainingOutcome {
        train(
            &TrainingJob {
                model: &fixture.model,
                training: &fixture.training,
                validation: &fixture.validation,
                data_sha256: fixture.data_sha256.clone(),
                settings,
                output,
            },
            &mut SilentObserver,
        )
        .expect("training")
    }

    pub(crate) fn weights_bits(model: &TrainableModel) -> HashMap<String, Vec<u32>> {
        model
            .weights
            .all_tensors()
            .into_iter()
            .map(|(name, tensor)| {
                // bf16 weights widen to f32 exactly, so their bits compare as well.
                let values = tensor
                    .flatten_all()
                    .and_then(|flat| flat.to_dtype(DType::F32))
                    .and_then(|flat| flat.to_vec1::<f32>())
                    .expect("values");
                (name, values.into_iter().map(f32::to_bits).collect())
            })
            .collect()
    }

    /// Trains the model of `spec` for 3 epochs on 320 separable pairs and checks that it
    /// separates the 80 validation pairs.
    fn assert_learns_a_separating_direction(spec: &ModelSpec, output: &Path) {
        let fixture = fixture_of(spec, 400);
        let (_, before) = evaluate(&fixture.model, &fixture.validation, 32).expect("evaluate");
        let outcome = run(&fixture, &settings(), output);
        assert!(outcome.finished);
        let last = outcome.state.log.validations.last().expect("validated");
        assert!(
            last.accuracy > 0.95,
            "{} {:?}: validation accuracy {} (before training {before}); log {:?}",
            spec.folder.display(),
            spec.trainable,
            last.accuracy,
            outcome.state.log.validations
        );
        assert_eq!(outcome.state.step, 3 * 320usize.div_ceil(16));
    }

    fn assert_tiny_bert_learns_a_separating_direction(trainable: Trainable) {
        let folder = tempfile::tempdir().expect("tempdir");
        write_tiny_bert(folder.path());
        assert_learns_a_separating_direction(
            &tiny_spec(folder.path(), trainable),
            &folder.path().join("out"),
        );
    }

    #[test]
    fn a_tiny_model_learns_a_separating_direction() {
        assert_tiny_bert_learns_a_separating_direction(Trainable::Head);
    }

    #[test]
    fn training_every_weight_learns_a_separating_direction() {
        assert_tiny_bert_learns_a_separating_direction(Trainable::All);
    }

    #[test]
    fn training_every_weight_of_a_deberta_v2_model_learns_a_separating_direction() {
        let output = tempfile::tempdir().expect("tempdir");
        assert_learns_a_separating_direction(
            &family_spec("deberta-v2-tiny", Trainable::All),
            &output.path().join("out"),
        );
    }

    fn assert_resumes_to_bit_identical_weights(trainable: Trainable) {
        let folder = tempfile::tempdir().expect("tempdir");
        write_tiny_bert(folder.path());
        assert_resumes_to_bit_identical_weights_of(
            &tiny_spec(folder.path(), trainable),
            folder.path(),
        );
    }

    /// Trains the model of `spec` uninterrupted, and again stopped after 4 steps and resumed
    /// by a fresh model, writing under `work`; both must end with the same bits.
    fn assert_resumes_to_bit_identical_weights_of(spec: &ModelSpec, work: &Path) {
        let mut settings = settings();
        settings.epochs = 2;
        settings.accumulation_steps = 2;
        settings.batch_pairs = 8;
        let pairs = 120;

        let uninterrupted = fixture_of(spec, pairs);
        let full = run(&uninterrupted, &settings, &work.join("full"));
        assert!(full.finished);

        // Interrupted in the middle of the first epoch, then resumed by a fresh model.
        let output = work.join("resumed");
        let first = fixture_of(spec, pairs);
        let mut interrupted = settings.clone();
        interrupted.stop_after_steps = Some(4);
        let stopped = run(&first, &interrupted, &output);
        assert!(!stopped.finished);
        assert_eq!(stopped.state.step, 4);
        let second = fixture_of(spec, pairs);
        let resumed = run(&second, &settings, &output);
        assert_eq!(resumed.resumed_from_step, Some(4));
        assert!(resumed.finished);

        assert_eq!(
            weights_bits(&uninterrupted.model),
            weights_bits(&second.model)
        );
        assert_eq!(full.state.log, resumed.state.log);
        // The weights did move: the comparison is not between two untouched models.
        assert_ne!(
            weights_bits(&uninterrupted.model),
            weights_bits(&fixture_of(spec, pairs).model)
        );
    }

    #[test]
    fn interrupted_training_resumes_to_bit_identical_weights() {
        assert_resumes_to_bit_identical_weights(Trainable::Head);
    }

    #[test]
    fn interrupted_training_of_every_weight_resumes_to_bit_identical_weights() {
        assert_resumes_to_bit_identical_weights(Trainable::All);
    }

    /// bf16, as a decoder trains on CUDA (encoders stay in f32 on every device), here on the
    /// CPU: the model computes in bf16 and AdamW keeps f32 masters; it learns, and resumes to
    /// the same bits (masters included).
    #[test]
    fn bf16_training_of_every_decoder_weight_learns_and_resumes_to_bit_identical_weights() {
        let work = tempfile::tempdir().expect("tempdir");
        let spec = ModelSpec {
            dtype: Some(DType::BF16),
            ..family_spec("qwen2_seqcls", Trainable::All)
        };
        assert_learns_a_separating_direction(&spec, &work.path().join("learn"));
        assert_resumes_to_bit_identical_weights_of(&spec, work.path());
    }

    #[test]
    fn resuming_with_other_settings_is_refused() {
        let folder = tempfile::tempdir().expect("tempdir");
        write_tiny_bert(folder.path());
        let fixture = fixture(folder.path(), 40);
        let output = folder.path().join("out");
        let mut settings = settings();
        settings.stop_after_steps = Some(1);
        run(&fixture, &settings, &output);
        settings.learning_rate = 5e-3;
        let error = train(
            &TrainingJob {
                model: &fixture.model,
                training: &fixture.training,
                validation: &fixture.validation,
                data_sha256: fixture.data_sha256.clone(),
                settings: &settings,
                output: &output,
            },
            &mut SilentObserver,
        )
        .expect_err("other settings");
        assert!(error.to_string().contains("other settings"), "{error}");
    }

    #[test]
    fn gradient_accumulation_equals_one_large_batch() {
        let folder = tempfile::tempdir().expect("tempdir");
        write_tiny_bert(folder.path());
        let mut large = settings();
        large.epochs = 1;
        large.batch_pairs = 16;
        large.stop_after_steps = Some(3);
        let mut accumulated = large.clone();
        accumulated.batch_pairs = 4;
        accumulated.accumulation_steps = 4;
        let first = fixture(folder.path(), 100);
        run(&first, &large, &folder.path().join("large"));
        let second = fixture(folder.path(), 100);
        run(&second, &accumulated, &folder.path().join("accumulated"));
        let first = first.model.weights.all_tensors();
        let second = second.model.weights.all_tensors();
        for (name, tensor) in &first {
            // The Bradley-Terry loss depends on reward differences only, so the classifier bias
            // has a zero gradient up to rounding noise, which Adam's normalisation turns into
            // steps of either sign: it is not comparable between any two runs.
            if name == "classifier.bias" {
                continue;
            }
            let difference = (tensor - &second[name])
                .and_then(|difference| difference.abs())
                .and_then(|difference| difference.max_all())
                .and_then(|difference| difference.to_scalar::<f32>())
                .expect("difference");
            // Summation order differs (4 micro-batches vs 1 batch): f32 rounding only.
            assert!(difference < 1e-5, "{name}: {difference}");
        }
    }

    /// The tiny random-weight parity checkpoints of the local judge, one per text family (and
    /// per DeBERTa-v2 attention layout: shared keys with buckets, separate projections, no
    /// relative attention, one position term only).
    const FAMILY_FIXTURES: [&str; 12] = [
        "bert-tiny",
        "xlm-roberta-tiny",
        "deberta-v2-tiny",
        "deberta-v2-tiny-unshared",
        "deberta-v2-tiny-absolute",
        "deberta-v2-tiny-c2p",
        "deberta-v2-tiny-p2c",
        "modernbert-tiny-cls",
        "modernbert-tiny-mean",
        "qwen2_seqcls",
        "qwen3_seqcls",
        "llama_seqcls",
    ];

    fn family_spec(name: &str, trainable: Trainable) -> ModelSpec {
        let folder = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../local-judge/tests/fixtures")
            .join(name);
        ModelSpec {
            initialisation: Initialisation::Pretrained,
            ..tiny_spec(&folder, trainable)
        }
    }

    /// The absolute part of the finite-difference tolerance for the tiny BERT: see below.
    const TINY_ABSOLUTE_TOLERANCE: f64 = 1e-4;

    /// Checks the backward pass of every trainable weight against central finite differences
    /// of the loss, at `entries` entries spread over each, within `absolute + 1e-2 × |gradient|`;
    /// returns how many entries were checked.
    fn assert_gradients_match_finite_differences(
        spec: &ModelSpec,
        entries: usize,
        absolute: f64,
    ) -> usize {
        let fixture = fixture_of(spec, 10);
        let pairs: Vec<&EncodedPair> = fixture.training.iter().take(4).collect();
        assert_gradients_of_pairs_match_finite_differences(
            &fixture.model,
            &pairs,
            entries,
            absolute,
        )
    }

    /// [`assert_gradients_match_finite_differences`] over given pairs of a built model.
    pub(crate) fn assert_gradients_of_pairs_match_finite_differences(
        model: &TrainableModel,
        pairs: &[&EncodedPair],
        entries: usize,
        absolute: f64,
    ) -> usize {
        let loss = |model: &TrainableModel| -> f64 {
            let (chosen, rejected) = pair_rewards(model, pairs).expect("rewards");
            crate::objective::bradley_terry_loss(&chosen, &rejected)
                .and_then(|loss| loss.to_dtype(DType::F64))
                .and_then(|loss| loss.to_scalar::<f64>())
                .expect("loss")
        };
        let (chosen, rejected) = pair_rewards(model, pairs).expect("rewards");
        let gradients = crate::objective::bradley_terry_loss(&chosen, &rejected)
            .and_then(|loss| loss.backward())
            .expect("backward");
        let step = 1e-2f32;
        let mut checked = 0;
        for (name, variable) in model.weights.trainable_variables() {
            let analytic = gradients
                .get(variable.as_tensor())
                .expect("gradient")
                .flatten_all()
                .and_then(|flat| flat.to_vec1::<f32>())
                .expect("values");
            let original = variable
                .as_tensor()
                .flatten_all()
                .and_then(|flat| flat.to_vec1::<f32>())
                .expect("values");
            // No weight is cut off from the loss. The bias of the head's last projection is the
            // exception (`classifier.bias`, XLM-RoBERTa's `classifier.out_proj.bias`): the
            // Bradley-Terry loss depends on reward differences only, so its gradient is zero,
            // exactly or up to rounding.
            if !matches!(
                name.as_str(),
                "classifier.bias" | "classifier.out_proj.bias"
            ) {
                assert!(
                    analytic.iter().any(|value| *value != 0.0),
                    "{}: {name} gets no gradient",
                    model.folder.display()
                );
            }
            // A spread of entries of every trainable weight.
            for index in (0..original.len()).step_by((original.len() / entries).max(1)) {
                let shifted = |delta: f32| {
                    let mut values = original.clone();
                    values[index] += delta;
                    let tensor = Tensor::from_vec(values, variable.shape(), variable.device())
                        .expect("tensor");
                    variable.set(&tensor).expect("set");
                    loss(model)
                };
                let central =
                    |step: f32| (shifted(step) - shifted(-step)) / (2.0 * f64::from(step));
                // Central differences at h and h/2 combined (Richardson) cancel the O(h²) term:
                // the random-weight fixtures curve enough for it to reach a few per cent at
                // h = 1e-2 (it shrinks as h does; checked), while smaller steps drown in the
                // f32 rounding of the loss.
                let numeric = (4.0 * central(step / 2.0) - central(step)) / 3.0;
                shifted(0.0);
                let expected = f64::from(analytic[index]);
                // With h = 1e-2: O(h⁴) truncation and ~1e-7 rounding of the loss over h give
                // errors near 1e-5; 1e-4 + 1e-2 relative leaves margin.
                assert!(
                    (numeric - expected).abs() <= absolute + 1e-2 * expected.abs(),
                    "{}: {name}[{index}]: finite difference {numeric}, backward {expected}",
                    model.folder.display()
                );
                checked += 1;
            }
        }
        checked
    }

    #[test]
    fn gradients_match_finite_differences() {
        let folder = tempfile::tempdir().expect("tempdir");
        write_tiny_bert(folder.path());
        let checked = assert_gradients_match_finite_differences(
            &tiny_spec(folder.path(), Trainable::Head),
            5,
            TINY_ABSOLUTE_TOLERANCE,
        );
        assert!(checked >= 10, "only {checked} entries checked");
    }

    #[test]
    fn gradients_of_every_weight_match_finite_differences() {
        let folder = tempfile::tempdir().expect("tempdir");
        write_tiny_bert(folder.path());
        // The tiny BERT has 39 weight tensors: embeddings, 2 layers of 16, pooler, classifier.
        let checked = assert_gradients_match_finite_differences(
            &tiny_spec(folder.path(), Trainable::All),
            5,
            TINY_ABSOLUTE_TOLERANCE,
        );
        assert!(checked >= 39 * 5, "only {checked} entries checked");
    }

    #[test]
    fn gradients_of_every_weight_of_every_text_family_match_finite_differences() {
        for name in FAMILY_FIXTURES {
            // The fixtures' random weights give larger rewards than the tiny BERT's, so the f32
            // rounding of the loss, divided by h, is larger too: about 1e-4. Two entries per
            // weight keep the test short; the tiny BERT above checks five.
            let checked = assert_gradients_match_finite_differences(
                &family_spec(name, Trainable::All),
                2,
                5e-4,
            );
            assert!(checked >= 40, "{name}: only {checked} entries checked");
        }
    }

    #[test]
    fn a_saved_model_scores_the_same_in_the_local_judge() {
        let folder = tempfile::tempdir().expect("tempdir");
        write_tiny_bert(folder.path());
        let fixture = fixture(folder.path(), 40);
        let mut settings = settings();
        settings.stop_after_steps = Some(3);
        run(&fixture, &settings, &folder.path().join("out"));
        let saved = folder.path().join("saved");
        fixture.model.save(&saved).expect("save");

        let judge =
            LocalJudge::load(&saved, &LocalJudgeOptions::default()).expect("the judge loads it");
        let pairs = separable_pairs(3, 99);
        let texts: Vec<[omnireward_local_judge::input::ScoringText<'_>; 2]> = pairs
            .iter()
            .map(|pair| {
                [
                    ScoringText {
                        criterion: &pair.criterion,
                        prompt: &pair.prompt,
                        response: &pair.chosen,
                    },
                    ScoringText {
                        criterion: &pair.criterion,
                        prompt: &pair.prompt,
                        response: &pair.rejected,
                    },
                ]
            })
            .collect();
        let judged = judge.score_text_pairs(&texts, &mut |_| {}).expect("scores");
        let encoded = encode_pairs(&fixture.model, &pairs).expect("encode");
        for (pair, judged) in encoded.iter().zip(judged) {
            let (chosen, rejected) = pair_rewards(&fixture.model, &[pair]).expect("rewards");
            let ours = [
                chosen.to_vec1::<f32>().expect("v")[0],
                rejected.to_vec1::<f32>().expect("v")[0],
            ];
            // Same weights, same inputs, same kernels: equal up to batch-shape effects.
            assert!(
                (ours[0] - judged[0]).abs() < 1e-5 && (ours[1] - judged[1]).abs() < 1e-5,
                "{ours:?} vs {judged:?}"
            );
        }
    }

    /// Rewards of models built for head-only training (fused kernels) and for training every
    /// weight (differentiable kernels) agree: same weights, same inputs.
    fn assert_kernels_agree(fused: &ModelSpec, differentiable: &ModelSpec) {
        let fused = fixture_of(fused, 20);
        let differentiable = fixture_of(differentiable, 20);
        let pairs: Vec<&EncodedPair> = fused.training.iter().collect();
        let (fused_chosen, fused_rejected) = pair_rewards(&fused.model, &pairs).expect("rewards");
        let (chosen, rejected) = pair_rewards(&differentiable.model, &pairs).expect("rewards");
        for (first, second) in [(fused_chosen, chosen), (fused_rejected, rejected)] {
            let first = first.to_vec1::<f32>().expect("values");
            let second = second.to_vec1::<f32>().expect("values");
            for (first, second) in first.iter().zip(&second) {
                // The two forms round differently: candle's fused layer norm takes the variance
                // as E[x²] − mean² in one pass, the differentiable one from the centred values.
                // Through a few layers that moves rewards by up to 2e-5 (relative) on the
                // fixtures; a wrong gradient-carrying kernel would move them by far more.
                assert!(
                    (first - second).abs() <= 5e-5 * first.abs().max(1.0),
                    "{}: {first} vs {second}",
                    fused.model.folder.display()
                );
            }
        }
    }

    #[test]
    fn the_differentiable_kernels_score_like_the_fused_ones() {
        // Initial values are seeded by weight name, so both tiny models have the same weights.
        let folder = tempfile::tempdir().expect("tempdir");
        write_tiny_bert(folder.path());
        assert_kernels_agree(
            &tiny_spec(folder.path(), Trainable::Head),
            &tiny_spec(folder.path(), Trainable::All),
        );
        for name in FAMILY_FIXTURES {
            assert_kernels_agree(
                &family_spec(name, Trainable::Head),
                &family_spec(name, Trainable::All),
            );
        }
    }
}
