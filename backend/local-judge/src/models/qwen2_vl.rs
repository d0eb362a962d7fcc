//! Qwen2-VL and Qwen2.5-VL checkpoints as scalar reward models over text and images: the vision
//! tower of [`super::qwen2_vl_vision`], the Qwen2 decoder of [`super::decoder`] rotated with
//! 3-D positions (M-RoPE), and a reward head on the last token's final hidden state, either a
//! value head in trl's layout (`value_head.safetensors` with `v_head.summary.weight` and
//! `.bias`, as Skywork-VL-Reward ships) or a sequence-classification `score` head.
//!
//! A prompt is token ids in which every image is one `<|vision_start|>`, as many
//! `<|image_pad|>` tokens as the image has merged patches, and `<|vision_end|>`; the image
//! tokens' embeddings are replaced by the tower's outputs, in order. Positions follow
//! `transformers`' `get_rope_index`: text counts up on all three axes; an image's tokens sit at
//! (frame, row, column) offset by the position where the image starts; text after an image
//! continues at the largest position so far + 1. Each rotary channel takes its angle from the
//! axis its `mrope_section` assigns (sections over the first half of a head, repeated for the
//! second), in f32.
//!
//! Configs come flat or with a nested `text_config`, with `rope_scaling` or `rope_parameters`;
//! weights as `model.*` + `visual.*` or `model.language_model.*` + `model.visual.*`. Videos (time
//! positions scaled by `second_per_grid_t`) are not read yet: images only.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use serde_json::Value;

use tokenizers::Tokenizer;

use super::decoder::{DecoderConfig, DecoderModel, decoder_settings};
use super::kernels::Kernels;
use super::layers::{ModelSource, RewardLabel, config_error, parse_config};
use super::qwen2_vl_vision::{VisionTower, VisionVariant};
use crate::chat_template::{ChatTemplate, ContentPart};
use crate::error::LocalJudgeError;
use crate::input::TokenizerConfig;
use crate::weights::load_var_builder;

pub use crate::checkpoint::VALUE_HEAD_FILE;

/// The two weight-name layouts of the language model.
const TEXT_PREFIXES: [&str; 2] = ["model.language_model", "model"];

/// How the reward is read from the last hidden state.
#[derive(Debug)]
enum RewardHead {
    /// trl's value head: one output, with a bias.
    Value { weight: Tensor, bias: Tensor },
    /// `…ForSequenceClassification`'s `score`: the chosen output, no bias.
    Score { weight: Tensor, index: usize },
}

/// The token ids a prompt marks images with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VisionTokens {
    /// `<|image_pad|>`: one per merged patch.
    pub image: u32,
    /// `<|vision_start|>`.
    pub start: u32,
    /// `<|vision_end|>`.
    pub end: u32,
}

/// A prompt of the batch: its token ids and how many of the batch's images it holds (they come
/// in the order of the prompts, then of their placeholders).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VisualPrompt {
    /// Token ids with the image placeholders already expanded.
    pub input_ids: Vec<u32>,
    /// Images in this prompt.
    pub images: usize,
}

