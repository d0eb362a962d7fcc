//! `POST /submissions` with a `multipart/form-data` body: a checkpoint uploaded file by file,
//! checked, stored by its content and queued for the workers: a reward model's folder, or a chat
//! model judged as a generative judge (a `*ForCausalLM` folder, or one `.gguf` file;
//! [`generative`]). JSON bodies on the
//! same route are API-judge submissions, handled by `submissions.rs` under the API's usual
//! body limit.
//!
//! Every file part is streamed to disk (never held whole in memory) into a fresh staging folder
//! inside the uploads folder and hashed with SHA-256 on the way, within the server's upload
//! limit. File names must be plain names inside the checkpoint folder, each sent once; pickle
//! files are refused before a byte of them is written. The staged folder is then checked like
//! any local checkpoint (safetensors headers, shards named by the index, the architecture
//! allow-list; a chat model's tokenizer and chat template, a GGUF file's header and metadata)
//! before anything is stored: a refusal deletes the staging folder, writes no rows,
//! and answers a 4xx naming the file or field. An accepted folder moves to
//! `<uploads>/<sha256>/`, addressed by its content (file names, sizes and SHA-256s), so the same
//! upload again finds the same folder and the same run, and answers with its submission.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::Router;
use axum::extract::multipart::{Field, MultipartError};
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Multipart, Request, State};
use axum::handler::Handler;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use omnireward_local_judge::batch::DEFAULT_BATCH_TOKENS;
use omnireward_shared::wire::{AcceptedCheckpoint, Submitted, Uploaded};
use omnireward_shared::{Setting, Task};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt as _;
use tower_http::limit::RequestBodyLimitLayer;

mod generative;

use super::{ApiError, AppState, submissions};
use crate::checkpoint::{CheckpointError, CheckpointFolder, PICKLE_EXTENSIONS};
use crate::data::Benchmark;
use crate::evaluation::checkpoint_run::weights_sha256;
use crate::judges::local::TruncationSide;
use crate::queue::checkpoints::{
    self, CheckpointSubmissionError, GenerativeChoices, UploadedCheckpoint,
};
use crate::queue::predictions::MAX_PREDICTIONS_BYTES;
use crate::storage::{Enqueued, RunId};

/// The upload limit when the server is given none: 2 GiB of files and fields.
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// Room for the multipart framing (boundaries and part headers) over the upload limit, which
/// counts file and field contents only.
const FORM_OVERHEAD_BYTES: u64 = 1024 * 1024;

/// Most files one checkpoint may have.
const MAX_FILES: usize = 256;

/// Longest accepted file name, in bytes.
const MAX_FILE_NAME_BYTES: usize = 255;

/// Largest text field, in bytes.
const MAX_FIELD_BYTES: usize = 4096;

/// The extensions (compared without case) of the files a checkpoint folder is made of: JSON
/// configurations and tokenizers, safetensors weights, Jinja chat templates, vocabularies and
/// sentencepiece models, and a model card; or a chat model's one GGUF file.
const FILE_EXTENSIONS: [&str; 7] = ["json", "safetensors", "jinja", "txt", "model", "md", "gguf"];

/// The text fields every upload may have; reward models' and chat models' own follow.
const COMMON_FIELDS: [&str; 5] = ["kind", "name", "settings", "tasks", "batch_tokens"];

/// Whether `name` is a text field of an upload.
fn is_field(name: &str) -> bool {
    COMMON_FIELDS
        .into_iter()
        .chain(generative::REWARD_MODEL_FIELDS)
        .chain(generative::GENERATION_FIELDS)
        .any(|field| field == name)
}

/// Largest `max_length` a submission may ask for.
const MAX_LENGTH_LIMIT: usize = 1 << 17;

/// Largest `batch_tokens` a submission may ask for.
const MAX_BATCH_TOKENS: usize = 1 << 22;

