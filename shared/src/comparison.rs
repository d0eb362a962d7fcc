//! Two runs compared item by item: which shared samples each got right, per setting and task,
//! and the paired statistics over them; also the JSON document of `GET /compare` and
//! `omnireward compare --json`.
//!
//! Only original-order judgements count, as in the headline score, and each run's verdicts are
//! decided as its own scorecard decides them (a scalar model's tie rule swept on its own
//! judgements), so a comparison's accuracies equal the scorecards' on the shared items.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::judgement::{Judgement, Order};
use crate::paired::{
    PairedComparison, PairedOutcome, compare_paired, compare_paired_overall, holm_adjusted,
};
use crate::preference::Setting;
use crate::scorecard::{BootstrapConfig, ScalarTiePolicy, decided_verdict, tie_rules};
use crate::task::Task;

/// One compared run.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ComparedRun {
    /// The run's id.
    pub run: i64,
    /// Its model's name.
    pub model: String,
}

/// The comparison of one setting.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SettingComparison {
    /// Per task both runs judged (on at least one shared sample).
    pub tasks: BTreeMap<Task, PairedComparison>,
    /// Over the shared tasks: the mean of the task differences, with a task-stratified paired
    /// bootstrap interval and McNemar's test over every shared item.
    pub overall: PairedComparison,
}

/// `GET /compare?runs=A,B`: the first run minus the second.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunComparison {
    /// The first run (differences are its accuracy minus the second's).
    pub first: ComparedRun,
    /// The second run.
    pub second: ComparedRun,
    /// The bootstrap's settings.
    pub bootstrap: BootstrapConfig,
    /// Per setting with shared items.
    pub settings: BTreeMap<Setting, SettingComparison>,
}

/// Per task, the shared original-order items of `setting` and whether each run got them right.
/// Items are matched by (task, sample id); each task's pairs are in sample-id order, so the
/// bootstrap does not depend on the order judgements were stored in.
pub fn paired_outcomes(
    first: &[Judgement],
    second: &[Judgement],
    setting: Setting,
) -> BTreeMap<Task, Vec<PairedOutcome>> {
    let first_correct = correctness(first, setting);
    let second_correct = correctness(second, setting);
    let mut shared: Vec<(&(Task, String), &bool, &bool)> = first_correct
        .iter()
        .filter_map(|(key, first)| second_correct.get(key).map(|second| (key, first, second)))
        .collect();
    shared.sort_by(|left, right| left.0.cmp(right.0));
    let mut per_task: BTreeMap<Task, Vec<PairedOutcome>> = BTreeMap::new();
    for ((task, _), first_correct, second_correct) in shared {
        per_task.entry(*task).or_default().push(PairedOutcome {
            first_correct: *first_correct,
            second_correct: *second_correct,
        });
    }
    per_task
}

/// Whether each original-order item of `setting` was judged right, by (task, sample id), each
/// verdict decided as the run's scorecard decides it (a scalar model's w/ Ties rule swept on
/// these judgements).
pub fn correctness(judgements: &[Judgement], setting: Setting) -> HashMap<(Task, String), bool> {
    let rules = match setting {
        Setting::WithTies => tie_rules(judgements, ScalarTiePolicy::Sweep),
        Setting::WithoutTies => BTreeMap::new(),
    };
    judgements
        .iter()
        .filter(|judgement| {
            judgement.setting == setting
                && judgement.order == Order::Original
                && setting.includes(judgement.label)
        })
        .map(|judgement| {
            (
                (judgement.task, judgement.sample_id.clone()),
                decided_verdict(judgement, &rules) == Some(judgement.label),
            )
        })
        .collect()
}

/// Compares two runs' judgements in every setting where they share items.
pub fn compare_judgements(
    first: &[Judgement],
    second: &[Judgement],
    bootstrap: BootstrapConfig,
) -> BTreeMap<Setting, SettingComparison> {
    Setting::ALL
        .into_iter()
        .filter_map(|setting| {
            let per_task = paired_outcomes(first, second, setting);
            let overall = compare_paired_overall(&per_task, bootstrap)?;
            let tasks = per_task
                .iter()
                .filter_map(|(task, outcomes)| {
                    compare_paired(outcomes, bootstrap).map(|comparison| (*task, comparison))
                })
                .collect();
            Some((setting, SettingComparison { tasks, overall }))
        })
        .collect()
}

/// The family-wise error rate of the leaderboard's neighbour tests.
pub const RANK_ALPHA: f64 = 0.05;

/// A leaderboard row's paired test against the row ranked just below it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NeighbourTest {
    /// The run of the row below.
    pub next_run: i64,
    /// Shared items.
    pub items: usize,
    /// This row's overall minus the next row's, over their shared tasks and items.
    pub difference: f64,
    /// Exact McNemar p over every shared item.
    pub mcnemar_p: f64,
    /// The p-value after Holm's correction over all neighbour tests of the ranking.
    pub holm_p: f64,
    /// `holm_p <= RANK_ALPHA`: the two rows get different ranks.
    pub distinguishable: bool,
}

