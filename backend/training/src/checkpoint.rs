//! Training checkpoints: `checkpoint-NNNNNN/` folders under the output folder, each a complete
//! Hugging Face folder (what `eval checkpoint` loads) plus the optimizer's moments
//! (`optimizer.safetensors`) and the trainer's position and history (`trainer_state.json`).
//!
//! A checkpoint is written into a `.partial` folder and renamed when complete, so an
//! interruption while writing leaves the previous checkpoint as the latest one.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::error::TrainingError;
use crate::model::{TrainableModel, write_json};
use crate::optimizer::AdamW;
use crate::record::{Hyperparameters, TrainingLog};

/// The optimizer moments' file in a checkpoint.
pub const OPTIMIZER_FILE: &str = "optimizer.safetensors";
/// The trainer's state file in a checkpoint.
pub const TRAINER_STATE_FILE: &str = "trainer_state.json";
const PREFIX: &str = "checkpoint-";

/// Where training stands, saved with each checkpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainerState {
    /// Optimizer steps taken.
    pub step: usize,
    /// Steps of the whole schedule.
    pub total_steps: usize,
    /// SHA-256 of the data: resuming on other data is refused.
    pub data_sha256: String,
    /// The run's settings: resuming with other settings is refused.
    pub hyperparameters: Hyperparameters,
    /// The history so far.
    pub log: TrainingLog,
    /// Pairs trained on so far, over every process of the run.
    pub trained_pairs: usize,
    /// Seconds spent in optimizer steps so far (validation and checkpoints excluded).
    pub training_seconds: f64,
}

/// The folder of the checkpoint at `step`.
pub fn checkpoint_folder(output: &Path, step: usize) -> PathBuf {
    output.join(format!("{PREFIX}{step:06}"))
}

/// Writes a checkpoint of the model, optimizer and state.
pub fn write_checkpoint(
    output: &Path,
    model: &TrainableModel,
    optimizer: &AdamW,
    variable_names: &[String],
    state: &TrainerState,
) -> Result<PathBuf, TrainingError> {
    let folder = checkpoint_folder(output, state.step);
    let partial = folder.with_extension("partial");
    if partial.exists() {
        fs::remove_dir_all(&partial).map_err(TrainingError::io(&partial))?;
    }
    model.save(&partial)?;
    let optimizer_file = partial.join(OPTIMIZER_FILE);
    candle_core::safetensors::save(&optimizer.state_tensors(variable_names), &optimizer_file)
        .map_err(TrainingError::tensor(format!(
            "writing {}",
            optimizer_file.display()
        )))?;
    write_json(&partial.join(TRAINER_STATE_FILE), state)?;
    if folder.exists() {
        fs::remove_dir_all(&folder).map_err(TrainingError::io(&folder))?;
    }
    fs::rename(&partial, &folder).map_err(TrainingError::io(&folder))?;
    Ok(folder)
}

/// The complete checkpoint with the most steps under `output`, if any.
pub fn latest_checkpoint(output: &Path) -> Result<Option<(PathBuf, usize)>, TrainingError> {
    let entries = match fs::read_dir(output) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(TrainingError::Io {
                file: output.to_path_buf(),
                source: error,
            });
        }
    };
    let mut latest: Option<(PathBuf, usize)> = None;
    for entry in entries {
        let entry = entry.map_err(TrainingError::io(output))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(step) = name
            .strip_prefix(PREFIX)
            .and_then(|digits| digits.parse::<usize>().ok())
        else {
            continue;
        };
        if !entry.path().join(TRAINER_STATE_FILE).is_file() {
            continue;
        }
        if latest.as_ref().is_none_or(|(_, best)| step > *best) {
            latest = Some((entry.path(), step));
        }
    }
    Ok(latest)
}

/// A checkpoint read back: state, trainable weights and optimizer moments (on the CPU).
pub struct SavedCheckpoint {
    /// Where training stood.
    pub state: TrainerState,
    /// Every weight of the saved model.
    pub weights: HashMap<String, Tensor>,
    /// The optimizer moments.
    pub optimizer: HashMap<String, Tensor>,
}

/// Reads the checkpoint in `folder`.
pub fn read_checkpoint(folder: &Path) -> Result<SavedCheckpoint, TrainingError> {
    let state_file = folder.join(TRAINER_STATE_FILE);
    let text = fs::read_to_string(&state_file).map_err(TrainingError::io(&state_file))?;
    let state: TrainerState =
        serde_json::from_str(&text).map_err(|error| TrainingError::Resume {
            folder: folder.to_path_buf(),
            message: format!("{TRAINER_STATE_FILE}: {error}"),
        })?;
    let load = |name: &str| {
        let file = folder.join(name);
        candle_core::safetensors::load(&file, &Device::Cpu).map_err(|error| TrainingError::Resume {
            folder: folder.to_path_buf(),
            message: format!("{name}: {error}"),
        })
    };
    Ok(SavedCheckpoint {
        state,
        weights: load(omnireward_local_judge::checkpoint::SINGLE_WEIGHTS_FILE)?,
        optimizer: load(OPTIMIZER_FILE)?,
    })
}
