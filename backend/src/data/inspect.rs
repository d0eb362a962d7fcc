//! The `data inspect` report: per task, how many samples, ties and media a benchmark holds, and
//! what is wrong with it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use omnireward_shared::{BenchmarkIdentity, Label, Modality, Task};
use serde::Serialize;

use super::{Benchmark, Layout, Problem};

/// Counts for one task.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TaskReport {
    /// Paper short name (T2T, ...).
    pub short_name: String,
    /// The modality the task rolls up into.
    pub modality: Option<Modality>,
    /// Data files read.
    pub files: usize,
    /// Rows read, valid or not.
    pub rows: usize,
    /// Valid samples.
    pub samples: usize,
    /// Samples labelled tie (evaluated only in the w/ Ties setting).
    pub ties: usize,
    /// Samples with a preference (evaluated in both settings).
    pub non_tie: usize,
    /// Samples labelled response1.
    pub response1: usize,
    /// Samples labelled response2.
    pub response2: usize,
    /// Media items found (embedded bytes or existing files).
    pub media_present: usize,
    /// Media items whose file is missing.
    pub media_missing: usize,
    /// Invalid rows.
    pub problems: usize,
}

/// The whole report.
#[derive(Clone, Debug, Serialize)]
pub struct InspectReport {
    /// Folder of the benchmark.
    pub root: PathBuf,
    /// Layout found there.
    pub layout: Layout,
    /// Name, version, hash.
    pub benchmark: BenchmarkIdentity,
    /// Per task (all nine; absent tasks have zero counts).
    pub tasks: BTreeMap<Task, TaskReport>,
    /// Sums over tasks.
    pub total: TaskReport,
    /// Every invalid row, with file, row, id and field.
    pub problems: Vec<Problem>,
}

/// Builds the report of a benchmark loaded with `skip_invalid` (so problems are collected).
pub fn report(benchmark: &Benchmark) -> InspectReport {
    let mut tasks: BTreeMap<Task, TaskReport> = Task::ALL
        .into_iter()
        .map(|task| {
            let report = TaskReport {
                short_name: task.short_name().to_owned(),
                modality: Some(task.modality()),
                files: benchmark.files.get(&task).map_or(0, Vec::len),
                rows: benchmark.rows_read.get(&task).copied().unwrap_or(0),
                ..TaskReport::default()
            };
            (task, report)
        })
        .collect();
    for sample in &benchmark.samples {
        let Some(entry) = tasks.get_mut(&sample.task) else {
            continue;
        };
        entry.samples += 1;
        match sample.label {
            Label::Tie => entry.ties += 1,
            Label::Response1 => entry.response1 += 1,
            Label::Response2 => entry.response2 += 1,
        }
        entry.non_tie = entry.response1 + entry.response2;
        entry.media_present += sample.media().count();
    }
    for problem in &benchmark.skipped {
        let task = benchmark
            .files
            .iter()
            .find(|(_, files)| files.contains(&problem.file))
            .map(|(task, _)| *task);
        if let Some(entry) = task.and_then(|task| tasks.get_mut(&task)) {
            entry.problems += 1;
            if problem.message.contains("missing media file") {
                entry.media_missing += 1;
            }
        }
    }
    let mut total = TaskReport {
        short_name: "total".to_owned(),
        ..TaskReport::default()
    };
    for entry in tasks.values() {
        total.files += entry.files;
        total.rows += entry.rows;
        total.samples += entry.samples;
        total.ties += entry.ties;
        total.non_tie += entry.non_tie;
        total.response1 += entry.response1;
        total.response2 += entry.response2;
        total.media_present += entry.media_present;
        total.media_missing += entry.media_missing;
        total.problems += entry.problems;
    }
    InspectReport {
        root: benchmark.root.clone(),
        layout: benchmark.layout,
        benchmark: benchmark.identity.clone(),
        tasks,
        total,
        problems: benchmark.skipped.clone(),
    }
}

impl InspectReport {
    /// A plain-text table for terminals.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} {} ({}), hash {}\n{}",
            self.benchmark.name,
            self.benchmark.version,
            self.layout.key(),
            &self.benchmark.hash[..self.benchmark.hash.len().min(16)],
            self.root.display()
        );
        let _ = writeln!(
            out,
            "{:<22} {:<5} {:<6} {:>5} {:>7} {:>5} {:>7} {:>6} {:>6} {:>7} {:>8}",
            "task",
            "short",
            "modal.",
            "rows",
            "samples",
            "ties",
            "non-tie",
            "resp1",
            "resp2",
            "media",
            "problems"
        );
        let rows = self
            .tasks
            .iter()
            .map(|(task, report)| (task.key(), report))
            .chain(std::iter::once(("total", &self.total)));
        for (name, report) in rows {
            let media = if report.media_missing > 0 {
                format!("{}+{}!", report.media_present, report.media_missing)
            } else {
                report.media_present.to_string()
            };
            let _ = writeln!(
                out,
                "{:<22} {:<5} {:<6} {:>5} {:>7} {:>5} {:>7} {:>6} {:>6} {:>7} {:>8}",
                name,
                if name == "total" {
                    ""
                } else {
                    report.short_name.as_str()
                },
                report.modality.map_or("", |modality| modality.label()),
                report.rows,
                report.samples,
                report.ties,
                report.non_tie,
                report.response1,
                report.response2,
                media,
                report.problems
            );
        }
        if !self.problems.is_empty() {
            let _ = writeln!(out, "\n{} invalid rows skipped:", self.problems.len());
            for problem in &self.problems {
                let _ = writeln!(out, "  {problem}");
            }
        }
        out
    }
}
