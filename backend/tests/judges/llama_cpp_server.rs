//! `omnireward eval api` against a real OpenAI-compatible server: llama.cpp's, as served by
//! llama-cpp-python (`python3 -m llama_cpp.server`), running SmolLM2-135M-Instruct (GGUF) on the
//! CPU. Its chat-template renderer takes message `content` as a string only, and answered 500
//! to every request while text-only messages went out as lists of parts; this test judges the
//! embedded sample's T2T items in both settings and checks every one got an answer.
//!
//! `scripts/setup.sh` installs llama-cpp-python into `.venv` and unpacks the model into
//! `.cache/models/smollm2-135m-instruct/`. When either is missing the test skips, saying so,
//! unless `OMNIREWARD_REQUIRE_LLAMA_CPP=1` (set by `scripts/test.sh`, which runs setup first),
//! where it fails.

use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use omnireward::data::{LoadOptions, embedded};
use omnireward_shared::{Setting, Task};
use serde_json::Value;
use tempfile::TempDir;

/// Longest wait for the server to load the model and listen.
const STARTUP: Duration = Duration::from_secs(120);

fn checkout() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The Python with llama-cpp-python and the model file, or `None` (the reason printed) when
/// setup has not installed them here.
fn installed() -> Option<(PathBuf, PathBuf)> {
    let python = checkout().join(".venv/bin/python3");
    let model =
        checkout().join(".cache/models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf");
    let importable = python.is_file()
        && Command::new(&python)
            .args(["-c", "import llama_cpp.server"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
    let missing = match (importable, model.is_file()) {
        (true, true) => return Some((python, model)),
        (false, _) => format!("llama-cpp-python is not installed in {}", python.display()),
        (true, false) => format!(
            "SmolLM2-135M-Instruct is not installed at {}",
            model.display()
        ),
    };
    // scripts/test.sh sets this after running setup: there a missing server is a failure.
    assert!(
        std::env::var("OMNIREWARD_REQUIRE_LLAMA_CPP").as_deref() != Ok("1"),
        "OMNIREWARD_REQUIRE_LLAMA_CPP=1 but {missing}"
    );
    eprintln!("skipped: {missing} (scripts/setup.sh installs it)");
    None
}

/// The server process, stopped when dropped (also when an assertion fails).
struct Server {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(python: &Path, model: &Path, folder: &Path) -> Server {
        // A port the system just handed out; freed again for the server to take.
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let log = folder.join("llama-server.log");
        let output = std::fs::File::create(&log).expect("server log");
        let errors = output.try_clone().expect("server log");
        let child = Command::new(python)
            .args(["-m", "llama_cpp.server", "--model"])
            .arg(model)
            .args(["--model_alias", "smollm2", "--host", "127.0.0.1", "--port"])
            .arg(port.to_string())
            .args(["--n_ctx", "2048", "--n_threads", "2"])
            .stdin(Stdio::null())
            .stdout(output)
            .stderr(errors)
            .spawn()
            .expect("llama_cpp.server starts");
        let mut server = Server {
            child,
            base: format!("http://127.0.0.1:{port}/v1"),
            log,
        };
        server.wait_until_ready();
        server
    }

    fn wait_until_ready(&mut self) {
        let started = Instant::now();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let models = format!("{}/models", self.base);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the server exited with {status}: {}", self.log_text());
            }
            let ready = runtime.block_on(async {
                reqwest::get(&models)
                    .await
                    .is_ok_and(|response| response.status().is_success())
            });
            if ready {
                return;
            }
            assert!(
                started.elapsed() < STARTUP,
                "the server was not ready within {STARTUP:?}: {}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

#[test]
fn eval_api_judges_every_t2t_item_through_llama_cpp_server() {
    let Some((python, model)) = installed() else {
        return;
    };
    let home = TempDir::new().expect("temporary home");
    let server = Server::start(&python, &model, home.path());
    let started = Instant::now();
    let judgements_file = home.path().join("judgements.jsonl");
    let output = Command::new(env!("CARGO_BIN_EXE_omnireward"))
        .arg("--home")
        .arg(home.path())
        .args([
            "eval",
            "api",
            "--endpoint",
            &server.base,
            "--model",
            "smollm2",
        ])
        .args(["--tasks", "T2T", "--setting", "both", "--max-tokens", "16"])
        .args(["--concurrency", "2", "--verdict-attempts", "1", "--json"])
        // A failed request fails the test at once rather than after retries.
        .args(["--http-attempts", "1", "--out"])
        .arg(&judgements_file)
        .output()
        .expect("the binary runs");
    let seconds = started.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&output.stderr);
    // 0: every item judged (an unparseable verdict counts as wrong, it is not a failure); 1 would
    // mean items failed, as every one did when the server answered 500.
    assert_eq!(
        output.status.code(),
        Some(0),
        "eval api failed after {seconds:.1} s: {stderr}\nserver log: {}",
        server.log_text()
    );
    let report: Value = serde_json::from_slice(&output.stdout).expect("stdout is JSON");
    assert_eq!(
        report["summary"]["failures"].as_array().map(Vec::len),
        Some(0),
        "{}",
        report["summary"]
    );

    let samples = embedded::load(&home.path().join("cache"), &LoadOptions::default())
        .expect("embedded sample loads")
        .samples;
    let text = std::fs::read_to_string(&judgements_file).expect("judgements file");
    let judgements: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).expect("a judgement"))
        .collect();
    for setting in Setting::ALL {
        let expected = samples
            .iter()
            .filter(|sample| sample.task == Task::TextToText && setting.includes(sample.label))
            .count();
        let judged: Vec<&Value> = judgements
            .iter()
            .filter(|judgement| judgement["setting"] == setting.key())
            .collect();
        assert_eq!(judged.len(), expected, "{setting}");
        // Every item got an answer from the model.
        assert!(
            judged
                .iter()
                .all(|judgement| judgement["raw_output"].is_string()),
            "{setting}: a judgement without the model's answer"
        );
    }
    eprintln!(
        "judged {} T2T items through llama.cpp in {seconds:.1} s",
        judgements.len()
    );
}
