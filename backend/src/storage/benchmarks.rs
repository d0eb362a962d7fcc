//! Loaded benchmark versions and their samples.
//!
//! A benchmark is identified by the content hash over its samples, so loading the same files twice
//! finds the existing row instead of adding one.

use std::fmt;

use omnireward_shared::{BenchmarkIdentity, Sample};
use sqlx::Row;

use super::{Storage, StorageError, database, non_negative, now_unix_ms, to_signed};

/// The database id of a loaded benchmark.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BenchmarkId(pub i64);

impl fmt::Display for BenchmarkId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}", self.0)
    }
}

/// A stored benchmark version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BenchmarkRecord {
    /// Its id.
    pub id: BenchmarkId,
    /// Name, version and content hash.
    pub identity: BenchmarkIdentity,
    /// Where it was loaded from (a folder or a description).
    pub source: String,
    /// How many samples the loader reported.
    pub sample_count: u64,
    /// When it was first stored, in Unix milliseconds.
    pub created_at_ms: i64,
}

impl Storage {
    /// Stores a benchmark version, or finds the one with the same content hash (whose name,
    /// version and source are then kept as first stored).
    pub async fn upsert_benchmark(
        &self,
        identity: &BenchmarkIdentity,
        source: &str,
        sample_count: u64,
    ) -> Result<BenchmarkId, StorageError> {
        with_pool!(self, |pool| {
            sqlx::query(
            "INSERT INTO benchmarks (name, version, content_hash, source, sample_count, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (content_hash) DO NOTHING",
        )
        .bind(&identity.name)
        .bind(&identity.version)
        .bind(&identity.hash)
        .bind(source)
        .bind(to_signed("sample_count", sample_count)?)
        .bind(now_unix_ms())
        .execute(pool)
        .await
        .map_err(database("store a benchmark"))?;
            let id: i64 = sqlx::query_scalar("SELECT id FROM benchmarks WHERE content_hash = $1")
                .bind(&identity.hash)
                .fetch_one(pool)
                .await
                .map_err(database("find a benchmark by content hash"))?;
            Ok(BenchmarkId(id))
        })
    }

    /// The stored benchmark with this id, if any.
    pub async fn benchmark(
        &self,
        id: BenchmarkId,
    ) -> Result<Option<BenchmarkRecord>, StorageError> {
        with_pool!(self, |pool| {
            let row = sqlx::query(
                "SELECT id, name, version, content_hash, source, sample_count, created_at \
             FROM benchmarks WHERE id = $1",
            )
            .bind(id.0)
            .fetch_optional(pool)
            .await
            .map_err(database("read a benchmark"))?;
            let Some(row) = row else {
                return Ok(None);
            };
            let read = database("read a benchmark");
            let sample_count: i64 = row.try_get("sample_count").map_err(&read)?;
            Ok(Some(BenchmarkRecord {
                id: BenchmarkId(row.try_get("id").map_err(&read)?),
                identity: BenchmarkIdentity {
                    name: row.try_get("name").map_err(&read)?,
                    version: row.try_get("version").map_err(&read)?,
                    hash: row.try_get("content_hash").map_err(&read)?,
                },
                source: row.try_get("source").map_err(&read)?,
                sample_count: non_negative("benchmarks", "sample_count", Some(sample_count))?
                    .unwrap_or_default(),
                created_at_ms: row.try_get("created_at").map_err(&read)?,
            }))
        })
    }

    /// Stores samples of a benchmark in one transaction and returns how many were new. Samples
    /// already stored under the same (task, id) are left as they are, so re-storing changes
    /// nothing.
    pub async fn store_samples(
        &self,
        benchmark: BenchmarkId,
        samples: &[Sample],
    ) -> Result<usize, StorageError> {
        with_pool!(self, |pool| {
            let mut transaction = pool
                .begin()
                .await
                .map_err(database("start storing samples"))?;
            let mut inserted = 0;
            for sample in samples {
                let sample_json =
                    serde_json::to_string(sample).map_err(|source| StorageError::Encode {
                        what: "a sample",
                        source,
                    })?;
                let result = sqlx::query(
                    "INSERT INTO samples \
                 (benchmark_id, task, sample_id, label, criterion, prompt, sample_json) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (benchmark_id, task, sample_id) DO NOTHING",
                )
                .bind(benchmark.0)
                .bind(sample.task.key())
                .bind(&sample.id)
                .bind(sample.label.key())
                .bind(&sample.criterion)
                .bind(&sample.prompt)
                .bind(sample_json)
                .execute(&mut *transaction)
                .await
                .map_err(database("store samples"))?;
                inserted += usize::try_from(result.rows_affected()).unwrap_or(usize::MAX);
            }
            transaction
                .commit()
                .await
                .map_err(database("commit samples"))?;
            Ok(inserted)
        })
    }

    /// How many samples of this benchmark are stored.
    pub async fn sample_count(&self, benchmark: BenchmarkId) -> Result<u64, StorageError> {
        with_pool!(self, |pool| {
            let count: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM samples WHERE benchmark_id = $1")
                    .bind(benchmark.0)
                    .fetch_one(pool)
                    .await
                    .map_err(database("count samples"))?;
            Ok(non_negative("samples", "COUNT(*)", Some(count))?.unwrap_or_default())
        })
    }

