//! `Qwen2ForCausalLM`, `Qwen3ForCausalLM` and `LlamaForCausalLM` checkpoint folders: checked like
//! every checkpoint ([`crate::checkpoint`]), settings read through the reward models' decoder
//! adapter ([`crate::models::decoder::decoder_settings`] with the family's layout), weights
//! loaded dense in the device's dtype (f32 on the CPU, bf16 on CUDA).
//!
//! The language-model head is `lm_head.weight`, or the token embedding when
//! `tie_word_embeddings` is true (Qwen2.5 0.5B–3B, SmolLM2); a head missing without tying is an
//! error naming the field. End-of-turn tokens are the union of `config.json`'s and
//! `generation_config.json`'s `eos_token_id` (a number or a list) and `tokenizer_config.json`'s
//! `eos_token`.

use std::collections::BTreeSet;
use std::path::Path;

use candle_core::{DType, Device};
use candle_nn::VarBuilder;
use serde_json::Value;

use super::decoder::{CausalDecoder, DecoderWeights, LayerWeights, Projection, RotaryLayout};
use crate::chat_template::ChatTemplate;
use crate::checkpoint::{CONFIG_FILE, CheckpointFolder, TOKENIZER_CONFIG_FILE, TOKENIZER_FILE};
use crate::device::dtype_for;
use crate::error::LocalJudgeError;
use crate::input::TokenizerConfig;
use crate::models::decoder::{DecoderConfig, DecoderLayout, DecoderSettings, decoder_settings};
use crate::models::kernels::{Kernels, RmsNorm};
use crate::models::layers::{ModelSource, RewardLabel, parse_config, read_json_file};
use crate::models::{llama, qwen2, qwen3};
use crate::weights::load_var_builder;

/// `generation_config.json`, where chat checkpoints list their end-of-turn tokens.
pub const GENERATION_CONFIG_FILE: &str = "generation_config.json";

/// A decoder family that generates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CausalArchitecture {
    /// `Qwen2ForCausalLM` (Qwen2, Qwen2.5).
    Qwen2,
    /// `Qwen3ForCausalLM`.
    Qwen3,
    /// `LlamaForCausalLM` (Llama 2 and 3, SmolLM2).
    Llama,
}

impl CausalArchitecture {
    /// Every family, in the order errors list them.
    pub const ALL: [CausalArchitecture; 3] = [
        CausalArchitecture::Qwen2,
        CausalArchitecture::Qwen3,
        CausalArchitecture::Llama,
    ];

    /// The `architectures` entry `transformers` writes.
    pub fn hugging_face_name(self) -> &'static str {
        match self {
            CausalArchitecture::Qwen2 => "Qwen2ForCausalLM",
            CausalArchitecture::Qwen3 => "Qwen3ForCausalLM",
            CausalArchitecture::Llama => "LlamaForCausalLM",
        }
    }

    /// The family `transformers` calls `name`, if it generates here.
    pub fn from_hugging_face_name(name: &str) -> Option<CausalArchitecture> {
        CausalArchitecture::ALL
            .into_iter()
            .find(|architecture| architecture.hugging_face_name() == name)
    }

    fn layout(self, config: &DecoderConfig) -> DecoderLayout {
        match self {
            CausalArchitecture::Qwen2 => qwen2::layout(config),
            CausalArchitecture::Qwen3 => qwen3::layout(config),
            CausalArchitecture::Llama => llama::layout(config),
        }
    }
}

/// Whether a checked folder lists a generating architecture (the first one that does).
pub fn causal_architecture(checkpoint: &CheckpointFolder) -> Option<CausalArchitecture> {
    checkpoint
        .architectures
        .iter()
        .find_map(|name| CausalArchitecture::from_hugging_face_name(name))
}

/// What [`load`] returns: the model and what the chat layer needs from the folder.
pub struct LoadedFolder {
    /// The model.
    pub model: CausalDecoder,
    /// Its family.
    pub architecture: CausalArchitecture,
    /// `tokenizer.json`.
    pub tokenizer: tokenizers::Tokenizer,
    /// The chat template and its source text.
    pub chat_template: (ChatTemplate, String),
    /// End-of-turn token ids.
    pub end_of_turn: BTreeSet<u32>,
    /// The weights' dtype.
    pub dtype: DType,
    /// Number of weight elements.
    pub parameter_count: u64,
}

/// A `*ForCausalLM` folder checked by [`inspect`]: everything but its weights' values.
pub struct CheckedChatFolder {
    /// The folder as checked (safetensors headers, shards, chat template).
    pub checkpoint: CheckpointFolder,
    /// Its family.
    pub architecture: CausalArchitecture,
}

