//! Judge-reliability measures for generative judges, per task and setting: how the verdicts
//! behave, beyond whether they are right.
//!
//! With the order-swap pass (each item judged with A and B exchanged) we can see position bias
//! directly: a judge that prefers whatever is shown first agrees with itself less often and
//! answers "A" more often than "B".

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::judgement::{Judgement, Order};
use crate::preference::{Setting, Verdict};
use crate::task::Task;

/// Reliability of a generative judge on one task in one setting.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reliability {
    /// Accuracy on the swapped order, when the swap pass ran.
    pub swapped_accuracy: Option<f64>,
    /// Share of items judged in both orders whose two verdicts name the same response (or both
    /// tie). An unparseable verdict counts as inconsistent.
    pub swap_consistency: Option<f64>,
    /// Share of verdicts that picked the response shown first minus the share that picked the
    /// one shown second, over every judgement of both orders (0 = no position preference).
    pub position_bias: f64,
    /// Share of original-order verdicts that are tie.
    pub tie_rate: f64,
    /// Share of original-order outputs that could not be parsed.
    pub parse_failure_rate: f64,
    /// Items judged in both orders.
    pub swapped_pairs: usize,
}

fn share(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// Reliability per setting and task, from verdict-based judgements (scalar rewards are skipped:
/// they have no presentation order).
pub fn reliability(judgements: &[Judgement]) -> BTreeMap<Setting, BTreeMap<Task, Reliability>> {
    let mut groups: BTreeMap<(Setting, Task), Vec<&Judgement>> = BTreeMap::new();
    for judgement in judgements {
        if judgement.rewards.is_none() && judgement.setting.includes(judgement.label) {
            groups
                .entry((judgement.setting, judgement.task))
                .or_default()
                .push(judgement);
        }
    }
    let mut result: BTreeMap<Setting, BTreeMap<Task, Reliability>> = BTreeMap::new();
    for ((setting, task), items) in groups {
        let original: Vec<&&Judgement> = items
            .iter()
            .filter(|j| j.order == Order::Original)
            .collect();
        let swapped: Vec<&&Judgement> =
            items.iter().filter(|j| j.order == Order::Swapped).collect();
        let swapped_accuracy = (!swapped.is_empty()).then(|| {
            share(
                swapped.iter().filter(|j| j.is_correct()).count(),
                swapped.len(),
            )
        });
        let swapped_by_sample: HashMap<&str, Option<Verdict>> = swapped
            .iter()
            .map(|j| (j.sample_id.as_str(), j.verdict))
            .collect();
        let mut pairs = 0;
        let mut consistent = 0;
        for judgement in &original {
            if let Some(other) = swapped_by_sample.get(judgement.sample_id.as_str()) {
                pairs += 1;
                if judgement.verdict.is_some() && judgement.verdict == *other {
                    consistent += 1;
                }
            }
        }
        // Verdicts are stored in reference order; map them back to what was shown.
        let shown =
            |judgement: &Judgement| judgement.verdict.map(|v| judgement.order.to_reference(v));
        let first = items
            .iter()
            .filter(|j| shown(j) == Some(Verdict::Response1))
            .count();
        let second = items
            .iter()
            .filter(|j| shown(j) == Some(Verdict::Response2))
            .count();
        let entry = Reliability {
            swapped_accuracy,
            swap_consistency: (pairs > 0).then(|| share(consistent, pairs)),
            position_bias: share(first, items.len()) - share(second, items.len()),
            tie_rate: share(
                original
                    .iter()
                    .filter(|j| j.verdict == Some(Verdict::Tie))
                    .count(),
                original.len(),
            ),
            parse_failure_rate: share(
                original.iter().filter(|j| j.verdict.is_none()).count(),
                original.len(),
            ),
            swapped_pairs: pairs,
        };
        result.entry(setting).or_default().insert(task, entry);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preference::{Label, Preference};

    fn judgement(id: &str, order: Order, verdict: Option<Verdict>, label: Label) -> Judgement {
        Judgement {
            task: Task::TextToImage,
            sample_id: id.to_owned(),
            setting: Setting::WithTies,
            order,
            raw_output: None,
            rewards: None,
            verdict,
            label,
            attempts: None,
            input_tokens: None,
            output_tokens: None,
            latency_ms: None,
        }
    }

    #[test]
    fn a_judge_that_always_answers_a_is_fully_position_biased() {
        use Preference::*;
        // Always "[[A]]": original order → response1, swapped order → response2 (reference).
        let judgements = vec![
            judgement("x", Order::Original, Some(Response1), Response1),
            judgement("x", Order::Swapped, Some(Response2), Response1),
            judgement("y", Order::Original, Some(Response1), Response2),
            judgement("y", Order::Swapped, Some(Response2), Response2),
        ];
        let reliability = &reliability(&judgements)[&Setting::WithTies][&Task::TextToImage];
        assert_eq!(reliability.swapped_pairs, 2);
        assert_eq!(reliability.swap_consistency, Some(0.0));
        assert!((reliability.position_bias - 1.0).abs() < 1e-12);
        assert_eq!(reliability.swapped_accuracy, Some(0.5));
        assert_eq!(reliability.tie_rate, 0.0);
    }

    #[test]
    fn a_consistent_judge_has_no_bias_and_rates_count_original_order() {
        use Preference::*;
        let judgements = vec![
            judgement("x", Order::Original, Some(Response1), Response1),
            judgement("x", Order::Swapped, Some(Response1), Response1),
            judgement("y", Order::Original, Some(Tie), Tie),
            judgement("y", Order::Swapped, Some(Tie), Tie),
            judgement("z", Order::Original, None, Response2),
            judgement("z", Order::Swapped, Some(Response2), Response2),
        ];
        let reliability = &reliability(&judgements)[&Setting::WithTies][&Task::TextToImage];
        assert_eq!(reliability.swap_consistency, Some(2.0 / 3.0));
        // Shown: x orig A, x swapped B, z swapped A → (2 - 1) / 6.
        assert!((reliability.position_bias - 1.0 / 6.0).abs() < 1e-12);
        assert!((reliability.tie_rate - 1.0 / 3.0).abs() < 1e-12);
        assert!((reliability.parse_failure_rate - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(reliability.swapped_accuracy, Some(1.0));
    }

    #[test]
    fn without_a_swap_pass_swap_measures_are_absent() {
        let judgements = vec![judgement(
            "x",
            Order::Original,
            Some(Preference::Response2),
            Preference::Response1,
        )];
        let reliability = &reliability(&judgements)[&Setting::WithTies][&Task::TextToImage];
        assert_eq!(reliability.swap_consistency, None);
        assert_eq!(reliability.swapped_accuracy, None);
        assert!((reliability.position_bias + 1.0).abs() < 1e-12);
    }
}
