//! Submissions of API judges: checking a `POST /submissions` body and building the run identity,
//! the job specification and the model that `eval api` would build from the same arguments, so a
//! submission and the command line name one run; the task choice and endpoint rules that uploads
//! share. The HTTP handler extracts the body, calls [`api_judge`] and [`super::enqueue::submit`],
//! and maps [`SubmissionError`] to its status.

use omnireward_shared::{Setting, Task};
use reqwest::Url;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::key_bindings::KeyBindings;
use super::key_vault::{KEY_VARIABLE_PREFIX, KeyVault, is_held_reference};
use super::worker::{ApiJudgeSpecification, BenchmarkSpecification, PromptsSpecification};
use crate::data::{self, Benchmark};
use crate::evaluation::identity::{ApiJudgeIdentity, RunIdentity};
use crate::judges::api::address_policy::is_private;
use crate::judges::api::client::ApiKey;
use crate::judges::api::prompts::PromptSet;
use crate::judges::api::request::{AudioParts, RequestOptions};
use crate::storage::{ModelKind, NewModel};

/// Requests in flight when the submission gives no `concurrency`.
const DEFAULT_CONCURRENCY: usize = 16;

/// Most requests in flight a submission may ask for.
const MAX_CONCURRENCY: usize = 64;

/// Defaults of `eval api`, so a submission and the CLI open the same run.
const PROMPT_VIDEO_FRAMES: usize = 10;
const RESPONSE_VIDEO_FRAMES: usize = 5;
const VERDICT_ATTEMPTS: u32 = 5;
const TIMEOUT_SECONDS: u64 = 120;
const HTTP_ATTEMPTS: u32 = 5;
const BACKOFF_MS: u64 = 1000;

/// Body fields that would carry a secret under another name than `api_key`; refused with an
/// explanation rather than as unknown.
const SECRET_FIELDS: [&str; 3] = ["apikey", "key", "authorization"];

/// The body of `POST /submissions`, as sent.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmissionRequest {
    kind: SubmissionKind,
    /// Leaderboard name [default: the model].
    name: Option<String>,
    /// OpenAI-compatible base URL (`…/v1`) or full `…/chat/completions` URL.
    endpoint: String,
    /// The `model` field sent.
    model: String,
    /// The workers' environment variable holding the key (`OMNIREWARD_KEY_…`); never the key.
    api_key_env: Option<String>,
    /// Which settings to judge [default: both].
    #[serde(default)]
    settings: SettingsChoice,
    /// Judge every item again with A and B exchanged [default: no].
    #[serde(default)]
    swap: bool,
    /// Task keys or short names [default: all].
    tasks: Option<Vec<String>>,
    temperature: Option<f64>,
    max_tokens: Option<u32>,
    /// Requests in flight, 1 to 64 [default 16].
    concurrency: Option<usize>,
}

/// What a submission evaluates; API judges only for now.
#[derive(Clone, Copy, Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubmissionKind {
    ApiJudge,
}

/// Which settings to judge.
#[derive(Clone, Copy, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SettingsChoice {
    #[default]
    Both,
    WithTies,
    WithoutTies,
}

impl SettingsChoice {
    pub(super) fn settings(self) -> Vec<Setting> {
        match self {
            SettingsChoice::Both => Setting::ALL.to_vec(),
            SettingsChoice::WithTies => vec![Setting::WithTies],
            SettingsChoice::WithoutTies => vec![Setting::WithoutTies],
        }
    }
}

/// A validated API-judge submission: what its run is, and what its job needs.
pub struct ApiJudgeSubmission {
    /// The model (named by the submission, or its `model`).
    pub model: NewModel,
    /// The part of the served benchmark holding the chosen tasks; `None`: all of it.
    pub benchmark: Option<Benchmark>,
    /// What makes its run the same run as `eval api`'s with the same arguments.
    pub identity: RunIdentity,
    /// What may change between sessions.
    pub details: Value,
    /// The job's specification.
    pub specification: Value,
    /// The settings asked for.
    pub settings: Vec<Setting>,
}

/// What a server lets submissions do, for checking them.
pub struct SubmissionPolicy<'a> {
    /// The benchmark the server serves and evaluates on.
    pub served: &'a Benchmark,
    /// Whether endpoints on this machine or a private network are accepted.
    pub allow_private_endpoints: bool,
    /// The hosts each operator key variable may be sent to.
    pub key_bindings: &'a KeyBindings,
    /// Where keys sent with a submission are held; `None`: `api_key` is refused.
    pub key_vault: Option<&'a KeyVault>,
}

