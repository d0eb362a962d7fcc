//! How hard each sample of the served benchmark is: the share of evaluated runs that judged it
//! right, per setting, for the benchmark browser (sortable) and the sample pages.
//!
//! Computed from [`Storage::finished_run_judgements`](crate::storage::Storage) (one query for
//! every finished run), never per sample or per run. A run counts when it judged the served
//! content: its benchmark is the served one, or the served one restricted to some tasks (a
//! submission over chosen tasks stores such a benchmark, under the same name and version and the
//! hash of the restriction). Each run counts once per sample and setting, on its original-order
//! judgement, decided as its scorecard decides it (a scalar model's w/ Ties rule swept on its own
//! judgements), so the counts agree with the scores on the leaderboard.

use std::collections::{BTreeSet, HashMap};

use omnireward_shared::comparison::correctness;
use omnireward_shared::wire::{RightShare, SampleDifficulty};
use omnireward_shared::{Setting, Task};

use crate::data::{Benchmark, content_hash};
use crate::storage::FinishedRunJudgements;

/// The difficulty of every sample some counted run judged, by (task, sample id).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Difficulty {
    samples: HashMap<(Task, String), SampleDifficulty>,
    /// Runs that counted.
    runs: usize,
}

impl Difficulty {
    /// Counts the runs of `runs` that judged `served`'s content.
    pub fn of(served: &Benchmark, runs: &[FinishedRunJudgements]) -> Difficulty {
        let mut restrictions = Restrictions::new(served);
        let mut difficulty = Difficulty::default();
        for run in runs {
            if !restrictions.judged_served_content(run) {
                continue;
            }
            difficulty.runs += 1;
            for setting in Setting::ALL {
                for (key, right) in correctness(&run.judgements, setting) {
                    let entry = difficulty.samples.entry(key).or_default();
                    let share = match setting {
                        Setting::WithTies => &mut entry.with_ties,
                        Setting::WithoutTies => &mut entry.without_ties,
                    };
                    let share = share.get_or_insert_with(RightShare::default);
                    share.judged += 1;
                    share.right += usize::from(right);
                }
            }
        }
        difficulty
    }

    /// The difficulty of one sample (`None`: no counted run judged it).
    pub fn sample(&self, task: Task, id: &str) -> Option<SampleDifficulty> {
        self.samples.get(&(task, id.to_owned())).copied()
    }

    /// How many runs were counted.
    pub fn runs(&self) -> usize {
        self.runs
    }
}

/// Which stored benchmarks hold the served content: the served one, and its restrictions to
/// sets of tasks (their hashes computed once per set of tasks met).
struct Restrictions<'served> {
    served: &'served Benchmark,
    hashes: HashMap<BTreeSet<Task>, String>,
}

impl<'served> Restrictions<'served> {
    fn new(served: &'served Benchmark) -> Restrictions<'served> {
        Restrictions {
            served,
            hashes: HashMap::new(),
        }
    }

    fn judged_served_content(&mut self, run: &FinishedRunJudgements) -> bool {
        let Some(benchmark) = &run.benchmark else {
            return false;
        };
        let served = &self.served.identity;
        if benchmark.hash == served.hash {
            return true;
        }
        if benchmark.name != served.name || benchmark.version != served.version {
            return false;
        }
        // A finished run judged every task of its benchmark, so its tasks are the restriction's.
        let tasks: BTreeSet<Task> = run
            .judgements
            .iter()
            .map(|judgement| judgement.task)
            .collect();
        let samples = &self.served.samples;
        let hash = self.hashes.entry(tasks).or_insert_with_key(|tasks| {
            let chosen: Vec<_> = samples
                .iter()
                .filter(|sample| tasks.contains(&sample.task))
                .cloned()
                .collect();
            content_hash(&chosen)
        });
        *hash == benchmark.hash
    }
}

#[cfg(test)]
mod tests {
    use omnireward_shared::{BenchmarkIdentity, Judgement, Order, Preference};

    use super::*;
    use crate::data::{LoadOptions, embedded};
    use crate::storage::RunId;

    /// A judgement of `sample` that is right or not (a generative verdict).
    fn judged(sample: &omnireward_shared::Sample, setting: Setting, right: bool) -> Judgement {
        let wrong = match sample.label {
            Preference::Response1 => Preference::Response2,
            _ => Preference::Response1,
        };
        Judgement {
            task: sample.task,
            sample_id: sample.id.clone(),
            setting,
            order: Order::Original,
            raw_output: None,
            rewards: None,
            verdict: Some(if right { sample.label } else { wrong }),
            label: sample.label,
            attempts: None,
            input_tokens: None,
            output_tokens: None,
            latency_ms: None,
        }
    }

    fn run(
        id: i64,
        benchmark: BenchmarkIdentity,
        samples: &[&omnireward_shared::Sample],
        right: bool,
    ) -> FinishedRunJudgements {
        FinishedRunJudgements {
            run: RunId(id),
            benchmark: Some(benchmark),
            judgements: samples
                .iter()
                .flat_map(|sample| {
                    Setting::ALL
                        .into_iter()
                        .filter(|setting| setting.includes(sample.label))
                        .map(move |setting| judged(sample, setting, right))
                })
                .collect(),
        }
    }

    #[test]
    fn runs_count_on_the_served_content_and_its_restrictions_only() {
        let folder = tempfile::TempDir::new().expect("temporary folder");
        let served = embedded::load(folder.path(), &LoadOptions::default()).expect("loads");
        let all: Vec<&omnireward_shared::Sample> = served.samples.iter().collect();
        let text: Vec<&omnireward_shared::Sample> = served.task_samples(Task::TextToText).collect();
        let text_identity = BenchmarkIdentity {
            hash: content_hash(
                &text
                    .iter()
                    .map(|sample| (*sample).clone())
                    .collect::<Vec<_>>(),
            ),
            ..served.identity.clone()
        };
        let other_content = BenchmarkIdentity {
            hash: "not the served content".to_owned(),
            ..served.identity.clone()
        };
        let runs = [
            run(1, served.identity.clone(), &all, true),
            run(2, text_identity, &text, false),
            // Same name and version, other content: not counted.
            run(3, other_content, &all, true),
            // No stored benchmark: not counted.
            FinishedRunJudgements {
                run: RunId(4),
                benchmark: None,
                judgements: Vec::new(),
            },
        ];
        let difficulty = Difficulty::of(&served, &runs);
        assert_eq!(difficulty.runs(), 2);
        let text_sample = text[0];
        let share = difficulty
            .sample(text_sample.task, &text_sample.id)
            .expect("judged");
        assert_eq!(
            share.with_ties,
            Some(RightShare {
                right: 1,
                judged: 2
            })
        );
        let other = all
            .iter()
            .find(|sample| sample.task != Task::TextToText)
            .expect("another task");
        assert_eq!(
            difficulty
                .sample(other.task, &other.id)
                .and_then(|share| share.with_ties),
            Some(RightShare {
                right: 1,
                judged: 1
            })
        );
        let tie = all
            .iter()
            .find(|sample| sample.label == Preference::Tie)
            .expect("a tie");
        assert_eq!(
            difficulty
                .sample(tie.task, &tie.id)
                .and_then(|share| share.without_ties),
            None,
            "a tie has no without-ties share"
        );
    }
}
