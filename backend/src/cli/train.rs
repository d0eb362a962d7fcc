//! `omnireward train`: a Bradley-Terry reward model trained with candle on preference pairs
//! (LLaMA-Factory "sharegpt ranking" files, benchmark samples, or the built-in synthetic set),
//! evaluated on a benchmark subset while it trains, and written as a checkpoint folder that
//! `eval checkpoint` loads, with its training record and curve. Text models train on pairs of
//! text answers; image-text models (CLIP, SigLIP) on pairs of image answers.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::Args;
use omnireward_local_judge::input::{ScoringText, TruncationSide};
use omnireward_shared::scorecard::{ScalarTiePolicy, score_judgements};
use omnireward_shared::{BootstrapConfig, Setting};
use omnireward_training::data::benchmark::pairs_from_samples;
use omnireward_training::data::sharegpt::DatasetSpec;
use omnireward_training::data::split::{train_validation_split, validation_count};
use omnireward_training::data::{PreferencePair, synthetic, usable_pairs};
use omnireward_training::model::{Initialisation, ModelSpec, Trainable, TrainableModel};
use omnireward_training::optimizer::AdamWSettings;
use omnireward_training::record::{DataSourceRecord, StepLog, TrainingRecord, ValidationLog};
use omnireward_training::trainer::{
    EncodedPair, TrainingJob, TrainingObserver, TrainingSettings, data_sha256, encode_pairs,
    score_pairs, train, write_trained_model,
};
use omnireward_training::{TrainingError, checkpoint};

use super::local_model::{BuiltIn, baseline_model_folder, require_model_folder};
use super::{BenchmarkArgs, Environment};
use crate::evaluation::checkpoint_run::{judgements_for, plan};
use crate::judges::local::DeviceChoice;

#[derive(Debug, Args)]
pub(super) struct TrainArgs {
    /// Backbone checkpoint folder (encoders, Qwen2/Qwen3/Llama decoders, or a BertModel sentence
    /// encoder, which gets a classification head, trained on text answers; CLIPModel or
    /// SiglipModel, trained on image answers) [default: all-MiniLM-L6-v2, the baseline's
    /// backbone: a new head starts from the plain encoder, not from the shipped head].
    #[arg(long, value_name = "DIR")]
    model: Option<PathBuf>,
    /// Initialise every weight from the seed instead of reading weights (the folder needs only
    /// config.json and the tokenizer files).
    #[arg(long)]
    from_scratch: bool,
    /// Where checkpoints and the trained model go; an existing run there is resumed.
    #[arg(long, value_name = "DIR")]
    output: PathBuf,

    /// Preference files (JSON or JSON Lines, sharegpt ranking layout), repeatable.
    #[arg(long = "data", value_name = "FILE")]
    data_files: Vec<PathBuf>,
    /// A LLaMA-Factory dataset_info.json describing the files and their column names.
    #[arg(long, value_name = "FILE")]
    dataset_info: Option<PathBuf>,
    /// Datasets of --dataset-info to use, comma-separated [default: every ranking dataset].
    #[arg(long = "dataset", value_delimiter = ',', value_name = "NAMES")]
    datasets: Vec<String>,
    /// Also train on the non-tie samples of the benchmark in DIR (never the one you evaluate on).
    #[arg(long, value_name = "DIR")]
    benchmark_pairs: Option<PathBuf>,
    /// Also train on N pairs of the built-in synthetic generator (written for this project).
    #[arg(long, value_name = "N")]
    synthetic_pairs: Option<usize>,
    /// Read at most N pairs from each dataset.
    #[arg(long, value_name = "N")]
    max_samples: Option<usize>,
    /// Fraction of the pairs held out for validation.
    #[arg(long, default_value_t = 0.05, value_name = "FRACTION")]
    validation_fraction: f64,

