//! The store: benchmarks and samples, models, runs, judgements, scorecards, paper-reported scores
//! and the durable job queue, in SQLite (the embedded default: one file) or PostgreSQL (for
//! several worker hosts sharing one database). This module tree is the only place in the
//! workspace that contains SQL.
//!
//! # Two backends, one code path
//!
//! [`Storage`] holds either an `SqlitePool` or a `PgPool`, and every query is written once inside
//! [`with_pool!`], which compiles its body once per backend. Each backend therefore runs on its
//! native driver, with its own types and no per-row conversion: the SQLite path is the code it was
//! before PostgreSQL existed. sqlx's `Any` driver was the alternative; it was not chosen because
//! it converts every argument and row through its own value enum, supports fewer types, and
//! connects SQLite from a URL only, which loses the connect options set below (WAL, busy timeout)
//! and makes arbitrary file paths awkward.
//!
//! The SQL text is shared, and portable by construction:
//! - placeholders are `$1`, `$2`, …: PostgreSQL's syntax, which sqlx's SQLite driver also accepts
//!   (it binds `$N` to the N-th argument, repeated or out of order);
//! - upserts are `ON CONFLICT … DO NOTHING / DO UPDATE` (both), ids come from `RETURNING id`
//!   (both), timestamps are Unix milliseconds written by the application (no clock functions);
//! - every integer column is a 64-bit integer on both (`BIGINT` in `migrations/postgres/`, since
//!   PostgreSQL will not decode `INTEGER` as `i64`), flags stay 0/1 integers rather than
//!   PostgreSQL booleans so the same literals (`cancel_requested = 1`) work on both, and real
//!   numbers are `DOUBLE PRECISION` there (PostgreSQL's `REAL` is 32-bit).
//!
//! What differs is concurrency, because SQLite runs one writer at a time and PostgreSQL many:
//! - the queue's claim ([`Storage::claim_job`]) picks the job with `FOR UPDATE SKIP LOCKED` on
//!   PostgreSQL, so workers on several hosts claim different jobs without waiting on each other;
//! - the enqueues that allow one active job per run first lock the run's row on PostgreSQL
//!   (`submissions::LOCK_RUN_FOR_ENQUEUE`), so concurrent submissions of one run take turns;
//! - the leaderboard's reads run `REPEATABLE READ` on PostgreSQL, one snapshot as in SQLite.
//!
//! Migrations: SQLite's are the top-level `migrations/` folder (as ever), PostgreSQL's are
//! `migrations/postgres/`, with the same versions and meaning in PostgreSQL's dialect. `sqlx::migrate!`
//! reads the files of one folder and skips subfolders, so the two sets embed side by side.

/// Runs `$body` with `$pool` bound to the storage's pool, compiled once per backend: in one arm
/// `$pool` is a `&SqlitePool`, in the other a `&PgPool`, so the same query text, binds and row
/// reading are type-checked and run natively on each. A body that needs a different statement
/// per backend matches on [`Storage::backend`] instead.
macro_rules! with_pool {
    ($storage:expr, |$pool:ident| $body:expr) => {
        match &$storage.pool {
            $crate::storage::Pool::Sqlite($pool) => $body,
            $crate::storage::Pool::Postgres($pool) => $body,
        }
    };
}

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

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::migrate::{MigrateError, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow};
use sqlx::{Connection as _, Decode, PgConnection, PgPool, Postgres, Sqlite, SqlitePool, Type};

pub use admin::{Approval, ApprovalDecision, RunDeletion, RunProgress};
pub use benchmarks::{BenchmarkId, BenchmarkRecord};
pub use jobs::{Cancellation, Heartbeat, Job, JobId, JobKind};
pub use judgements::{FinishedRunJudgements, SampleJudgement};
pub use leaderboard::{LeaderboardData, LeaderboardGeneration, LeaderboardRun};
pub use queries::ModelRecord;
pub use reported_scores::{ImportSummary, ReportedScore};
pub use runs::{
    ModelId, ModelKind, NewModel, NewRun, Provenance, RunId, RunRecord, RunStatus, UnknownName,
    identity_digest,
};
pub use submissions::Enqueued;

