//! The runner of local generative judges: a chat model (a `*ForCausalLM` folder, a GGUF file,
//! or a Qwen2-VL / Qwen2.5-VL folder without a reward head) judges every (sample, setting,
//! order) item with the API judges' prompts, rendered through the model's own chat template, on
//! its inference thread.
//!
//! - Items are planned as for API judges ([`super::api_run::plan_items`]: both settings, and
//!   the swapped order with `--swap`) over the samples the model covers ([`plan`]: for a text
//!   model what a text decoder covers, T2T and TI2T/TV2T/TA2T on the prompt's text only; for a
//!   vision-language model every image and video task, with their media in the prompt's slots
//!   ([`crate::judges::local::vision_prompt`]), and no audio task).
//! - Items go to the thread in chunks; the engine batches a chunk's prompts (continuous
//!   batching), and the chunk's judgements are saved when it returns, so a crash loses at most
//!   the chunk in hand and a re-run skips every saved item (the sink knows them).
//! - The first query is greedy. While the verdict is unparseable, the item is asked again, up to
//!   the reference's five queries, sampled with a seed derived from the run's seed and the
//!   item, so a re-run draws the same tokens ([`requery_seed`]).
//! - Judgements carry the last raw output, the attempts, prompt and generated tokens summed over
//!   the attempts, and the time the item spent being generated.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use omnireward_local_judge::generation::engine::Batching;
use omnireward_local_judge::generation::sampling::DecodingOptions;
use omnireward_shared::{Judgement, JudgementKey, Order, Sample, Setting, Task, parse_verdict};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::api_run::plan_items;
use super::checkpoint_run::{self, CheckpointPlan};
use super::sink::{JudgementSink, SinkError};
use crate::judges::api::prompts::PromptSet;
use crate::judges::local::generative::{self, JudgeRequest, judge_request};
use crate::judges::local::{GenerativeThread, LocalScoringError, vision_prompt};
use crate::media::MediaEncoder;

/// The samples a generative judge covers: a vision-language model's every image and video task
/// (`reads_media`), else a text decoder's coverage.
pub fn plan(samples: &[Sample], reads_media: bool) -> CheckpointPlan<'_> {
    if reads_media {
        checkpoint_run::plan_by(samples, vision_prompt::coverage)
    } else {
        checkpoint_run::plan(
            samples,
            omnireward_local_judge::architecture::ModelKind::DecoderClassifier,
        )
    }
}

/// Items sent to the thread per job: two batches' worth, so batching stays full while saving
/// and stopping happen often.
pub const DEFAULT_CHUNK_ITEMS: usize = 32;

/// The decoding options of a generative run; they change the judgements, so the run's identity
/// holds them.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct GenerativeDecoding {
    /// Generated tokens per answer at most.
    pub max_new_tokens: usize,
    /// Temperature of the re-queries of unparseable verdicts (the first query is greedy).
    pub requery_temperature: f64,
    /// Nucleus cut of the re-queries.
    pub requery_top_p: f64,
    /// Seed the re-queries' seeds derive from.
    pub seed: u64,
}

impl Default for GenerativeDecoding {
    fn default() -> Self {
        GenerativeDecoding {
            max_new_tokens: 512,
            requery_temperature: 0.7,
            requery_top_p: 0.9,
            seed: 0,
        }
    }
}

/// How to run a generative checkpoint over a benchmark.
#[derive(Clone, Debug)]
pub struct GenerativeRunConfig {
    /// Settings to judge.
    pub settings: Vec<Setting>,
    /// Also judge every item with A and B exchanged.
    pub swap: bool,
    /// Queries per item while the verdict is unparseable (the reference makes 5).
    pub verdict_attempts: u32,
    /// Decoding options.
    pub decoding: GenerativeDecoding,
    /// The engine's batch limits.
    pub batching: Batching,
    /// Items per job on the inference thread.
    pub chunk_items: usize,
}

