//! `omnireward score`: both rewards and the verdict for one criterion, prompt and pair of
//! responses (texts, or images for image-text and vision-language models; a vision-language
//! model reads images as a T2I sample's responses, in the user turn before the prompt, and
//! texts as a T2T sample's), from a local checkpoint; from a chat
//! model (a `*ForCausalLM` folder or a GGUF file), the verdict and the judge's text, asked with
//! the built-in T2T prompt of the with-ties setting; from a vision-language chat model (a
//! Qwen2-VL / Qwen2.5-VL folder without a reward head), the same for texts, and for images the
//! built-in T2I prompt with the two images in its response slots.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;
use omnireward_local_judge::architecture::ModelKind;
use omnireward_local_judge::generation::chat_model::is_generative_checkpoint;
use omnireward_local_judge::generation::generative_model::GenerativeModel;
use omnireward_local_judge::input::ScoringText;
use omnireward_local_judge::judge::{ImagePair, LocalJudge, request_text};
use omnireward_shared::Verdict;
use serde::Serialize;

use super::Environment;
use super::local_model::{BuiltIn, LocalModelArgs, default_model_folder, require_model_folder};
use crate::judges::api::prompts::PromptSet;
use crate::judges::local::generative::{judge_image_pair, judge_text_pair};
use crate::judges::local::inputs::{ConversationLayout, media_response_pair};
use crate::media::MediaEncoder;
use omnireward_local_judge::conversation::ConversationMedia;
use omnireward_shared::{MediaKind, MediaLocation, MediaRef};

#[derive(Debug, Args)]
pub(super) struct ScoreArgs {
    /// Checkpoint folder, or a chat model's GGUF file [default: the default model, MiniLM with
    /// the Bradley-Terry head trained here, the demo's model].
    #[arg(long, value_name = "DIR|FILE.gguf")]
    model: Option<PathBuf>,
    /// The evaluation criterion.
    #[arg(long)]
    criterion: String,
    /// The prompt.
    #[arg(long)]
    prompt: String,
    /// First text response.
    #[arg(
        long,
        required_unless_present_any = ["image1", "audio1"],
        conflicts_with_all = ["image1", "audio1"]
    )]
    response1: Option<String>,
    /// Second text response.
    #[arg(
        long,
        required_unless_present_any = ["image2", "audio2"],
        conflicts_with_all = ["image2", "audio2"]
    )]
    response2: Option<String>,
    /// First image response (image-text and vision-language models).
    #[arg(long, value_name = "FILE", requires = "image2")]
    image1: Option<PathBuf>,
    /// Second image response.
    #[arg(long, value_name = "FILE", requires = "image1")]
    image2: Option<PathBuf>,
    /// First audio response (MiniCPM-o: laid out as a T2A sample's), any format ffmpeg reads.
    #[arg(
        long,
        value_name = "FILE",
        requires = "audio2",
        conflicts_with = "image1"
    )]
    audio1: Option<PathBuf>,
    /// Second audio response.
    #[arg(long, value_name = "FILE", requires = "audio1")]
    audio2: Option<PathBuf>,
    #[command(flatten)]
    local: LocalModelArgs,
    /// Chat models: generated tokens at most.
    #[arg(long, default_value_t = 512, value_name = "N")]
    max_new_tokens: usize,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// What `score` prints.
#[derive(Debug, Serialize)]
pub struct ScoreOutcome {
    /// Reward of response 1.
    pub reward1: f32,
    /// Reward of response 2.
    pub reward2: f32,
    /// `response1`, `response2` or `tie` (equal rewards).
    pub verdict: &'static str,
    /// Milliseconds spent scoring (the model was already loaded).
    pub latency_ms: f64,
}

/// The verdict of two rewards: the higher wins; equal rewards are a tie.
pub fn verdict(reward1: f32, reward2: f32) -> &'static str {
    match reward1.partial_cmp(&reward2) {
        Some(std::cmp::Ordering::Greater) => "response1",
        Some(std::cmp::Ordering::Less) => "response2",
        _ => "tie",
    }
}

fn load_image(file: &PathBuf) -> anyhow::Result<image::DynamicImage> {
    let bytes =
        std::fs::read(file).map_err(|error| anyhow::anyhow!("{}: {error}", file.display()))?;
    crate::media::decode_image(&bytes)
        .map_err(|error| anyhow::anyhow!("{}: {error}", file.display()))
}

/// What `score` prints for a chat model.
#[derive(Debug, Serialize)]
pub struct GenerativeScoreOutcome {
    /// `response1`, `response2`, `tie`, or `null` when the text holds no verdict.
    pub verdict: Option<&'static str>,
    /// The judge's text.
    pub text: String,
    /// Prompt tokens.
    pub prompt_tokens: usize,
    /// Generated tokens.
    pub generated_tokens: usize,
    /// Milliseconds spent generating (the model was already loaded).
    pub latency_ms: f64,
}

