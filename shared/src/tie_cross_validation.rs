//! Tie thresholds that do not peek: the Ties-Matter threshold chosen by k-fold cross-validation.
//!
//! The paper's w/ Ties score for a scalar reward model sweeps the tie threshold on the test set
//! itself ([`crate::ties_matter::sweep_tie_threshold`]), so it is optimistic. Here the task's
//! pairs are shuffled (seeded) into k folds; each fold is scored with the threshold swept on the
//! other folds only, so no pair's own label takes part in choosing the threshold that scores it.

use serde::{Deserialize, Serialize};

use crate::preference::Verdict;
use crate::random::SplitMix64;
use crate::ties_matter::{ScoredPair, sweep_tie_threshold, verdict_for_margin};

/// Folds used by the metric card.
pub const CROSS_VALIDATION_FOLDS: usize = 5;

/// Seed of the metric card's fold assignment.
pub const CROSS_VALIDATION_SEED: u64 = 20_251_027;

/// A task's tie threshold chosen in-sample (the paper's) and by cross-validation, side by side.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TieThresholdReport {
    /// Pairs scored.
    pub total: usize,
    /// The in-sample sweep's threshold (`null`: never a tie), tuned on these very labels.
    pub in_sample_epsilon: Option<f64>,
    /// Accuracy under the in-sample threshold: the paper's definition, optimistic.
    pub in_sample_accuracy: f64,
    /// Accuracy when each fold is scored with the threshold swept on the other folds.
    pub cross_validated_accuracy: f64,
    /// Number of folds (fewer than asked when the task has fewer pairs).
    pub folds: usize,
    /// Seed of the fold assignment.
    pub seed: u64,
    /// The threshold each fold was scored with, fold by fold.
    pub fold_epsilons: Vec<Option<f64>>,
}

/// Cross-validated verdicts: one per pair (in input order), and the threshold of each fold.
#[derive(Clone, Debug, PartialEq)]
pub struct CrossValidatedVerdicts {
    /// The verdict of each pair, decided by a threshold swept without it.
    pub verdicts: Vec<Option<Verdict>>,
    /// The threshold each fold was scored with.
    pub fold_epsilons: Vec<Option<f64>>,
}

/// The fold of each pair: a seeded Fisher-Yates shuffle of the indices dealt round-robin into
/// `folds` folds, so fold sizes differ by at most one.
fn fold_assignment(count: usize, folds: usize, seed: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..count).collect();
    let mut generator = SplitMix64::new(seed);
    for last in (1..count).rev() {
        let chosen = generator.next_index(last + 1);
        order.swap(last, chosen);
    }
    let mut assignment = vec![0; count];
    for (position, index) in order.into_iter().enumerate() {
        assignment[index] = position % folds;
    }
    assignment
}

/// Scores every pair with the threshold swept on the folds it is not in. `folds` is capped at
/// the number of pairs (leave-one-out at most) and raised to at least 1; with one fold there is
/// nothing to train on and the threshold is "never a tie".
pub fn cross_validated_verdicts(
    pairs: &[ScoredPair],
    folds: usize,
    seed: u64,
) -> CrossValidatedVerdicts {
    let folds = folds.min(pairs.len()).max(1);
    let assignment = fold_assignment(pairs.len(), folds, seed);
    let mut verdicts = vec![None; pairs.len()];
    let mut fold_epsilons = Vec::with_capacity(folds);
    for fold in 0..folds {
        let training: Vec<ScoredPair> = pairs
            .iter()
            .zip(&assignment)
            .filter(|(_, assigned)| **assigned != fold)
            .map(|(pair, _)| *pair)
            .collect();
        let epsilon = if training.is_empty() {
            None
        } else {
            sweep_tie_threshold(&training).epsilon
        };
        fold_epsilons.push(epsilon);
        for (index, pair) in pairs.iter().enumerate() {
            if assignment[index] == fold {
                verdicts[index] = verdict_for_margin(pair.margin, epsilon);
            }
        }
    }
    CrossValidatedVerdicts {
        verdicts,
        fold_epsilons,
    }
}

