//! What a training run writes about itself: the per-step log and validation points
//! ([`TrainingLog`], kept in checkpoints so a resumed run continues it) and the final
//! [`TrainingRecord`] (`training_record.json` beside the weights), which `eval checkpoint` stores
//! with the run so the leaderboard shows how a model was trained.

use serde::{Deserialize, Serialize};

use crate::data::PairUsage;
use crate::model::{Initialisation, Trainable};
use crate::optimizer::AdamWSettings;

/// The record file's name in a trained checkpoint folder.
pub const TRAINING_RECORD_FILE: &str = "training_record.json";
/// The training curve's file name.
pub const TRAINING_CURVE_FILE: &str = "training_curve.svg";

/// One optimizer step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepLog {
    /// Optimizer step, from 1.
    pub step: usize,
    /// Learning rate used.
    pub learning_rate: f64,
    /// Mean Bradley-Terry loss of the step's pairs.
    pub loss: f64,
    /// Fraction of the step's pairs ranked correctly (before the update).
    pub accuracy: f64,
    /// Global gradient norm before clipping.
    pub gradient_norm: f64,
}

/// One validation pass (and benchmark evaluation, when configured).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ValidationLog {
    /// After this many optimizer steps.
    pub step: usize,
    /// Mean Bradley-Terry loss on the validation pairs.
    pub loss: f64,
    /// Fraction of validation pairs ranked correctly.
    pub accuracy: f64,
    /// Benchmark accuracies by name (e.g. `benchmark.with_ties`), when evaluated.
    pub benchmark: Vec<(String, f64)>,
}

/// The history of a run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainingLog {
    /// Every optimizer step.
    pub steps: Vec<StepLog>,
    /// Every validation pass.
    pub validations: Vec<ValidationLog>,
}

/// The hyper-parameters of a run: a resumed run must use the same ones.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hyperparameters {
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
    /// Seed of shuffling, the split and initial values.
    pub seed: u64,
    /// What is trained.
    pub trainable: Trainable,
    /// Pretrained or from scratch.
    pub initialisation: Initialisation,
    /// Token limit per input.
    pub max_length: usize,
    /// Which end of a long input is cut (`right` or `left`).
    pub truncation: String,
}

/// One data source of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DataSourceRecord {
    /// Dataset name.
    pub name: String,
    /// Where it came from (a file path or the benchmark's description).
    pub origin: String,
    /// Pairs read (after `--max-samples`).
    pub pairs_read: usize,
    /// Pairs kept for the model.
    pub pairs_kept: usize,
    /// Pairs left out because the answers are media (text models).
    pub response_media_skipped: usize,
    /// Pairs left out because the answers are text (image-text models).
    #[serde(default)]
    pub text_answers_skipped: usize,
    /// Pairs left out because the answers are videos or audio (image-text models).
    #[serde(default)]
    pub video_or_audio_answers_skipped: usize,
    /// Pairs left out because an answer has several images (image-text models).
    #[serde(default)]
    pub several_images_skipped: usize,
    /// Kept pairs whose prompt media the model does not see.
    pub prompt_media_unseen: usize,
    /// Ties dropped (benchmark sources).
    pub ties_dropped: usize,
}

impl DataSourceRecord {
    /// A record from the usage counts of a source.
    pub fn new(
        name: &str,
        origin: &str,
        pairs_read: usize,
        usage: &PairUsage,
        ties_dropped: usize,
    ) -> Self {
        let mut record = DataSourceRecord {
            name: name.to_owned(),
            origin: origin.to_owned(),
            pairs_read,
            pairs_kept: 0,
            response_media_skipped: 0,
            text_answers_skipped: 0,
            video_or_audio_answers_skipped: 0,
            several_images_skipped: 0,
            prompt_media_unseen: 0,
            ties_dropped,
        };
        match usage {
            PairUsage::Text(usage) => {
                record.pairs_kept = usage.kept;
                record.response_media_skipped = usage.response_media_skipped;
                record.prompt_media_unseen = usage.prompt_media_unseen;
            }
            PairUsage::Images(usage) => {
                record.pairs_kept = usage.kept;
                record.text_answers_skipped = usage.text_answers_skipped;
                record.video_or_audio_answers_skipped = usage.video_or_audio_answers_skipped;
                record.several_images_skipped = usage.several_images_skipped;
                record.prompt_media_unseen = usage.prompt_media_unseen;
            }
        }
        record
    }
}

/// `training_record.json`: how a checkpoint was trained.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainingRecord {
    /// The program version that trained it.
    pub omnireward_version: String,
    /// The backbone folder's name (not its full path, which says nothing elsewhere).
    pub backbone: String,
    /// The `architectures` entry of the source checkpoint.
    pub source_architecture: String,
    /// The family written.
    pub architecture: String,
    /// Data sources.
    pub data: Vec<DataSourceRecord>,
    /// SHA-256 over the training and validation pairs in order: the data's identity.
    pub data_sha256: String,
    /// Training pairs.
    pub training_pairs: usize,
    /// Validation pairs.
    pub validation_pairs: usize,
    /// Hyper-parameters.
    pub hyperparameters: Hyperparameters,
    /// Optimizer steps taken.
    pub steps: usize,
    /// Steps of the full schedule.
    pub total_steps: usize,
    /// `cpu` or `cuda:N`.
    pub device: String,
    /// Compute dtype.
    pub dtype: String,
    /// Trainable weight elements.
    pub trainable_parameters: u64,
    /// All weight elements.
    pub parameters: u64,
    /// Training pairs per second over the run's optimizer steps (validation and checkpoints
    /// excluded).
    pub pairs_per_second: f64,
    /// The last validation pass.
    pub final_validation: Option<ValidationLog>,
    /// Whether the run was resumed from a checkpoint.
    pub resumed_from_step: Option<usize>,
}
