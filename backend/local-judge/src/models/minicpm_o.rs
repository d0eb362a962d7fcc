//! MiniCPM-o 2.6 with a value head (Omni-RewardModel-BT, the benchmark authors' reward model):
//! a Qwen2 language model (`llm.model.*`) whose prompt embeddings have pictures
//! ([`super::minicpm_o_vision`]) and audio ([`super::minicpm_o_audio`]) written over their
//! placeholders, and trl's value head on the final hidden state at the last real token (right
//! padding, causal attention, positions 0..n).
//!
//! [`MiniCpmOEncoder`] builds a prompt as the authors' model saw one: the `minicpm_o` chat layout
//! `<|im_start|>system\n{criterion}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n{assistant}<|im_end|>\n`
//! with no BOS; the user turn is its media markers and its text joined by newlines (as the
//! model's own `chat` joins content parts); each image marker becomes the image processor's
//! placeholder (`<image_id>N</image_id><image>` + 64 `<unk>` + `</image>`, then the slices),
//! each audio marker one `<|audio_start|>` + up to 25 `<unk>` + `<|audio_end|>` block per second
//! (the processor's `chunk_input`). The embeddings of a prompt's pictures fill, in order, the
//! spans between `<image>`/`<slice>` and their closing tokens; its clips' embeddings, joined,
//! fill the audio spans in order.
//!
//! Config defaults are those of the reference `MiniCPMOConfig` where a key is absent:
//! `init_vision` and `init_audio` on, `query_num` 64, `drop_vision_last_layer` **on** (the
//! vision encoder runs without its last block), `audio_pool_step` 2, `audio_chunk_length` 1 s.
//!
//! Python files shipped in a checkpoint folder (its remote code) are never read or run.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use image::DynamicImage;
use serde_json::Value;
use tokenizers::Tokenizer;

use super::decoder::{DecoderConfig, DecoderModel, decoder_settings};
use super::kernels::Kernels;
use super::layers::{
    ModelSource, RewardLabel, config_error, model_weight_files, parse_config, read_config,
    safetensors_files,
};
use super::minicpm_o_audio::{AudioEncoderConfig, MiniCpmOAudio, audio_tokens};
use super::minicpm_o_vision::{MiniCpmOVision, VisionEncoderConfig};
use super::reward_head::RewardHead;
use crate::error::LocalJudgeError;
use crate::minicpm_v_processor::{MiniCpmVImageProcessor, ProcessedPicture};
use crate::weights::load_var_builder;
use crate::whisper_features::{HOP_LENGTH, WhisperFeatureExtractor};

pub use crate::checkpoint::VALUE_HEAD_FILE;
/// Audio tokens per placeholder block: one second (`chunk_length` 1 s, pooled by 2).
const AUDIO_TOKENS_PER_BLOCK: usize = 25;
/// Audio samples per second.
const SAMPLES_PER_SECOND: usize = 16_000;

/// The ids of the tokens that bound media spans.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MediaTokens {
    /// `<image>` and `</image>`.
    pub image: (u32, u32),
    /// `<slice>` and `</slice>`.
    pub slice: (u32, u32),
    /// `<|audio_start|>` and `<|audio_end|>`.
    pub audio: (u32, u32),
}

impl MediaTokens {
    /// Looks the markers up in the tokenizer's vocabulary.
    pub fn from_tokenizer(
        tokenizer: &Tokenizer,
        file: &Path,
    ) -> Result<MediaTokens, LocalJudgeError> {
        let id = |token: &str| {
            tokenizer.token_to_id(token).ok_or_else(|| {
                config_error(
                    file,
                    "added_tokens",
                    format!("the tokenizer has no {token} token"),
                )
            })
        };
        Ok(MediaTokens {
            image: (id("<image>")?, id("</image>")?),
            slice: (id("<slice>")?, id("</slice>")?),
            audio: (id("<|audio_start|>")?, id("<|audio_end|>")?),
        })
    }

    /// The spans `[start, end)` between an opening token of `opens` and the next closing token
    /// of `closes`, in order; an opening token without its closing one is an error.
    fn spans(ids: &[u32], opens: &[u32], closes: &[u32]) -> Result<Vec<(usize, usize)>, String> {
        let mut spans = Vec::new();
        let mut open = None;
        for (index, id) in ids.iter().enumerate() {
            if opens.contains(id) {
                if open.is_some() {
                    return Err(format!(
                        "a media span opens at token {index} inside another"
                    ));
                }
                open = Some(index + 1);
            } else if closes.contains(id) {
                let start = open.take().ok_or_else(|| {
                    format!("a media span closes at token {index} without opening")
                })?;
                spans.push((start, index));
            }
        }
        match open {
            Some(start) => Err(format!(
                "a media span opened at token {} never closes",
                start - 1
            )),
            None => Ok(spans),
        }
    }
}