    /// What to train: head (pooler and classifier, or score; CLIP's and SigLIP's projections and
    /// logit scale; the backbone is frozen) or all (every weight: BERT, XLM-RoBERTa, ModernBERT,
    /// Qwen2, Qwen3, Llama, CLIP, SigLIP; slower, as layers run on differentiable compositions
    /// instead of candle's fused kernels).
    #[arg(long = "train", default_value = "head", value_name = "WHAT")]
    trainable: Trainable,
    /// Peak learning rate.
    #[arg(long, default_value_t = 1e-3)]
    learning_rate: f64,
    /// AdamW's decoupled weight decay.
    #[arg(long, default_value_t = 1e-3)]
    weight_decay: f64,
    /// Fraction of the steps spent warming the learning rate up (then cosine decay).
    #[arg(long, default_value_t = 0.05)]
    warmup_ratio: f64,
    /// Passes over the training pairs.
    #[arg(long, default_value_t = 1)]
    epochs: usize,
    /// Pairs per forward/backward pass.
    #[arg(long, default_value_t = 16, value_name = "N")]
    batch_pairs: usize,
    /// Micro-batches per optimizer step (effective batch = batch-pairs × this).
    #[arg(long, default_value_t = 1, value_name = "N")]
    accumulation_steps: usize,
    /// Clip the global gradient norm to this (0: no clipping).
    #[arg(long, default_value_t = 1.0)]
    max_gradient_norm: f64,
    /// Seed of shuffling, the validation split and new weights.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Token limit per input [default: the model's, as for scoring].
    #[arg(long, value_name = "N")]
    max_length: Option<usize>,
    /// Which end of a long input is cut: right or left.
    #[arg(long, default_value = "right", value_parser = parse_truncation)]
    truncation: TruncationSide,
    /// Separator between criterion, prompt and response for encoders [default: the tokenizer's].
    #[arg(long, value_name = "TEXT")]
    separator: Option<String>,
    /// Device: cpu, cuda, cuda:N or auto (f32 on the CPU, bf16 on CUDA where safe).
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Validate (and evaluate on the benchmark subset) every N steps [default: each epoch].
    #[arg(long, default_value_t = 0, value_name = "N")]
    validate_every: usize,
    /// Write a checkpoint every N steps [default: each epoch].
    #[arg(long, default_value_t = 0, value_name = "N")]
    checkpoint_every: usize,
    /// Stop after N steps in all (a checkpoint is written; run again to continue).
    #[arg(long, value_name = "N")]
    max_steps: Option<usize>,

    /// Benchmark folder evaluated at each validation, both settings [default: the embedded
    /// sample]; choose tasks with --tasks.
    #[arg(long, value_name = "DIR")]
    eval_data: Option<PathBuf>,
    /// Do not evaluate on the benchmark while training.
    #[arg(long)]
    no_eval: bool,
    #[command(flatten)]
    benchmark: BenchmarkArgs,
}

fn parse_truncation(given: &str) -> Result<TruncationSide, String> {
    given.parse()
}

struct LoadedData {
    pairs: Vec<PreferencePair>,
    sources: Vec<DataSourceRecord>,
}

