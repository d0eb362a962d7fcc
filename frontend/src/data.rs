//! What a page is rendered from: the REST API's own documents (the shared crate's `wire`
//! types, re-exported here), plus the few things a page adds (charts drawn on the server, the
//! form values to show again).
//!
//! The server fills a [`Page`] from the same service functions `/api/v1` answers with, renders
//! it, and embeds it in the HTML as JSON; the browser reads it back and hydrates the same view
//! from it.

pub use omnireward_shared::paired::PairedComparison;
pub use omnireward_shared::wire::{
    BenchmarkRows, Intervals, JudgementItem, LeaderboardRow, MediaLink, ModelInfo, Paged,
    ReportedSetting, ResponseView, RightShare, RunBenchmark, RunDocument, SampleAnswer,
    SampleDifficulty, SampleView, ScoreResponse, SubmissionView,
};

use crate::sample_list::SampleList;
use omnireward_shared::{Setting, Task};
use serde::{Deserialize, Serialize};

/// One page of the site and everything it shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "page", rename_all = "snake_case")]
pub enum Page {
    Leaderboard(LeaderboardPage),
    /// Two to four models side by side.
    Compare(ComparePage),
    Model(ModelPage),
    Benchmark(BenchmarkPage),
    Sample(SamplePage),
    Submit(SubmitPage),
    Submission(SubmissionPage),
    Queue(QueuePage),
    Demo(DemoPage),
    /// How the numbers are computed, and the citation (no data: the text is the code's).
    Methods,
    /// A page that could not be shown: not found, or the server failed.
    Problem(ProblemPage),
}

/// The pages the bundle hydrates: those that do something in the browser (the leaderboard's
/// sorting and filtering, the upload checks and progress bar, live queue progress). Every other
/// page is complete as the server sends it and loads no bundle, which also keeps their code out
/// of the bundle: it only deserialises and renders these.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "page", rename_all = "snake_case")]
pub enum InteractivePage {
    Leaderboard(LeaderboardPage),
    /// Only a sample whose two responses are videos (its "play both in step" button).
    Sample(SamplePage),
    Submit(SubmitPage),
    Submission(SubmissionPage),
    Queue(QueuePage),
}

impl Page {
    /// Whether the bundle hydrates this page (see [`InteractivePage`]).
    pub fn is_interactive(&self) -> bool {
        match self {
            Page::Sample(page) => page.plays_videos(),
            other => matches!(
                other,
                Page::Leaderboard(_) | Page::Submit(_) | Page::Submission(_) | Page::Queue(_)
            ),
        }
    }

    /// The document title.
    pub fn title(&self) -> String {
        let detail = match self {
            Page::Leaderboard(_) => "Leaderboard".to_owned(),
            Page::Compare(page) if !page.picked.is_empty() => format!(
                "Compare {}",
                page.picked
                    .iter()
                    .map(|model| model.model.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Page::Compare(_) => "Compare models".to_owned(),
            Page::Model(page) => page.model.name.clone(),
            Page::Benchmark(page) => format!("Benchmark: {}", page.task.short_name()),
            Page::Sample(page) => format!(
                "{} sample {}",
                page.sample.task.short_name(),
                page.sample.id
            ),
            Page::Submit(_) => "Submit a model".to_owned(),
            Page::Submission(page) => format!("Submission {}", page.submission.id),
            Page::Queue(_) => "Queue".to_owned(),
            Page::Demo(_) => "Scoring demo".to_owned(),
            Page::Methods => "Methods".to_owned(),
            Page::Problem(page) => page.heading.clone(),
        };
        format!("{detail} · Omni-RewardBench")
    }
}

/// What the served benchmark is: said wherever a label or a count appears, since the embedded
/// sample's labels are synthetic and must never read as the release's human preferences.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ServedBenchmark {
    /// Its name, e.g. `omni-rewardbench-sample`.
    pub name: String,
    /// Its version.
    pub version: String,
    /// Its preference pairs, all tasks together.
    pub pairs: usize,
    /// Whether human annotators chose its labels (the release); `false` for the synthetic sample
    /// and for data folders whose origin the server does not know.
    pub human_labels: bool,
    /// How its pairs were labelled, in a sentence fragment ("synthetic: ...").
    pub labelled: String,
}

impl ServedBenchmark {
    /// "name version (N pairs, how labelled)".
    pub fn description(&self) -> String {
        format!(
            "{} {} ({} pairs; {})",
            self.name, self.version, self.pairs, self.labelled
        )
    }