/// One clip's features, cut to its frames (`[mel bins][frames]`).
#[derive(Clone, Debug, PartialEq)]
pub struct ClipFeatures {
    /// Row-major `[mel bins][frames]`.
    pub values: Vec<f32>,
    /// Frames.
    pub frames: usize,
}

/// A prompt ready for the model.
#[derive(Clone, Debug, PartialEq)]
pub struct MiniCpmOPrompt {
    /// Token ids with every placeholder expanded.
    pub input_ids: Vec<u32>,
    /// Pictures, in the order of their spans.
    pub pictures: Vec<ProcessedPicture>,
    /// Clips, in the order of their spans.
    pub clips: Vec<ClipFeatures>,
}

/// A user turn's media, in the order they appear.
#[derive(Clone, Copy, Debug)]
pub enum UserMedia<'a> {
    /// A picture.
    Image(&'a DynamicImage),
    /// 16 kHz mono samples.
    Audio(&'a [f32]),
}

/// The checkpoint's tokenizer and processors: conversations into prompts.
pub struct MiniCpmOEncoder {
    tokenizer: Tokenizer,
    images: MiniCpmVImageProcessor,
    features: WhisperFeatureExtractor,
}

impl std::fmt::Debug for MiniCpmOEncoder {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("MiniCpmOEncoder")
            .field("images", &self.images)
            .finish_non_exhaustive()
    }
}

/// The placeholder of a clip of `samples` samples: one block per second of audio tokens.
pub fn audio_placeholder(samples: usize) -> String {
    let tokens = audio_tokens(samples.div_ceil(HOP_LENGTH));
    let mut text = String::new();
    let mut written = 0;
    while written < tokens {
        let block = AUDIO_TOKENS_PER_BLOCK.min(tokens - written);
        text.push_str("<|audio_start|>");
        text.push_str(&"<unk>".repeat(block));
        text.push_str("<|audio_end|>");
        written += block;
    }
    text
}

impl MiniCpmOEncoder {
    /// Reads `tokenizer.json` and `preprocessor_config.json` (the image settings; 80 mel bins).
    pub fn load(folder: &Path) -> Result<MiniCpmOEncoder, LocalJudgeError> {
        let tokenizer_file = folder.join("tokenizer.json");
        let tokenizer =
            Tokenizer::from_file(&tokenizer_file).map_err(|error| LocalJudgeError::Tokenizer {
                file: tokenizer_file.clone(),
                message: error.to_string(),
            })?;
        MediaTokens::from_tokenizer(&tokenizer, &tokenizer_file)?;
        if tokenizer.token_to_id("<unk>").is_none() {
            return Err(config_error(
                &tokenizer_file,
                "added_tokens",
                "the tokenizer has no <unk> token",
            ));
        }
        let settings_file = folder.join("preprocessor_config.json");
        let settings: Value = match std::fs::read_to_string(&settings_file) {
            Ok(text) => serde_json::from_str(&text)
                .map_err(|error| config_error(&settings_file, "(file)", error.to_string()))?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Value::Null,
            Err(error) => return Err(config_error(&settings_file, "(file)", error.to_string())),
        };
        Ok(MiniCpmOEncoder {
            tokenizer,
            images: MiniCpmVImageProcessor::from_json(&settings)?,
            features: WhisperFeatureExtractor::new(80)?,
        })
    }

