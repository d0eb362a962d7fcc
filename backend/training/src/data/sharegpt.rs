//! Omni-RewardData and other LLaMA-Factory "sharegpt ranking" files: JSON arrays or JSON Lines of
//! records with `conversations` (a list of `{from, value}` turns, an optional leading system turn
//! carrying the criterion, ending with the user's turn), `chosen` and `rejected` (`{from: "gpt",
//! value}` or a plain string) and optional `images`, `videos`, `audios` path lists.
//!
//! Column and role names follow a `dataset_info.json` entry when one is given
//! ([`DatasetSpec::from_dataset_info`]): `columns` (`messages`, `chosen`, `rejected`, `system`,
//! `images`, `videos`, `audios`) and `tags` (`role_tag`, `content_tag`, `user_tag`,
//! `assistant_tag`, `system_tag`), with LLaMA-Factory's defaults.
//!
//! Media placement (benchmark.md section 6): generated media sits in the user turn; when chosen
//! and rejected have the same text, the media are the answers: the first half of the list (image
//! 0 of two) belongs to chosen and the second half to rejected. Otherwise every media file is
//! part of the prompt.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::{MediaItem, MediaKind, PreferencePair};
use crate::error::TrainingError;

/// Column and role names of one dataset (LLaMA-Factory's `columns` and `tags`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnMapping {
    /// The turn list (`conversations`).
    pub messages: String,
    /// The preferred answer (`chosen`).
    pub chosen: String,
    /// The other answer (`rejected`).
    pub rejected: String,
    /// A separate system-prompt column, if the dataset has one (else the leading system turn).
    pub system: Option<String>,
    /// Image paths (`images`).
    pub images: String,
    /// Video paths or frame lists (`videos`).
    pub videos: String,
    /// Audio paths (`audios`).
    pub audios: String,
    /// Role key of a turn (`from`).
    pub role_tag: String,
    /// Text key of a turn (`value`).
    pub content_tag: String,
    /// Role of user turns (`human`).
    pub user_tag: String,
    /// Role of assistant turns (`gpt`).
    pub assistant_tag: String,
    /// Role of the system turn (`system`).
    pub system_tag: String,
}

impl Default for ColumnMapping {
    fn default() -> Self {
        ColumnMapping {
            messages: "conversations".to_owned(),
            chosen: "chosen".to_owned(),
            rejected: "rejected".to_owned(),
            system: None,
            images: "images".to_owned(),
            videos: "videos".to_owned(),
            audios: "audios".to_owned(),
            role_tag: "from".to_owned(),
            content_tag: "value".to_owned(),
            user_tag: "human".to_owned(),
            assistant_tag: "gpt".to_owned(),
            system_tag: "system".to_owned(),
        }
    }
}

/// One data file with its column mapping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatasetSpec {
    /// The name shown in records (the `dataset_info.json` key, or the file name).
    pub name: String,
    /// The JSON or JSON Lines file.
    pub file: PathBuf,
    /// Column and role names.
    pub mapping: ColumnMapping,
}

impl DatasetSpec {
    /// A file in the default layout, named after itself.
    pub fn file(file: &Path) -> DatasetSpec {
        DatasetSpec {
            name: file.file_name().map_or_else(
                || file.display().to_string(),
                |name| name.to_string_lossy().into_owned(),
            ),
            file: file.to_path_buf(),
            mapping: ColumnMapping::default(),
        }
    }

    /// The datasets `names` of a `dataset_info.json` (every ranking dataset when `names` is
    /// empty); `file_name` is relative to the file's folder.
    pub fn from_dataset_info(
        info_file: &Path,
        names: &[String],
    ) -> Result<Vec<DatasetSpec>, TrainingError> {
        let text = fs::read_to_string(info_file).map_err(TrainingError::io(info_file))?;
        let info: Map<String, Value> =
            serde_json::from_str(&text).map_err(|error| TrainingError::Data {
                file: info_file.to_path_buf(),
                location: format!("line {}", error.line()),
                field: "(file)".to_owned(),
                message: format!("not a JSON object of datasets: {error}"),
            })?;
        let folder = info_file.parent().unwrap_or(Path::new("."));
        let selected: Vec<&String> = if names.is_empty() {
            info.iter()
                .filter(|(_, entry)| entry.get("ranking").and_then(Value::as_bool) == Some(true))
                .map(|(name, _)| name)
                .collect()
        } else {
            names.iter().collect()
        };
        if selected.is_empty() {
            return Err(TrainingError::Config {
                message: format!(
                    "{} lists no ranking dataset (\"ranking\": true)",
                    info_file.display()
                ),
            });
        }
        selected
            .into_iter()
            .map(|name| {
                let entry = info
                    .get(name.as_str())
                    .ok_or_else(|| TrainingError::Config {
                        message: format!(
                            "{} has no dataset {name:?}; it has: {}",
                            info_file.display(),
                            info.keys().cloned().collect::<Vec<_>>().join(", ")
                        ),
                    })?;
                spec_from_entry(info_file, folder, name, entry)
            })
            .collect()
    }

