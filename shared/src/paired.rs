//! Paired comparisons of two judges on the same items: the accuracy difference with a seeded
//! paired bootstrap interval, the exact McNemar test, and Holm's correction for several tests.
//!
//! Two runs judged on the same samples are not independent measurements: most items are easy
//! or hard for both. Resampling the *pairs* (not each run on its own) and testing only the
//! discordant items is what makes a small difference between close judges detectable.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::random::SplitMix64;
use crate::scorecard::{BootstrapConfig, percentile_interval};
use crate::task::Task;

/// One shared item: whether each of the two judges got it right.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PairedOutcome {
    /// The first judge's verdict equals the label.
    pub first_correct: bool,
    /// The second judge's verdict equals the label.
    pub second_correct: bool,
}

impl PairedOutcome {
    /// `first_correct - second_correct`: -1, 0 or 1.
    fn difference(self) -> f64 {
        f64::from(u8::from(self.first_correct)) - f64::from(u8::from(self.second_correct))
    }
}

/// Two judges compared over the items they share.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PairedComparison {
    /// Shared items.
    pub items: usize,
    /// The first judge's accuracy on the shared items.
    pub first_accuracy: f64,
    /// The second judge's accuracy on the shared items.
    pub second_accuracy: f64,
    /// `first_accuracy - second_accuracy`.
    pub difference: f64,
    /// Paired bootstrap 95 % percentile interval of the difference.
    pub ci95: [f64; 2],
    /// Items only the first judge got right (McNemar's b).
    pub first_only_correct: usize,
    /// Items only the second judge got right (McNemar's c).
    pub second_only_correct: usize,
    /// Two-sided exact McNemar p-value.
    pub mcnemar_p: f64,
}

/// The discordant counts `(b, c)`: items only the first, and only the second, judge got right.
fn discordant(outcomes: &[PairedOutcome]) -> (usize, usize) {
    outcomes.iter().fold((0, 0), |(first, second), outcome| {
        (
            first + usize::from(outcome.first_correct && !outcome.second_correct),
            second + usize::from(outcome.second_correct && !outcome.first_correct),
        )
    })
}

fn mean_difference(outcomes: &[PairedOutcome]) -> f64 {
    if outcomes.is_empty() {
        return 0.0;
    }
    outcomes
        .iter()
        .map(|outcome| outcome.difference())
        .sum::<f64>()
        / outcomes.len() as f64
}

fn accuracy(outcomes: &[PairedOutcome], correct: impl Fn(&PairedOutcome) -> bool) -> f64 {
    if outcomes.is_empty() {
        return 0.0;
    }
    outcomes.iter().filter(|outcome| correct(outcome)).count() as f64 / outcomes.len() as f64
}

/// One resample (with replacement) of the mean difference of `outcomes`. The generator draws
/// exactly `outcomes.len()` indices, in order, so an independent implementation that replays
/// SplitMix64 gets the same replicates.
fn resampled_difference(outcomes: &[PairedOutcome], generator: &mut SplitMix64) -> f64 {
    let total: f64 = (0..outcomes.len())
        .map(|_| outcomes[generator.next_index(outcomes.len())].difference())
        .sum();
    total / outcomes.len() as f64
}

/// The paired bootstrap 95 % percentile interval of the accuracy difference: pairs are
/// resampled with replacement, `config.resamples` times, from a generator seeded with
/// `config.seed`. `[NaN, NaN]` for no items.
pub fn paired_bootstrap_interval(outcomes: &[PairedOutcome], config: BootstrapConfig) -> [f64; 2] {
    if outcomes.is_empty() {
        return [f64::NAN, f64::NAN];
    }
    let mut generator = SplitMix64::new(config.seed);
    let replicates = (0..config.resamples)
        .map(|_| resampled_difference(outcomes, &mut generator))
        .collect();
    percentile_interval(replicates)
}

/// The natural logarithm of the binomial probability `P(X = k)` for `X ~ Binomial(n, 1/2)`.
fn log_half_binomial_probability(n: usize, k: usize, log_factorials: &[f64]) -> f64 {
    log_factorials[n]
        - log_factorials[k]
        - log_factorials[n - k]
        - n as f64 * std::f64::consts::LN_2
}

/// The two-sided exact McNemar test on the discordant counts `b` and `c`: the binomial test of
/// `min(b, c)` successes in `b + c` trials with probability 1/2, `min(1, 2 P(X <= min(b, c)))`
/// (SciPy's `binomtest(b, b + c).pvalue`; statsmodels' `mcnemar(exact=True)`). 1 when there are
/// no discordant items.
///
/// Computed in log space: `2^-n` underflows a double past about a thousand discordant items.
pub fn mcnemar_exact(b: usize, c: usize) -> f64 {
    let trials = b + c;
    if trials == 0 {
        return 1.0;
    }
    let smaller = b.min(c);
    let mut log_factorials = Vec::with_capacity(trials + 1);
    log_factorials.push(0.0);
    for value in 1..=trials {
        let previous = log_factorials[value - 1];
        log_factorials.push(previous + (value as f64).ln());
    }
    let logs: Vec<f64> = (0..=smaller)
        .map(|k| log_half_binomial_probability(trials, k, &log_factorials))
        .collect();
    let largest = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let tail = largest.exp() * logs.iter().map(|log| (log - largest).exp()).sum::<f64>();
    (2.0 * tail).min(1.0)
}

