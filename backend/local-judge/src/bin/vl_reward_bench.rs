//! `vl-reward-bench`: scoring throughput of a Qwen2-VL / Qwen2.5-VL reward model over
//! conversations with an image, on the CPU or a CUDA device, on the inputs that
//! `scripts/bench/make_random_qwen2_vl.py` writes (`inputs.json` and `images/` in the checkpoint
//! folder), so that `scripts/bench/torch_vl_reference.py` times transformers on the same work.
//!
//! A pass is what scoring costs a user: the images read and decoded, processed (Pillow-exact
//! resize, normalisation, patches), the conversations rendered through the checkpoint's chat
//! template and tokenized, and one right-padded batch scored (vision tower, decoder, value
//! head). One pass warms up (the first CUDA call compiles kernels); the median of `--repeats`
//! timed passes is reported as one JSON object on stdout, with the rewards.

// glibc's malloc hands every large tensor buffer back to the kernel and faults it in again on the
// next operation; mimalloc keeps freed blocks for reuse (docs/benchmarks.md, "Local checkpoints on
// the CPU": 10-25 % of a CPU scoring pass).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use candle_core::{Device, Tensor};
use clap::Parser;
use omnireward_local_judge::device::{DeviceChoice, device_name, dtype_name};
use omnireward_local_judge::models::qwen2_vl::{ConversationEncoder, Qwen2VlRewardModel};
use omnireward_local_judge::qwen2_vl_processor::Qwen2VlImageProcessor;
use serde::{Deserialize, Serialize};

/// Throughput of a Qwen2-VL reward model over conversations with images.
#[derive(Debug, Parser)]
#[command(name = "vl-reward-bench", version)]
struct Arguments {
    /// The checkpoint folder, holding `inputs.json` and `images/` (make_random_qwen2_vl.py).
    checkpoint: PathBuf,
    /// Where to run: cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Weights and activations in bf16 (CUDA); f32 otherwise.
    #[arg(long)]
    bf16: bool,
    /// Timed passes over all conversations; the median is reported.
    #[arg(long, default_value_t = 1)]
    repeats: usize,
    /// Also write the JSON report to this file.
    #[arg(long)]
    output: Option<PathBuf>,
}

/// One conversation of `inputs.json`.
#[derive(Debug, Deserialize)]
struct InputRecord {
    criterion: String,
    prompt: String,
    response: String,
    /// Relative to the checkpoint folder.
    image: String,
}

#[derive(Debug, Serialize)]
struct Report {
    implementation: &'static str,
    checkpoint: String,
    device: String,
    dtype: &'static str,
    cpu_threads: usize,
    conversations: usize,
    /// Tokens of the batch, image tokens included, padding excluded.
    tokens: usize,
    load_seconds: f64,
    warmup_seconds: f64,
    /// Median of the timed passes.
    seconds: f64,
    all_seconds: Vec<f64>,
    conversations_per_second: f64,
    rewards: Vec<f32>,
}

fn main() -> ExitCode {
    let arguments = Arguments::parse();
    match run(&arguments) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("vl-reward-bench: {message}");
            ExitCode::FAILURE
        }
    }
}

/// What one pass needs, loaded once.
struct Scorer {
    model: Qwen2VlRewardModel,
    processor: Qwen2VlImageProcessor,
    encoder: ConversationEncoder,
    device: Device,
}