    /// Reads every record (the first `max_samples` when given) as preference pairs.
    pub fn read(&self, max_samples: Option<usize>) -> Result<Vec<PreferencePair>, TrainingError> {
        let text = fs::read_to_string(&self.file).map_err(TrainingError::io(&self.file))?;
        let folder = self.file.parent().unwrap_or(Path::new("."));
        let limit = max_samples.unwrap_or(usize::MAX);
        let mut pairs = Vec::new();
        let is_array = text.trim_start().starts_with('[');
        if is_array {
            let records: Vec<Value> =
                serde_json::from_str(&text).map_err(|error| TrainingError::Data {
                    file: self.file.clone(),
                    location: format!("line {} column {}", error.line(), error.column()),
                    field: "(file)".to_owned(),
                    message: format!("not a JSON array of records: {error}"),
                })?;
            for (index, record) in records.iter().take(limit).enumerate() {
                let location = format!("record {}", index + 1);
                pairs.push(self.pair(folder, &location, record)?);
            }
        } else {
            for (index, line) in text.lines().enumerate() {
                if pairs.len() >= limit {
                    break;
                }
                if line.trim().is_empty() {
                    continue;
                }
                let location = format!("line {}", index + 1);
                let record: Value =
                    serde_json::from_str(line).map_err(|error| TrainingError::Data {
                        file: self.file.clone(),
                        location: location.clone(),
                        field: "(record)".to_owned(),
                        message: format!("not a JSON object: {error}"),
                    })?;
                pairs.push(self.pair(folder, &location, &record)?);
            }
        }
        Ok(pairs)
    }

