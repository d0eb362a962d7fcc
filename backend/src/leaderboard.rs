//! The leaderboard read model: one row per finished run with a score in a setting, paper-
//! reported and evaluated rows side by side but always labelled with their provenance and
//! benchmark, since a score on the sample benchmark is not comparable to one on the release.
//!
//! Rows are built from [`Storage::leaderboard_data`], which reads every finished run in a fixed
//! number of queries; [`rows_per_run`] is the former read (a few queries per run), kept as the
//! reference the single read is tested and benchmarked against.

use std::collections::{BTreeMap, HashMap};

use omnireward_shared::comparison::neighbour_tests;
use omnireward_shared::{Judgement, Modality, Setting, Task};

use crate::storage::{
    LeaderboardData, LeaderboardGeneration, LeaderboardRun, Provenance, RunStatus, Storage,
    StorageError,
};

/// The benchmark named on paper-reported rows.
const PAPER_BENCHMARK: &str = "paper: full release (Jin et al., 2025)";

pub use omnireward_shared::wire::{BenchmarkRows, Intervals, LeaderboardRow};

/// The rows of both settings, ranked, read at one generation.
#[derive(Clone, Debug, PartialEq)]
pub struct Leaderboard {
    /// The generation the rows were read at.
    pub generation: LeaderboardGeneration,
    /// The ranked rows of each setting.
    rows: BTreeMap<Setting, Vec<LeaderboardRow>>,
}

impl Leaderboard {
    /// Builds the ranked rows of every setting from one read.
    pub fn from_data(data: &LeaderboardData) -> Leaderboard {
        let rows = Setting::ALL
            .into_iter()
            .map(|setting| (setting, ranked(data.runs.iter(), setting)))
            .collect();
        Leaderboard {
            generation: data.generation,
            rows,
        }
    }

    /// The ranked rows of `setting`.
    pub fn rows(&self, setting: Setting) -> &[LeaderboardRow] {
        self.rows.get(&setting).map_or(&[], Vec::as_slice)
    }
}

/// Reads the rows of every setting, then the per-item judgements of every finished run (one
/// query for all of them) for the paired tests between neighbours.
pub async fn load(storage: &Storage) -> Result<Leaderboard, StorageError> {
    let mut leaderboard = Leaderboard::from_data(&storage.leaderboard_data().await?);
    let judgements: HashMap<i64, Vec<Judgement>> = storage
        .finished_run_judgements()
        .await?
        .into_iter()
        .map(|run| (run.run.0, run.judgements))
        .collect();
    for (setting, rows) in &mut leaderboard.rows {
        attach_neighbour_tests(rows, *setting, &judgements);
    }
    Ok(leaderboard)
}

/// Sets `paired_with_next` on the rows of each benchmark that have judgements, tested against
/// the next such row in rank order, Holm-corrected per benchmark (one ranking, one family).
fn attach_neighbour_tests(
    rows: &mut [LeaderboardRow],
    setting: Setting,
    judgements: &HashMap<i64, Vec<Judgement>>,
) {
    let mut by_benchmark: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (index, row) in rows.iter().enumerate() {
        if judgements
            .get(&row.run)
            .is_some_and(|items| !items.is_empty())
        {
            by_benchmark
                .entry(row.benchmark_name.clone())
                .or_default()
                .push(index);
        }
    }
    for indices in by_benchmark.into_values() {
        let ranking: Vec<(i64, &[Judgement])> = indices
            .iter()
            .map(|index| {
                let run = rows[*index].run;
                (run, judgements.get(&run).map_or(&[][..], Vec::as_slice))
            })
            .collect();
        let tests = neighbour_tests(&ranking, setting);
        for (index, test) in indices.into_iter().zip(tests) {
            rows[index].paired_with_next = test;
        }
    }
}

/// The rows of `setting`, best overall first, read in a fixed number of queries.
pub async fn rows(
    storage: &Storage,
    setting: Setting,
) -> Result<Vec<LeaderboardRow>, StorageError> {
    let data = storage.leaderboard_data().await?;
    Ok(ranked(data.runs.iter(), setting))
}

