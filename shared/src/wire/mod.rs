//! The REST API's JSON documents: the wire contract, written once.
//!
//! The server builds these values and serialises them (`/api/v1`), its pages render them, the
//! OpenAPI document is derived from them (feature `openapi`, the server's build only), and the
//! browser bundle reads them back from the page. A field added here is therefore added to the
//! API, its documentation and the web app at once; the HTTP tests check served documents
//! against the OpenAPI schema derived from these types.

pub mod leaderboard;
pub mod names;
pub mod predictions;
pub mod runs;
pub mod samples;
pub mod score;
pub mod submissions;
pub mod tasks;

use serde::{Deserialize, Serialize};

pub use leaderboard::{BenchmarkRows, Intervals, LeaderboardDocument, LeaderboardRow};
pub use names::{Approval, ModelKind, Provenance, RunStatus, UnknownName};
pub use predictions::{ModelCard, PredictionsAccepted, PredictionsKind, PredictionsSubmission};
pub use runs::{
    AblationAudit, JudgementItem, ModelDocument, ModelInfo, ReportedSetting, RunBenchmark,
    RunDocument, RunModel,
};
pub use samples::{
    MediaLink, ResponseView, RightShare, SampleAnswer, SampleDifficulty, SampleView,
};
pub use score::{JudgeAnswer, ScoreRequest, ScoreResponse};
pub use submissions::{AcceptedCheckpoint, CancelAnswer, SubmissionView, Submitted, Uploaded};
pub use tasks::{SampleCounts, TaskDocument, TasksDocument};

/// One page of a list the API pages.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Paged<T> {
    /// The page number, from 1.
    pub page: usize,
    /// The page size asked for.
    pub per_page: usize,
    /// Items in the whole (filtered) list.
    pub total: usize,
    /// The items of this page.
    pub items: Vec<T>,
}

impl<T> Paged<T> {
    /// Pages in the whole list (at least 1).
    pub fn pages(&self) -> usize {
        self.total.div_ceil(self.per_page.max(1)).max(1)
    }

    /// The same page with each item converted.
    pub fn map<U>(self, convert: impl FnMut(T) -> U) -> Paged<U> {
        Paged {
            page: self.page,
            per_page: self.per_page,
            total: self.total,
            items: self.items.into_iter().map(convert).collect(),
        }
    }
}
