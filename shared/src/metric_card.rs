//! The metric card that goes with every scorecard: the numbers a reader needs to compare our
//! headline with numbers reported elsewhere, and to see how the judge behaves.
//!
//! The same judgements give different overalls under the conventions in use: the paper's macro
//! mean over tasks or a micro mean over items, and an unparsed answer counted wrong (ours and
//! the paper's), dropped from the denominator, or replaced by a random guess. The card reports
//! all of them beside the unparsed count, the predicted and labelled tie rates, the verdict
//! distribution and, when the order-swap pass ran, the position bias; for a scalar reward
//! model with ties, the tie threshold chosen by cross-validation beside the paper's in-sample
//! sweep.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::judgement::{Judgement, Order};
use crate::preference::{Preference, Setting, Verdict};
use crate::random::SplitMix64;
use crate::task::Task;
use crate::tie_cross_validation::{
    CROSS_VALIDATION_FOLDS, CROSS_VALIDATION_SEED, TieThresholdReport, tie_threshold_report,
};
use crate::tie_rules::{TieRule, decided_verdict};
use crate::ties_matter::ScoredPair;

/// The seed of the random-guess convention: fixed, so the card is the same on every machine.
pub const RANDOM_GUESS_SEED: u64 = 20_251_027;

/// What an unparsed answer counts as.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnparsedConvention {
    /// Wrong, and kept in the denominator: the paper's rule and our headline.
    CountedWrong,
    /// Left out of the denominator.
    Dropped,
    /// Replaced by a verdict drawn uniformly from the setting's options (A, B, and tie in w/
    /// Ties), seeded per item with [`RANDOM_GUESS_SEED`].
    RandomGuess,
}

impl UnparsedConvention {
    /// Every convention, the headline's first.
    pub const ALL: [UnparsedConvention; 3] = [
        UnparsedConvention::CountedWrong,
        UnparsedConvention::Dropped,
        UnparsedConvention::RandomGuess,
    ];

    /// The JSON key (`counted_wrong`, `dropped`, `random_guess`).
    pub fn key(self) -> &'static str {
        match self {
            UnparsedConvention::CountedWrong => "counted_wrong",
            UnparsedConvention::Dropped => "dropped",
            UnparsedConvention::RandomGuess => "random_guess",
        }
    }

    /// A short label for tables.
    pub fn label(self) -> &'static str {
        match self {
            UnparsedConvention::CountedWrong => "unparsed counted wrong (paper)",
            UnparsedConvention::Dropped => "unparsed dropped",
            UnparsedConvention::RandomGuess => "unparsed guessed at random",
        }
    }
}

/// The overall accuracy under one convention.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConventionScore {
    /// The convention.
    pub convention: UnparsedConvention,
    /// Unweighted mean over the covered tasks of each task's accuracy (the paper's overall).
    pub macro_accuracy: f64,
    /// Correct items over all counted items, every task pooled.
    pub micro_accuracy: f64,
    /// Items in the denominator.
    pub items: usize,
    /// Tasks with at least one counted item.
    pub tasks_covered: usize,
}

/// How often each verdict was given (original order, after a scalar model's tie rule).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerdictCounts {
    /// `response1` (A in the reference order).
    pub response1: usize,
    /// `response2`.
    pub response2: usize,
    /// `tie`.
    pub tie: usize,
    /// No verdict: an unparsed answer, or equal rewards not called a tie.
    pub none: usize,
}

/// The metric card of one setting.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricCard {
    /// Items scored (original order).
    pub items: usize,
    /// The paper's overall: macro mean over tasks, unparsed counted wrong.
    pub macro_accuracy: f64,
    /// Micro mean over items, unparsed counted wrong.
    pub micro_accuracy: f64,
    /// Answers that could not be parsed.
    pub unparsed: usize,
    /// `unparsed / items`.
    pub unparsed_rate: f64,
    /// Share of items the judge called a tie.
    pub predicted_tie_rate: f64,
    /// Share of items labelled tie.
    pub labelled_tie_rate: f64,
    /// The verdict distribution.
    pub verdicts: VerdictCounts,
    /// When the order-swap pass ran: share of picks of the response shown first minus share of
    /// picks of the one shown second, over every judgement of both orders (0 = no preference).
    pub position_bias: Option<f64>,
    /// The same judgements under each [`UnparsedConvention`], the headline's first.
    pub conventions: Vec<ConventionScore>,
    /// For a scalar reward model in w/ Ties, per task: the in-sample tie threshold (the
    /// paper's, tuned on the test labels) beside the cross-validated one.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tie_thresholds: BTreeMap<Task, TieThresholdReport>,
}

/// One scored item: task, label, and the verdict the scorecard counts.
struct ScoredItem<'judgement> {
    judgement: &'judgement Judgement,
    verdict: Option<Verdict>,
    unparsed: bool,
}