/// The same rows as [`rows`], read the former way: the runs, then each finished run's model,
/// scorecard and reported scores (three queries per run). The reference that [`rows`] is tested
/// and benchmarked against; nothing else should call it.
pub async fn rows_per_run(
    storage: &Storage,
    setting: Setting,
) -> Result<Vec<LeaderboardRow>, StorageError> {
    let mut runs = Vec::new();
    for run in storage.runs().await? {
        if run.status != RunStatus::Finished {
            continue;
        }
        let Some(model) = storage.model(run.model).await? else {
            continue;
        };
        let (scorecard, reported_scores) = if run.provenance == Provenance::PaperReported {
            (None, storage.reported_scores(run.id).await?)
        } else {
            (storage.scorecard(run.id).await?, Vec::new())
        };
        runs.push(LeaderboardRun {
            run: run.id,
            model,
            provenance: run.provenance,
            configuration: run.configuration,
            scorecard,
            reported_scores,
        });
    }
    Ok(ranked(runs.iter(), setting))
}

/// The rows of `setting` among `runs`, best overall first (then by model name, then oldest run).
fn ranked<'runs>(
    runs: impl Iterator<Item = &'runs LeaderboardRun>,
    setting: Setting,
) -> Vec<LeaderboardRow> {
    let mut rows: Vec<LeaderboardRow> = runs
        .filter_map(|run| row(run, setting))
        .filter(|row| row.overall.is_some())
        .collect();
    rows.sort_by(|left, right| {
        right
            .overall
            .unwrap_or(f64::NEG_INFINITY)
            .total_cmp(&left.overall.unwrap_or(f64::NEG_INFINITY))
            .then_with(|| left.model.cmp(&right.model))
            .then_with(|| left.run.cmp(&right.run))
    });
    // The rank among all rows of the setting; a view (one benchmark, kind or modality) ranks
    // its own selection again.
    for (position, row) in rows.iter_mut().enumerate() {
        row.rank = position + 1;
    }
    rows
}

/// The row of one finished run in `setting`, if the run has numbers there.
fn row(run: &LeaderboardRun, setting: Setting) -> Option<LeaderboardRow> {
    let paper = run.provenance == Provenance::PaperReported;
    let mut row = LeaderboardRow {
        rank: 0,
        run: run.run.0,
        model_id: run.model.id.0,
        model: run.model.name.clone(),
        kind: run.model.kind,
        group: run.model.group.clone(),
        parameters: run.model.parameters.clone(),
        licence: run.model.licence.clone(),
        open_weights: run.model.open_weights,
        link: None,
        source: None,
        provenance: run.provenance,
        verified: !paper,
        benchmark: String::new(),
        benchmark_name: crate::data::RELEASE_NAME.to_owned(),
        tasks: BTreeMap::new(),
        modalities: BTreeMap::new(),
        overall: None,
        tasks_covered: 0,
        intervals: None,
        items: None,
        text_only_prompt: text_only_prompt(&run.configuration),
        modality_score: None,
        modality_tasks_covered: None,
        paired_with_next: None,
    };
    if paper {
        row.benchmark = PAPER_BENCHMARK.to_owned();
        with_paper_facts(&mut row, setting);
        for score in &run.reported_scores {
            if score.setting != setting {
                continue;
            }
            match score.task {
                Some(task) => {
                    row.tasks.insert(task, score.accuracy);
                }
                None => row.overall = Some(score.accuracy),
            }
        }
        row.tasks_covered = row.tasks.len();
        row.modalities = modality_means(&row.tasks);
        row.items = Some(
            row.tasks
                .keys()
                .map(|task| crate::paper_results::release_pairs(*task, setting))
                .sum(),
        );
    } else {
        let scorecard = run.scorecard.as_ref()?;
        let scores = scorecard.settings.get(&setting)?;
        row.benchmark = format!(
            "{} {}",
            scorecard.benchmark.name, scorecard.benchmark.version
        );
        row.benchmark_name = scorecard.benchmark.name.clone();
        row.tasks = scores
            .tasks
            .iter()
            .map(|(task, score)| (*task, score.accuracy))
            .collect();
        row.modalities = scores
            .modalities
            .iter()
            .map(|(modality, score)| (*modality, score.accuracy))
            .collect();
        row.overall = Some(scores.overall.accuracy);
        row.tasks_covered = scores.overall.tasks_covered;
        row.items = Some(scores.tasks.values().map(|score| score.total).sum());
        row.intervals = Some(Intervals {
            tasks: scores
                .tasks
                .iter()
                .map(|(task, score)| (*task, score.ci95))
                .collect(),
            modalities: scores
                .modalities
                .iter()
                .map(|(modality, score)| (*modality, score.ci95))
                .collect(),
            overall: scores.overall.ci95,
        });
    }
    Some(row)
}