    /// The prompt of a conversation: system = `criterion`; the user turn holds `media` then
    /// `text` (empty text is left out); the assistant turn is `assistant`.
    pub fn encode(
        &self,
        criterion: &str,
        media: &[UserMedia<'_>],
        text: &str,
        assistant: &str,
    ) -> Result<MiniCpmOPrompt, LocalJudgeError> {
        let mut parts = Vec::with_capacity(media.len() + 1);
        let mut pictures = Vec::new();
        let mut clips = Vec::new();
        let mut image_index = 0;
        for item in media {
            match item {
                UserMedia::Image(image) => {
                    let processed = self.images.process(image)?;
                    parts.push(
                        self.images
                            .placeholder(image.width(), image.height(), image_index),
                    );
                    pictures.extend(processed.pictures);
                    image_index += 1;
                }
                UserMedia::Audio(samples) => {
                    parts.push(audio_placeholder(samples.len()));
                    // The processor cuts clips longer than 30 s into 30 s pieces, each a clip of
                    // its own whose embeddings follow the previous one's.
                    let piece = SAMPLES_PER_SECOND * crate::whisper_features::CHUNK_SECONDS;
                    for chunk in samples.chunks(piece.max(1)) {
                        let features = self.features.extract(chunk)?;
                        let frames = features.valid_frames;
                        let values = (0..features.mel_bins)
                            .flat_map(|bin| (0..frames).map(move |frame| (bin, frame)))
                            .map(|(bin, frame)| features.get(bin, frame))
                            .collect();
                        clips.push(ClipFeatures { values, frames });
                    }
                }
            }
        }
        if !text.is_empty() {
            parts.push(text.to_owned());
        }
        let rendered = format!(
            "<|im_start|>system\n{criterion}<|im_end|>\n<|im_start|>user\n{}<|im_end|>\n\
             <|im_start|>assistant\n{assistant}<|im_end|>\n",
            parts.join("\n")
        );
        let encoding = self
            .tokenizer
            .encode(rendered.as_str(), false)
            .map_err(|error| LocalJudgeError::Input {
                message: format!("tokenizing the conversation: {error}"),
            })?;
        Ok(MiniCpmOPrompt {
            input_ids: encoding.get_ids().to_vec(),
            pictures,
            clips,
        })
    }
}

/// A loaded MiniCPM-o reward model.
#[derive(Debug)]
pub struct MiniCpmORewardModel {
    vision: Option<MiniCpmOVision>,
    audio: Option<MiniCpmOAudio>,
    text: DecoderModel,
    head: RewardHead,
    tokens: MediaTokens,
    max_positions: usize,
    inverse_frequencies: Vec<f32>,
    device: Device,
}

impl MiniCpmORewardModel {
    /// Loads the folder's model: `config.json`, the safetensors shards (`llm.*`, `vpm.*`,
    /// `resampler.*`, `apm.*`, `audio_projection_layer.*`; the TTS weights are not read), the
    /// value head (`value_head.safetensors`, or `v_head.summary.*` in the shards) and the
    /// tokenizer's media tokens.
    pub fn load(
        folder: &Path,
        dtype: DType,
        device: &Device,
    ) -> Result<MiniCpmORewardModel, LocalJudgeError> {
        let files = safetensors_files(folder)?;
        MiniCpmORewardModel::load_files(folder, &files, dtype, device)
    }

    /// Loads the model from these weight files (a checked folder's; [`VALUE_HEAD_FILE`], when
    /// among them or beside them in `folder`, is the head), with the folder's config and
    /// tokenizer.
    pub fn load_files(
        folder: &Path,
        files: &[std::path::PathBuf],
        dtype: DType,
        device: &Device,
    ) -> Result<MiniCpmORewardModel, LocalJudgeError> {
        let (config_file, config) = read_config(folder)?;
        let shards = model_weight_files(files);
        let weights = load_var_builder(&shards, dtype, device)?;
        let label = RewardLabel::default();
        let source = ModelSource {
            config_file: &config_file,
            config: &config,
            weights: weights.clone(),
            reward_label: &label,
            kernels: Kernels::Fused,
        };
        let decoder_config: DecoderConfig = parse_config(&source)?;
        let settings = decoder_settings(
            &source,
            &decoder_config,
            super::qwen2::layout(&decoder_config),
        )?;
        let language =
            DecoderModel::load_at(&settings, weights.pp("llm").pp("model"), Kernels::Fused)
                .map_err(LocalJudgeError::model(
                    "loading the language model (llm.model)",
                ))?;
        let flag = |name: &str, default: bool| {
            config.get(name).and_then(Value::as_bool).unwrap_or(default)
        };
        let section = |name: &str| config.get(name).cloned().unwrap_or(Value::Null);
        let vision = if flag("init_vision", true) {
            let vision_config: VisionEncoderConfig =
                serde_json::from_value(section("vision_config")).map_err(|error| {
                    config_error(&config_file, "vision_config", error.to_string())
                })?;
            let queries = config
                .get("query_num")
                .and_then(Value::as_u64)
                .unwrap_or(64) as usize;
            Some(MiniCpmOVision::load(
                &vision_config,
                settings.hidden_size,
                queries,
                flag("drop_vision_last_layer", true),
                weights.clone(),
            )?)
        } else {
            None
        };
        let audio = if flag("init_audio", true) {
            let audio_config: AudioEncoderConfig = serde_json::from_value(section("audio_config"))
                .map_err(|error| config_error(&config_file, "audio_config", error.to_string()))?;
            if config
                .get("audio_pool_step")
                .and_then(Value::as_u64)
                .unwrap_or(2)
                != 2
            {
                return Err(config_error(
                    &config_file,
                    "audio_pool_step",
                    "only 2 (the released value) is supported",
                ));
            }
            let chunk = config
                .get("audio_chunk_length")
                .and_then(Value::as_f64)
                .unwrap_or(1.0);
            Some(MiniCpmOAudio::load(
                &audio_config,
                settings.hidden_size,
                chunk,
                weights.clone(),
            )?)
        } else {
            None
        };
        let head = RewardHead::load_beside(
            folder,
            &config_file,
            &weights,
            settings.hidden_size,
            dtype,
            device,
        )?;
        let tokenizer_file = folder.join("tokenizer.json");
        let tokenizer =
            Tokenizer::from_file(&tokenizer_file).map_err(|error| LocalJudgeError::Tokenizer {
                file: tokenizer_file.clone(),
                message: error.to_string(),
            })?;
        Ok(MiniCpmORewardModel {
            vision,
            audio,
            text: language,
            head,
            tokens: MediaTokens::from_tokenizer(&tokenizer, &tokenizer_file)?,
            max_positions: settings.max_position_embeddings,
            inverse_frequencies: settings.inverse_frequencies.clone(),
            device: device.clone(),
        })
    }

