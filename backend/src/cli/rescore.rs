//! `omnireward rescore FILE`: the scorecard of a judgements file, recomputed from the stored
//! verdicts and rewards without calling any judge.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use omnireward_shared::scorecard::ScalarTiePolicy;

use super::{BenchmarkArgs, BootstrapArgs, Environment, scorecard_table};
use crate::{evaluation, judgements_file};

/// Arguments of `rescore`.
#[derive(Debug, Args)]
pub(super) struct RescoreArgs {
    /// Judgements file (JSON Lines).
    file: PathBuf,
    /// Benchmark the judgements were made on: checks every sample id and label and records the
    /// benchmark's identity. Without it the scorecard is marked "unverified".
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Check against the embedded sample benchmark (what `eval` uses by default).
    #[arg(long, conflicts_with = "data")]
    sample: bool,
    #[command(flatten)]
    benchmark: BenchmarkArgs,
    /// Model name shown in the scorecard [default: the file name without extension].
    #[arg(long)]
    model: Option<String>,
    /// For scalar rewards: a tie threshold fixed in advance instead of the Ties-Matter sweep.
    #[arg(long, value_name = "EPSILON")]
    tie_threshold: Option<f64>,
    #[command(flatten)]
    bootstrap: BootstrapArgs,
    /// Print the scorecard as JSON.
    #[arg(long)]
    json: bool,
}

pub(super) fn run(environment: &Environment, args: &RescoreArgs) -> anyhow::Result<ExitCode> {
    let judgements = judgements_file::read(&args.file)?;
    let identity = if args.data.is_some() || args.sample {
        let benchmark = environment.load_benchmark(args.data.as_ref(), &args.benchmark, false)?;
        evaluation::verify(&benchmark, &judgements)?;
        benchmark.identity
    } else {
        evaluation::unverified_identity(&judgements)
    };
    let model = args.model.clone().unwrap_or_else(|| {
        args.file.file_stem().map_or_else(
            || "judge".to_owned(),
            |stem| stem.to_string_lossy().into_owned(),
        )
    });
    let tie_policy = match args.tie_threshold {
        Some(epsilon) if epsilon.is_finite() && epsilon >= 0.0 => ScalarTiePolicy::Fixed(epsilon),
        Some(epsilon) => {
            anyhow::bail!("--tie-threshold must be a finite number >= 0, got {epsilon}")
        }
        None => ScalarTiePolicy::Sweep,
    };
    let scorecard = evaluation::scorecard(
        &model,
        identity,
        &judgements,
        tie_policy,
        args.bootstrap.config(),
    );
    if scorecard.settings.is_empty() {
        anyhow::bail!(
            "{}: no original-order judgements to score",
            args.file.display()
        );
    }
    if args.json {
        super::emit_json(&scorecard)?;
    } else {
        super::emit(&scorecard_table::render(&scorecard))?;
    }
    Ok(ExitCode::SUCCESS)
}
