//! Scorecards: accuracy per task, per modality and overall, for each setting, with seeded
//! bootstrap 95 % intervals.
//!
//! Definitions (benchmark.md section 3): task accuracy = correct / evaluated, an unparseable
//! verdict counts as wrong; a modality's score is the unweighted mean of its covered tasks'
//! accuracies; overall is the unweighted mean over the covered tasks, reported with their count.
//! Point estimates never depend on the bootstrap.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::judgement::{Judgement, Order};
use crate::metric_card::{MetricCard, metric_card};
use crate::preference::Setting;
use crate::random::SplitMix64;
use crate::reliability::{Reliability, reliability};
use crate::task::{Modality, Task};
// The tie rules are their own module (the metric card uses them without the scorecard);
// re-exported here, where they have always been named.
use crate::tie_rules::tie_rules_of;
pub use crate::tie_rules::{ScalarTiePolicy, TieRule, decided_verdict, tie_rules};

/// Whether one evaluated item was judged correctly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Task of the item.
    pub task: Task,
    /// Verdict equals label.
    pub correct: bool,
    /// The judge's answer could not be parsed (and so is wrong).
    pub unparseable: bool,
}

/// Settings of the percentile bootstrap.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootstrapConfig {
    /// Number of resamples (1,000 or more for stable 95 % bounds).
    pub resamples: usize,
    /// Seed of the resampling; the same seed gives the same intervals everywhere.
    pub seed: u64,
}

impl Default for BootstrapConfig {
    fn default() -> Self {
        Self {
            resamples: 1_000,
            seed: 20_251_027,
        }
    }
}

/// Score of one task in one setting.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskScore {
    /// `correct / total`.
    pub accuracy: f64,
    /// Items judged correctly.
    pub correct: usize,
    /// Items evaluated.
    pub total: usize,
    /// Bootstrap 95 % percentile interval of the accuracy.
    pub ci95: [f64; 2],
    /// Items whose verdict could not be parsed (counted wrong).
    #[serde(default)]
    pub unparseable: usize,
    /// The tie rule, for scalar reward models in the w/ Ties setting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tie_rule: Option<TieRule>,
    /// Judge-reliability measures, for generative judges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reliability: Option<Reliability>,
}

/// A mean of task accuracies (per modality, or overall).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AggregateScore {
    /// Unweighted mean of the covered tasks' accuracies.
    pub accuracy: f64,
    /// How many tasks the mean covers.
    pub tasks_covered: usize,
    /// Bootstrap 95 % percentile interval of the mean.
    pub ci95: [f64; 2],
}

/// All scores of one setting.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SettingScorecard {
    /// Per covered task.
    pub tasks: BTreeMap<Task, TaskScore>,
    /// Per modality with at least one covered task.
    pub modalities: BTreeMap<Modality, AggregateScore>,
    /// Mean over the covered tasks.
    pub overall: AggregateScore,
    /// The metric card: other conventions and the judge's behaviour (absent from scorecards
    /// stored before it existed, until they are rescored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric_card: Option<MetricCard>,
}

/// Name, version and content hash of the benchmark a scorecard was computed on.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BenchmarkIdentity {
    /// Benchmark name, e.g. `omni-rewardbench`.
    pub name: String,
    /// Release or sample version.
    pub version: String,
    /// SHA-256 over the benchmark's samples (hex).
    pub hash: String,
}

/// The scorecard of one model on one benchmark: the stable JSON of `--json` outputs.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scorecard {
    /// The judge's display name.
    pub model: String,
    /// The benchmark it was evaluated on.
    pub benchmark: BenchmarkIdentity,
    /// One entry per setting that was evaluated.
    pub settings: BTreeMap<Setting, SettingScorecard>,
}

