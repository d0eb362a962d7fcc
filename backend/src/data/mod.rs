//! Benchmark loaders: the Hugging Face parquet release and the authors' JSON layout
//! (benchmark.md section 2), the embedded sample benchmark, and the `data inspect` report.
//!
//! Both layouts feed the same [`row::build_sample`], so a task's columns are interpreted in one
//! place. Media is referenced, never read, while loading.

pub mod authors_json;
pub mod embedded;
mod error;
pub mod huggingface;
pub mod inspect;
pub mod media;
pub mod reference_results;
mod row;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use omnireward_shared::{BenchmarkIdentity, Response, Sample, Task};
use sha2::{Digest, Sha256};

pub use error::{LoadError, Problem};

/// The name runs on the public release record (the loader's default), and the benchmark the
/// paper's numbers are reported on: leaderboard rows of this name are ranked together.
pub const RELEASE_NAME: &str = "omni-rewardbench";

/// The two on-disk layouts a user can point us at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    /// `<config>/test*.parquet` (or `data/<config>/test-*.parquet`) plus `media_data/`.
    HuggingFace,
    /// `<task>_preferences.json` plus `media_data/`.
    AuthorsJson,
}

impl Layout {
    /// A short name for records and messages.
    pub fn key(self) -> &'static str {
        match self {
            Layout::HuggingFace => "hf-parquet",
            Layout::AuthorsJson => "authors-json",
        }
    }
}

/// What to load and how strictly.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// Tasks to load; empty means all nine.
    pub tasks: Vec<Task>,
    /// Skip invalid rows and report them instead of failing on the first.
    pub skip_invalid: bool,
    /// Folder that media paths are relative to; default `<root>/media_data`.
    pub media_root: Option<PathBuf>,
    /// Benchmark name recorded with runs; default `omni-rewardbench`.
    pub name: Option<String>,
    /// Benchmark version recorded with runs; default the layout key.
    pub version: Option<String>,
}

impl LoadOptions {
    fn wants(&self, task: Task) -> bool {
        self.tasks.is_empty() || self.tasks.contains(&task)
    }
}

/// A loaded benchmark: samples with lazy media references.
#[derive(Clone, Debug)]
pub struct Benchmark {
    /// The folder it was loaded from.
    pub root: PathBuf,
    /// The layout found there.
    pub layout: Layout,
    /// Name, version and content hash.
    pub identity: BenchmarkIdentity,
    /// Valid samples, in file order per task, tasks in column order.
    pub samples: Vec<Sample>,
    /// The data files read per task (a task absent here had no files).
    pub files: BTreeMap<Task, Vec<PathBuf>>,
    /// Rows read per task, valid or not.
    pub rows_read: BTreeMap<Task, usize>,
    /// Rows skipped because of `skip_invalid`, with the reason.
    pub skipped: Vec<Problem>,
}

impl Benchmark {
    /// The samples of one task.
    pub fn task_samples(&self, task: Task) -> impl Iterator<Item = &Sample> {
        self.samples
            .iter()
            .filter(move |sample| sample.task == task)
    }
}

/// Loads the benchmark in `root`, detecting its layout.
pub fn load(root: &Path, options: &LoadOptions) -> Result<Benchmark, LoadError> {
    if !root.is_dir() {
        return Err(LoadError::Io {
            path: root.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "not a folder"),
        });
    }
    let media_root = options
        .media_root
        .clone()
        .unwrap_or_else(|| root.join("media_data"));
    let mut collector = RowCollector::new(options.skip_invalid);
    let mut files = BTreeMap::new();
    let mut rows_read = BTreeMap::new();

    let parquet_files = huggingface::find_files(root)?;
    let layout = if !parquet_files.is_empty() {
        for (task, task_files) in parquet_files {
            if !options.wants(task) {
                continue;
            }
            let mut count = 0;
            for file in &task_files {
                count += huggingface::load_file(file, task, &media_root, &mut collector)?;
            }
            rows_read.insert(task, count);
            files.insert(task, task_files);
        }
        Layout::HuggingFace
    } else {
        let json_files = authors_json::find_files(root)?;
        if json_files.is_empty() {
            return Err(LoadError::NoBenchmark {
                root: root.to_path_buf(),
            });
        }
        for (task, file) in json_files {
            if !options.wants(task) {
                continue;
            }
            let count = authors_json::load_file(&file, task, &media_root, &mut collector)?;
            rows_read.insert(task, count);
            files.insert(task, vec![file]);
        }
        Layout::AuthorsJson
    };

    let (mut samples, skipped) = collector.finish();
    samples.sort_by_key(|sample| sample.task);
    let identity = BenchmarkIdentity {
        name: options
            .name
            .clone()
            .unwrap_or_else(|| RELEASE_NAME.to_owned()),
        version: options
            .version
            .clone()
            .unwrap_or_else(|| layout.key().to_owned()),
        hash: content_hash(&samples),
    };
    Ok(Benchmark {
        root: root.to_path_buf(),
        layout,
        identity,
        samples,
        files,
        rows_read,
        skipped,
    })
}

/// SHA-256 (hex) over the sample records: task, id, texts, label and media names, in a
/// canonical order. Media bytes are not hashed (that would read 3.5 GB); file locations are
/// not hashed either, so the same data unpacked in two places has one hash.
pub fn content_hash(samples: &[Sample]) -> String {
    let mut ordered: Vec<&Sample> = samples.iter().collect();
    ordered.sort_by(|left, right| (left.task, &left.id).cmp(&(right.task, &right.id)));
    let mut hasher = Sha256::new();
    for sample in ordered {
        let response = |response: &Response| match response {
            Response::Text { text } => serde_json::json!({ "text": text }),
            Response::Media { media } => serde_json::json!({ "media": media.name }),
        };
        let record = serde_json::json!([
            sample.task,
            sample.id,
            sample.prompt,
            sample.prompt_media.as_ref().map(|media| &media.name),
            response(&sample.response1),
            response(&sample.response2),
            sample.criterion,
            sample.label,
            sample.model1,
            sample.model2,
        ]);
        hasher.update(record.to_string().as_bytes());
        hasher.update(b"\n");
    }
    hex::encode(hasher.finalize())
}

/// Gathers loaded rows: fails on the first problem, or skips and records it.
pub(crate) struct RowCollector {
    skip_invalid: bool,
    samples: Vec<Sample>,
    skipped: Vec<Problem>,
    seen: HashSet<(Task, String)>,
}

impl RowCollector {
    fn new(skip_invalid: bool) -> Self {
        Self {
            skip_invalid,
            samples: Vec::new(),
            skipped: Vec::new(),
            seen: HashSet::new(),
        }
    }

    /// Takes one row's result.
    pub(crate) fn accept(
        &mut self,
        file: &Path,
        row: Result<Sample, Problem>,
    ) -> Result<(), LoadError> {
        match row {
            Ok(sample) => {
                if !self.seen.insert((sample.task, sample.id.clone())) {
                    return Err(LoadError::DuplicateId {
                        file: file.to_path_buf(),
                        task: sample.task.key().to_owned(),
                        id: sample.id,
                    });
                }
                self.samples.push(sample);
                Ok(())
            }
            Err(problem) if self.skip_invalid => {
                self.skipped.push(problem);
                Ok(())
            }
            Err(problem) => Err(LoadError::InvalidRow(problem)),
        }
    }

    fn finish(self) -> (Vec<Sample>, Vec<Problem>) {
        (self.samples, self.skipped)
    }
}