    /// What a label is called on this benchmark's pages.
    pub fn label_noun(&self) -> &'static str {
        if self.human_labels {
            "Human label"
        } else {
            "Label (not human)"
        }
    }
}

/// The leaderboard: the rows of both settings and the view the URL asked for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeaderboardPage {
    pub with_ties: Vec<LeaderboardRow>,
    pub without_ties: Vec<LeaderboardRow>,
    pub view: crate::leaderboard::View,
    /// The benchmark whose rows these are.
    #[serde(default)]
    pub benchmark: String,
    /// Every benchmark with rows, for the selector.
    #[serde(default)]
    pub benchmarks: Vec<BenchmarkRows>,
    /// The benchmark this server serves (its rows are ranked apart from the paper's).
    #[serde(default)]
    pub served: ServedBenchmark,
}

/// The compare view: two to four models of one benchmark's leaderboard side by side.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ComparePage {
    /// The benchmark whose rows are compared.
    pub benchmark: String,
    /// Every benchmark with rows, for the selector.
    pub benchmarks: Vec<BenchmarkRows>,
    /// Every model with a row on this benchmark, for the form (best with ties first).
    pub choices: Vec<CompareChoice>,
    /// The picked models, in the order asked for.
    pub picked: Vec<ComparedModel>,
    /// The overlaid task bars and radars, and the whole board's scatter plots.
    pub charts: Vec<Chart>,
    /// Every pair of picked models in each setting.
    pub differences: Vec<PairDifference>,
    /// What was wrong with the request (too many models, unknown ids), if anything.
    pub notice: Option<String>,
}

/// A model the compare form offers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CompareChoice {
    pub model_id: i64,
    pub model: String,
    /// Its numbers are copied from the paper.
    pub paper: bool,
    /// It is among the picked models.
    pub picked: bool,
}

/// A picked model with its leaderboard row in each setting (its best row, when it has several).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ComparedModel {
    pub model_id: i64,
    pub model: String,
    pub with_ties: Option<LeaderboardRow>,
    pub without_ties: Option<LeaderboardRow>,
}

/// Two picked models compared in one setting.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PairDifference {
    pub setting: Setting,
    /// The first model (the difference is its accuracy minus the second's).
    pub first: String,
    pub second: String,
    /// The rows' overall scores (each over its own covered tasks and items).
    pub first_overall: Option<f64>,
    pub second_overall: Option<f64>,
    /// The paired statistics over the items both judged, where both have per-item outputs.
    pub paired: Option<PairedComparison>,
    /// McNemar's p after Holm's correction over the table's tests of this setting.
    pub holm_p: Option<f64>,
    /// Why there are no paired statistics, when there are none.
    pub unpaired: Option<String>,
}

/// A chart drawn on the server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Chart {
    pub title: String,
    /// What the chart shows, for screen readers and as its caption.
    pub description: String,
    /// The SVG document.
    pub svg: String,
}

/// Which judgements the model page lists.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct JudgementFilter {
    pub run: Option<i64>,
    pub task: Option<Task>,
    pub setting: Option<Setting>,
    /// `Some(true)`: right ones only; `Some(false)`: wrong ones only.
    pub correct: Option<bool>,
    /// `response1`, `response2`, `tie` or `unparseable`.
    pub verdict: Option<String>,
    pub page: usize,
}