impl Scorer {
    /// Reads, processes, encodes and scores every conversation; the rewards and real tokens.
    fn pass(&self, folder: &Path, records: &[InputRecord]) -> Result<(Vec<f32>, usize), String> {
        let mut images = Vec::with_capacity(records.len());
        for record in records {
            let file = folder.join(&record.image);
            images
                .push(image::open(&file).map_err(|error| format!("{}: {error}", file.display()))?);
        }
        let patches = self
            .processor
            .preprocess(&images)
            .map_err(|error| format!("processing the images: {error}"))?;
        let media = patches.media();
        let mut prompts = Vec::with_capacity(records.len());
        for (record, item) in records.iter().zip(&media) {
            prompts.push(
                self.encoder
                    .encode(
                        &record.criterion,
                        &record.prompt,
                        std::slice::from_ref(item),
                        self.model.merge_size(),
                        &record.response,
                    )
                    .map_err(|error| format!("encoding a conversation: {error}"))?,
            );
        }
        let pixel_values = Tensor::from_vec(
            patches.pixel_values.clone(),
            (patches.rows(), patches.features),
            &self.device,
        )
        .map_err(|error| format!("pixel values: {error}"))?;
        let (_, rewards) = self
            .model
            .forward(&prompts, Some(&pixel_values), &media)
            .map_err(|error| format!("scoring: {error}"))?;
        let rewards = rewards
            .to_dtype(candle_core::DType::F32)
            .and_then(|rewards| rewards.to_vec1::<f32>())
            .map_err(|error| format!("reading the rewards: {error}"))?;
        let tokens = prompts.iter().map(|prompt| prompt.input_ids.len()).sum();
        Ok((rewards, tokens))
    }
}

fn run(arguments: &Arguments) -> Result<(), String> {
    if arguments.repeats == 0 {
        return Err("--repeats must be at least 1".to_owned());
    }
    let device = arguments
        .device
        .parse::<DeviceChoice>()
        .map_err(|error| format!("--device: {error}"))?
        .open()
        .map_err(|error| format!("--device: {error}"))?;
    let dtype = if arguments.bf16 {
        candle_core::DType::BF16
    } else {
        candle_core::DType::F32
    };
    let folder = &arguments.checkpoint;
    let inputs_file = folder.join("inputs.json");
    let records: Vec<InputRecord> = serde_json::from_str(
        &fs::read_to_string(&inputs_file)
            .map_err(|error| format!("{}: {error}", inputs_file.display()))?,
    )
    .map_err(|error| format!("{}: {error}", inputs_file.display()))?;
    if records.is_empty() {
        return Err(format!("{} lists no conversation", inputs_file.display()));
    }
    let started = Instant::now();
    let scorer = Scorer {
        model: Qwen2VlRewardModel::load(folder, dtype, &device)
            .map_err(|error| format!("loading the model: {error}"))?,
        processor: Qwen2VlImageProcessor::load(folder)
            .map_err(|error| format!("loading the processor settings: {error}"))?,
        encoder: ConversationEncoder::load(folder)
            .map_err(|error| format!("loading the chat template: {error}"))?,
        device: device.clone(),
    };
    let load_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    scorer.pass(folder, &records)?;
    let warmup_seconds = started.elapsed().as_secs_f64();
    let mut all_seconds = Vec::with_capacity(arguments.repeats);
    let (mut rewards, mut tokens) = (Vec::new(), 0);
    for repeat in 0..arguments.repeats {
        let started = Instant::now();
        (rewards, tokens) = scorer.pass(folder, &records)?;
        let seconds = started.elapsed().as_secs_f64();
        eprintln!(
            "vl-reward-bench: pass {} of {}: {seconds:.3} s",
            repeat + 1,
            arguments.repeats
        );
        all_seconds.push(seconds);
    }
    if let Some(bad) = rewards.iter().find(|reward| !reward.is_finite()) {
        return Err(format!("the model returned a non-finite reward ({bad})"));
    }
    let mut sorted = all_seconds.clone();
    sorted.sort_by(f64::total_cmp);
    let seconds = sorted[sorted.len() / 2];
    let report = Report {
        implementation: "omnireward (candle)",
        checkpoint: folder.display().to_string(),
        device: device_name(&device),
        dtype: dtype_name(dtype),
        cpu_threads: candle_core::utils::get_num_threads(),
        conversations: records.len(),
        tokens,
        load_seconds,
        warmup_seconds,
        seconds,
        all_seconds,
        conversations_per_second: records.len() as f64 / seconds,
        rewards,
    };
    let text = serde_json::to_string_pretty(&report)
        .map_err(|error| format!("writing the report: {error}"))?;
    println!("{text}");
    if let Some(file) = &arguments.output {
        fs::write(file, format!("{text}\n"))
            .map_err(|error| format!("writing {}: {error}", file.display()))?;
    }
    Ok(())
}
