//! Runs a generative judge over an OpenAI-compatible API: schedules every (sample, setting,
//! order) item in one queue, judges them concurrently, and saves each judgement as it completes.
//!
//! - Both settings share one queue: the w/o Ties items are the non-tie samples again, but with
//!   the prompt that offers no tie, so each is its own request. Items of one sample are queued
//!   together so its media is encoded once and then served from the cache.
//! - Resume: items already in the run are skipped, so re-running the same command finishes the
//!   run without asking a finished item again.
//! - Stops (Ctrl-C, the spend cap) end scheduling; requests in flight finish and are saved.
//! - Saving is batched: the writer commits whatever has completed in one transaction, so the
//!   database never limits throughput at high concurrency.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use omnireward_shared::{Judgement, JudgementKey, Order, Sample, Setting, parse_verdict};
use serde::Serialize;
use tokio::sync::{Semaphore, mpsc};

use super::sink::{JudgementSink, SinkError};
use crate::judges::ablation;
use crate::judges::api::client::{ChatClient, RateLimiter};
use crate::judges::api::prompts::PromptSet;
use crate::judges::api::request::{RequestOptions, build_body};
use crate::media::MediaEncoder;

/// Prices in currency units per million tokens.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Prices {
    /// Per million prompt tokens.
    pub input_per_million: f64,
    /// Per million completion tokens.
    pub output_per_million: f64,
}

impl Prices {
    /// The cost of the given token counts.
    pub fn cost(&self, input_tokens: u64, output_tokens: u64) -> f64 {
        (input_tokens as f64 * self.input_per_million
            + output_tokens as f64 * self.output_per_million)
            / 1e6
    }
}

/// How to schedule a run.
#[derive(Clone, Debug)]
pub struct ApiRunConfig {
    /// Settings to judge.
    pub settings: Vec<Setting>,
    /// Also judge every item with A and B exchanged.
    pub swap: bool,
    /// Requests in flight at most.
    pub concurrency: usize,
    /// Request starts per minute at most.
    pub requests_per_minute: Option<u32>,
    /// Queries per item while the verdict is unparseable (the reference makes 5).
    pub verdict_attempts: u32,
    /// Token prices, for cost accounting.
    pub prices: Option<Prices>,
    /// Stop scheduling once the spend reaches this.
    pub max_cost: Option<f64>,
}

/// The judge: client, prompts, media encoder and request options.
pub struct ApiJudge {
    /// The HTTP client.
    pub client: ChatClient,
    /// The prompt templates.
    pub prompts: PromptSet,
    /// The media encoder (with its cache).
    pub encoder: MediaEncoder,
    /// Model name and request fields.
    pub request: RequestOptions,
}

/// Why a run stopped before judging every item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The user interrupted it.
    Interrupted,
    /// The spend cap was reached.
    SpendCap,
}

/// Counters a progress display reads.
#[derive(Debug, Default)]
pub struct RunProgress {
    /// Items judged and saved in this session.
    pub completed: AtomicU64,
    /// Items that failed in this session.
    pub failed: AtomicU64,
    /// Prompt tokens used in this session.
    pub input_tokens: AtomicU64,
    /// Completion tokens used in this session.
    pub output_tokens: AtomicU64,
}

/// What a session of a run did.
#[derive(Clone, Debug, Serialize)]
pub struct RunSummary {
    /// Items the run consists of (for the chosen tasks, settings and orders).
    pub items: usize,
    /// Items that were already judged before this session.
    pub already_done: usize,
    /// Items judged in this session.
    pub completed: usize,
    /// Items that failed (left unjudged; a re-run retries them), with the reason.
    pub failures: Vec<ItemFailure>,
    /// Why scheduling stopped early, if it did.
    pub stopped: Option<StopReason>,
    /// Prompt tokens used in this session.
    pub input_tokens: u64,
    /// Completion tokens used in this session.
    pub output_tokens: u64,
    /// Cost of this session, when prices were given.
    pub cost: Option<f64>,
    /// Wall-clock seconds of this session.
    pub seconds: f64,
}

/// One item that could not be judged.
#[derive(Clone, Debug, Serialize)]
pub struct ItemFailure {
    /// Task key.
    pub task: String,
    /// Sample id.
    pub sample_id: String,
    /// Setting.
    pub setting: Setting,
    /// Order.
    pub order: Order,
    /// What went wrong.
    pub message: String,
}

/// Why a run could not continue at all.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Saving judgements failed; the run stopped to avoid losing more.
    #[error("cannot save judgements: {0}")]
    Save(#[from] SinkError),
}

/// Every item of the run, grouped by sample: original-order items of both settings first, then
/// the swapped ones.
pub fn plan_items(
    samples: &[Sample],
    settings: &[Setting],
    swap: bool,
) -> Vec<(usize, Setting, Order)> {
    let orders: &[Order] = if swap {
        &[Order::Original, Order::Swapped]
    } else {
        &[Order::Original]
    };
    let mut items = Vec::new();
    for (index, sample) in samples.iter().enumerate() {
        for order in orders {
            for setting in settings {
                if setting.includes(sample.label) {
                    items.push((index, *setting, *order));
                }
            }
        }
    }
    items
}

