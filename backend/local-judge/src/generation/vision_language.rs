//! Qwen2-VL and Qwen2.5-VL `*ForConditionalGeneration` checkpoints generating on the shared
//! engine: the generative vision-language judges (Qwen2.5-VL-Instruct, UnifiedReward-qwen,
//! VideoScore2).
//!
//! [`Qwen2VlGenerator`] is the vision tower of [`crate::models::qwen2_vl_vision`] and the
//! engine's [`CausalDecoder`] (with its language-model head, tied or not) rotated with M-RoPE
//! ([`crate::models::qwen2_vl_positions`]). A prompt with media is prefilled from embeddings:
//! the tokens' embeddings with the tower's features in place of the image and video tokens, and
//! each token's 3-D position as `transformers`' `get_rope_index` gives it. Each row's `rope_delta`
//! (largest prompt position + 1 − prompt length) is kept in the cache
//! ([`BatchCache::set_position_offsets`]), so every later token sits at its index + that delta on
//! all three axes, as in `transformers`' decoding, whichever rows leave or join the batch.
//!
//! [`VisionChatModel`] is the entry point: a checkpoint folder with its processors, chat
//! template and end-of-turn tokens; [`VisionChatModel::request`] renders a prompt whose user turn
//! is text, images and videos in the order given, and [`VisionChatModel::generate`] runs
//! requests with continuous batching ([`super::engine`]).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use image::DynamicImage;
use serde_json::Value;
use tokenizers::Tokenizer;

use super::CausalLanguageModel;
use super::cache::BatchCache;
use super::chat_model::{ChatModelDescription, ModelFormat, sha256_hex};
use super::decoder::{CausalDecoder, RotaryLayout};
use super::engine::{Batching, Generated, GenerationRequest, StopRules, generate};
use super::folder::{dense_weights, end_of_turn_tokens};
use super::left_padded;
use super::sampling::DecodingOptions;
use crate::chat_template::ContentPart;
use crate::checkpoint::{CONFIG_FILE, CheckpointFolder, TOKENIZER_CONFIG_FILE};
use crate::device::{DeviceChoice, device_name, dtype_for};
use crate::error::LocalJudgeError;
use crate::input::TokenizerConfig;
use crate::models::layers::read_json_file;
use crate::models::qwen2_vl::{
    ConversationEncoder, Qwen2VlCheckpoint, chat_template_source, insert_media_features,
};
use crate::models::qwen2_vl_positions::MultimodalRope;
use crate::models::qwen2_vl_vision::VisionTower;
use crate::qwen2_vl_processor::{Qwen2VlImageProcessor, VisualInput, VisualPatches};

pub use super::vision_language_folder::{
    VISION_LANGUAGE_ARCHITECTURES, is_generative_vision_language_checkpoint,
    is_vision_language_checkpoint,
};

/// A Qwen2-VL or Qwen2.5-VL language model with its vision tower, ready to generate.
#[derive(Debug)]
pub struct Qwen2VlGenerator {
    tower: VisionTower,
    decoder: CausalDecoder,
    rope: MultimodalRope,
    device: Device,
}

impl Qwen2VlGenerator {
    /// Loads the checkpoint folder's tower, language model and head onto `device` in `dtype`.
    pub fn load(
        folder: &Path,
        dtype: DType,
        device: &Device,
    ) -> Result<Qwen2VlGenerator, LocalJudgeError> {
        let checkpoint = Qwen2VlCheckpoint::load(folder, dtype, device)?;
        let tied = checkpoint.tied_embeddings();
        let weights = dense_weights(
            &checkpoint.settings,
            checkpoint.weights.pp(checkpoint.text_prefix),
            &checkpoint.weights,
            tied,
        )
        .map_err(|error| {
            if !tied && !checkpoint.weights.contains_tensor("lm_head.weight") {
                LocalJudgeError::Config {
                    file: checkpoint.config_file.clone(),
                    field: "tie_word_embeddings".to_owned(),
                    message: "false, but the weights have no lm_head.weight".to_owned(),
                }
            } else {
                LocalJudgeError::model("loading the language model")(error)
            }
        })?;
        let decoder = CausalDecoder::new(&checkpoint.settings, weights, RotaryLayout::HalfSplit)
            .map_err(LocalJudgeError::model("assembling the language model"))?;
        Ok(Qwen2VlGenerator {
            tower: checkpoint.tower,
            decoder,
            rope: checkpoint.rope,
            device: device.clone(),
        })
    }

