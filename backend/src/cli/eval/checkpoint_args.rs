//! The options of `omnireward eval checkpoint`, in a module of their own: the reward-model path
//! (`checkpoint.rs`) and the chat-model path (`generative.rs`) both read them, and neither
//! imports the other's types.

use std::path::PathBuf;

use clap::Args;
use omnireward_local_judge::generation::engine::Batching;

use super::super::local_model::LocalModelArgs;
use super::RunArgs;
use crate::evaluation::checkpoint_run::DEFAULT_CHUNK_SAMPLES;
use crate::evaluation::generative_run::{DEFAULT_CHUNK_ITEMS, GenerativeDecoding};
use crate::judges::ablation::Ablation;
use crate::judges::local::inputs::DEFAULT_RESPONSE_FRAMES;

#[derive(Debug, Args)]
pub(in crate::cli) struct CheckpointArgs {
    /// Checkpoint folder (config.json, tokenizer.json, safetensors weights), a chat model's GGUF
    /// file, or a Hub model repository as `hf:org/name[@revision]` (checked from its file list,
    /// then fetched into the cache); a `*ForCausalLM` folder or a GGUF file is run as a
    /// generative judge [default: the default model, MiniLM with the Bradley-Terry head trained
    /// here].
    #[arg(value_name = "DIR|FILE.gguf|hf:REPO")]
    pub(super) folder: Option<PathBuf>,
    /// Evaluate the MiniLM relevance baseline instead: all-MiniLM-L6-v2 with no training, the
    /// leaderboard's floor.
    #[arg(long, conflicts_with = "folder")]
    pub(super) baseline: bool,
    /// Name shown on the leaderboard [default: the folder's name].
    #[arg(long)]
    pub(super) name: Option<String>,
    #[command(flatten)]
    pub(super) model: LocalModelArgs,
    /// Frames sampled per video response (image-text models).
    #[arg(long, default_value_t = DEFAULT_RESPONSE_FRAMES, value_name = "N")]
    pub(super) frames: usize,
    /// Reward models: samples per job on the inference thread (saved together).
    #[arg(long, default_value_t = DEFAULT_CHUNK_SAMPLES, value_name = "N", hide = true)]
    pub(super) chunk_samples: usize,
    /// An ablation audit: `criterion` leaves the criterion out of the formatted text (its place
    /// stays empty). Stored as its own run, compared with the same command's run without it.
    /// `media` does not apply: local checkpoints never see a prompt's media.
    #[arg(long, value_enum, value_delimiter = ',', value_name = "PART")]
    pub(super) ablate: Vec<Ablation>,
    #[command(flatten)]
    pub(super) generation: GenerationArgs,
    #[command(flatten)]
    pub(super) run: RunArgs,
}

/// Options of generative checkpoints (chat models); reward models ignore them.
#[derive(Debug, Args)]
pub(in crate::cli) struct GenerationArgs {
    /// Prompt template folder for chat models (ours, or the authors' utils/prompts/*.py)
    /// [default: built in].
    #[arg(long, value_name = "DIR")]
    pub(super) prompts: Option<std::path::PathBuf>,
    /// Chat models: also judge every item with A and B exchanged.
    #[arg(long)]
    pub(super) swap: bool,
    /// Chat models: generated tokens per answer at most.
    #[arg(long, default_value_t = GenerativeDecoding::default().max_new_tokens, value_name = "N")]
    pub(super) max_new_tokens: usize,
    /// Chat models: queries per item while the verdict cannot be parsed (the first is greedy,
    /// the others sampled).
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub(super) verdict_attempts: u32,
    /// Chat models: temperature of the re-queries.
    #[arg(long, default_value_t = GenerativeDecoding::default().requery_temperature)]
    pub(super) requery_temperature: f64,
    /// Chat models: nucleus (top-p) cut of the re-queries.
    #[arg(long, default_value_t = GenerativeDecoding::default().requery_top_p)]
    pub(super) requery_top_p: f64,
    /// Chat models: seed of the re-queries (recorded with the run).
    #[arg(long, default_value_t = 0)]
    pub(super) seed: u64,
    /// Chat models: rows generated together at most.
    #[arg(long, default_value_t = Batching::default().max_rows, value_name = "N")]
    pub(super) max_batch_rows: usize,
    /// Chat models: judge only the first N covered samples of each task (a quick check; a
    /// later run without it resumes the same run and judges the rest).
    #[arg(long, value_name = "N")]
    pub(super) max_samples_per_task: Option<usize>,
    /// Items per job on the inference thread (saved together).
    #[arg(long, default_value_t = DEFAULT_CHUNK_ITEMS, value_name = "N", hide = true)]
    pub(super) chunk_items: usize,
}

impl GenerationArgs {
    pub(super) fn decoding(&self) -> anyhow::Result<GenerativeDecoding> {
        if self.max_new_tokens == 0 {
            anyhow::bail!("--max-new-tokens must be at least 1");
        }
        // NaN is not finite: refused too.
        if !self.requery_temperature.is_finite() || self.requery_temperature <= 0.0 {
            anyhow::bail!("--requery-temperature must be above 0 (re-queries are sampled)");
        }
        if !(0.0..=1.0).contains(&self.requery_top_p) || self.requery_top_p == 0.0 {
            anyhow::bail!("--requery-top-p must be in (0, 1]");
        }
        Ok(GenerativeDecoding {
            max_new_tokens: self.max_new_tokens,
            requery_temperature: self.requery_temperature,
            requery_top_p: self.requery_top_p,
            seed: self.seed,
        })
    }
}
