//! The judgements file: JSON Lines, one [`Judgement`] per judged item, written by every `eval`
//! command as items complete and read by `rescore`.
//!
//! Format (one object per line; optional fields may be absent):
//! `{"task", "sample_id", "setting", "order", "raw_output"?, "rewards"?: {"response1",
//! "response2"}, "verdict": "response1"|"response2"|"tie"|null, "label", "attempts"?,
//! "input_tokens"?, "output_tokens"?, "latency_ms"?}`.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use omnireward_shared::{Judgement, JudgementKey, Setting, Task};

/// Why a judgements file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum JudgementsFileError {
    /// The file could not be opened, read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A line is not a valid judgement.
    #[error("{path}, line {line}: {message}")]
    InvalidLine {
        /// The file.
        path: PathBuf,
        /// One-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// Two lines judge the same item.
    #[error(
        "{path}, line {line}: duplicate judgement of {task} sample `{sample_id}` ({setting}, {order}), first on line {first_line}"
    )]
    Duplicate {
        /// The file.
        path: PathBuf,
        /// Line of the repeat.
        line: usize,
        /// Line of the first occurrence.
        first_line: usize,
        /// Task.
        task: Task,
        /// Sample id.
        sample_id: String,
        /// Setting.
        setting: Setting,
        /// Order.
        order: &'static str,
    },
    /// The file holds no judgements.
    #[error("{path}: no judgements in file")]
    Empty {
        /// The file.
        path: PathBuf,
    },
}

/// Reads every judgement of a file, refusing malformed lines and duplicated items.
pub fn read(path: &Path) -> Result<Vec<Judgement>, JudgementsFileError> {
    let file = File::open(path).map_err(|source| JudgementsFileError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, BufReader::new(file))
}

