//! Ablation audits: a judge run with part of its input taken away, the media (no image, video or
//! audio part) or the annotator's criterion, so that comparing it with the same run on full
//! inputs (its *base run*) shows whether the judge uses that part at all.
//!
//! Ablations are part of a run's identity (an ablated run is never joined with its base run);
//! the base run is the run whose identity is the same without them ([`base_identity`]).

use omnireward_shared::Sample;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The field of an identity (or of an API judge's `request` within it) that lists ablations.
const FIELD: &str = "ablations";

/// One part of a judge's input taken away.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
pub enum Ablation {
    /// No image, video or audio in the judge's input; only the template's text and texts.
    Media,
    /// The annotator's criterion left out of the prompt (its placeholder renders empty).
    Criterion,
}

impl Ablation {
    /// The name runs record and pages show.
    pub fn key(self) -> &'static str {
        match self {
            Ablation::Media => "media",
            Ablation::Criterion => "criterion",
        }
    }
}

/// `ablations` sorted and without repeats, so a run's identity does not depend on the order
/// they were asked for in.
pub fn normalized(mut ablations: Vec<Ablation>) -> Vec<Ablation> {
    ablations.sort();
    ablations.dedup();
    ablations
}

/// The sample as a judge sees it under `ablations`: without its criterion when that is
/// ablated. Media are dropped where requests are built, since templates still name their slots.
pub fn apply_to_sample(sample: &Sample, ablations: &[Ablation]) -> Option<Sample> {
    ablations.contains(&Ablation::Criterion).then(|| Sample {
        criterion: String::new(),
        ..sample.clone()
    })
}

/// The ablations a stored identity records (an API judge's under `request`, other judges' at
/// the top level); empty for a run on full inputs.
pub fn recorded(identity: &Value) -> Vec<String> {
    let list = identity
        .get("request")
        .and_then(|request| request.get(FIELD))
        .or_else(|| identity.get(FIELD));
    list.and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// The identity of the base run of an ablated run: `identity` without its ablations; `None`
/// when it has none. Absent and empty lists are the same (identities leave empty ones out).
pub fn base_identity(identity: &Value) -> Option<Value> {
    if recorded(identity).is_empty() {
        return None;
    }
    let mut base = identity.clone();
    if let Some(request) = base.get_mut("request").and_then(Value::as_object_mut) {
        request.remove(FIELD);
    }
    if let Some(object) = base.as_object_mut() {
        object.remove(FIELD);
    }
    Some(base)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_base_identity_is_the_same_identity_without_ablations() {
        let ablated = json!({"judge": "api", "endpoint": "e",
                             "request": {"model": "m", "ablations": ["criterion", "media"]}});
        assert_eq!(recorded(&ablated), ["criterion", "media"]);
        assert_eq!(
            base_identity(&ablated),
            Some(json!({"judge": "api", "endpoint": "e", "request": {"model": "m"}}))
        );
        let checkpoint =
            json!({"judge": "checkpoint", "weights_sha256": "w", "ablations": ["media"]});
        assert_eq!(
            base_identity(&checkpoint),
            Some(json!({"judge": "checkpoint", "weights_sha256": "w"}))
        );
        assert_eq!(base_identity(&json!({"judge": "api", "request": {}})), None);
        assert_eq!(
            normalized(vec![Ablation::Media, Ablation::Criterion, Ablation::Media]),
            [Ablation::Media, Ablation::Criterion]
        );
    }
}