/// The embedded SQLite migrations: the workspace's top-level `migrations/` folder.
static SQLITE_MIGRATOR: Migrator = sqlx::migrate!("../migrations");

/// The embedded PostgreSQL migrations: the same versions in PostgreSQL's dialect.
static POSTGRES_MIGRATOR: Migrator = sqlx::migrate!("../migrations/postgres");

/// How long a connection waits for another writer's lock before failing with "database is locked".
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// SQLite serialises writers anyway; a few connections let readers (the web app) run beside one
/// writer under WAL.
const MAX_CONNECTIONS: u32 = 4;

/// PostgreSQL runs writers concurrently; a process holds a few more connections (a server with
/// its workers), and many hosts share the server's connection limit (100 by default).
const POSTGRES_MAX_CONNECTIONS: u32 = 8;

/// How long opening a PostgreSQL database waits for the server to answer, and a query for a
/// free connection of the pool.
const POSTGRES_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the data lives, as given to `--database`.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseLocation {
    /// An SQLite database file, created if missing.
    SqliteFile(PathBuf),
    /// An `sqlite:` URL (for example `sqlite://omnireward.sqlite?mode=rwc`).
    SqliteUrl(String),
    /// A `postgres://` or `postgresql://` URL of an existing database.
    Postgres(String),
}

impl DatabaseLocation {
    /// Reads a `--database` value: a `postgres://` / `postgresql://` URL, an `sqlite:` URL, or
    /// else a file path.
    pub fn parse(text: &str) -> DatabaseLocation {
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            DatabaseLocation::Postgres(text.to_owned())
        } else if text.starts_with("sqlite:") {
            DatabaseLocation::SqliteUrl(text.to_owned())
        } else {
            DatabaseLocation::SqliteFile(PathBuf::from(text))
        }
    }

    /// The backend this location opens.
    pub fn backend(&self) -> Backend {
        match self {
            DatabaseLocation::SqliteFile(_) | DatabaseLocation::SqliteUrl(_) => Backend::Sqlite,
            DatabaseLocation::Postgres(_) => Backend::Postgres,
        }
    }
}

/// Shows the location with any password replaced by `***`, so it can go into errors and logs.
impl fmt::Display for DatabaseLocation {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseLocation::SqliteFile(path) => write!(formatter, "{}", path.display()),
            DatabaseLocation::SqliteUrl(url) => formatter.write_str(url),
            DatabaseLocation::Postgres(url) => formatter.write_str(&redact_password(url)),
        }
    }
}

/// Redacted like [`Display`](fmt::Display): a URL's password is a secret (ARCHITECTURE.md
/// invariant 5).
impl fmt::Debug for DatabaseLocation {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let variant = match self {
            DatabaseLocation::SqliteFile(_) => "SqliteFile",
            DatabaseLocation::SqliteUrl(_) => "SqliteUrl",
            DatabaseLocation::Postgres(_) => "Postgres",
        };
        write!(formatter, "{variant}({self})")
    }
}

/// Replaces the password of a URL (`user:password@` in the authority, or a `password=` query
/// parameter) by `***`.
fn redact_password(url: &str) -> String {
    let (before_query, query) = match url.split_once('?') {
        Some((before, query)) => (before, Some(query)),
        None => (url, None),
    };
    let mut redacted = match before_query.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find('/').unwrap_or(rest.len());
            let (authority, path) = rest.split_at(authority_end);
            let authority = match authority.rsplit_once('@') {
                Some((user_info, host)) => match user_info.split_once(':') {
                    Some((user, _password)) => format!("{user}:***@{host}"),
                    None => authority.to_owned(),
                },
                None => authority.to_owned(),
            };
            format!("{scheme}://{authority}{path}")
        }
        None => before_query.to_owned(),
    };
    if let Some(query) = query {
        let parameters: Vec<String> = query
            .split('&')
            .map(|parameter| match parameter.split_once('=') {
                Some((name, _)) if name.eq_ignore_ascii_case("password") => format!("{name}=***"),
                _ => parameter.to_owned(),
            })
            .collect();
        redacted.push('?');
        redacted.push_str(&parameters.join("&"));
    }
    redacted
}

/// The database engine behind a [`Storage`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// SQLite: one file, the embedded default.
    Sqlite,
    /// PostgreSQL: one server shared by several processes and hosts.
    Postgres,
}

