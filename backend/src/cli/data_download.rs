//! `omnireward data download [REPO] [--revision REV] [--to DIR]`: the benchmark release from the
//! Hugging Face Hub into a folder every command takes (parquet files, `media_data.zip` extracted
//! safely, the commit recorded in `.omnireward-hub.json`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde_json::json;

use super::Environment;
use crate::hub::archive::ArchiveLimits;
use crate::hub::snapshot::Progress;
use crate::hub::{self, HubClient, HubReference, RepoId, dataset};

/// Arguments of `data download`.
#[derive(Debug, Args)]
pub(super) struct DownloadArgs {
    /// Dataset repository on the Hub.
    #[arg(value_name = "REPO", default_value = hub::BENCHMARK_REPOSITORY)]
    repository: String,
    /// Branch, tag or commit.
    #[arg(long, value_name = "REV", default_value = hub::DEFAULT_REVISION)]
    revision: String,
    /// Folder to download into [default: ./<name of the repository>].
    #[arg(long, value_name = "DIR")]
    to: Option<PathBuf>,
    /// Print what was downloaded as JSON.
    #[arg(long)]
    json: bool,
}

pub(super) fn run(environment: &Environment, args: &DownloadArgs) -> anyhow::Result<ExitCode> {
    let reference = HubReference {
        repository: RepoId::parse(&args.repository)?,
        revision: hub::check_revision(&args.revision)?,
    };
    let folder = match &args.to {
        Some(folder) => folder.clone(),
        None => PathBuf::from(
            reference
                .repository
                .as_str()
                .rsplit('/')
                .next()
                .unwrap_or("benchmark"),
        ),
    };
    let client = HubClient::new(environment.hub.clone())?;
    let record = super::runtime()?.block_on(dataset::download(
        &client,
        &reference,
        &folder,
        Progress::Bars,
        ArchiveLimits::default(),
    ))?;
    if args.json {
        super::emit_json(&json!({
            "folder": folder,
            "repository": record.repository,
            "revision": record.revision,
            "commit": record.commit,
            "files": record.files.len(),
            "bytes": record.files.iter().map(|file| file.size).sum::<u64>(),
            "extracted": record.extracted,
        }))?;
    } else {
        super::emit(&format!(
            "{}@{} (commit {}) in {}: {} files{}\nnext: omnireward data inspect {}\n",
            record.repository,
            record.revision,
            record.commit,
            folder.display(),
            record.files.len(),
            if record.extracted.is_empty() {
                String::new()
            } else {
                format!(", extracted {}", record.extracted.join(", "))
            },
            folder.display()
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}