/// The in-sample and cross-validated thresholds of one task's pairs. `None` for no pairs.
pub fn tie_threshold_report(
    pairs: &[ScoredPair],
    folds: usize,
    seed: u64,
) -> Option<TieThresholdReport> {
    if pairs.is_empty() {
        return None;
    }
    let in_sample = sweep_tie_threshold(pairs);
    let cross_validated = cross_validated_verdicts(pairs, folds, seed);
    let correct = cross_validated
        .verdicts
        .iter()
        .zip(pairs)
        .filter(|(verdict, pair)| **verdict == Some(pair.label))
        .count();
    Some(TieThresholdReport {
        total: pairs.len(),
        in_sample_epsilon: in_sample.epsilon,
        in_sample_accuracy: in_sample.accuracy(),
        cross_validated_accuracy: correct as f64 / pairs.len() as f64,
        folds: cross_validated.fold_epsilons.len(),
        seed,
        fold_epsilons: cross_validated.fold_epsilons,
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::preference::Label;

    fn label_strategy() -> impl Strategy<Value = Label> {
        prop_oneof![
            Just(Label::Response1),
            Just(Label::Response2),
            Just(Label::Tie)
        ]
    }

    #[test]
    fn folds_are_balanced_and_reproducible() {
        let assignment = fold_assignment(23, 5, 7);
        assert_eq!(assignment, fold_assignment(23, 5, 7));
        let mut sizes = [0; 5];
        for fold in &assignment {
            sizes[*fold] += 1;
        }
        assert_eq!(sizes.iter().max().copied(), Some(5));
        assert_eq!(sizes.iter().min().copied(), Some(4));
    }

    #[test]
    fn the_in_sample_sweep_peeks_where_cross_validation_does_not() {
        let pair = |margin, label| ScoredPair { margin, label };
        let pairs = [
            pair(0.1, Label::Tie),
            pair(0.1, Label::Response1),
            pair(0.2, Label::Tie),
        ];
        // In-sample: never a tie gets 1 right, ε = 0.1 gets 1, ε = 0.2 gets 2.
        let report = tie_threshold_report(&pairs, 3, 1).expect("pairs");
        assert_eq!(report.in_sample_epsilon, Some(0.2));
        assert!((report.in_sample_accuracy - 2.0 / 3.0).abs() < 1e-12);
        // The first pair's in-sample verdict follows its own label: relabelled response1, the
        // sweep picks "never a tie" and calls it response1.
        let mut relabelled = pairs;
        relabelled[0].label = Label::Response1;
        assert_eq!(sweep_tie_threshold(&relabelled).epsilon, None);
        // Leave-one-out: the first pair is scored by {R1 0.1, tie 0.2} (never: R1, wrong), the
        // second by {tie 0.1, tie 0.2} (ε = 0.2: tie, wrong), the third by {tie 0.1, R1 0.1}
        // (never, the smallest of two equally good: R1, wrong).
        assert_eq!(report.folds, 3);
        assert_eq!(
            report.fold_epsilons.iter().filter(|e| e.is_none()).count(),
            2
        );
        assert_eq!(report.cross_validated_accuracy, 0.0);
    }

    proptest! {
        /// Changing one pair's label never changes the verdict it is scored with: its own label
        /// takes no part in choosing its threshold.
        #[test]
        fn a_pairs_own_label_never_decides_its_verdict(
            raw in proptest::collection::vec((-8i32..=8, label_strategy()), 1..40),
            folds in 2usize..6,
            seed in 0u64..1_000,
            changed in 0usize..40,
            new_label in label_strategy(),
        ) {
            let pairs: Vec<ScoredPair> = raw
                .into_iter()
                .map(|(step, label)| ScoredPair { margin: f64::from(step) * 0.125, label })
                .collect();
            let changed = changed % pairs.len();
            let mut relabelled = pairs.clone();
            relabelled[changed].label = new_label;
            let before = cross_validated_verdicts(&pairs, folds, seed);
            let after = cross_validated_verdicts(&relabelled, folds, seed);
            prop_assert_eq!(before.verdicts[changed], after.verdicts[changed]);
        }
    }
}
