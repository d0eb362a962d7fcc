//! [`LocalJudge`]: a checkpoint folder loaded for scoring, whatever its family.
//!
//! Loading checks the folder ([`crate::checkpoint`]), picks the family, opens the device, reads
//! the weights and builds the tokenizer with the judge's input format. Scoring takes pairs (a
//! sample's two responses) and returns one reward per response; batches are planned over all
//! inputs at once ([`crate::batch`]). Vision-language reward models score conversations
//! ([`crate::conversation`]): `score_conversation_pairs`, and text pairs as conversations
//! without media.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use image::DynamicImage;
use serde::Serialize;
use serde_json::Value;

use crate::architecture::{Architecture, ModelKind};
use crate::batch::{DEFAULT_BATCH_TOKENS, PaddedBatch, plan_batches};
use crate::chat_template::ChatTemplate;
use crate::checkpoint::{CONFIG_FILE, CheckpointFolder, TOKENIZER_CONFIG_FILE, TOKENIZER_FILE};
use crate::conversation::{Conversation, ConversationLimits, ConversationScorer};
use crate::device::{DeviceChoice, device_name, dtype_for};
use crate::error::LocalJudgeError;
use crate::image_input::ImagePreprocessor;
use crate::input::{
    EncodedText, InputFormat, ScoringText, TextEncoder, TokenizerConfig, TruncationSide,
};
use crate::models::kernels::Kernels;
use crate::models::layers::read_json_file;
use crate::models::qwen2_vl::chat_template_source;
use crate::models::{
    ImageTextModel, ModelSource, RewardLabel, SequenceRewardModel, TextEmbeddingModel,
    image_text_rewards, load_image_text_model, load_sequence_model,
};
use crate::weights::load_var_builder;

/// sentence-transformers' settings file, whose `max_seq_length` bounds embedding inputs.
pub const SENTENCE_BERT_CONFIG_FILE: &str = "sentence_bert_config.json";

/// Default token limit for encoders when the checkpoint states none smaller.
pub const DEFAULT_ENCODER_MAX_LENGTH: usize = 512;
/// Default token limit for decoders: long enough for most benchmark responses, short enough that
/// a 2-core CPU finishes.
pub const DEFAULT_DECODER_MAX_LENGTH: usize = 2048;
/// Default token limit for vision-language models: room for an image's patches (a 768 × 768
/// image is about 750 merged tokens with Qwen2-VL's 28-pixel units) beside the texts.
pub const DEFAULT_MULTIMODAL_MAX_LENGTH: usize = 8192;

/// How to load and run a checkpoint.
#[derive(Clone, Debug)]
pub struct LocalJudgeOptions {
    /// Where to run.
    pub device: DeviceChoice,
    /// Token limit per input; `None` takes the checkpoint's (capped by the defaults above).
    pub max_length: Option<usize>,
    /// Which end of a too-long input is cut.
    pub truncation: TruncationSide,
    /// Padded tokens per batch.
    pub batch_tokens: usize,
    /// Separator for encoder inputs; `None` uses `" {sep_token} "` of the tokenizer.
    pub separator: Option<String>,
    /// Which head output is the reward.
    pub reward_label: RewardLabel,
}

impl Default for LocalJudgeOptions {
    fn default() -> Self {
        LocalJudgeOptions {
            device: DeviceChoice::Cpu,
            max_length: None,
            truncation: TruncationSide::Right,
            batch_tokens: DEFAULT_BATCH_TOKENS,
            separator: None,
            reward_label: RewardLabel::Single,
        }
    }
}

/// What a loaded judge is, for run records and the leaderboard.
#[derive(Clone, Debug, Serialize)]
pub struct JudgeDescription {
    /// The `transformers` architecture name.
    pub architecture: &'static str,
    /// How it scores.
    pub kind: ModelKind,
    /// `cpu` or `cuda:N`.
    pub device: String,
    /// The dtype it runs in.
    pub dtype: &'static str,
    /// Token limit per input.
    pub max_length: usize,
    /// Which end is cut.
    pub truncation: TruncationSide,
    /// How texts are joined.
    pub input_format: InputFormat,
    /// Padded tokens per batch.
    pub batch_tokens: usize,
    /// Number of weight elements.
    pub parameter_count: u64,
    /// Whether it looks at images (image-text and vision-language families) or only at text.
    pub reads_images: bool,
}