    fn pair(
        &self,
        folder: &Path,
        location: &str,
        record: &Value,
    ) -> Result<PreferencePair, TrainingError> {
        let mapping = &self.mapping;
        let error = |field: &str, message: String| TrainingError::Data {
            file: self.file.clone(),
            location: location.to_owned(),
            field: field.to_owned(),
            message,
        };
        let record = record
            .as_object()
            .ok_or_else(|| error("(record)", "expected a JSON object".to_owned()))?;
        let turns = record
            .get(&mapping.messages)
            .ok_or_else(|| error(&mapping.messages, "missing".to_owned()))?
            .as_array()
            .ok_or_else(|| error(&mapping.messages, "expected a list of turns".to_owned()))?;

        let mut criterion = match &mapping.system {
            Some(column) => match record.get(column) {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(text)) => text.clone(),
                Some(_) => return Err(error(column, "expected a string".to_owned())),
            },
            None => String::new(),
        };
        let mut dialogue: Vec<(bool, String)> = Vec::new();
        for (index, turn) in turns.iter().enumerate() {
            let field = format!("{}[{index}]", mapping.messages);
            let role = turn
                .get(&mapping.role_tag)
                .and_then(Value::as_str)
                .ok_or_else(|| error(&field, format!("missing string {:?}", mapping.role_tag)))?;
            let content = turn
                .get(&mapping.content_tag)
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    error(&field, format!("missing string {:?}", mapping.content_tag))
                })?;
            if role == mapping.system_tag {
                if index != 0 {
                    return Err(error(
                        &field,
                        "a system turn may only come first".to_owned(),
                    ));
                }
                criterion = content.to_owned();
            } else if role == mapping.user_tag || role == mapping.assistant_tag {
                let is_user = role == mapping.user_tag;
                let expected_user = dialogue.len().is_multiple_of(2);
                if is_user != expected_user {
                    return Err(error(
                        &field,
                        format!(
                            "turns must alternate {:?} and {:?}, starting with {:?}",
                            mapping.user_tag, mapping.assistant_tag, mapping.user_tag
                        ),
                    ));
                }
                dialogue.push((is_user, content.to_owned()));
            } else {
                return Err(error(
                    &field,
                    format!(
                        "unknown role {role:?} (expected {:?}, {:?} or {:?})",
                        mapping.system_tag, mapping.user_tag, mapping.assistant_tag
                    ),
                ));
            }
        }
        if dialogue.len().is_multiple_of(2) {
            return Err(error(
                &mapping.messages,
                format!(
                    "the turns must end with a {:?} turn that the answers reply to",
                    mapping.user_tag
                ),
            ));
        }
        let prompt = if dialogue.len() == 1 {
            strip_placeholders(&dialogue[0].1)
        } else {
            // Earlier turns are context: kept with their roles so the model sees who said what.
            dialogue
                .iter()
                .map(|(is_user, text)| {
                    let role = if *is_user { "User" } else { "Assistant" };
                    format!("{role}: {}", strip_placeholders(text))
                })
                .collect::<Vec<_>>()
                .join("\n")
        };
        let answer = |column: &str| -> Result<String, TrainingError> {
            match record.get(column) {
                Some(Value::String(text)) => Ok(text.clone()),
                Some(Value::Object(turn)) => {
                    if let Some(role) = turn.get(&mapping.role_tag).and_then(Value::as_str)
                        && role != mapping.assistant_tag
                    {
                        return Err(error(
                            column,
                            format!(
                                "role {role:?}: the answer must be an {:?} turn",
                                mapping.assistant_tag
                            ),
                        ));
                    }
                    turn.get(&mapping.content_tag)
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                        .ok_or_else(|| {
                            error(column, format!("missing string {:?}", mapping.content_tag))
                        })
                }
                Some(_) => Err(error(
                    column,
                    "expected a turn object or a string".to_owned(),
                )),
                None => Err(error(column, "missing".to_owned())),
            }
        };
        let chosen = answer(&mapping.chosen)?;
        let rejected = answer(&mapping.rejected)?;

        let media_are_answers = chosen == rejected;
        let mut prompt_media = Vec::new();
        let mut chosen_media = Vec::new();
        let mut rejected_media = Vec::new();
        for (column, kind) in [
            (&mapping.images, MediaKind::Image),
            (&mapping.videos, MediaKind::Video),
            (&mapping.audios, MediaKind::Audio),
        ] {
            let paths = media_paths(record.get(column.as_str()))
                .map_err(|message| error(column, message))?;
            let items: Vec<MediaItem> = paths
                .into_iter()
                .map(|path| MediaItem {
                    kind,
                    path: folder.join(path),
                })
                .collect();
            if items.is_empty() {
                continue;
            }
            if media_are_answers {
                if !items.len().is_multiple_of(2) {
                    return Err(error(
                        column,
                        format!(
                            "chosen and rejected have the same text, so the {} media files are the \
                             two answers and must split in halves",
                            items.len()
                        ),
                    ));
                }
                let half = items.len() / 2;
                let mut items = items;
                rejected_media.extend(items.split_off(half));
                chosen_media.extend(items);
            } else {
                prompt_media.extend(items);
            }
        }
        if !media_are_answers && chosen == rejected {
            return Err(error(
                &mapping.chosen,
                "chosen and rejected are identical".to_owned(),
            ));
        }
        if media_are_answers && chosen_media.is_empty() {
            return Err(error(
                &mapping.chosen,
                "chosen and rejected are identical and there are no media to tell them apart"
                    .to_owned(),
            ));
        }
        Ok(PreferencePair {
            criterion,
            prompt,
            chosen,
            rejected,
            prompt_media,
            chosen_media,
            rejected_media,
            origin: format!("{}:{location}", self.name),
        })
    }
}

