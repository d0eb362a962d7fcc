//! [`ChatModel`]: a generating checkpoint loaded with its tokenizer, chat template and
//! end-of-turn tokens, from a `*ForCausalLM` folder or a GGUF file; the generation engine's entry
//! point.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};
use tokenizers::Tokenizer;

use super::CausalLanguageModel;
use super::decoder::CausalDecoder;
use super::engine::{Batching, Generated, GenerationRequest, StopRules, generate};
use super::sampling::DecodingOptions;
use super::vision_language_folder::is_generative_vision_language_checkpoint;
use super::{folder, gguf};
use crate::chat_template::ChatTemplate;
use crate::checkpoint::{CONFIG_FILE, CheckpointFolder};
use crate::device::{DeviceChoice, device_name};
use crate::error::LocalJudgeError;
use crate::models::layers::read_json_file;
use crate::models::qwen2_vl::chat_template_source;

/// Where a chat model's weights come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelFormat {
    /// A Hugging Face folder of safetensors weights.
    Safetensors,
    /// One GGUF file.
    Gguf,
}

/// What a loaded chat model is, for run records and reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChatModelDescription {
    /// Folder or GGUF file.
    pub format: ModelFormat,
    /// `Qwen2ForCausalLM`, … for folders; `general.architecture` (`llama`, `qwen2`) for GGUF.
    pub architecture: String,
    /// `cpu` or `cuda:N`.
    pub device: String,
    /// The activations' dtype.
    pub dtype: String,
    /// The weights' tensor types (GGUF: `q4_1`, `f32`, …; folders: the activations' dtype).
    pub tensor_types: Vec<String>,
    /// Number of weight elements.
    pub parameter_count: u64,
    /// GGUF tensor types dequantized to f32 for the CPU, which has no fast kernel for them.
    pub dequantized_for_cpu: Vec<String>,
    /// SHA-256 of the chat template's source.
    pub chat_template_sha256: String,
    /// Prompt plus answer tokens at most.
    pub max_positions: usize,
}

/// A loaded chat model.
pub struct ChatModel {
    model: CausalDecoder,
    tokenizer: Tokenizer,
    template: ChatTemplate,
    end_of_turn: BTreeSet<u32>,
    description: ChatModelDescription,
    path: PathBuf,
}

/// Whether `path` is a checkpoint the generation engine loads: a `.gguf` file, a folder whose
/// `config.json` lists a `*ForCausalLM` architecture it supports, or a Qwen2-VL / Qwen2.5-VL
/// folder without a reward head ([`is_generative_vision_language_checkpoint`]). Decided from the
/// file name, `config.json` and weight headers only, before anything loads.
pub fn is_generative_checkpoint(path: &Path) -> bool {
    if path.is_file() {
        return gguf::is_gguf_path(path);
    }
    if is_generative_vision_language_checkpoint(path) {
        return true;
    }
    let Ok(Some(config)) = read_json_file(path, CONFIG_FILE) else {
        return false;
    };
    config
        .get("architectures")
        .and_then(serde_json::Value::as_array)
        .is_some_and(|names| {
            names
                .iter()
                .filter_map(serde_json::Value::as_str)
                .any(|name| folder::CausalArchitecture::from_hugging_face_name(name).is_some())
        })
}

/// A generative checkpoint checked by [`inspect_generative_checkpoint`] without loading it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedChatCheckpoint {
    /// Folder or GGUF file.
    pub format: ModelFormat,
    /// The name [`ChatModelDescription::architecture`] will have once it loads.
    pub architecture: String,
    /// Number of weight elements.
    pub parameter_count: u64,
    /// The folder (canonicalized) or the GGUF file.
    pub path: PathBuf,
    /// The files whose bytes are the weights, in name order (a GGUF file: itself).
    pub weight_files: Vec<PathBuf>,
}

/// Checks what [`super::generative_model::GenerativeModel::load`] would load at `path`, reading
/// headers and metadata only: a `*ForCausalLM` folder ([`folder::inspect`]), a GGUF file
/// ([`gguf::inspect`]) or a vision-language folder without a reward head (checked by
/// [`CheckpointFolder::inspect`], its chat template required). Blocking.
pub fn inspect_generative_checkpoint(
    path: &Path,
) -> Result<CheckedChatCheckpoint, LocalJudgeError> {
    if path.is_file() {
        if !gguf::is_gguf_path(path) {
            return Err(not_a_chat_checkpoint(path));
        }
        let summary = gguf::inspect(path)?;
        return Ok(CheckedChatCheckpoint {
            format: ModelFormat::Gguf,
            architecture: summary.architecture,
            parameter_count: summary.parameter_count,
            path: path.to_path_buf(),
            weight_files: vec![path.to_path_buf()],
        });
    }
    if is_generative_vision_language_checkpoint(path) {
        let checkpoint = CheckpointFolder::inspect(path)?;
        // Its template renders every judge prompt: without one it cannot judge.
        chat_template_source(&checkpoint.path)?;
        return Ok(CheckedChatCheckpoint {
            format: ModelFormat::Safetensors,
            architecture: checkpoint.architecture().unwrap_or_default().to_owned(),
            parameter_count: checkpoint.parameter_count(),
            weight_files: checkpoint.weight_files(),
            path: checkpoint.path,
        });
    }
    let checked = folder::inspect(path)?;
    Ok(CheckedChatCheckpoint {
        format: ModelFormat::Safetensors,
        architecture: checked.architecture.hugging_face_name().to_owned(),
        parameter_count: checked.checkpoint.parameter_count(),
        weight_files: checked.checkpoint.weight_files(),
        path: checked.checkpoint.path,
    })
}