/// Checks a `*ForCausalLM` folder as [`load`] would find it, without reading the weights'
/// values: the checkpoint's files ([`CheckpointFolder::inspect`]), a generating architecture, a
/// tokenizer that loads, a chat template that compiles and an end-of-turn token.
pub fn inspect(folder: &Path) -> Result<CheckedChatFolder, LocalJudgeError> {
    let checkpoint = CheckpointFolder::inspect(folder)?;
    let architecture = generating_architecture(&checkpoint)?;
    let config = read_json_file(&checkpoint.path, CONFIG_FILE)?.unwrap_or(Value::Null);
    chat_parts(&checkpoint, &config)?;
    Ok(CheckedChatFolder {
        checkpoint,
        architecture,
    })
}

fn generating_architecture(
    checkpoint: &CheckpointFolder,
) -> Result<CausalArchitecture, LocalJudgeError> {
    causal_architecture(checkpoint).ok_or_else(|| LocalJudgeError::Config {
        file: checkpoint.path.join(CONFIG_FILE),
        field: "architectures".to_owned(),
        message: format!(
            "{:?} is not a generating architecture (supported: {})",
            checkpoint.architectures,
            CausalArchitecture::ALL
                .map(CausalArchitecture::hugging_face_name)
                .join(", ")
        ),
    })
}

/// Checks and loads a `*ForCausalLM` folder onto `device`.
pub fn load(folder: &Path, device: &Device) -> Result<LoadedFolder, LocalJudgeError> {
    let checkpoint = CheckpointFolder::inspect(folder)?;
    let architecture = generating_architecture(&checkpoint)?;
    let root = checkpoint.path.clone();
    let config_file = root.join(CONFIG_FILE);
    let config = read_json_file(&root, CONFIG_FILE)?.unwrap_or(Value::Null);
    let dtype = dtype_for(device, true);
    let weights = load_var_builder(&checkpoint.weight_files(), dtype, device)?;
    let source = ModelSource {
        config_file: &config_file,
        config: &config,
        weights: weights.clone(),
        reward_label: &RewardLabel::Single,
        kernels: Kernels::Fused,
    };
    let decoder_config: DecoderConfig = parse_config(&source)?;
    let settings = decoder_settings(
        &source,
        &decoder_config,
        architecture.layout(&decoder_config),
    )?;
    let tied = config
        .get("tie_word_embeddings")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let decoder_weights =
        dense_weights(&settings, weights.pp("model"), &weights, tied).map_err(|error| {
            if !tied && !weights.contains_tensor("lm_head.weight") {
                LocalJudgeError::Config {
                    file: config_file.clone(),
                    field: "tie_word_embeddings".to_owned(),
                    message: "false, but the weights have no lm_head.weight".to_owned(),
                }
            } else {
                LocalJudgeError::model(format!("loading the weights of {}", root.display()))(error)
            }
        })?;
    let model = CausalDecoder::new(&settings, decoder_weights, RotaryLayout::HalfSplit)
        .map_err(LocalJudgeError::model("assembling the decoder"))?;

    let (tokenizer, chat_template, end_of_turn) = chat_parts(&checkpoint, &config)?;
    Ok(LoadedFolder {
        model,
        architecture,
        tokenizer,
        chat_template,
        end_of_turn,
        dtype,
        parameter_count: checkpoint.parameter_count(),
    })
}

/// A folder's tokenizer, chat template with its source, and end-of-turn tokens.
type ChatParts = (tokenizers::Tokenizer, (ChatTemplate, String), BTreeSet<u32>);

/// The folder's tokenizer, chat template (with its source) and end-of-turn tokens.
fn chat_parts(checkpoint: &CheckpointFolder, config: &Value) -> Result<ChatParts, LocalJudgeError> {
    let root = &checkpoint.path;
    let tokenizer_file = root.join(TOKENIZER_FILE);
    let tokenizer = tokenizers::Tokenizer::from_file(&tokenizer_file).map_err(|error| {
        LocalJudgeError::Tokenizer {
            file: tokenizer_file.clone(),
            message: error.to_string(),
        }
    })?;
    let tokenizer_config = read_json_file(root, TOKENIZER_CONFIG_FILE)?
        .map(|json| TokenizerConfig::from_json(Path::new(TOKENIZER_CONFIG_FILE), &json))
        .unwrap_or_default();
    let source_text = checkpoint
        .chat_template
        .clone()
        .ok_or_else(|| LocalJudgeError::Config {
            file: root.join(TOKENIZER_CONFIG_FILE),
            field: "chat_template".to_owned(),
            message: "a generative judge needs a chat template (in tokenizer_config.json or chat_template.jinja)".to_owned(),
        })?;
    let template = ChatTemplate::new(
        &source_text,
        tokenizer_config.bos_token.as_deref(),
        tokenizer_config.eos_token.as_deref(),
    )?;
    let end_of_turn = end_of_turn_tokens(root, config, &tokenizer_config, &tokenizer)?;
    Ok((tokenizer, (template, source_text), end_of_turn))
}