/// The connection pool of either backend; see [`with_pool!`].
#[derive(Clone)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// A value that both backends can decode from a column: what the row readers ask for.
pub(crate) trait ColumnValue:
    for<'row> Decode<'row, Sqlite> + Type<Sqlite> + for<'row> Decode<'row, Postgres> + Type<Postgres>
{
}

impl<T> ColumnValue for T where
    T: for<'row> Decode<'row, Sqlite>
        + Type<Sqlite>
        + for<'row> Decode<'row, Postgres>
        + Type<Postgres>
{
}

/// A result row of either backend, read by column name: lets one row-reading function (a job, a
/// run, a judgement) serve both. Named `read` rather than `try_get` so it never competes with
/// `sqlx::Row::try_get` on a concrete row.
pub(crate) trait StorageRow {
    /// The value of `column`, decoded as `T`.
    fn read<T: ColumnValue>(&self, column: &str) -> Result<T, sqlx::Error>;
}

impl StorageRow for SqliteRow {
    fn read<T: ColumnValue>(&self, column: &str) -> Result<T, sqlx::Error> {
        sqlx::Row::try_get(self, column)
    }
}

impl StorageRow for PgRow {
    fn read<T: ColumnValue>(&self, column: &str) -> Result<T, sqlx::Error> {
        sqlx::Row::try_get(self, column)
    }
}

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
#[derive(Clone)]
pub struct Storage {
    pool: Pool,
    location: DatabaseLocation,
}

/// Names the backend and the (redacted) location; the pool's internals are of no use in a log.
impl fmt::Debug for Storage {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Storage")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

impl Storage {
    /// Opens the database at `location` (creating an SQLite file if missing; a PostgreSQL
    /// database must exist) and applies the migrations.
    pub async fn connect(location: &DatabaseLocation) -> Result<Storage, StorageError> {
        match location {
            DatabaseLocation::SqliteFile(path) => Self::open(path).await,
            DatabaseLocation::SqliteUrl(url) => Self::open_url(url).await,
            DatabaseLocation::Postgres(url) => Self::open_postgres(url).await,
        }
    }