    /// The language model's `max_position_embeddings`.
    pub fn max_positions(&self) -> Option<usize> {
        Some(self.max_positions)
    }

    /// Whether the checkpoint has its vision (`init_vision`) and audio (`init_audio`) parts.
    pub fn modalities(&self) -> (bool, bool) {
        (self.vision.is_some(), self.audio.is_some())
    }

    /// One prompt's embeddings `[len, hidden]` with its media written over its spans.
    fn prompt_embeddings(
        &self,
        prompt: &MiniCpmOPrompt,
        index: usize,
    ) -> Result<Tensor, LocalJudgeError> {
        let input_error = |message: String| LocalJudgeError::Input {
            message: format!("prompt {index}: {message}"),
        };
        let image_spans = MediaTokens::spans(
            &prompt.input_ids,
            &[self.tokens.image.0, self.tokens.slice.0],
            &[self.tokens.image.1, self.tokens.slice.1],
        )
        .map_err(input_error)?;
        let audio_spans = MediaTokens::spans(
            &prompt.input_ids,
            &[self.tokens.audio.0],
            &[self.tokens.audio.1],
        )
        .map_err(input_error)?;
        if image_spans.len() != prompt.pictures.len() {
            return Err(input_error(format!(
                "{} picture spans for {} pictures",
                image_spans.len(),
                prompt.pictures.len()
            )));
        }
        let mut replacements: Vec<(usize, Tensor)> = Vec::new();
        if !prompt.pictures.is_empty() {
            let vision = self.vision.as_ref().ok_or_else(|| {
                input_error("the checkpoint has no vision part (init_vision)".to_owned())
            })?;
            for ((start, end), picture) in image_spans.iter().zip(&prompt.pictures) {
                let embedded = vision.embed(&picture.pixel_values, picture.target_size)?;
                let rows = embedded
                    .dim(0)
                    .map_err(LocalJudgeError::model("a picture's embeddings"))?;
                if rows != end - start {
                    return Err(input_error(format!(
                        "a picture span of {} tokens for {rows} embeddings",
                        end - start
                    )));
                }
                replacements.push((*start, embedded));
            }
        }
        if !prompt.clips.is_empty() || !audio_spans.is_empty() {
            let audio = self.audio.as_ref().ok_or_else(|| {
                input_error("the checkpoint has no audio part (init_audio)".to_owned())
            })?;
            let mut embedded = Vec::with_capacity(prompt.clips.len());
            for clip in &prompt.clips {
                embedded.push(audio.embed(&clip.values, clip.frames)?);
            }
            let joined = if embedded.is_empty() {
                None
            } else {
                Some(
                    Tensor::cat(&embedded, 0)
                        .map_err(LocalJudgeError::model("joining audio embeddings"))?,
                )
            };
            let available = joined
                .as_ref()
                .map_or(Ok(0), |joined| joined.dim(0))
                .map_err(LocalJudgeError::model("audio embeddings"))?;
            let needed: usize = audio_spans.iter().map(|(start, end)| end - start).sum();
            if needed != available {
                return Err(input_error(format!(
                    "audio spans of {needed} tokens for {available} audio embeddings"
                )));
            }
            let mut offset = 0;
            if let Some(joined) = joined {
                for (start, end) in &audio_spans {
                    let part = joined
                        .narrow(0, offset, end - start)
                        .map_err(LocalJudgeError::model("splitting audio embeddings"))?;
                    replacements.push((*start, part));
                    offset += end - start;
                }
            }
        }
        replacements.sort_by_key(|(start, _)| *start);
        let run = || -> candle_core::Result<Tensor> {
            let ids = Tensor::new(prompt.input_ids.as_slice(), &self.device)?.unsqueeze(0)?;
            let mut embeddings = self.text.embed(&ids)?.squeeze(0)?;
            for (start, part) in &replacements {
                let part = part.to_dtype(embeddings.dtype())?;
                embeddings = embeddings.slice_scatter0(&part, *start)?;
            }
            Ok(embeddings)
        };
        run().map_err(LocalJudgeError::model(format!("embedding prompt {index}")))
    }