/// Reads every source, keeping the pairs a model that does (`reads_images`) or does not read
/// images can use.
fn load_data(
    environment: &Environment,
    args: &TrainArgs,
    reads_images: bool,
) -> anyhow::Result<LoadedData> {
    let mut specs: Vec<DatasetSpec> = args
        .data_files
        .iter()
        .map(|file| DatasetSpec::file(file))
        .collect();
    if let Some(info) = &args.dataset_info {
        specs.extend(DatasetSpec::from_dataset_info(info, &args.datasets)?);
    } else if !args.datasets.is_empty() {
        anyhow::bail!("--dataset needs --dataset-info");
    }
    let mut pairs = Vec::new();
    let mut sources = Vec::new();
    for spec in &specs {
        let read = spec.read(args.max_samples)?;
        let count = read.len();
        let (kept, usage) = usable_pairs(read, reads_images);
        sources.push(DataSourceRecord::new(
            &spec.name,
            &spec.file.display().to_string(),
            count,
            &usage,
            0,
        ));
        pairs.extend(kept);
    }
    if let Some(folder) = &args.benchmark_pairs {
        let benchmark =
            environment.load_benchmark(Some(folder), &BenchmarkArgs::default(), false)?;
        let (read, ties) = pairs_from_samples(&benchmark.samples);
        let mut read = read;
        if let Some(limit) = args.max_samples {
            read.truncate(limit);
        }
        let count = read.len();
        let (kept, usage) = usable_pairs(read, reads_images);
        let name = format!("{} {}", benchmark.identity.name, benchmark.identity.version);
        sources.push(DataSourceRecord::new(
            &name,
            &folder.display().to_string(),
            count,
            &usage,
            ties,
        ));
        pairs.extend(kept);
    }
    if let Some(count) = args.synthetic_pairs {
        let count = args.max_samples.map_or(count, |limit| count.min(limit));
        let generated = synthetic::generate(count, args.seed);
        let (kept, usage) = usable_pairs(generated, reads_images);
        sources.push(DataSourceRecord::new(
            "synthetic",
            &format!("{} (seed {})", synthetic::GENERATOR_VERSION, args.seed),
            count,
            &usage,
            0,
        ));
        pairs.extend(kept);
    }
    if pairs.is_empty() && reads_images {
        anyhow::bail!(
            "no image pairs: an image-text model trains on pairs whose answers are one image \
             each (generation pairs of --data FILE, --dataset-info FILE or --benchmark-pairs DIR); \
             counts of what was left out: {}",
            serde_json::to_string(&sources).unwrap_or_default()
        );
    }
    if pairs.is_empty() {
        anyhow::bail!(
            "no training pairs: give --data FILE, --dataset-info FILE, --benchmark-pairs DIR or --synthetic-pairs N"
        );
    }
    Ok(LoadedData { pairs, sources })
}

/// The benchmark's text-response samples, evaluated in both settings at each validation.
struct BenchmarkProbe {
    samples: Vec<omnireward_shared::Sample>,
    encoded: Vec<EncodedPair>,
}

impl BenchmarkProbe {
    fn new(
        model: &TrainableModel,
        samples: Vec<omnireward_shared::Sample>,
    ) -> Result<Self, TrainingError> {
        let covered = plan(
            &samples,
            omnireward_local_judge::architecture::ModelKind::DecoderClassifier,
        )
        .covered;
        let samples: Vec<omnireward_shared::Sample> = covered.into_iter().cloned().collect();
        let mut encoded = Vec::with_capacity(samples.len());
        for sample in &samples {
            let text = |response: &omnireward_shared::Response| {
                model.encoder.encode(&ScoringText {
                    criterion: &sample.criterion,
                    prompt: &sample.prompt,
                    response: response.text().unwrap_or_default(),
                })
            };
            // `chosen`/`rejected` here are simply response 1 and 2: the label decides later.
            encoded.push(EncodedPair::Texts {
                chosen: text(&sample.response1)?,
                rejected: text(&sample.response2)?,
            });
        }
        Ok(BenchmarkProbe { samples, encoded })
    }

    fn evaluate(&self, model: &TrainableModel) -> Result<Vec<(String, f64)>, TrainingError> {
        let rewards = score_pairs(model, &self.encoded, 16)?;
        let mut judgements = Vec::new();
        for (sample, rewards) in self.samples.iter().zip(rewards) {
            judgements.extend(judgements_for(sample, rewards, &Setting::ALL, 0));
        }
        let scorecards = score_judgements(
            &judgements,
            ScalarTiePolicy::Sweep,
            BootstrapConfig {
                resamples: 0,
                seed: 0,
            },
        );
        Ok(scorecards
            .into_iter()
            .map(|(setting, scorecard)| {
                (
                    format!("benchmark.{}", setting.key()),
                    scorecard.overall.accuracy,
                )
            })
            .collect())
    }
}

struct CommandObserver {
    stop: Arc<AtomicBool>,
    bar: indicatif::ProgressBar,
    probe: Option<BenchmarkProbe>,
}

impl CommandObserver {
    /// A line above the bar, or on stderr when the bar is hidden (not a terminal), where
    /// indicatif would drop it.
    fn say(&self, line: String) {
        if self.bar.is_hidden() {
            eprintln!("{line}");
        } else {
            self.bar.println(line);
        }
    }
}