/// Why a generative run stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum GenerativeRunError {
    /// Rendering, tokenizing or generating failed.
    #[error(transparent)]
    Generation(#[from] LocalScoringError),
    /// Judgements could not be saved.
    #[error(transparent)]
    Sink(#[from] SinkError),
}

/// What a session of a generative run did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct GenerativeRunSummary {
    /// Items of the run (covered samples × settings × orders).
    pub items: usize,
    /// Of those, judged by earlier sessions.
    pub already_done: usize,
    /// Judged in this session.
    pub judged: usize,
    /// Of those, still unparseable after every attempt (stored without a verdict).
    pub unparseable: usize,
    /// Samples of tasks a text model cannot judge, by task.
    pub not_covered: BTreeMap<Task, usize>,
    /// Tasks judged on the prompt's text only.
    pub text_only_prompt: Vec<Task>,
    /// Whether the judge reads images and videos (a vision-language model).
    pub reads_media: bool,
    /// Tokens generated in this session, re-queries included.
    pub generated_tokens: u64,
    /// Wall-clock seconds of this session.
    pub seconds: f64,
    /// Generated tokens per second over the session.
    pub tokens_per_second: f64,
    /// Judgements per minute over the session.
    pub judgements_per_minute: f64,
    /// Whether the session was stopped before the end.
    pub stopped: bool,
}

/// One item to judge.
#[derive(Clone, Debug)]
struct Item {
    sample: Sample,
    setting: Setting,
    order: Order,
}

/// What the thread returns for a chunk.
struct ChunkResult {
    judgements: Vec<Judgement>,
    generated_tokens: u64,
}

/// The seed of attempt `attempt` (2 and later) of an item: SHA-256 over the run's seed and the
/// item's key, so it does not depend on which items share a chunk or a session.
pub fn requery_seed(seed: u64, key: &JudgementKey, attempt: u32) -> u64 {
    let text = format!(
        "{seed}\n{}\n{}\n{}\n{:?}\n{attempt}",
        key.task.key(),
        key.sample_id,
        key.setting.key(),
        key.order
    );
    let digest = Sha256::digest(text.as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(bytes)
}

fn key_of(item: &Item) -> JudgementKey {
    JudgementKey {
        task: item.sample.task,
        sample_id: item.sample.id.clone(),
        setting: item.setting,
        order: item.order,
    }
}

/// Judges the items of `plan` not yet saved; `media` decodes a vision-language model's images
/// and video frames. `progress` counts items judged in this session.
#[expect(
    clippy::too_many_arguments,
    reason = "the model, its prompts and media, the plan, the options and the session's handles"
)]
pub async fn run(
    thread: &GenerativeThread,
    prompts: Arc<PromptSet>,
    media: Arc<MediaEncoder>,
    plan: &CheckpointPlan<'_>,
    config: &GenerativeRunConfig,
    sink: &mut JudgementSink,
    stop: Arc<AtomicBool>,
    progress: Arc<AtomicU64>,
) -> Result<GenerativeRunSummary, GenerativeRunError> {
    let started = Instant::now();
    let samples: Vec<Sample> = plan
        .covered
        .iter()
        .map(|sample| (*sample).clone())
        .collect();
    let planned = plan_items(&samples, &config.settings, config.swap);
    let total = planned.len();
    let pending: Vec<Item> = planned
        .into_iter()
        .map(|(index, setting, order)| Item {
            sample: samples[index].clone(),
            setting,
            order,
        })
        .filter(|item| !sink.done().contains(&key_of(item)))
        .collect();
    let mut summary = GenerativeRunSummary {
        items: total,
        already_done: total - pending.len(),
        not_covered: plan.not_covered.clone(),
        text_only_prompt: plan.text_only_prompt.clone(),
        reads_media: thread.reads_media(),
        ..GenerativeRunSummary::default()
    };
    for chunk in pending.chunks(config.chunk_items.max(1)) {
        if stop.load(Ordering::SeqCst) {
            summary.stopped = true;
            break;
        }
        let chunk = chunk.to_vec();
        let prompts = Arc::clone(&prompts);
        let chunk_config = config.clone();
        let counter = Arc::clone(&progress);
        let media = Arc::clone(&media);
        let result = thread
            .run(move |model| judge_chunk(model, &prompts, &media, &chunk, &chunk_config, &counter))
            .await?;
        sink.save(&result.judgements).await?;
        summary.judged += result.judgements.len();
        summary.unparseable += result
            .judgements
            .iter()
            .filter(|judgement| judgement.verdict.is_none())
            .count();
        summary.generated_tokens += result.generated_tokens;
    }
    summary.seconds = started.elapsed().as_secs_f64();
    if summary.seconds > 0.0 {
        summary.tokens_per_second = summary.generated_tokens as f64 / summary.seconds;
        summary.judgements_per_minute = summary.judged as f64 * 60.0 / summary.seconds;
    }
    Ok(summary)
}

