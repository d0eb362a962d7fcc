//! Checkpoint uploads over HTTP, in process through `app(state)` with `oneshot`: a valid upload
//! queued, run by a worker to its scorecard and ranked; the same upload again answered with the
//! same submission; and refusals (broken weights, pickles, traversal names, size, architecture,
//! missing files) that leave nothing behind: no files in the uploads folder, no rows.

use crate::support::test_app::{Reply, TestApp, send, worker_context};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use omnireward::http::UploadSettings;
use omnireward::queue::worker::{WorkerContext, WorkerSummary, run_worker};
use serde_json::{Value, json};
use tempfile::TempDir;

pub(crate) const BOUNDARY: &str = "omnireward-upload-test-7d1c";

/// A checkpoint's files: names and contents.
type Files = Vec<(String, Vec<u8>)>;

/// A refused upload: what is wrong, its fields, its files, the status, and what the message
/// names.
type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Files, u16, &'a str);

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("local-judge/tests/fixtures")
        .join(name)
}

/// Every file of a fixture checkpoint, by name.
fn checkpoint_files(name: &str) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(fixture(name))
        .expect("fixture folder")
        .map(|entry| {
            let entry = entry.expect("entry");
            (
                entry.file_name().to_string_lossy().into_owned(),
                std::fs::read(entry.path()).expect("fixture file"),
            )
        })
        .collect();
    files.sort();
    files
}

fn replace(files: &mut Vec<(String, Vec<u8>)>, name: &str, bytes: Vec<u8>) {
    files.retain(|(file, _)| file != name);
    files.push((name.to_owned(), bytes));
}

fn remove(files: &mut Vec<(String, Vec<u8>)>, name: &str) -> Vec<u8> {
    let position = files
        .iter()
        .position(|(file, _)| file == name)
        .expect("the file is there");
    files.remove(position).1
}

