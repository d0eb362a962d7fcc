//! The SQLite store: benchmarks and samples, models, runs, judgements, scorecards and paper-reported
//! scores. This module tree is the only place in the workspace that contains SQL.
//!
//! Queries are runtime `sqlx::query` calls with `?` placeholders (no compile-time checked macros, so
//! no `.sqlx/` offline data), and stay portable to PostgreSQL where that costs nothing.

mod admin;
mod benchmarks;
mod jobs;
mod judgements;
mod leaderboard;
mod queries;
mod reported_scores;
mod runs;
mod scorecards;
mod submissions;
mod uploads;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::SqlitePool;
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};

pub use admin::{Approval, ApprovalDecision, RunDeletion, RunProgress};
pub use benchmarks::{BenchmarkId, BenchmarkRecord};
pub use jobs::{Cancellation, Heartbeat, Job, JobId, JobKind};
pub use judgements::SampleJudgement;
pub use leaderboard::{LeaderboardData, LeaderboardGeneration, LeaderboardRun};
pub use queries::ModelRecord;
pub use reported_scores::{ImportSummary, ReportedScore};
pub use runs::{
    ModelId, ModelKind, NewModel, NewRun, Provenance, RunId, RunRecord, RunStatus, UnknownValue,
};
pub use submissions::Enqueued;

/// The embedded migrations of the workspace's top-level `migrations/` folder.
static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

/// How long a connection waits for another writer's lock before failing with "database is locked".
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// SQLite serialises writers anyway; a few connections let readers (the web app) run beside one
/// writer under WAL.
const MAX_CONNECTIONS: u32 = 4;

/// Everything that can go wrong at the storage boundary.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The database file or URL could not be opened or created.
    #[error("cannot open database `{location}`: {source}")]
    Open {
        /// The file path or URL.
        location: String,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// The embedded migrations could not be applied.
    #[error("cannot migrate database `{location}`: {source}")]
    Migrate {
        /// The file path or URL.
        location: String,
        /// The migrator's error.
        source: MigrateError,
    },
    /// A query failed.
    #[error("database error while trying to {action}: {source}")]
    Database {
        /// What was being done, e.g. `record judgements`.
        action: &'static str,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// A stored value is not one the application writes: the file was edited or is newer.
    #[error("corrupt value in {table}.{column}: `{value}`")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// The column.
        column: &'static str,
        /// The offending value, as text.
        value: String,
    },
    /// A value could not be turned into JSON for storage.
    #[error("cannot encode {what} as JSON: {source}")]
    Encode {
        /// What was being encoded.
        what: &'static str,
        /// The serde error.
        source: serde_json::Error,
    },
    /// A value does not fit the column it is stored in.
    #[error("{field} = {value} does not fit in a signed 64-bit column")]
    OutOfRange {
        /// The field.
        field: &'static str,
        /// The value.
        value: u64,
    },
    /// A judgement that cannot be stored faithfully.
    #[error("judgement {task}/{sample_id} cannot be stored: {reason}")]
    InvalidJudgement {
        /// The task key.
        task: String,
        /// The sample id.
        sample_id: String,
        /// Why not.
        reason: &'static str,
    },
    /// No run has this id.
    #[error("run {0} does not exist")]
    RunNotFound(RunId),
    /// No job has this id.
    #[error("job {0} does not exist")]
    JobNotFound(JobId),
    /// Judgements and scorecards belong to evaluated runs; paper numbers live in reported scores.
    #[error(
        "run {run} holds {provenance} numbers: judgements and scorecards can only be stored for runs evaluated here"
    )]
    NotEvaluatedHere {
        /// The run.
        run: RunId,
        /// Its provenance.
        provenance: Provenance,
    },
    /// The paper results to import contradict each other.
    #[error("paper results for `{model}` conflict: {reason}")]
    ConflictingPaperResults {
        /// The model name.
        model: String,
        /// What conflicts.
        reason: String,
    },
}

/// A handle on the database; cheap to clone (it wraps a connection pool).
#[derive(Clone, Debug)]
pub struct Storage {
    pool: SqlitePool,
}

