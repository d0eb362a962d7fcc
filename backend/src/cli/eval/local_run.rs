//! What `eval checkpoint` does around a local model's run, for reward models and chat models
//! alike: Ctrl-C stops the runner between chunks, a progress bar follows it, then the session
//! finishes with the run's status and scorecard, and the report (JSON or text) and exit code
//! follow. Each kind brings its own runner, progress bar and summary.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};

use omnireward_shared::Task;
use serde::Serialize;
use serde_json::json;

use super::super::scorecard_table;
use super::{RunArgs, watch_interrupts};
use crate::data::Benchmark;
use crate::evaluation::session::Session;
use crate::storage::{RunStatus, Storage};

/// A local run's summary, as the report needs it.
pub(super) trait LocalRunSummary: Serialize {
    /// Whether Ctrl-C stopped the run before its end.
    fn stopped(&self) -> bool;
    /// The summary's lines of the text report.
    fn text(&self) -> String;
}

/// The Ctrl-C watcher and progress bar of a run in progress, with the flags the runner reads.
pub(super) struct Watched {
    /// Set by Ctrl-C: the runner stops after its current chunk.
    pub(super) stop: Arc<AtomicBool>,
    /// Responses or items done, for the bar.
    pub(super) progress: Arc<AtomicU64>,
    interrupt: tokio::task::JoinHandle<()>,
    bar: tokio::task::JoinHandle<()>,
}

impl Watched {
    /// Starts watching for Ctrl-C and draws the bar `progress_bar` makes.
    pub(super) fn start(
        progress_bar: impl FnOnce(Arc<AtomicU64>) -> tokio::task::JoinHandle<()>,
    ) -> Watched {
        let stop = Arc::new(AtomicBool::new(false));
        let progress = Arc::new(AtomicU64::new(0));
        Watched {
            interrupt: tokio::spawn(watch_interrupts(Arc::clone(&stop))),
            bar: progress_bar(Arc::clone(&progress)),
            stop,
            progress,
        }
    }

    /// Ends the run: stops watching, finishes the session with the status the summary implies
    /// (failed when the runner failed), and reports. `judge` is the judge's description for the
    /// JSON report and `judge_line` its text (architecture, device, dtype).
    #[expect(
        clippy::too_many_arguments,
        reason = "one call site per kind of local judge"
    )]
    pub(super) async fn finish<S: LocalRunSummary>(
        self,
        summary: anyhow::Result<S>,
        storage: Storage,
        session: Session,
        name: &str,
        benchmark: &Benchmark,
        run: &RunArgs,
        judge: &impl Serialize,
        judge_line: &str,
    ) -> anyhow::Result<ExitCode> {
        self.interrupt.abort();
        self.bar.abort();
        let status = match &summary {
            Ok(summary) if summary.stopped() => RunStatus::Cancelled,
            Ok(_) => RunStatus::Finished,
            Err(_) => RunStatus::Failed,
        };
        let scorecard = session
            .finish(name, benchmark, status, run.bootstrap.config())
            .await?;
        storage.close().await;
        let summary = summary?;
        let opened = session.opened();
        if run.json {
            super::super::emit_json(&json!({
                "run": opened.id.0,
                "status": status.as_str(),
                "judge": judge,
                "judgements_file": session.judgements_file(),
                "summary": summary,
                "scorecard": scorecard,
            }))?;
        } else {
            let mut text = String::new();
            if !scorecard.settings.is_empty() {
                text.push_str(&scorecard_table::render(&scorecard));
            }
            text.push_str(&summary.text());
            text.push_str(&format!(
                "{judge_line} · run {} {} ({}) · judgements in {}\n",
                opened.id.0,
                status.as_str(),
                if opened.resumed { "resumed" } else { "new" },
                session.judgements_file().display()
            ));
            super::super::emit(&text)?;
        }
        Ok(match status {
            RunStatus::Finished => ExitCode::SUCCESS,
            RunStatus::Cancelled => ExitCode::from(3),
            _ => ExitCode::FAILURE,
        })
    }
}

/// The report's lines after a summary's first: the tasks `verb` ("scored", "judged") on the
/// prompt's text only, the tasks not covered with their sample counts (`unreadable` says why),
/// and how to continue a stopped run.
pub(super) fn coverage_text<'tasks>(
    verb: &str,
    text_only_prompt: &[Task],
    not_covered: impl IntoIterator<Item = (&'tasks Task, &'tasks usize)>,
    unreadable: &str,
    stopped: bool,
) -> String {
    let mut text = String::new();
    if !text_only_prompt.is_empty() {
        let tasks: Vec<&str> = text_only_prompt
            .iter()
            .map(|task| task.short_name())
            .collect();
        text.push_str(&format!(
            "{verb} on the prompt's text only (media unseen): {}\n",
            tasks.join(", ")
        ));
    }
    let not_covered: Vec<String> = not_covered
        .into_iter()
        .map(|(task, count)| format!("{} ({count})", task.short_name()))
        .collect();
    if !not_covered.is_empty() {
        text.push_str(&format!(
            "not covered ({unreadable}): {}\n",
            not_covered.join(", ")
        ));
    }
    if stopped {
        text.push_str("stopped: interrupted; re-run the same command to continue\n");
    }
    text
}
