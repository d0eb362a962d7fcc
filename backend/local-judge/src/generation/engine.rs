//! Continuous batching: many prompts generated together under a token budget.
//!
//! Prompts are taken shortest first (similar lengths share a prefill with little padding). A
//! batch holds as many rows as fit `batch_tokens` (rows × (longest row + `max_new_tokens`)) and
//! `max_rows`. Rows that finish (end-of-turn token, stop string, `max_new_tokens`, or the
//! model's position limit) leave the batch after the step that finished them, and waiting
//! prompts are prefilled as a group and join it ([`BatchCache::append_rows`]), so one long answer
//! does not hold the others' places. Every request has its own sampler, so batching changes no
//! output (greedy or seeded).
//!
//! Each finished item is handed to the caller's `on_finished` at once, so a judge can store it
//! before the rest of the batch ends (resumption loses at most the items in flight).

use std::collections::{BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use candle_core::Tensor;
use serde::Serialize;
use tokenizers::Tokenizer;

use super::CausalLanguageModel;
use super::cache::BatchCache;
use super::decoder::logits_rows;
use super::sampling::{DecodingOptions, TokenSampler};
use crate::error::LocalJudgeError;

/// One prompt to continue.
#[derive(Clone, Debug)]
pub struct GenerationRequest {
    /// The prompt's token ids (the rendered chat template, tokenized).
    pub prompt: Vec<u32>,
    /// The sampler's seed (unused when decoding greedily).
    pub seed: u64,
}

/// How many rows share a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Batching {
    /// Rows × (longest row + `max_new_tokens`) at most; one row is always admitted.
    pub batch_tokens: usize,
    /// Rows at most.
    pub max_rows: usize,
}

impl Default for Batching {
    fn default() -> Self {
        Batching {
            batch_tokens: 16_384,
            max_rows: 16,
        }
    }
}

/// Why an answer ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// An end-of-turn token.
    EndOfTurn,
    /// A stop string appeared.
    StopString,
    /// `max_new_tokens`, or the model's position limit.
    Length,
}

/// One finished answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Generated {
    /// Generated token ids, the end-of-turn token excluded.
    pub tokens: Vec<u32>,
    /// Their text (special tokens skipped), cut before a stop string.
    pub text: String,
    /// Why it ended.
    pub finish: FinishReason,
    /// Prompt tokens.
    pub prompt_tokens: usize,
    /// From the prefill that admitted it to its last token.
    pub elapsed: Duration,
}

/// What ends answers besides `max_new_tokens`.
#[derive(Clone, Debug, Default)]
pub struct StopRules {
    /// End-of-turn token ids.
    pub end_of_turn: BTreeSet<u32>,
}

struct ActiveRow {
    request: usize,
    generated: Vec<u32>,
    /// The last sampled token, not yet fed to the model.
    pending: u32,
    sampler: TokenSampler,
    started: Instant,
    finished: Option<(FinishReason, String)>,
}

