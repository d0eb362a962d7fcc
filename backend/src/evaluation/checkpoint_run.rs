//! The runner of local checkpoints: scores every covered sample's two responses on the
//! inference thread, in chunks, and saves one judgement per sample and setting carrying both
//! rewards. Resuming skips samples whose judgements are stored; stopping finishes the chunk in
//! hand.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use omnireward_local_judge::architecture::ModelKind;
use omnireward_shared::{Judgement, JudgementKey, Order, Rewards, Sample, Setting, Task, Verdict};
use serde::Serialize;

use super::sink::{JudgementSink, SinkError};
use crate::judges::ablation::{self, Ablation};
use crate::judges::local::inputs::{ConversationLayout, conversation_pair, image_pair, text_pair};
use crate::judges::local::{Coverage, InferenceThread, LocalScoringError, coverage};
use crate::media::MediaEncoder;

/// Samples scored per job on the inference thread: large enough for full batches, small enough
/// that progress, stopping and saving happen often.
pub const DEFAULT_CHUNK_SAMPLES: usize = 64;

/// How to run a checkpoint over a benchmark.
#[derive(Clone, Debug)]
pub struct CheckpointRunConfig {
    /// Settings to record judgements for (the rewards are the same; w/ Ties adds tie samples).
    pub settings: Vec<Setting>,
    /// Samples per job.
    pub chunk_samples: usize,
    /// Frames sampled per video response for image-text models.
    pub frames: usize,
    /// Parts of the input taken away (an ablation audit: only the criterion applies to local
    /// checkpoints).
    pub ablations: Vec<Ablation>,
}

/// Why a checkpoint run stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointRunError {
    /// Scoring failed.
    #[error(transparent)]
    Scoring(#[from] LocalScoringError),
    /// Judgements could not be saved.
    #[error(transparent)]
    Sink(#[from] SinkError),
}

/// What a session of a checkpoint run did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CheckpointRunSummary {
    /// Samples the model covers (in the chosen tasks).
    pub covered_samples: usize,
    /// Of those, judged by earlier sessions.
    pub already_done: usize,
    /// Scored in this session.
    pub scored: usize,
    /// Samples of tasks the model cannot read, by task (left out, not guessed).
    pub not_covered: BTreeMap<Task, usize>,
    /// Tasks scored on the prompt's text only (their prompt media unseen).
    pub text_only_prompt: Vec<Task>,
    /// Wall-clock seconds of this session.
    pub seconds: f64,
    /// Sample pairs scored per second in this session.
    pub pairs_per_second: f64,
    /// Whether the session was stopped before the end.
    pub stopped: bool,
}

/// SHA-256 over the weight files in order (one stream, as if concatenated): the identity of the
/// weights whatever the folder is called, recorded in every checkpoint run. Blocking.
pub fn weights_sha256(files: &[std::path::PathBuf]) -> std::io::Result<String> {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for file in files {
        let mut reader = std::fs::File::open(file).map_err(|error| {
            std::io::Error::new(error.kind(), format!("{}: {error}", file.display()))
        })?;
        std::io::copy(&mut reader, &mut hasher).map_err(|error| {
            std::io::Error::new(error.kind(), format!("{}: {error}", file.display()))
        })?;
    }
    Ok(hex::encode(hasher.finalize()))
}

/// `22.7M`, `494M`, `1.5B`: the parameter count as the leaderboard shows it.
pub fn format_parameters(count: u64) -> String {
    let count = count as f64;
    if count >= 1e9 {
        format!("{:.1}B", count / 1e9)
    } else if count >= 1e6 {
        format!("{:.1}M", count / 1e6)
    } else {
        format!("{:.1}K", count / 1e3)
    }
}

/// What a model covers of a benchmark, decided once per session.
#[derive(Clone, Debug)]
pub struct CheckpointPlan<'samples> {
    /// Samples the model covers, in benchmark order.
    pub covered: Vec<&'samples Sample>,
    /// Samples of tasks the model cannot read, by task.
    pub not_covered: BTreeMap<Task, usize>,
    /// Tasks scored on the prompt's text only.
    pub text_only_prompt: Vec<Task>,
}

