//! Qwen2-VL and Qwen2.5-VL checkpoints as scalar reward models over text and images: the vision
//! tower of [`super::qwen2_vl_vision`], the Qwen2 decoder of [`super::decoder`] rotated with
//! 3-D positions (M-RoPE), and a reward head on the last token's final hidden state, either a
//! value head in trl's layout (`value_head.safetensors` with `v_head.summary.weight` and
//! `.bias`, as Skywork-VL-Reward ships) or a sequence-classification `score` head.
//!
//! A prompt is token ids in which every image or video is one `<|vision_start|>`, as many
//! `<|image_pad|>` (or `<|video_pad|>`) tokens as it has merged patches, and `<|vision_end|>`;
//! those tokens' embeddings are replaced by the tower's outputs, in order. Positions are 3-D
//! (M-RoPE, [`super::qwen2_vl_positions`]): a video's time positions count temporal patches
//! (Qwen2-VL) or seconds × `tokens_per_second` (Qwen2.5-VL).
//!
//! Configs come flat or with a nested `text_config`, with `rope_scaling` or `rope_parameters`;
//! weights as `model.*` + `visual.*` or `model.language_model.*` + `model.visual.*`.
//! [`Qwen2VlCheckpoint`] reads all of that once for this reward model and for the generating
//! model of [`crate::generation::vision_language`].

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use serde_json::Value;

use tokenizers::Tokenizer;

use super::decoder::{DecoderConfig, DecoderModel, DecoderSettings, decoder_settings};
use super::kernels::Kernels;
use super::layers::{
    ModelSource, RewardLabel, config_error, model_weight_files, parse_config, read_config,
    safetensors_files,
};
pub use super::qwen2_vl_positions::VisionTokens;
use super::qwen2_vl_positions::{MultimodalRope, TimePositions};
use super::qwen2_vl_vision::{VisionTower, VisionVariant};
use super::reward_head::RewardHead;
use crate::chat_template::{ChatTemplate, ContentPart};
use crate::error::LocalJudgeError;
use crate::input::TokenizerConfig;
use crate::qwen2_vl_processor::{MediaGrid, MediaKind};
use crate::weights::load_var_builder;

pub use crate::checkpoint::VALUE_HEAD_FILE;

/// The two weight-name layouts of the language model.
const TEXT_PREFIXES: [&str; 2] = ["model.language_model", "model"];

/// A prompt of the batch: its token ids and how many of the batch's images and videos it holds
/// (they come in the order of the prompts, then of their placeholders).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VisualPrompt {
    /// Token ids with the image and video placeholders already expanded.
    pub input_ids: Vec<u32>,
    /// Images and videos in this prompt.
    pub media: usize,
}

/// The placeholder a Qwen2-VL chat template writes for an image, expanded to one per merged
/// patch before tokenizing (as `Qwen2VLProcessor` does).
pub const IMAGE_PLACEHOLDER: &str = "<|image_pad|>";
/// The placeholder of a video, expanded the same way.
pub const VIDEO_PLACEHOLDER: &str = "<|video_pad|>";

/// A checkpoint's chat template and tokenizer: a scored conversation (system = the criterion;
/// user = the images, then the prompt's text; assistant = the response) into a prompt.
pub struct ConversationEncoder {
    template: ChatTemplate,
    tokenizer: Tokenizer,
}

impl std::fmt::Debug for ConversationEncoder {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ConversationEncoder")
            .finish_non_exhaustive()
    }
}

impl ConversationEncoder {
    /// Reads `tokenizer.json` and the chat template: `chat_template.jinja`, else
    /// `chat_template.json` (Qwen2-VL's processors save it there), else `tokenizer_config.json`'s
    /// `chat_template`.
    pub fn load(folder: &Path) -> Result<ConversationEncoder, LocalJudgeError> {
        let tokenizer_file = folder.join("tokenizer.json");
        let tokenizer =
            Tokenizer::from_file(&tokenizer_file).map_err(|error| LocalJudgeError::Tokenizer {
                file: tokenizer_file.clone(),
                message: error.to_string(),
            })?;
        let (source, tokenizer_config) = chat_template_source(folder)?;
        let template = ChatTemplate::new(
            &source,
            tokenizer_config.bos_token.as_deref(),
            tokenizer_config.eos_token.as_deref(),
        )?;
        Ok(ConversationEncoder {
            template,
            tokenizer,
        })
    }