    /// The stored samples of a benchmark, ordered by task key and sample id.
    pub async fn samples(&self, benchmark: BenchmarkId) -> Result<Vec<Sample>, StorageError> {
        with_pool!(self, |pool| {
            let rows: Vec<String> = sqlx::query_scalar(
                "SELECT sample_json FROM samples WHERE benchmark_id = $1 ORDER BY task, sample_id",
            )
            .bind(benchmark.0)
            .fetch_all(pool)
            .await
            .map_err(database("read samples"))?;
            rows.into_iter()
                .map(|json| {
                    serde_json::from_str(&json).map_err(|_| StorageError::Corrupt {
                        table: "samples",
                        column: "sample_json",
                        value: json,
                    })
                })
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use omnireward_shared::{Label, MediaKind, MediaLocation, MediaRef, Response, Task};

    use super::*;
    use crate::storage::test_support::fresh_databases;

    fn identity(hash: &str) -> BenchmarkIdentity {
        BenchmarkIdentity {
            name: "omni-rewardbench".to_owned(),
            version: "sample-1".to_owned(),
            hash: hash.to_owned(),
        }
    }

    fn samples() -> Vec<Sample> {
        vec![
            Sample {
                id: "t2t-1".to_owned(),
                task: Task::TextToText,
                prompt: "Write a haiku about rain.".to_owned(),
                prompt_media: None,
                response1: Response::Text {
                    text: "Soft rain on the roof".to_owned(),
                },
                response2: Response::Text {
                    text: "It is raining.".to_owned(),
                },
                criterion: "Prefer the response that follows the 5-7-5 form.".to_owned(),
                label: Label::Response1,
                model1: Some("model-a".to_owned()),
                model2: None,
            },
            Sample {
                id: "t2i-1".to_owned(),
                task: Task::TextToImage,
                prompt: "A red bicycle".to_owned(),
                prompt_media: None,
                response1: Response::Media {
                    media: MediaRef {
                        kind: MediaKind::Image,
                        name: "t2i/1a.png".to_owned(),
                        location: MediaLocation::File {
                            path: "/data/media_data/t2i/1a.png".to_owned(),
                        },
                    },
                },
                response2: Response::Media {
                    media: MediaRef {
                        kind: MediaKind::Image,
                        name: "t2i/1b.png".to_owned(),
                        location: MediaLocation::ParquetCell {
                            file: "/data/text_to_image/test.parquet".to_owned(),
                            row_group: 0,
                            row: 3,
                            column: "response2".to_owned(),
                            length: 1234,
                        },
                    },
                },
                criterion: "Prefer the image whose bicycle is red.".to_owned(),
                label: Label::Tie,
                model1: None,
                model2: None,
            },
        ]
    }

    #[tokio::test]
    async fn benchmarks_are_found_by_content_hash() {
        for database in fresh_databases().await {
            let storage = database.storage();
            let first = storage
                .upsert_benchmark(&identity("abc"), "/data/omni", 2)
                .await
                .expect("stores");
            let again = storage
                .upsert_benchmark(&identity("abc"), "/elsewhere", 2)
                .await
                .expect("finds");
            let other = storage
                .upsert_benchmark(&identity("def"), "/data/other", 5)
                .await
                .expect("stores another");
            assert_eq!(first, again);
            assert_ne!(first, other);
            let record = storage
                .benchmark(first)
                .await
                .expect("reads")
                .expect("exists");
            assert_eq!(record.identity, identity("abc"));
            assert_eq!(record.source, "/data/omni");
            assert_eq!(record.sample_count, 2);
            assert!(
                storage
                    .benchmark(BenchmarkId(999))
                    .await
                    .expect("reads")
                    .is_none()
            );
        }
    }

    #[tokio::test]
    async fn samples_are_stored_once_and_round_trip() {
        for database in fresh_databases().await {
            let storage = database.storage();
            let benchmark = storage
                .upsert_benchmark(&identity("abc"), "/data/omni", 2)
                .await
                .expect("stores");
            let samples = samples();
            assert_eq!(
                storage
                    .store_samples(benchmark, &samples)
                    .await
                    .expect("stores"),
                2
            );
            assert_eq!(
                storage
                    .store_samples(benchmark, &samples)
                    .await
                    .expect("re-stores"),
                0
            );
            assert_eq!(storage.sample_count(benchmark).await.expect("counts"), 2);
            let mut expected = samples;
            expected.sort_by(|left, right| left.task.key().cmp(right.task.key()));
            assert_eq!(storage.samples(benchmark).await.expect("reads"), expected);
        }
    }

    #[tokio::test]
    async fn samples_come_back_in_byte_order_on_every_backend() {
        // A linguistic collation (PostgreSQL's default under most locales) would put "b" before
        // "B" and "a1" before "a-2"; byte order, SQLite's, puts upper case and punctuation first.
        let ids = ["b", "B", "a1", "a-2"];
        let stored: Vec<Sample> = ids
            .iter()
            .map(|id| Sample {
                id: (*id).to_owned(),
                ..samples()[0].clone()
            })
            .collect();
        for database in fresh_databases().await {
            let storage = database.storage();
            let benchmark = storage
                .upsert_benchmark(&identity("order"), "/data", 4)
                .await
                .expect("stores");
            storage
                .store_samples(benchmark, &stored)
                .await
                .expect("stores samples");
            let read: Vec<String> = storage
                .samples(benchmark)
                .await
                .expect("reads")
                .into_iter()
                .map(|sample| sample.id)
                .collect();
            assert_eq!(read, ["B", "a-2", "a1", "b"]);
        }
    }

    #[tokio::test]
    async fn samples_of_an_unknown_benchmark_are_refused() {
        for database in fresh_databases().await {
            let storage = database.storage();
            let error = storage
                .store_samples(BenchmarkId(42), &samples())
                .await
                .expect_err("foreign key");
            assert!(matches!(error, StorageError::Database { .. }), "{error}");
            assert_eq!(
                storage.sample_count(BenchmarkId(42)).await.expect("counts"),
                0
            );
        }
    }
}