fn spec_from_entry(
    info_file: &Path,
    folder: &Path,
    name: &str,
    entry: &Value,
) -> Result<DatasetSpec, TrainingError> {
    let error = |field: &str, message: String| TrainingError::Data {
        file: info_file.to_path_buf(),
        location: format!("dataset {name:?}"),
        field: field.to_owned(),
        message,
    };
    let file_name = entry
        .get("file_name")
        .and_then(Value::as_str)
        .ok_or_else(|| error("file_name", "missing".to_owned()))?;
    let formatting = entry
        .get("formatting")
        .and_then(Value::as_str)
        .unwrap_or("alpaca");
    if formatting != "sharegpt" {
        return Err(error(
            "formatting",
            format!("{formatting:?}: only \"sharegpt\" preference data is supported"),
        ));
    }
    if entry.get("ranking").and_then(Value::as_bool) != Some(true) {
        return Err(error(
            "ranking",
            "must be true for preference (chosen/rejected) data".to_owned(),
        ));
    }
    let mut mapping = ColumnMapping::default();
    let text =
        |object: &Value, key: &str, section: &str| -> Result<Option<String>, TrainingError> {
            match object.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(value)) => Ok(Some(value.clone())),
                Some(_) => Err(error(
                    &format!("{section}.{key}"),
                    "expected a string".to_owned(),
                )),
            }
        };
    if let Some(columns) = entry.get("columns") {
        let set = |target: &mut String, key: &str| -> Result<(), TrainingError> {
            if let Some(value) = text(columns, key, "columns")? {
                *target = value;
            }
            Ok(())
        };
        set(&mut mapping.messages, "messages")?;
        set(&mut mapping.chosen, "chosen")?;
        set(&mut mapping.rejected, "rejected")?;
        set(&mut mapping.images, "images")?;
        set(&mut mapping.videos, "videos")?;
        set(&mut mapping.audios, "audios")?;
        mapping.system = text(columns, "system", "columns")?;
    }
    if let Some(tags) = entry.get("tags") {
        let set = |target: &mut String, key: &str| -> Result<(), TrainingError> {
            if let Some(value) = text(tags, key, "tags")? {
                *target = value;
            }
            Ok(())
        };
        set(&mut mapping.role_tag, "role_tag")?;
        set(&mut mapping.content_tag, "content_tag")?;
        set(&mut mapping.user_tag, "user_tag")?;
        set(&mut mapping.assistant_tag, "assistant_tag")?;
        set(&mut mapping.system_tag, "system_tag")?;
    }
    Ok(DatasetSpec {
        name: name.to_owned(),
        file: folder.join(file_name),
        mapping,
    })
}

/// Paths of a media column: absent or null is none; entries are path strings or (videos given as
/// frames) lists of path strings, flattened in order.
fn media_paths(value: Option<&Value>) -> Result<Vec<String>, String> {
    let entries = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(entries)) => entries,
        Some(Value::String(path)) => return Ok(vec![path.clone()]),
        Some(_) => return Err("expected a list of paths".to_owned()),
    };
    let mut paths = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        match entry {
            Value::String(path) => paths.push(path.clone()),
            Value::Array(frames) => {
                for frame in frames {
                    let path = frame
                        .as_str()
                        .ok_or_else(|| format!("entry {index}: frames must be path strings"))?;
                    paths.push(path.to_owned());
                }
            }
            _ => {
                return Err(format!(
                    "entry {index}: expected a path or a list of frame paths"
                ));
            }
        }
    }
    Ok(paths)
}