    /// The text the template renders for the conversation, the `media` (images and videos, in
    /// order) first in the user turn.
    pub fn render(
        &self,
        criterion: &str,
        prompt: &str,
        media: &[MediaKind],
        response: &str,
    ) -> Result<String, LocalJudgeError> {
        let mut parts: Vec<ContentPart<'_>> = media.iter().map(|kind| part_of(*kind)).collect();
        parts.push(ContentPart::Text(prompt));
        self.template.render_with_parts(criterion, &parts, response)
    }

    /// The prompt of the conversation for media of these grids (in order): the rendered text
    /// with each placeholder repeated once per merged patch, tokenized as `transformers` does
    /// (special tokens added as the tokenizer says).
    pub fn encode(
        &self,
        criterion: &str,
        prompt: &str,
        media: &[MediaGrid],
        merge_size: usize,
        response: &str,
    ) -> Result<VisualPrompt, LocalJudgeError> {
        let kinds: Vec<MediaKind> = media.iter().map(|item| item.kind).collect();
        let text = self.render(criterion, prompt, &kinds, response)?;
        self.expand_and_tokenize(&text, media, merge_size)
    }

    /// A generative judge's prompt: `[system, user: parts]` rendered with the generation prompt,
    /// expanded for `media` (the parts' images and videos, in order) and tokenized.
    pub fn encode_generation_prompt(
        &self,
        system: Option<&str>,
        parts: &[ContentPart<'_>],
        media: &[MediaGrid],
        merge_size: usize,
    ) -> Result<VisualPrompt, LocalJudgeError> {
        let text = self
            .template
            .render_generation_prompt_with_parts(system, parts)?;
        self.expand_and_tokenize(&text, media, merge_size)
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// Each placeholder of `text` repeated once per merged patch of its item, then tokenized.
    /// As `Qwen2VLProcessor`, image placeholders take the images in order and video
    /// placeholders the videos; every item must have its placeholder.
    fn expand_and_tokenize(
        &self,
        text: &str,
        media: &[MediaGrid],
        merge_size: usize,
    ) -> Result<VisualPrompt, LocalJudgeError> {
        let merge_unit = merge_size * merge_size;
        let mut images = media.iter().filter(|item| item.kind == MediaKind::Image);
        let mut videos = media
            .iter()
            .filter(|item| matches!(item.kind, MediaKind::Video { .. }));
        let mut expanded = String::with_capacity(text.len());
        let mut rest = text;
        let mut placeholders = 0;
        loop {
            let next_image = rest.find(IMAGE_PLACEHOLDER);
            let next_video = rest.find(VIDEO_PLACEHOLDER);
            let (at, placeholder, item) = match (next_image, next_video) {
                (None, None) => break,
                (Some(image), Some(video)) if video < image => {
                    (video, VIDEO_PLACEHOLDER, videos.next())
                }
                (Some(image), _) => (image, IMAGE_PLACEHOLDER, images.next()),
                (None, Some(video)) => (video, VIDEO_PLACEHOLDER, videos.next()),
            };
            let item = item.ok_or_else(|| LocalJudgeError::Input {
                message: format!(
                    "the chat template wrote more {placeholder} placeholders than the media \
                     given ({} items)",
                    media.len()
                ),
            })?;
            let [frames, height, width] = item.grid;
            expanded.push_str(&rest[..at]);
            expanded.push_str(&placeholder.repeat(frames * height * width / merge_unit));
            rest = &rest[at + placeholder.len()..];
            placeholders += 1;
        }
        expanded.push_str(rest);
        if placeholders != media.len() {
            return Err(LocalJudgeError::Input {
                message: format!(
                    "the chat template wrote {placeholders} image and video placeholders for {} \
                     items",
                    media.len()
                ),
            });
        }
        let encoding = self
            .tokenizer
            .encode(expanded.as_str(), true)
            .map_err(|error| LocalJudgeError::Input {
                message: format!("tokenizing the conversation: {error}"),
            })?;
        Ok(VisualPrompt {
            input_ids: encoding.get_ids().to_vec(),
            media: media.len(),
        })
    }
}

/// The chat template of a vision-language checkpoint: `chat_template.jinja`, else
/// `chat_template.json` (Qwen2-VL's processors save it there), else `tokenizer_config.json`'s
/// `chat_template`; with the tokenizer config (its special tokens).
pub fn chat_template_source(folder: &Path) -> Result<(String, TokenizerConfig), LocalJudgeError> {
    let read_json = |name: &str| -> Result<Option<Value>, LocalJudgeError> {
        let file = folder.join(name);
        match std::fs::read_to_string(&file) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|error| config_error(&file, "(file)", error.to_string())),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(config_error(&file, "(file)", error.to_string())),
        }
    };
    let tokenizer_config = read_json("tokenizer_config.json")?
        .map(|json| TokenizerConfig::from_json(&folder.join("tokenizer_config.json"), &json))
        .unwrap_or_default();
    let jinja = folder.join("chat_template.jinja");
    let source =
        if jinja.is_file() {
            Some(std::fs::read_to_string(&jinja).map_err(|error| {
                config_error(&jinja, "(file)", format!("cannot be read: {error}"))
            })?)
        } else if let Some(json) = read_json("chat_template.json")? {
            json.get("chat_template")
                .and_then(Value::as_str)
                .map(str::to_owned)
        } else {
            None
        }
        .or(tokenizer_config.chat_template.clone())
        .ok_or_else(|| {
            config_error(
                &folder.join("tokenizer_config.json"),
                "chat_template",
                "a vision-language checkpoint needs its chat template (chat_template.jinja, \
             chat_template.json or tokenizer_config.json)",
            )
        })?;
    Ok((source, tokenizer_config))
}