/// A model's page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelPage {
    pub model: ModelInfo,
    /// How the model was trained (`omnireward train`'s record: data, steps, hyper-parameters),
    /// for checkpoints trained here.
    #[serde(default)]
    pub training: Option<serde_json::Value>,
    pub runs: Vec<RunDocument>,
    pub charts: Vec<Chart>,
    pub filter: JudgementFilter,
    /// Where a paper model's rows rank on the leaderboard (the release's rows), per setting.
    #[serde(default)]
    pub ranks: Vec<ModelRank>,
    /// The judgements of the filtered run; `None` for models with no evaluated run.
    pub judgements: Option<Paged<JudgementItem>>,
}

/// A model's row on one leaderboard view: its rank among the view's rows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelRank {
    pub setting: Setting,
    /// From 1, by overall accuracy.
    pub rank: usize,
    /// Rows in the view.
    pub of: usize,
    /// The benchmark ranked on.
    pub benchmark: String,
}

/// A task with its sample count (`GET /tasks`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskSummary {
    pub task: Task,
    pub samples: usize,
}

/// The benchmark browser: the tasks and one page of one task's samples.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BenchmarkPage {
    pub benchmark: String,
    /// What the served benchmark is and how it is labelled.
    pub served: ServedBenchmark,
    pub tasks: Vec<TaskSummary>,
    pub task: Task,
    pub samples: Paged<SampleView>,
    /// The list's filter and order (the task is `task`).
    #[serde(default = "default_list")]
    pub list: SampleList,
    /// The difficulty of the listed samples, by sample id (absent: no counted run judged it).
    #[serde(default)]
    pub difficulty: std::collections::BTreeMap<String, SampleDifficulty>,
    /// How many finished runs the difficulty counts.
    #[serde(default)]
    pub runs_counted: usize,
}

fn default_list() -> SampleList {
    SampleList {
        task: Task::TextToText,
        ties: crate::sample_list::TiesFilter::All,
        order: crate::sample_list::SampleOrder::Benchmark,
    }
}

/// One sample with what the evaluated models answered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SamplePage {
    pub sample: SampleView,
    /// The benchmark the sample belongs to and how it is labelled.
    pub served: ServedBenchmark,
    pub answers: Vec<SampleAnswer>,
    /// The share of finished runs that judged it right.
    #[serde(default)]
    pub difficulty: Option<SampleDifficulty>,
    /// How many finished runs the difficulty counts.
    #[serde(default)]
    pub runs_counted: usize,
    /// The list it was opened from; previous and next walk it.
    #[serde(default = "default_list")]
    pub list: SampleList,
    /// Its neighbours in that list (sample ids) and its place in it (from 1, of how many);
    /// `None` when the list does not hold it (the filter leaves it out).
    #[serde(default)]
    pub neighbours: Option<Neighbours>,
}

/// A sample's place in its list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Neighbours {
    pub previous: Option<String>,
    pub next: Option<String>,
    /// From 1.
    pub position: usize,
    pub of: usize,
}

impl SamplePage {
    /// Whether both responses are videos, which the page can play side by side in step.
    pub fn plays_videos(&self) -> bool {
        [&self.sample.response1, &self.sample.response2]
            .into_iter()
            .all(|response| {
                matches!(
                    response,
                    ResponseView::Media {
                        kind: omnireward_shared::MediaKind::Video,
                        ..
                    }
                )
            })
    }
}

/// Progress of a run: judgements stored against judgements planned.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    pub done: u64,
    pub planned: u64,
}

/// A submission's status page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SubmissionPage {
    pub submission: SubmissionView,
    pub progress: Option<Progress>,
    /// Shown once, right after the form was accepted.
    pub just_submitted: bool,
    /// Whether this browser made it (holds its cancel token), so may cancel it.
    pub yours: bool,
}

/// The queue: submissions newest first, with their run's progress.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QueuePage {
    pub submissions: Vec<(SubmissionView, Option<Progress>)>,
    /// Now, in Unix milliseconds, for elapsed times that match the server's clock.
    pub now_ms: i64,
    /// The submissions this browser made (it holds their cancel tokens).
    pub yours: Vec<i64>,
}