impl TrainingObserver for CommandObserver {
    fn started(&mut self, first_step: usize, total_steps: usize) {
        self.bar.set_length(total_steps as u64);
        self.bar.set_position(first_step as u64);
        if first_step > 0 {
            self.say(format!("resuming at step {first_step} of {total_steps}"));
        }
    }

    fn stepped(&mut self, log: &StepLog) {
        self.bar.set_position(log.step as u64);
        self.bar.set_message(format!(
            "loss {:.4} · lr {:.2e}",
            log.loss, log.learning_rate
        ));
    }

    fn validated(&mut self, log: &ValidationLog) {
        let benchmark: Vec<String> = log
            .benchmark
            .iter()
            .map(|(name, accuracy)| format!("{name} {:.1} %", 100.0 * accuracy))
            .collect();
        self.say(format!(
            "step {}: validation loss {:.4}, accuracy {:.1} %{}{}",
            log.step,
            log.loss,
            100.0 * log.accuracy,
            if benchmark.is_empty() { "" } else { " · " },
            benchmark.join(" · ")
        ));
    }

    fn evaluate_benchmark(
        &mut self,
        model: &TrainableModel,
        _step: usize,
    ) -> Result<Vec<(String, f64)>, TrainingError> {
        match &self.probe {
            Some(probe) => probe.evaluate(model),
            None => Ok(Vec::new()),
        }
    }

