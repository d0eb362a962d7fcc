//! Loader for the Hugging Face release: one parquet config per task, `Image`/`Audio` struct
//! columns (`{bytes, path}`) with embedded bytes or paths, videos as paths under `media_data/`.
//!
//! Files are streamed in small batches and media bytes are only measured, never kept, so the
//! loader's memory does not grow with the size of the release.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use omnireward_shared::{MediaKind, MediaLocation, MediaRef, Task};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::row::{RowFields, build_sample, media_file, required_fields};
use super::{LoadError, Problem, RowCollector};

/// Rows decoded at a time: small, because image and audio cells can be megabytes each.
const BATCH_ROWS: usize = 64;

/// Finds each task's parquet files: `<root>/<config>/test*.parquet` or
/// `<root>/data/<config>/test*.parquet`, sorted so shards load in order.
pub fn find_files(root: &Path) -> Result<BTreeMap<Task, Vec<PathBuf>>, LoadError> {
    let escaped_root = glob::Pattern::escape(&root.to_string_lossy());
    let mut found = BTreeMap::new();
    for task in Task::ALL {
        let mut files = Vec::new();
        for pattern in [
            format!("{escaped_root}/{}/test*.parquet", task.key()),
            format!("{escaped_root}/data/{}/test*.parquet", task.key()),
        ] {
            let entries = glob::glob(&pattern).map_err(|error| LoadError::Io {
                path: root.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::InvalidInput, error.to_string()),
            })?;
            for entry in entries {
                let path = entry.map_err(|error| LoadError::Io {
                    path: error.path().to_path_buf(),
                    source: error.into(),
                })?;
                files.push(path);
            }
        }
        files.sort();
        files.dedup();
        if !files.is_empty() {
            found.insert(task, files);
        }
    }
    Ok(found)
}

fn parquet_error(file: &Path, error: impl std::fmt::Display) -> LoadError {
    LoadError::Parquet {
        file: file.to_path_buf(),
        message: error.to_string(),
    }
}

/// Loads one parquet file of `task` into `collector`; returns the number of rows read.
pub(crate) fn load_file(
    file: &Path,
    task: Task,
    media_root: &Path,
    collector: &mut RowCollector,
) -> Result<usize, LoadError> {
    let handle = File::open(file).map_err(|source| LoadError::Io {
        path: file.to_path_buf(),
        source,
    })?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(handle)
        .map_err(|error| parquet_error(file, error))?;
    let schema = builder.schema().clone();
    for column in required_fields(task) {
        if schema.field_with_name(column).is_err() {
            return Err(LoadError::MissingColumn {
                file: file.to_path_buf(),
                column: column.to_owned(),
                task: task.key().to_owned(),
            });
        }
    }
    // Row-group boundaries, to turn a row's index in the file into (row group, row in group)
    // for lazy media references.
    let row_group_starts: Vec<usize> = builder
        .metadata()
        .row_groups()
        .iter()
        .scan(0usize, |start, group| {
            let this = *start;
            *start += usize::try_from(group.num_rows()).unwrap_or(0);
            Some(this)
        })
        .collect();
    let reader = builder
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(|error| parquet_error(file, error))?;

    let mut row_index = 0;
    for batch in reader {
        let batch = batch.map_err(|error| parquet_error(file, error))?;
        for index_in_batch in 0..batch.num_rows() {
            let row = ParquetRow {
                batch: &batch,
                index: index_in_batch,
                file,
                location: locate(&row_group_starts, row_index),
                media_root,
            };
            let result = build_sample(task, &row, || format!("{}-{row_index}", task.short_name()))
                .map_err(|(row_id, error)| Problem {
                    file: file.to_path_buf(),
                    row: row_index,
                    row_id,
                    field: error.field,
                    message: error.message,
                });
            collector.accept(file, result)?;
            row_index += 1;
        }
    }
    Ok(row_index)
}

/// (row group, row within it) of a file-wide row index.
fn locate(row_group_starts: &[usize], row: usize) -> (usize, usize) {
    let group = row_group_starts
        .partition_point(|start| *start <= row)
        .saturating_sub(1);
    let start = row_group_starts.get(group).copied().unwrap_or(0);
    (group, row - start)
}

struct ParquetRow<'a> {
    batch: &'a RecordBatch,
    index: usize,
    file: &'a Path,
    location: (usize, usize),
    media_root: &'a Path,
}