/// Why a submission was refused; the messages never echo a secret.
#[derive(Debug, thiserror::Error)]
pub enum SubmissionError {
    /// The body is not a submission this server accepts.
    #[error("{0}")]
    Malformed(String),
    /// A field has a value outside what is accepted.
    #[error("invalid value `{value}` for parameter `{parameter}`: expected {expected}")]
    InvalidParameter {
        /// The field.
        parameter: &'static str,
        /// The value given.
        value: String,
        /// What is accepted.
        expected: String,
    },
    /// The job's specification could not be written (a bug).
    #[error("{0}")]
    Internal(String),
}

/// Checks the body and builds the run identity and job specification `eval api` would build
/// from the same arguments.
pub fn api_judge(
    policy: &SubmissionPolicy<'_>,
    mut body: Map<String, Value>,
) -> Result<ApiJudgeSubmission, SubmissionError> {
    let submitted_key = take_api_key(policy, &mut body)?;
    if let Some(field) = body
        .keys()
        .find(|field| SECRET_FIELDS.contains(&field.to_ascii_lowercase().as_str()))
    {
        // The value is dropped unread and never echoed.
        return Err(SubmissionError::Malformed(format!(
            "`{field}` is not accepted: send the key as `api_key` (held in this server's memory \
             only), or set it in the workers' environment and name the variable in `api_key_env`"
        )));
    }
    // Present but null means absent, as for every optional field.
    body.retain(|_, value| !value.is_null());
    let request: SubmissionRequest = serde_json::from_value(Value::Object(body))
        .map_err(|error| SubmissionError::Malformed(format!("invalid submission: {error}")))?;
    let SubmissionKind::ApiJudge = request.kind;
    let endpoint = checked_endpoint(&request.endpoint, policy.allow_private_endpoints)?;
    let model = request.model.trim();
    if model.is_empty() {
        return Err(SubmissionError::Malformed(
            "`model` must not be empty".to_owned(),
        ));
    }
    let name = match request.name.as_deref().map(str::trim) {
        Some("") => {
            return Err(SubmissionError::Malformed(
                "`name` must not be empty".to_owned(),
            ));
        }
        Some(name) => name.to_owned(),
        None => model.to_owned(),
    };
    if submitted_key.is_some() && request.api_key_env.is_some() {
        return Err(SubmissionError::Malformed(
            "give the key either as `api_key` or through `api_key_env`, not both".to_owned(),
        ));
    }
    if let Some(variable) = &request.api_key_env
        && (!(is_variable_name(variable) && variable.starts_with(KEY_VARIABLE_PREFIX))
            || is_held_reference(variable))
    {
        // Not echoed: a key pasted here by mistake must not come back.
        return Err(SubmissionError::Malformed(format!(
            "`api_key_env` must name an environment variable of the workers that starts with \
             `{KEY_VARIABLE_PREFIX}` (for example `{KEY_VARIABLE_PREFIX}OPENAI`), not the key \
             itself: other variables are refused so a submission cannot send a worker's secrets \
             to its endpoint"
        )));
    }
    if let Some(variable) = &request.api_key_env {
        policy
            .key_bindings
            .check(variable, &endpoint)
            .map_err(|error| SubmissionError::Malformed(error.to_string()))?;
    }
    let concurrency = request.concurrency.unwrap_or(DEFAULT_CONCURRENCY);
    if !(1..=MAX_CONCURRENCY).contains(&concurrency) {
        return Err(SubmissionError::InvalidParameter {
            parameter: "concurrency",
            value: concurrency.to_string(),
            expected: format!("a whole number from 1 to {MAX_CONCURRENCY}"),
        });
    }
    if let Some(temperature) = request.temperature
        && !(temperature.is_finite() && temperature >= 0.0)
    {
        return Err(SubmissionError::InvalidParameter {
            parameter: "temperature",
            value: temperature.to_string(),
            expected: "a number from 0".to_owned(),
        });
    }
    if request.max_tokens == Some(0) {
        return Err(SubmissionError::InvalidParameter {
            parameter: "max_tokens",
            value: "0".to_owned(),
            expected: "a whole number from 1".to_owned(),
        });
    }
    let tasks = parse_tasks(request.tasks.as_deref().unwrap_or_default())?;
    let benchmark = chosen_tasks(policy.served, &tasks)?;

    let prompts = PromptSet::builtin();
    let request_options = RequestOptions {
        model: model.to_owned(),
        temperature: request.temperature,
        max_tokens: request.max_tokens,
        extra_body: Map::new(),
        prompt_video_frames: PROMPT_VIDEO_FRAMES,
        response_video_frames: RESPONSE_VIDEO_FRAMES,
        audio_parts: AudioParts::Joined,
        ablations: Vec::new(),
    };
    // Built as `eval api` builds it from the same arguments: equal identities mean one run.
    let identity = RunIdentity::Api(ApiJudgeIdentity::new(
        endpoint.clone(),
        &request_options,
        &prompts,
        VERDICT_ATTEMPTS,
    ));
    let details = json!({
        "omnireward_version": env!("CARGO_PKG_VERSION"),
        "concurrency": concurrency,
        "requests_per_minute": null,
        "timeout_seconds": TIMEOUT_SECONDS,
        "http_attempts": HTTP_ATTEMPTS,
        "prices_per_million_tokens": null,
        "max_cost": null,
        "submitted_over_http": true,
    });
    let served = policy.served;
    let embedded = served.identity.name == data::embedded::NAME
        && served.identity.version == data::embedded::VERSION;
    let specification = ApiJudgeSpecification {
        endpoint: endpoint.clone(),
        model: model.to_owned(),
        // Last, once everything else is valid: a refused submission holds no key.
        api_key_env: match (submitted_key, policy.key_vault) {
            (Some(key), Some(vault)) => Some(vault.hold(key)),
            _ => request.api_key_env.clone(),
        },
        public_addresses_only: !policy.allow_private_endpoints,
        temperature: request.temperature,
        max_tokens: request.max_tokens,
        extra_body: Map::new(),
        prompt_video_frames: PROMPT_VIDEO_FRAMES,
        response_video_frames: RESPONSE_VIDEO_FRAMES,
        audio_parts: "joined".to_owned(),
        prompts: PromptsSpecification {
            folder: None,
            hash: prompts.hash.clone(),
        },
        benchmark: BenchmarkSpecification {
            data: (!embedded).then(|| served.root.clone()),
            tasks,
            media_dir: None,
            skip_invalid: !served.skipped.is_empty(),
        },
        settings: request.settings.settings(),
        swap: request.swap,
        concurrency,
        requests_per_minute: None,
        verdict_attempts: VERDICT_ATTEMPTS,
        timeout_seconds: TIMEOUT_SECONDS,
        http_attempts: HTTP_ATTEMPTS,
        backoff_ms: BACKOFF_MS,
        prices_per_million_tokens: None,
        max_cost: None,
        judgements_file: None,
    };
    let specification = serde_json::to_value(&specification).map_err(|error| {
        SubmissionError::Internal(format!("cannot encode a job specification: {error}"))
    })?;
    Ok(ApiJudgeSubmission {
        model: NewModel::named(name, ModelKind::ApiJudge),
        benchmark,
        identity,
        details,
        specification,
        settings: request.settings.settings(),
    })
}