/// The template part of a media item.
fn part_of(kind: MediaKind) -> ContentPart<'static> {
    match kind {
        MediaKind::Image => ContentPart::Image,
        MediaKind::Video { .. } => ContentPart::Video,
    }
}

/// What every Qwen2-VL or Qwen2.5-VL checkpoint holds besides its head: the config, the
/// weights, the vision tower, the language model's settings and where its weights are, and the
/// M-RoPE settings. Read once here for the reward model and the generating model.
pub(crate) struct Qwen2VlCheckpoint {
    /// `config.json`'s path, for errors.
    pub config_file: std::path::PathBuf,
    /// The language model's section: `text_config` when nested, else the whole config.
    pub text_section: Value,
    /// Every weight but the value head's.
    pub weights: VarBuilder<'static>,
    /// `model.language_model` or `model`.
    pub text_prefix: &'static str,
    /// The language model's settings (rotary scaling removed: M-RoPE is read here).
    pub settings: DecoderSettings,
    /// The vision tower.
    pub tower: VisionTower,
    /// Positions and rotary tables.
    pub rope: MultimodalRope,
}

impl Qwen2VlCheckpoint {
    /// Reads the checkpoint folder's config and weights (every `*.safetensors` but
    /// [`VALUE_HEAD_FILE`]) onto `device` in `dtype`, and loads the vision tower.
    pub fn load(
        folder: &Path,
        dtype: DType,
        device: &Device,
    ) -> Result<Qwen2VlCheckpoint, LocalJudgeError> {
        let files = safetensors_files(folder)?;
        Qwen2VlCheckpoint::load_files(folder, &files, dtype, device)
    }

