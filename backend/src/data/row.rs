//! Turns one row of either layout into a [`Sample`]: which fields each task has and how they
//! are read is decided here once.

use std::path::Path;

use omnireward_shared::{
    Label, MediaKind, MediaLocation, MediaRef, Modality, Response, Sample, Task,
};

/// Field access for one row, implemented by each layout.
pub(crate) trait RowFields {
    /// A text field; `Ok(None)` when absent or null.
    fn text(&self, field: &str) -> Result<Option<String>, String>;

    /// A media field, resolved to where its bytes are. `Err` when it is absent, null, or points
    /// to a file that does not exist.
    fn media(&self, field: &str, kind: MediaKind) -> Result<MediaRef, String>;
}

/// The media kind a response or prompt modality is stored as.
fn media_kind(modality: Modality) -> Option<MediaKind> {
    match modality {
        Modality::Text => None,
        Modality::Image | Modality::ThreeD => Some(MediaKind::Image),
        Modality::Video => Some(MediaKind::Video),
        Modality::Audio => Some(MediaKind::Audio),
    }
}

/// The field that holds a task's prompt media.
pub(crate) fn prompt_media_field(task: Task) -> Option<(&'static str, MediaKind)> {
    let kind = media_kind(task.prompt_media()?)?;
    let field = match kind {
        MediaKind::Image => "image",
        MediaKind::Video => "video",
        MediaKind::Audio => "audio",
    };
    Some((field, kind))
}

/// The fields every row of `task` must have.
pub(crate) fn required_fields(task: Task) -> Vec<&'static str> {
    let mut fields = vec![
        "prompt",
        "criteria",
        "criteria_preference",
        "response1",
        "response2",
    ];
    if let Some((field, _)) = prompt_media_field(task) {
        fields.push(field);
    }
    fields
}

/// A row problem before the file and row index are attached.
pub(crate) struct FieldError {
    pub field: String,
    pub message: String,
}

fn field_error(field: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.to_owned(),
        message: message.into(),
    }
}

/// Builds the sample of one row. `fallback_id` is used when the row has no `id`.
pub(crate) fn build_sample(
    task: Task,
    row: &impl RowFields,
    fallback_id: impl FnOnce() -> String,
) -> Result<Sample, (Option<String>, FieldError)> {
    let id = row
        .text("id")
        .map_err(|message| (None, field_error("id", message)))?
        .filter(|id| !id.trim().is_empty())
        .unwrap_or_else(fallback_id);
    let with_id = |error: FieldError| (Some(id.clone()), error);
    let required_text = |field: &str| -> Result<String, FieldError> {
        match row.text(field) {
            Ok(Some(value)) => Ok(value),
            Ok(None) => Err(field_error(field, "missing or null")),
            Err(message) => Err(field_error(field, message)),
        }
    };
    let optional_text = |field: &str| -> Result<Option<String>, FieldError> {
        row.text(field)
            .map_err(|message| field_error(field, message))
    };

    let prompt = required_text("prompt").map_err(with_id)?;
    let criterion = required_text("criteria").map_err(with_id)?;
    let label_text = required_text("criteria_preference").map_err(with_id)?;
    let label: Label = label_text.parse().map_err(|_| {
        with_id(field_error(
            "criteria_preference",
            format!("unknown label `{label_text}`: expected response1, response2 or tie"),
        ))
    })?;
    let prompt_media = match prompt_media_field(task) {
        Some((field, kind)) => Some(
            row.media(field, kind)
                .map_err(|message| with_id(field_error(field, message)))?,
        ),
        None => None,
    };
    let response = |field: &str| -> Result<Response, FieldError> {
        match media_kind(task.response_modality()) {
            None => Ok(Response::Text {
                text: required_text(field)?,
            }),
            Some(kind) => Ok(Response::Media {
                media: row
                    .media(field, kind)
                    .map_err(|message| field_error(field, message))?,
            }),
        }
    };
    let response1 = response("response1").map_err(with_id)?;
    let response2 = response("response2").map_err(with_id)?;
    let model1 = optional_text("model1").map_err(with_id)?;
    let model2 = optional_text("model2").map_err(with_id)?;
    Ok(Sample {
        id,
        task,
        prompt,
        prompt_media,
        response1,
        response2,
        criterion,
        label,
        model1,
        model2,
    })
}

/// Resolves a media path relative to `media_root`, checking that the file exists. Absolute
/// paths and `..` components are refused so a data file cannot point outside its media folder.
pub(crate) fn media_file(
    media_root: &Path,
    relative: &str,
    kind: MediaKind,
) -> Result<MediaRef, String> {
    let relative = relative.trim();
    if relative.is_empty() {
        return Err("empty media path".to_owned());
    }
    let path = Path::new(relative);
    if path.is_absolute()
        || path
            .components()
            .any(|component| matches!(component, std::path::Component::ParentDir))
    {
        return Err(format!(
            "media path `{relative}` must be relative to the media folder and stay inside it"
        ));
    }
    let full = media_root.join(path);
    if !full.is_file() {
        return Err(format!("missing media file {}", full.display()));
    }
    Ok(MediaRef {
        kind,
        name: relative.to_owned(),
        location: MediaLocation::File {
            path: full.to_string_lossy().into_owned(),
        },
    })
}