    fn should_stop(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}

pub(super) fn run(environment: &Environment, args: &TrainArgs) -> anyhow::Result<ExitCode> {
    let folder = args
        .model
        .clone()
        .unwrap_or_else(|| baseline_model_folder(&environment.home));
    require_model_folder(&folder, args.model.is_none().then_some(BuiltIn::Baseline))?;
    let spec = ModelSpec {
        folder: folder.clone(),
        initialisation: if args.from_scratch {
            Initialisation::Scratch
        } else {
            Initialisation::Pretrained
        },
        trainable: args.trainable,
        device: args.device.parse::<DeviceChoice>()?,
        max_length: args.max_length,
        truncation: args.truncation,
        separator: args.separator.clone(),
        seed: args.seed,
        dtype: None,
    };
    let model = TrainableModel::build(&spec)?;
    let data = load_data(environment, args, model.reads_images())?;
    let total = data.pairs.len();
    let (training_pairs, validation_pairs) = train_validation_split(
        data.pairs,
        validation_count(total, args.validation_fraction),
        args.seed,
    );

    let training = encode_pairs(&model, &training_pairs)?;
    let validation = encode_pairs(&model, &validation_pairs)?;
    let probe = if args.no_eval {
        None
    } else if model.reads_images() {
        // The probe scores text-response samples; image samples need the media encoder
        // (ffmpeg for video frames) of `eval checkpoint`, which evaluates the trained folder.
        eprintln!(
            "no benchmark evaluation while training an image-text model: run \
             `omnireward eval checkpoint` on the trained folder"
        );
        None
    } else {
        let benchmark =
            environment.load_benchmark(args.eval_data.as_ref(), &args.benchmark, false)?;
        Some(BenchmarkProbe::new(&model, benchmark.samples)?)
    };
    let settings = TrainingSettings {
        learning_rate: args.learning_rate,
        adamw: AdamWSettings {
            weight_decay: args.weight_decay,
            ..AdamWSettings::default()
        },
        warmup_ratio: args.warmup_ratio,
        epochs: args.epochs,
        batch_pairs: args.batch_pairs,
        accumulation_steps: args.accumulation_steps,
        max_gradient_norm: args.max_gradient_norm,
        seed: args.seed,
        validation_every: args.validate_every,
        checkpoint_every: args.checkpoint_every,
        stop_after_steps: args.max_steps,
    };
    std::fs::create_dir_all(&args.output)
        .map_err(|error| anyhow::anyhow!("{}: {error}", args.output.display()))?;

    let stop = Arc::new(AtomicBool::new(false));
    watch_interrupts(Arc::clone(&stop))?;
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:30} {pos}/{len} steps · {per_sec} · eta {eta} · {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut observer = CommandObserver {
        stop,
        bar: bar.clone(),
        probe,
    };
    let job = TrainingJob {
        model: &model,
        training: &training,
        validation: &validation,
        data_sha256: data_sha256(&training_pairs, &validation_pairs),
        settings: &settings,
        output: &args.output,
    };
    let outcome = train(&job, &mut observer)?;
    bar.finish_and_clear();
    if !outcome.finished {
        let latest = checkpoint::latest_checkpoint(&args.output)?;
        super::emit(&format!(
            "stopped at step {} of {}; checkpoint {}; run the same command to continue\n",
            outcome.state.step,
            outcome.state.total_steps,
            latest.map_or_else(
                || "none".to_owned(),
                |(folder, _)| folder.display().to_string()
            )
        ))?;
        return Ok(ExitCode::from(3));
    }

    let parameters: u64 = model
        .weights
        .all_tensors()
        .values()
        .map(|tensor| tensor.elem_count() as u64)
        .sum();
    let trainable_parameters: u64 = model
        .weights
        .trainable_variables()
        .iter()
        .map(|(_, variable)| variable.elem_count() as u64)
        .sum();
    let record = TrainingRecord {
        omnireward_version: env!("CARGO_PKG_VERSION").to_owned(),
        backbone: folder_name(&folder),
        source_architecture: model.source_architecture.hugging_face_name().to_owned(),
        architecture: model.architecture.hugging_face_name().to_owned(),
        data: data.sources,
        data_sha256: job.data_sha256.clone(),
        training_pairs: training.len(),
        validation_pairs: validation.len(),
        hyperparameters: settings.hyperparameters(&model),
        steps: outcome.state.step,
        total_steps: outcome.state.total_steps,
        device: omnireward_local_judge::device::device_name(&model.device),
        dtype: model.dtype.as_str().to_owned(),
        trainable_parameters,
        parameters,
        pairs_per_second: outcome.pairs_per_second,
        final_validation: outcome.state.log.validations.last().cloned(),
        resumed_from_step: outcome.resumed_from_step,
    };
    write_trained_model(&args.output, &model, &record, &outcome.state.log)?;
    let validation_text = record.final_validation.as_ref().map_or_else(
        || "no validation pairs".to_owned(),
        |last| format!("validation accuracy {:.1} %", 100.0 * last.accuracy),
    );
    super::emit(&format!(
        "trained {} ({} → {}) for {} steps on {} pairs · {} · {:.1} pairs/s\n\
         model, training_record.json and training_curve.svg in {}\n\
         evaluate it with: omnireward eval checkpoint {}\n",
        record.backbone,
        record.source_architecture,
        record.architecture,
        record.steps,
        record.training_pairs,
        validation_text,
        record.pairs_per_second,
        args.output.display(),
        args.output.display(),
    ))?;
    Ok(ExitCode::SUCCESS)
}

fn folder_name(folder: &Path) -> String {
    folder
        .canonicalize()
        .ok()
        .as_deref()
        .and_then(Path::file_name)
        .map_or_else(
            || folder.display().to_string(),
            |name| name.to_string_lossy().into_owned(),
        )
}

/// Sets `stop` on Ctrl-C (a second Ctrl-C quits at once), from a thread of its own: training
/// blocks this one.
fn watch_interrupts(stop: Arc<AtomicBool>) -> anyhow::Result<()> {
    let runtime = super::runtime()?;
    std::thread::Builder::new()
        .name("interrupts".to_owned())
        .spawn(move || {
            runtime.block_on(async {
                if tokio::signal::ctrl_c().await.is_err() {
                    return;
                }
                stop.store(true, Ordering::SeqCst);
                eprintln!("\nstopping after this step (Ctrl-C again to quit now)");
                if tokio::signal::ctrl_c().await.is_ok() {
                    std::process::exit(130);
                }
            });
        })?;
    Ok(())
}
