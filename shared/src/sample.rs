//! A benchmark [`Sample`] and lazy references to its media.
//!
//! Media is never held in a `Sample`: a [`MediaRef`] says where the bytes are (a file, or a cell
//! of a parquet file), so loading the full 3.5 GB release keeps only text in memory.

use serde::{Deserialize, Serialize};

use crate::preference::Label;
use crate::task::Task;

/// The kind of a media item (3D objects are given as rendered images).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaKind {
    /// A still image (PNG, JPEG, ...), including multi-view 3D renders.
    Image,
    /// A video file (MP4, ...).
    Video,
    /// An audio clip (WAV, MP3, ...).
    Audio,
}

/// Where a media item's bytes live.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MediaLocation {
    /// A file on disk (absolute path, or relative to the working directory).
    File {
        /// Path of the file.
        path: String,
    },
    /// Bytes embedded in a parquet file, in the `bytes` field of a struct column.
    ParquetCell {
        /// Path of the parquet file.
        file: String,
        /// Row group that holds the row.
        row_group: usize,
        /// Row index inside that row group.
        row: usize,
        /// Top-level column name (the struct column, e.g. `response1`).
        column: String,
        /// Length of the embedded bytes.
        length: u64,
    },
}

/// A lazy reference to one media item of a sample.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaRef {
    /// What the media is.
    pub kind: MediaKind,
    /// The path as the dataset names it, relative to `media_data/`; used as a stable name for
    /// caches, URLs and display.
    pub name: String,
    /// Where to read the bytes.
    pub location: MediaLocation,
}

/// One candidate response: text, or a media item.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Response {
    /// A text answer.
    Text {
        /// The answer.
        text: String,
    },
    /// A generated image, video, audio clip or 3D render.
    Media {
        /// The media item.
        media: MediaRef,
    },
}

impl Response {
    /// The text of a text response.
    pub fn text(&self) -> Option<&str> {
        match self {
            Response::Text { text } => Some(text),
            Response::Media { .. } => None,
        }
    }

    /// The media of a media response.
    pub fn media(&self) -> Option<&MediaRef> {
        match self {
            Response::Text { .. } => None,
            Response::Media { media } => Some(media),
        }
    }
}

/// One benchmark row: a prompt, two responses, a free-form criterion and the human label.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    /// The dataset's row id, unique within a task.
    pub id: String,
    /// The task the row belongs to.
    pub task: Task,
    /// The text prompt (or edit instruction).
    pub prompt: String,
    /// Image, video or audio that is part of the prompt (TI2T, TV2T, TA2T, TI2I).
    pub prompt_media: Option<MediaRef>,
    /// The first response, shown as A in the reference order.
    pub response1: Response,
    /// The second response, shown as B in the reference order.
    pub response2: Response,
    /// The annotator's free-form criterion, to be inserted verbatim into judge prompts.
    pub criterion: String,
    /// The human preference under the criterion.
    pub label: Label,
    /// Name of the model that produced `response1`, when the data gives it.
    pub model1: Option<String>,
    /// Name of the model that produced `response2`, when the data gives it.
    pub model2: Option<String>,
}

impl Sample {
    /// Every media item of the sample: prompt media first, then the responses'.
    pub fn media(&self) -> impl Iterator<Item = &MediaRef> {
        self.prompt_media
            .iter()
            .chain(self.response1.media())
            .chain(self.response2.media())
    }
}