/// Parses task keys or short names; `all` or an empty list means every task.
pub fn parse_tasks(names: &[String]) -> Result<Vec<Task>, SubmissionError> {
    let mut tasks = Vec::new();
    for name in names {
        if name.eq_ignore_ascii_case("all") {
            continue;
        }
        let task: Task = name
            .parse()
            .map_err(|_| SubmissionError::InvalidParameter {
                parameter: "tasks",
                value: name.clone(),
                expected: format!(
                    "task keys or short names: {}",
                    Task::ALL.map(Task::key).join(", ")
                ),
            })?;
        if !tasks.contains(&task) {
            tasks.push(task);
        }
    }
    Ok(tasks)
}

/// The served benchmark restricted to `tasks` (`None`: all of it), with the hash the loader
/// gives the same restriction, so the worker's reload matches the run.
pub fn chosen_tasks(
    served: &Benchmark,
    tasks: &[Task],
) -> Result<Option<Benchmark>, SubmissionError> {
    if tasks.is_empty() {
        return Ok(None);
    }
    if let Some(missing) = tasks
        .iter()
        .find(|task| served.task_samples(**task).next().is_none())
    {
        return Err(SubmissionError::InvalidParameter {
            parameter: "tasks",
            value: missing.key().to_owned(),
            expected: "tasks the served benchmark has samples of".to_owned(),
        });
    }
    let mut chosen = served.clone();
    chosen.samples.retain(|sample| tasks.contains(&sample.task));
    chosen.files.retain(|task, _| tasks.contains(task));
    chosen.rows_read.retain(|task, _| tasks.contains(task));
    chosen.identity.hash = data::content_hash(&chosen.samples);
    Ok(Some(chosen))
}