/// The decoder's dense weights: the language model's under `model` (`model.*`, or
/// `model.language_model.*` in vision-language checkpoints), the head `lm_head.weight` of
/// `weights`, or the token embedding when `tied`.
pub(crate) fn dense_weights(
    settings: &DecoderSettings,
    model: VarBuilder<'static>,
    weights: &VarBuilder<'static>,
    tied: bool,
) -> candle_core::Result<DecoderWeights> {
    let (hidden, heads, kv_heads, head_dim) = (
        settings.hidden_size,
        settings.num_attention_heads,
        settings.num_key_value_heads,
        settings.head_dim,
    );
    let eps = settings.rms_norm_eps;
    let linear = |input: usize, output: usize, bias: bool, vb: VarBuilder<'static>| {
        candle_nn::linear_b(input, output, bias, vb).map(Projection::Dense)
    };
    let mut layers = Vec::with_capacity(settings.num_hidden_layers);
    for index in 0..settings.num_hidden_layers {
        let layer = model.pp("layers").pp(index);
        let attention = layer.pp("self_attn");
        let mlp = layer.pp("mlp");
        let (q_norm, k_norm) = if settings.qk_norm {
            (
                Some(RmsNorm::load(
                    head_dim,
                    eps,
                    attention.pp("q_norm"),
                    Kernels::Fused,
                )?),
                Some(RmsNorm::load(
                    head_dim,
                    eps,
                    attention.pp("k_norm"),
                    Kernels::Fused,
                )?),
            )
        } else {
            (None, None)
        };
        let intermediate = settings.intermediate_size;
        layers.push(LayerWeights {
            q_proj: linear(
                hidden,
                heads * head_dim,
                settings.qkv_bias,
                attention.pp("q_proj"),
            )?,
            k_proj: linear(
                hidden,
                kv_heads * head_dim,
                settings.qkv_bias,
                attention.pp("k_proj"),
            )?,
            v_proj: linear(
                hidden,
                kv_heads * head_dim,
                settings.qkv_bias,
                attention.pp("v_proj"),
            )?,
            o_proj: linear(
                heads * head_dim,
                hidden,
                settings.output_bias,
                attention.pp("o_proj"),
            )?,
            q_norm,
            k_norm,
            gate_proj: linear(hidden, intermediate, settings.mlp_bias, mlp.pp("gate_proj"))?,
            up_proj: linear(hidden, intermediate, settings.mlp_bias, mlp.pp("up_proj"))?,
            down_proj: linear(intermediate, hidden, settings.mlp_bias, mlp.pp("down_proj"))?,
            input_layernorm: RmsNorm::load(
                hidden,
                eps,
                layer.pp("input_layernorm"),
                Kernels::Fused,
            )?,
            post_attention_layernorm: RmsNorm::load(
                hidden,
                eps,
                layer.pp("post_attention_layernorm"),
                Kernels::Fused,
            )?,
        });
    }
    let embed_tokens = model
        .pp("embed_tokens")
        .get((settings.vocab_size, hidden), "weight")?;
    let lm_head = if tied {
        Projection::Dense(candle_nn::Linear::new(embed_tokens.clone(), None))
    } else {
        linear(hidden, settings.vocab_size, false, weights.pp("lm_head"))?
    };
    Ok(DecoderWeights {
        embed_tokens,
        layers,
        norm: RmsNorm::load(hidden, eps, model.pp("norm"), Kernels::Fused)?,
        lm_head,
    })
}

/// The end-of-turn ids: `eos_token_id` of `config.json` and `generation_config.json` (a number
/// or a list) and the id of `tokenizer_config.json`'s `eos_token`.
pub(crate) fn end_of_turn_tokens(
    root: &Path,
    config: &Value,
    tokenizer_config: &TokenizerConfig,
    tokenizer: &tokenizers::Tokenizer,
) -> Result<BTreeSet<u32>, LocalJudgeError> {
    let mut ids = BTreeSet::new();
    let mut add = |value: Option<&Value>| match value {
        Some(Value::Number(number)) => ids.extend(number.as_u64().map(|id| id as u32)),
        Some(Value::Array(list)) => {
            ids.extend(list.iter().filter_map(Value::as_u64).map(|id| id as u32))
        }
        _ => {}
    };
    add(config.get("eos_token_id"));
    let generation = read_json_file(root, GENERATION_CONFIG_FILE)?;
    add(generation
        .as_ref()
        .and_then(|json| json.get("eos_token_id")));
    if let Some(id) = tokenizer_config
        .eos_token
        .as_deref()
        .and_then(|token| tokenizer.token_to_id(token))
    {
        ids.insert(id);
    }
    if ids.is_empty() {
        return Err(LocalJudgeError::Config {
            file: root.join(CONFIG_FILE),
            field: "eos_token_id".to_owned(),
            message: "no end-of-turn token in config.json, generation_config.json or tokenizer_config.json".to_owned(),
        });
    }
    Ok(ids)
}
