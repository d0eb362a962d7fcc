//! End-to-end test of the web app: the real `omnireward serve` binary (temporary home and
//! database, the embedded sample, the default model for the demo, the browser bundle) and a
//! scripted OpenAI-compatible judge on 127.0.0.1, driven in Debian's headless Chromium by
//! `tests/e2e/site.mjs` (playwright-core). Screenshots go to `target/screenshots/`.
//!
//! Needs Chromium, Node.js with `tests/e2e/node_modules`, the bundle (`scripts/build-web.sh`)
//! and the default model (`scripts/setup.sh`); `scripts/test.sh` provides them all and sets
//! `OMNIREWARD_REQUIRE_BROWSER=1`, under which a missing piece fails the test instead of
//! skipping it.

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use omnireward::data::{LoadOptions, embedded};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const JUDGE_MODEL: &str = "e2e-judge";

fn checkout() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the backend crate is inside the checkout")
        .to_path_buf()
}

/// What the test needs that the machine may lack, each with how to get it.
fn missing_pieces(chromium: &Path) -> Vec<String> {
    let root = checkout();
    let mut missing = Vec::new();
    if !chromium.is_file() {
        missing.push(format!(
            "Chromium at {} (apt-get install chromium)",
            chromium.display()
        ));
    }
    if std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_err()
    {
        missing.push("Node.js (node)".to_owned());
    }
    if !root.join("tests/e2e/node_modules/playwright-core").is_dir() {
        missing.push("tests/e2e/node_modules (npm ci --prefix tests/e2e)".to_owned());
    }
    if !root
        .join("target/web/pkg/omnireward_frontend_bg.wasm")
        .is_file()
    {
        missing.push("the browser bundle (scripts/build-web.sh)".to_owned());
    }
    if !root
        .join(".cache/models/omnireward-minilm-bt/model.safetensors")
        .is_file()
    {
        missing.push("the default model (scripts/setup.sh)".to_owned());
    }
    missing
}

/// Starts the server on a free port and returns it with its base URL, read from its start line.
async fn start_server(home: &Path) -> (Child, String) {
    let root = checkout();
    let mut server = Command::new(env!("CARGO_BIN_EXE_omnireward"))
        .args(["--home"])
        .arg(home)
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--allow-private-endpoints",
            "--demo-model",
        ])
        .arg(root.join(".cache/models/omnireward-minilm-bt"))
        .arg("--web-bundle")
        .arg(root.join("target/web/pkg"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the server starts");
    let stderr = server.stderr.take().expect("piped stderr");
    let mut lines = BufReader::new(stderr).lines();
    let base = tokio::time::timeout(Duration::from_secs(120), async {
        while let Some(line) = lines.next_line().await.expect("reads the server's output") {
            eprintln!("server: {line}");
            if let Some(rest) = line.split(" on http://").nth(1) {
                let address = rest.split('/').next().unwrap_or_default();
                return format!("http://{address}");
            }
        }
        panic!("the server exited before it listened");
    })
    .await
    .expect("the server listens within two minutes");
    // Keep draining the server's output so it never blocks on a full pipe.
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            eprintln!("server: {line}");
        }
    });
    (server, base)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_site_works_in_headless_chromium() {
    let chromium =
        PathBuf::from(std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned()));
    let missing = missing_pieces(&chromium);
    if !missing.is_empty() {
        let message = format!("the browser test needs: {}", missing.join("; "));
        if std::env::var("OMNIREWARD_REQUIRE_BROWSER").as_deref() == Ok("1") {
            panic!("{message}");
        }
        eprintln!("SKIPPED: {message}");
        return;
    }
    let home = tempfile::TempDir::new().expect("temporary home");
    let benchmark = embedded::load(&home.path().join("cache"), &LoadOptions::default())
        .expect("embedded sample loads");
    let script = Arc::new(Mutex::new(support::identities::script_for(
        home.path(),
        JUDGE_MODEL,
        &benchmark.samples,
    )));
    let judge = support::openai_server::start(Arc::clone(&script)).await;
    let (mut server, base) = start_server(home.path()).await;

    let root = checkout();
    let screenshots = root.join("target/screenshots");
    let status = tokio::time::timeout(
        Duration::from_secs(600),
        Command::new("node")
            .arg(root.join("tests/e2e/site.mjs"))
            .current_dir(root.join("tests/e2e"))
            .env("BASE_URL", &base)
            .env("JUDGE_ENDPOINT", &judge)
            .env("JUDGE_MODEL", JUDGE_MODEL)
            .env("SCREENSHOTS", &screenshots)
            .env("CHROMIUM", &chromium)
            .kill_on_drop(true)
            .status(),
    )
    .await
    .expect("the browser checks finish within ten minutes")
    .expect("node runs");
    let _ = server.kill().await;
    assert!(
        status.success(),
        "the browser checks failed (their output is above)"
    );
    let violations = script.lock().expect("script lock").violations.clone();
    assert!(
        violations.is_empty(),
        "the judge saw unexpected requests: {violations:?}"
    );
    for page in [
        "leaderboard",
        "demo",
        "submit",
        "submission",
        "queue",
        "model",
        "paper-model",
        "paper-model-phone",
        "leaderboard-phone",
        "sample-phone",
        "model-phone",
        "compare",
        "compare-phone",
    ] {
        assert!(
            screenshots.join(format!("{page}.png")).is_file(),
            "screenshot of {page}"
        );
    }
}
