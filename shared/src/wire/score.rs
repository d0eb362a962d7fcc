//! `POST /score`: the scoring demo's request and answer.

use serde::{Deserialize, Serialize};

use crate::Verdict;

/// The request body: two text responses, or two images.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoreRequest {
    /// The evaluation criterion.
    pub criterion: String,
    /// The prompt.
    pub prompt: String,
    /// First text response.
    #[serde(default)]
    pub response1: Option<String>,
    /// Second text response.
    #[serde(default)]
    pub response2: Option<String>,
    /// First image response, base64 (a `data:image/…;base64,` prefix is accepted).
    #[serde(default)]
    pub image1: Option<String>,
    /// Second image response.
    #[serde(default)]
    pub image2: Option<String>,
}

/// The answer: both rewards and the verdict.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScoreResponse {
    /// The model's name.
    pub model: String,
    /// Its `transformers` architecture.
    pub architecture: String,
    /// Reward of response 1.
    pub reward1: f32,
    /// Reward of response 2.
    pub reward2: f32,
    /// `response1`, `response2`, or `tie` when the rewards are equal.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::Preference))]
    pub verdict: Verdict,
    /// Milliseconds the model spent on this request.
    pub latency_ms: f64,
    /// Milliseconds the request waited for the model.
    pub queue_ms: f64,
}