/// Gives a paper-reported row its model's facts (kind, size, weights, licence, link) and where the
/// paper gives its numbers; facts stored with the model win over the embedded ones.
fn with_paper_facts(row: &mut LeaderboardRow, setting: Setting) {
    row.source = crate::paper_models::source(&row.model, setting);
    let Some(facts) = crate::paper_models::facts(&row.model) else {
        return;
    };
    row.kind = facts.kind;
    row.parameters = row.parameters.take().or_else(|| facts.parameters.clone());
    row.licence = row.licence.take().or_else(|| facts.licence.clone());
    row.open_weights = row.open_weights.or(facts.open_weights);
    row.link = facts.link.clone();
}

/// The benchmarks `rows` cover, the release first, then by name.
pub fn benchmarks(rows: &[LeaderboardRow]) -> Vec<BenchmarkRows> {
    let mut counts: BTreeMap<(bool, &str), BenchmarkRows> = BTreeMap::new();
    for row in rows {
        let name = row.benchmark_name.as_str();
        let entry = counts
            .entry((name != crate::data::RELEASE_NAME, name))
            .or_insert_with(|| BenchmarkRows {
                name: name.to_owned(),
                evaluated: 0,
                paper_reported: 0,
            });
        if row.verified {
            entry.evaluated += 1;
        } else {
            entry.paper_reported += 1;
        }
    }
    counts.into_values().collect()
}

/// The benchmark a view shows when none is asked for: the one the server serves (`served`, a
/// benchmark name) once it has evaluated rows, else the release (the paper's rows).
pub fn default_benchmark(rows: &[LeaderboardRow], served: Option<&str>) -> String {
    match served {
        Some(served)
            if rows
                .iter()
                .any(|row| row.verified && row.benchmark_name == served) =>
        {
            served.to_owned()
        }
        _ => crate::data::RELEASE_NAME.to_owned(),
    }
}

/// The mean accuracy of each modality over its covered tasks, as a scorecard computes it.
pub fn modality_means(tasks: &BTreeMap<Task, f64>) -> BTreeMap<Modality, f64> {
    Modality::ALL
        .into_iter()
        .filter_map(|modality| {
            let scores: Vec<f64> = modality
                .tasks()
                .filter_map(|task| tasks.get(&task).copied())
                .collect();
            (!scores.is_empty())
                .then(|| (modality, scores.iter().sum::<f64>() / scores.len() as f64))
        })
        .collect()
}