/// Staging folders are named `<prefix><process>-<counter>-<nanos>` inside the uploads folder.
const STAGING_PREFIX: &str = ".incoming-";

/// Where accepted checkpoints are kept and how large an upload may be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadSettings {
    /// The uploads folder: staging folders and `<sha256>/` checkpoint folders.
    pub folder: PathBuf,
    /// Most bytes of files and fields one upload may carry.
    pub max_bytes: u64,
}

impl AppState {
    /// Accepts checkpoint uploads into `settings.folder` (without this, a multipart submission
    /// is answered 503).
    pub fn with_uploads(mut self, settings: UploadSettings) -> AppState {
        self.uploads = Some(Arc::new(settings));
        self
    }
}

/// Removes staging folders left by a server that stopped in the middle of an upload. Call it
/// at startup, before uploads are accepted; returns how many were removed.
pub fn remove_abandoned_staging(folder: &Path) -> std::io::Result<usize> {
    let entries = match std::fs::read_dir(folder) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(error) => return Err(error),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry?;
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with(STAGING_PREFIX)
        {
            std::fs::remove_dir_all(entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// `POST /submissions`, whatever the body: multipart bodies are checkpoint uploads under the
/// upload limit, predictions under their 32 MiB limit, any other body an API-judge or Hub
/// submission under the API's 1 MiB limit. This
/// route sits beside the globally limited routes, not under them.
pub(super) fn routes(state: &AppState) -> Router<AppState> {
    Router::new().route(
        "/submissions",
        post(create).layer(DefaultBodyLimit::max(body_limit(state))),
    )
}

/// The largest upload body this server reads: its upload limit and the form's framing (the
/// submit page's upload form has the same).
pub(super) fn body_limit(state: &AppState) -> usize {
    let limit = state
        .uploads
        .as_ref()
        .map_or(0, |settings| settings.max_bytes)
        .saturating_add(FORM_OVERHEAD_BYTES);
    usize::try_from(limit).unwrap_or(usize::MAX)
}

async fn create(State(state): State<AppState>, request: Request) -> Response {
    if !is_multipart(request.headers()) {
        // Predictions files are larger than other JSON bodies: the handler holds those to
        // the API's limit once it knows the kind.
        let json = submissions::create
            .layer(RequestBodyLimitLayer::new(MAX_PREDICTIONS_BYTES))
            .layer(DefaultBodyLimit::max(MAX_PREDICTIONS_BYTES));
        return json.call(request, state).await;
    }
    match upload(state, request).await {
        Ok((status, uploaded)) => (status, Json(uploaded)).into_response(),
        Err(error) => error.into_response(),
    }
}

fn is_multipart(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value
                .trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/form-data")
        })
}

/// A checkpoint upload, from the request to the queued job: the service behind a multipart
/// `POST /submissions` and the submit page's upload form.
pub(super) async fn upload(
    state: AppState,
    request: Request,
) -> Result<(StatusCode, Uploaded), ApiError> {
    let Some(settings) = state.uploads.clone() else {
        return Err(ApiError::Unavailable(
            "this server does not accept checkpoint uploads".to_owned(),
        ));
    };
    let (mut parts, body) = request.into_parts();
    super::rate_limit::SubmissionAdmitted::from_request_parts(&mut parts, &state).await?;
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared
        .is_some_and(|length| length > settings.max_bytes.saturating_add(FORM_OVERHEAD_BYTES))
    {
        return Err(too_large(&settings, None));
    }
    let multipart = Multipart::from_request(Request::from_parts(parts, body), &state)
        .await
        .map_err(|rejection| {
            ApiError::Malformed(format!("invalid multipart body: {}", rejection.body_text()))
        })?;

    let staging = Staging::create(&settings.folder).await?;
    let accepted = match receive_and_check(&state, &settings, multipart, staging.path()).await {
        Ok(accepted) => accepted,
        Err(error) => {
            staging.discard().await;
            return Err(error);
        }
    };
    let folder = place(staging, &settings.folder, &accepted.sha256).await?;
    let (enqueued, run) = submit(&state, &accepted, folder).await?;
    let cancel_token = super::submissions::issue_cancel_token(&state.storage, enqueued).await?;

    let job = state.storage.job(enqueued.job()).await?;
    let uploaded = Uploaded {
        submitted: Submitted {
            submission: job.id.0,
            run: run.0,
            status: job.status,
            approval: state.storage.job_approval(job.id).await?,
            position: state.storage.queue_position(job.id).await?,
            cancel_token,
        },
        checkpoint: AcceptedCheckpoint {
            sha256: accepted.sha256,
            weights_sha256: accepted.weights_sha256,
            architecture: accepted.architecture.clone(),
            parameter_count: accepted.parameter_count,
            files: accepted.files.keys().cloned().collect(),
            bytes: accepted.files.values().map(|file| file.size).sum(),
        },
    };
    let status = match enqueued {
        Enqueued::Created(_) => StatusCode::CREATED,
        Enqueued::Existing(_) => StatusCode::OK,
    };
    Ok((status, uploaded))
}

/// One received file.
#[derive(Clone, Debug)]
struct ReceivedFile {
    size: u64,
    sha256: String,
}

/// The text fields as sent.
#[derive(Debug, Default)]
struct Form {
    values: BTreeMap<String, String>,
    tasks: Vec<String>,
}

/// What the submitter asked for, validated.
#[derive(Debug)]
struct UploadRequest {
    name: String,
    settings: Vec<Setting>,
    tasks: Vec<Task>,
    /// The served benchmark restricted to `tasks`, when they restrict it.
    benchmark: Option<Benchmark>,
    max_length: Option<usize>,
    truncation: TruncationSide,
    batch_tokens: usize,
    reward_label: Option<String>,
    /// The reward-model fields sent (refused for a chat model).
    reward_model_fields: Vec<&'static str>,
    /// The generation options, used when the checkpoint is a chat model.
    generation: GenerativeChoices,
}

/// An upload that passed every check, still in its staging folder.
#[derive(Debug)]
struct Accepted {
    request: UploadRequest,
    files: BTreeMap<String, ReceivedFile>,
    /// The content address: SHA-256 over the files' names, sizes and SHA-256s.
    sha256: String,
    weights_sha256: String,
    architecture: String,
    parameter_count: u64,
    /// For a chat model: its generation options, and the GGUF file's name when it is one.
    chat_model: Option<(GenerativeChoices, Option<String>)>,
}

/// Streams the parts into `staging`, then checks the fields and the checkpoint.
async fn receive_and_check(
    state: &AppState,
    settings: &UploadSettings,
    mut multipart: Multipart,
    staging: &Path,
) -> Result<Accepted, ApiError> {
    let mut budget = Budget {
        used: 0,
        max: settings.max_bytes,
    };
    let mut form = Form::default();
    let mut files: BTreeMap<String, ReceivedFile> = BTreeMap::new();
    while let Some(mut field) = multipart
        .next_field()
        .await
        .map_err(|error| multipart_error(error, settings))?
    {
        match field.file_name().map(str::to_owned) {
            Some(name) => {
                check_file_name(&name, &files)?;
                let file = receive_file(&mut field, &name, staging, &mut budget, settings).await?;
                files.insert(name, file);
            }
            None => {
                let name = field.name().unwrap_or_default().to_owned();
                let value = read_text(&mut field, &name, &mut budget, settings).await?;
                form.add(&name, value)?;
            }
        }
    }
    let request = form.validate(&state.benchmark)?;
    if files.is_empty() {
        return Err(ApiError::Malformed(
            "no files: send the checkpoint's files (config.json, tokenizer.json, \
             model.safetensors, ...) as file parts named by their file names"
                .to_owned(),
        ));
    }

    let checked = {
        let folder = staging.to_path_buf();
        let names = files.clone();
        tokio::task::spawn_blocking(move || check_staged(&folder, &names))
            .await
            .map_err(|error| ApiError::Internal(format!("checking an upload stopped: {error}")))??
    };
    let chat_model = if checked.chat_model {
        if let Some(field) = request.reward_model_fields.first() {
            return Err(ApiError::InvalidInput(format!(
                "field `{field}` applies to reward models; this checkpoint ({}) is a chat \
                 model, judged as a generative judge (see max_new_tokens)",
                checked.architecture
            )));
        }
        Some((request.generation.clone(), checked.gguf_file.clone()))
    } else {
        None
    };
    let weights_sha256 = match checked.weight_files.as_slice() {
        // One weights file: its streamed hash is the hash of the weights.
        [single] => single
            .file_name()
            .and_then(|name| files.get(name.to_string_lossy().as_ref()))
            .map(|file| file.sha256.clone())
            .ok_or_else(|| ApiError::Internal("a checked weights file is missing".to_owned()))?,
        // Shards, or weights and a value head: one stream over the files in order, as `eval
        // checkpoint` records it.
        _ => {
            let weight_files = checked.weight_files.clone();
            tokio::task::spawn_blocking(move || weights_sha256(&weight_files))
                .await
                .map_err(|error| ApiError::Internal(format!("hashing stopped: {error}")))?
                .map_err(|error| ApiError::Internal(format!("cannot hash the weights: {error}")))?
        }
    };
    let mut manifest = Sha256::new();
    for (name, file) in &files {
        manifest.update(format!("{name}\0{}\0{}\n", file.size, file.sha256));
    }
    Ok(Accepted {
        request,
        sha256: hex::encode(manifest.finalize()),
        files,
        weights_sha256,
        architecture: checked.architecture,
        parameter_count: checked.parameter_count,
        chat_model,
    })
}

/// What the staged files are, once checked.
struct Checked {
    /// Whether it is a chat model (else a reward model).
    chat_model: bool,
    /// The GGUF file's name, for a chat model in one.
    gguf_file: Option<String>,
    architecture: String,
    parameter_count: u64,
    /// The weight files, in the order their hash is taken.
    weight_files: Vec<PathBuf>,
}

/// Checks the staged files as `eval checkpoint` would load them: a chat model (a `*ForCausalLM`
/// folder or one `.gguf` file) or a reward model's folder. Blocking.
fn check_staged(
    staging: &Path,
    files: &BTreeMap<String, ReceivedFile>,
) -> Result<Checked, ApiError> {
    if let Some(chat_model) = generative::inspect(staging, files)? {
        return Ok(Checked {
            chat_model: true,
            gguf_file: chat_model
                .path
                .is_file()
                .then(|| chat_model.path.file_name())
                .flatten()
                .map(|name| name.to_string_lossy().into_owned()),
            architecture: chat_model.architecture,
            parameter_count: chat_model.parameter_count,
            weight_files: chat_model.weight_files,
        });
    }
    let checkpoint = CheckpointFolder::inspect(staging)
        .and_then(|checkpoint| {
            let architecture = checkpoint.require_supported_architecture()?;
            Ok::<_, CheckpointError>((checkpoint, architecture))
        })
        .map_err(|error| ApiError::InvalidInput(format!("the checkpoint was refused: {error}")))?;
    let (checkpoint, architecture) = checkpoint;
    Ok(Checked {
        chat_model: false,
        gguf_file: None,
        architecture: architecture.to_owned(),
        parameter_count: checkpoint.parameter_count(),
        weight_files: checkpoint.weight_files(),
    })
}

/// The bytes an upload may still carry.
struct Budget {
    used: u64,
    max: u64,
}

impl Budget {
    fn take(
        &mut self,
        bytes: usize,
        settings: &UploadSettings,
        part: &str,
    ) -> Result<(), ApiError> {
        self.used = self.used.saturating_add(bytes as u64);
        if self.used > self.max {
            return Err(too_large(settings, Some(part)));
        }
        Ok(())
    }
}

fn too_large(settings: &UploadSettings, part: Option<&str>) -> ApiError {
    let at = part.map_or_else(String::new, |part| format!(" (at {part})"));
    ApiError::TooLarge(format!(
        "the upload is larger than this server's limit of {} bytes{at}",
        settings.max_bytes
    ))
}

fn multipart_error(error: MultipartError, settings: &UploadSettings) -> ApiError {
    if error.status() == StatusCode::PAYLOAD_TOO_LARGE {
        too_large(settings, None)
    } else {
        ApiError::Malformed(format!("invalid multipart body: {}", error.body_text()))
    }
}

/// Refuses names that are not plain file names of the checkpoint folder, pickle files, files
/// that no checkpoint has, and a file sent twice.
fn check_file_name(name: &str, files: &BTreeMap<String, ReceivedFile>) -> Result<(), ApiError> {
    let refuse = |reason: &str| ApiError::Malformed(format!("file {name:?}: {reason}"));
    if name.is_empty() {
        return Err(ApiError::Malformed(
            "a file part has an empty file name".to_owned(),
        ));
    }
    if name.len() > MAX_FILE_NAME_BYTES {
        return Err(refuse(&format!(
            "file names are at most {MAX_FILE_NAME_BYTES} bytes"
        )));
    }
    if name.contains(['/', '\\']) {
        return Err(refuse(
            "file names must be plain names inside the checkpoint folder, without `/` or `\\`",
        ));
    }
    if name.chars().any(char::is_control) || name.contains(':') {
        return Err(refuse(
            "file names must not contain control characters, NUL or `:`",
        ));
    }
    if name.starts_with('.') {
        return Err(refuse(
            "file names must not start with `.` (hidden files, `.` and `..` are refused)",
        ));
    }
    let extension = Path::new(name)
        .extension()
        .and_then(|extension| extension.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if PICKLE_EXTENSIONS.contains(&extension.as_str()) {
        return Err(ApiError::InvalidInput(format!(
            "file {name:?}: pickle files can run code when loaded and are refused; convert the \
             weights to safetensors"
        )));
    }
    if !FILE_EXTENSIONS.contains(&extension.as_str()) {
        return Err(ApiError::InvalidInput(format!(
            "file {name:?}: not a checkpoint file; accepted extensions: .{}",
            FILE_EXTENSIONS.join(", .")
        )));
    }
    if files.contains_key(name) {
        return Err(refuse("sent more than once"));
    }
    if files.len() >= MAX_FILES {
        return Err(refuse(&format!(
            "a checkpoint has at most {MAX_FILES} files"
        )));
    }
    Ok(())
}

/// Streams one file part into `staging/<name>`, hashing it on the way.
async fn receive_file(
    field: &mut Field<'_>,
    name: &str,
    staging: &Path,
    budget: &mut Budget,
    settings: &UploadSettings,
) -> Result<ReceivedFile, ApiError> {
    let path = staging.join(name);
    let io = |error: std::io::Error| ApiError::Internal(format!("cannot write an upload: {error}"));
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .await
        .map_err(io)?;
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    let part = format!("file {name:?}");
    while let Some(chunk) = field
        .chunk()
        .await
        .map_err(|error| multipart_error(error, settings))?
    {
        budget.take(chunk.len(), settings, &part)?;
        size += chunk.len() as u64;
        hasher.update(&chunk);
        file.write_all(&chunk).await.map_err(io)?;
    }
    file.flush().await.map_err(io)?;
    file.sync_all().await.map_err(io)?;
    Ok(ReceivedFile {
        size,
        sha256: hex::encode(hasher.finalize()),
    })
}

/// Reads one text field, at most [`MAX_FIELD_BYTES`].
async fn read_text(
    field: &mut Field<'_>,
    name: &str,
    budget: &mut Budget,
    settings: &UploadSettings,
) -> Result<String, ApiError> {
    let mut bytes = Vec::new();
    let part = format!("field `{name}`");
    while let Some(chunk) = field
        .chunk()
        .await
        .map_err(|error| multipart_error(error, settings))?
    {
        budget.take(chunk.len(), settings, &part)?;
        if bytes.len() + chunk.len() > MAX_FIELD_BYTES {
            return Err(ApiError::Malformed(format!(
                "{part} is longer than {MAX_FIELD_BYTES} bytes"
            )));
        }
        bytes.extend_from_slice(&chunk);
    }
    String::from_utf8(bytes).map_err(|_| ApiError::Malformed(format!("{part} is not UTF-8")))
}

impl Form {
    /// Records a text field; `tasks` may repeat, any other field is sent at most once.
    fn add(&mut self, name: &str, value: String) -> Result<(), ApiError> {
        if !is_field(name) {
            let fields: Vec<&str> = COMMON_FIELDS
                .into_iter()
                .chain(generative::REWARD_MODEL_FIELDS)
                .chain(generative::GENERATION_FIELDS)
                .collect();
            return Err(ApiError::Malformed(format!(
                "unknown field {name:?}: expected {} and the checkpoint's files as file parts",
                fields.join(", ")
            )));
        }
        let field = name;
        if field == "tasks" {
            self.tasks.extend(
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|task| !task.is_empty())
                    .map(str::to_owned),
            );
            return Ok(());
        }
        if self.values.insert(field.to_owned(), value).is_some() {
            return Err(ApiError::Malformed(format!(
                "field `{field}` is sent more than once"
            )));
        }
        Ok(())
    }

    fn validate(self, served: &Benchmark) -> Result<UploadRequest, ApiError> {
        let value = |field: &str| {
            self.values
                .get(field)
                .map(|value| value.trim())
                .filter(|value| !value.is_empty())
        };
        if let Some(kind) = value("kind")
            && kind != "checkpoint"
        {
            return Err(ApiError::InvalidParameter {
                parameter: "kind",
                value: kind.to_owned(),
                expected: "checkpoint (API judges are submitted as JSON)".to_owned(),
            });
        }
        let name = value("name")
            .ok_or_else(|| {
                ApiError::Malformed("field `name` (the leaderboard name) is required".to_owned())
            })?
            .to_owned();
        if name.chars().count() > 200 || name.chars().any(char::is_control) {
            return Err(ApiError::Malformed(
                "field `name` must be at most 200 characters, without control characters"
                    .to_owned(),
            ));
        }
        let settings = match value("settings").unwrap_or("both") {
            "both" => Setting::ALL.to_vec(),
            "with_ties" => vec![Setting::WithTies],
            "without_ties" => vec![Setting::WithoutTies],
            other => {
                return Err(ApiError::InvalidParameter {
                    parameter: "settings",
                    value: other.to_owned(),
                    expected: "one of both, with_ties, without_ties".to_owned(),
                });
            }
        };
        let tasks = crate::queue::submissions::parse_tasks(&self.tasks)?;
        let benchmark = crate::queue::submissions::chosen_tasks(served, &tasks)?;
        let max_length = value("max_length")
            .map(|given| whole_number("max_length", given, MAX_LENGTH_LIMIT))
            .transpose()?;
        let batch_tokens = value("batch_tokens")
            .map(|given| whole_number("batch_tokens", given, MAX_BATCH_TOKENS))
            .transpose()?
            .unwrap_or(DEFAULT_BATCH_TOKENS);
        let truncation = match value("truncation") {
            None => TruncationSide::Right,
            Some(given) => given.parse().map_err(|_| ApiError::InvalidParameter {
                parameter: "truncation",
                value: given.to_owned(),
                expected: "right or left".to_owned(),
            })?,
        };
        let reward_label = value("reward_label").map(str::to_owned);
        let reward_model_fields = generative::REWARD_MODEL_FIELDS
            .into_iter()
            .filter(|field| value(field).is_some())
            .collect();
        let generation = generative::choices(value)?;
        if reward_label
            .as_ref()
            .is_some_and(|label| label.chars().count() > 200)
        {
            return Err(ApiError::Malformed(
                "field `reward_label` must be at most 200 characters".to_owned(),
            ));
        }
        Ok(UploadRequest {
            name,
            settings,
            tasks,
            benchmark,
            max_length,
            truncation,
            batch_tokens,
            reward_label,
            reward_model_fields,
            generation,
        })
    }
}

fn whole_number(parameter: &'static str, given: &str, maximum: usize) -> Result<usize, ApiError> {
    given
        .parse::<usize>()
        .ok()
        .filter(|number| (1..=maximum).contains(number))
        .ok_or_else(|| ApiError::InvalidParameter {
            parameter,
            value: given.to_owned(),
            expected: format!("a whole number from 1 to {maximum}"),
        })
}

/// Moves the staged folder to `<uploads>/<address>` (or drops it when that folder exists: the
/// same content was uploaded before) and returns the folder's full path.
async fn place(staging: Staging, uploads: &Path, address: &str) -> Result<PathBuf, ApiError> {
    let target = uploads.join(address);
    let exists = |target: PathBuf| async move {
        tokio::fs::metadata(&target)
            .await
            .is_ok_and(|metadata| metadata.is_dir())
    };
    if exists(target.clone()).await {
        staging.discard().await;
    } else {
        match tokio::fs::rename(staging.path(), &target).await {
            Ok(()) => staging.keep(),
            // An identical upload finished first.
            Err(_) if exists(target.clone()).await => staging.discard().await,
            Err(error) => {
                staging.discard().await;
                return Err(ApiError::Internal(format!(
                    "cannot store an upload in {}: {error}",
                    target.display()
                )));
            }
        }
    }
    tokio::fs::canonicalize(&target).await.map_err(|error| {
        ApiError::Internal(format!("cannot resolve {}: {error}", target.display()))
    })
}

/// Queues the accepted checkpoint, stored in `folder`, through the submissions service.
async fn submit(
    state: &AppState,
    accepted: &Accepted,
    folder: PathBuf,
) -> Result<(Enqueued, RunId), ApiError> {
    let request = &accepted.request;
    // A GGUF chat model is the file in its folder, as `eval checkpoint FILE.gguf` names it.
    let folder = match &accepted.chat_model {
        Some((_, Some(gguf_file))) => folder.join(gguf_file),
        _ => folder,
    };
    let checkpoint = UploadedCheckpoint {
        name: request.name.clone(),
        folder,
        checkpoint_sha256: accepted.sha256.clone(),
        weights_sha256: accepted.weights_sha256.clone(),
        architecture: accepted.architecture.clone(),
        parameter_count: accepted.parameter_count,
        files: accepted.files.keys().cloned().collect(),
        bytes: accepted.files.values().map(|file| file.size).sum(),
        settings: request.settings.clone(),
        tasks: request.tasks.clone(),
        benchmark: request.benchmark.clone(),
        max_length: request.max_length,
        truncation: request.truncation,
        batch_tokens: request.batch_tokens,
        reward_label: request.reward_label.clone(),
        generation: accepted
            .chat_model
            .as_ref()
            .map(|(choices, _)| choices.clone()),
    };
    checkpoints::submit(
        &state.storage,
        &state.benchmark,
        &checkpoint,
        state.require_approval,
    )
    .await
    .map_err(|error| match error {
        CheckpointSubmissionError::Storage(error) => ApiError::Storage(error),
        other => ApiError::Internal(other.to_string()),
    })
}

/// Distinguishes staging folders made in the same nanosecond by one process.
static STAGING_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh folder inside the uploads folder that an upload is streamed into; removed unless
/// kept, also when the request is dropped half-way (the client went away).
struct Staging {
    path: PathBuf,
    armed: bool,
}

impl Staging {
    async fn create(uploads: &Path) -> Result<Staging, ApiError> {
        let internal = |error: std::io::Error| {
            ApiError::Internal(format!(
                "cannot create a staging folder in {}: {error}",
                uploads.display()
            ))
        };
        tokio::fs::create_dir_all(uploads).await.map_err(internal)?;
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.subsec_nanos());
        let path = uploads.join(format!(
            "{STAGING_PREFIX}{}-{}-{nanos}",
            std::process::id(),
            STAGING_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        tokio::fs::create_dir(&path).await.map_err(internal)?;
        Ok(Staging { path, armed: true })
    }

    fn path(&self) -> &Path {
        &self.path
    }

    /// Deletes the folder and everything in it.
    async fn discard(mut self) {
        self.armed = false;
        if let Err(error) = tokio::fs::remove_dir_all(&self.path).await {
            tracing::warn!(folder = %self.path.display(), %error, "cannot remove a staging folder");
        }
    }

    /// Leaves the folder to its new owner (it was moved).
    fn keep(mut self) {
        self.armed = false;
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let path = std::mem::take(&mut self.path);
        let remove = move || {
            let _ = std::fs::remove_dir_all(path);
        };
        // Off the async workers when there is a runtime (there is, in a handler).
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn_blocking(remove);
            }
            Err(_) => remove(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_must_be_plain_checkpoint_files() {
        let files = BTreeMap::new();
        for accepted in [
            "config.json",
            "model.safetensors",
            "model-00001-of-00002.safetensors",
            "chat_template.jinja",
            "vocab.txt",
            "tokenizer.model",
            "README.md",
        ] {
            assert!(check_file_name(accepted, &files).is_ok(), "{accepted}");
        }
        for refused in [
            "",
            "../x",
            "a/b",
            "..",
            ".",
            ".hidden.json",
            "/etc/passwd",
            "a\\b.json",
            "C:config.json",
            "nul\0.json",
            "model.bin",
            "weights.PT",
            "model.pkl",
            "script.py",
            "noextension",
        ] {
            assert!(check_file_name(refused, &files).is_err(), "{refused:?}");
        }
        let pickle = check_file_name("pytorch_model.bin", &files).expect_err("pickle");
        assert!(pickle.to_string().contains("pickle"), "{pickle}");
        let mut sent = BTreeMap::new();
        sent.insert(
            "config.json".to_owned(),
            ReceivedFile {
                size: 1,
                sha256: String::new(),
            },
        );
        let twice = check_file_name("config.json", &sent).expect_err("duplicate");
        assert!(twice.to_string().contains("more than once"), "{twice}");
    }

    #[test]
    fn fields_are_known_and_sent_once() {
        let mut form = Form::default();
        form.add("name", "m".to_owned()).expect("known");
        assert!(form.add("name", "again".to_owned()).is_err());
        assert!(form.add("api_key", "secret".to_owned()).is_err());
        form.add("tasks", "T2T, TI2T".to_owned()).expect("tasks");
        form.add("tasks", "T2I".to_owned()).expect("tasks repeat");
        assert_eq!(form.tasks, ["T2T", "TI2T", "T2I"]);
        assert!(whole_number("max_length", "0", 10).is_err());
        assert!(whole_number("max_length", "11", 10).is_err());
        assert_eq!(whole_number("max_length", "10", 10).ok(), Some(10));
    }

    #[test]
    fn abandoned_staging_folders_are_removed_at_startup() {
        let folder = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(folder.path().join(".incoming-1-2-3/sub")).expect("staging");
        std::fs::create_dir_all(folder.path().join("abc")).expect("a checkpoint");
        assert_eq!(remove_abandoned_staging(folder.path()).ok(), Some(1));
        assert!(folder.path().join("abc").is_dir());
        assert_eq!(
            remove_abandoned_staging(&folder.path().join("missing")).ok(),
            Some(0)
        );
    }
}
