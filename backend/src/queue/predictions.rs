//! Predictions submissions: a judgements file judged elsewhere and its model card, checked item
//! by item against the served benchmark, scored here and stored as a finished run whose
//! provenance is `submitted_predictions`.
//!
//! What this verifies is the scoring, not the judging: every item names a sample of the served
//! benchmark with its label, is judged once, and every sample of a submitted task is judged in
//! each setting it belongs to (no sample left out to lift an accuracy). Nobody here saw the
//! model produce the verdicts, and the leaderboard says so.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use omnireward_shared::scorecard::ScalarTiePolicy;
use omnireward_shared::wire::{ModelCard, PredictionsSubmission};
use omnireward_shared::{BootstrapConfig, Judgement, Label, Order, Scorecard, Setting, Task};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::data::Benchmark;
use crate::evaluation::identity::{PredictionsIdentity, RunIdentity};
use crate::evaluation::runs::record_benchmark;
use crate::judgements_file::{self, JudgementsFileError};
use crate::storage::{
    ModelId, ModelKind, NewModel, NewRun, Provenance, RunId, RunStatus, Storage, StorageError,
};

/// The largest predictions body a server reads. The full release judged in both settings with
/// a swap pass is about 15,000 records; with raw outputs of a kilobyte or two each that is
/// well under this, while an API-judge body stays under the API's 1 MiB.
pub const MAX_PREDICTIONS_BYTES: usize = 32 * 1024 * 1024;

/// Longest model name, in characters (as for API-judge submissions).
const MAX_NAME_CHARS: usize = 200;

/// Longest free-text field of a model card other than the name and link, in characters.
const MAX_CARD_TEXT_CHARS: usize = 200;

/// Longest link, in characters.
const MAX_LINK_CHARS: usize = 2000;

/// The name the judgements text has in error messages (its field in the body).
const JUDGEMENTS_FIELD: &str = "judgements";

/// Why a predictions submission was refused, or could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum PredictionsError {
    /// The body is not a predictions submission (unknown or missing fields, wrong types).
    #[error("invalid predictions submission: {0}")]
    Body(String),
    /// A model-card field's value is refused.
    #[error("model card field `{field}`: {message}")]
    ModelCard {
        /// The field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The judgements text is not a valid judgements file (a malformed or duplicated line).
    #[error(transparent)]
    File(#[from] JudgementsFileError),
    /// A judgement names a sample the served benchmark does not have.
    #[error(
        "{task} sample `{sample_id}` ({setting}, {order}): not a sample of the served benchmark {benchmark}"
    )]
    UnknownSample {
        /// Task.
        task: Task,
        /// Sample id.
        sample_id: String,
        /// Setting.
        setting: Setting,
        /// Order.
        order: &'static str,
        /// The served benchmark's name and version.
        benchmark: String,
    },
    /// A judgement carries another label than the benchmark's.
    #[error(
        "{task} sample `{sample_id}` ({setting}, {order}): the judgement says label {judged}, the benchmark says {expected}"
    )]
    LabelMismatch {
        /// Task.
        task: Task,
        /// Sample id.
        sample_id: String,
        /// Setting.
        setting: Setting,
        /// Order.
        order: &'static str,
        /// Label in the judgement.
        judged: Label,
        /// Label in the benchmark.
        expected: Label,
    },
    /// A tie-labelled sample judged in `without_ties`, which drops such samples.
    #[error(
        "{task} sample `{sample_id}` ({setting}, {order}): labelled tie, so it is not part of {setting}"
    )]
    OutsideSetting {
        /// Task.
        task: Task,
        /// Sample id.
        sample_id: String,
        /// Setting.
        setting: Setting,
        /// Order.
        order: &'static str,
    },
    /// A sample of a submitted task is not judged (in the original order) in a setting it
    /// belongs to.
    #[error(
        "{task} sample `{sample_id}` ({setting}): no judgement in the original order; every sample of a task in the file must be judged in each setting it belongs to ({missing} missing in all)"
    )]
    Missing {
        /// Task.
        task: Task,
        /// Sample id.
        sample_id: String,
        /// Setting.
        setting: Setting,
        /// How many (sample, setting) pairs are missing in the whole file.
        missing: usize,
    },
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Whether a JSON submission body asks for a predictions submission.
pub fn is_predictions(body: &Map<String, Value>) -> bool {
    body.get("kind").and_then(Value::as_str) == Some("predictions")
}