impl SettingScorecard {
    /// Computes the scorecard of one setting from per-item outcomes. Returns `None` when there
    /// are no outcomes.
    pub fn from_outcomes(outcomes: &[Outcome], bootstrap: BootstrapConfig) -> Option<Self> {
        let mut per_task: BTreeMap<Task, Vec<bool>> = BTreeMap::new();
        let mut unparseable: BTreeMap<Task, usize> = BTreeMap::new();
        for outcome in outcomes {
            per_task
                .entry(outcome.task)
                .or_default()
                .push(outcome.correct);
            *unparseable.entry(outcome.task).or_default() += usize::from(outcome.unparseable);
        }
        if per_task.is_empty() {
            return None;
        }
        let accuracies: BTreeMap<Task, f64> = per_task
            .iter()
            .map(|(task, items)| {
                (
                    *task,
                    fraction(items.iter().filter(|c| **c).count(), items.len()),
                )
            })
            .collect();

        let replicates = bootstrap_replicates(&per_task, bootstrap);
        let tasks = per_task
            .iter()
            .map(|(task, items)| {
                let correct = items.iter().filter(|c| **c).count();
                let samples: Vec<f64> =
                    replicates.iter().map(|replicate| replicate[task]).collect();
                let score = TaskScore {
                    accuracy: accuracies[task],
                    correct,
                    total: items.len(),
                    ci95: percentile_interval(samples),
                    unparseable: unparseable.get(task).copied().unwrap_or(0),
                    tie_rule: None,
                    reliability: None,
                };
                (*task, score)
            })
            .collect();

        let aggregate = |members: &[Task]| -> Option<AggregateScore> {
            if members.is_empty() {
                return None;
            }
            let samples = replicates
                .iter()
                .map(|replicate| mean(members.iter().map(|task| replicate[task])))
                .collect();
            Some(AggregateScore {
                accuracy: mean(members.iter().map(|task| accuracies[task])),
                tasks_covered: members.len(),
                ci95: percentile_interval(samples),
            })
        };
        let modalities = Modality::ALL
            .into_iter()
            .filter_map(|modality| {
                let members: Vec<Task> = modality
                    .tasks()
                    .filter(|task| per_task.contains_key(task))
                    .collect();
                aggregate(&members).map(|score| (modality, score))
            })
            .collect();
        let covered: Vec<Task> = per_task.keys().copied().collect();
        let overall = aggregate(&covered)?;
        Some(Self {
            tasks,
            modalities,
            overall,
            metric_card: None,
        })
    }

    /// Mean accuracy over `tasks` if this scorecard covers all of them: the fair overall when
    /// comparing models of different coverage.
    pub fn overall_over(&self, tasks: &[Task]) -> Option<f64> {
        if tasks.is_empty() {
            return None;
        }
        let accuracies: Option<Vec<f64>> = tasks
            .iter()
            .map(|task| self.tasks.get(task).map(|score| score.accuracy))
            .collect();
        accuracies.map(|values| mean(values.into_iter()))
    }
}

/// Scores judgements in both settings.
///
/// Only original-order judgements count toward the headline score. Judgements that carry
/// scalar rewards are decided by the margin: strictly higher reward wins in w/o Ties, and the
/// tie policy (the Ties-Matter sweep per task by default) decides w/ Ties. Other judgements use
/// their parsed verdict.
pub fn score_judgements(
    judgements: &[Judgement],
    tie_policy: ScalarTiePolicy,
    bootstrap: BootstrapConfig,
) -> BTreeMap<Setting, SettingScorecard> {
    let mut scorecards = BTreeMap::new();
    let mut reliabilities = reliability(judgements);
    for setting in Setting::ALL {
        let items: Vec<&Judgement> = judgements
            .iter()
            .filter(|judgement| {
                judgement.setting == setting
                    && judgement.order == Order::Original
                    && setting.includes(judgement.label)
            })
            .collect();
        let tie_rules = if setting == Setting::WithTies {
            tie_rules_of(&items, tie_policy)
        } else {
            BTreeMap::new()
        };
        let outcomes: Vec<Outcome> = items
            .iter()
            .map(|judgement| {
                let verdict = decided_verdict(judgement, &tie_rules);
                Outcome {
                    task: judgement.task,
                    correct: verdict == Some(judgement.label),
                    unparseable: judgement.rewards.is_none() && judgement.verdict.is_none(),
                }
            })
            .collect();
        if let Some(mut scorecard) = SettingScorecard::from_outcomes(&outcomes, bootstrap) {
            scorecard.metric_card = metric_card(judgements, setting, &tie_rules);
            for (task, rule) in tie_rules {
                if let Some(score) = scorecard.tasks.get_mut(&task) {
                    score.tie_rule = Some(rule);
                }
            }
            for (task, measures) in reliabilities.remove(&setting).unwrap_or_default() {
                if let Some(score) = scorecard.tasks.get_mut(&task) {
                    score.reliability = Some(measures);
                }
            }
            scorecards.insert(setting, scorecard);
        }
    }
    scorecards
}

fn fraction(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, count) = values.fold((0.0, 0usize), |(sum, count), value| {
        (sum + value, count + 1)
    });
    fraction_f64(sum, count)
}

fn fraction_f64(sum: f64, count: usize) -> f64 {
    if count == 0 { 0.0 } else { sum / count as f64 }
}

/// Per replicate, the resampled accuracy of every task. Each task's items are resampled with
/// replacement independently, and aggregate intervals come from the same replicates, so task,
/// modality and overall intervals are consistent with one another.
fn bootstrap_replicates(
    per_task: &BTreeMap<Task, Vec<bool>>,
    config: BootstrapConfig,
) -> Vec<BTreeMap<Task, f64>> {
    let mut generator = SplitMix64::new(config.seed);
    (0..config.resamples)
        .map(|_| {
            per_task
                .iter()
                .map(|(task, items)| {
                    let correct = (0..items.len())
                        .filter(|_| items[generator.next_index(items.len())])
                        .count();
                    (*task, fraction(correct, items.len()))
                })
                .collect()
        })
        .collect()
}