fn run_generative(args: &ScoreArgs, model_path: &std::path::Path) -> anyhow::Result<ExitCode> {
    if args.max_new_tokens == 0 {
        anyhow::bail!("--max-new-tokens must be at least 1");
    }
    let model = GenerativeModel::load(model_path, args.local.options()?.device)?;
    let prompts = PromptSet::builtin();
    let started = Instant::now();
    let answer = match (&args.response1, &args.response2, &args.image1, &args.image2) {
        (Some(first), Some(second), _, _) => judge_text_pair(
            &model,
            &prompts,
            &args.criterion,
            &args.prompt,
            [first, second],
            args.max_new_tokens,
        )?,
        (_, _, Some(first), Some(second)) if model.reads_media() => {
            let images = [load_image(first)?, load_image(second)?];
            judge_image_pair(
                &model,
                &prompts,
                &args.criterion,
                &args.prompt,
                images,
                args.max_new_tokens,
            )?
        }
        _ => anyhow::bail!(
            "{} judges text responses: give --response1 and --response2",
            model.description().architecture
        ),
    };
    let outcome = GenerativeScoreOutcome {
        verdict: answer.verdict.map(Verdict::key),
        prompt_tokens: answer.prompt_tokens,
        generated_tokens: answer.generated_tokens,
        text: answer.text,
        latency_ms: started.elapsed().as_secs_f64() * 1e3,
    };
    if args.json {
        super::emit_json(&outcome)?;
    } else {
        super::emit(&format!(
            "verdict: {} · {:.1} ms · {} tokens · {} on {}\n{}\n",
            outcome
                .verdict
                .unwrap_or("none (no verdict marker in the text)"),
            outcome.latency_ms,
            outcome.generated_tokens,
            model.description().architecture,
            model.description().device,
            outcome.text,
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) fn run(environment: &Environment, args: &ScoreArgs) -> anyhow::Result<ExitCode> {
    if let Some(path) = &args.model
        && is_generative_checkpoint(path)
    {
        return run_generative(args, path);
    }
    let built_in = args.model.is_none().then_some(BuiltIn::DefaultModel);
    let folder = args
        .model
        .clone()
        .unwrap_or_else(|| default_model_folder(&environment.home));
    require_model_folder(&folder, built_in)?;
    let judge = LocalJudge::load(&folder, &args.local.options()?)?;
    let started = Instant::now();
    let rewards = match (&args.response1, &args.response2, &args.image1, &args.image2) {
        (Some(first), Some(second), _, _) => {
            let pair = [
                ScoringText {
                    criterion: &args.criterion,
                    prompt: &args.prompt,
                    response: first,
                },
                ScoringText {
                    criterion: &args.criterion,
                    prompt: &args.prompt,
                    response: second,
                },
            ];
            judge.score_text_pairs(&[pair], &mut |_| {})?
        }
        (_, _, Some(first), Some(second)) => {
            let (first, second) = (load_image(first)?, load_image(second)?);
            if let Some(layout) = ConversationLayout::of(judge.description().kind) {
                let pair = media_response_pair(
                    layout,
                    &args.criterion,
                    &args.prompt,
                    [
                        ConversationMedia::Image(first),
                        ConversationMedia::Image(second),
                    ],
                );
                judge.score_conversation_pairs(&[pair], &mut |_| {})?
            } else {
                let pair = ImagePair {
                    text: request_text(&args.criterion, &args.prompt),
                    first: vec![first],
                    second: vec![second],
                };
                judge.score_image_pairs(&[pair], &mut |_| {})?
            }
        }
        _ => match (&args.audio1, &args.audio2) {
            (Some(first), Some(second)) => {
                if judge.description().kind != ModelKind::OmniConversation {
                    anyhow::bail!(
                        "{} reads no audio: --audio1/--audio2 need an omni model (MiniCPM-o)",
                        judge.description().architecture
                    );
                }
                let media = MediaEncoder::new(environment.cache_dir.clone());
                let samples = |path: &PathBuf| -> anyhow::Result<Vec<f32>> {
                    let item = MediaRef {
                        kind: MediaKind::Audio,
                        name: path.display().to_string(),
                        location: MediaLocation::File {
                            path: path.to_string_lossy().into_owned(),
                        },
                    };
                    Ok(media.audio_samples(&item)?)
                };
                let pair = media_response_pair(
                    ConversationLayout::Omni,
                    &args.criterion,
                    &args.prompt,
                    [
                        ConversationMedia::Audio(samples(first)?),
                        ConversationMedia::Audio(samples(second)?),
                    ],
                );
                judge.score_conversation_pairs(&[pair], &mut |_| {})?
            }
            _ => anyhow::bail!(
                "give --response1 and --response2, --image1 and --image2, or --audio1 and --audio2"
            ),
        },
    };
    let [reward1, reward2] = rewards
        .first()
        .copied()
        .ok_or_else(|| anyhow::anyhow!("the model returned no rewards"))?;
    let outcome = ScoreOutcome {
        reward1,
        reward2,
        verdict: verdict(reward1, reward2),
        latency_ms: started.elapsed().as_secs_f64() * 1e3,
    };
    if args.json {
        super::emit_json(&outcome)?;
    } else {
        super::emit(&format!(
            "response 1: {:.6}\nresponse 2: {:.6}\nverdict: {} · {:.1} ms · {} on {}\n",
            outcome.reward1,
            outcome.reward2,
            outcome.verdict,
            outcome.latency_ms,
            judge.description().architecture,
            judge.description().device,
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_higher_reward_wins_and_equal_rewards_tie() {
        assert_eq!(verdict(1.0, 0.5), "response1");
        assert_eq!(verdict(0.0, 0.5), "response2");
        assert_eq!(verdict(0.25, 0.25), "tie");
    }
}