/// Paired tests between neighbours of a ranking: `runs` is best first, each with its
/// judgements; entry `i` tests run `i` against run `i + 1` (`None` for the last run, and where
/// two neighbours share no item). The p-values are Holm-corrected together, so "distinguishable"
/// holds for the whole ranking at [`RANK_ALPHA`].
pub fn neighbour_tests(
    runs: &[(i64, &[Judgement])],
    setting: Setting,
) -> Vec<Option<NeighbourTest>> {
    let mut tests: Vec<Option<NeighbourTest>> = runs
        .windows(2)
        .map(|pair| {
            let [(_, upper), (next_run, lower)] = pair else {
                return None;
            };
            let per_task = paired_outcomes(upper, lower, setting);
            // No bootstrap here (resamples 0): the ranking needs the test, and the interval is
            // one `GET /compare` away.
            let overall = compare_paired_overall(
                &per_task,
                BootstrapConfig {
                    resamples: 0,
                    seed: 0,
                },
            )?;
            Some(NeighbourTest {
                next_run: *next_run,
                items: overall.items,
                difference: overall.difference,
                mcnemar_p: overall.mcnemar_p,
                holm_p: overall.mcnemar_p,
                distinguishable: false,
            })
        })
        .collect();
    let raw: Vec<f64> = tests.iter().flatten().map(|test| test.mcnemar_p).collect();
    let mut adjusted = holm_adjusted(&raw).into_iter();
    for test in tests.iter_mut().flatten() {
        test.holm_p = adjusted.next().unwrap_or(1.0);
        test.distinguishable = test.holm_p <= RANK_ALPHA;
    }
    tests.push(None);
    tests.truncate(runs.len());
    tests
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preference::Preference;

    fn judgement(id: &str, verdict: Preference, label: Preference) -> Judgement {
        Judgement {
            task: Task::TextToText,
            sample_id: id.to_owned(),
            setting: Setting::WithoutTies,
            order: Order::Original,
            raw_output: None,
            rewards: None,
            verdict: Some(verdict),
            label,
            attempts: None,
            input_tokens: None,
            output_tokens: None,
            latency_ms: None,
        }
    }

    #[test]
    fn only_shared_original_order_items_are_paired() {
        use Preference::*;
        let first = vec![
            judgement("a", Response1, Response1),
            judgement("b", Response1, Response2),
            judgement("only-first", Response1, Response1),
        ];
        let mut swapped = judgement("a", Response2, Response1);
        swapped.order = Order::Swapped;
        let second = vec![
            judgement("b", Response2, Response2),
            judgement("a", Response2, Response1),
            swapped,
        ];
        let comparison = compare_judgements(&first, &second, BootstrapConfig::default());
        let without_ties = &comparison[&Setting::WithoutTies];
        let task = &without_ties.tasks[&Task::TextToText];
        // a: first right, second wrong; b: first wrong, second right.
        assert_eq!(task.items, 2);
        assert_eq!((task.first_only_correct, task.second_only_correct), (1, 1));
        assert_eq!(task.difference, 0.0);
        assert!(!comparison.contains_key(&Setting::WithTies));
    }

    /// `count` items of one task; the first `right` are judged right.
    fn run(right: usize, count: usize) -> Vec<Judgement> {
        use Preference::*;
        (0..count)
            .map(|index| {
                let verdict = if index < right { Response1 } else { Response2 };
                judgement(&format!("s{index:03}"), verdict, Response1)
            })
            .collect()
    }

    #[test]
    fn neighbours_share_a_rank_unless_holm_separates_them() {
        // Four runs on 100 items: 90, 88, 60 and 58 right, nested (a run right on an item is
        // right on it in every better run), so the discordant items are exactly the gaps.
        let runs = [run(90, 100), run(88, 100), run(60, 100), run(58, 100)];
        let ranking: Vec<(i64, &[Judgement])> = runs
            .iter()
            .enumerate()
            .map(|(index, judgements)| (index as i64 + 1, judgements.as_slice()))
            .collect();
        let tests = neighbour_tests(&ranking, Setting::WithoutTies);
        assert_eq!(tests.len(), 4);
        assert!(tests[3].is_none());
        let [first, second, third] =
            [0, 1, 2].map(|index| tests[index].clone().expect("shared items"));
        // 2 vs 0 discordant: p = 0.5; 28 vs 0: p = 2^-27; 2 vs 0 again.
        assert!((first.mcnemar_p - 0.5).abs() < 1e-12);
        assert!((second.mcnemar_p - 2.0 * 0.5f64.powi(28)).abs() < 1e-15);
        // Holm over three: 3 x 2^-27 for the smallest, then max(2 x 0.5, …) = 1 for the others.
        assert!((second.holm_p - 3.0 * second.mcnemar_p).abs() < 1e-15);
        assert_eq!((first.holm_p, third.holm_p), (1.0, 1.0));
        assert_eq!(
            [
                first.distinguishable,
                second.distinguishable,
                third.distinguishable
            ],
            [false, true, false]
        );
        assert_eq!((first.next_run, second.next_run, third.next_run), (2, 3, 4));
        assert!((second.difference - 0.28).abs() < 1e-12);
    }
}
