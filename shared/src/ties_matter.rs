//! Tie rules for scalar reward models.
//!
//! A scalar reward model gives each response a reward; with margin `m = r(response1) -
//! r(response2)` it predicts a tie iff `|m| <= epsilon`, else the response with the higher reward.
//! Equal rewards without a tie prediction are a wrong answer (the paper's w/o Ties rule).
//!
//! [`sweep_tie_threshold`] is the "Ties Matter" calibration (Deutsch et al. 2023,
//! arXiv 2305.14324) used by the paper's w/ Ties scores: it tries every observed `|m|` as epsilon,
//! plus "never predict a tie", and keeps the most accurate. It is tuned on the test set itself, so
//! it is optimistic; [`accuracy_at_threshold`] scores a threshold fixed in advance.

use serde::{Deserialize, Serialize};

use crate::preference::{Label, Verdict};

/// A sample's reward margin and its human label.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScoredPair {
    /// `r(response1) - r(response2)`.
    pub margin: f64,
    /// The human label.
    pub label: Label,
}

/// A tie threshold and the accuracy it reaches on a set of pairs.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TieThreshold {
    /// Largest `|margin|` predicted as a tie; `None` means ties are never predicted.
    pub epsilon: Option<f64>,
    /// Pairs whose prediction equals the label.
    pub correct: usize,
    /// Pairs evaluated.
    pub total: usize,
}

impl TieThreshold {
    /// `correct / total` (0 for an empty set).
    pub fn accuracy(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.correct as f64 / self.total as f64
        }
    }
}

/// The verdict a scalar reward model gives for `margin` under a tie threshold.
///
/// Returns `None` (counted wrong) for a NaN margin, and for a zero margin that is not called a
/// tie: equal rewards pick neither response.
pub fn verdict_for_margin(margin: f64, epsilon: Option<f64>) -> Option<Verdict> {
    if margin.is_nan() {
        return None;
    }
    if epsilon.is_some_and(|epsilon| margin.abs() <= epsilon) {
        return Some(Verdict::Tie);
    }
    if margin > 0.0 {
        Some(Verdict::Response1)
    } else if margin < 0.0 {
        Some(Verdict::Response2)
    } else {
        None
    }
}

/// Accuracy of a threshold fixed in advance.
pub fn accuracy_at_threshold(pairs: &[ScoredPair], epsilon: Option<f64>) -> TieThreshold {
    let correct = pairs
        .iter()
        .filter(|pair| verdict_for_margin(pair.margin, epsilon) == Some(pair.label))
        .count();
    TieThreshold {
        epsilon,
        correct,
        total: pairs.len(),
    }
}