/// Holm's step-down adjusted p-values, in the input order: sorted ascending, the i-th smallest
/// (from 0) is multiplied by `m - i`, capped at 1 and made non-decreasing. Rejecting where the
/// adjusted value is at most alpha controls the family-wise error rate at alpha.
pub fn holm_adjusted(p_values: &[f64]) -> Vec<f64> {
    let count = p_values.len();
    let mut order: Vec<usize> = (0..count).collect();
    order.sort_by(|left, right| p_values[*left].total_cmp(&p_values[*right]));
    let mut adjusted = vec![0.0; count];
    let mut running_max: f64 = 0.0;
    for (rank, index) in order.into_iter().enumerate() {
        let scaled = ((count - rank) as f64 * p_values[index]).min(1.0);
        running_max = running_max.max(scaled);
        adjusted[index] = running_max;
    }
    adjusted
}

/// Compares two judges over their shared items. `None` when they share none.
pub fn compare_paired(
    outcomes: &[PairedOutcome],
    config: BootstrapConfig,
) -> Option<PairedComparison> {
    if outcomes.is_empty() {
        return None;
    }
    let (first_only_correct, second_only_correct) = discordant(outcomes);
    let first_accuracy = accuracy(outcomes, |outcome| outcome.first_correct);
    let second_accuracy = accuracy(outcomes, |outcome| outcome.second_correct);
    Some(PairedComparison {
        items: outcomes.len(),
        first_accuracy,
        second_accuracy,
        difference: mean_difference(outcomes),
        ci95: paired_bootstrap_interval(outcomes, config),
        first_only_correct,
        second_only_correct,
        mcnemar_p: mcnemar_exact(first_only_correct, second_only_correct),
    })
}

/// Compares two judges over the paper's overall: the unweighted mean over tasks of each task's
/// accuracy on its shared items. The interval resamples each task's pairs independently
/// (stratified by task, like the scorecard's intervals, in `Task` order within a replicate);
/// the McNemar test pools the discordant items of every task. `None` when no task has shared
/// items.
pub fn compare_paired_overall(
    per_task: &BTreeMap<Task, Vec<PairedOutcome>>,
    config: BootstrapConfig,
) -> Option<PairedComparison> {
    let tasks: Vec<&Vec<PairedOutcome>> = per_task
        .values()
        .filter(|outcomes| !outcomes.is_empty())
        .collect();
    if tasks.is_empty() {
        return None;
    }
    let task_mean = |value: &dyn Fn(&[PairedOutcome]) -> f64| {
        tasks.iter().map(|outcomes| value(outcomes)).sum::<f64>() / tasks.len() as f64
    };
    let mut generator = SplitMix64::new(config.seed);
    let replicates = (0..config.resamples)
        .map(|_| {
            tasks
                .iter()
                .map(|outcomes| resampled_difference(outcomes, &mut generator))
                .sum::<f64>()
                / tasks.len() as f64
        })
        .collect();
    let (first_only_correct, second_only_correct) = tasks
        .iter()
        .map(|outcomes| discordant(outcomes))
        .fold((0, 0), |(b, c), (task_b, task_c)| (b + task_b, c + task_c));
    Some(PairedComparison {
        items: tasks.iter().map(|outcomes| outcomes.len()).sum(),
        first_accuracy: task_mean(&|outcomes| accuracy(outcomes, |o| o.first_correct)),
        second_accuracy: task_mean(&|outcomes| accuracy(outcomes, |o| o.second_correct)),
        difference: task_mean(&mean_difference),
        ci95: percentile_interval(replicates),
        first_only_correct,
        second_only_correct,
        mcnemar_p: mcnemar_exact(first_only_correct, second_only_correct),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcomes(pattern: &[(bool, bool)]) -> Vec<PairedOutcome> {
        pattern
            .iter()
            .map(|&(first_correct, second_correct)| PairedOutcome {
                first_correct,
                second_correct,
            })
            .collect()
    }

    #[test]
    fn identical_judges_have_no_difference_and_p_one() {
        let items = outcomes(&[(true, true), (false, false), (true, true)]);
        let comparison = compare_paired(&items, BootstrapConfig::default()).expect("items");
        assert_eq!(comparison.difference, 0.0);
        assert_eq!(comparison.ci95, [0.0, 0.0]);
        assert_eq!(comparison.mcnemar_p, 1.0);
        assert!(compare_paired(&[], BootstrapConfig::default()).is_none());
    }

    #[test]
    fn mcnemar_small_cases_match_the_binomial_by_hand() {
        // b = 0, c = 5: 2 * 0.5^5 = 0.0625.
        assert!((mcnemar_exact(0, 5) - 0.0625).abs() < 1e-15);
        // b = 1, c = 3: 2 * (1 + 4) / 16 = 0.625.
        assert!((mcnemar_exact(1, 3) - 0.625).abs() < 1e-15);
        assert_eq!(mcnemar_exact(4, 4), 1.0);
        // Thousands of discordant items neither underflow nor lose symmetry.
        let p = mcnemar_exact(2_000, 2_200);
        assert!(p > 0.0 && p < 0.01, "{p}");
        assert_eq!(p, mcnemar_exact(2_200, 2_000));
    }

    #[test]
    fn holm_is_monotone_and_capped() {
        let adjusted = holm_adjusted(&[0.01, 0.04, 0.03, 0.5]);
        // Sorted 0.01, 0.03, 0.04, 0.5 → 0.04, 0.09, 0.09 (monotone), 0.5.
        let expected = [0.04, 0.09, 0.09, 0.5];
        for (value, want) in adjusted.iter().zip(expected) {
            assert!((value - want).abs() < 1e-12, "{adjusted:?}");
        }
        assert_eq!(holm_adjusted(&[0.6, 0.7]), vec![1.0, 1.0]);
        assert!(holm_adjusted(&[]).is_empty());
    }
}
