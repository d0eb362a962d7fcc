//! `GET /samples`, `GET /samples/{task}/{id}` and `GET /samples/{task}/{id}/judgements`: the
//! served benchmark's samples, with media as API URLs, and what the evaluated models answered.

use serde::{Deserialize, Serialize};

use crate::{Judgement, Label, MediaKind, Task};

/// A sample as clients see it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SampleView {
    /// The sample's row id.
    pub id: String,
    /// Its task.
    pub task: Task,
    /// The prompt's text.
    pub prompt: String,
    /// The prompt's image, video or audio, if any.
    pub prompt_media: Option<MediaLink>,
    /// The free-form criterion the pair is judged under.
    pub criterion: String,
    /// The benchmark's label.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::Preference))]
    pub label: Label,
    /// The first response.
    pub response1: ResponseView,
    /// The second response.
    pub response2: ResponseView,
    /// The model that wrote the first response, if known.
    pub model1: Option<String>,
    /// The model that wrote the second response, if known.
    pub model2: Option<String>,
}

/// A media item: its kind and where the API serves it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MediaLink {
    /// Image, video or audio.
    pub kind: MediaKind,
    /// The API URL of its bytes.
    pub url: String,
}

/// A response: its text, or its media.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ResponseView {
    /// A text response.
    Text {
        /// The text.
        text: String,
    },
    /// An image, video, audio or rendered 3D response.
    Media {
        /// Image, video or audio.
        kind: MediaKind,
        /// The API URL of its bytes.
        url: String,
    },
}

/// What one evaluated model answered on a sample.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SampleAnswer {
    /// The run it belongs to.
    pub run: i64,
    /// The model's id.
    pub model_id: i64,
    /// The model's name.
    pub model: String,
    /// The judgement.
    pub judgement: Judgement,
    /// Whether the verdict matches the label.
    pub correct: bool,
}