/// The tasks a run recorded as scored on prompt text only (local checkpoint runs).
fn text_only_prompt(configuration: &serde_json::Value) -> Vec<Task> {
    configuration
        .pointer("/details/coverage/text_only_prompt")
        .cloned()
        .and_then(|tasks| serde_json::from_value(tasks).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use omnireward_shared::scorecard::{ScalarTiePolicy, score_judgements};
    use omnireward_shared::{
        BenchmarkIdentity, BootstrapConfig, Judgement, Label, Order, Scorecard, Verdict,
    };
    use tempfile::TempDir;

    use super::*;
    use crate::paper_results::parse_embedded;
    use crate::storage::{ModelKind, NewModel, NewRun, RunId};

    fn judgement(task: Task, index: usize, setting: Setting, correct: bool) -> Judgement {
        Judgement {
            task,
            sample_id: format!("{}-{index}", task.short_name()),
            setting,
            order: Order::Original,
            raw_output: None,
            rewards: None,
            verdict: Some(if correct {
                Verdict::Response1
            } else {
                Verdict::Response2
            }),
            label: Label::Response1,
            attempts: Some(1),
            input_tokens: None,
            output_tokens: None,
            latency_ms: None,
        }
    }

    /// A scorecard over `tasks` with `seed`-dependent accuracies.
    fn scorecard(model: &str, tasks: &[Task], seed: usize) -> Scorecard {
        let mut judgements = Vec::new();
        for (position, task) in tasks.iter().enumerate() {
            for index in 0..10 {
                for setting in Setting::ALL {
                    let correct = !(index + position + seed).is_multiple_of(3);
                    judgements.push(judgement(*task, index, setting, correct));
                }
            }
        }
        Scorecard {
            model: model.to_owned(),
            benchmark: BenchmarkIdentity {
                name: "omni-rewardbench-sample".to_owned(),
                version: "1".to_owned(),
                hash: "ab12".to_owned(),
            },
            settings: score_judgements(
                &judgements,
                ScalarTiePolicy::Sweep,
                BootstrapConfig::default(),
            ),
        }
    }

    struct Mixed {
        _folder: TempDir,
        storage: Storage,
        evaluated: RunId,
        text_only: RunId,
        unfinished: Vec<RunId>,
    }

    /// A database with the paper's rows, evaluated runs (one with metadata, one of a local text
    /// model with text-only prompt tasks), a reference import, and runs that must not show:
    /// queued, running with a scorecard, failed, cancelled, and finished without a scorecard.
    async fn mixed_database() -> Mixed {
        let folder = TempDir::new().expect("temporary folder");
        let storage = Storage::open(&folder.path().join("omnireward.sqlite"))
            .await
            .expect("opens");
        storage
            .import_paper_results(&parse_embedded().expect("parses"))
            .await
            .expect("imports");
        let run = async |model: NewModel,
                         provenance: Provenance,
                         status: RunStatus,
                         configuration: serde_json::Value,
                         tasks: &[Task],
                         seed: usize| {
            let name = model.name.clone();
            let model = storage.upsert_model(&model).await.expect("stores a model");
            let run = storage
                .create_run(&NewRun {
                    model,
                    benchmark: None,
                    status: RunStatus::Running,
                    provenance,
                    configuration,
                })
                .await
                .expect("creates a run");
            if !tasks.is_empty() {
                storage
                    .store_scorecard(run, &scorecard(&name, tasks, seed))
                    .await
                    .expect("stores a scorecard");
            }
            storage.set_run_status(run, status).await.expect("status");
            run
        };
        let evaluated = run(
            NewModel {
                parameters: Some("7B".to_owned()),
                licence: Some("apache-2.0".to_owned()),
                open_weights: Some(true),
                ..NewModel::named("Omni-RewardModel-BT", ModelKind::ScalarRewardModel)
            },
            Provenance::Evaluated,
            RunStatus::Finished,
            serde_json::json!({}),
            &Task::ALL,
            1,
        )
        .await;
        let text_only = run(
            NewModel::named("MiniLM relevance baseline", ModelKind::ScalarRewardModel),
            Provenance::Evaluated,
            RunStatus::Finished,
            serde_json::json!({"details": {"coverage": {"text_only_prompt": ["text_image_to_text"]}}}),
            &[Task::TextToText, Task::TextImageToText],
            2,
        )
        .await;
        run(
            NewModel::named("gpt-4o", ModelKind::ApiJudge),
            Provenance::ReferenceImport,
            RunStatus::Finished,
            serde_json::json!({}),
            &[Task::TextToAudio, Task::TextAudioToText, Task::TextTo3d],
            3,
        )
        .await;
        // Same name as a paper model but another kind: both rows show.
        run(
            NewModel::named("GPT-4o", ModelKind::ApiJudge),
            Provenance::Evaluated,
            RunStatus::Finished,
            serde_json::json!({}),
            &Task::ALL,
            4,
        )
        .await;
        let mut unfinished = Vec::new();
        for (index, status) in [
            RunStatus::Queued,
            RunStatus::Running,
            RunStatus::Failed,
            RunStatus::Cancelled,
        ]
        .into_iter()
        .enumerate()
        {
            unfinished.push(
                run(
                    NewModel::named(format!("unfinished {index}"), ModelKind::ApiJudge),
                    Provenance::Evaluated,
                    status,
                    serde_json::json!({}),
                    &Task::ALL,
                    5 + index,
                )
                .await,
            );
        }
        unfinished.push(
            run(
                NewModel::named("no scorecard", ModelKind::Baseline),
                Provenance::Evaluated,
                RunStatus::Finished,
                serde_json::json!({}),
                &[],
                0,
            )
            .await,
        );
        Mixed {
            _folder: folder,
            storage,
            evaluated,
            text_only,
            unfinished,
        }
    }

    #[tokio::test]
    async fn the_single_read_gives_the_rows_of_the_per_run_read() {
        let mixed = mixed_database().await;
        let storage = &mixed.storage;
        let loaded = load(storage).await.expect("loads");
        for setting in Setting::ALL {
            let single = rows(storage, setting).await.expect("reads");
            let per_run = rows_per_run(storage, setting).await.expect("reads");
            assert_eq!(single, per_run, "{setting}");
            assert_eq!(loaded.rows(setting), single.as_slice(), "{setting}");
            assert_eq!(single.len(), 37 + 4, "{setting}");
            for unfinished in &mixed.unfinished {
                assert!(single.iter().all(|row| row.run != unfinished.0));
            }
            let provenances: Vec<&str> = single.iter().map(|row| row.provenance.as_str()).collect();
            assert_eq!(
                provenances
                    .iter()
                    .filter(|provenance| **provenance == "reference_import")
                    .count(),
                1
            );
            for pair in single.windows(2) {
                assert!(pair[0].overall >= pair[1].overall, "ranked");
            }
        }
    }

    #[tokio::test]
    async fn rows_carry_metadata_modalities_intervals_and_provenance() {
        let mixed = mixed_database().await;
        let rows = rows(&mixed.storage, Setting::WithTies)
            .await
            .expect("reads");
        let evaluated = rows
            .iter()
            .find(|row| row.run == mixed.evaluated.0)
            .expect("evaluated row");
        assert_eq!(evaluated.kind.as_str(), "scalar_reward_model");
        assert_eq!(evaluated.parameters.as_deref(), Some("7B"));
        assert_eq!(evaluated.licence.as_deref(), Some("apache-2.0"));
        assert_eq!(evaluated.open_weights, Some(true));
        assert!(evaluated.verified);
        assert_eq!(evaluated.benchmark, "omni-rewardbench-sample 1");
        assert_eq!(evaluated.tasks_covered, 9);
        assert_eq!(evaluated.modalities.len(), 5);
        let stored = mixed
            .storage
            .scorecard(mixed.evaluated)
            .await
            .expect("reads")
            .expect("stored");
        let scores = &stored.settings[&Setting::WithTies];
        let intervals = evaluated.intervals.as_ref().expect("intervals");
        assert_eq!(intervals.overall, scores.overall.ci95);
        assert_eq!(
            intervals.tasks[&Task::TextToVideo],
            scores.tasks[&Task::TextToVideo].ci95
        );
        assert_eq!(
            intervals.modalities[&Modality::Image],
            scores.modalities[&Modality::Image].ci95
        );
        for (modality, accuracy) in modality_means(&evaluated.tasks) {
            assert!((evaluated.modalities[&modality] - accuracy).abs() < 1e-12);
        }

        let text_only = rows
            .iter()
            .find(|row| row.run == mixed.text_only.0)
            .expect("text-only row");
        assert_eq!(text_only.text_only_prompt, [Task::TextImageToText]);
        assert_eq!(
            text_only.modalities.keys().copied().collect::<Vec<_>>(),
            [Modality::Text, Modality::Image]
        );

        let paper = rows
            .iter()
            .find(|row| row.model == "GPT-4o" && row.provenance.as_str() == "paper_reported")
            .expect("paper row");
        assert!(!paper.verified);
        // The model's real kind and facts; "paper" is the provenance, not a type.
        assert_eq!(paper.kind.as_str(), "api_judge");
        assert_eq!(paper.open_weights, Some(false));
        assert_eq!(paper.source.as_deref(), Some("Table 2, row 25"));
        assert_eq!(paper.intervals, None);
        assert_eq!(paper.benchmark, PAPER_BENCHMARK);
        assert!((paper.modalities[&Modality::Audio] - (0.6275 + 0.4453) / 2.0).abs() < 1e-9);
        assert!(
            rows.iter()
                .any(|row| row.model == "GPT-4o" && row.provenance.as_str() == "evaluated")
        );
    }
}
