//! How a scalar reward model's rewards become w/ Ties verdicts: each task's tie rule (the
//! Ties-Matter sweep, or a threshold fixed in advance) and the verdict it decides.
//!
//! The scorecard, the metric card and the per-item listings all decide verdicts here, so they
//! count the same items right.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::judgement::{Judgement, Order};
use crate::preference::{Setting, Verdict};
use crate::task::Task;
use crate::ties_matter::{ScoredPair, sweep_tie_threshold, verdict_for_margin};

/// How a scalar reward model's w/ Ties verdicts were decided for a task.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TieRule {
    /// The Ties-Matter oracle sweep on this test set; `epsilon` is the chosen threshold
    /// (`null`: never predict a tie).
    Sweep {
        /// The chosen threshold.
        epsilon: Option<f64>,
    },
    /// A threshold fixed in advance.
    Fixed {
        /// The threshold.
        epsilon: f64,
    },
}

/// How to turn scalar rewards into w/ Ties verdicts.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum ScalarTiePolicy {
    /// Ties-Matter sweep per task (the paper's definition).
    #[default]
    Sweep,
    /// One threshold fixed in advance for every task.
    Fixed(f64),
}

/// The w/ Ties tie rule of every task of a scalar reward model's run: the Ties-Matter sweep over
/// the task's original-order w/ Ties judgements that carry rewards, or the fixed threshold.
/// Tasks without rewards (generative judges) get none.
pub fn tie_rules(judgements: &[Judgement], tie_policy: ScalarTiePolicy) -> BTreeMap<Task, TieRule> {
    let items: Vec<&Judgement> = judgements
        .iter()
        .filter(|judgement| {
            judgement.setting == Setting::WithTies && judgement.order == Order::Original
        })
        .collect();
    tie_rules_of(&items, tie_policy)
}

/// The tie rules over `items` (w/ Ties, original order) as they are.
pub(crate) fn tie_rules_of(
    items: &[&Judgement],
    tie_policy: ScalarTiePolicy,
) -> BTreeMap<Task, TieRule> {
    let mut margins: BTreeMap<Task, Vec<ScoredPair>> = BTreeMap::new();
    for judgement in items {
        if let Some(rewards) = judgement.rewards {
            margins.entry(judgement.task).or_default().push(ScoredPair {
                margin: rewards.margin(),
                label: judgement.label,
            });
        }
    }
    margins
        .into_iter()
        .map(|(task, pairs)| {
            let rule = match tie_policy {
                ScalarTiePolicy::Sweep => TieRule::Sweep {
                    epsilon: sweep_tie_threshold(&pairs).epsilon,
                },
                ScalarTiePolicy::Fixed(epsilon) => TieRule::Fixed { epsilon },
            };
            (task, rule)
        })
        .collect()
}

impl TieRule {
    /// The threshold at or under which a margin is a tie (`None`: never a tie).
    pub fn epsilon(self) -> Option<f64> {
        match self {
            TieRule::Sweep { epsilon } => epsilon,
            TieRule::Fixed { epsilon } => Some(epsilon),
        }
    }
}

/// The verdict the scorecard counts for one judgement: a scalar reward model's is decided by
/// its margin (in w/ Ties under its task's rule in `tie_rules`, as [`tie_rules`] gives them;
/// in w/o Ties the strictly higher reward), a generative judge's is the parsed one.
pub fn decided_verdict(
    judgement: &Judgement,
    tie_rules: &BTreeMap<Task, TieRule>,
) -> Option<Verdict> {
    match judgement.rewards {
        Some(rewards) => {
            let epsilon = match judgement.setting {
                Setting::WithTies => tie_rules
                    .get(&judgement.task)
                    .and_then(|rule| rule.epsilon()),
                Setting::WithoutTies => None,
            };
            verdict_for_margin(rewards.margin(), epsilon)
        }
        None => judgement.verdict,
    }
}
