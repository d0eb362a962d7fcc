//! Training throughput: Bradley-Terry steps (head only, or every weight with `--train all`) on
//! the synthetic pairs with a checkpoint's backbone, timed over the optimizer steps; optionally
//! writes the token ids of every step (and what trains) so that
//! `scripts/bench/torch_train_reference.py` runs the same steps in PyTorch.
//!
//! ```sh
//! cargo run --release -p omnireward-training --bin train-bench -- \
//!     --model .cache/models/all-MiniLM-L6-v2 --pairs 256 --batches /tmp/train-batches.json
//! ```

// glibc's malloc hands every large tensor buffer back to the kernel and faults it in again on the
// next operation; mimalloc keeps freed blocks for reuse (docs/benchmarks.md, "Local checkpoints on
// the CPU": 10-25 % of a CPU scoring pass).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use omnireward_local_judge::device::DeviceChoice;
use omnireward_local_judge::input::TruncationSide;
use omnireward_training::data::split::epoch_order;
use omnireward_training::data::synthetic;
use omnireward_training::model::{Initialisation, ModelSpec, Trainable, TrainableModel};
use omnireward_training::trainer::{
    EncodedPair, SilentObserver, TrainingJob, TrainingSettings, data_sha256, encode_pairs, train,
};
use serde_json::json;

/// Times training steps on synthetic pairs.
#[derive(Debug, Parser)]
struct Arguments {
    /// Backbone checkpoint folder.
    #[arg(long)]
    model: PathBuf,
    /// Synthetic pairs (one epoch over them).
    #[arg(long, default_value_t = 256)]
    pairs: usize,
    /// Pairs per step.
    #[arg(long, default_value_t = 16)]
    batch_pairs: usize,
    /// Token limit per input.
    #[arg(long, default_value_t = 128)]
    max_length: usize,
    /// Steps run before timing starts (the same steps are then part of the timed run).
    #[arg(long, default_value_t = 2)]
    warmup_steps: usize,
    /// Write the token ids of each step here (JSON) for the PyTorch reference.
    #[arg(long)]
    batches: Option<PathBuf>,
    /// Seed of the pairs and the shuffle.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// What trains: head or all.
    #[arg(long = "train", default_value = "head", value_name = "WHAT")]
    trainable: Trainable,
}

fn main() -> ExitCode {
    match run(&Arguments::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(arguments: &Arguments) -> Result<(), Box<dyn std::error::Error>> {
    let spec = ModelSpec {
        folder: arguments.model.clone(),
        initialisation: Initialisation::Pretrained,
        trainable: arguments.trainable,
        device: DeviceChoice::Cpu,
        max_length: Some(arguments.max_length),
        truncation: TruncationSide::Right,
        separator: None,
        seed: arguments.seed,
        dtype: None,
    };
    let pairs = synthetic::generate(arguments.pairs, arguments.seed);
    let settings = TrainingSettings {
        learning_rate: 1e-3,
        warmup_ratio: 0.05,
        epochs: 1,
        batch_pairs: arguments.batch_pairs,
        accumulation_steps: 1,
        max_gradient_norm: 1.0,
        seed: arguments.seed,
        ..TrainingSettings::default()
    };
    let model = TrainableModel::build(&spec)?;
    let encoded = encode_pairs(&model, &pairs)?;
    // The synthetic pairs are text pairs: a text model's inputs.
    let texts: Vec<_> = encoded.iter().filter_map(EncodedPair::texts).collect();
    if texts.len() != encoded.len() {
        return Err("train-bench times text models; the model reads images".into());
    }
    if let Some(file) = &arguments.batches {
        let order = epoch_order(encoded.len(), settings.seed, 0);
        let steps: Vec<_> = order
            .chunks(settings.batch_pairs)
            .map(|chunk| {
                json!({
                    "chosen": chunk.iter().map(|&index| &texts[index].0.ids).collect::<Vec<_>>(),
                    "rejected": chunk.iter().map(|&index| &texts[index].1.ids).collect::<Vec<_>>(),
                })
            })
            .collect();
        let document = json!({
            "pad_id": model.encoder.pad_id(),
            "learning_rate": settings.learning_rate,
            "weight_decay": settings.adamw.weight_decay,
            "warmup_ratio": settings.warmup_ratio,
            "max_gradient_norm": settings.max_gradient_norm,
            "trainable": arguments.trainable,
            "steps": steps,
        });
        std::fs::write(file, serde_json::to_string(&document)?)?;
    }
    let scratch = tempfile_folder()?;
    // Warm-up: the first steps allocate and fault pages in; they are run and discarded.
    if arguments.warmup_steps > 0 {
        let warm = TrainingSettings {
            stop_after_steps: Some(arguments.warmup_steps),
            ..settings.clone()
        };
        let warm_model = TrainableModel::build(&spec)?;
        train(
            &TrainingJob {
                model: &warm_model,
                training: &encoded,
                validation: &[],
                data_sha256: data_sha256(&pairs, &[]),
                settings: &warm,
                output: &scratch.join("warmup"),
            },
            &mut SilentObserver,
        )?;
    }
    let outcome = train(
        &TrainingJob {
            model: &model,
            training: &encoded,
            validation: &[],
            data_sha256: data_sha256(&pairs, &[]),
            settings: &settings,
            output: &scratch.join("run"),
        },
        &mut SilentObserver,
    )?;
    std::fs::remove_dir_all(&scratch)?;
    let tokens: usize = texts
        .iter()
        .map(|(chosen, rejected)| chosen.len() + rejected.len())
        .sum();
    println!(
        "{}",
        json!({
            "implementation": "omnireward (candle)",
            "trainable": arguments.trainable,
            "pairs": encoded.len(),
            "steps": outcome.state.step,
            "batch_pairs": settings.batch_pairs,
            "real_tokens": tokens,
            "pairs_per_second": outcome.pairs_per_second,
            "final_loss": outcome.state.log.steps.last().map(|step| step.loss),
        })
    );
    Ok(())
}

/// A fresh folder under the system's temporary folder for the run's checkpoints.
fn tempfile_folder() -> std::io::Result<PathBuf> {
    let folder =
        std::env::temp_dir().join(format!("omnireward-train-bench-{}", std::process::id()));
    std::fs::create_dir_all(&folder)?;
    Ok(folder)
}