/// The 2.5 % and 97.5 % quantiles with linear interpolation between order statistics (the
/// default method of numpy's `quantile`). An empty input gives `[NaN, NaN]`.
pub(crate) fn percentile_interval(mut samples: Vec<f64>) -> [f64; 2] {
    if samples.is_empty() {
        return [f64::NAN, f64::NAN];
    }
    samples.sort_by(f64::total_cmp);
    let quantile = |probability: f64| {
        let position = probability * (samples.len() - 1) as f64;
        let lower = position.floor() as usize;
        let upper = position.ceil() as usize;
        let weight = position - lower as f64;
        samples[lower] * (1.0 - weight) + samples[upper] * weight
    };
    [quantile(0.025), quantile(0.975)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::judgement::Rewards;
    use crate::preference::{Label, Verdict};

    fn outcomes(task: Task, correct: usize, wrong: usize) -> Vec<Outcome> {
        let mut items = vec![
            Outcome {
                task,
                correct: true,
                unparseable: false
            };
            correct
        ];
        items.extend(vec![
            Outcome {
                task,
                correct: false,
                unparseable: false
            };
            wrong
        ]);
        items
    }

    fn close(left: f64, right: f64) -> bool {
        (left - right).abs() < 1e-12
    }

    #[test]
    fn partial_coverage_averages_only_covered_tasks() {
        // T2T 3/4, TI2T 1/2, T2I 2/2, TV2T 0/3; no audio, no 3D.
        let mut items = outcomes(Task::TextToText, 3, 1);
        items.extend(outcomes(Task::TextImageToText, 1, 1));
        items.extend(outcomes(Task::TextToImage, 2, 0));
        items.extend(outcomes(Task::TextVideoToText, 0, 3));
        let scorecard =
            SettingScorecard::from_outcomes(&items, BootstrapConfig::default()).expect("has items");

        assert_eq!(scorecard.tasks.len(), 4);
        assert!(close(scorecard.tasks[&Task::TextToText].accuracy, 0.75));
        assert_eq!(scorecard.tasks[&Task::TextToText].correct, 3);
        assert_eq!(scorecard.tasks[&Task::TextToText].total, 4);
        // Image = mean(0.5, 1.0); video = 0; text = 0.75; no audio or 3D entry.
        assert!(close(scorecard.modalities[&Modality::Image].accuracy, 0.75));
        assert_eq!(scorecard.modalities[&Modality::Image].tasks_covered, 2);
        assert!(close(scorecard.modalities[&Modality::Video].accuracy, 0.0));
        assert!(!scorecard.modalities.contains_key(&Modality::Audio));
        // Overall = mean(0.75, 0.5, 1.0, 0.0) over 4 tasks, not the pooled 6/11.
        assert!(close(scorecard.overall.accuracy, 0.5625));
        assert_eq!(scorecard.overall.tasks_covered, 4);
        assert_eq!(
            scorecard.overall_over(&[Task::TextToText, Task::TextToImage]),
            Some(0.875)
        );
        assert_eq!(scorecard.overall_over(&[Task::TextToAudio]), None);
    }

    #[test]
    fn intervals_contain_the_estimate_and_are_reproducible() {
        let mut items = outcomes(Task::TextToText, 30, 10);
        items.extend(outcomes(Task::TextToVideo, 12, 28));
        let config = BootstrapConfig::default();
        let first = SettingScorecard::from_outcomes(&items, config).expect("has items");
        let second = SettingScorecard::from_outcomes(&items, config).expect("has items");
        assert_eq!(first, second);
        for score in first.tasks.values() {
            assert!(score.ci95[0] <= score.accuracy && score.accuracy <= score.ci95[1]);
            assert!(score.ci95[0] < score.ci95[1]);
        }
        let overall = &first.overall;
        assert!(overall.ci95[0] <= overall.accuracy && overall.accuracy <= overall.ci95[1]);
        // Binomial standard error of 0.75 with n = 40 is about 0.068: the interval is near ±0.13.
        let width = first.tasks[&Task::TextToText].ci95[1] - first.tasks[&Task::TextToText].ci95[0];
        assert!((0.18..0.36).contains(&width), "width {width}");
        // A perfect task has a degenerate interval.
        let perfect = SettingScorecard::from_outcomes(&outcomes(Task::TextTo3d, 5, 0), config)
            .expect("has items");
        assert_eq!(perfect.tasks[&Task::TextTo3d].ci95, [1.0, 1.0]);
    }

    #[test]
    fn quantiles_interpolate_like_numpy() {
        let samples: Vec<f64> = (0..=100).map(f64::from).collect();
        assert_eq!(percentile_interval(samples), [2.5, 97.5]);
        let [low, high] = percentile_interval(vec![1.0, 3.0]);
        assert!(close(low, 1.05) && close(high, 2.95), "{low} {high}");
    }

    fn judgement(
        task: Task,
        setting: Setting,
        label: Label,
        verdict: Option<Verdict>,
        rewards: Option<(f64, f64)>,
    ) -> Judgement {
        Judgement {
            task,
            sample_id: format!("{task}-{label}-{verdict:?}-{rewards:?}"),
            setting,
            order: Order::Original,
            raw_output: None,
            rewards: rewards.map(|(response1, response2)| Rewards {
                response1,
                response2,
            }),
            verdict,
            label,
            attempts: None,
            input_tokens: None,
            output_tokens: None,
            latency_ms: None,
        }
    }

    #[test]
    fn unparseable_verdicts_count_wrong_and_swapped_items_do_not_count() {
        use crate::preference::Preference::*;
        let mut judgements = vec![
            judgement(
                Task::TextToText,
                Setting::WithTies,
                Response1,
                Some(Response1),
                None,
            ),
            judgement(Task::TextToText, Setting::WithTies, Tie, Some(Tie), None),
            judgement(Task::TextToText, Setting::WithTies, Response2, None, None),
            judgement(
                Task::TextToText,
                Setting::WithTies,
                Response2,
                Some(Response1),
                None,
            ),
            judgement(
                Task::TextToText,
                Setting::WithoutTies,
                Response2,
                None,
                None,
            ),
            judgement(
                Task::TextToText,
                Setting::WithoutTies,
                Response1,
                Some(Response1),
                None,
            ),
        ];
        let mut swapped = judgement(
            Task::TextToText,
            Setting::WithTies,
            Tie,
            Some(Response1),
            None,
        );
        swapped.order = Order::Swapped;
        judgements.push(swapped);
        let scorecards = score_judgements(
            &judgements,
            ScalarTiePolicy::Sweep,
            BootstrapConfig::default(),
        );
        let with_ties = &scorecards[&Setting::WithTies].tasks[&Task::TextToText];
        assert_eq!(
            (with_ties.correct, with_ties.total, with_ties.unparseable),
            (2, 4, 1)
        );
        let without_ties = &scorecards[&Setting::WithoutTies].tasks[&Task::TextToText];
        assert_eq!(
            (
                without_ties.correct,
                without_ties.total,
                without_ties.unparseable
            ),
            (1, 2, 1)
        );
    }

    #[test]
    fn scalar_rewards_use_strict_order_and_the_tie_sweep() {
        use crate::preference::Preference::*;
        let rows = [
            (Response1, (2.0, 1.0)),
            (Response2, (0.0, 1.5)),
            (Response1, (1.0, 1.0)), // equal rewards: wrong without ties
            (Tie, (1.0, 1.1)),
            (Tie, (0.5, 0.45)),
        ];
        let mut judgements = Vec::new();
        for (label, rewards) in rows {
            judgements.push(judgement(
                Task::TextToImage,
                Setting::WithTies,
                label,
                None,
                Some(rewards),
            ));
            if label != Tie {
                judgements.push(judgement(
                    Task::TextToImage,
                    Setting::WithoutTies,
                    label,
                    None,
                    Some(rewards),
                ));
            }
        }
        let scorecards = score_judgements(
            &judgements,
            ScalarTiePolicy::Sweep,
            BootstrapConfig::default(),
        );
        let without_ties = &scorecards[&Setting::WithoutTies].tasks[&Task::TextToImage];
        assert_eq!((without_ties.correct, without_ties.total), (2, 3));
        let with_ties = &scorecards[&Setting::WithTies].tasks[&Task::TextToImage];
        // |margins|: 1.0, 1.5, 0.0 (R1), 0.1 (tie), 0.05 (tie). epsilon = 0.1 (floating point:
        // 1.1 - 1.0) calls the two ties and the equal pair ties: 4 of 5 correct.
        assert_eq!((with_ties.correct, with_ties.total), (4, 5));
        match with_ties.tie_rule {
            Some(TieRule::Sweep {
                epsilon: Some(epsilon),
            }) => assert!((epsilon - 0.1).abs() < 1e-9),
            other => panic!("unexpected tie rule {other:?}"),
        }
        let fixed = score_judgements(
            &judgements,
            ScalarTiePolicy::Fixed(0.01),
            BootstrapConfig::default(),
        );
        let fixed_score = &fixed[&Setting::WithTies].tasks[&Task::TextToImage];
        // epsilon 0.01 only calls the equal pair a tie (wrong): 2 of 5.
        assert_eq!(fixed_score.correct, 2);
        assert_eq!(fixed_score.tie_rule, Some(TieRule::Fixed { epsilon: 0.01 }));
    }
}