enum Scorer {
    Sequence(Box<dyn SequenceRewardModel>),
    Embedding(Box<dyn TextEmbeddingModel>),
    ImageText {
        model: Box<dyn ImageTextModel>,
        preprocessor: ImagePreprocessor,
    },
    Conversation(Box<ConversationScorer>),
}

/// Two sets of images to score against one text: a sample's two responses (one image each, or
/// the sampled frames of a video, whose rewards are averaged).
pub struct ImagePair {
    /// The text the images are compared with (criterion and prompt).
    pub text: String,
    /// Images of response 1.
    pub first: Vec<DynamicImage>,
    /// Images of response 2.
    pub second: Vec<DynamicImage>,
}

/// A loaded checkpoint, ready to score.
pub struct LocalJudge {
    scorer: Scorer,
    encoder: TextEncoder,
    device: Device,
    description: JudgeDescription,
    folder: PathBuf,
}

impl LocalJudge {
    /// Checks and loads the checkpoint at `folder`.
    pub fn load(folder: &Path, options: &LocalJudgeOptions) -> Result<LocalJudge, LocalJudgeError> {
        let checkpoint = CheckpointFolder::inspect(folder)?;
        let name = checkpoint.require_supported_architecture()?;
        let architecture =
            Architecture::from_hugging_face_name(name).ok_or_else(|| LocalJudgeError::Config {
                file: PathBuf::from(CONFIG_FILE),
                field: "architectures".to_owned(),
                message: format!("{name} has no loader"),
            })?;
        let root = checkpoint.path.clone();
        let config_file = PathBuf::from(CONFIG_FILE);
        let config = read_json_file(&root, CONFIG_FILE)?.unwrap_or(Value::Null);

        let device = options.device.open()?;
        let dtype = dtype_for(&device, architecture.half_precision_safe());
        let weight_files = checkpoint.weight_files();
        // Read inside the arm that needs them: a vision-language model reads its own.
        let source = || -> Result<ModelSource<'_>, LocalJudgeError> {
            Ok(ModelSource {
                config_file: &config_file,
                config: &config,
                weights: load_var_builder(&weight_files, dtype, &device)?,
                reward_label: &options.reward_label,
                kernels: Kernels::Fused,
            })
        };
        let (scorer, model_positions) = match architecture.kind() {
            ModelKind::EncoderClassifier | ModelKind::DecoderClassifier => {
                let model = load_sequence_model(architecture, source()?)?;
                let positions = model.max_positions();
                (Scorer::Sequence(model), positions)
            }
            ModelKind::TextEmbedding => {
                let model = crate::models::minilm::load(source()?)?;
                let positions = model.max_positions();
                (Scorer::Embedding(model), positions)
            }
            ModelKind::MultimodalConversation | ModelKind::OmniConversation => {
                let scorer =
                    ConversationScorer::load(&root, architecture, &weight_files, dtype, &device)?;
                let positions = scorer.max_positions();
                (Scorer::Conversation(Box::new(scorer)), positions)
            }
            ModelKind::ImageText => {
                let model = load_image_text_model(architecture, source()?)?;
                let positions = Some(model.max_text_positions());
                let preprocessor = ImagePreprocessor::from_folder(&root, architecture)?;
                (
                    Scorer::ImageText {
                        model,
                        preprocessor,
                    },
                    positions,
                )
            }
        };

        // A vision-language checkpoint's template may also sit in `chat_template.json`.
        let conversation_template = match architecture.kind() {
            ModelKind::MultimodalConversation | ModelKind::OmniConversation => {
                Some(chat_template_source(&root)?.0)
            }
            _ => None,
        };
        let encoder = text_encoder(
            &root,
            conversation_template
                .as_deref()
                .or(checkpoint.chat_template.as_deref()),
            architecture,
            &config,
            model_positions,
            options,
        )?;
        let max_length = encoder.max_length();