/// Samples a model of this kind covers and the coverage report, in benchmark order.
pub fn plan(samples: &[Sample], kind: ModelKind) -> CheckpointPlan<'_> {
    plan_by(samples, |task| coverage(kind, task))
}

/// Samples a model covers, by its `coverage` of each task, and the coverage report, in
/// benchmark order.
pub fn plan_by(samples: &[Sample], coverage: impl Fn(Task) -> Coverage) -> CheckpointPlan<'_> {
    let mut covered = Vec::new();
    let mut not_covered: BTreeMap<Task, usize> = BTreeMap::new();
    let mut text_only_prompt = Vec::new();
    for sample in samples {
        match coverage(sample.task) {
            Coverage::NotCovered => *not_covered.entry(sample.task).or_default() += 1,
            Coverage::TextOnlyPrompt => {
                if !text_only_prompt.contains(&sample.task) {
                    text_only_prompt.push(sample.task);
                }
                covered.push(sample);
            }
            Coverage::Full => covered.push(sample),
        }
    }
    CheckpointPlan {
        covered,
        not_covered,
        text_only_prompt,
    }
}

/// The judgements of one sample from its two rewards: one per setting that includes its label.
/// In w/o Ties the higher reward wins (equal rewards decide nothing); in w/ Ties the verdict is
/// left to the scorecard, whose tie rule (Ties-Matter sweep or a fixed threshold) decides from
/// the stored margin.
pub fn judgements_for(
    sample: &Sample,
    rewards: [f32; 2],
    settings: &[Setting],
    latency_ms: u64,
) -> Vec<Judgement> {
    let rewards = Rewards {
        response1: f64::from(rewards[0]),
        response2: f64::from(rewards[1]),
    };
    settings
        .iter()
        .filter(|setting| setting.includes(sample.label))
        .map(|&setting| Judgement {
            task: sample.task,
            sample_id: sample.id.clone(),
            setting,
            order: Order::Original,
            raw_output: None,
            rewards: Some(rewards),
            verdict: match setting {
                Setting::WithoutTies => match rewards.response1.partial_cmp(&rewards.response2) {
                    Some(std::cmp::Ordering::Greater) => Some(Verdict::Response1),
                    Some(std::cmp::Ordering::Less) => Some(Verdict::Response2),
                    _ => None,
                },
                Setting::WithTies => None,
            },
            label: sample.label,
            attempts: None,
            input_tokens: None,
            output_tokens: None,
            latency_ms: Some(latency_ms),
        })
        .collect()
}

fn is_done(
    sample: &Sample,
    settings: &[Setting],
    done: &std::collections::BTreeSet<JudgementKey>,
) -> bool {
    settings
        .iter()
        .filter(|setting| setting.includes(sample.label))
        .all(|&setting| {
            done.contains(&JudgementKey {
                task: sample.task,
                sample_id: sample.id.clone(),
                setting,
                order: Order::Original,
            })
        })
}