    /// Opens (creating if missing) the database file at `path` and applies the migrations.
    pub async fn open(path: &Path) -> Result<Storage, StorageError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true);
        Self::connect_sqlite(options, DatabaseLocation::SqliteFile(path.to_path_buf())).await
    }

    /// Opens a `sqlite://…` URL (for example `sqlite://omnireward.sqlite`), creating the file if
    /// missing, and applies the migrations.
    pub async fn open_url(url: &str) -> Result<Storage, StorageError> {
        let location = DatabaseLocation::SqliteUrl(url.to_owned());
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|source| StorageError::Open {
                location: location.to_string(),
                source,
            })?
            .create_if_missing(true);
        Self::connect_sqlite(options, location).await
    }

    /// Opens the PostgreSQL database of a `postgres://…` URL and applies the migrations. Several
    /// processes may do so at once: the migrator takes an advisory lock.
    pub async fn open_postgres(url: &str) -> Result<Storage, StorageError> {
        let location = DatabaseLocation::Postgres(url.to_owned());
        let open_error = |source| StorageError::Open {
            location: location.to_string(),
            source,
        };
        let options = PgConnectOptions::from_str(url).map_err(open_error)?;
        // One connection first, for the driver's own error (refused, unknown host, bad
        // password, no such database): the pool retries failed connections until its acquire
        // timeout and then reports only that it timed out.
        let first = tokio::time::timeout(
            POSTGRES_CONNECT_TIMEOUT,
            PgConnection::connect_with(&options),
        )
        .await
        .map_err(|_| {
            open_error(sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer within {} s", POSTGRES_CONNECT_TIMEOUT.as_secs()),
            )))
        })?
        .map_err(open_error)?;
        first.close().await.map_err(open_error)?;
        let pool = PgPoolOptions::new()
            .max_connections(POSTGRES_MAX_CONNECTIONS)
            .acquire_timeout(POSTGRES_CONNECT_TIMEOUT)
            .connect_lazy_with(options);
        POSTGRES_MIGRATOR
            .run(&pool)
            .await
            .map_err(|source| StorageError::Migrate {
                location: location.to_string(),
                source,
            })?;
        let storage = Storage {
            pool: Pool::Postgres(pool),
            location,
        };
        storage.fill_identity_digests().await?;
        Ok(storage)
    }

    /// Closes every connection (for SQLite, so the WAL is checkpointed and the `-wal` file
    /// removed).
    pub async fn close(self) {
        with_pool!(self, |pool| pool.close().await);
    }

    /// The path of the database file; `None` for PostgreSQL.
    pub fn path(&self) -> Option<PathBuf> {
        match &self.pool {
            Pool::Sqlite(pool) => Some(pool.connect_options().get_filename().to_path_buf()),
            Pool::Postgres(_) => None,
        }
    }

    /// Where the data lives (its `Display` redacts passwords).
    pub fn location(&self) -> &DatabaseLocation {
        &self.location
    }

    /// The database engine.
    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    async fn connect_sqlite(
        options: SqliteConnectOptions,
        location: DatabaseLocation,
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
                location: location.to_string(),
                source,
            })?;
        SQLITE_MIGRATOR
            .run(&pool)
            .await
            .map_err(|source| StorageError::Migrate {
                location: location.to_string(),
                source,
            })?;
        let storage = Storage {
            pool: Pool::Sqlite(pool),
            location,
        };
        // Runs stored before migration 0007 get their digest (SQL cannot compute SHA-256).
        storage.fill_identity_digests().await?;
        Ok(storage)
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
pub(crate) mod test_support {
    //! Fresh databases for the storage tests: an SQLite file in a temporary folder, and a
    //! PostgreSQL database of its own (so tests run in parallel) on the server that
    //! `OMNIREWARD_TEST_POSTGRES_URL` names (`scripts/postgres-test-server.sh` starts a throwaway
    //! one; `scripts/test.sh` does so). Without that variable the PostgreSQL half of a test is
    //! skipped with a line saying so, unless `OMNIREWARD_REQUIRE_POSTGRES=1` (set by
    //! `scripts/test.sh`), where it fails: CI never passes without PostgreSQL.

    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{SystemTime, UNIX_EPOCH};

    use sqlx::Connection as _;
    use tempfile::TempDir;

    use super::Storage;

    /// The variable naming a PostgreSQL server's maintenance database (for example
    /// `postgres://postgres@127.0.0.1:5433/postgres`) on which tests may create databases.
    pub(crate) const POSTGRES_URL_VARIABLE: &str = "OMNIREWARD_TEST_POSTGRES_URL";

    /// Set to 1 to make a missing PostgreSQL a test failure instead of a skip.
    pub(crate) const REQUIRE_POSTGRES_VARIABLE: &str = "OMNIREWARD_REQUIRE_POSTGRES";

    /// A storage on a fresh database; keep it alive as long as the storage (it owns the SQLite
    /// file's folder).
    pub(crate) struct TestDatabase {
        pub(crate) folder: Option<TempDir>,
        pub(crate) storage: Storage,
    }

    impl TestDatabase {
        /// The storage, after a line naming the backend, so a failing assertion inside a loop
        /// over [`fresh_databases`] says which backend it failed on.
        pub(crate) fn storage(&self) -> &Storage {
            println!(
                "-- on {:?}: {}",
                self.storage.backend(),
                self.storage.location()
            );
            &self.storage
        }
    }

    /// A fresh SQLite database file.
    pub(crate) async fn fresh_database() -> TestDatabase {
        let folder = TempDir::new().expect("temporary folder");
        let storage = Storage::open(&folder.path().join("omnireward.sqlite"))
            .await
            .expect("opens a fresh database");
        TestDatabase {
            folder: Some(folder),
            storage,
        }
    }

    /// A fresh SQLite database, and a fresh PostgreSQL database when a server is configured
    /// (see the module header): run a test's body on each.
    pub(crate) async fn fresh_databases() -> Vec<TestDatabase> {
        let mut databases = vec![fresh_database().await];
        databases.extend(fresh_postgres_database().await);
        databases
    }