/// A predictions submission whose body, model card and every item were checked.
#[derive(Clone, Debug)]
pub struct CheckedPredictions {
    /// The model as the card describes it.
    pub model: NewModel,
    /// The card as sent, recorded with the run.
    pub card: ModelCard,
    /// SHA-256 (hex) of the judgements text.
    pub file_sha256: String,
    /// The judgements, in file order.
    pub judgements: Vec<Judgement>,
}

impl CheckedPredictions {
    /// The run identity: the file's digest.
    pub fn identity(&self) -> RunIdentity {
        RunIdentity::Predictions(PredictionsIdentity {
            file_sha256: self.file_sha256.clone(),
        })
    }
}

/// Reads and checks a predictions body against `served`. Parsing a large file is CPU work:
/// callers on the async runtime run this on a blocking thread.
pub fn check(
    served: &Benchmark,
    body: Map<String, Value>,
) -> Result<CheckedPredictions, PredictionsError> {
    let request: PredictionsSubmission = serde_json::from_value(Value::Object(body))
        .map_err(|error| PredictionsError::Body(error.to_string()))?;
    check_card(&request.model)?;
    let file_sha256 = hex::encode(Sha256::digest(request.judgements.as_bytes()));
    let judgements =
        judgements_file::parse(Path::new(JUDGEMENTS_FIELD), request.judgements.as_bytes())?;
    check_items(served, &judgements)?;
    let kind = request.model.kind.unwrap_or_else(|| {
        if judgements
            .iter()
            .any(|judgement| judgement.rewards.is_some())
        {
            ModelKind::ScalarRewardModel
        } else {
            ModelKind::ApiJudge
        }
    });
    let card = &request.model;
    Ok(CheckedPredictions {
        model: NewModel {
            name: card.name.trim().to_owned(),
            kind,
            group: None,
            parameters: card.parameters.clone(),
            licence: card.licence.clone(),
            open_weights: card.open_weights,
        },
        card: request.model,
        file_sha256,
        judgements,
    })
}

fn check_card(card: &ModelCard) -> Result<(), PredictionsError> {
    let refuse = |field, message: String| Err(PredictionsError::ModelCard { field, message });
    let name = card.name.trim();
    if name.is_empty() {
        return refuse("name", "must not be empty".to_owned());
    }
    if name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return refuse(
            "name",
            format!("must be at most {MAX_NAME_CHARS} characters without control characters"),
        );
    }
    // Models of these kinds are made here only: a submission cannot pose as one.
    if matches!(
        card.kind,
        Some(ModelKind::PaperReported | ModelKind::Baseline)
    ) {
        return refuse(
            "kind",
            "must be api_judge, scalar_reward_model or local_generative".to_owned(),
        );
    }
    for (field, text) in [("parameters", &card.parameters), ("licence", &card.licence)] {
        if text.as_ref().is_some_and(|text| {
            text.chars().count() > MAX_CARD_TEXT_CHARS || text.chars().any(char::is_control)
        }) {
            return refuse(
                field,
                format!(
                    "must be at most {MAX_CARD_TEXT_CHARS} characters without control characters"
                ),
            );
        }
    }
    if let Some(link) = &card.link {
        let scheme_ok = link.starts_with("https://") || link.starts_with("http://");
        if !scheme_ok || link.chars().count() > MAX_LINK_CHARS || link.chars().any(char::is_control)
        {
            return refuse(
                "link",
                format!("must be an http or https URL of at most {MAX_LINK_CHARS} characters"),
            );
        }
    }
    Ok(())
}

