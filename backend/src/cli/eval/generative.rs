//! `omnireward eval checkpoint DIR|FILE.gguf` for chat models: a `*ForCausalLM` folder, a GGUF
//! file or a Qwen2-VL / Qwen2.5-VL folder without a reward head judges the benchmark with the API
//! judges' prompts on a local inference thread (a vision-language one with the samples' images
//! and video frames in the prompts), saved and resumable like every run.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use omnireward_local_judge::generation::engine::Batching;
use serde_json::json;

use super::super::Environment;
use super::checkpoint_args::CheckpointArgs;
use super::local_run::{LocalRunSummary, Watched, coverage_text};
use crate::evaluation::checkpoint_run::{format_parameters, weights_sha256};
use crate::evaluation::generative_run::{self, GenerativeRunConfig, GenerativeRunSummary};
use crate::evaluation::identity::{DeviceClass, GenerativeIdentity, RunIdentity};
use crate::judges::api::prompts::PromptSet;
use crate::judges::local::GenerativeThread;
use crate::judges::local::vision_prompt::VIDEO_FRAME_RULE;
use crate::media::MediaEncoder;
use crate::storage::{ModelKind, NewModel};

/// The weights' SHA-256: the weight files of a folder, or a whole GGUF file.
fn weights_hash(path: &Path) -> anyhow::Result<String> {
    if path.is_file() {
        return Ok(weights_sha256(&[path.to_path_buf()])?);
    }
    let checkpoint = crate::checkpoint::CheckpointFolder::inspect(path)?;
    Ok(weights_sha256(&checkpoint.weight_files())?)
}

pub(in crate::cli) fn run(
    environment: &Environment,
    args: &CheckpointArgs,
    path: &Path,
) -> anyhow::Result<ExitCode> {
    let generation = &args.generation;
    let decoding = generation.decoding()?;
    if args.model.max_length.is_some()
        || args.model.separator.is_some()
        || args.model.reward_label().is_some()
    {
        anyhow::bail!(
            "--max-length, --separator and --reward-label apply to reward models; {} is a chat model (see --max-new-tokens)",
            path.display()
        );
    }
    if generation.verdict_attempts == 0 {
        anyhow::bail!("--verdict-attempts must be at least 1");
    }
    let benchmark =
        environment.load_benchmark(args.run.data.as_ref(), &args.run.benchmark, false)?;
    let prompts = Arc::new(match &generation.prompts {
        Some(folder) => PromptSet::load(folder)?,
        None => PromptSet::builtin(),
    });
    let options = args.model.options()?;
    let thread = GenerativeThread::start(path.to_path_buf(), options.device)?;
    let description = thread.description().clone();
    let identity = RunIdentity::Generative(GenerativeIdentity::new(
        weights_hash(thread.path())?,
        thread.path(),
        &description.architecture,
        DeviceClass::of_device(&description.device),
        &prompts,
        generation.verdict_attempts,
        decoding.clone(),
    )?);
    let name = args.name.clone().unwrap_or_else(|| {
        let stem = if thread.path().is_file() {
            thread.path().file_stem()
        } else {
            thread.path().file_name()
        };
        stem.map_or_else(
            || "chat-model".to_owned(),
            |name| name.to_string_lossy().into_owned(),
        )
    });
    let mut model = NewModel::named(name.clone(), ModelKind::LocalGenerative);
    model.parameters = Some(format_parameters(description.parameter_count));
    let reads_media = thread.reads_media();
    let mut plan = generative_run::plan(&benchmark.samples, reads_media);
    if let Some(limit) = generation.max_samples_per_task {
        let mut taken: std::collections::BTreeMap<omnireward_shared::Task, usize> =
            std::collections::BTreeMap::new();
        plan.covered.retain(|sample| {
            let count = taken.entry(sample.task).or_default();
            *count += 1;
            *count <= limit
        });
    }
    let batching = Batching {
        batch_tokens: options.batch_tokens,
        max_rows: generation.max_batch_rows.max(1),
    };
    let details = json!({
        "omnireward_version": env!("CARGO_PKG_VERSION"),
        "judge": description,
        "decoding": decoding,
        "verdict_attempts": generation.verdict_attempts,
        "batching": batching,
        "max_samples_per_task": generation.max_samples_per_task,
        "device_requested": options.device.to_string(),
        "coverage": {
            "text_only_prompt": plan.text_only_prompt,
            "not_covered": plan.not_covered.keys().collect::<Vec<_>>(),
        },
        "media_rule": reads_media.then_some(VIDEO_FRAME_RULE),
    });
    let media = Arc::new(MediaEncoder::new(environment.cache_dir.clone()));
    let config = GenerativeRunConfig {
        settings: args.run.setting.settings(),
        swap: generation.swap,
        verdict_attempts: generation.verdict_attempts,
        decoding,
        batching,
        chunk_items: generation.chunk_items.max(1),
    };

    super::super::runtime()?.block_on(async {
        let (storage, mut session) = super::open_session(
            environment,
            &args.run,
            &model,
            &benchmark,
            &identity,
            details,
        )
        .await?;
        let watched = Watched::start(progress_bar);
        let summary = generative_run::run(
            &thread,
            prompts,
            media,
            &plan,
            &config,
            session.sink(),
            Arc::clone(&watched.stop),
            Arc::clone(&watched.progress),
        )
        .await;
        watched
            .finish(
                summary.map_err(anyhow::Error::from),
                storage,
                session,
                &name,
                &benchmark,
                &args.run,
                &description,
                &format!(
                    "{} ({}) on {} ({})",
                    description.architecture,
                    description.tensor_types.join(", "),
                    description.device,
                    description.dtype
                ),
            )
            .await
    })
}

impl LocalRunSummary for GenerativeRunSummary {
    fn stopped(&self) -> bool {
        self.stopped
    }

    fn text(&self) -> String {
        let mut text = format!(
            "{} items: {} done before, {} judged now ({} unparseable) · {} tokens generated · {:.1} tokens/s · {:.1} judgements/min · {:.1} s\n",
            self.items,
            self.already_done,
            self.judged,
            self.unparseable,
            self.generated_tokens,
            self.tokens_per_second,
            self.judgements_per_minute,
            self.seconds
        );
        text.push_str(&coverage_text(
            "judged",
            &self.text_only_prompt,
            &self.not_covered,
            if self.reads_media {
                "audio: a vision-language model has no audio tower"
            } else {
                "responses a text model cannot read"
            },
            self.stopped,
        ));
        text
    }
}

fn progress_bar(progress: Arc<AtomicU64>) -> tokio::task::JoinHandle<()> {
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {pos} judged · {per_sec}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    tokio::spawn(async move {
        loop {
            bar.set_position(progress.load(Ordering::Relaxed));
            bar.tick();
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
}