/// Reads every judgement of the JSON Lines in `reader` (a file's contents, or a submitted
/// file's text), refusing malformed lines and duplicated items; errors name `path`.
pub fn parse(path: &Path, reader: impl BufRead) -> Result<Vec<Judgement>, JudgementsFileError> {
    let io = |source| JudgementsFileError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut judgements = Vec::new();
    let mut first_lines: HashMap<JudgementKey, usize> = HashMap::new();
    for (index, line) in reader.lines().enumerate() {
        let line_number = index + 1;
        let line = line.map_err(io)?;
        if line.trim().is_empty() {
            continue;
        }
        let judgement: Judgement =
            serde_json::from_str(&line).map_err(|error| JudgementsFileError::InvalidLine {
                path: path.to_path_buf(),
                line: line_number,
                message: error.to_string(),
            })?;
        if let Some(first_line) = first_lines.insert(judgement.key(), line_number) {
            return Err(JudgementsFileError::Duplicate {
                path: path.to_path_buf(),
                line: line_number,
                first_line,
                task: judgement.task,
                sample_id: judgement.sample_id,
                setting: judgement.setting,
                order: judgement.order.key(),
            });
        }
        judgements.push(judgement);
    }
    if judgements.is_empty() {
        return Err(JudgementsFileError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(judgements)
}

/// Prepares an existing judgements file for appending by a resumed run and returns the keys it
/// holds. A last line without its newline is the trace of a crash in mid-write: it is cut off
/// (the judgement is still in the database and is written again). A missing file holds nothing.
pub fn prepare_for_append(path: &Path) -> Result<Vec<JudgementKey>, JudgementsFileError> {
    let io = |source| JudgementsFileError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut contents = match std::fs::read(path) {
        Ok(contents) => contents,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(io(error)),
    };
    if !contents.is_empty() && contents.last() != Some(&b'\n') {
        let keep = contents
            .iter()
            .rposition(|byte| *byte == b'\n')
            .map_or(0, |index| index + 1);
        contents.truncate(keep);
        let file = OpenOptions::new().write(true).open(path).map_err(io)?;
        file.set_len(keep as u64).map_err(io)?;
        file.sync_all().map_err(io)?;
    }
    let mut keys = Vec::new();
    for (index, line) in contents.split(|byte| *byte == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let judgement: Judgement =
            serde_json::from_slice(line).map_err(|error| JudgementsFileError::InvalidLine {
                path: path.to_path_buf(),
                line: index + 1,
                message: error.to_string(),
            })?;
        keys.push(judgement.key());
    }
    Ok(keys)
}

/// Appends judgements to a file, one flushed line each, so a crash loses at most the line
/// being written.
pub struct JudgementsWriter {
    path: PathBuf,
    writer: BufWriter<File>,
}

impl JudgementsWriter {
    /// Opens `path` for appending, creating it if needed.
    pub fn append(path: &Path) -> Result<Self, JudgementsFileError> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| JudgementsFileError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(Self {
            path: path.to_path_buf(),
            writer: BufWriter::new(file),
        })
    }

    /// Writes one judgement as a line and flushes it.
    pub fn write(&mut self, judgement: &Judgement) -> Result<(), JudgementsFileError> {
        let io = |source| JudgementsFileError::Io {
            path: self.path.clone(),
            source,
        };
        let line =
            serde_json::to_string(judgement).map_err(|error| JudgementsFileError::InvalidLine {
                path: self.path.clone(),
                line: 0,
                message: error.to_string(),
            })?;
        self.writer.write_all(line.as_bytes()).map_err(io)?;
        self.writer.write_all(b"\n").map_err(io)?;
        self.writer.flush().map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use omnireward_shared::{Label, Order, Rewards, Verdict};

    use super::*;

    fn judgement(sample_id: &str, order: Order) -> Judgement {
        Judgement {
            task: Task::TextToAudio,
            sample_id: sample_id.to_owned(),
            setting: Setting::WithTies,
            order,
            raw_output: Some("reasoning... [[A]]".to_owned()),
            rewards: Some(Rewards {
                response1: 0.5,
                response2: -1.25,
            }),
            verdict: Some(Verdict::Response1),
            label: Label::Tie,
            attempts: Some(2),
            input_tokens: Some(1200),
            output_tokens: Some(80),
            latency_ms: Some(950),
        }
    }

    #[test]
    fn written_judgements_read_back_identically() {
        let folder = tempfile::tempdir().expect("temp dir");
        let path = folder.path().join("judgements.jsonl");
        let written = vec![
            judgement("a", Order::Original),
            judgement("a", Order::Swapped),
        ];
        let mut writer = JudgementsWriter::append(&path).expect("opens");
        for item in &written {
            writer.write(item).expect("writes");
        }
        drop(writer);
        assert_eq!(read(&path).expect("reads"), written);
    }

    #[test]
    fn a_line_cut_by_a_crash_is_removed_before_appending() {
        let folder = tempfile::tempdir().expect("temp dir");
        let path = folder.path().join("judgements.jsonl");
        assert!(
            prepare_for_append(&path)
                .expect("missing is empty")
                .is_empty()
        );
        let good = serde_json::to_string(&judgement("a", Order::Original)).expect("json");
        std::fs::write(&path, format!("{good}\n{{\"task\": \"text_to")).expect("write");
        let keys = prepare_for_append(&path).expect("repairs");
        assert_eq!(keys, vec![judgement("a", Order::Original).key()]);
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            format!("{good}\n")
        );
        let mut writer = JudgementsWriter::append(&path).expect("opens");
        writer
            .write(&judgement("b", Order::Original))
            .expect("writes");
        assert_eq!(read(&path).expect("reads").len(), 2);
    }

    #[test]
    fn bad_lines_and_duplicates_name_the_line() {
        let folder = tempfile::tempdir().expect("temp dir");
        let path = folder.path().join("bad.jsonl");
        let good = serde_json::to_string(&judgement("a", Order::Original)).expect("json");
        std::fs::write(
            &path,
            format!("{good}\n\n{{\"task\": \"text_to_smell\"}}\n"),
        )
        .expect("write");
        let message = read(&path).expect_err("invalid").to_string();
        assert!(message.contains("line 3"), "{message}");

        std::fs::write(&path, format!("{good}\n{good}\n")).expect("write");
        let message = read(&path).expect_err("duplicate").to_string();
        assert!(
            message.contains("line 2") && message.contains("first on line 1"),
            "{message}"
        );

        std::fs::write(&path, "\n").expect("write");
        assert!(matches!(
            read(&path),
            Err(JudgementsFileError::Empty { .. })
        ));
    }
}