/// Checks every judgement against `served`: known sample, same label, a setting the sample
/// belongs to; then that every sample of each judged task is judged in the original order in
/// every setting it belongs to. Duplicates were refused when the file was read.
fn check_items(served: &Benchmark, judgements: &[Judgement]) -> Result<(), PredictionsError> {
    let labels: HashMap<(Task, &str), Label> = served
        .samples
        .iter()
        .map(|sample| ((sample.task, sample.id.as_str()), sample.label))
        .collect();
    let mut judged: BTreeSet<(Task, &str, Setting)> = BTreeSet::new();
    for judgement in judgements {
        let key = (judgement.task, judgement.sample_id.as_str());
        let order = judgement.order.key();
        let Some(&expected) = labels.get(&key) else {
            return Err(PredictionsError::UnknownSample {
                task: judgement.task,
                sample_id: judgement.sample_id.clone(),
                setting: judgement.setting,
                order,
                benchmark: format!("{} {}", served.identity.name, served.identity.version),
            });
        };
        if judgement.label != expected {
            return Err(PredictionsError::LabelMismatch {
                task: judgement.task,
                sample_id: judgement.sample_id.clone(),
                setting: judgement.setting,
                order,
                judged: judgement.label,
                expected,
            });
        }
        if !judgement.setting.includes(expected) {
            return Err(PredictionsError::OutsideSetting {
                task: judgement.task,
                sample_id: judgement.sample_id.clone(),
                setting: judgement.setting,
                order,
            });
        }
        if judgement.order == Order::Original {
            judged.insert((judgement.task, key.1, judgement.setting));
        }
    }
    let tasks: BTreeSet<Task> = judgements.iter().map(|judgement| judgement.task).collect();
    let missing: Vec<(Task, &str, Setting)> = served
        .samples
        .iter()
        .filter(|sample| tasks.contains(&sample.task))
        .flat_map(|sample| {
            Setting::ALL
                .into_iter()
                .filter(|setting| setting.includes(sample.label))
                .map(|setting| (sample.task, sample.id.as_str(), setting))
        })
        .filter(|item| !judged.contains(item))
        .collect();
    match missing.first() {
        Some(&(task, sample_id, setting)) => Err(PredictionsError::Missing {
            task,
            sample_id: sample_id.to_owned(),
            setting,
            missing: missing.len(),
        }),
        None => Ok(()),
    }
}

/// Where checked predictions were stored.
#[derive(Clone, Debug)]
pub struct StoredPredictions {
    /// The run.
    pub run: RunId,
    /// Its model.
    pub model: ModelId,
    /// Whether this request created the run (`false`: the same file made it before).
    pub created: bool,
    /// The run's scorecard.
    pub scorecard: Scorecard,
}

/// Stores checked predictions on `served` as a finished `submitted_predictions` run with its
/// scorecard, or finds the run the same file made before. `scorecard` is computed by the
/// caller (off the async runtime) from the checked judgements.
pub async fn store(
    storage: &Storage,
    served: &Benchmark,
    checked: &CheckedPredictions,
    scorecard: Scorecard,
) -> Result<StoredPredictions, StorageError> {
    let benchmark = record_benchmark(storage, served).await?;
    let model = model_for(storage, &checked.model).await?;
    let identity = checked.identity().to_value();
    if let Some(run) = storage
        .run_by_identity(
            model,
            benchmark,
            Provenance::SubmittedPredictions,
            &identity,
        )
        .await?
    {
        // Judgements are idempotent on their key, so a run stopped half-way is completed.
        if storage.run(run).await?.status != RunStatus::Finished {
            finish(storage, run, checked, &scorecard).await?;
        }
        return Ok(StoredPredictions {
            run,
            model,
            created: false,
            scorecard,
        });
    }
    let run = storage
        .create_run(&NewRun {
            model,
            benchmark: Some(benchmark),
            status: RunStatus::Running,
            provenance: Provenance::SubmittedPredictions,
            configuration: json!({
                "identity": identity,
                "details": {
                    "source": "submitted predictions: judged elsewhere, checked and scored here",
                    "model_card": checked.card,
                    "judgements": checked.judgements.len(),
                },
            }),
        })
        .await?;
    finish(storage, run, checked, &scorecard).await?;
    Ok(StoredPredictions {
        run,
        model,
        created: true,
        scorecard,
    })
}

async fn finish(
    storage: &Storage,
    run: RunId,
    checked: &CheckedPredictions,
    scorecard: &Scorecard,
) -> Result<(), StorageError> {
    storage.record_judgements(run, &checked.judgements).await?;
    storage.store_scorecard(run, scorecard).await?;
    storage.set_run_status(run, RunStatus::Finished).await
}

/// The model a submission names. A model new to this server takes the card's metadata; an
/// existing one (perhaps evaluated here) keeps its own, which a submission cannot rewrite.
async fn model_for(storage: &Storage, model: &NewModel) -> Result<ModelId, StorageError> {
    let id = storage
        .upsert_model(&NewModel::named(model.name.clone(), model.kind))
        .await?;
    if storage.model_runs(id).await?.is_empty() {
        storage.upsert_model(model).await?;
    }
    Ok(id)
}

/// The scorecard of checked predictions on `served` (CPU work: bootstrap resampling).
pub fn scorecard(
    served: &Benchmark,
    checked: &CheckedPredictions,
    bootstrap: BootstrapConfig,
) -> Scorecard {
    crate::evaluation::scorecard(
        &checked.model.name,
        served.identity.clone(),
        &checked.judgements,
        ScalarTiePolicy::Sweep,
        bootstrap,
    )
}