fn key_of(sample: &Sample, setting: Setting, order: Order) -> JudgementKey {
    JudgementKey {
        task: sample.task,
        sample_id: sample.id.clone(),
        setting,
        order,
    }
}

/// Shared state of one session.
struct Session {
    judge: Arc<ApiJudge>,
    samples: Arc<Vec<Sample>>,
    limiter: Option<RateLimiter>,
    verdict_attempts: u32,
    prices: Option<Prices>,
    max_cost: Option<f64>,
    /// Spend in billionths of a currency unit, so it can be added atomically.
    spend_nanos: AtomicU64,
    stop: Arc<AtomicBool>,
    spend_cap_hit: AtomicBool,
    progress: Arc<RunProgress>,
    /// Media encoding runs ffmpeg and image codecs: at most one job per core at a time, however
    /// many requests are in flight (64 concurrent ffmpeg processes would thrash a small host).
    encoding: Semaphore,
}

type ItemResult = Result<Judgement, ItemFailure>;

/// Runs the judge over `samples` until every planned item is judged, a stop is requested
/// through `stop`, or saving fails.
pub async fn run(
    judge: Arc<ApiJudge>,
    samples: Vec<Sample>,
    config: &ApiRunConfig,
    sink: &mut JudgementSink,
    stop: Arc<AtomicBool>,
    progress: Arc<RunProgress>,
) -> Result<RunSummary, RunError> {
    let started = Instant::now();
    let planned = plan_items(&samples, &config.settings, config.swap);
    let total = planned.len();
    let pending: Vec<(usize, Setting, Order)> = planned
        .into_iter()
        .filter(|(index, setting, order)| {
            !sink
                .done()
                .contains(&key_of(&samples[*index], *setting, *order))
        })
        .collect();
    let already_done = total - pending.len();
    let session = Arc::new(Session {
        judge,
        samples: Arc::new(samples),
        limiter: config.requests_per_minute.map(RateLimiter::new),
        verdict_attempts: config.verdict_attempts.max(1),
        prices: config.prices,
        max_cost: config.max_cost,
        spend_nanos: AtomicU64::new(0),
        stop,
        spend_cap_hit: AtomicBool::new(false),
        progress,
        encoding: Semaphore::new(std::thread::available_parallelism().map_or(2, usize::from)),
    });

    let concurrency = config.concurrency.max(1);
    let (sender, mut receiver) = mpsc::channel::<ItemResult>(concurrency * 2);
    let semaphore = Arc::new(Semaphore::new(concurrency));
    let scheduler = {
        let session = Arc::clone(&session);
        async move {
            let mut tasks = tokio::task::JoinSet::new();
            for (index, setting, order) in pending {
                let Ok(permit) = Arc::clone(&semaphore).acquire_owned().await else {
                    break;
                };
                if session.stop.load(Ordering::SeqCst) {
                    break;
                }
                let session = Arc::clone(&session);
                let sender = sender.clone();
                tasks.spawn(async move {
                    let result = judge_item(&session, index, setting, order).await;
                    drop(permit);
                    // The writer is gone only if saving failed; the run is ending anyway.
                    let _ = sender.send(result).await;
                });
                // Reap finished tasks so the set does not grow with the run.
                while tasks.try_join_next().is_some() {}
            }
            drop(sender);
            while tasks.join_next().await.is_some() {}
        }
    };
    let writer = {
        let session = Arc::clone(&session);
        async move {
            let mut failures = Vec::new();
            let mut completed = 0;
            while let Some(first) = receiver.recv().await {
                let mut batch = vec![first];
                while let Ok(next) = receiver.try_recv() {
                    batch.push(next);
                }
                let mut judgements = Vec::with_capacity(batch.len());
                for result in batch {
                    match result {
                        Ok(judgement) => judgements.push(judgement),
                        Err(failure) => {
                            session.progress.failed.fetch_add(1, Ordering::Relaxed);
                            failures.push(failure);
                        }
                    }
                }
                if let Err(error) = sink.save(&judgements).await {
                    session.stop.store(true, Ordering::SeqCst);
                    return Err(RunError::Save(error));
                }
                completed += judgements.len();
                session
                    .progress
                    .completed
                    .fetch_add(judgements.len() as u64, Ordering::Relaxed);
            }
            Ok((completed, failures))
        }
    };
    let ((), written) = tokio::join!(scheduler, writer);
    let (completed, failures) = written?;

    let stopped = if session.spend_cap_hit.load(Ordering::SeqCst) {
        Some(StopReason::SpendCap)
    } else if session.stop.load(Ordering::SeqCst)
        && already_done + completed + failures.len() < total
    {
        Some(StopReason::Interrupted)
    } else {
        None
    };
    let input_tokens = session.progress.input_tokens.load(Ordering::Relaxed);
    let output_tokens = session.progress.output_tokens.load(Ordering::Relaxed);
    Ok(RunSummary {
        items: total,
        already_done,
        completed,
        failures,
        stopped,
        input_tokens,
        output_tokens,
        cost: session
            .prices
            .map(|prices| prices.cost(input_tokens, output_tokens)),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Judges one item: builds the request (encoding media off the async threads), queries until
/// the verdict parses or the attempts run out, and maps the verdict back to reference order.
async fn judge_item(session: &Session, index: usize, setting: Setting, order: Order) -> ItemResult {
    let sample = &session.samples[index];
    let failure = |message: String| ItemFailure {
        task: sample.task.key().to_owned(),
        sample_id: sample.id.clone(),
        setting,
        order,
        message,
    };
    let ablated = ablation::apply_to_sample(sample, &session.judge.request.ablations);
    let rendered = session
        .judge
        .prompts
        .render(ablated.as_ref().unwrap_or(sample), setting, order)
        .map_err(|error| failure(error.to_string()))?;
    let body = {
        let _permit = session
            .encoding
            .acquire()
            .await
            .map_err(|error| failure(format!("request building stopped: {error}")))?;
        let judge = Arc::clone(&session.judge);
        let samples = Arc::clone(&session.samples);
        tokio::task::spawn_blocking(move || {
            build_body(
                &rendered,
                &samples[index],
                order,
                &judge.encoder,
                &judge.request,
            )
        })
        .await
        .map_err(|error| failure(format!("request building stopped: {error}")))?
        .map_err(|error| failure(error.to_string()))?
    };

    let mut attempts = 0;
    let mut input_tokens = 0u64;
    let mut output_tokens = 0u64;
    let mut latency = Duration::ZERO;
    let mut raw_output = String::new();
    let mut shown_verdict = None;
    while attempts < session.verdict_attempts {
        if let Some(limiter) = &session.limiter {
            limiter.acquire().await;
        }
        let started = Instant::now();
        let completion = session
            .judge
            .client
            .complete(&body)
            .await
            .map_err(|error| failure(error.to_string()))?;
        latency += started.elapsed();
        attempts += 1;
        let used_in = completion.input_tokens.unwrap_or(0);
        let used_out = completion.output_tokens.unwrap_or(0);
        input_tokens += used_in;
        output_tokens += used_out;
        session
            .progress
            .input_tokens
            .fetch_add(used_in, Ordering::Relaxed);
        session
            .progress
            .output_tokens
            .fetch_add(used_out, Ordering::Relaxed);
        session.account(used_in, used_out);
        shown_verdict = parse_verdict(&completion.text);
        raw_output = completion.text;
        if shown_verdict.is_some() {
            break;
        }
    }
    Ok(Judgement {
        task: sample.task,
        sample_id: sample.id.clone(),
        setting,
        order,
        raw_output: Some(raw_output),
        rewards: None,
        verdict: shown_verdict.map(|verdict| order.to_reference(verdict)),
        label: sample.label,
        attempts: Some(attempts),
        input_tokens: Some(input_tokens),
        output_tokens: Some(output_tokens),
        latency_ms: Some(latency.as_millis() as u64),
    })
}

impl Session {
    /// Adds a completion's cost and raises the stop flag once the cap is reached.
    fn account(&self, input_tokens: u64, output_tokens: u64) {
        let Some(prices) = self.prices else {
            return;
        };
        let nanos = (prices.cost(input_tokens, output_tokens) * 1e9).round() as u64;
        let spent = self.spend_nanos.fetch_add(nanos, Ordering::SeqCst) + nanos;
        if let Some(cap) = self.max_cost
            && spent as f64 / 1e9 >= cap
        {
            self.spend_cap_hit.store(true, Ordering::SeqCst);
            self.stop.store(true, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use omnireward_shared::{Label, Response, Task};

    use super::*;

    fn sample(id: &str, label: Label) -> Sample {
        Sample {
            id: id.to_owned(),
            task: Task::TextToText,
            prompt: "p".to_owned(),
            prompt_media: None,
            response1: Response::Text {
                text: "a".to_owned(),
            },
            response2: Response::Text {
                text: "b".to_owned(),
            },
            criterion: "c".to_owned(),
            label,
            model1: None,
            model2: None,
        }
    }

    #[test]
    fn plans_tie_samples_only_with_ties_and_groups_by_sample() {
        let samples = [sample("x", Label::Tie), sample("y", Label::Response1)];
        let items = plan_items(&samples, &Setting::ALL, true);
        assert_eq!(
            items,
            vec![
                (0, Setting::WithTies, Order::Original),
                (0, Setting::WithTies, Order::Swapped),
                (1, Setting::WithTies, Order::Original),
                (1, Setting::WithoutTies, Order::Original),
                (1, Setting::WithTies, Order::Swapped),
                (1, Setting::WithoutTies, Order::Swapped),
            ]
        );
        assert_eq!(
            plan_items(&samples, &[Setting::WithoutTies], false).len(),
            1
        );
    }

    #[test]
    fn cost_is_per_million_tokens() {
        let prices = Prices {
            input_per_million: 2.5,
            output_per_million: 10.0,
        };
        assert!((prices.cost(1_000_000, 100_000) - 3.5).abs() < 1e-12);
    }
}
