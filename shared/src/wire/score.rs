//! `POST /score`: the scoring demo's request and answer.

use serde::{Deserialize, Serialize};

use crate::Verdict;

/// The request body: two text responses, two images, or two short videos.
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
    /// First video response, base64 (MP4, WebM …; vision-language and omni models read it as
    /// a T2V sample's response).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video1: Option<String>,
    /// Second video response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video2: Option<String>,
}

/// The answer: a reward model's two rewards and the verdict they give, or a generative judge's
/// verdict and the text it was read from.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScoreResponse {
    /// The model's name.
    pub model: String,
    /// Its `transformers` architecture (a GGUF file's `general.architecture`).
    pub architecture: String,
    /// Reward of response 1 (reward models only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reward1: Option<f32>,
    /// Reward of response 2 (reward models only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reward2: Option<f32>,
    /// `response1`, `response2`, or `tie` when the rewards are equal; for a generative judge,
    /// the verdict its text gives, `null` when the text holds none.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::Preference>))]
    pub verdict: Option<Verdict>,
    /// A generative judge's answer (generative judges only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge: Option<JudgeAnswer>,
    /// Milliseconds the model spent on this request.
    pub latency_ms: f64,
    /// Milliseconds the request waited for the model.
    pub queue_ms: f64,
}

/// What a generative judge (a chat model) answered, asked with the built-in prompt of the
/// with-ties setting.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JudgeAnswer {
    /// The judge's text, as generated.
    pub text: String,
    /// Tokens of the rendered prompt.
    pub prompt_tokens: u64,
    /// Tokens generated.
    pub generated_tokens: u64,
}
