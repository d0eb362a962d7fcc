//! What a page is rendered from: typed mirrors of the REST API's JSON documents, plus the few
//! things a page adds (charts drawn on the server, the form values to show again).
//!
//! The server fills a [`Page`] from the same documents `/api/v1` serves, renders it, and embeds it
//! in the HTML as JSON; the browser reads it back and hydrates the same view from it. So these
//! types are a wire contract with the API: fields the API adds are ignored here, and a field the
//! API drops fails the page's tests rather than showing a blank.

use std::collections::BTreeMap;

use omnireward_shared::{Judgement, Label, MediaKind, Scorecard, Setting, Task};
use serde::{Deserialize, Serialize};

/// One page of the site and everything it shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "page", rename_all = "snake_case")]
pub enum Page {
    Leaderboard(LeaderboardPage),
    Model(ModelPage),
    Benchmark(BenchmarkPage),
    Sample(SamplePage),
    Submit(SubmitPage),
    Submission(SubmissionPage),
    Queue(QueuePage),
    Demo(DemoPage),
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
    Submit(SubmitPage),
    Submission(SubmissionPage),
    Queue(QueuePage),
}

impl Page {
    /// Whether the bundle hydrates this page (see [`InteractivePage`]).
    pub fn is_interactive(&self) -> bool {
        matches!(
            self,
            Page::Leaderboard(_) | Page::Submit(_) | Page::Submission(_) | Page::Queue(_)
        )
    }

    /// The document title.
    pub fn title(&self) -> String {
        let detail = match self {
            Page::Leaderboard(_) => "Leaderboard".to_owned(),
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
            Page::Problem(page) => page.heading.clone(),
        };
        format!("{detail} · Omni-RewardBench")
    }
}

pub use crate::leaderboard::{Intervals, LeaderboardRow};

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
    pub benchmarks: Vec<LeaderboardBenchmark>,
}

/// A benchmark the leaderboard has rows of (`GET /leaderboard`'s `benchmarks`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaderboardBenchmark {
    pub name: String,
    pub evaluated: usize,
    pub paper_reported: usize,
}

/// A model as `GET /models/{id}` describes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub group: Option<String>,
    pub parameters: Option<String>,
    pub licence: Option<String>,
    pub open_weights: Option<bool>,
}

/// The benchmark a run was evaluated on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunBenchmark {
    pub id: i64,
    pub name: String,
    pub version: String,
    pub hash: String,
}

/// The paper's numbers of one setting.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReportedSetting {
    pub tasks: BTreeMap<Task, f64>,
    pub overall: Option<f64>,
}

/// One run of a model: `GET /runs/{id}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub id: i64,
    pub provenance: String,
    pub status: String,
    pub benchmark: Option<RunBenchmark>,
    /// The recorded judge configuration, shown as it is stored.
    pub configuration: serde_json::Value,
    pub created_at_ms: i64,
    pub finished_at_ms: Option<i64>,
    pub scorecard: Option<Scorecard>,
    pub reported_scores: Option<BTreeMap<Setting, ReportedSetting>>,
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

/// One judgement with whether it matched the human label (`GET /runs/{id}/judgements`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JudgementItem {
    #[serde(flatten)]
    pub judgement: Judgement,
    pub correct: bool,
    /// How a scalar reward model's w/ Ties margin became its verdict.
    #[serde(default)]
    pub tie_rule: Option<omnireward_shared::scorecard::TieRule>,
}

/// A page of any list the API pages.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Paged<T> {
    pub page: usize,
    pub per_page: usize,
    pub total: usize,
    pub items: Vec<T>,
}

impl<T> Paged<T> {
    /// Pages in the whole list (at least 1).
    pub fn pages(&self) -> usize {
        self.total.div_ceil(self.per_page.max(1)).max(1)
    }
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
    pub runs: Vec<RunRecord>,
    pub charts: Vec<Chart>,
    pub filter: JudgementFilter,
    /// The judgements of the filtered run; `None` for models with no evaluated run.
    pub judgements: Option<Paged<JudgementItem>>,
}

/// A task with its sample count (`GET /tasks`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskSummary {
    pub task: Task,
    pub samples: usize,
}

/// Where a media item is served.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MediaLink {
    pub kind: MediaKind,
    pub url: String,
}

/// A response of a sample: text or media.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ResponseView {
    Text { text: String },
    Media { kind: MediaKind, url: String },
}

/// A sample as `GET /samples/{task}/{id}` gives it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SampleView {
    pub id: String,
    pub task: Task,
    pub prompt: String,
    pub prompt_media: Option<MediaLink>,
    pub criterion: String,
    pub label: Label,
    pub response1: ResponseView,
    pub response2: ResponseView,
    pub model1: Option<String>,
    pub model2: Option<String>,
}

/// The benchmark browser: the tasks and one page of one task's samples.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BenchmarkPage {
    pub benchmark: String,
    pub tasks: Vec<TaskSummary>,
    pub task: Task,
    pub samples: Paged<SampleView>,
}

/// What one evaluated model answered on a sample.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    pub model: String,
    pub model_id: i64,
    pub run: i64,
    pub judgement: Judgement,
    pub correct: bool,
}

/// One sample with what the evaluated models answered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SamplePage {
    pub sample: SampleView,
    pub answers: Vec<Answer>,
}

/// A submission (`GET /submissions/{id}`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SubmissionView {
    pub id: i64,
    pub run: i64,
    pub kind: String,
    pub model: Option<String>,
    pub endpoint: Option<String>,
    pub status: String,
    pub approval: String,
    pub cancel_requested: bool,
    pub attempts: u64,
    pub error: Option<String>,
    pub created_at_ms: i64,
    pub started_at_ms: Option<i64>,
    pub finished_at_ms: Option<i64>,
    pub position: Option<u64>,
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

/// What `POST /score` answered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DemoResult {
    pub model: String,
    pub architecture: String,
    pub reward1: f32,
    pub reward2: f32,
    pub verdict: String,
    pub latency_ms: f64,
    pub queue_ms: f64,
}

/// The scoring demo.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DemoPage {
    /// The model behind the demo; `None` when the server runs without one.
    pub model: Option<String>,
    /// Whether the model compares two images with the text (uploads) rather than two texts.
    pub reads_images: bool,
    /// Every task type, with what the model reads of it.
    pub tasks: Vec<DemoTask>,
    pub form: DemoForm,
    /// The file names of the two images scored last (a file input cannot be filled again).
    pub images: Option<[String; 2]>,
    pub result: Option<DemoResult>,
    pub error: Option<String>,
}

/// An error page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProblemPage {
    pub status: u16,
    pub heading: String,
    pub message: String,
}