/// Generates an answer for every request; `on_finished(index, answer)` is called as each one
/// ends, and the answers are returned in request order.
pub fn generate(
    model: &dyn CausalLanguageModel,
    tokenizer: &Tokenizer,
    requests: &[GenerationRequest],
    decoding: &DecodingOptions,
    stop: &StopRules,
    batching: Batching,
    on_finished: &mut dyn FnMut(usize, &Generated) -> Result<(), LocalJudgeError>,
) -> Result<Vec<Generated>, LocalJudgeError> {
    let limit = model.max_positions();
    if decoding.max_new_tokens == 0 {
        return Err(LocalJudgeError::Input {
            message: "max_new_tokens must be at least 1".to_owned(),
        });
    }
    for (index, request) in requests.iter().enumerate() {
        if request.prompt.is_empty() || request.prompt.len() >= limit {
            return Err(LocalJudgeError::Input {
                message: format!(
                    "prompt {index} has {} tokens; the model takes 1 to {} before generating",
                    request.prompt.len(),
                    limit.saturating_sub(1)
                ),
            });
        }
    }
    let mut order: Vec<usize> = (0..requests.len()).collect();
    order.sort_by_key(|&index| requests[index].prompt.len());
    let mut waiting: VecDeque<usize> = order.into();
    let mut results: Vec<Option<Generated>> = vec![None; requests.len()];
    let mut active: Vec<ActiveRow> = Vec::new();
    let mut cache = model.new_cache();
    let context = |what: &str, rows: usize| format!("generating: {what} of {rows} rows");

    while !waiting.is_empty() || !active.is_empty() {
        let joining = admit(&mut waiting, &active, &cache, requests, decoding, batching);
        if !joining.is_empty() {
            let (group_cache, logits) = model
                .prefill(requests, &joining)
                .and_then(|(cache, logits)| Ok((cache, logits_rows(&logits)?)))
                .map_err(LocalJudgeError::model(context("prefill", joining.len())))?;
            cache
                .append_rows(group_cache)
                .map_err(LocalJudgeError::model(context("joining", joining.len())))?;
            for (request, row_logits) in joining.into_iter().zip(logits) {
                let mut row = ActiveRow {
                    request,
                    generated: Vec::new(),
                    pending: 0,
                    sampler: TokenSampler::new(decoding, requests[request].seed),
                    started: Instant::now(),
                    finished: None,
                };
                accept(&mut row, &row_logits, tokenizer, decoding, stop)?;
                active.push(row);
            }
        } else if !active.is_empty() {
            let input: Vec<u32> = active.iter().map(|row| row.pending).collect();
            let rows = input.len();
            let input = Tensor::from_vec(input, (rows, 1), model.device())
                .and_then(|ids| model.forward(&ids, &vec![0; rows], &mut cache))
                .and_then(|logits| logits_rows(&logits))
                .map_err(LocalJudgeError::model(context("a decoding step", rows)))?;
            for (row, row_logits) in active.iter_mut().zip(input) {
                accept(row, &row_logits, tokenizer, decoding, stop)?;
            }
        }
        // Rows at the position limit cannot take another token.
        let lengths = cache.lengths();
        for (row, length) in active.iter_mut().zip(lengths) {
            if row.finished.is_none() && length + 1 >= limit {
                row.finished = Some((FinishReason::Length, decode(tokenizer, &row.generated)?));
            }
        }
        let mut keep = Vec::with_capacity(active.len());
        let mut remaining = Vec::with_capacity(active.len());
        for (index, row) in active.into_iter().enumerate() {
            match row.finished {
                None => {
                    keep.push(index);
                    remaining.push(row);
                }
                Some((finish, text)) => {
                    let answer = Generated {
                        tokens: row.generated,
                        text,
                        finish,
                        prompt_tokens: requests[row.request].prompt.len(),
                        elapsed: row.started.elapsed(),
                    };
                    on_finished(row.request, &answer)?;
                    results[row.request] = Some(answer);
                }
            }
        }
        active = remaining;
        cache
            .retain(&keep)
            .map_err(LocalJudgeError::model(context("leaving", keep.len())))?;
    }
    results
        .into_iter()
        .enumerate()
        .map(|(index, answer)| {
            answer.ok_or_else(|| LocalJudgeError::Input {
                message: format!("request {index} was never generated"),
            })
        })
        .collect()
}

/// The waiting requests that join now: as many as the budget takes (one at least when nothing
/// runs).
fn admit(
    waiting: &mut VecDeque<usize>,
    active: &[ActiveRow],
    cache: &BatchCache,
    requests: &[GenerationRequest],
    decoding: &DecodingOptions,
    batching: Batching,
) -> Vec<usize> {
    let mut joining = Vec::new();
    let mut longest = cache.slots();
    while let Some(&next) = waiting.front() {
        let rows = active.len() + joining.len();
        if rows >= batching.max_rows.max(1) {
            break;
        }
        let slots = longest.max(requests[next].prompt.len());
        let projected = (rows + 1) * (slots + decoding.max_new_tokens);
        if rows > 0 && projected > batching.batch_tokens {
            break;
        }
        // Joining costs a prefill; while most rows still decode, let them run a while longer
        // rather than prefilling one prompt per step.
        if !active.is_empty() && joining.is_empty() && active.len() * 2 > batching.max_rows {
            break;
        }
        longest = slots;
        joining.push(next);
        waiting.pop_front();
    }
    joining
}

/// Samples a row's next token and decides whether the row is done.
fn accept(
    row: &mut ActiveRow,
    logits: &[f32],
    tokenizer: &Tokenizer,
    decoding: &DecodingOptions,
    stop: &StopRules,
) -> Result<(), LocalJudgeError> {
    let token = row
        .sampler
        .next(logits)
        .map_err(LocalJudgeError::model("sampling"))?;
    if stop.end_of_turn.contains(&token) {
        row.finished = Some((FinishReason::EndOfTurn, decode(tokenizer, &row.generated)?));
        return Ok(());
    }
    row.generated.push(token);
    row.pending = token;
    if !decoding.stop_strings.is_empty() {
        let text = decode(tokenizer, &row.generated)?;
        if let Some(cut) = decoding
            .stop_strings
            .iter()
            .filter(|stop| !stop.is_empty())
            .filter_map(|stop| text.find(stop.as_str()))
            .min()
        {
            row.finished = Some((FinishReason::StopString, text[..cut].to_owned()));
            return Ok(());
        }
    }
    if row.generated.len() >= decoding.max_new_tokens {
        row.finished = Some((FinishReason::Length, decode(tokenizer, &row.generated)?));
    }
    Ok(())
}

fn decode(tokenizer: &Tokenizer, ids: &[u32]) -> Result<String, LocalJudgeError> {
    tokenizer
        .decode(ids, true)
        .map_err(|error| LocalJudgeError::Input {
            message: format!("decoding generated tokens: {error}"),
        })
}
