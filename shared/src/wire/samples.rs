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

/// How many evaluated runs judged a sample right: its difficulty, per setting. Each finished
/// run over the served benchmark (or over some of its tasks) counts once, on its original-order
/// judgement, decided as its scorecard decides it (a scalar model's tie rule included).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SampleDifficulty {
    /// With ties (every sample is in this setting).
    pub with_ties: Option<RightShare>,
    /// Without ties (`None` for pairs labelled tie, which this setting leaves out).
    pub without_ties: Option<RightShare>,
}

impl SampleDifficulty {
    /// The share the lists sort by: with ties, else without.
    pub fn headline(&self) -> Option<RightShare> {
        self.with_ties.or(self.without_ties)
    }
}

/// Runs that judged an item right, of the runs that judged it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RightShare {
    /// Runs right.
    pub right: usize,
    /// Runs that judged the item.
    pub judged: usize,
}

impl RightShare {
    /// `right / judged`; `None` when no run judged the item.
    pub fn fraction(self) -> Option<f64> {
        (self.judged > 0).then(|| self.right as f64 / self.judged as f64)
    }
}