/// Scores the covered samples of `plan` not yet judged and saves their judgements. `progress`
/// counts responses scored in this session.
pub async fn run(
    thread: &InferenceThread,
    plan: &CheckpointPlan<'_>,
    media: &MediaEncoder,
    config: &CheckpointRunConfig,
    sink: &mut JudgementSink,
    stop: Arc<AtomicBool>,
    progress: Arc<AtomicU64>,
) -> Result<CheckpointRunSummary, CheckpointRunError> {
    let started = Instant::now();
    let pending: Vec<Sample> = plan
        .covered
        .iter()
        .filter(|sample| !is_done(sample, &config.settings, sink.done()))
        .map(|sample| {
            ablation::apply_to_sample(sample, &config.ablations)
                .unwrap_or_else(|| (*sample).clone())
        })
        .collect();
    let mut summary = CheckpointRunSummary {
        covered_samples: plan.covered.len(),
        already_done: plan.covered.len() - pending.len(),
        not_covered: plan.not_covered.clone(),
        text_only_prompt: plan.text_only_prompt.clone(),
        ..CheckpointRunSummary::default()
    };
    for chunk in pending.chunks(config.chunk_samples.max(1)) {
        if stop.load(Ordering::SeqCst) {
            summary.stopped = true;
            break;
        }
        let chunk: Vec<Sample> = chunk.to_vec();
        let counter = Arc::clone(&progress);
        let media = media.clone();
        let frames = config.frames;
        let chunk_started = Instant::now();
        let (chunk, rewards) = thread
            .run(move |judge| {
                let mut report = |responses: usize| {
                    counter.fetch_add(responses as u64, Ordering::Relaxed);
                };
                let rewards = match judge.description().kind {
                    ModelKind::ImageText => {
                        let pairs = chunk
                            .iter()
                            .map(|sample| image_pair(sample, &media, frames))
                            .collect::<Result<Vec<_>, _>>()?;
                        judge.score_image_pairs(&pairs, &mut report)?
                    }
                    kind @ (ModelKind::MultimodalConversation | ModelKind::OmniConversation) => {
                        let layout = ConversationLayout::of(kind)
                            .unwrap_or(ConversationLayout::VisionLanguage);
                        let pairs = chunk
                            .iter()
                            .map(|sample| conversation_pair(layout, sample, &media, frames))
                            .collect::<Result<Vec<_>, _>>()?;
                        judge.score_conversation_pairs(&pairs, &mut report)?
                    }
                    ModelKind::EncoderClassifier
                    | ModelKind::DecoderClassifier
                    | ModelKind::TextEmbedding => {
                        let pairs = chunk.iter().map(text_pair).collect::<Result<Vec<_>, _>>()?;
                        judge.score_text_pairs(&pairs, &mut report)?
                    }
                };
                Ok((chunk, rewards))
            })
            .await?;
        // The chunk's wall time shared over its samples: what one judgement cost.
        let latency_ms = (chunk_started.elapsed().as_millis() / chunk.len().max(1) as u128) as u64;
        let judgements: Vec<Judgement> = chunk
            .iter()
            .zip(rewards)
            .flat_map(|(sample, rewards)| {
                judgements_for(sample, rewards, &config.settings, latency_ms)
            })
            .collect();
        sink.save(&judgements).await?;
        summary.scored += chunk.len();
    }
    summary.seconds = started.elapsed().as_secs_f64();
    summary.pairs_per_second = if summary.seconds > 0.0 {
        summary.scored as f64 / summary.seconds
    } else {
        0.0
    };
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use omnireward_shared::{Label, Response};

    use super::*;

    fn sample(task: Task, label: Label) -> Sample {
        Sample {
            id: "1".to_owned(),
            task,
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
    fn judgements_carry_rewards_and_leave_ties_to_the_scorecard() {
        let judgements = judgements_for(
            &sample(Task::TextToText, Label::Response2),
            [0.5, 1.5],
            &Setting::ALL,
            3,
        );
        assert_eq!(judgements.len(), 2);
        for judgement in &judgements {
            assert_eq!(judgement.rewards.map(Rewards::margin), Some(-1.0));
            match judgement.setting {
                Setting::WithoutTies => assert_eq!(judgement.verdict, Some(Verdict::Response2)),
                Setting::WithTies => assert_eq!(judgement.verdict, None),
            }
        }
        // A tie sample has no w/o Ties judgement.
        let tie = judgements_for(
            &sample(Task::TextToText, Label::Tie),
            [1.0, 1.0],
            &Setting::ALL,
            3,
        );
        assert_eq!(tie.len(), 1);
        assert_eq!(tie[0].setting, Setting::WithTies);
    }

    #[test]
    fn plans_report_what_a_text_model_cannot_see() {
        let samples = vec![
            sample(Task::TextToText, Label::Response1),
            sample(Task::TextImageToText, Label::Response1),
            sample(Task::TextToImage, Label::Response1),
        ];
        let plan = plan(&samples, ModelKind::DecoderClassifier);
        assert_eq!(plan.covered.len(), 2);
        assert_eq!(plan.not_covered.get(&Task::TextToImage), Some(&1));
        assert_eq!(plan.text_only_prompt, vec![Task::TextImageToText]);
    }
}
