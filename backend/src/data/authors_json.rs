//! Loader for the authors' layout: `<root>/<task>_preferences.json`, each a JSON array of row
//! objects whose media fields are paths relative to `media_data/`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use omnireward_shared::{MediaKind, MediaRef, Task};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::row::{RowFields, build_sample, media_file};
use super::{LoadError, Problem, RowCollector};

/// Finds `<root>/<task>_preferences.json` for each task.
pub fn find_files(root: &Path) -> Result<BTreeMap<Task, PathBuf>, LoadError> {
    let mut found = BTreeMap::new();
    for task in Task::ALL {
        let file = root.join(format!("{}_preferences.json", task.key()));
        if file.is_file() {
            found.insert(task, file);
        }
    }
    Ok(found)
}

/// Reads a JSON file that must hold an array of objects.
pub(crate) fn read_rows(file: &Path) -> Result<Vec<Map<String, Value>>, LoadError> {
    let text = std::fs::read_to_string(file).map_err(|source| LoadError::Io {
        path: file.to_path_buf(),
        source,
    })?;
    let value: Value = serde_json::from_str(&text).map_err(|error| LoadError::Json {
        file: file.to_path_buf(),
        message: format!("invalid JSON: {error}"),
    })?;
    let Value::Array(items) = value else {
        return Err(LoadError::Json {
            file: file.to_path_buf(),
            message: format!(
                "expected a JSON array of row objects, found {}",
                kind_of(&value)
            ),
        });
    };
    items
        .into_iter()
        .enumerate()
        .map(|(index, item)| match item {
            Value::Object(object) => Ok(object),
            other => Err(LoadError::Json {
                file: file.to_path_buf(),
                message: format!("element {index} is {}, expected an object", kind_of(&other)),
            }),
        })
        .collect()
}

/// The JSON type name of a value, for messages.
pub(crate) fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A stable id for rows without one: the reference harness identifies a row by its prompt,
/// criterion and both responses, so we hash the same four fields.
pub(crate) fn derived_id(task: Task, object: &Map<String, Value>) -> String {
    let mut hasher = Sha256::new();
    for field in ["prompt", "criteria", "response1", "response2"] {
        let text = match object.get(field) {
            Some(Value::String(text)) => text.clone(),
            Some(other) => other.to_string(),
            None => String::new(),
        };
        hasher.update(text.as_bytes());
        hasher.update([0u8]);
    }
    let digest = hex::encode(hasher.finalize());
    format!("{}-{}", task.short_name().to_lowercase(), &digest[..16])
}

/// Loads one JSON file of `task` into `collector`; returns the number of rows read.
pub(crate) fn load_file(
    file: &Path,
    task: Task,
    media_root: &Path,
    collector: &mut RowCollector,
) -> Result<usize, LoadError> {
    let rows = read_rows(file)?;
    for (index, object) in rows.iter().enumerate() {
        let row = JsonRow { object, media_root };
        let result =
            build_sample(task, &row, || derived_id(task, object)).map_err(|(row_id, error)| {
                Problem {
                    file: file.to_path_buf(),
                    row: index,
                    row_id,
                    field: error.field,
                    message: error.message,
                }
            });
        collector.accept(file, result)?;
    }
    Ok(rows.len())
}

struct JsonRow<'a> {
    object: &'a Map<String, Value>,
    media_root: &'a Path,
}

impl RowFields for JsonRow<'_> {
    fn text(&self, field: &str) -> Result<Option<String>, String> {
        match self.object.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.clone())),
            // Ids are sometimes numbers in hand-made files.
            Some(Value::Number(number)) if field == "id" => Ok(Some(number.to_string())),
            Some(other) => Err(format!("is {}, expected a string", kind_of(other))),
        }
    }

    fn media(&self, field: &str, kind: MediaKind) -> Result<MediaRef, String> {
        let path = match self.text(field)? {
            Some(path) => path,
            None => self
                .text(&format!("{field}_path"))?
                .ok_or_else(|| "missing media path".to_owned())?,
        };
        media_file(self.media_root, &path, kind)
    }
}