    /// Reads the folder's config and these weight files (a checked folder's; the value head,
    /// when among them, is left to the head) onto `device` in `dtype`, and loads the vision
    /// tower.
    pub fn load_files(
        folder: &Path,
        files: &[std::path::PathBuf],
        dtype: DType,
        device: &Device,
    ) -> Result<Qwen2VlCheckpoint, LocalJudgeError> {
        let (config_file, config) = read_config(folder)?;
        let variant = variant_of(&config_file, &config)?;
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
        let tower = VisionTower::load_from_checkpoint(&source, variant)?;

        // The language model's settings, from `text_config` when nested; M-RoPE is read here,
        // so the decoder's own rotary check sees no scaling.
        let text_section = config
            .get("text_config")
            .filter(|section| section.is_object())
            .cloned()
            .unwrap_or_else(|| config.clone());
        let rope = text_section
            .get("rope_scaling")
            .or_else(|| text_section.get("rope_parameters"))
            .or_else(|| config.get("rope_scaling"))
            .cloned()
            .unwrap_or(Value::Null);
        let mut text_config = text_section.clone();
        if let Some(object) = text_config.as_object_mut() {
            let theta = rope.get("rope_theta").cloned();
            object.remove("rope_scaling");
            object.remove("rope_parameters");
            if let Some(theta) = theta.filter(|_| !object.contains_key("rope_theta")) {
                object.insert("rope_theta".to_owned(), theta);
            }
        }
        let text_source = ModelSource {
            config: &text_config,
            ..source
        };
        let decoder_config: DecoderConfig = parse_config(&text_source)?;
        let settings = decoder_settings(
            &text_source,
            &decoder_config,
            super::qwen2::layout(&decoder_config),
        )?;
        let half = settings.head_dim / 2;
        let mrope_section = rope
            .get("mrope_section")
            .and_then(Value::as_array)
            .and_then(|sections| {
                let sections: Vec<usize> = sections
                    .iter()
                    .filter_map(|section| section.as_u64().and_then(|n| usize::try_from(n).ok()))
                    .collect();
                <[usize; 3]>::try_from(sections).ok()
            })
            .filter(|sections| sections.iter().sum::<usize>() == half)
            .ok_or_else(|| {
                config_error(
                    &config_file,
                    "rope_scaling.mrope_section",
                    format!("expected three section sizes summing to half a head ({half})"),
                )
            })?;
        let text_prefix = TEXT_PREFIXES
            .into_iter()
            .find(|prefix| weights.contains_tensor(&format!("{prefix}.embed_tokens.weight")))
            .ok_or_else(|| {
                config_error(
                    &config_file,
                    "text_config",
                    "the weights hold no language model",
                )
            })?;
        let token = |name: &str, default: u32| {
            token_field(&config_file, &config, &text_section, name, default)
        };
        let tokens = VisionTokens {
            image: token("image_token_id", 151_655)?,
            video: token("video_token_id", 151_656)?,
            start: token("vision_start_token_id", 151_652)?,
            end: token("vision_end_token_id", 151_653)?,
        };
        let time = match variant {
            VisionVariant::Qwen2Vl => TimePositions::FrameIndex,
            VisionVariant::Qwen25Vl => TimePositions::Seconds {
                tokens_per_second: tokens_per_second(&config_file, &config)?,
            },
        };
        let rope = MultimodalRope {
            tokens,
            merge_size: tower.merge_size(),
            time,
            mrope_section,
            inverse_frequencies: settings.inverse_frequencies.clone(),
        };
        Ok(Qwen2VlCheckpoint {
            config_file,
            text_section,
            weights,
            text_prefix,
            settings,
            tower,
            rope,
        })
    }

    /// Whether the language-model head is the token embedding: the text section's
    /// `tie_word_embeddings` (false when absent). With a nested `text_config`, `transformers`
    /// 4.57.3 ties by the text config's value and ignores the top level's.
    pub fn tied_embeddings(&self) -> bool {
        tied_embeddings(&self.text_section)
    }
}

