//! A scripted OpenAI-compatible chat-completions server on 127.0.0.1, for tests and benches.
//!
//! It checks every request (model, roles, string content for text-only messages, content part
//! types, data URLs, media counts per task) and answers by a policy, with scripted failures: 429
//! with `Retry-After`, 500, a stalled answer (client timeout), malformed JSON and unparseable
//! text. Usage counts are fixed per answer so cost accounting can be checked exactly.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use omnireward_shared::{Sample, Task};
use serde_json::{Value, json};

/// What the server answers for a request it has identified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// The correct verdict for the order that was shown.
    Oracle,
    /// Always `[[A]]`.
    AlwaysA,
}

/// A scripted failure for the first `times` requests of one sample (any setting and order).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// HTTP 429 with `Retry-After: 0`.
    RateLimited,
    /// HTTP 500.
    ServerError,
    /// Sleeps past the client's timeout before answering.
    Stall(Duration),
    /// A 200 response whose body is not JSON.
    MalformedJson,
    /// A verdict-free text answer.
    Unparseable,
}

/// One request the server saw.
#[derive(Clone, Debug)]
pub struct Seen {
    /// The sample it was about.
    pub sample_id: String,
    /// Whether the system prompt offered a tie.
    pub with_ties: bool,
    /// Whether A showed `response2`.
    pub swapped: bool,
    /// The session marker at the time.
    pub session: u32,
    /// What was answered (status, text).
    pub answered: String,
}

/// The server's configuration and record.
pub struct Script {
    /// The model name requests must carry.
    pub model: String,
    /// The samples requests are about.
    pub samples: Vec<Sample>,
    /// Request fingerprints (see [`fingerprint`]) → (sample index, with ties, swapped).
    pub identities: HashMap<u64, (usize, bool, bool)>,
    /// Policy per task (default oracle).
    pub answers: HashMap<Task, Answer>,
    /// Failures per sample id: (failure, how many first requests get it).
    pub failures: HashMap<String, (Failure, u32)>,
    /// Added latency for every answer.
    pub latency: Duration,
    /// Prompt and completion tokens reported per answer.
    pub usage: (u64, u64),
    /// A marker tests bump between sessions of a run.
    pub session: u32,
    /// Benchmarks: answer `[[A]]` at once without identifying or checking the request.
    pub fast: bool,
    /// Everything seen.
    pub seen: Vec<Seen>,
    /// Protocol violations found in requests.
    pub violations: Vec<String>,
    /// Every distinct `Authorization` header seen.
    pub authorizations: std::collections::BTreeSet<String>,
    /// Requests per sample id so far (for the scripted failures).
    requests: HashMap<String, u32>,
}

impl Script {
    /// A script for `samples` expecting `model`.
    pub fn new(model: &str, samples: Vec<Sample>) -> Self {
        Self {
            model: model.to_owned(),
            samples,
            identities: HashMap::new(),
            answers: HashMap::new(),
            failures: HashMap::new(),
            latency: Duration::ZERO,
            usage: (100, 10),
            session: 0,
            fast: false,
            seen: Vec::new(),
            violations: Vec::new(),
            authorizations: std::collections::BTreeSet::new(),
            requests: HashMap::new(),
        }
    }
}

/// The shared handle tests hold.
pub type Shared = Arc<Mutex<Script>>;

/// Starts the server; returns its base URL (`http://127.0.0.1:PORT/v1`).
pub async fn start(script: Shared) -> String {
    let app = Router::new()
        .route("/v1/chat/completions", post(completions))
        .with_state(script);
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("bind 127.0.0.1");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{address}/v1")
}

/// A fingerprint of a request's `messages`.
pub fn fingerprint(messages: &Value) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    messages.to_string().hash(&mut hasher);
    hasher.finish()
}

fn truncate(text: &str) -> String {
    text.chars().take(120).collect()
}

