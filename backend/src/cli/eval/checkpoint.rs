//! `omnireward eval checkpoint DIR|FILE.gguf|hf:org/name[@revision]`: a local reward-model
//! checkpoint (or one fetched from the Hub) over the benchmark, on the CPU or a CUDA device, saved
//! and resumable like the API judges' runs. Chat models (a `*ForCausalLM` folder or a GGUF file)
//! are generative judges: [`super::generative`].

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::json;

use super::super::Environment;
use super::super::local_model::{
    BASELINE_MODEL_NAME, BuiltIn, DEFAULT_MODEL_NAME, baseline_model_folder, default_model_folder,
    require_model_folder,
};
pub(in crate::cli) use super::checkpoint_args::CheckpointArgs;
use super::local_run::{LocalRunSummary, Watched, coverage_text};
use crate::evaluation::checkpoint_run::{
    self, CheckpointRunConfig, CheckpointRunSummary, format_parameters,
};
use crate::evaluation::identity::{
    CheckpointIdentity, CheckpointInputOptions, DeviceClass, HubCheckpointIdentity, RunIdentity,
};
use crate::hub::model::{self, CheckedCheckpoint, DEFAULT_MAX_CHECKPOINT_BYTES};
use crate::hub::snapshot::Progress;
use crate::hub::{HubClient, HubReference};
use crate::judges::ablation::{self, Ablation};
use crate::judges::local::InferenceThread;
use crate::media::MediaEncoder;
use crate::storage::{ModelKind, NewModel};

/// SHA-256 over the weight files in order: the identity of the weights, whatever the folder is
/// called.
fn weights_hash(files: &[PathBuf]) -> anyhow::Result<String> {
    Ok(checkpoint_run::weights_sha256(files)?)
}

pub(in crate::cli) fn run(
    environment: &Environment,
    args: &CheckpointArgs,
) -> anyhow::Result<ExitCode> {
    let ablations = ablation::normalized(args.ablate.clone());
    if ablations.contains(&Ablation::Media) {
        anyhow::bail!(
            "--ablate media: text reward models never see a prompt's media (TI2T, TV2T and TA2T \
             are scored on the prompt's text), an image-text model's response images are what \
             it scores, and media ablations of vision-language models are not built yet; only \
             --ablate criterion applies to `eval checkpoint`"
        );
    }
    if let Some(path) = &args.folder
        && omnireward_local_judge::generation::chat_model::is_generative_checkpoint(path)
    {
        if !ablations.is_empty() {
            anyhow::bail!(
                "--ablate is not supported for generative local judges yet; it applies to reward \
                 models (`eval checkpoint`) and API judges (`eval api`)"
            );
        }
        return super::generative::run(environment, args, path);
    }
    let hub_checkpoint = match args
        .folder
        .as_deref()
        .and_then(std::path::Path::to_str)
        .and_then(HubReference::parse_prefixed)
    {
        Some(reference) => Some(fetch_hub_checkpoint(environment, &reference?)?),
        None => None,
    };
    let (folder, built_in) = match (&args.folder, args.baseline) {
        (Some(_), _) if let Some((_, folder)) = &hub_checkpoint => (folder.clone(), None),
        (Some(folder), _) => (folder.clone(), None),
        (None, true) => (
            baseline_model_folder(&environment.home),
            Some(BuiltIn::Baseline),
        ),
        (None, false) => (
            default_model_folder(&environment.home),
            Some(BuiltIn::DefaultModel),
        ),
    };
    require_model_folder(&folder, built_in)?;
    let benchmark =
        environment.load_benchmark(args.run.data.as_ref(), &args.run.benchmark, false)?;
    let options = args.model.options()?;
    let device_requested = options.device.to_string();
    let thread = InferenceThread::start(folder.clone(), options)?;
    let description = thread.description().clone();
    let checkpoint = crate::checkpoint::CheckpointFolder::inspect(thread.folder())?;
    let weights_sha256 = weights_hash(&checkpoint.weight_files())?;

    let name = match (&args.name, built_in) {
        (Some(name), _) => name.clone(),
        (None, None) if let Some((checked, _)) = &hub_checkpoint => checked.repository.clone(),
        (None, Some(BuiltIn::DefaultModel)) => DEFAULT_MODEL_NAME.to_owned(),
        (None, Some(BuiltIn::Baseline)) => BASELINE_MODEL_NAME.to_owned(),
        (None, None) => thread.folder().file_name().map_or_else(
            || "checkpoint".to_owned(),
            |name| name.to_string_lossy().into_owned(),
        ),
    };
    let mut model = NewModel::named(
        name.clone(),
        if built_in == Some(BuiltIn::Baseline) {
            ModelKind::Baseline
        } else {
            ModelKind::ScalarRewardModel
        },
    );
    model.parameters = Some(format_parameters(description.parameter_count));
    if built_in.is_some() {
        // all-MiniLM-L6-v2 is Apache-2.0, and so is this project, which trained the head.
        model.licence = Some("Apache-2.0".to_owned());
        model.open_weights = Some(true);
    }
    let plan = checkpoint_run::plan(&benchmark.samples, description.kind);
    // Same weights, same input formatting and same numerics: the same run, resumable, and the
    // same run an upload of these files under these options opens.
    let input_options = CheckpointInputOptions {
        max_length: args.model.max_length,
        truncation: description.truncation,
        separator: args.model.separator.clone(),
        reward_label: args.model.reward_label().map(str::to_owned),
        frames: args.frames,
        ablations: ablations.clone(),
    };
    // A Hub checkpoint is its repository at a commit, the identity a submission of the same
    // commit under the same options opens.
    let identity = match &hub_checkpoint {
        Some((checked, _)) => RunIdentity::HubCheckpoint(HubCheckpointIdentity::new(
            checked.repository.clone(),
            checked.commit.clone(),
            description.architecture,
            DeviceClass::of_device(&description.device),
            input_options,
        )),
        None => RunIdentity::Checkpoint(CheckpointIdentity::new(
            weights_sha256,
            thread.folder(),
            description.architecture,
            DeviceClass::of_device(&description.device),
            input_options,
        )?),
    };
    let training = training_record(thread.folder())?;
    let details = json!({
        "omnireward_version": env!("CARGO_PKG_VERSION"),
        "device": description.device,
        "dtype": description.dtype,
        "input_format": description.input_format,
        "conversation_layout": crate::judges::local::inputs::ConversationLayout::of(description.kind)
            .map(crate::judges::local::inputs::ConversationLayout::name),
        "max_length": description.max_length,
        "device_requested": device_requested,
        "batch_tokens": description.batch_tokens,
        "parameter_count": description.parameter_count,
        "kind": description.kind,
        "coverage": {
            "text_only_prompt": plan.text_only_prompt,
            "not_covered": plan.not_covered.keys().collect::<Vec<_>>(),
        },
        "training": training,
        "hub": hub_checkpoint.as_ref().map(|(checked, _)| json!({
            "repository": checked.repository,
            "revision": checked.revision,
            "commit": checked.commit,
        })),
    });
    let config = CheckpointRunConfig {
        settings: args.run.setting.settings(),
        chunk_samples: args.chunk_samples.max(1),
        frames: args.frames,
        ablations,
    };
    let media = MediaEncoder::new(environment.cache_dir.clone());

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
        let watched =
            Watched::start(|progress| progress_bar(2 * plan.covered.len() as u64, progress));
        let summary = checkpoint_run::run(
            &thread,
            &plan,
            &media,
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
                    "{} on {} ({})",
                    description.architecture, description.device, description.dtype
                ),
            )
            .await
    })
}