/// The metric card of `setting`, from all of a run's judgements and the tie rules that decided
/// a scalar model's w/ Ties verdicts. `None` when the setting has no scored item.
pub fn metric_card(
    judgements: &[Judgement],
    setting: Setting,
    tie_rules: &BTreeMap<Task, TieRule>,
) -> Option<MetricCard> {
    let items: Vec<ScoredItem<'_>> = judgements
        .iter()
        .filter(|judgement| {
            judgement.setting == setting
                && judgement.order == Order::Original
                && setting.includes(judgement.label)
        })
        .map(|judgement| ScoredItem {
            judgement,
            verdict: decided_verdict(judgement, tie_rules),
            unparsed: judgement.rewards.is_none() && judgement.verdict.is_none(),
        })
        .collect();
    if items.is_empty() {
        return None;
    }
    let mut verdicts = VerdictCounts::default();
    for item in &items {
        match item.verdict {
            Some(Preference::Response1) => verdicts.response1 += 1,
            Some(Preference::Response2) => verdicts.response2 += 1,
            Some(Preference::Tie) => verdicts.tie += 1,
            None => verdicts.none += 1,
        }
    }
    let unparsed = items.iter().filter(|item| item.unparsed).count();
    let labelled_ties = items
        .iter()
        .filter(|item| item.judgement.label == Preference::Tie)
        .count();
    let conventions: Vec<ConventionScore> = UnparsedConvention::ALL
        .into_iter()
        .map(|convention| convention_score(&items, setting, convention))
        .collect();
    let headline = &conventions[0];
    Some(MetricCard {
        items: items.len(),
        macro_accuracy: headline.macro_accuracy,
        micro_accuracy: headline.micro_accuracy,
        unparsed,
        unparsed_rate: share(unparsed, items.len()),
        predicted_tie_rate: share(verdicts.tie, items.len()),
        labelled_tie_rate: share(labelled_ties, items.len()),
        verdicts,
        position_bias: position_bias(judgements, setting),
        conventions,
        tie_thresholds: match setting {
            Setting::WithTies => tie_thresholds(&items),
            Setting::WithoutTies => BTreeMap::new(),
        },
    })
}

fn convention_score(
    items: &[ScoredItem<'_>],
    setting: Setting,
    convention: UnparsedConvention,
) -> ConventionScore {
    // Per task: (correct, counted).
    let mut per_task: BTreeMap<Task, (usize, usize)> = BTreeMap::new();
    for item in items {
        let verdict = match (item.unparsed, convention) {
            (true, UnparsedConvention::Dropped) => continue,
            (true, UnparsedConvention::RandomGuess) => Some(random_guess(item.judgement, setting)),
            _ => item.verdict,
        };
        let entry = per_task.entry(item.judgement.task).or_default();
        entry.0 += usize::from(verdict == Some(item.judgement.label));
        entry.1 += 1;
    }
    let correct: usize = per_task.values().map(|(correct, _)| correct).sum();
    let counted: usize = per_task.values().map(|(_, counted)| counted).sum();
    let macro_accuracy = if per_task.is_empty() {
        0.0
    } else {
        per_task
            .values()
            .map(|(correct, counted)| share(*correct, *counted))
            .sum::<f64>()
            / per_task.len() as f64
    };
    ConventionScore {
        convention,
        macro_accuracy,
        micro_accuracy: share(correct, counted),
        items: counted,
        tasks_covered: per_task.len(),
    }
}

/// Per task with scalar rewards, the in-sample and cross-validated tie thresholds.
fn tie_thresholds(items: &[ScoredItem<'_>]) -> BTreeMap<Task, TieThresholdReport> {
    let mut pairs: BTreeMap<Task, Vec<ScoredPair>> = BTreeMap::new();
    for item in items {
        if let Some(rewards) = item.judgement.rewards {
            pairs
                .entry(item.judgement.task)
                .or_default()
                .push(ScoredPair {
                    margin: rewards.margin(),
                    label: item.judgement.label,
                });
        }
    }
    pairs
        .into_iter()
        .filter_map(|(task, pairs)| {
            tie_threshold_report(&pairs, CROSS_VALIDATION_FOLDS, CROSS_VALIDATION_SEED)
                .map(|report| (task, report))
        })
        .collect()
}

/// The random-guess convention's verdict for one item: drawn from a generator seeded by
/// [`RANDOM_GUESS_SEED`] and the item's task and id (FNV-1a), so it depends neither on the
/// order judgements are stored in nor on the other items.
pub fn random_guess(judgement: &Judgement, setting: Setting) -> Verdict {
    let mut hash: u64 = 0xCBF2_9CE4_8422_2325;
    let key = [judgement.task.key(), "\t", judgement.sample_id.as_str()];
    for byte in key.iter().flat_map(|part| part.bytes()) {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01B3);
    }
    let options: &[Verdict] = match setting {
        Setting::WithTies => &Preference::ALL,
        Setting::WithoutTies => &[Preference::Response1, Preference::Response2],
    };
    options[SplitMix64::new(RANDOM_GUESS_SEED ^ hash).next_index(options.len())]
}

/// Position bias over a setting's verdict-based judgements of both orders, when any was
/// judged swapped (scalar rewards have no presentation order).
fn position_bias(judgements: &[Judgement], setting: Setting) -> Option<f64> {
    let judged: Vec<&Judgement> = judgements
        .iter()
        .filter(|judgement| {
            judgement.setting == setting
                && judgement.rewards.is_none()
                && setting.includes(judgement.label)
        })
        .collect();
    if !judged
        .iter()
        .any(|judgement| judgement.order == Order::Swapped)
    {
        return None;
    }
    // Stored verdicts are in reference order; map them back to the shown order.
    let shown = |judgement: &&Judgement| {
        judgement
            .verdict
            .map(|verdict| judgement.order.to_reference(verdict))
    };
    let first = judged
        .iter()
        .filter(|judgement| shown(judgement) == Some(Preference::Response1))
        .count();
    let second = judged
        .iter()
        .filter(|judgement| shown(judgement) == Some(Preference::Response2))
        .count();
    Some(share(first, judged.len()) - share(second, judged.len()))
}

fn share(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}