fn text_parts(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|part| part.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// Expected (image parts, audio parts) per task with the default frame counts and joined audio.
pub fn expected_parts(task: Task) -> (usize, usize) {
    match task {
        Task::TextToText => (0, 0),
        Task::TextImageToText => (1, 0),
        Task::TextVideoToText => (10, 0),
        Task::TextAudioToText => (0, 1),
        Task::TextToImage | Task::TextTo3d => (2, 0),
        Task::TextToVideo => (10, 0),
        Task::TextToAudio => (0, 1),
        Task::TextImageToImage => (3, 0),
    }
}

/// A message without media must be one string (servers such as llama.cpp's reject a list of
/// text parts); one with media, a list of parts.
fn check_parts(task: Task, content: &Value, violations: &mut Vec<String>, id: &str) {
    if content.is_string() {
        if expected_parts(task) != (0, 0) {
            violations.push(format!(
                "{id} ({task}): user content is a string, not media parts"
            ));
        }
        return;
    }
    let Some(parts) = content.as_array() else {
        violations.push(format!(
            "{id}: user content is neither a string nor a list of parts"
        ));
        return;
    };
    if expected_parts(task) == (0, 0) {
        violations.push(format!(
            "{id} ({task}): text-only user content is a list, not a string"
        ));
    }
    let engine = base64::engine::general_purpose::STANDARD;
    let (mut images, mut audio) = (0, 0);
    for part in parts {
        match part.get("type").and_then(Value::as_str) {
            Some("text") => {
                if part.get("text").and_then(Value::as_str).is_none() {
                    violations.push(format!("{id}: text part without text"));
                }
            }
            Some("image_url") => {
                images += 1;
                let url = part
                    .pointer("/image_url/url")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let valid = url
                    .strip_prefix("data:image/jpeg;base64,")
                    .and_then(|data| engine.decode(data).ok())
                    .is_some_and(|bytes| bytes.starts_with(&[0xFF, 0xD8, 0xFF]));
                if !valid {
                    violations.push(format!("{id}: image_url is not a base64 JPEG data URL"));
                }
            }
            Some("input_audio") => {
                audio += 1;
                let data = part
                    .pointer("/input_audio/data")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let format = part.pointer("/input_audio/format").and_then(Value::as_str);
                let valid = engine.decode(data).is_ok_and(|bytes| {
                    bytes.starts_with(b"RIFF") && bytes.get(8..12) == Some(b"WAVE")
                });
                if !valid || format != Some("wav") {
                    violations.push(format!("{id}: input_audio is not base64 WAV"));
                }
            }
            other => violations.push(format!("{id}: unknown content part type {other:?}")),
        }
    }
    if (images, audio) != expected_parts(task) {
        violations.push(format!(
            "{id} ({task}): {images} image and {audio} audio parts, expected {:?}",
            expected_parts(task)
        ));
    }
}

fn completion(text: &str, usage: (u64, u64)) -> Response {
    Json(json!({
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": usage.0, "completion_tokens": usage.1, "total_tokens": usage.0 + usage.1},
    }))
    .into_response()
}

async fn completions(
    State(script): State<Shared>,
    headers: axum::http::HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if let Some(authorization) = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
    {
        script
            .lock()
            .expect("script lock")
            .authorizations
            .insert(authorization.to_owned());
    }
    let (reply, latency, stall) = decide(&script, &body);
    if let Some(stall) = stall {
        tokio::time::sleep(stall).await;
    }
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    reply
}

fn decide(script: &Shared, body: &Value) -> (Response, Duration, Option<Duration>) {
    let mut guard = script.lock().expect("script lock");
    let state = &mut *guard;
    let latency = state.latency;
    if state.fast {
        return (completion("Fast answer. [[A]]", state.usage), latency, None);
    }
    let system = body
        .pointer("/messages/0/content")
        .map(text_parts)
        .unwrap_or_default();
    let user_content = body
        .pointer("/messages/1/content")
        .cloned()
        .unwrap_or(Value::Null);
    let user = text_parts(&user_content);
    if body.get("model").and_then(Value::as_str) != Some(state.model.as_str()) {
        state
            .violations
            .push(format!("wrong model: {:?}", body.get("model")));
    }
    if body.pointer("/messages/0/role").and_then(Value::as_str) != Some("system")
        || body.pointer("/messages/1/role").and_then(Value::as_str) != Some("user")
    {
        state
            .violations
            .push("messages are not [system, user]".to_owned());
    }
    // Identify the item by its exact messages (the tests precompute them for every item).
    let fingerprint = fingerprint(body.get("messages").unwrap_or(&Value::Null));
    let Some(&(index, with_ties, swapped)) = state.identities.get(&fingerprint) else {
        state
            .violations
            .push(format!("unknown request: {}", truncate(&user)));
        return (
            (StatusCode::BAD_REQUEST, "cannot identify the sample").into_response(),
            Duration::ZERO,
            None,
        );
    };
    let sample = state.samples[index].clone();
    check_parts(
        sample.task,
        &user_content,
        &mut state.violations,
        &sample.id,
    );
    if with_ties != system.contains("[[C]]") {
        state.violations.push(format!(
            "{}: the tie option does not match the setting",
            sample.id
        ));
    }
    let count = {
        let entry = state.requests.entry(sample.id.clone()).or_insert(0);
        *entry += 1;
        *entry
    };
    let failure = state
        .failures
        .get(&sample.id)
        .filter(|(_, times)| count <= *times)
        .map(|(failure, _)| *failure);
    let usage = state.usage;
    let (reply, answered, stall) = match failure {
        Some(Failure::RateLimited) => (
            (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", "0")],
                "slow down",
            )
                .into_response(),
            "429".to_owned(),
            None,
        ),
        Some(Failure::ServerError) => (
            (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response(),
            "500".to_owned(),
            None,
        ),
        Some(Failure::MalformedJson) => (
            (
                StatusCode::OK,
                [("content-type", "application/json")],
                "{\"choices\": [",
            )
                .into_response(),
            "malformed".to_owned(),
            None,
        ),
        Some(Failure::Stall(duration)) => (
            completion("late [[A]]", usage),
            "stalled".to_owned(),
            Some(duration),
        ),
        Some(Failure::Unparseable) => (
            completion("I cannot decide between them.", usage),
            "unparseable".to_owned(),
            None,
        ),
        None => {
            let answer = state
                .answers
                .get(&sample.task)
                .copied()
                .unwrap_or(Answer::Oracle);
            let marker = match answer {
                Answer::AlwaysA => "[[A]]",
                Answer::Oracle => {
                    let shown_first_is_response1 = !swapped;
                    match sample.label {
                        omnireward_shared::Label::Tie if with_ties => "[[C]]",
                        omnireward_shared::Label::Tie => "[[A]]",
                        omnireward_shared::Label::Response1 if shown_first_is_response1 => "[[A]]",
                        omnireward_shared::Label::Response1 => "[[B]]",
                        omnireward_shared::Label::Response2 if shown_first_is_response1 => "[[B]]",
                        omnireward_shared::Label::Response2 => "[[A]]",
                    }
                }
            };
            let text = format!("Looking at the criterion, the better response is clear. {marker}");
            (completion(&text, usage), text, None)
        }
    };
    state.seen.push(Seen {
        sample_id: sample.id.clone(),
        with_ties,
        swapped,
        session: state.session,
        answered,
    });
    (reply, latency, stall)
}