/// Resolves `reference` to a commit, checks its files (before any large download), and fetches
/// them into the cache shared with the workers.
fn fetch_hub_checkpoint(
    environment: &Environment,
    reference: &HubReference,
) -> anyhow::Result<(CheckedCheckpoint, PathBuf)> {
    let client = HubClient::new(environment.hub.clone())?;
    super::super::runtime()?.block_on(async {
        let checked = model::check(&client, reference, DEFAULT_MAX_CHECKPOINT_BYTES).await?;
        let folder =
            model::fetch(&client, &checked, &environment.cache_dir, Progress::Bars).await?;
        Ok((checked, folder))
    })
}

/// The folder's `training_record.json` (written by `omnireward train`), kept with the run so the
/// model's page shows how it was trained; `null` for checkpoints trained elsewhere.
fn training_record(folder: &std::path::Path) -> anyhow::Result<serde_json::Value> {
    let file = folder.join(omnireward_training::record::TRAINING_RECORD_FILE);
    match std::fs::read_to_string(&file) {
        Ok(text) => serde_json::from_str(&text)
            .map_err(|error| anyhow::anyhow!("{}: {error}", file.display())),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(serde_json::Value::Null),
        Err(error) => Err(anyhow::anyhow!("{}: {error}", file.display())),
    }
}

impl LocalRunSummary for CheckpointRunSummary {
    fn stopped(&self) -> bool {
        self.stopped
    }

    fn text(&self) -> String {
        let mut text = format!(
            "{} samples covered: {} done before, {} scored now · {:.1} pairs/s · {:.1} s\n",
            self.covered_samples,
            self.already_done,
            self.scored,
            self.pairs_per_second,
            self.seconds
        );
        text.push_str(&coverage_text(
            "scored",
            &self.text_only_prompt,
            &self.not_covered,
            "responses the model cannot read",
            self.stopped,
        ));
        text
    }
}

fn progress_bar(total: u64, progress: Arc<AtomicU64>) -> tokio::task::JoinHandle<()> {
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:30} {pos}/{len} responses · {per_sec} · eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    tokio::spawn(async move {
        loop {
            bar.set_position(progress.load(Ordering::Relaxed));
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_counts_read_like_model_cards() {
        assert_eq!(format_parameters(22_713_216), "22.7M");
        assert_eq!(format_parameters(494_032_768), "494.0M");
        assert_eq!(format_parameters(1_543_714_304), "1.5B");
    }
}