/// An environment variable name: `[A-Za-z_][A-Za-z0-9_]*`, at most 128 characters.
/// Removes `api_key` from the body and returns it, when this server can hold keys.
fn take_api_key(
    policy: &SubmissionPolicy<'_>,
    body: &mut Map<String, Value>,
) -> Result<Option<ApiKey>, SubmissionError> {
    let Some(value) = body.remove("api_key") else {
        return Ok(None);
    };
    // Every message below leaves the value out: it must never come back.
    match value {
        Value::Null => Ok(None),
        Value::String(key) if policy.key_vault.is_none() => {
            drop(key);
            Err(SubmissionError::Malformed(
                "`api_key` is not accepted by this server: it runs no workers of its own to \
                 hold a key for (serve --workers 0). Set the key in the workers' environment and \
                 name the variable in `api_key_env`"
                    .to_owned(),
            ))
        }
        Value::String(key) if key.trim().is_empty() || key.len() > 4096 => {
            Err(SubmissionError::Malformed(
                "`api_key` must be a non-empty string of at most 4096 bytes".to_owned(),
            ))
        }
        Value::String(key) => Ok(Some(ApiKey::new(key.trim().to_owned()))),
        _ => Err(SubmissionError::Malformed(
            "`api_key` must be a string".to_owned(),
        )),
    }
}

fn is_variable_name(name: &str) -> bool {
    let mut characters = name.chars();
    name.len() <= 128
        && characters
            .next()
            .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && characters.all(|character| character.is_ascii_alphanumeric() || character == '_')
}

/// Checks a submitted endpoint and returns it as recorded. Credentials in the URL are refused
/// (they would be stored), and so are hosts on this machine or a private network unless the
/// server allows them: a submission makes our workers send requests there.
fn checked_endpoint(endpoint: &str, allow_private: bool) -> Result<String, SubmissionError> {
    let invalid = |reason: &str| {
        // The endpoint is not echoed: it may carry credentials.
        SubmissionError::Malformed(format!("invalid `endpoint`: {reason}"))
    };
    let url = Url::parse(endpoint.trim()).map_err(|_| invalid("not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("the scheme must be http or https"));
    }
    if !url.username().is_empty() || url.password().is_some() || url.query().is_some() {
        return Err(invalid(
            "credentials (user info or a query string) are not accepted; name the environment \
             variable holding the key in `api_key_env`",
        ));
    }
    let Some(host) = url.host_str() else {
        return Err(invalid("the URL has no host"));
    };
    // IPv4 hosts come normalised (`0x7f.1` is `127.0.0.1`); IPv6 ones in brackets.
    let private = match host.trim_start_matches('[').trim_end_matches(']').parse() {
        Ok(address) => is_private(address),
        Err(_) => {
            let domain = host.trim_end_matches('.').to_ascii_lowercase();
            domain == "localhost" || domain.ends_with(".localhost")
        }
    };
    if private && !allow_private {
        return Err(invalid(
            "loopback, link-local and private network hosts are not accepted by this server",
        ));
    }
    // As given, less any fragment: what `eval api` records for the same argument, so both
    // name the same run (no userinfo or query string can be left to drop).
    let given = endpoint.trim();
    Ok(given.split('#').next().unwrap_or(given).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_addresses_are_recognised() {
        for address in [
            "127.0.0.1",
            "127.8.9.10",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
        ] {
            assert!(
                is_private(address.parse().expect("an address")),
                "{address}"
            );
        }
        for address in ["8.8.8.8", "172.32.0.1", "2001:4860::8888", "::ffff:8.8.8.8"] {
            assert!(
                !is_private(address.parse().expect("an address")),
                "{address}"
            );
        }
    }

    #[test]
    fn endpoints_are_checked_and_recorded() {
        assert_eq!(
            checked_endpoint("https://api.example.com/v1", false).ok(),
            Some("https://api.example.com/v1".to_owned())
        );
        for refused in [
            "http://localhost:8000/v1",
            "http://LOCALHOST./v1",
            "http://api.localhost/v1",
            "http://127.0.0.1:8000/v1",
            "http://0x7f.1/v1",
            "http://[::1]:8000/v1",
            "http://[fe80::1]/v1",
            "http://169.254.169.254/latest",
            "http://192.168.0.10/v1",
        ] {
            assert!(checked_endpoint(refused, false).is_err(), "{refused}");
        }
        assert!(checked_endpoint("http://127.0.0.1:8000/v1", true).is_ok());
        for invalid in [
            "ftp://api.example.com/v1",
            "api.example.com/v1",
            "https://user:secret@api.example.com/v1",
            "https://api.example.com/v1?key=secret",
        ] {
            let error = checked_endpoint(invalid, true).expect_err(invalid);
            assert!(!error.to_string().contains("secret"), "{error}");
        }
    }

    #[test]
    fn variable_names() {
        assert!(is_variable_name("OPENAI_API_KEY"));
        assert!(is_variable_name("_key1"));
        assert!(!is_variable_name("1KEY"));
        assert!(!is_variable_name("sk-abc123"));
        assert!(!is_variable_name(""));
    }
}