/// A `multipart/form-data` body: text fields, then one part per file named by its file name.
pub(crate) fn multipart_body(fields: &[(&str, &str)], files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    for (file, bytes) in files {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"files\"; \
                 filename=\"{file}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

/// A home serving the embedded sample that takes uploads of up to `max_bytes`.
pub(crate) async fn test_app(max_bytes: u64) -> TestApp {
    TestApp::start(false, |state, home| {
        state.with_uploads(UploadSettings {
            folder: home.join("uploads"),
            max_bytes,
        })
    })
    .await
}

impl TestApp {
    pub(crate) fn uploads(&self) -> PathBuf {
        self.home.path().join("uploads")
    }

    /// What the uploads folder holds (it may not exist yet).
    pub(crate) fn uploaded(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.uploads())
            .map(|entries| {
                entries
                    .map(|entry| {
                        entry
                            .expect("entry")
                            .file_name()
                            .to_string_lossy()
                            .into_owned()
                    })
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    pub(crate) fn worker_context(&self) -> WorkerContext {
        worker_context(self.home.path())
    }

    pub(crate) async fn upload(
        &self,
        fields: &[(&str, &str)],
        files: &[(String, Vec<u8>)],
    ) -> Reply {
        let body = multipart_body(fields, files);
        let request = Request::builder()
            .method(Method::POST)
            .uri("/api/v1/submissions")
            .header(
                header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .header(header::CONTENT_LENGTH, body.len())
            .body(Body::from(body))
            .expect("request");
        send(&self.router, request).await
    }

    pub(crate) async fn get(&self, uri: &str) -> Reply {
        let request = Request::builder()
            .uri(uri)
            .body(Body::empty())
            .expect("request");
        send(&self.router, request).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_opens_the_run_an_upload_of_the_same_files_opened() {
    let app = test_app(64 * 1024 * 1024).await;
    let fields = [("name", "bert-tiny"), ("batch_tokens", "2048")];
    let created = app.upload(&fields, &checkpoint_files("bert-tiny")).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let (_, run) = created.ids();
    // The same files from their own folder, under the same options, on the same database: one
    // identity, so the command line resumes the uploaded run instead of starting another.
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_omnireward"))
        .arg("--home")
        .arg(app.home.path())
        .args(["eval", "checkpoint"])
        .arg(fixture("bert-tiny"))
        .args(["--name", "bert-tiny", "--batch-tokens", "4096", "--json"])
        .output()
        .await
        .expect("runs omnireward");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(report["run"], run, "{report}");
    let evaluated = app
        .storage
        .runs()
        .await
        .expect("lists runs")
        .into_iter()
        .filter(|record| record.provenance == omnireward::storage::Provenance::Evaluated)
        .count();
    assert_eq!(evaluated, 1, "one run for one identity");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_is_queued_run_by_a_worker_ranked_and_found_again() {
    let app = test_app(64 * 1024 * 1024).await;
    let files = checkpoint_files("bert-tiny");
    let fields = [("name", "bert-tiny upload"), ("batch_tokens", "2048")];
    let created = app.upload(&fields, &files).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let body = created.json();
    assert_eq!(body["status"], "queued");
    assert_eq!(body["position"], 1);
    assert_eq!(
        body["checkpoint"]["architecture"],
        "BertForSequenceClassification"
    );
    let sha256 = body["checkpoint"]["sha256"].as_str().expect("address");
    let (submission, run) = created.ids();
    // Only the content-addressed folder is left, holding every file.
    assert_eq!(app.uploaded(), [sha256]);
    for (name, bytes) in &files {
        assert_eq!(
            &std::fs::read(app.uploads().join(sha256).join(name)).expect("stored"),
            bytes
        );
    }
    let listed = app.get(&format!("/api/v1/submissions/{submission}")).await;
    assert_eq!(listed.json()["kind"], "checkpoint");
    assert_eq!(listed.json()["model"], "bert-tiny upload");

    let summary = run_worker(
        app.storage.clone(),
        &app.worker_context(),
        "worker-1",
        Arc::new(AtomicBool::new(false)),
    )
    .await
    .expect("the worker runs");
    assert_eq!(
        summary,
        WorkerSummary {
            claimed: 1,
            ended: 1
        }
    );
    let job = app.get(&format!("/api/v1/submissions/{submission}")).await;
    assert_eq!(job.json()["status"], "finished", "{}", job.text());
    let record = app.get(&format!("/api/v1/runs/{run}")).await.json();
    assert_eq!(record["status"], "finished");
    assert_eq!(record["model"]["kind"], "scalar_reward_model");
    let model = app
        .get(&format!("/api/v1/models/{}", record["model"]["id"]))
        .await
        .json();
    assert_eq!(model["kind"], "scalar_reward_model");
    assert_eq!(model["parameters"], "26.0K", "{model}");
    assert_eq!(
        record["scorecard"]["settings"]["with_ties"]["overall"]["tasks_covered"], 4,
        "{record}"
    );
    assert_eq!(record["configuration"]["identity"]["judge"], "checkpoint");
    let judgements = app
        .storage
        .judgements(omnireward::storage::RunId(run))
        .await
        .expect("reads");
    assert!(
        judgements
            .iter()
            .all(|judgement| judgement.rewards.is_some())
    );

    let board = app
        .get("/api/v1/leaderboard?setting=with_ties&type=scalar_reward_model")
        .await;
    assert_eq!(board.status, StatusCode::OK, "{}", board.text());
    let rows = board.json()["rows"].clone();
    assert!(
        rows.as_array()
            .expect("rows")
            .iter()
            .any(|row| row["model"] == "bert-tiny upload" && row["run"] == run),
        "{rows}"
    );

    // The same upload again: the same submission, nothing new stored.
    let again = app.upload(&fields, &files).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text());
    assert_eq!(again.ids(), (submission, run));
    assert_eq!(again.json()["status"], "finished");
    assert_eq!(app.uploaded(), [sha256]);
    assert_eq!(app.storage.jobs().await.expect("lists").len(), 1);

    // The same files under other options are another run of the same folder.
    let other = app
        .upload(
            &[("name", "bert-tiny upload"), ("max_length", "64")],
            &files,
        )
        .await;
    assert_eq!(other.status, StatusCode::CREATED, "{}", other.text());
    assert_ne!(other.ids().1, run);
    assert_eq!(app.uploaded(), [sha256]);
}

/// Rewrites the first tensor's shape in a safetensors header, keeping its offsets: the header
/// then lies about the tensor's size.
fn lying_header(weights: &[u8]) -> Vec<u8> {
    let length = usize::try_from(u64::from_le_bytes(
        weights[..8].try_into().expect("8 bytes"),
    ))
    .expect("fits");
    let mut header: serde_json::Map<String, Value> =
        serde_json::from_slice(&weights[8..8 + length]).expect("header JSON");
    let tensor = header
        .iter_mut()
        .find(|(name, _)| name.as_str() != "__metadata__")
        .map(|(_, tensor)| tensor)
        .expect("a tensor");
    tensor["shape"] = json!([1024, 1024]);
    let mut text = serde_json::to_vec(&header).expect("encodes");
    while !text.len().is_multiple_of(8) {
        text.push(b' ');
    }
    let mut lying = (text.len() as u64).to_le_bytes().to_vec();
    lying.extend_from_slice(&text);
    lying.extend_from_slice(&weights[8 + length..]);
    lying
}

#[tokio::test]
async fn refused_uploads_leave_nothing_behind() {
    let app = test_app(64 * 1024 * 1024).await;
    let valid = checkpoint_files("bert-tiny");
    let name = [("name", "refused")];
    let weights = valid
        .iter()
        .find(|(file, _)| file == "model.safetensors")
        .map(|(_, bytes)| bytes.clone())
        .expect("weights");

    let mut cases: Vec<Case> = Vec::new();
    let mut truncated = valid.clone();
    replace(
        &mut truncated,
        "model.safetensors",
        weights[..weights.len() - 100].to_vec(),
    );
    cases.push((
        "truncated weights",
        name.to_vec(),
        truncated,
        422,
        "model.safetensors",
    ));
    let mut lying = valid.clone();
    replace(&mut lying, "model.safetensors", lying_header(&weights));
    cases.push((
        "a header lying about sizes",
        name.to_vec(),
        lying,
        422,
        "model.safetensors",
    ));
    let mut pickle = valid.clone();
    pickle.insert(0, ("pytorch_model.bin".to_owned(), b"not really".to_vec()));
    cases.push((
        "a pickle file",
        name.to_vec(),
        pickle,
        422,
        "pytorch_model.bin",
    ));
    for traversal in ["../x", "a/b", ".."] {
        let mut files = valid.clone();
        files.push((traversal.to_owned(), b"{}".to_vec()));
        cases.push(("a traversal name", name.to_vec(), files, 400, traversal));
    }
    let mut unsupported = valid.clone();
    replace(
        &mut unsupported,
        "config.json",
        br#"{"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2"}"#.to_vec(),
    );
    cases.push((
        "an unsupported architecture",
        name.to_vec(),
        unsupported,
        422,
        "GPT2LMHeadModel",
    ));
    let mut no_tokenizer = valid.clone();
    remove(&mut no_tokenizer, "tokenizer.json");
    cases.push((
        "a missing tokenizer",
        name.to_vec(),
        no_tokenizer,
        422,
        "tokenizer.json",
    ));
    // Shards: the index names a second shard that is not sent.
    let mut sharded = valid.clone();
    let single = remove(&mut sharded, "model.safetensors");
    let length =
        usize::try_from(u64::from_le_bytes(single[..8].try_into().expect("8"))).expect("fits");
    let header: serde_json::Map<String, Value> =
        serde_json::from_slice(&single[8..8 + length]).expect("header");
    let mut weight_map: serde_json::Map<String, Value> = header
        .keys()
        .filter(|tensor| tensor.as_str() != "__metadata__")
        .map(|tensor| (tensor.clone(), json!("model-00001-of-00002.safetensors")))
        .collect();
    weight_map.insert(
        "classifier.extra".to_owned(),
        json!("model-00002-of-00002.safetensors"),
    );
    sharded.push(("model-00001-of-00002.safetensors".to_owned(), single));
    sharded.push((
        "model.safetensors.index.json".to_owned(),
        serde_json::to_vec(&json!({"metadata": {}, "weight_map": weight_map})).expect("index"),
    ));
    cases.push((
        "a missing shard",
        name.to_vec(),
        sharded,
        422,
        "model-00002-of-00002.safetensors",
    ));
    let mut twice = valid.clone();
    twice.push(("config.json".to_owned(), b"{}".to_vec()));
    cases.push((
        "a file sent twice",
        name.to_vec(),
        twice,
        400,
        "config.json",
    ));
    cases.push(("no name", Vec::new(), valid.clone(), 400, "name"));
    cases.push((
        "an unknown field",
        vec![("name", "x"), ("api_key", "secret")],
        valid.clone(),
        400,
        "api_key",
    ));
    cases.push((
        "a bad option",
        vec![("name", "x"), ("truncation", "middle")],
        valid.clone(),
        400,
        "truncation",
    ));
    cases.push(("no files", name.to_vec(), Vec::new(), 400, "no files"));

    for (what, fields, files, status, named) in cases {
        let reply = app.upload(&fields, &files).await;
        assert_eq!(reply.status.as_u16(), status, "{what}: {}", reply.text());
        let (_, message) = reply.error();
        assert!(message.contains(named), "{what}: {message}");
        assert!(app.uploaded().is_empty(), "{what}: {:?}", app.uploaded());
    }
    assert!(app.storage.jobs().await.expect("lists").is_empty());
    assert!(app.storage.runs().await.expect("lists").is_empty());
}

#[tokio::test]
async fn uploads_over_the_limit_are_refused_with_413() {
    let app = test_app(32 * 1024).await;
    // Streamed past the limit (the declared length is within the framing allowance).
    let reply = app
        .upload(&[("name", "too large")], &checkpoint_files("bert-tiny"))
        .await;
    assert_eq!(
        reply.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        reply.text()
    );
    let (code, message) = reply.error();
    assert_eq!(code, "payload_too_large");
    assert!(message.contains("32768 bytes"), "{message}");
    // Declared larger than the limit and its framing: refused before reading.
    let huge = vec![(
        "model.safetensors".to_owned(),
        vec![0_u8; 1024 * 1024 + 64 * 1024],
    )];
    let reply = app.upload(&[("name", "too large")], &huge).await;
    assert_eq!(
        reply.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        reply.text()
    );
    assert!(app.uploaded().is_empty(), "{:?}", app.uploaded());
    assert!(app.storage.jobs().await.expect("lists").is_empty());
}

#[tokio::test]
async fn json_submissions_keep_their_route_and_limit() {
    let app = test_app(64 * 1024 * 1024).await;
    let request = |body: Vec<u8>| {
        Request::builder()
            .method(Method::POST)
            .uri("/api/v1/submissions")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .expect("request")
    };
    // An API judge is still validated by the JSON path.
    let reply = send(
        &app.router,
        request(
            json!({"kind": "api_judge", "endpoint": "http://127.0.0.1:9/v1",
                       "model": "m", "settings": "both", "swap": false})
            .to_string()
            .into_bytes(),
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text());
    assert!(reply.text().contains("endpoint"), "{}", reply.text());
    // Bodies over 1 MiB are refused even though uploads may be larger.
    let mut large = request(vec![b' '; 2 * 1024 * 1024]);
    large.headers_mut().insert(
        header::CONTENT_LENGTH,
        header::HeaderValue::from(2 * 1024 * 1024),
    );
    let reply = send(&app.router, large).await;
    assert_eq!(
        reply.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        reply.text()
    );
    // Without a declared length the body is read up to the predictions limit, then refused
    // as too large for anything but predictions.
    let reply = send(&app.router, request(vec![b' '; 2 * 1024 * 1024])).await;
    assert_eq!(
        reply.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        reply.text()
    );
    assert!(
        reply.text().contains("other than predictions"),
        "{}",
        reply.text()
    );
    // A server without an uploads folder refuses uploads plainly.
    let without = TestApp::start(false, |state, _| state).await;
    let reply = without
        .upload(&[("name", "x")], &checkpoint_files("bert-tiny"))
        .await;
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        reply.text()
    );
    assert!(without.uploaded().is_empty());
}

/// Sends SIGINT, as Ctrl-C does.
fn interrupt(child: &std::process::Child) {
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("runs kill");
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_with_a_worker_runs_an_upload_and_stops_on_ctrl_c() {
    use std::io::BufRead as _;

    let home = TempDir::new().expect("home");
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_omnireward"))
        .arg("--home")
        .arg(home.path())
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--no-demo",
            "--workers",
            "1",
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("starts the server");
    let stderr = server.stderr.take().expect("stderr");
    let (address_sender, address) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut sender = Some(address_sender);
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Some(rest) = line.split("on http://").nth(1)
                && let Some(sender) = sender.take()
            {
                let _ = sender.send(rest.split('/').next().unwrap_or_default().to_owned());
            }
        }
    });
    let address = address
        .recv_timeout(Duration::from_secs(60))
        .expect("the server says where it listens");
    let base = format!("http://{address}/api/v1");
    let client = reqwest::Client::new();
    let body = multipart_body(&[("name", "served upload")], &checkpoint_files("bert-tiny"));
    let created = client
        .post(format!("{base}/submissions"))
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(body)
        .send()
        .await
        .expect("uploads");
    assert_eq!(created.status().as_u16(), 201);
    let created: Value = created.json().await.expect("JSON");
    let submission = created["submission"].as_i64().expect("an id");
    assert!(
        home.path()
            .join("uploads")
            .join(created["checkpoint"]["sha256"].as_str().expect("address"))
            .is_dir()
    );

    // The server's own worker claims and finishes it.
    let mut status = Value::Null;
    for _ in 0..600 {
        let view: Value = client
            .get(format!("{base}/submissions/{submission}"))
            .send()
            .await
            .expect("reads")
            .json()
            .await
            .expect("JSON");
        status = view["status"].clone();
        if status == "finished" || status == "failed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, "finished");

    interrupt(&server);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(exit) = server.try_wait().expect("polls") {
            break exit;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the server did not stop on Ctrl-C"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(exit.success(), "{exit}");
}

/// Splits a single-file safetensors checkpoint into two shards (the first tensor, then the
/// others) and the index that names them.
fn sharded(weights: &[u8]) -> Files {
    let length =
        usize::try_from(u64::from_le_bytes(weights[..8].try_into().expect("8"))).expect("fits");
    let header: serde_json::Map<String, Value> =
        serde_json::from_slice(&weights[8..8 + length]).expect("header");
    let data = &weights[8 + length..];
    let tensors: Vec<(&String, &Value)> = header
        .iter()
        .filter(|(name, _)| name.as_str() != "__metadata__")
        .collect();
    let (first, rest) = tensors.split_at(1);
    let names = [
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
    ];
    let mut files = Vec::new();
    let mut weight_map = serde_json::Map::new();
    for (name, group) in names.into_iter().zip([first, rest]) {
        let mut shard_header = serde_json::Map::new();
        let mut shard_data = Vec::new();
        for (tensor, info) in group {
            let offsets = info["data_offsets"].as_array().expect("offsets");
            let start = usize::try_from(offsets[0].as_u64().expect("start")).expect("fits");
            let end = usize::try_from(offsets[1].as_u64().expect("end")).expect("fits");
            let mut info = (*info).clone();
            info["data_offsets"] = json!([shard_data.len(), shard_data.len() + end - start]);
            shard_data.extend_from_slice(&data[start..end]);
            shard_header.insert((*tensor).clone(), info);
            weight_map.insert((*tensor).clone(), json!(name));
        }
        let mut text = serde_json::to_vec(&shard_header).expect("encodes");
        while !text.len().is_multiple_of(8) {
            text.push(b' ');
        }
        let mut shard = (text.len() as u64).to_le_bytes().to_vec();
        shard.extend_from_slice(&text);
        shard.extend_from_slice(&shard_data);
        files.push((name.to_owned(), shard));
    }
    files.push((
        "model.safetensors.index.json".to_owned(),
        serde_json::to_vec(&json!({"metadata": {}, "weight_map": weight_map})).expect("index"),
    ));
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sharded_upload_is_hashed_in_shard_order_and_runs() {
    use sha2::{Digest as _, Sha256};

    let app = test_app(64 * 1024 * 1024).await;
    let mut files = checkpoint_files("bert-tiny");
    let weights = remove(&mut files, "model.safetensors");
    let shards = sharded(&weights);
    // The second shard is sent first: the weights hash still follows the file names.
    for shard in shards.into_iter().rev() {
        files.insert(0, shard);
    }
    let mut expected = Sha256::new();
    for name in [
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
    ] {
        let (_, bytes) = files
            .iter()
            .find(|(file, _)| file == name)
            .expect("a shard");
        expected.update(bytes);
    }
    let created = app.upload(&[("name", "sharded")], &files).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let body = created.json();
    assert_eq!(
        body["checkpoint"]["weights_sha256"],
        hex::encode(expected.finalize())
    );
    let summary = run_worker(
        app.storage.clone(),
        &app.worker_context(),
        "worker-1",
        Arc::new(AtomicBool::new(false)),
    )
    .await
    .expect("the worker runs");
    assert_eq!(summary.ended, 1);
    let (submission, _) = created.ids();
    let job = app.get(&format!("/api/v1/submissions/{submission}")).await;
    assert_eq!(job.json()["status"], "finished", "{}", job.text());
}

/// The files of a vision-language fixture that make up its checkpoint (its parity data left
/// out): the weights, the trl value head, the tokenizer, the chat template and the processor.
fn vision_language_files(name: &str) -> Files {
    const CHECKPOINT: [&str; 9] = [
        "config.json",
        "generation_config.json",
        "model.safetensors",
        "value_head.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "chat_template.jinja",
        "preprocessor_config.json",
    ];
    checkpoint_files(name)
        .into_iter()
        .filter(|(file, _)| CHECKPOINT.contains(&file.as_str()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vision_language_upload_with_a_value_head_is_a_reward_model_and_one_without_a_judge() {
    let app = test_app(64 * 1024 * 1024).await;
    let mut files = vision_language_files("qwen2_vl_tiny");
    let head = remove(&mut files, "value_head.safetensors");

    // Without its value head the folder is a generative judge: queued as a chat model, judged
    // by the worker with the T2I samples' images in its prompts.
    let fields = [
        ("name", "qwen2-vl judge upload"),
        ("tasks", "t2i"),
        ("max_new_tokens", "4"),
        ("verdict_attempts", "2"),
    ];
    let judge = app.upload(&fields, &files).await;
    assert_eq!(judge.status, StatusCode::CREATED, "{}", judge.text());
    assert_eq!(
        judge.json()["checkpoint"]["architecture"],
        "Qwen2VLForConditionalGeneration"
    );
    let (submission, run) = judge.ids();
    let summary = run_worker(
        app.storage.clone(),
        &app.worker_context(),
        "worker-1",
        Arc::new(AtomicBool::new(false)),
    )
    .await
    .expect("the worker runs");
    assert_eq!(summary.ended, 1);
    let job = app.get(&format!("/api/v1/submissions/{submission}")).await;
    assert_eq!(job.json()["status"], "finished", "{}", job.text());
    let record = app.get(&format!("/api/v1/runs/{run}")).await.json();
    assert_eq!(record["model"]["kind"], "local_generative", "{record}");
    let identity = &record["configuration"]["identity"];
    assert_eq!(identity["judge"], "generative", "{identity}");
    assert!(identity["media_rule"].is_string(), "{identity}");
    let judgements = app
        .storage
        .judgements(omnireward::storage::RunId(run))
        .await
        .expect("reads");
    assert!(!judgements.is_empty());
    for judgement in &judgements {
        assert_eq!(judgement.task, omnireward_shared::Task::TextToImage);
        let raw = judgement.raw_output.as_deref().expect("the raw output");
        let expected =
            omnireward_shared::parse_verdict(raw).map(|shown| judgement.order.to_reference(shown));
        assert_eq!(judgement.verdict, expected, "verdict of {raw:?}");
    }
    // The same files in a folder under the same options: `eval checkpoint` names the same run,
    // already complete.
    let folder = tempfile::TempDir::new().expect("folder");
    for (name, bytes) in &files {
        std::fs::write(folder.path().join(name), bytes).expect("writes");
    }
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_omnireward"))
        .arg("--home")
        .arg(app.home.path())
        .args(["eval", "checkpoint"])
        .arg(folder.path())
        .args([
            "--name",
            "qwen2-vl judge upload",
            "--tasks",
            "t2i",
            "--max-new-tokens",
            "4",
            "--verdict-attempts",
            "2",
            "--json",
        ])
        .output()
        .await
        .expect("runs omnireward");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(
        report["run"], run,
        "one identity for the upload and the command line"
    );
    assert_eq!(report["summary"]["judged"], 0, "{report}");

    // With its value head it is a reward model.
    let fields = [("name", "qwen2-vl upload"), ("tasks", "t2i")];
    files.push(("value_head.safetensors".to_owned(), head));
    let created = app.upload(&fields, &files).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let body = created.json();
    assert_eq!(
        body["checkpoint"]["architecture"],
        "Qwen2VLForConditionalGeneration"
    );
    assert!(
        body["checkpoint"]["files"]
            .as_array()
            .expect("files")
            .iter()
            .any(|file| file == "value_head.safetensors"),
        "{body}"
    );
    let (submission, run) = created.ids();
    let summary = run_worker(
        app.storage.clone(),
        &app.worker_context(),
        "worker-1",
        Arc::new(AtomicBool::new(false)),
    )
    .await
    .expect("the worker runs");
    assert_eq!(summary.ended, 1);
    let job = app.get(&format!("/api/v1/submissions/{submission}")).await;
    assert_eq!(job.json()["status"], "finished", "{}", job.text());
    let record = app.get(&format!("/api/v1/runs/{run}")).await.json();
    let identity = &record["configuration"]["identity"];
    assert_eq!(identity["architecture"], "Qwen2VLForConditionalGeneration");
    assert!(
        identity["conversation_layout"].is_string(),
        "the layout is part of the identity: {identity}"
    );
    let with_ties = &record["scorecard"]["settings"]["with_ties"];
    assert_eq!(with_ties["overall"]["tasks_covered"], 1, "{record}");
    let judgements = app
        .storage
        .judgements(omnireward::storage::RunId(run))
        .await
        .expect("reads");
    assert!(!judgements.is_empty());
    assert!(judgements.iter().all(|judgement| judgement.task
        == omnireward_shared::Task::TextToImage
        && judgement.rewards.is_some()));

    // The command line on the fixture's own folder (weights and value head hashed as one
    // stream) names the same run, finished.
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_omnireward"))
        .arg("--home")
        .arg(app.home.path())
        .args(["eval", "checkpoint"])
        .arg(fixture("qwen2_vl_tiny"))
        .args(["--name", "qwen2-vl upload", "--tasks", "t2i", "--json"])
        .output()
        .await
        .expect("runs omnireward");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(report["run"], run, "{report}");
    assert_eq!(report["summary"]["scored"], 0, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_omni_reward_model_upload_judges_audio_and_one_without_its_value_head_is_refused() {
    const CHECKPOINT: [&str; 7] = [
        "config.json",
        "model.safetensors",
        "value_head.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "preprocessor_config.json",
    ];
    let app = test_app(64 * 1024 * 1024).await;
    let mut files: Files = checkpoint_files("minicpm_o_tiny")
        .into_iter()
        .filter(|(file, _)| CHECKPOINT.contains(&file.as_str()))
        .collect();
    let head = remove(&mut files, "value_head.safetensors");
    let fields = [("name", "omni upload"), ("tasks", "t2a")];
    let refused = app.upload(&fields, &files).await;
    assert_eq!(refused.status.as_u16(), 422, "{}", refused.text());
    assert!(
        refused.text().contains("without a value head"),
        "{}",
        refused.text()
    );
    assert!(app.uploaded().is_empty());

    files.push(("value_head.safetensors".to_owned(), head));
    let created = app.upload(&fields, &files).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    assert_eq!(created.json()["checkpoint"]["architecture"], "MiniCPMO");
    let (submission, run) = created.ids();
    let summary = run_worker(
        app.storage.clone(),
        &app.worker_context(),
        "worker-1",
        Arc::new(AtomicBool::new(false)),
    )
    .await
    .expect("the worker runs");
    assert_eq!(summary.ended, 1);
    let job = app.get(&format!("/api/v1/submissions/{submission}")).await;
    assert_eq!(job.json()["status"], "finished", "{}", job.text());
    let record = app.get(&format!("/api/v1/runs/{run}")).await.json();
    let identity = &record["configuration"]["identity"];
    assert_eq!(
        identity["conversation_layout"],
        omnireward::judges::local::inputs::OMNI_CONVERSATION_LAYOUT,
        "{identity}"
    );
    let judgements = app
        .storage
        .judgements(omnireward::storage::RunId(run))
        .await
        .expect("reads");
    assert!(!judgements.is_empty());
    assert!(judgements.iter().all(|judgement| judgement.task
        == omnireward_shared::Task::TextToAudio
        && judgement.rewards.is_some()));
}
