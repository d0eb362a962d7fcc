//! A home folder's judgements files, and a run killed once its first judgement is saved: what
//! the resume-after-SIGKILL tests of local judges share.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use omnireward_shared::Judgement;

/// Judgements in the home's judgements files (complete lines only: a killed run may leave half
/// a line).
pub fn saved(home: &Path) -> Vec<Judgement> {
    let Ok(entries) = std::fs::read_dir(home.join("runs")) else {
        return Vec::new();
    };
    let mut judgements = Vec::new();
    for entry in entries.flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        for line in text.lines().filter(|line| line.ends_with('}')) {
            judgements.push(serde_json::from_str(line).expect("a judgement line"));
        }
    }
    judgements
}

/// Starts `command` (output discarded), waits until `home` holds a saved judgement, then kills it
/// with SIGKILL and reaps it. Fails when the run ends before it could be killed, or saves nothing
/// in 10 minutes.
pub fn kill_once_saved(mut command: Command, home: &Path) {
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starts omnireward");
    let started = Instant::now();
    while saved(home).is_empty() {
        assert!(
            child.try_wait().expect("polls").is_none(),
            "the run ended before it could be killed"
        );
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "nothing saved in 10 minutes"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reaps");
}
