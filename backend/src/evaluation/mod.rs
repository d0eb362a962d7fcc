//! Evaluation: run identities and sessions, the runners of API judges, checkpoints and
//! baselines, and turning judgements into scorecards checked against the benchmark they claim to
//! judge.

pub mod api_run;
pub mod baseline;
pub mod checkpoint_run;
pub mod comparison;
pub mod generative_run;
pub mod identity;
pub mod runs;
pub mod session;
pub mod sink;

use std::collections::{BTreeSet, HashMap};

use omnireward_shared::scorecard::{ScalarTiePolicy, score_judgements};
use omnireward_shared::{BenchmarkIdentity, BootstrapConfig, Judgement, Label, Scorecard, Task};
use sha2::{Digest, Sha256};

use crate::data::Benchmark;

/// Judgements that do not match the benchmark they are scored against.
#[derive(Debug, thiserror::Error)]
pub enum VerificationError {
    /// Some judged samples are not in the benchmark.
    #[error(
        "{count} judged samples are not in benchmark {benchmark} (first: {task} `{sample_id}`); pass the benchmark they were judged on with --data"
    )]
    UnknownSamples {
        /// How many.
        count: usize,
        /// Benchmark name and version.
        benchmark: String,
        /// Task of the first one.
        task: Task,
        /// Id of the first one.
        sample_id: String,
    },
    /// A judgement carries a different label than the benchmark.
    #[error(
        "{task} sample `{sample_id}`: the judgement says label {judged}, the benchmark says {expected}"
    )]
    LabelMismatch {
        /// Task.
        task: Task,
        /// Sample id.
        sample_id: String,
        /// Label in the judgement.
        judged: Label,
        /// Label in the benchmark.
        expected: Label,
    },
}

/// Checks that every judgement names a sample of `benchmark` and carries its label.
pub fn verify(benchmark: &Benchmark, judgements: &[Judgement]) -> Result<(), VerificationError> {
    let labels: HashMap<(Task, &str), Label> = benchmark
        .samples
        .iter()
        .map(|sample| ((sample.task, sample.id.as_str()), sample.label))
        .collect();
    let mut unknown = judgements
        .iter()
        .filter(|judgement| !labels.contains_key(&(judgement.task, judgement.sample_id.as_str())));
    if let Some(first) = unknown.next() {
        return Err(VerificationError::UnknownSamples {
            count: 1 + unknown.count(),
            benchmark: format!("{} {}", benchmark.identity.name, benchmark.identity.version),
            task: first.task,
            sample_id: first.sample_id.clone(),
        });
    }
    for judgement in judgements {
        let expected = labels[&(judgement.task, judgement.sample_id.as_str())];
        if judgement.label != expected {
            return Err(VerificationError::LabelMismatch {
                task: judgement.task,
                sample_id: judgement.sample_id.clone(),
                judged: judgement.label,
                expected,
            });
        }
    }
    Ok(())
}

/// An identity for judgements scored without their benchmark: the hash covers the judged
/// (task, sample id, label) triples, so two files over the same items share it.
pub fn unverified_identity(judgements: &[Judgement]) -> BenchmarkIdentity {
    let items: BTreeSet<(Task, &str, Label)> = judgements
        .iter()
        .map(|judgement| {
            (
                judgement.task,
                judgement.sample_id.as_str(),
                judgement.label,
            )
        })
        .collect();
    let mut hasher = Sha256::new();
    for (task, sample_id, label) in items {
        hasher.update(format!("{}\t{sample_id}\t{}\n", task.key(), label.key()).as_bytes());
    }
    BenchmarkIdentity {
        name: "unverified".to_owned(),
        version: "judged-items".to_owned(),
        hash: hex::encode(hasher.finalize()),
    }
}

/// The scorecard of `judgements`.
pub fn scorecard(
    model: &str,
    benchmark: BenchmarkIdentity,
    judgements: &[Judgement],
    tie_policy: ScalarTiePolicy,
    bootstrap: BootstrapConfig,
) -> Scorecard {
    Scorecard {
        model: model.to_owned(),
        benchmark,
        settings: score_judgements(judgements, tie_policy, bootstrap),
    }
}