/// The prompt without LLaMA-Factory's media placeholders, which stand for media a text model
/// does not see.
fn strip_placeholders(text: &str) -> String {
    let mut stripped = text.to_owned();
    for placeholder in ["<image>", "<video>", "<audio>"] {
        stripped = stripped.replace(placeholder, "");
    }
    stripped.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(folder: &Path, name: &str, text: &str) -> PathBuf {
        let file = folder.join(name);
        fs::write(&file, text).expect("write");
        file
    }

    #[test]
    fn json_lines_with_a_criterion_and_prompt_images_are_read() {
        let folder = tempfile::tempdir().expect("tempdir");
        let file = write(
            folder.path(),
            "pairs.jsonl",
            concat!(
                r#"{"conversations":[{"from":"system","value":"Be concise."},{"from":"human","value":"<image>What is shown?"}],"chosen":{"from":"gpt","value":"A cat."},"rejected":{"from":"gpt","value":"It is an image of something."},"images":["a.png"]}"#,
                "\n\n",
                r#"{"conversations":[{"from":"human","value":"Hi"},{"from":"gpt","value":"Hello"},{"from":"human","value":"Bye"}],"chosen":"Goodbye!","rejected":"No."}"#,
                "\n"
            ),
        );
        let pairs = DatasetSpec::file(&file).read(None).expect("read");
        assert_eq!(pairs.len(), 2);
        assert_eq!(pairs[0].criterion, "Be concise.");
        assert_eq!(pairs[0].prompt, "What is shown?");
        assert_eq!(pairs[0].chosen, "A cat.");
        assert_eq!(pairs[0].prompt_media.len(), 1);
        assert_eq!(pairs[0].prompt_media[0].path, folder.path().join("a.png"));
        assert_eq!(pairs[0].origin, "pairs.jsonl:line 1");
        assert_eq!(pairs[1].criterion, "");
        assert_eq!(pairs[1].prompt, "User: Hi\nAssistant: Hello\nUser: Bye");
        assert_eq!(pairs[1].origin, "pairs.jsonl:line 3");
        assert_eq!(
            DatasetSpec::file(&file).read(Some(1)).expect("read").len(),
            1
        );
    }

    #[test]
    fn identical_answer_texts_give_the_media_halves_to_chosen_and_rejected() {
        let folder = tempfile::tempdir().expect("tempdir");
        let file = write(
            folder.path(),
            "t2i.json",
            r#"[{"conversations":[{"from":"system","value":"Realism"},{"from":"human","value":"Draw a dog <image><image>"}],
                "chosen":{"from":"gpt","value":"<image>"},"rejected":{"from":"gpt","value":"<image>"},
                "images":["good.png","bad.png"]}]"#,
        );
        let pairs = DatasetSpec::file(&file).read(None).expect("read");
        assert_eq!(
            pairs[0].chosen_media[0].path,
            folder.path().join("good.png")
        );
        assert_eq!(
            pairs[0].rejected_media[0].path,
            folder.path().join("bad.png")
        );
        assert!(pairs[0].prompt_media.is_empty());
        let (kept, usage) = crate::data::text_pairs(pairs);
        assert!(kept.is_empty());
        assert_eq!(usage.response_media_skipped, 1);
    }

    #[test]
    fn malformed_records_name_the_file_line_and_field() {
        let folder = tempfile::tempdir().expect("tempdir");
        let file = write(
            folder.path(),
            "bad.jsonl",
            "{\"conversations\":[{\"from\":\"human\",\"value\":\"q\"}],\"chosen\":\"a\",\"rejected\":\"b\"}\n{\"conversations\":[{\"from\":\"human\",\"value\":\"q\"}],\"chosen\":\"a\"}\n",
        );
        let message = DatasetSpec::file(&file)
            .read(None)
            .expect_err("missing rejected")
            .to_string();
        assert!(
            message.contains("bad.jsonl: line 2: field \"rejected\": missing"),
            "{message}"
        );

        let file = write(
            folder.path(),
            "roles.json",
            r#"[{"conversations":[{"from":"gpt","value":"q"}],"chosen":"a","rejected":"b"}]"#,
        );
        let message = DatasetSpec::file(&file)
            .read(None)
            .expect_err("bad role order")
            .to_string();
        assert!(
            message.contains("record 1: field \"conversations[0]\""),
            "{message}"
        );

        let file = write(folder.path(), "broken.jsonl", "{\"conversations\": [\n");
        let message = DatasetSpec::file(&file)
            .read(None)
            .expect_err("bad json")
            .to_string();
        assert!(message.contains("line 1"), "{message}");
    }

    #[test]
    fn dataset_info_maps_columns_and_tags() {
        let folder = tempfile::tempdir().expect("tempdir");
        write(
            folder.path(),
            "custom.json",
            r#"[{"messages":[{"role":"user","content":"q"}],"sys":"Criterion","better":{"role":"assistant","content":"yes"},"worse":{"role":"assistant","content":"no"}}]"#,
        );
        let info = write(
            folder.path(),
            "dataset_info.json",
            r#"{"custom": {"file_name": "custom.json", "formatting": "sharegpt", "ranking": true,
                "columns": {"messages": "messages", "chosen": "better", "rejected": "worse", "system": "sys"},
                "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"}},
               "sft": {"file_name": "x.json"}}"#,
        );
        let specs = DatasetSpec::from_dataset_info(&info, &[]).expect("info");
        assert_eq!(specs.len(), 1);
        let pairs = specs[0].read(None).expect("read");
        assert_eq!(pairs[0].criterion, "Criterion");
        assert_eq!(pairs[0].chosen, "yes");
        assert_eq!(pairs[0].rejected, "no");
        let message = DatasetSpec::from_dataset_info(&info, &["sft".to_owned()])
            .expect_err("alpaca")
            .to_string();
        assert!(
            message.contains("dataset \"sft\": field \"formatting\""),
            "{message}"
        );
    }
}