/// The API-judge form's values (the key is never part of it).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ApiJudgeForm {
    pub name: String,
    pub endpoint: String,
    pub model: String,
    pub api_key_env: String,
    /// `both`, `with_ties` or `without_ties`.
    pub settings: String,
    pub swap: bool,
    pub tasks: Vec<Task>,
    pub temperature: String,
    pub max_tokens: String,
    pub concurrency: String,
}

/// The submission page: both forms and what the server said about the last attempt.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SubmitPage {
    /// The benchmark submissions are scored on.
    #[serde(default)]
    pub served: ServedBenchmark,
    pub api_judge: ApiJudgeForm,
    /// The server's validation error for the API-judge form.
    pub api_judge_error: Option<String>,
    /// The server's validation error for the checkpoint upload.
    pub checkpoint_error: Option<String>,
    /// Whether this server accepts checkpoint uploads, and up to how many bytes.
    pub max_upload_bytes: Option<u64>,
    /// Whether this server takes checkpoints named by Hugging Face repository, and up to how
    /// many bytes their files may hold.
    #[serde(default)]
    pub max_hub_bytes: Option<u64>,
    /// The Hub form's values, sent back with its error.
    #[serde(default)]
    pub hub_checkpoint: HubCheckpointForm,
    /// The server's answer to the last Hub form.
    #[serde(default)]
    pub hub_checkpoint_error: Option<String>,
}

/// The values of the form that submits a checkpoint by Hugging Face repository.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HubCheckpointForm {
    pub name: String,
    /// `org/name`.
    pub repository: String,
    /// Branch, tag or commit; empty for `main`.
    pub revision: String,
}

/// The demo's input form (images are files, never sent back into the form).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DemoForm {
    /// The chosen task type's key; empty for the first one the model can score.
    #[serde(default)]
    pub task: String,
    pub criterion: String,
    pub prompt: String,
    #[serde(default)]
    pub response1: String,
    #[serde(default)]
    pub response2: String,
}

/// What the demo's model reads of one task type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DemoCoverage {
    /// The whole pair.
    Full,
    /// The responses and the prompt's text; the prompt's image, video or audio is not read.
    PromptTextOnly,
    /// Nothing: the responses are media the model cannot read.
    NotCovered,
}

/// A task type the demo lists, with what its model reads of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DemoTask {
    pub task: Task,
    pub coverage: DemoCoverage,
}

/// The scoring demo.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DemoPage {
    /// The model behind the demo; `None` when the server runs without one.
    pub model: Option<String>,
    /// Whether the model compares two images with the text (uploads) rather than two texts.
    pub reads_images: bool,
    /// Whether the model also takes two short videos (vision-language and omni reward models).
    #[serde(default)]
    pub reads_videos: bool,
    /// Every task type, with what the model reads of it.
    pub tasks: Vec<DemoTask>,
    pub form: DemoForm,
    /// The file names of the two images scored last (a file input cannot be filled again).
    pub images: Option<[String; 2]>,
    pub result: Option<ScoreResponse>,
    pub error: Option<String>,
    /// Where the model stands on this server's leaderboard, and its tie thresholds.
    #[serde(default)]
    pub standing: DemoStanding,
}

/// The demo model's own evaluation on the served benchmark, so its answer can be read against
/// its record: its leaderboard rows and the w/ Ties thresholds its stored scorecard chose.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DemoStanding {
    /// Its row with ties (`None`: this server has no finished run of it); boxed, so pages
    /// without a demo do not carry two rows' worth of space.
    pub with_ties: Option<Box<LeaderboardRow>>,
    /// Its row without ties.
    pub without_ties: Option<Box<LeaderboardRow>>,
    /// How many rows the with-ties list of that benchmark has.
    pub ranked: usize,
    /// The w/ Ties rule per task of that run's scorecard.
    pub tie_rules: std::collections::BTreeMap<Task, omnireward_shared::scorecard::TieRule>,
}

/// An error page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProblemPage {
    pub status: u16,
    pub heading: String,
    pub message: String,
}