/// A string cell of any of arrow's string encodings; `Ok(None)` for null.
fn string_cell(array: &dyn Array, index: usize) -> Result<Option<String>, String> {
    if array.is_null(index) {
        return Ok(None);
    }
    let value = match array.data_type() {
        DataType::Utf8 => array.as_string::<i32>().value(index).to_owned(),
        DataType::LargeUtf8 => array.as_string::<i64>().value(index).to_owned(),
        DataType::Utf8View => array.as_string_view().value(index).to_owned(),
        DataType::Int64 => array
            .as_primitive::<arrow_array::types::Int64Type>()
            .value(index)
            .to_string(),
        DataType::Int32 => array
            .as_primitive::<arrow_array::types::Int32Type>()
            .value(index)
            .to_string(),
        other => return Err(format!("has type {other}, expected a string")),
    };
    Ok(Some(value))
}

/// The length of a binary cell; `Ok(None)` for null.
fn binary_length(array: &dyn Array, index: usize) -> Result<Option<usize>, String> {
    if array.is_null(index) {
        return Ok(None);
    }
    let length = match array.data_type() {
        DataType::Binary => array.as_binary::<i32>().value(index).len(),
        DataType::LargeBinary => array.as_binary::<i64>().value(index).len(),
        DataType::BinaryView => array.as_binary_view().value(index).len(),
        other => return Err(format!("`bytes` has type {other}, expected binary")),
    };
    Ok(Some(length))
}

impl RowFields for ParquetRow<'_> {
    fn text(&self, field: &str) -> Result<Option<String>, String> {
        match self.batch.column_by_name(field) {
            Some(column) => string_cell(column.as_ref(), self.index),
            None => Ok(None),
        }
    }

    fn media(&self, field: &str, kind: MediaKind) -> Result<MediaRef, String> {
        let column = self
            .batch
            .column_by_name(field)
            .ok_or_else(|| "missing column".to_owned())?;
        if column.is_null(self.index) {
            return Err("null media".to_owned());
        }
        let path_column = self
            .text(&format!("{field}_path"))?
            .filter(|path| !path.is_empty());
        let Some(structure) = column.as_struct_opt() else {
            // A plain string column holds a path under media_data (videos, or the JSON-like
            // layout some mirrors use).
            let path = string_cell(column.as_ref(), self.index)
                .map_err(|message| format!("{message} or an Image/Audio struct"))?
                .ok_or_else(|| "null media".to_owned())?;
            return media_file(self.media_root, &path, kind);
        };
        let struct_path = match structure.column_by_name("path") {
            Some(paths) => string_cell(paths.as_ref(), self.index)?.filter(|path| !path.is_empty()),
            None => None,
        };
        let embedded = match structure.column_by_name("bytes") {
            Some(bytes) => binary_length(bytes.as_ref(), self.index)?.filter(|length| *length > 0),
            None => None,
        };
        if let Some(length) = embedded {
            let name = path_column
                .or(struct_path)
                .unwrap_or_else(|| format!("{field}-{}-{}", self.location.0, self.location.1));
            return Ok(MediaRef {
                kind,
                name,
                location: MediaLocation::ParquetCell {
                    file: self.file.to_string_lossy().into_owned(),
                    row_group: self.location.0,
                    row: self.location.1,
                    column: field.to_owned(),
                    length: length as u64,
                },
            });
        }
        // No embedded bytes: fall back to the file under media_data, trying the `*_path`
        // column first (the documented one), then the struct's own path.
        let candidates: Vec<String> = path_column.into_iter().chain(struct_path).collect();
        if candidates.is_empty() {
            return Err("media has neither embedded bytes nor a path".to_owned());
        }
        let mut failures = Vec::new();
        for candidate in &candidates {
            match media_file(self.media_root, candidate, kind) {
                Ok(media) => return Ok(media),
                Err(message) => failures.push(message),
            }
        }
        Err(failures.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_map_to_their_row_group() {
        let starts = [0, 10, 25];
        assert_eq!(locate(&starts, 0), (0, 0));
        assert_eq!(locate(&starts, 9), (0, 9));
        assert_eq!(locate(&starts, 10), (1, 0));
        assert_eq!(locate(&starts, 30), (2, 5));
    }
}