    /// The final hidden state at each prompt's last token `[prompts, hidden]` and its reward
    /// `[prompts]`, for a batch run right-padded.
    pub fn forward(&self, prompts: &[MiniCpmOPrompt]) -> Result<(Tensor, Tensor), LocalJudgeError> {
        let length = prompts
            .iter()
            .map(|prompt| prompt.input_ids.len())
            .max()
            .unwrap_or(0);
        if length == 0 {
            return Err(LocalJudgeError::Input {
                message: "an empty batch or an empty prompt".to_owned(),
            });
        }
        let mut rows = Vec::with_capacity(prompts.len());
        for (index, prompt) in prompts.iter().enumerate() {
            rows.push(self.prompt_embeddings(prompt, index)?);
        }
        let run = || -> candle_core::Result<(Tensor, Tensor)> {
            let hidden = rows[0].dim(1)?;
            let padded = rows
                .iter()
                .map(|row| {
                    let missing = length - row.dim(0)?;
                    if missing == 0 {
                        Ok(row.clone())
                    } else {
                        Tensor::cat(
                            &[
                                row,
                                &Tensor::zeros((missing, hidden), row.dtype(), &self.device)?,
                            ],
                            0,
                        )
                    }
                })
                .collect::<candle_core::Result<Vec<_>>>()?;
            let embeddings = Tensor::stack(&padded, 0)?;
            let half = self.inverse_frequencies.len();
            let mut cos = Vec::with_capacity(length * half);
            let mut sin = Vec::with_capacity(length * half);
            for position in 0..length {
                for frequency in &self.inverse_frequencies {
                    let angle = position as f32 * frequency;
                    cos.push(angle.cos());
                    sin.push(angle.sin());
                }
            }
            let cos = Tensor::from_vec(cos, (length, half), &self.device)?;
            let sin = Tensor::from_vec(sin, (length, half), &self.device)?;
            let last: Vec<u32> = prompts
                .iter()
                .map(|prompt| (prompt.input_ids.len() - 1) as u32)
                .collect();
            let last = Tensor::new(last.as_slice(), &self.device)?;
            let states = self
                .text
                .last_hidden_states_of(embeddings, &cos, &sin, &last)?;
            let rewards = self.head.rewards(&states)?;
            Ok((states, rewards))
        };
        run().map_err(LocalJudgeError::model(format!(
            "scoring a batch of {} MiniCPM-o prompts",
            prompts.len()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audio_placeholders_hold_one_block_per_second() {
        // 3 s: 300 mel frames, 75 tokens: three blocks of 25.
        let three = audio_placeholder(48_000);
        assert_eq!(three.matches("<|audio_start|>").count(), 3);
        assert_eq!(three.matches("<unk>").count(), 75);
        // 0.77 s: 78 frames, 19 tokens in one block.
        let short = audio_placeholder(12_345);
        assert_eq!(
            (
                short.matches("<|audio_start|>").count(),
                short.matches("<unk>").count()
            ),
            (1, 19)
        );
    }

    #[test]
    fn spans_pair_openings_with_closings() {
        let ids = [1, 10, 5, 5, 11, 2, 20, 5, 21];
        assert_eq!(
            MediaTokens::spans(&ids, &[10, 20], &[11, 21]),
            Ok(vec![(2, 4), (7, 8)])
        );
        assert!(MediaTokens::spans(&[10, 5], &[10], &[11]).is_err());
        assert!(MediaTokens::spans(&[11], &[10], &[11]).is_err());
        assert!(MediaTokens::spans(&[10, 10, 11], &[10], &[11]).is_err());
    }
}