    /// Patches merged into one token along each side.
    pub fn merge_size(&self) -> usize {
        self.rope.merge_size
    }

    /// Prefills `prompts` (token ids with expanded placeholders) with their media (`media[row]`:
    /// the row's images and videos in placeholder order) as one left-padded group: a fresh cache
    /// holding them, each row's position offset set, and the f32 logits `[rows, vocab]` at each
    /// row's last token.
    pub fn prefill_with_media(
        &self,
        prompts: &[&[u32]],
        media: &[&VisualPatches],
    ) -> candle_core::Result<(BatchCache, Tensor)> {
        if prompts.len() != media.len() {
            candle_core::bail!("{} prompts with {} media lists", prompts.len(), media.len());
        }
        let (ids, padding) = left_padded(prompts, &self.device)?;
        let width = ids.dim(1)?;
        let tokens = self.rope.tokens;
        let mut positions = Vec::with_capacity(prompts.len() * width);
        let mut offsets = Vec::with_capacity(prompts.len());
        let mut media_rows = Vec::new();
        let mut batch = VisualPatches::default();
        for (row, (prompt, patches)) in prompts.iter().zip(media).enumerate() {
            let own = self
                .rope
                .positions(prompt, &patches.media())
                .map_err(|message| candle_core::Error::Msg(format!("prompt {row}: {message}")))?;
            offsets.push(MultimodalRope::rope_delta(&own));
            // Padding positions: hidden by the mask, never read.
            positions.extend(std::iter::repeat_n([0; 3], padding[row]));
            positions.extend(own);
            for (column, id) in prompt.iter().enumerate() {
                if *id == tokens.image || *id == tokens.video {
                    media_rows.push(row * width + padding[row] + column);
                }
            }
            batch
                .append((*patches).clone())
                .map_err(|error| candle_core::Error::Msg(error.to_string()))?;
        }
        let mut embeddings = self.decoder.embed(&ids)?;
        if !batch.grids.is_empty() {
            let shape = (batch.rows(), batch.features);
            let pixel_values = Tensor::from_vec(batch.pixel_values, shape, &self.device)?;
            let features = self.tower.forward(&pixel_values, &batch.grids)?;
            embeddings = insert_media_features(embeddings, &features, &media_rows)?;
        }
        let (cos, sin) = self
            .rope
            .tables(&positions, prompts.len(), width, &self.device)?;
        let mut cache = self.new_cache();
        let logits = self.decoder.forward_embeddings(
            embeddings,
            &padding,
            Some((&cos, &sin)),
            &mut cache,
        )?;
        cache.set_position_offsets(offsets)?;
        Ok((cache, logits))
    }
}

impl CausalLanguageModel for Qwen2VlGenerator {
    /// Text tokens after what `cache` holds: each at its index in its row + the row's offset,
    /// on all three axes (an empty cache: text-only prompts, whose offset is 0).
    fn forward(
        &self,
        input_ids: &Tensor,
        padding: &[usize],
        cache: &mut BatchCache,
    ) -> candle_core::Result<Tensor> {
        let (rows, len) = input_ids.dims2()?;
        // An empty cache (a prefill of text-only prompts): nothing before, offset 0.
        let lengths = cache.lengths();
        let offsets = cache.position_offsets();
        let mut positions = Vec::with_capacity(rows * len);
        for (row, &pad) in padding.iter().enumerate() {
            let before = lengths.get(row).map_or(0, |length| *length as i64);
            let offset = offsets.get(row).copied().unwrap_or(0);
            for column in 0..len {
                let position = if column < pad {
                    0
                } else {
                    let index = before + (column - pad) as i64 + offset;
                    u32::try_from(index).map_err(|_| {
                        candle_core::Error::Msg(format!("row {row}: position {index}"))
                    })?
                };
                positions.push([position; 3]);
            }
        }
        let (cos, sin) = self.rope.tables(&positions, rows, len, &self.device)?;
        self.decoder.forward_embeddings(
            self.decoder.embed(input_ids)?,
            padding,
            Some((&cos, &sin)),
            cache,
        )
    }