    /// The URL of a new, empty database on the test server, or `None` (after a skip line) when
    /// no server is configured and none is required.
    pub(crate) async fn fresh_postgres_url() -> Option<String> {
        let Ok(server) = std::env::var(POSTGRES_URL_VARIABLE) else {
            let required = std::env::var(REQUIRE_POSTGRES_VARIABLE).is_ok_and(|value| value == "1");
            assert!(
                !required,
                "{REQUIRE_POSTGRES_VARIABLE}=1 but {POSTGRES_URL_VARIABLE} is unset: start a server \
                 with scripts/postgres-test-server.sh"
            );
            eprintln!(
                "skipping the PostgreSQL half of this test: {POSTGRES_URL_VARIABLE} is unset \
                 (scripts/test.sh starts a server)"
            );
            return None;
        };
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .subsec_nanos();
        let name = format!(
            "omnireward_test_{}_{}_{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let mut connection = sqlx::PgConnection::connect(&server)
            .await
            .unwrap_or_else(|error| panic!("{POSTGRES_URL_VARIABLE}: cannot connect: {error}"));
        // A linguistic default collation (ICU's en-US), as on most production servers, so that
        // a query relying on byte order without asking for it fails here; a server built
        // without ICU gets the cluster's default.
        let linguistic = format!(
            "CREATE DATABASE {name} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' \
             LOCALE 'C.UTF-8'"
        );
        if let Err(error) = sqlx::raw_sql(sqlx::AssertSqlSafe(linguistic))
            .execute(&mut connection)
            .await
        {
            eprintln!("no ICU collation ({error}); the test database uses the server's default");
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut connection)
                .await
                .expect("creates a test database");
        }
        connection.close().await.expect("closes");
        Some(with_database(&server, &name))
    }

    /// A fresh PostgreSQL database (see [`fresh_postgres_url`]).
    pub(crate) async fn fresh_postgres_database() -> Option<TestDatabase> {
        let url = fresh_postgres_url().await?;
        let storage = Storage::open_postgres(&url)
            .await
            .expect("opens a fresh PostgreSQL database");
        Some(TestDatabase {
            folder: None,
            storage,
        })
    }

    /// `url` with its database (the path) replaced by `database`.
    fn with_database(url: &str, database: &str) -> String {
        let (scheme, rest) = url.split_once("://").expect("a postgres:// URL");
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);
        let query = tail.find('?').map_or("", |start| &tail[start..]);
        format!("{scheme}://{authority}/{database}{query}")
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::{fresh_database, fresh_postgres_url};
    use super::*;

    /// The tables every migrated database has, whatever the backend.
    const TABLES: [&str; 9] = [
        "benchmarks",
        "jobs",
        "judgements",
        "leaderboard_generation",
        "models",
        "reported_scores",
        "runs",
        "samples",
        "scorecards",
    ];

    /// The SQLite pool of a storage opened on a file.
    fn sqlite_pool(storage: &Storage) -> &SqlitePool {
        match &storage.pool {
            Pool::Sqlite(pool) => pool,
            Pool::Postgres(_) => panic!("expected an SQLite storage"),
        }
    }

    #[tokio::test]
    async fn migrations_apply_on_a_fresh_file_and_reopening_is_fine() {
        let database = fresh_database().await;
        let path = database
            .folder
            .as_ref()
            .expect("an SQLite database has a folder")
            .path()
            .join("omnireward.sqlite");
        assert!(path.exists());
        assert_eq!(database.storage.path(), Some(path.clone()));
        assert_eq!(database.storage.backend(), Backend::Sqlite);
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_%' ESCAPE '\\' AND name NOT LIKE 'sqlite%' ORDER BY name",
        )
        .fetch_all(sqlite_pool(&database.storage))
        .await
        .expect("lists tables");
        assert_eq!(tables, TABLES);
        database.storage.close().await;

        let reopened = Storage::open(&path).await.expect("reopens");
        let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
            .fetch_one(sqlite_pool(&reopened))
            .await
            .expect("counts migrations");
        assert_eq!(
            applied,
            i64::try_from(SQLITE_MIGRATOR.iter().count()).expect("few")
        );
        reopened.close().await;