/// The most accurate tie threshold over every observed `|margin|` and "never tie".
///
/// Runs in O(n log n): pairs are sorted by `|margin|` and the accuracy of each candidate is
/// updated incrementally. Among equally accurate thresholds the smallest wins ("never tie"
/// first), so the choice is deterministic and predicts as few ties as the data allows.
pub fn sweep_tie_threshold(pairs: &[ScoredPair]) -> TieThreshold {
    // (|margin|, is a tie label, sign agrees with a non-tie label)
    let mut by_magnitude: Vec<(f64, bool, bool)> = pairs
        .iter()
        .filter(|pair| !pair.margin.is_nan())
        .map(|pair| {
            let is_tie = pair.label == Label::Tie;
            let sign_correct = !is_tie && verdict_for_margin(pair.margin, None) == Some(pair.label);
            (pair.margin.abs(), is_tie, sign_correct)
        })
        .collect();
    by_magnitude.sort_by(|left, right| left.0.total_cmp(&right.0));

    let correct_without_ties = by_magnitude.iter().filter(|entry| entry.2).count();
    let mut best = TieThreshold {
        epsilon: None,
        correct: correct_without_ties,
        total: pairs.len(),
    };
    let mut ties_within = 0;
    let mut sign_correct_within = 0;
    let mut index = 0;
    while index < by_magnitude.len() {
        let magnitude = by_magnitude[index].0;
        // Consume the whole group of equal magnitudes: a threshold includes all or none of them.
        while index < by_magnitude.len() && by_magnitude[index].0 == magnitude {
            ties_within += usize::from(by_magnitude[index].1);
            sign_correct_within += usize::from(by_magnitude[index].2);
            index += 1;
        }
        let correct = ties_within + correct_without_ties - sign_correct_within;
        if correct > best.correct {
            best = TieThreshold {
                epsilon: Some(magnitude),
                correct,
                total: pairs.len(),
            };
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn pair(margin: f64, label: Label) -> ScoredPair {
        ScoredPair { margin, label }
    }

    /// The O(n^2) definition: try every candidate, keep the first best.
    fn brute_force(pairs: &[ScoredPair]) -> TieThreshold {
        let mut candidates: Vec<f64> = pairs
            .iter()
            .filter(|pair| !pair.margin.is_nan())
            .map(|pair| pair.margin.abs())
            .collect();
        candidates.sort_by(f64::total_cmp);
        candidates.dedup();
        let mut best = accuracy_at_threshold(pairs, None);
        for epsilon in candidates {
            let candidate = accuracy_at_threshold(pairs, Some(epsilon));
            if candidate.correct > best.correct {
                best = candidate;
            }
        }
        best
    }

    #[test]
    fn crafted_margins_choose_the_expected_threshold() {
        // Ties sit at small margins, preferences at large ones: epsilon = 0.2 gets all 6 right.
        let pairs = [
            pair(0.1, Label::Tie),
            pair(-0.2, Label::Tie),
            pair(0.9, Label::Response1),
            pair(-1.5, Label::Response2),
            pair(0.5, Label::Response1),
            pair(-0.4, Label::Response2),
        ];
        let best = sweep_tie_threshold(&pairs);
        assert_eq!(best.epsilon, Some(0.2));
        assert_eq!((best.correct, best.total), (6, 6));

        // Without ties in the labels, predicting none is best.
        let pairs = [pair(0.3, Label::Response1), pair(-0.1, Label::Response2)];
        assert_eq!(sweep_tie_threshold(&pairs).epsilon, None);
        assert_eq!(sweep_tie_threshold(&pairs).correct, 2);

        // A tie at margin 0.5 costs the preference at 0.5 too: 2 of 3 either way, keep "never".
        let pairs = [
            pair(0.5, Label::Tie),
            pair(-0.5, Label::Response2),
            pair(1.0, Label::Response1),
        ];
        let best = sweep_tie_threshold(&pairs);
        assert_eq!((best.epsilon, best.correct), (None, 2));
    }

    #[test]
    fn equal_rewards_are_wrong_unless_called_a_tie() {
        assert_eq!(verdict_for_margin(0.0, None), None);
        assert_eq!(verdict_for_margin(0.0, Some(0.0)), Some(Verdict::Tie));
        assert_eq!(verdict_for_margin(f64::NAN, Some(1.0)), None);
        let pairs = [pair(0.0, Label::Tie), pair(0.0, Label::Response1)];
        let best = sweep_tie_threshold(&pairs);
        assert_eq!((best.epsilon, best.correct), (Some(0.0), 1));
    }

    #[test]
    fn fixed_thresholds_score_as_defined() {
        let pairs = [
            pair(0.1, Label::Tie),
            pair(0.3, Label::Tie),
            pair(0.9, Label::Response1),
            pair(-0.2, Label::Response2),
        ];
        assert_eq!(accuracy_at_threshold(&pairs, Some(0.15)).correct, 3);
        assert_eq!(accuracy_at_threshold(&pairs, Some(0.3)).correct, 3);
        assert_eq!(accuracy_at_threshold(&pairs, None).correct, 2);
        assert!((accuracy_at_threshold(&pairs, Some(0.15)).accuracy() - 0.75).abs() < 1e-12);
    }

    fn label_strategy() -> impl Strategy<Value = Label> {
        prop_oneof![
            Just(Label::Response1),
            Just(Label::Response2),
            Just(Label::Tie)
        ]
    }

    proptest! {
        #[test]
        fn sweep_equals_brute_force(
            // Few distinct margins so equal magnitudes, zeros and sign flips are common.
            raw in proptest::collection::vec((-6i32..=6, label_strategy()), 0..60),
            nan_count in 0usize..3,
        ) {
            let mut pairs: Vec<ScoredPair> = raw
                .into_iter()
                .map(|(step, label)| pair(f64::from(step) * 0.25, label))
                .collect();
            pairs.extend((0..nan_count).map(|_| pair(f64::NAN, Label::Tie)));
            let fast = sweep_tie_threshold(&pairs);
            let slow = brute_force(&pairs);
            prop_assert_eq!(fast.correct, slow.correct);
            prop_assert_eq!(fast.epsilon, slow.epsilon);
            prop_assert_eq!(fast.total, pairs.len());
        }

        #[test]
        fn sweep_equals_brute_force_on_continuous_margins(
            raw in proptest::collection::vec((-10.0f64..10.0, label_strategy()), 0..80),
        ) {
            let pairs: Vec<ScoredPair> = raw.into_iter().map(|(margin, label)| pair(margin, label)).collect();
            let fast = sweep_tie_threshold(&pairs);
            let slow = brute_force(&pairs);
            prop_assert_eq!(fast, slow);
        }
    }
}