/// Per item, what its attempts so far add up to.
#[derive(Default)]
struct Tally {
    attempts: u32,
    input_tokens: u64,
    output_tokens: u64,
    latency: Duration,
    raw_output: String,
}

/// Judges one chunk on the inference thread.
fn judge_chunk(
    model: &omnireward_local_judge::generation::generative_model::GenerativeModel,
    prompts: &PromptSet,
    media: &MediaEncoder,
    chunk: &[Item],
    config: &GenerativeRunConfig,
    progress: &AtomicU64,
) -> Result<ChunkResult, LocalScoringError> {
    let input_error = |item: &Item, message: String| LocalScoringError::Input {
        task: item.sample.task,
        sample_id: item.sample.id.clone(),
        message,
    };
    let mut prepared: Vec<JudgeRequest> = Vec::with_capacity(chunk.len());
    for item in chunk {
        let rendered = prompts
            .render(&item.sample, item.setting, item.order)
            .map_err(|error| input_error(item, error.to_string()))?;
        let request =
            judge_request(model, &rendered, &item.sample, item.order, media).map_err(|error| {
                match error {
                    // Errors naming the sample already keep their own message.
                    LocalScoringError::Judge(judge) => input_error(item, judge.to_string()),
                    other => other,
                }
            })?;
        prepared.push(request);
    }
    let mut tallies: Vec<Tally> = chunk.iter().map(|_| Tally::default()).collect();
    let mut verdicts = vec![None; chunk.len()];
    let mut generated_tokens = 0u64;
    let attempts = config.verdict_attempts.max(1);
    let mut asking: Vec<usize> = (0..chunk.len()).collect();
    for attempt in 1..=attempts {
        if asking.is_empty() {
            break;
        }
        let decoding = DecodingOptions {
            max_new_tokens: config.decoding.max_new_tokens,
            temperature: if attempt == 1 {
                0.0
            } else {
                config.decoding.requery_temperature
            },
            top_p: config.decoding.requery_top_p,
            stop_strings: Vec::new(),
        };
        let requests: Vec<(&JudgeRequest, u64)> = asking
            .iter()
            .map(|&index| {
                (
                    &prepared[index],
                    requery_seed(config.decoding.seed, &key_of(&chunk[index]), attempt),
                )
            })
            .collect();
        let answers = generative::generate(model, &requests, &decoding, config.batching)?;
        let mut still_asking = Vec::new();
        for (&index, answer) in asking.iter().zip(answers) {
            let tally = &mut tallies[index];
            tally.attempts = attempt;
            tally.input_tokens += answer.prompt_tokens as u64;
            tally.output_tokens += answer.tokens.len() as u64;
            tally.latency += answer.elapsed;
            generated_tokens += answer.tokens.len() as u64;
            verdicts[index] = parse_verdict(&answer.text);
            tally.raw_output = answer.text;
            if verdicts[index].is_none() {
                still_asking.push(index);
            } else {
                progress.fetch_add(1, Ordering::Relaxed);
            }
        }
        asking = still_asking;
    }
    progress.fetch_add(asking.len() as u64, Ordering::Relaxed);
    let judgements = chunk
        .iter()
        .zip(tallies)
        .zip(verdicts)
        .map(|((item, tally), verdict)| Judgement {
            task: item.sample.task,
            sample_id: item.sample.id.clone(),
            setting: item.setting,
            order: item.order,
            raw_output: Some(tally.raw_output),
            rewards: None,
            verdict: verdict.map(|shown| item.order.to_reference(shown)),
            label: item.sample.label,
            attempts: Some(tally.attempts),
            input_tokens: Some(tally.input_tokens),
            output_tokens: Some(tally.output_tokens),
            latency_ms: Some(tally.latency.as_millis() as u64),
        })
        .collect();
    Ok(ChunkResult {
        judgements,
        generated_tokens,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requery_seeds_depend_on_the_item_and_attempt_only() {
        let key = JudgementKey {
            task: Task::TextToText,
            sample_id: "7".to_owned(),
            setting: Setting::WithTies,
            order: Order::Original,
        };
        assert_eq!(requery_seed(1, &key, 2), requery_seed(1, &key, 2));
        assert_ne!(requery_seed(1, &key, 2), requery_seed(1, &key, 3));
        assert_ne!(requery_seed(1, &key, 2), requery_seed(2, &key, 2));
        let swapped = JudgementKey {
            order: Order::Swapped,
            ..key.clone()
        };
        assert_ne!(requery_seed(1, &key, 2), requery_seed(1, &swapped, 2));
    }
}