fn not_a_chat_checkpoint(path: &Path) -> LocalJudgeError {
    LocalJudgeError::Input {
        message: format!(
            "{}: a generative checkpoint is a folder or a .gguf file",
            path.display()
        ),
    }
}

impl ChatModel {
    /// Loads a `*ForCausalLM` folder or a `.gguf` file on the chosen device (f32 on the CPU;
    /// bf16 on CUDA for folders, f32 activations over quantized weights for GGUF).
    pub fn load(path: &Path, device: DeviceChoice) -> Result<ChatModel, LocalJudgeError> {
        let device = device.open()?;
        if path.is_file() {
            if !gguf::is_gguf_path(path) {
                return Err(not_a_chat_checkpoint(path));
            }
            let loaded = gguf::load(path, &device)?;
            let description = ChatModelDescription {
                format: ModelFormat::Gguf,
                architecture: loaded.architecture,
                device: device_name(&device),
                dtype: "f32".to_owned(),
                tensor_types: loaded.tensor_types.into_iter().collect(),
                parameter_count: loaded.parameter_count,
                dequantized_for_cpu: loaded.requantized.into_iter().collect(),
                chat_template_sha256: sha256_hex(&loaded.chat_template.1),
                max_positions: loaded.model.max_positions(),
            };
            return Ok(ChatModel {
                model: loaded.model,
                tokenizer: loaded.tokenizer,
                template: loaded.chat_template.0,
                end_of_turn: loaded.end_of_turn,
                description,
                path: path.to_path_buf(),
            });
        }
        let loaded = folder::load(path, &device)?;
        let dtype = loaded.dtype.as_str().to_owned();
        let description = ChatModelDescription {
            format: ModelFormat::Safetensors,
            architecture: loaded.architecture.hugging_face_name().to_owned(),
            device: device_name(&device),
            dtype: dtype.clone(),
            tensor_types: vec![dtype],
            parameter_count: loaded.parameter_count,
            dequantized_for_cpu: Vec::new(),
            chat_template_sha256: sha256_hex(&loaded.chat_template.1),
            max_positions: loaded.model.max_positions(),
        };
        Ok(ChatModel {
            model: loaded.model,
            tokenizer: loaded.tokenizer,
            template: loaded.chat_template.0,
            end_of_turn: loaded.end_of_turn,
            description,
            path: CheckpointFolder::inspect(path)
                .map(|checkpoint| checkpoint.path)
                .unwrap_or_else(|_| path.to_path_buf()),
        })
    }

    /// What the model is.
    pub fn description(&self) -> &ChatModelDescription {
        &self.description
    }

    /// The folder or file it was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// The model, for tests and benchmarks that drive it directly.
    pub fn model(&self) -> &dyn CausalLanguageModel {
        &self.model
    }

    /// End-of-turn token ids.
    pub fn end_of_turn(&self) -> &BTreeSet<u32> {
        &self.end_of_turn
    }

    /// The chat prompt `[system, user]` with the generation prompt, rendered and tokenized (the
    /// template writes any special tokens itself, so none are added).
    pub fn prompt(&self, system: Option<&str>, user: &str) -> Result<Vec<u32>, LocalJudgeError> {
        let text = self.template.render_generation_prompt(system, user)?;
        self.encode(&text)
    }

    /// Tokenizes text as it is (special tokens in it are matched, none added).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, LocalJudgeError> {
        self.tokenizer
            .encode(text, false)
            .map(|encoding| encoding.get_ids().to_vec())
            .map_err(|error| LocalJudgeError::Tokenizer {
                file: self.path.clone(),
                message: error.to_string(),
            })
    }

    /// Generates an answer for each request (see [`generate`]).
    pub fn generate(
        &self,
        requests: &[GenerationRequest],
        decoding: &DecodingOptions,
        batching: Batching,
        on_finished: &mut dyn FnMut(usize, &Generated) -> Result<(), LocalJudgeError>,
    ) -> Result<Vec<Generated>, LocalJudgeError> {
        let stop = StopRules {
            end_of_turn: self.end_of_turn.clone(),
        };
        generate(
            &self.model,
            &self.tokenizer,
            requests,
            decoding,
            &stop,
            batching,
            on_finished,
        )
    }
}

pub(super) fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}