        let url = format!("sqlite://{}", path.display());
        let by_url = Storage::connect(&DatabaseLocation::parse(&url))
            .await
            .expect("opens by URL");
        assert_eq!(by_url.path(), Some(path));
    }

    #[tokio::test]
    async fn connections_use_wal_and_foreign_keys() {
        let database = fresh_database().await;
        let pool = sqlite_pool(&database.storage);
        let journal_mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(pool)
            .await
            .expect("reads the journal mode");
        assert_eq!(journal_mode.to_lowercase(), "wal");
        let foreign_keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(pool)
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

    #[test]
    fn database_locations_are_told_apart_by_scheme() {
        assert_eq!(
            DatabaseLocation::parse("data/omnireward.sqlite"),
            DatabaseLocation::SqliteFile(PathBuf::from("data/omnireward.sqlite"))
        );
        assert_eq!(
            DatabaseLocation::parse("sqlite://omnireward.sqlite").backend(),
            Backend::Sqlite
        );
        for url in ["postgres://host/db", "postgresql://host/db"] {
            assert_eq!(DatabaseLocation::parse(url).backend(), Backend::Postgres);
        }
    }

    #[test]
    fn postgres_passwords_never_show() {
        let location = DatabaseLocation::parse(
            "postgres://worker:s3cret@db.example:5432/omnireward?sslmode=require&password=other",
        );
        let shown = location.to_string();
        assert_eq!(
            shown,
            "postgres://worker:***@db.example:5432/omnireward?sslmode=require&password=***"
        );
        assert!(!format!("{location:?}").contains("s3cret"));
        assert!(!format!("{location:?}").contains("other"));
        // No password, nothing to hide; a user name alone stays.
        assert_eq!(
            DatabaseLocation::parse("postgres://worker@db/omnireward").to_string(),
            "postgres://worker@db/omnireward"
        );
        // `@` in a password (percent-encoding is optional in practice): the host is after the
        // last one.
        assert_eq!(
            redact_password("postgres://user:p@ss@host/db"),
            "postgres://user:***@host/db"
        );
    }

    #[tokio::test]
    async fn an_unreachable_postgres_server_is_named_without_its_password() {
        // Port 1 on the loopback address: nothing listens there, the connection is refused.
        let url = "postgres://omnireward:hunter2@127.0.0.1:1/omnireward";
        let error = Storage::connect(&DatabaseLocation::parse(url))
            .await
            .expect_err("nothing listens on port 1");
        let message = error.to_string();
        assert!(
            message.contains("postgres://omnireward:***@127.0.0.1:1/omnireward"),
            "message: {message}"
        );
        // The cause, not just a pool timeout.
        assert!(message.contains("refused"), "message: {message}");
        assert!(!message.contains("hunter2"), "message: {message}");
    }

    #[tokio::test]
    async fn postgres_migrations_create_the_same_tables_and_reapply_as_a_no_op() {
        let Some(url) = fresh_postgres_url().await else {
            return;
        };
        let storage = Storage::open_postgres(&url).await.expect("opens");
        assert_eq!(storage.backend(), Backend::Postgres);
        assert_eq!(storage.path(), None);
        let Pool::Postgres(pool) = &storage.pool else {
            panic!("expected a PostgreSQL storage");
        };
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT table_name::TEXT FROM information_schema.tables \
             WHERE table_schema = 'public' AND table_name NOT LIKE '\\_%' ORDER BY table_name",
        )
        .fetch_all(pool)
        .await
        .expect("lists tables");
        assert_eq!(tables, TABLES);
        // Every migration version exists for both backends, with the same description.
        let describe = |migrator: &Migrator| {
            migrator
                .iter()
                .map(|migration| (migration.version, migration.description.to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(describe(&POSTGRES_MIGRATOR), describe(&SQLITE_MIGRATOR));
        storage.close().await;

        // Opening again (another worker host starting) finds everything applied.
        let reopened = Storage::connect(&DatabaseLocation::parse(&url))
            .await
            .expect("reopens");
        let Pool::Postgres(pool) = &reopened.pool else {
            panic!("expected a PostgreSQL storage");
        };
        let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
            .fetch_one(pool)
            .await
            .expect("counts migrations");
        assert_eq!(
            applied,
            i64::try_from(POSTGRES_MIGRATOR.iter().count()).expect("few")
        );
    }
}
