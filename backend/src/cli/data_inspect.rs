//! `omnireward data inspect [DIR] [--json]`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::{BenchmarkArgs, Environment};
use crate::data::inspect;

/// Arguments of `data inspect`.
#[derive(Debug, Args)]
pub(super) struct InspectArgs {
    /// Benchmark folder (Hugging Face release or authors' JSON) [default: the embedded sample].
    dir: Option<PathBuf>,
    #[command(flatten)]
    benchmark: BenchmarkArgs,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

pub(super) fn run(environment: &Environment, args: &InspectArgs) -> anyhow::Result<ExitCode> {
    // Inspection reports every problem instead of stopping at the first.
    let benchmark = environment.load_benchmark(args.dir.as_ref(), &args.benchmark, true)?;
    let report = inspect::report(&benchmark);
    if args.json {
        super::emit_json(&report)?;
    } else {
        super::emit(&report.to_table())?;
    }
    // A benchmark with invalid rows is usable with --skip-invalid, but scripts should notice.
    Ok(if report.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}