/// `tie_word_embeddings` of the language model's section, false when absent.
fn tied_embeddings(text_section: &Value) -> bool {
    text_section
        .get("tie_word_embeddings")
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// A loaded Qwen2-VL or Qwen2.5-VL reward model.
#[derive(Debug)]
pub struct Qwen2VlRewardModel {
    tower: VisionTower,
    text: DecoderModel,
    head: RewardHead,
    rope: MultimodalRope,
    device: Device,
}

/// The variant a config names (`model_type`, or the architecture).
fn variant_of(file: &Path, config: &Value) -> Result<VisionVariant, LocalJudgeError> {
    let model_type = config
        .get("model_type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let architecture = config
        .get("architectures")
        .and_then(Value::as_array)
        .and_then(|names| names.first())
        .and_then(Value::as_str)
        .unwrap_or_default();
    if model_type == "qwen2_5_vl" || architecture.starts_with("Qwen2_5_VL") {
        Ok(VisionVariant::Qwen25Vl)
    } else if model_type == "qwen2_vl" || architecture.starts_with("Qwen2VL") {
        Ok(VisionVariant::Qwen2Vl)
    } else {
        Err(config_error(
            file,
            "model_type",
            format!("{model_type:?} is neither qwen2_vl nor qwen2_5_vl"),
        ))
    }
}

/// A token id field, at the top level or in `text_config`.
fn token_field(
    file: &Path,
    config: &Value,
    text: &Value,
    name: &str,
    default: u32,
) -> Result<u32, LocalJudgeError> {
    match config.get(name).or_else(|| text.get(name)) {
        None | Some(Value::Null) => Ok(default),
        Some(value) => value
            .as_u64()
            .and_then(|id| u32::try_from(id).ok())
            .ok_or_else(|| config_error(file, name, format!("expected a token id, found {value}"))),
    }
}

/// Qwen2.5-VL's `vision_config.tokens_per_second` (its config class's default, 4, when absent;
/// Qwen2.5-VL-7B-Instruct ships 2).
fn tokens_per_second(file: &Path, config: &Value) -> Result<f64, LocalJudgeError> {
    match config
        .get("vision_config")
        .and_then(|vision| vision.get("tokens_per_second"))
    {
        None | Some(Value::Null) => Ok(4.0),
        Some(value) => value
            .as_f64()
            .filter(|rate| *rate > 0.0 && rate.is_finite())
            .ok_or_else(|| {
                config_error(
                    file,
                    "vision_config.tokens_per_second",
                    format!("expected a positive number, found {value}"),
                )
            }),
    }
}

/// The batch's embeddings `[rows, length, hidden]` with the rows at `media_rows` (flat indices
/// `row × length + column`, in order) replaced by `features`, one per row.
pub(crate) fn insert_media_features(
    embeddings: Tensor,
    features: &Tensor,
    media_rows: &[usize],
) -> candle_core::Result<Tensor> {
    let (rows, length, hidden) = embeddings.dims3()?;
    if features.dim(0)? != media_rows.len() {
        candle_core::bail!(
            "{} media features for {} media tokens",
            features.dim(0)?,
            media_rows.len()
        );
    }
    let flat = embeddings.reshape((rows * length, hidden))?;
    // Each position takes its own embedding, or the next media feature.
    let mut order: Vec<u32> = (0..rows * length).map(|row| row as u32).collect();
    for (feature, row) in media_rows.iter().enumerate() {
        order[*row] = (rows * length + feature) as u32;
    }
    let table = Tensor::cat(&[&flat, &features.to_dtype(flat.dtype())?], 0)?;
    let order = Tensor::new(order.as_slice(), flat.device())?;
    table
        .index_select(&order, 0)?
        .reshape((rows, length, hidden))
}

impl Qwen2VlRewardModel {
    /// Loads the checkpoint folder's model (config, weights, value head or score head) onto
    /// `device` in `dtype`.
    pub fn load(
        folder: &Path,
        dtype: DType,
        device: &Device,
    ) -> Result<Qwen2VlRewardModel, LocalJudgeError> {
        let checkpoint = Qwen2VlCheckpoint::load(folder, dtype, device)?;
        Qwen2VlRewardModel::from_checkpoint(folder, checkpoint, dtype, device)
    }

    /// Loads the model from these weight files (a checked folder's, the value head among them
    /// or beside them in `folder`), with the folder's config.
    pub fn load_files(
        folder: &Path,
        files: &[std::path::PathBuf],
        dtype: DType,
        device: &Device,
    ) -> Result<Qwen2VlRewardModel, LocalJudgeError> {
        let checkpoint = Qwen2VlCheckpoint::load_files(folder, files, dtype, device)?;
        Qwen2VlRewardModel::from_checkpoint(folder, checkpoint, dtype, device)
    }

    /// The reward model over a loaded checkpoint: its language model and its head.
    fn from_checkpoint(
        folder: &Path,
        checkpoint: Qwen2VlCheckpoint,
        dtype: DType,
        device: &Device,
    ) -> Result<Qwen2VlRewardModel, LocalJudgeError> {
        let text = DecoderModel::load_at(
            &checkpoint.settings,
            checkpoint.weights.pp(checkpoint.text_prefix),
            Kernels::Fused,
        )
        .map_err(LocalJudgeError::model("loading the language model"))?;
        let head = RewardHead::load_beside(
            folder,
            &checkpoint.config_file,
            &checkpoint.weights,
            checkpoint.settings.hidden_size,
            dtype,
            device,
        )?;
        Ok(Qwen2VlRewardModel {
            tower: checkpoint.tower,
            text,
            head,
            rope: checkpoint.rope,
            device: device.clone(),
        })
    }

    /// The token ids that mark images and videos.
    pub fn vision_tokens(&self) -> VisionTokens {
        self.rope.tokens
    }

    /// Patches merged into one token along each side.
    pub fn merge_size(&self) -> usize {
        self.rope.merge_size
    }

    /// The vision tower's output for patches of these grids: one row per merged patch, in the
    /// language model's width.
    pub fn vision_features(
        &self,
        pixel_values: &Tensor,
        grids: &[[usize; 3]],
    ) -> Result<Tensor, LocalJudgeError> {
        self.tower
            .forward(pixel_values, grids)
            .map_err(LocalJudgeError::model("running the vision tower"))
    }

    /// The final hidden state at each prompt's last token `[prompts, hidden]` and its reward
    /// `[prompts]`. `pixel_values` and `media` are the batch's images and videos in prompt
    /// order, each prompt's in the order of its placeholders (the processor's output); each
    /// placeholder must match its item's size.
    pub fn forward(
        &self,
        prompts: &[VisualPrompt],
        pixel_values: Option<&Tensor>,
        media: &[MediaGrid],
    ) -> Result<(Tensor, Tensor), LocalJudgeError> {
        let length = prompts
            .iter()
            .map(|prompt| prompt.input_ids.len())
            .max()
            .unwrap_or(0);
        if length == 0 || prompts.iter().any(|prompt| prompt.input_ids.is_empty()) {
            return Err(LocalJudgeError::Input {
                message: "an empty batch or an empty prompt".to_owned(),
            });
        }
        let tokens = self.rope.tokens;
        let mut ids = Vec::with_capacity(prompts.len() * length);
        let mut media_rows = Vec::new();
        let mut positions = Vec::with_capacity(prompts.len() * length);
        let mut media_start = 0;
        for (index, prompt) in prompts.iter().enumerate() {
            let own = media
                .get(media_start..media_start + prompt.media)
                .ok_or_else(|| LocalJudgeError::Input {
                    message: format!(
                        "prompt {index} has {} images and videos, more than the batch's",
                        prompt.media
                    ),
                })?;
            media_start += prompt.media;
            let own_positions = self
                .rope
                .positions(&prompt.input_ids, own)
                .map_err(|message| LocalJudgeError::Input {
                    message: format!("prompt {index}: {message}"),
                })?;
            positions.extend(own_positions);
            // Padding positions are never read at the last real token; any value will do.
            positions.extend(std::iter::repeat_n([0; 3], length - prompt.input_ids.len()));
            for (column, id) in prompt.input_ids.iter().enumerate() {
                if *id == tokens.image || *id == tokens.video {
                    media_rows.push(index * length + column);
                }
            }
            ids.extend_from_slice(&prompt.input_ids);
            ids.extend(std::iter::repeat_n(0, length - prompt.input_ids.len()));
        }
        if media_start != media.len() {
            return Err(LocalJudgeError::Input {
                message: format!(
                    "{} images and videos for prompts that hold {media_start}",
                    media.len()
                ),
            });
        }
        let run = || -> candle_core::Result<(Tensor, Tensor)> {
            let input_ids = Tensor::from_vec(ids.clone(), (prompts.len(), length), &self.device)?;
            let mut embeddings = self.text.embed(&input_ids)?;
            if !media.is_empty() {
                let Some(pixel_values) = pixel_values else {
                    candle_core::bail!("{} images and videos without pixel values", media.len());
                };
                let grids: Vec<[usize; 3]> = media.iter().map(|item| item.grid).collect();
                let features = self.tower.forward(pixel_values, &grids)?;
                embeddings = insert_media_features(embeddings, &features, &media_rows)?;
            }
            let (cos, sin) = self
                .rope
                .tables(&positions, prompts.len(), length, &self.device)?;
            let last: Vec<u32> = prompts
                .iter()
                .map(|prompt| (prompt.input_ids.len() - 1) as u32)
                .collect();
            let last = Tensor::new(last.as_slice(), &self.device)?;
            let hidden = self
                .text
                .last_hidden_states_of(embeddings, &cos, &sin, &last)?;
            let rewards = self.head.rewards(&hidden)?;
            Ok((hidden, rewards))
        };
        run().map_err(LocalJudgeError::model(format!(
            "scoring a batch of {} multimodal prompts",
            prompts.len()
        )))
    }

    /// `transformers`' `get_rope_index` for one prompt: per token, its (time, height, width)
    /// position; `media` are the prompt's images and videos in placeholder order.
    pub fn rope_positions(
        &self,
        input_ids: &[u32],
        media: &[MediaGrid],
    ) -> Result<Vec<[u32; 3]>, LocalJudgeError> {
        self.rope
            .positions(input_ids, media)
            .map_err(|message| LocalJudgeError::Input { message })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_head_is_tied_as_the_language_models_section_says() {
        assert!(tied_embeddings(
            &serde_json::json!({"tie_word_embeddings": true})
        ));
        assert!(!tied_embeddings(
            &serde_json::json!({"tie_word_embeddings": false})
        ));
        assert!(!tied_embeddings(&serde_json::json!({})));
    }
}
