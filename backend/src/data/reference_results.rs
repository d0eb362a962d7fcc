//! Reader for result files written by the authors' harness: per task folder,
//! `<model>_preferences.json` (w/o Ties) and `<model>_preferences_with_tie.json` (w/ Ties), each
//! a JSON array of the sample's fields plus `predicted` (`response1`, `response2`, `tie` or
//! null) and `<model>_raw_response`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use omnireward_shared::{Judgement, Label, Order, Setting, Task, Verdict};
use serde_json::Value;

use super::authors_json::{derived_id, kind_of, read_rows};
use super::{LoadError, Problem};

const WITHOUT_TIES_SUFFIX: &str = "_preferences.json";
const WITH_TIES_SUFFIX: &str = "_preferences_with_tie.json";

/// The judgements of one model read from reference result files.
#[derive(Clone, Debug)]
pub struct ReferenceResults {
    /// The model name taken from the file names.
    pub model: String,
    /// One judgement per row, original order.
    pub judgements: Vec<Judgement>,
    /// The files read.
    pub files: Vec<PathBuf>,
}

fn task_folders(root: &Path) -> impl Iterator<Item = (Task, PathBuf)> + '_ {
    Task::ALL
        .into_iter()
        .map(move |task| (task, root.join(task.key())))
        .filter(|(_, folder)| folder.is_dir())
}

/// The model names that have result files under `root/<task>/`.
pub fn find_models(root: &Path) -> Result<BTreeSet<String>, LoadError> {
    let mut models = BTreeSet::new();
    for (_, folder) in task_folders(root) {
        let entries = std::fs::read_dir(&folder).map_err(|source| LoadError::Io {
            path: folder.clone(),
            source,
        })?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let model = name
                .strip_suffix(WITH_TIES_SUFFIX)
                .or_else(|| name.strip_suffix(WITHOUT_TIES_SUFFIX));
            if let Some(model) = model.filter(|model| !model.is_empty()) {
                models.insert(model.to_owned());
            }
        }
    }
    Ok(models)
}

/// Reads every result file of `model` under `root/<task>/`.
pub fn read(root: &Path, model: &str) -> Result<ReferenceResults, LoadError> {
    let mut judgements = Vec::new();
    let mut files = Vec::new();
    for (task, folder) in task_folders(root) {
        for (setting, suffix) in [
            (Setting::WithoutTies, WITHOUT_TIES_SUFFIX),
            (Setting::WithTies, WITH_TIES_SUFFIX),
        ] {
            let file = folder.join(format!("{model}{suffix}"));
            if !file.is_file() {
                continue;
            }
            for (index, object) in read_rows(&file)?.iter().enumerate() {
                let problem = |field: &str, message: String| {
                    LoadError::InvalidRow(Problem {
                        file: file.clone(),
                        row: index,
                        row_id: object.get("id").map(|id| id.to_string()),
                        field: field.to_owned(),
                        message,
                    })
                };
                let label: Label = match object.get("criteria_preference") {
                    Some(Value::String(text)) => text.parse().map_err(|_| {
                        problem("criteria_preference", format!("unknown label `{text}`"))
                    })?,
                    other => {
                        return Err(problem(
                            "criteria_preference",
                            format!("is {}, expected a string", other.map_or("missing", kind_of)),
                        ));
                    }
                };
                let verdict: Option<Verdict> =
                    match object.get("predicted") {
                        Some(Value::Null) => None,
                        Some(Value::String(text)) => Some(text.parse().map_err(|_| {
                            problem("predicted", format!("unknown verdict `{text}`"))
                        })?),
                        other => {
                            return Err(problem(
                                "predicted",
                                format!(
                                    "is {}, expected response1, response2, tie or null",
                                    other.map_or("missing", kind_of)
                                ),
                            ));
                        }
                    };
                let sample_id = match object.get("id") {
                    Some(Value::String(id)) if !id.is_empty() => id.clone(),
                    Some(Value::Number(id)) => id.to_string(),
                    _ => derived_id(task, object),
                };
                let raw_output = object
                    .get(&format!("{model}_raw_response"))
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                judgements.push(Judgement {
                    task,
                    sample_id,
                    setting,
                    order: Order::Original,
                    raw_output,
                    rewards: None,
                    verdict,
                    label,
                    attempts: None,
                    input_tokens: None,
                    output_tokens: None,
                    latency_ms: None,
                });
            }
            files.push(file);
        }
    }
    if files.is_empty() {
        return Err(LoadError::Json {
            file: root.to_path_buf(),
            message: format!(
                "no result files for model `{model}`: expected <task>/{model}{WITHOUT_TIES_SUFFIX} or <task>/{model}{WITH_TIES_SUFFIX}"
            ),
        });
    }
    Ok(ReferenceResults {
        model: model.to_owned(),
        judgements,
        files,
    })
}