impl Storage {
    /// Opens (creating if missing) the database file at `path` and applies the migrations.
    pub async fn open(path: &Path) -> Result<Storage, StorageError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true);
        Self::connect(options, &path.display().to_string()).await
    }

    /// Opens a `sqlite://…` URL (for example `sqlite://omnireward.sqlite`), creating the file if
    /// missing, and applies the migrations.
    pub async fn open_url(url: &str) -> Result<Storage, StorageError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|source| StorageError::Open {
                location: url.to_owned(),
                source,
            })?
            .create_if_missing(true);
        Self::connect(options, url).await
    }

    /// Closes every connection, so the WAL is checkpointed and the `-wal` file removed.
    pub async fn close(self) {
        self.pool.close().await;
    }

    /// The path of the database file.
    pub fn path(&self) -> PathBuf {
        self.pool.connect_options().get_filename().to_path_buf()
    }

    async fn connect(
        options: SqliteConnectOptions,
        location: &str,
    ) -> Result<Storage, StorageError> {
        // WAL lets the web app read while an evaluation writes. Synchronous stays FULL (the
        // default): a judgement may have cost an API call, so a commit must survive power loss.
        let options = options
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .connect_with(options)
            .await
            .map_err(|source| StorageError::Open {
                location: location.to_owned(),
                source,
            })?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|source| StorageError::Migrate {
                location: location.to_owned(),
                source,
            })?;
        Ok(Storage { pool })
    }
}

/// Maps a driver error to [`StorageError::Database`] with what was being done.
fn database(action: &'static str) -> impl Fn(sqlx::Error) -> StorageError + Copy {
    move |source| StorageError::Database { action, source }
}

/// Parses a stored enumeration value, reporting the table and column when it is unknown.
fn parse_column<T: FromStr>(
    table: &'static str,
    column: &'static str,
    value: String,
) -> Result<T, StorageError> {
    value.parse().map_err(|_| StorageError::Corrupt {
        table,
        column,
        value,
    })
}

/// Reads a stored count or duration that must not be negative.
fn non_negative(
    table: &'static str,
    column: &'static str,
    value: Option<i64>,
) -> Result<Option<u64>, StorageError> {
    value
        .map(|number| {
            u64::try_from(number).map_err(|_| StorageError::Corrupt {
                table,
                column,
                value: number.to_string(),
            })
        })
        .transpose()
}

/// Converts an unsigned count for a BIGINT column (SQLite and PostgreSQL integers are signed).
fn to_signed(field: &'static str, value: u64) -> Result<i64, StorageError> {
    i64::try_from(value).map_err(|_| StorageError::OutOfRange { field, value })
}

/// The current time in Unix milliseconds, written by the application so queries need no
/// database-specific clock function.
fn now_unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}

#[cfg(test)]
mod test_support {
    //! A fresh database file in a temporary folder, shared by the storage tests.

    use tempfile::TempDir;

    use super::Storage;

    /// A storage opened on a real file; keep the folder alive as long as the storage.
    pub(crate) struct TestDatabase {
        pub(crate) folder: TempDir,
        pub(crate) storage: Storage,
    }

    pub(crate) async fn fresh_database() -> TestDatabase {
        let folder = TempDir::new().expect("temporary folder");
        let storage = Storage::open(&folder.path().join("omnireward.sqlite"))
            .await
            .expect("opens a fresh database");
        TestDatabase { folder, storage }
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::fresh_database;
    use super::*;

    #[tokio::test]
    async fn migrations_apply_on_a_fresh_file_and_reopening_is_fine() {
        let database = fresh_database().await;
        let path = database.folder.path().join("omnireward.sqlite");
        assert!(path.exists());
        assert_eq!(database.storage.path(), path);
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_%' ESCAPE '\\' AND name NOT LIKE 'sqlite%' ORDER BY name",
        )
        .fetch_all(&database.storage.pool)
        .await
        .expect("lists tables");
        assert_eq!(
            tables,
            [
                "benchmarks",
                "jobs",
                "judgements",
                "leaderboard_generation",
                "models",
                "reported_scores",
                "runs",
                "samples",
                "scorecards"
            ]
        );
        database.storage.close().await;

        let reopened = Storage::open(&path).await.expect("reopens");
        let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
            .fetch_one(&reopened.pool)
            .await
            .expect("counts migrations");
        assert_eq!(
            applied,
            i64::try_from(MIGRATOR.iter().count()).expect("few")
        );
        reopened.close().await;

        let url = format!("sqlite://{}", path.display());
        let by_url = Storage::open_url(&url).await.expect("opens by URL");
        assert_eq!(by_url.path(), path);
    }

    #[tokio::test]
    async fn connections_use_wal_and_foreign_keys() {
        let database = fresh_database().await;
        let journal_mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&database.storage.pool)
            .await
            .expect("reads the journal mode");
        assert_eq!(journal_mode.to_lowercase(), "wal");
        let foreign_keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(&database.storage.pool)
            .await
            .expect("reads foreign keys");
        assert_eq!(foreign_keys, 1);
    }

    #[tokio::test]
    async fn open_errors_name_the_file() {
        let folder = tempfile::TempDir::new().expect("temporary folder");
        let path = folder
            .path()
            .join("missing-folder")
            .join("omnireward.sqlite");
        let error = Storage::open(&path).await.expect_err("parent is missing");
        let message = error.to_string();
        assert!(
            message.contains(&path.display().to_string()),
            "message: {message}"
        );
    }
}