    fn new_cache(&self) -> BatchCache {
        self.decoder.new_cache()
    }

    fn device(&self) -> &Device {
        &self.device
    }

    fn vocab_size(&self) -> usize {
        self.decoder.vocab_size()
    }

    fn max_positions(&self) -> usize {
        self.decoder.max_positions()
    }
}

/// The engine's view of a generator for one call: each request's media, by request index, so
/// that groups joining the batch are prefilled with theirs.
struct WithMedia<'a> {
    generator: &'a Qwen2VlGenerator,
    media: Vec<&'a VisualPatches>,
}

impl CausalLanguageModel for WithMedia<'_> {
    fn forward(
        &self,
        input_ids: &Tensor,
        padding: &[usize],
        cache: &mut BatchCache,
    ) -> candle_core::Result<Tensor> {
        self.generator.forward(input_ids, padding, cache)
    }

    fn new_cache(&self) -> BatchCache {
        self.generator.new_cache()
    }

    fn device(&self) -> &Device {
        self.generator.device()
    }

    fn vocab_size(&self) -> usize {
        self.generator.vocab_size()
    }

    fn max_positions(&self) -> usize {
        self.generator.max_positions()
    }

    fn prefill(
        &self,
        requests: &[GenerationRequest],
        joining: &[usize],
    ) -> candle_core::Result<(BatchCache, Tensor)> {
        let prompts: Vec<&[u32]> = joining
            .iter()
            .map(|&index| requests[index].prompt.as_slice())
            .collect();
        let media: Vec<&VisualPatches> = joining.iter().map(|&index| self.media[index]).collect();
        self.generator.prefill_with_media(&prompts, &media)
    }
}

/// One part of a judge prompt's user turn, in the order the template renders them.
#[derive(Clone, Copy, Debug)]
pub enum PromptPart<'a> {
    /// Text.
    Text(&'a str),
    /// An image.
    Image(&'a DynamicImage),
    /// A video: its frames, already decoded and sampled by the caller, and their rate.
    Video {
        /// The sampled frames, in time order, all of one size.
        frames: &'a [DynamicImage],
        /// Sampled frames per second (sets Qwen2.5-VL's time positions).
        frames_per_second: f64,
    },
}

/// A prompt ready to generate from: token ids with expanded placeholders and its media.
#[derive(Clone, Debug)]
pub struct VisualGenerationRequest {
    /// The rendered, expanded and tokenized prompt.
    pub prompt: Vec<u32>,
    /// Its images and videos, processed, in placeholder order.
    pub media: VisualPatches,
    /// The sampler's seed (unused when decoding greedily).
    pub seed: u64,
}

/// A loaded Qwen2-VL or Qwen2.5-VL chat model: the generative judge's entry point.
pub struct VisionChatModel {
    generator: Qwen2VlGenerator,
    encoder: ConversationEncoder,
    images: Qwen2VlImageProcessor,
    videos: Qwen2VlImageProcessor,
    end_of_turn: BTreeSet<u32>,
    description: ChatModelDescription,
    path: PathBuf,
}

impl std::fmt::Debug for VisionChatModel {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("VisionChatModel")
            .field("end_of_turn", &self.end_of_turn)
            .finish_non_exhaustive()
    }
}