        let description = JudgeDescription {
            architecture: architecture.hugging_face_name(),
            kind: architecture.kind(),
            device: device_name(&device),
            dtype: dtype.as_str(),
            max_length,
            truncation: options.truncation,
            input_format: encoder.input_format().clone(),
            batch_tokens: options.batch_tokens,
            parameter_count: checkpoint.parameter_count(),
            reads_images: matches!(
                architecture.kind(),
                ModelKind::ImageText
                    | ModelKind::MultimodalConversation
                    | ModelKind::OmniConversation
            ),
        };
        Ok(LocalJudge {
            scorer,
            encoder,
            device,
            description,
            folder: root,
        })
    }

    /// What this judge is.
    pub fn description(&self) -> &JudgeDescription {
        &self.description
    }

    /// The checkpoint folder, canonicalized.
    pub fn folder(&self) -> &Path {
        &self.folder
    }

    /// The text encoder (tokenizer and input format).
    pub fn encoder(&self) -> &TextEncoder {
        &self.encoder
    }

    /// Whether the judge looks at images (CLIP, SigLIP, vision-language models) rather than
    /// reading text only.
    pub fn reads_images(&self) -> bool {
        self.description.reads_images
    }

    /// Rewards of both responses of each pair of texts. `progress` is called with the number of
    /// responses finished after each batch.
    pub fn score_text_pairs(
        &self,
        pairs: &[[ScoringText<'_>; 2]],
        progress: &mut dyn FnMut(usize),
    ) -> Result<Vec<[f32; 2]>, LocalJudgeError> {
        match &self.scorer {
            Scorer::Sequence(model) => {
                let inputs = pairs
                    .iter()
                    .flatten()
                    .map(|text| self.encoder.encode(text))
                    .collect::<Result<Vec<_>, _>>()?;
                let groups: Vec<Vec<usize>> = (0..pairs.len())
                    .map(|pair| vec![2 * pair, 2 * pair + 1])
                    .collect();
                let rewards =
                    self.run_batches(&inputs, &groups, progress, |batch| model.rewards(batch))?;
                Ok(rewards
                    .chunks_exact(2)
                    .map(|pair| [pair[0], pair[1]])
                    .collect())
            }
            Scorer::Embedding(model) => {
                // Three texts per pair: the request (criterion and prompt) and both responses.
                let mut inputs = Vec::with_capacity(pairs.len() * 3);
                for [first, second] in pairs {
                    inputs.push(
                        self.encoder
                            .encode_formatted(&request_text(first.criterion, first.prompt))?,
                    );
                    inputs.push(self.encoder.encode_formatted(first.response)?);
                    inputs.push(self.encoder.encode_formatted(second.response)?);
                }
                let groups: Vec<Vec<usize>> = (0..pairs.len())
                    .map(|pair| vec![3 * pair, 3 * pair + 1, 3 * pair + 2])
                    .collect();
                let embeddings =
                    self.embed_all(&inputs, &groups, progress, |batch| model.embeddings(batch))?;
                Ok(embeddings
                    .chunks_exact(3)
                    .map(|triple| {
                        [
                            cosine(&triple[0], &triple[1]),
                            cosine(&triple[0], &triple[2]),
                        ]
                    })
                    .collect())
            }
            Scorer::ImageText { .. } => Err(LocalJudgeError::Input {
                message: format!(
                    "{} scores images; text responses cannot be scored",
                    self.description.architecture
                ),
            }),
            // A text pair is a conversation without media, laid out as text reward models read
            // it: system = criterion, user = prompt, assistant = response.
            Scorer::Conversation(_) => {
                let conversation = |text: &ScoringText<'_>| Conversation {
                    system: text.criterion.to_owned(),
                    media: Vec::new(),
                    text: text.prompt.to_owned(),
                    response: text.response.to_owned(),
                };
                let pairs: Vec<[Conversation; 2]> = pairs
                    .iter()
                    .map(|[first, second]| [conversation(first), conversation(second)])
                    .collect();
                self.score_conversation_pairs(&pairs, progress)
            }
        }
    }

    /// Rewards of both conversations of each pair (a sample's two responses, laid out by the
    /// caller), for vision-language reward models. `progress` is called with the number of
    /// conversations finished after each batch.
    pub fn score_conversation_pairs(
        &self,
        pairs: &[[Conversation; 2]],
        progress: &mut dyn FnMut(usize),
    ) -> Result<Vec<[f32; 2]>, LocalJudgeError> {
        let Scorer::Conversation(scorer) = &self.scorer else {
            return Err(LocalJudgeError::Input {
                message: format!(
                    "{} is not a vision-language model; conversations with media cannot be scored",
                    self.description.architecture
                ),
            });
        };
        let conversations: Vec<Conversation> = pairs.iter().flatten().cloned().collect();
        let groups: Vec<Vec<usize>> = (0..pairs.len())
            .map(|pair| vec![2 * pair, 2 * pair + 1])
            .collect();
        let limits = ConversationLimits {
            max_length: self.encoder.max_length(),
            truncation: self.description.truncation,
            batch_tokens: self.description.batch_tokens,
        };
        let rewards = scorer.score(&conversations, &groups, limits, progress)?;
        Ok(rewards
            .chunks_exact(2)
            .map(|pair| [pair[0], pair[1]])
            .collect())
    }

    /// Rewards of both responses of each image pair: `logit_scale.exp() * cosine(text, image) +
    /// bias`, averaged over each response's images.
    pub fn score_image_pairs(
        &self,
        pairs: &[ImagePair],
        progress: &mut dyn FnMut(usize),
    ) -> Result<Vec<[f32; 2]>, LocalJudgeError> {
        let (model, preprocessor) = match &self.scorer {
            Scorer::ImageText {
                model,
                preprocessor,
            } => (model, preprocessor),
            Scorer::Conversation(_) => {
                return Err(LocalJudgeError::Input {
                    message: format!(
                        "{} reads conversations: score image responses with \
                         score_conversation_pairs",
                        self.description.architecture
                    ),
                });
            }
            Scorer::Sequence(_) | Scorer::Embedding(_) => {
                return Err(LocalJudgeError::Input {
                    message: format!(
                        "{} reads text only; image responses cannot be scored",
                        self.description.architecture
                    ),
                });
            }
        };
        let mut rewards = Vec::with_capacity(pairs.len());
        for pair in pairs {
            if pair.first.is_empty() || pair.second.is_empty() {
                return Err(LocalJudgeError::Input {
                    message: "each response needs at least one image".to_owned(),
                });
            }
            let text = self.encoder.encode_formatted(&pair.text)?;
            let text_batch = PaddedBatch::new(&[&text], self.encoder.pad_id(), &self.device)?;
            let text_embedding = model
                .text_embeddings(&text_batch)
                .map_err(LocalJudgeError::model("embedding the text"))?;
            // The mean of the images' rewards (video frames are averaged); training computes
            // the same `image_text_rewards` for one image per response.
            let side = |images: &[DynamicImage]| -> Result<f32, LocalJudgeError> {
                let pixels = preprocessor.pixels(images, &self.device)?;
                let image_embeddings = model
                    .image_embeddings(&pixels)
                    .map_err(LocalJudgeError::model("embedding the images"))?;
                let rewards = text_embedding
                    .broadcast_as(image_embeddings.shape())
                    .and_then(|texts| image_text_rewards(model.as_ref(), &texts, &image_embeddings))
                    .and_then(|rewards| rewards.to_vec1::<f32>())
                    .map_err(LocalJudgeError::model("comparing text and images"))?;
                Ok(rewards.iter().sum::<f32>() / rewards.len() as f32)
            };
            rewards.push([side(&pair.first)?, side(&pair.second)?]);
            progress(2);
        }
        Ok(rewards)
    }

    /// Runs a reward model over planned batches and puts the rewards back in input order.
    fn run_batches(
        &self,
        inputs: &[EncodedText],
        groups: &[Vec<usize>],
        progress: &mut dyn FnMut(usize),
        forward: impl Fn(&PaddedBatch) -> candle_core::Result<Tensor>,
    ) -> Result<Vec<f32>, LocalJudgeError> {
        let lengths: Vec<usize> = inputs.iter().map(EncodedText::len).collect();
        let mut rewards = vec![f32::NAN; inputs.len()];
        for batch_indices in plan_batches(&lengths, groups, self.description.batch_tokens) {
            let batch_inputs: Vec<&EncodedText> =
                batch_indices.iter().map(|&index| &inputs[index]).collect();
            let batch = PaddedBatch::new(&batch_inputs, self.encoder.pad_id(), &self.device)?;
            let context = || format!("scoring a batch of {} inputs", batch_indices.len());
            let values = forward(&batch)
                .and_then(|tensor| tensor.to_dtype(DType::F32))
                .and_then(|tensor| tensor.flatten_all())
                .and_then(|tensor| tensor.to_vec1::<f32>())
                .map_err(LocalJudgeError::model(context()))?;
            if values.len() != batch_indices.len() {
                return Err(LocalJudgeError::Input {
                    message: format!("{}: the model returned {} rewards", context(), values.len()),
                });
            }
            for (&index, value) in batch_indices.iter().zip(values) {
                rewards[index] = value;
            }
            progress(batch_indices.len());
        }
        Ok(rewards)
    }

    fn embed_all(
        &self,
        inputs: &[EncodedText],
        groups: &[Vec<usize>],
        progress: &mut dyn FnMut(usize),
        forward: impl Fn(&PaddedBatch) -> candle_core::Result<Tensor>,
    ) -> Result<Vec<Vec<f32>>, LocalJudgeError> {
        let lengths: Vec<usize> = inputs.iter().map(EncodedText::len).collect();
        let mut embeddings = vec![Vec::new(); inputs.len()];
        for batch_indices in plan_batches(&lengths, groups, self.description.batch_tokens) {
            let batch_inputs: Vec<&EncodedText> =
                batch_indices.iter().map(|&index| &inputs[index]).collect();
            let batch = PaddedBatch::new(&batch_inputs, self.encoder.pad_id(), &self.device)?;
            let rows = forward(&batch)
                .and_then(|tensor| tensor.to_dtype(DType::F32))
                .and_then(|tensor| tensor.to_vec2::<f32>())
                .map_err(LocalJudgeError::model(format!(
                    "embedding a batch of {}",
                    batch_indices.len()
                )))?;
            for (&index, row) in batch_indices.iter().zip(rows) {
                embeddings[index] = row;
            }
            // Progress counts responses; a third of the inputs are requests.
            progress(batch_indices.len() * 2 / 3);
        }
        Ok(embeddings)
    }

    /// Embeddings of texts (embedding and image-text families), L2-normalised, for parity checks
    /// and demos.
    pub fn embed_texts(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, LocalJudgeError> {
        let inputs = texts
            .iter()
            .map(|text| self.encoder.encode_formatted(text))
            .collect::<Result<Vec<_>, _>>()?;
        let groups: Vec<Vec<usize>> = (0..inputs.len()).map(|index| vec![index]).collect();
        match &self.scorer {
            Scorer::Embedding(model) => self.embed_all(&inputs, &groups, &mut |_| {}, |batch| {
                model.embeddings(batch)
            }),
            Scorer::ImageText { model, .. } => {
                self.embed_all(&inputs, &groups, &mut |_| {}, |batch| {
                    model.text_embeddings(batch)
                })
            }
            Scorer::Sequence(_) | Scorer::Conversation(_) => Err(LocalJudgeError::Input {
                message: format!("{} has no embeddings", self.description.architecture),
            }),
        }
    }
}

/// The text encoder (input format, token limit, truncation, pad id) a judge of `architecture`
/// uses for the checkpoint in `folder` (whose default chat template is `chat_template`): the one place these are decided, so that training
/// formats and cuts inputs exactly as scoring does. `model_positions` is the model's own position
/// limit, if it has one.
pub fn text_encoder(
    folder: &Path,
    chat_template: Option<&str>,
    architecture: Architecture,
    config: &Value,
    model_positions: Option<usize>,
    options: &LocalJudgeOptions,
) -> Result<TextEncoder, LocalJudgeError> {
    let root = folder;
    let config_file = PathBuf::from(CONFIG_FILE);
    let tokenizer_config = read_json_file(root, TOKENIZER_CONFIG_FILE)?
        .map(|json| TokenizerConfig::from_json(Path::new(TOKENIZER_CONFIG_FILE), &json))
        .unwrap_or_default();
    let default_cap = match architecture.kind() {
        ModelKind::DecoderClassifier => DEFAULT_DECODER_MAX_LENGTH,
        ModelKind::MultimodalConversation | ModelKind::OmniConversation => {
            DEFAULT_MULTIMODAL_MAX_LENGTH
        }
        _ => DEFAULT_ENCODER_MAX_LENGTH,
    };
    // sentence-transformers cuts inputs at `max_seq_length` (256 for all-MiniLM-L6-v2), not
    // at the position table; embeddings of longer texts match only with the same limit.
    let sentence_limit = match architecture.kind() {
        ModelKind::TextEmbedding => read_json_file(root, SENTENCE_BERT_CONFIG_FILE)?
            .and_then(|json| json.get("max_seq_length").and_then(Value::as_u64))
            .map(|length| length as usize),
        _ => None,
    };
    let limits = [
        model_positions,
        tokenizer_config.model_max_length,
        sentence_limit,
    ];
    let checkpoint_limit = limits.into_iter().flatten().min();
    let max_length = match options.max_length {
        Some(requested) => {
            if let Some(limit) = checkpoint_limit.filter(|limit| requested > *limit) {
                return Err(LocalJudgeError::Config {
                    file: config_file,
                    field: "max_position_embeddings".to_owned(),
                    message: format!(
                        "--max-length {requested} exceeds the model's limit of {limit} tokens"
                    ),
                });
            }
            requested
        }
        None => checkpoint_limit.map_or(default_cap, |limit| limit.min(default_cap)),
    };

    let format = input_format(architecture, chat_template, &tokenizer_config, options)?;
    let tokenizer_file = root.join(TOKENIZER_FILE);
    let pad_id = pad_id(&tokenizer_file, &tokenizer_config, config)?;
    TextEncoder::new(
        &tokenizer_file,
        format,
        max_length,
        options.truncation,
        pad_id,
    )
}

/// The request side of the relevance baseline: criterion and prompt, one per line.
pub fn request_text(criterion: &str, prompt: &str) -> String {
    format!("{criterion}\n{prompt}")
}

fn cosine(first: &[f32], second: &[f32]) -> f32 {
    let dot: f32 = first.iter().zip(second).map(|(a, b)| a * b).sum();
    let norm = |values: &[f32]| values.iter().map(|value| value * value).sum::<f32>().sqrt();
    let denominator = norm(first) * norm(second);
    if denominator == 0.0 {
        0.0
    } else {
        dot / denominator
    }
}

fn input_format(
    architecture: Architecture,
    chat_template: Option<&str>,
    tokenizer_config: &TokenizerConfig,
    options: &LocalJudgeOptions,
) -> Result<InputFormat, LocalJudgeError> {
    match architecture.kind() {
        ModelKind::DecoderClassifier
        | ModelKind::MultimodalConversation
        | ModelKind::OmniConversation => {
            let source = chat_template.ok_or_else(|| LocalJudgeError::Config {
                file: PathBuf::from(TOKENIZER_CONFIG_FILE),
                field: "chat_template".to_owned(),
                message: "a decoder reward model needs a chat template (in tokenizer_config.json or chat_template.jinja)".to_owned(),
            })?;
            let template = ChatTemplate::new(
                source,
                tokenizer_config.bos_token.as_deref(),
                tokenizer_config.eos_token.as_deref(),
            )?;
            Ok(InputFormat::ChatTemplate {
                template_sha256: sha256_hex(source.as_bytes()),
                template,
            })
        }
        ModelKind::EncoderClassifier => {
            let separator = match (&options.separator, &tokenizer_config.sep_token) {
                (Some(separator), _) => separator.clone(),
                (None, Some(token)) => format!(" {token} "),
                (None, None) => {
                    return Err(LocalJudgeError::Config {
                        file: PathBuf::from(TOKENIZER_CONFIG_FILE),
                        field: "sep_token".to_owned(),
                        message: "no separator token; give one with --separator".to_owned(),
                    });
                }
            };
            Ok(InputFormat::Joined { separator })
        }
        // Embedding and image-text families encode each text on its own.
        ModelKind::TextEmbedding | ModelKind::ImageText => Ok(InputFormat::Joined {
            separator: "\n".to_owned(),
        }),
    }
}

/// The pad id: the tokenizer config's pad token, else `config.json`'s `pad_token_id`, else the
/// end-of-sequence token (decoders often have no pad token; padding sits after the last real
/// token and never reaches the reward), else 0.
fn pad_id(
    tokenizer_file: &Path,
    tokenizer_config: &TokenizerConfig,
    config: &Value,
) -> Result<u32, LocalJudgeError> {
    let tokenizer = tokenizers::Tokenizer::from_file(tokenizer_file).map_err(|error| {
        LocalJudgeError::Tokenizer {
            file: PathBuf::from(TOKENIZER_FILE),
            message: error.to_string(),
        }
    })?;
    let by_token = |token: &Option<String>| {
        token
            .as_deref()
            .and_then(|token| tokenizer.token_to_id(token))
    };
    Ok(by_token(&tokenizer_config.pad_token)
        .or_else(|| {
            config
                .get("pad_token_id")
                .and_then(Value::as_u64)
                .map(|id| id as u32)
        })
        .or_else(|| by_token(&tokenizer_config.eos_token))
        .unwrap_or(0))
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}
