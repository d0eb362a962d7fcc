//! One judge output for one sample, setting and presentation order.
//!
//! This is also the record of the judgements file (JSON Lines) that every `eval` command writes
//! and `rescore` reads.

use serde::{Deserialize, Serialize};

use crate::preference::{Label, Setting, Verdict};
use crate::task::Task;

/// The order in which the two responses were shown to a judge.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    /// Reference order: A = `response1`, B = `response2`. The headline score uses this order.
    #[default]
    Original,
    /// Exchanged: A = `response2`, B = `response1`.
    Swapped,
}

impl Order {
    /// The JSON key (`original`, `swapped`).
    pub fn key(self) -> &'static str {
        match self {
            Order::Original => "original",
            Order::Swapped => "swapped",
        }
    }

    /// Maps a verdict about the shown order (A/B) back to the reference order
    /// (`response1`/`response2`).
    pub fn to_reference(self, shown: Verdict) -> Verdict {
        match self {
            Order::Original => shown,
            Order::Swapped => shown.swapped(),
        }
    }
}

/// Scalar rewards given by a discriminative reward model, in reference order.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rewards {
    /// Reward of `response1`.
    pub response1: f64,
    /// Reward of `response2`.
    pub response2: f64,
}

impl Rewards {
    /// The margin `r(response1) - r(response2)` used by the tie rules.
    pub fn margin(self) -> f64 {
        self.response1 - self.response2
    }
}

/// One judged item.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Judgement {
    /// Task of the sample.
    pub task: Task,
    /// The sample's row id.
    pub sample_id: String,
    /// The setting whose prompt (and tie option) was used.
    pub setting: Setting,
    /// The presentation order.
    #[serde(default)]
    pub order: Order,
    /// The generative judge's final raw output (after re-queries), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_output: Option<String>,
    /// The scalar rewards of a discriminative judge, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rewards: Option<Rewards>,
    /// The parsed verdict in reference order; `None` when unparseable.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::Preference>))]
    pub verdict: Option<Verdict>,
    /// The human label.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::Preference))]
    pub label: Label,
    /// Requests made for this item (1 + re-queries for unparseable answers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts: Option<u32>,
    /// Prompt tokens used, summed over attempts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u64>,
    /// Completion tokens used, summed over attempts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u64>,
    /// Wall-clock latency in milliseconds, summed over attempts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
}

/// The identity of a judged item: what resumed runs skip and what storage and judgements files
/// never hold twice.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JudgementKey {
    /// Task of the sample.
    pub task: Task,
    /// The sample's row id.
    pub sample_id: String,
    /// The setting.
    pub setting: Setting,
    /// The presentation order.
    pub order: Order,
}

impl Judgement {
    /// The item this judgement is about.
    pub fn key(&self) -> JudgementKey {
        JudgementKey {
            task: self.task,
            sample_id: self.sample_id.clone(),
            setting: self.setting,
            order: self.order,
        }
    }

    /// Whether the verdict equals the label (unparseable counts as wrong).
    pub fn is_correct(&self) -> bool {
        self.verdict == Some(self.label)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swapped_verdicts_map_back_to_reference_order() {
        assert_eq!(
            Order::Swapped.to_reference(Verdict::Response1),
            Verdict::Response2
        );
        assert_eq!(Order::Swapped.to_reference(Verdict::Tie), Verdict::Tie);
        assert_eq!(
            Order::Original.to_reference(Verdict::Response1),
            Verdict::Response1
        );
    }

    #[test]
    fn judgement_lines_parse_with_optional_fields_missing() {
        let line = r#"{"task":"text_to_image","sample_id":"t2i-1","setting":"with_ties","raw_output":"[[B]]","verdict":"response2","label":"response2"}"#;
        let judgement: Judgement = serde_json::from_str(line).expect("parses");
        assert_eq!(judgement.order, Order::Original);
        assert!(judgement.is_correct());
        let unparseable = r#"{"task":"text_to_text","sample_id":"x","setting":"without_ties","order":"swapped","verdict":null,"label":"response1"}"#;
        let judgement: Judgement = serde_json::from_str(unparseable).expect("parses");
        assert!(!judgement.is_correct());
    }
}