impl VisionChatModel {
    /// Loads a `Qwen2VLForConditionalGeneration` or `Qwen2_5_VLForConditionalGeneration` folder
    /// (f32 on the CPU, bf16 on CUDA): weights, image and video processor settings, tokenizer,
    /// chat template and end-of-turn tokens (as [`super::chat_model::ChatModel`] reads them).
    pub fn load(folder: &Path, device: DeviceChoice) -> Result<VisionChatModel, LocalJudgeError> {
        let checkpoint = CheckpointFolder::inspect(folder)?;
        let device = device.open()?;
        let dtype = dtype_for(&device, true);
        let generator = Qwen2VlGenerator::load(folder, dtype, &device)?;
        let encoder = ConversationEncoder::load(folder)?;
        let config = read_json_file(folder, CONFIG_FILE)?.unwrap_or(Value::Null);
        let tokenizer_config = read_json_file(folder, TOKENIZER_CONFIG_FILE)?
            .map(|json| TokenizerConfig::from_json(Path::new(TOKENIZER_CONFIG_FILE), &json))
            .unwrap_or_default();
        let end_of_turn =
            end_of_turn_tokens(folder, &config, &tokenizer_config, encoder.tokenizer())?;
        let dtype = dtype.as_str().to_owned();
        let description = ChatModelDescription {
            format: ModelFormat::Safetensors,
            architecture: checkpoint.architecture().unwrap_or_default().to_owned(),
            device: device_name(&device),
            dtype: dtype.clone(),
            tensor_types: vec![dtype],
            parameter_count: checkpoint.parameter_count(),
            dequantized_for_cpu: Vec::new(),
            chat_template_sha256: sha256_hex(&chat_template_source(folder)?.0),
            max_positions: generator.max_positions(),
        };
        Ok(VisionChatModel {
            description,
            path: checkpoint.path,
            generator,
            images: Qwen2VlImageProcessor::load(folder)?,
            videos: Qwen2VlImageProcessor::load_for_video(folder)?,
            encoder,
            end_of_turn,
        })
    }

    /// What the model is.
    pub fn description(&self) -> &ChatModelDescription {
        &self.description
    }

    /// The folder (canonicalized) it was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The model, for tests and benchmarks that drive it directly.
    pub fn generator(&self) -> &Qwen2VlGenerator {
        &self.generator
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        self.encoder.tokenizer()
    }

    /// End-of-turn token ids.
    pub fn end_of_turn(&self) -> &BTreeSet<u32> {
        &self.end_of_turn
    }

    /// The prompt `[system, user: parts]` with the generation prompt, its images and videos
    /// processed (images with `preprocessor_config.json`'s settings, videos with the video
    /// processor's), rendered by the chat template, expanded and tokenized.
    pub fn request(
        &self,
        system: Option<&str>,
        parts: &[PromptPart<'_>],
        seed: u64,
    ) -> Result<VisualGenerationRequest, LocalJudgeError> {
        let mut media = VisualPatches::default();
        let mut template_parts = Vec::with_capacity(parts.len());
        for part in parts {
            match part {
                PromptPart::Text(text) => template_parts.push(ContentPart::Text(text)),
                PromptPart::Image(image) => {
                    media.append(self.images.preprocess_media(&[VisualInput::Image(image)])?)?;
                    template_parts.push(ContentPart::Image);
                }
                PromptPart::Video {
                    frames,
                    frames_per_second,
                } => {
                    media.append(self.videos.preprocess_media(&[VisualInput::Video {
                        frames,
                        frames_per_second: *frames_per_second,
                    }])?)?;
                    template_parts.push(ContentPart::Video);
                }
            }
        }
        let prompt = self.encoder.encode_generation_prompt(
            system,
            &template_parts,
            &media.media(),
            self.generator.merge_size(),
        )?;
        Ok(VisualGenerationRequest {
            prompt: prompt.input_ids,
            media,
            seed,
        })
    }

    /// Generates an answer for each request with continuous batching (see [`generate`]);
    /// `on_finished(index, answer)` is called as each ends.
    pub fn generate(
        &self,
        requests: &[VisualGenerationRequest],
        decoding: &DecodingOptions,
        batching: Batching,
        on_finished: &mut dyn FnMut(usize, &Generated) -> Result<(), LocalJudgeError>,
    ) -> Result<Vec<Generated>, LocalJudgeError> {
        let model = WithMedia {
            generator: &self.generator,
            media: requests.iter().map(|request| &request.media).collect(),
        };
        let text_requests: Vec<GenerationRequest> = requests
            .iter()
            .map(|request| GenerationRequest {
                prompt: request.prompt.clone(),
                seed: request.seed,
            })
            .collect();
        let stop = StopRules {
            end_of_turn: self.end_of_turn.clone(),
        };
        generate(
            &model,
            self.encoder.tokenizer(),
            &text_requests,
            decoding,
            &stop,
            batching,
            on_finished,
        )
    }
}