/// The placeholder a Qwen2-VL chat template writes for an image, expanded to one per merged
/// patch before tokenizing (as `Qwen2VLProcessor` does).
pub const IMAGE_PLACEHOLDER: &str = "<|image_pad|>";

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

    /// The text the template renders for the conversation, `images` images first in the user
    /// turn.
    pub fn render(
        &self,
        criterion: &str,
        prompt: &str,
        images: usize,
        response: &str,
    ) -> Result<String, LocalJudgeError> {
        let mut parts = vec![ContentPart::Image; images];
        parts.push(ContentPart::Text(prompt));
        self.template.render_with_parts(criterion, &parts, response)
    }

    /// The prompt of the conversation for images of these `grids` (in order): the rendered
    /// text with each image placeholder repeated once per merged patch, tokenized as
    /// `transformers` does (special tokens added as the tokenizer says).
    pub fn encode(
        &self,
        criterion: &str,
        prompt: &str,
        grids: &[[usize; 3]],
        merge_size: usize,
        response: &str,
    ) -> Result<VisualPrompt, LocalJudgeError> {
        let text = self.render(criterion, prompt, grids.len(), response)?;
        let mut pieces = text.split(IMAGE_PLACEHOLDER);
        let mut expanded = pieces.next().unwrap_or_default().to_owned();
        let mut placeholders = 0;
        for piece in pieces {
            let [frames, height, width] =
                grids
                    .get(placeholders)
                    .copied()
                    .ok_or_else(|| LocalJudgeError::Input {
                        message: format!(
                            "the chat template wrote more image placeholders than the {} images",
                            grids.len()
                        ),
                    })?;
            let merged = frames * height * width / (merge_size * merge_size);
            expanded.push_str(&IMAGE_PLACEHOLDER.repeat(merged));
            expanded.push_str(piece);
            placeholders += 1;
        }
        if placeholders != grids.len() {
            return Err(LocalJudgeError::Input {
                message: format!(
                    "the chat template wrote {placeholders} image placeholders for {} images",
                    grids.len()
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
            images: grids.len(),
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

/// A loaded Qwen2-VL or Qwen2.5-VL reward model.
#[derive(Debug)]
pub struct Qwen2VlRewardModel {
    tower: VisionTower,
    text: DecoderModel,
    head: RewardHead,
    tokens: VisionTokens,
    merge_size: usize,
    /// The rotary channels (of a head's first half) each axis takes: temporal, height, width.
    mrope_section: [usize; 3],
    inverse_frequencies: Vec<f32>,
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

impl Qwen2VlRewardModel {
    /// Loads the checkpoint folder's model (config, weights, value head or score head) onto
    /// `device` in `dtype`.
    pub fn load(
        folder: &Path,
        dtype: DType,
        device: &Device,
    ) -> Result<Qwen2VlRewardModel, LocalJudgeError> {
        let mut files: Vec<_> = std::fs::read_dir(folder)
            .map_err(|error| {
                config_error(folder, "(folder)", format!("cannot be listed: {error}"))
            })?
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| {
                path.extension()
                    .is_some_and(|extension| extension == "safetensors")
            })
            .collect();
        files.sort();
        Qwen2VlRewardModel::load_files(folder, &files, dtype, device)
    }

    /// Loads the model from these weight files (a checked folder's, the value head among them
    /// or beside them in `folder`), with the folder's config.
    pub fn load_files(
        folder: &Path,
        files: &[std::path::PathBuf],
        dtype: DType,
        device: &Device,
    ) -> Result<Qwen2VlRewardModel, LocalJudgeError> {
        let config_file = folder.join("config.json");
        let text = std::fs::read_to_string(&config_file).map_err(|error| {
            config_error(&config_file, "(file)", format!("cannot be read: {error}"))
        })?;
        let config: Value = serde_json::from_str(&text)
            .map_err(|error| config_error(&config_file, "(file)", error.to_string()))?;
        let variant = variant_of(&config_file, &config)?;
        let shards: Vec<_> = files
            .iter()
            .filter(|path| path.file_name().is_some_and(|name| name != VALUE_HEAD_FILE))
            .collect();
        let weights = load_var_builder(&shards, dtype, device)?;
        let head_file = folder.join(VALUE_HEAD_FILE);
        let head_weights = if head_file.is_file() {
            Some(load_var_builder(&[&head_file], dtype, device)?)
        } else {
            None
        };
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
        let prefix = TEXT_PREFIXES
            .into_iter()
            .find(|prefix| weights.contains_tensor(&format!("{prefix}.embed_tokens.weight")))
            .ok_or_else(|| {
                config_error(
                    &config_file,
                    "text_config",
                    "the weights hold no language model",
                )
            })?;
        let text = DecoderModel::load_at(&settings, weights.pp(prefix), Kernels::Fused)
            .map_err(LocalJudgeError::model("loading the language model"))?;
        let head = RewardHead::load(
            &config_file,
            &weights,
            head_weights.as_ref(),
            settings.hidden_size,
        )?;
        let tokens = VisionTokens {
            image: token_field(
                &config_file,
                &config,
                &text_section,
                "image_token_id",
                151_655,
            )?,
            start: token_field(
                &config_file,
                &config,
                &text_section,
                "vision_start_token_id",
                151_652,
            )?,
            end: token_field(
                &config_file,
                &config,
                &text_section,
                "vision_end_token_id",
                151_653,
            )?,
        };
        Ok(Qwen2VlRewardModel {
            merge_size: tower.merge_size(),
            tower,
            text,
            head,
            tokens,
            mrope_section,
            inverse_frequencies: settings.inverse_frequencies.clone(),
            device: device.clone(),
        })
    }

    /// The token ids that mark images.
    pub fn vision_tokens(&self) -> VisionTokens {
        self.tokens
    }

    /// Patches merged into one token along each side.
    pub fn merge_size(&self) -> usize {
        self.merge_size
    }

    /// The final hidden state at each prompt's last token `[prompts, hidden]` and its reward
    /// `[prompts]`. `pixel_values` and `grids` are the batch's images in prompt order (the
    /// processor's output); each prompt's image placeholders must match its images' sizes.
    pub fn forward(
        &self,
        prompts: &[VisualPrompt],
        pixel_values: Option<&Tensor>,
        grids: &[[usize; 3]],
    ) -> Result<(Tensor, Tensor), LocalJudgeError> {
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
        let merge_unit = self.merge_size * self.merge_size;
        let mut ids = Vec::with_capacity(prompts.len() * length);
        let mut image_rows = Vec::new();
        let mut positions = Vec::with_capacity(prompts.len());
        let mut grid_start = 0;
        for (index, prompt) in prompts.iter().enumerate() {
            let own = grids
                .get(grid_start..grid_start + prompt.images)
                .ok_or_else(|| LocalJudgeError::Input {
                    message: format!(
                        "prompt {index} has {} images, more than the batch's",
                        prompt.images
                    ),
                })?;
            grid_start += prompt.images;
            let expected: usize = own.iter().map(|[t, h, w]| t * h * w / merge_unit).sum();
            let found = prompt
                .input_ids
                .iter()
                .filter(|id| **id == self.tokens.image)
                .count();
            if expected != found {
                return Err(LocalJudgeError::Input {
                    message: format!(
                        "prompt {index} has {found} image tokens where its images have {expected} \
                         merged patches"
                    ),
                });
            }
            positions.push(self.rope_positions(&prompt.input_ids, own));
            for (column, id) in prompt.input_ids.iter().enumerate() {
                if *id == self.tokens.image {
                    image_rows.push(index * length + column);
                }
            }
            ids.extend_from_slice(&prompt.input_ids);
            ids.extend(std::iter::repeat_n(0, length - prompt.input_ids.len()));
        }
        if grid_start != grids.len() {
            return Err(LocalJudgeError::Input {
                message: format!("{} images for prompts that hold {grid_start}", grids.len()),
            });
        }
        let run = || -> candle_core::Result<(Tensor, Tensor)> {
            let input_ids = Tensor::from_vec(ids.clone(), (prompts.len(), length), &self.device)?;
            let mut embeddings = self.text.embed(&input_ids)?;
            if let Some(pixel_values) = pixel_values.filter(|_| !grids.is_empty()) {
                let features = self
                    .tower
                    .forward(pixel_values, grids)?
                    .to_dtype(embeddings.dtype())?;
                let hidden = embeddings.dim(2)?;
                let flat = embeddings.reshape((prompts.len() * length, hidden))?;
                // Each position takes its own embedding, or the next image feature.
                let mut order: Vec<u32> =
                    (0..prompts.len() * length).map(|row| row as u32).collect();
                for (feature, row) in image_rows.iter().enumerate() {
                    order[*row] = (prompts.len() * length + feature) as u32;
                }
                let table = Tensor::cat(&[&flat, &features], 0)?;
                let order = Tensor::new(order.as_slice(), &self.device)?;
                embeddings =
                    table
                        .index_select(&order, 0)?
                        .reshape((prompts.len(), length, hidden))?;
            }
            let (cos, sin) = self.rotary_tables(&positions, length)?;
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

    /// `transformers`' `get_rope_index` for one prompt: per token, its (temporal, height,
    /// width) position.
    pub fn rope_positions(&self, input_ids: &[u32], grids: &[[usize; 3]]) -> Vec<[u32; 3]> {
        let merge = self.merge_size;
        let mut positions = Vec::with_capacity(input_ids.len());
        let mut next = 0_u32;
        let mut images = grids.iter();
        let mut index = 0;
        while index < input_ids.len() {
            if input_ids[index] == self.tokens.image
                && let Some([frames, height, width]) = images.next()
            {
                let (rows, columns) = (height / merge, width / merge);
                let start = next;
                let mut largest = start;
                for frame in 0..*frames {
                    for row in 0..rows {
                        for column in 0..columns {
                            let position = [
                                start + frame as u32,
                                start + row as u32,
                                start + column as u32,
                            ];
                            largest = largest.max(position[0]).max(position[1]).max(position[2]);
                            positions.push(position);
                        }
                    }
                }
                index += frames * rows * columns;
                next = largest + 1;
            } else {
                positions.push([next; 3]);
                next += 1;
                index += 1;
            }
        }
        positions.truncate(input_ids.len());
        positions
    }

    /// `cos` and `sin` `[prompts, length, head_dim / 2]` in f32: channel `j` of a head's first
    /// half takes the axis its section assigns and the frequency `j`.
    fn rotary_tables(
        &self,
        positions: &[Vec<[u32; 3]>],
        length: usize,
    ) -> candle_core::Result<(Tensor, Tensor)> {
        let half = self.inverse_frequencies.len();
        let axes: Vec<usize> = (0..3)
            .flat_map(|axis| std::iter::repeat_n(axis, self.mrope_section[axis]))
            .collect();
        let mut cos = Vec::with_capacity(positions.len() * length * half);
        let mut sin = Vec::with_capacity(positions.len() * length * half);
        for prompt in positions {
            for column in 0..length {
                // Padding positions are never read at the last real token; any value will do.
                let position = prompt.get(column).copied().unwrap_or([0; 3]);
                for (channel, frequency) in self.inverse_frequencies.iter().enumerate() {
                    let angle = position[axes[channel]] as f32 * frequency;
                    cos.push(angle.cos());
                    sin.push(angle.sin());
                }
            }
        }
        let shape = (positions.len(), length, half);
        Ok((
            Tensor::from_vec(cos, shape, &self.device)?,
            Tensor::from_vec(sin, shape, &self.device)?,
        ))
    }
}

impl RewardHead {
    fn load(
        config_file: &Path,
        weights: &VarBuilder<'static>,
        value_head: Option<&VarBuilder<'static>>,
        hidden: usize,
    ) -> Result<RewardHead, LocalJudgeError> {
        let value = |builder: &VarBuilder<'static>| -> candle_core::Result<RewardHead> {
            Ok(RewardHead::Value {
                weight: builder.get((1, hidden), "v_head.summary.weight")?,
                bias: builder.get(1, "v_head.summary.bias")?,
            })
        };
        if let Some(builder) = value_head {
            return value(builder)
                .map_err(LocalJudgeError::model(format!("reading {VALUE_HEAD_FILE}")));
        }
        if weights.contains_tensor("v_head.summary.weight") {
            return value(weights).map_err(LocalJudgeError::model("reading the value head"));
        }
        if weights.contains_tensor("score.weight") {
            let weight = weights
                .get_unchecked("score.weight")
                .map_err(LocalJudgeError::model("reading the score head"))?;
            return Ok(RewardHead::Score { weight, index: 0 });
        }
        Err(config_error(
            config_file,
            "(weights)",
            format!(
                "no reward head: neither {VALUE_HEAD_FILE}, `v_head.summary.*` in the weights, nor a \
                 `score` head"
            ),
        ))
    }

    fn rewards(&self, hidden: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            RewardHead::Value { weight, bias } => hidden
                .to_dtype(weight.dtype())?
                .matmul(&weight.t()?)?
                .broadcast_add(bias)?
                .squeeze(1)?
                .to_dtype(DType::F32),
            RewardHead::Score { weight, index } => hidden
                .to_dtype(weight.dtype())?
                .matmul(&weight.t()?)?
                .narrow(1, *index, 1)?
                .squeeze(1)?
                .to_dtype(DType::F32),
        }
    }
}
