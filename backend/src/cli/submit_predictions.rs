//! `omnireward submit-predictions FILE|DIR --server URL`: sends judgements made elsewhere, with a
//! model card, to a server's `POST /api/v1/submissions`, which checks every item against its
//! benchmark, scores it and stores it as a `submitted_predictions` run. The judgements are a
//! judgements file (JSON Lines, as `eval` writes), or the authors' result files
//! (`<task>/<model>_preferences[_with_tie].json`, as `import-reference` reads them), which are
//! sent as the same JSON Lines.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use omnireward_shared::wire::{
    ModelCard, ModelKind, PredictionsAccepted, PredictionsKind, PredictionsSubmission,
};
use sha2::{Digest, Sha256};

use super::Environment;
use crate::data::reference_results;
use crate::http::API_PREFIX;
use crate::queue::predictions::MAX_PREDICTIONS_BYTES;

/// Arguments of `submit-predictions`.
#[derive(Debug, Args)]
pub(super) struct SubmitPredictionsArgs {
    /// The judgements file (JSON Lines, the format `eval` writes), or a folder of the authors'
    /// result files (`<task>/<model>_preferences.json`, `…_preferences_with_tie.json`).
    #[arg(value_name = "FILE|DIR")]
    file: PathBuf,
    /// The model whose result files to send, when the authors' folder holds several.
    #[arg(long)]
    model: Option<String>,
    /// The server's address, e.g. `https://omnireward.example.org`.
    #[arg(long, value_name = "URL")]
    server: String,
    /// Leaderboard name [default: the file's name without its extension, or the model of the
    /// authors' result files].
    #[arg(long)]
    name: Option<String>,
    /// `api_judge`, `scalar_reward_model` or `local_generative` [default: decided by the server
    /// from the judgements: rewards make a scalar reward model].
    #[arg(long)]
    kind: Option<ModelKind>,
    /// Parameter count as text, e.g. `7B`.
    #[arg(long)]
    parameters: Option<String>,
    /// The model's licence.
    #[arg(long)]
    licence: Option<String>,
    /// Whether the weights are public.
    #[arg(long)]
    open_weights: Option<bool>,
    /// Where to read about the model (http or https URL).
    #[arg(long)]
    link: Option<String>,
    /// Print the server's answer as JSON.
    #[arg(long)]
    json: bool,
}

pub(super) fn run(_: &Environment, args: &SubmitPredictionsArgs) -> anyhow::Result<ExitCode> {
    let (judgements, default_name) = if args.file.is_dir() {
        let model = super::import_reference::reference_model(&args.file, args.model.as_deref())?;
        let results = reference_results::read(&args.file, &model)?;
        let mut lines = String::new();
        for judgement in &results.judgements {
            lines.push_str(&serde_json::to_string(judgement)?);
            lines.push('\n');
        }
        (lines, Some(model))
    } else {
        let text = std::fs::read_to_string(&args.file)
            .with_context(|| format!("{}: cannot read the judgements file", args.file.display()))?;
        let stem = args
            .file
            .file_stem()
            .map(|stem| stem.to_string_lossy().into_owned());
        (text, stem)
    };
    if judgements.len() > MAX_PREDICTIONS_BYTES {
        anyhow::bail!(
            "{}: {} bytes, more than the {MAX_PREDICTIONS_BYTES} bytes a server takes",
            args.file.display(),
            judgements.len()
        );
    }
    let name = match (&args.name, default_name) {
        (Some(name), _) => name.clone(),
        (None, Some(name)) => name,
        (None, None) => anyhow::bail!("{}: pass --name", args.file.display()),
    };
    let file_sha256 = hex::encode(Sha256::digest(judgements.as_bytes()));
    let body = PredictionsSubmission {
        kind: PredictionsKind::Predictions,
        model: ModelCard {
            name,
            kind: args.kind,
            parameters: args.parameters.clone(),
            licence: args.licence.clone(),
            open_weights: args.open_weights,
            link: args.link.clone(),
        },
        judgements,
    };
    let url = submissions_url(&args.server);
    let accepted = super::runtime()?.block_on(send(&url, &body))?;
    if accepted.file_sha256 != file_sha256 {
        anyhow::bail!(
            "the server recorded digest {} for a file whose SHA-256 is {file_sha256}",
            accepted.file_sha256
        );
    }
    if args.json {
        super::emit_json(&accepted)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = format!(
        "run {} (model {}): {} judgements checked and scored; file SHA-256 {}\n",
        accepted.run, accepted.model, accepted.judgements, accepted.file_sha256
    );
    for (setting, accuracy) in &accepted.overall {
        out.push_str(&format!(
            "  {:<9} overall {:.2} %\n",
            setting.label(),
            accuracy * 100.0
        ));
    }
    super::emit(&out)?;
    Ok(ExitCode::SUCCESS)
}

/// `…/api/v1/submissions` of a server given by its address (with or without the API prefix).
fn submissions_url(server: &str) -> String {
    let base = server.trim_end_matches('/');
    let base = base.strip_suffix(API_PREFIX).unwrap_or(base);
    format!("{base}{API_PREFIX}/submissions")
}

async fn send(url: &str, body: &PredictionsSubmission) -> anyhow::Result<PredictionsAccepted> {
    let response = reqwest::Client::new()
        .post(url)
        .json(body)
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    let status = response.status();
    let text = response
        .text()
        .await
        .with_context(|| format!("{url}: the answer could not be read"))?;
    if !status.is_success() {
        // The API's error body is `{"error": {"code", "message"}}`; anything else is shown as is.
        let message = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|body| body["error"]["message"].as_str().map(str::to_owned))
            .unwrap_or(text);
        anyhow::bail!("the server refused the predictions ({status}): {message}");
    }
    serde_json::from_str(&text).with_context(|| format!("{url}: unexpected answer: {text}"))
}

#[cfg(test)]
mod tests {
    use super::submissions_url;

    #[test]
    fn the_url_is_the_servers_submissions_route_with_or_without_the_prefix() {
        for server in [
            "http://127.0.0.1:8080",
            "http://127.0.0.1:8080/",
            "http://127.0.0.1:8080/api/v1",
            "http://127.0.0.1:8080/api/v1/",
        ] {
            assert_eq!(
                submissions_url(server),
                "http://127.0.0.1:8080/api/v1/submissions"
            );
        }
    }
}
