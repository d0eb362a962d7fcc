//! Chat models in one GGUF file (llama.cpp's format): `llama` and `qwen2` architectures, any
//! tensor type candle's quantized matmul runs (F32, F16, Q4_0 … Q8_0 and the k-quants), with the
//! tokenizer ([`super::gguf_tokenizer`]), chat template (`tokenizer.chat_template`) and
//! end-of-turn tokens (`tokenizer.ggml.eos_token_id`, `tokenizer.ggml.eot_token_id`) read from
//! the file's metadata.
//!
//! Matrices stay quantized (`QMatMul`); norms, biases and the token embedding are dequantized to
//! f32, in which the activations run on every device. On the CPU, matrices of a type candle 0.11
//! has no SIMD dot product for (Q4_1, Q5_0, Q5_1: a scalar loop, about 30 times slower; SmolLM2's
//! published GGUF is Q4_1) are dequantized to f32 when they load and multiplied densely: the
//! weights' values stay exact (re-quantizing them to Q8_0, which has a fast kernel, rounded them
//! again and moved SmolLM2's logits twice as far from llama.cpp's), at 8 times the memory of 4-bit
//! weights, which these legacy types only come in for small models ([`needs_requantizing`]). GGUF `llama` files hold query and key rows
//! permuted for interleaved rotary pairs (llama.cpp's converter does this), `qwen2` files do not
//! ([`RotaryLayout`]). Llama 3's frequency scaling is stored as the `rope_freqs.weight` tensor of
//! per-frequency divisors, applied when present.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use candle_core::quantized::gguf_file::Content;
use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{Device, Tensor};

use super::decoder::{CausalDecoder, DecoderWeights, LayerWeights, Projection, RotaryLayout};
use super::gguf_tokenizer::{gguf_error, metadata, tokenizer_from_gguf};
use crate::chat_template::ChatTemplate;
use crate::error::LocalJudgeError;
use crate::models::decoder::DecoderSettings;
use crate::models::kernels::{Kernels, RmsNorm};

/// The extension of GGUF files.
pub const GGUF_EXTENSION: &str = "gguf";

/// Whether `path` names a GGUF file (by extension; the header is checked when it loads).
pub fn is_gguf_path(path: &Path) -> bool {
    path.extension()
        .and_then(|extension| extension.to_str())
        .is_some_and(|extension| extension.eq_ignore_ascii_case(GGUF_EXTENSION))
}

/// What [`load`] returns.
pub struct LoadedGguf {
    /// The model.
    pub model: CausalDecoder,
    /// `general.architecture`.
    pub architecture: String,
    /// The tokenizer rebuilt from the metadata.
    pub tokenizer: tokenizers::Tokenizer,
    /// The chat template and its source text.
    pub chat_template: (ChatTemplate, String),
    /// End-of-turn token ids.
    pub end_of_turn: BTreeSet<u32>,
    /// The tensor types present, by name ("q4_1", "f32").
    pub tensor_types: BTreeSet<String>,
    /// Number of weight elements.
    pub parameter_count: u64,
    /// Tensor types dequantized to f32 for the CPU ([`needs_requantizing`]).
    pub requantized: BTreeSet<String>,
}

struct Reader<'a> {
    content: &'a Content,
    file: &'a Path,
    reader: BufReader<File>,
    device: &'a Device,
    /// Tensor types dequantized to f32 for the CPU.
    requantized: BTreeSet<String>,
}

/// Whether candle 0.11 runs this type's CPU dot product as a scalar loop (no AVX2 or NEON
/// kernel), so that a dense f32 matmul is much faster.
pub fn needs_requantizing(dtype: GgmlDType) -> bool {
    matches!(dtype, GgmlDType::Q4_1 | GgmlDType::Q5_0 | GgmlDType::Q5_1)
}

impl Reader<'_> {
    fn quantized(
        &mut self,
        name: &str,
    ) -> Result<candle_core::quantized::QTensor, LocalJudgeError> {
        self.content
            .tensor(&mut self.reader, name, self.device)
            .map_err(|error| gguf_error(self.file, name, error))
    }

    fn dense(&mut self, name: &str) -> Result<Tensor, LocalJudgeError> {
        self.quantized(name)?
            .dequantize(self.device)
            .map_err(|error| gguf_error(self.file, name, error))
    }

    fn has(&self, name: &str) -> bool {
        self.content.tensor_infos.contains_key(name)
    }

    /// A matrix as `QMatMul` runs it fastest on this device ([`needs_requantizing`]).
    fn matrix(&mut self, qtensor: QTensor, name: &str) -> Result<QMatMul, LocalJudgeError> {
        if self.device.is_cpu() && needs_requantizing(qtensor.dtype()) {
            self.requantized.insert(ggml_type_name(qtensor.dtype()));
            let dense = qtensor
                .dequantize(self.device)
                .map_err(|error| gguf_error(self.file, name, error))?;
            return Ok(QMatMul::Tensor(dense));
        }
        QMatMul::from_qtensor(qtensor).map_err(|error| gguf_error(self.file, name, error))
    }

    fn projection(&mut self, name: &str, bias: bool) -> Result<Projection, LocalJudgeError> {
        let weight_name = format!("{name}.weight");
        let qtensor = self.quantized(&weight_name)?;
        let weight = self.matrix(qtensor, &weight_name)?;
        let bias_name = format!("{name}.bias");
        let bias = if bias || self.has(&bias_name) {
            Some(self.dense(&bias_name)?)
        } else {
            None
        };
        Ok(Projection::Quantized { weight, bias })
    }

    fn norm(&mut self, name: &str, eps: f64) -> Result<RmsNorm, LocalJudgeError> {
        let weight = self.dense(&format!("{name}.weight"))?;
        let size = weight.elem_count();
        let mut tensors = std::collections::HashMap::new();
        tensors.insert("weight".to_owned(), weight);
        let builder =
            candle_nn::VarBuilder::from_tensors(tensors, candle_core::DType::F32, self.device);
        RmsNorm::load(size, eps, builder, Kernels::Fused)
            .map_err(|error| gguf_error(self.file, name, error))
    }

    fn number(&self, key: &str) -> Result<f64, LocalJudgeError> {
        let value = metadata(self.content, self.file, key)?;
        value
            .to_u32()
            .map(f64::from)
            .or_else(|_| value.to_f32().map(f64::from))
            .or_else(|_| value.to_u64().map(|number| number as f64))
            .map_err(|error| gguf_error(self.file, key, error))
    }

    fn optional_number(&self, key: &str) -> Result<Option<f64>, LocalJudgeError> {
        if self.content.metadata.contains_key(key) {
            self.number(key).map(Some)
        } else {
            Ok(None)
        }
    }

    fn optional_string(&self, key: &str) -> Result<Option<String>, LocalJudgeError> {
        match self.content.metadata.get(key) {
            None => Ok(None),
            Some(value) => value
                .to_string()
                .cloned()
                .map(Some)
                .map_err(|error| gguf_error(self.file, key, error)),
        }
    }
}

/// Loads a GGUF chat model onto `device`.
pub fn load(file: &Path, device: &Device) -> Result<LoadedGguf, LocalJudgeError> {
    let opened = File::open(file).map_err(|source| crate::checkpoint::CheckpointError::Io {
        file: file.to_path_buf(),
        source,
    })?;
    let mut reader = BufReader::new(opened);
    let content =
        Content::read(&mut reader).map_err(|error| gguf_error(file, "(header)", error))?;
    let mut reader = Reader {
        content: &content,
        file,
        reader,
        device,
        requantized: BTreeSet::new(),
    };
    let (architecture, rotary_layout) = supported_architecture(&reader)?;
    let key = |name: &str| format!("{architecture}.{name}");
    let count =
        |name: &str| -> Result<usize, LocalJudgeError> { Ok(reader.number(&key(name))? as usize) };
    let hidden = count("embedding_length")?;
    let heads = count("attention.head_count")?;
    let kv_heads = match reader.optional_number(&key("attention.head_count_kv"))? {
        Some(kv) => kv as usize,
        None => heads,
    };
    let layers = count("block_count")?;
    let intermediate = count("feed_forward_length")?;
    let head_dim = match reader.optional_number(&key("attention.key_length"))? {
        Some(length) => length as usize,
        None => hidden / heads.max(1),
    };
    let rotary_dims = match reader.optional_number(&key("rope.dimension_count"))? {
        Some(dims) => dims as usize,
        None => head_dim,
    };
    if rotary_dims != head_dim || head_dim % 2 != 0 {
        return Err(gguf_error(
            file,
            &key("rope.dimension_count"),
            format!(
                "partial or odd rotary dimensions ({rotary_dims} of {head_dim}) are not supported"
            ),
        ));
    }
    let eps = reader.number(&key("attention.layer_norm_rms_epsilon"))?;
    let base = reader
        .optional_number(&key("rope.freq_base"))?
        .unwrap_or(10_000.0) as f32;
    let context = reader
        .optional_number(&key("context_length"))?
        .unwrap_or(4096.0) as usize;
    let mut inverse_frequencies: Vec<f32> = (0..head_dim)
        .step_by(2)
        .map(|index| 1.0 / base.powf(index as f32 / head_dim as f32))
        .collect();
    if reader.has("rope_freqs.weight") {
        let factors = reader
            .dense("rope_freqs.weight")?
            .to_vec1::<f32>()
            .map_err(|error| gguf_error(file, "rope_freqs.weight", error))?;
        if factors.len() != inverse_frequencies.len() {
            return Err(gguf_error(
                file,
                "rope_freqs.weight",
                format!(
                    "{} factors for {} frequencies",
                    factors.len(),
                    inverse_frequencies.len()
                ),
            ));
        }
        for (frequency, factor) in inverse_frequencies.iter_mut().zip(factors) {
            *frequency /= factor;
        }
    }
    let qkv_bias = architecture == "qwen2";
    let token_embd = reader.quantized("token_embd.weight")?;
    let (vocab, _) = token_embd
        .shape()
        .dims2()
        .map_err(|error| gguf_error(file, "token_embd.weight", error))?;
    let settings = DecoderSettings {
        vocab_size: vocab,
        hidden_size: hidden,
        intermediate_size: intermediate,
        num_hidden_layers: layers,
        num_attention_heads: heads,
        num_key_value_heads: kv_heads,
        head_dim,
        rms_norm_eps: eps,
        qkv_bias,
        output_bias: false,
        mlp_bias: false,
        qk_norm: false,
        inverse_frequencies,
        max_position_embeddings: context,
    };
    let mut layer_weights = Vec::with_capacity(layers);
    for index in 0..layers {
        let prefix = format!("blk.{index}");
        layer_weights.push(LayerWeights {
            q_proj: reader.projection(&format!("{prefix}.attn_q"), qkv_bias)?,
            k_proj: reader.projection(&format!("{prefix}.attn_k"), qkv_bias)?,
            v_proj: reader.projection(&format!("{prefix}.attn_v"), qkv_bias)?,
            o_proj: reader.projection(&format!("{prefix}.attn_output"), false)?,
            q_norm: None,
            k_norm: None,
            gate_proj: reader.projection(&format!("{prefix}.ffn_gate"), false)?,
            up_proj: reader.projection(&format!("{prefix}.ffn_up"), false)?,
            down_proj: reader.projection(&format!("{prefix}.ffn_down"), false)?,
            input_layernorm: reader.norm(&format!("{prefix}.attn_norm"), eps)?,
            post_attention_layernorm: reader.norm(&format!("{prefix}.ffn_norm"), eps)?,
        });
    }
    let embed_tokens = token_embd
        .dequantize(device)
        .map_err(|error| gguf_error(file, "token_embd.weight", error))?;
    let lm_head = if reader.has("output.weight") {
        reader.projection("output", false)?
    } else {
        Projection::Quantized {
            weight: reader.matrix(token_embd, "token_embd.weight")?,
            bias: None,
        }
    };
    let weights = DecoderWeights {
        embed_tokens,
        layers: layer_weights,
        norm: reader.norm("output_norm", eps)?,
        lm_head,
    };
    let model = CausalDecoder::new(&settings, weights, rotary_layout).map_err(
        LocalJudgeError::model(format!("assembling {}", file.display())),
    )?;

    let chat = chat_parts(&reader)?;
    Ok(LoadedGguf {
        model,
        architecture,
        tokenizer: chat.tokenizer,
        chat_template: chat.template,
        end_of_turn: chat.end_of_turn,
        tensor_types: tensor_types(&content),
        parameter_count: parameter_count(&content),
        requantized: reader.requantized,
    })
}

/// What [`inspect`] finds in a GGUF file without reading its tensors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GgufSummary {
    /// `general.architecture` (`llama` or `qwen2`).
    pub architecture: String,
    /// The tensor types present, by name.
    pub tensor_types: BTreeSet<String>,
    /// Number of weight elements.
    pub parameter_count: u64,
}

/// Checks a GGUF chat model from its header and metadata alone, as [`load`] would find them: a
/// supported architecture, the hyperparameters, every tensor the decoder reads, and a tokenizer,
/// chat template and end-of-turn token that build. Reads no tensor data, so an upload is refused
/// (or accepted) before anything large is loaded.
pub fn inspect(file: &Path) -> Result<GgufSummary, LocalJudgeError> {
    let opened = File::open(file).map_err(|source| crate::checkpoint::CheckpointError::Io {
        file: file.to_path_buf(),
        source,
    })?;
    let mut reader = BufReader::new(opened);
    let content =
        Content::read(&mut reader).map_err(|error| gguf_error(file, "(header)", error))?;
    let reader = Reader {
        content: &content,
        file,
        reader,
        device: &Device::Cpu,
        requantized: BTreeSet::new(),
    };
    let (architecture, _) = supported_architecture(&reader)?;
    let key = |name: &str| format!("{architecture}.{name}");
    for name in [
        "embedding_length",
        "attention.head_count",
        "block_count",
        "feed_forward_length",
        "attention.layer_norm_rms_epsilon",
    ] {
        reader.number(&key(name))?;
    }
    let layers = reader.number(&key("block_count"))? as usize;
    let mut required = vec![
        "token_embd.weight".to_owned(),
        "output_norm.weight".to_owned(),
    ];
    for index in 0..layers {
        for tensor in [
            "attn_q",
            "attn_k",
            "attn_v",
            "attn_output",
            "ffn_gate",
            "ffn_up",
            "ffn_down",
            "attn_norm",
            "ffn_norm",
        ] {
            required.push(format!("blk.{index}.{tensor}.weight"));
        }
    }
    if let Some(missing) = required.iter().find(|name| !reader.has(name)) {
        return Err(gguf_error(file, missing, "tensor missing"));
    }
    chat_parts(&reader)?;
    Ok(GgufSummary {
        architecture,
        tensor_types: tensor_types(&content),
        parameter_count: parameter_count(&content),
    })
}

/// `general.architecture` when the decoder supports it, with its rotary layout.
fn supported_architecture(reader: &Reader<'_>) -> Result<(String, RotaryLayout), LocalJudgeError> {
    let file = reader.file;
    let architecture = reader
        .optional_string("general.architecture")?
        .ok_or_else(|| gguf_error(file, "general.architecture", "missing"))?;
    let rotary_layout = match architecture.as_str() {
        "llama" => RotaryLayout::Interleaved,
        "qwen2" => RotaryLayout::HalfSplit,
        other => {
            return Err(gguf_error(
                file,
                "general.architecture",
                format!("{other:?} is not supported (supported: llama, qwen2)"),
            ));
        }
    };
    Ok((architecture, rotary_layout))
}

/// The tokenizer, chat template and end-of-turn tokens of a GGUF file's metadata.
struct ChatParts {
    tokenizer: tokenizers::Tokenizer,
    template: (ChatTemplate, String),
    end_of_turn: BTreeSet<u32>,
}

fn chat_parts(reader: &Reader<'_>) -> Result<ChatParts, LocalJudgeError> {
    let file = reader.file;
    let tokenizer = tokenizer_from_gguf(reader.content, file)?;
    let template_key = "tokenizer.chat_template";
    let template_source = reader.optional_string(template_key)?.ok_or_else(|| {
        gguf_error(
            file,
            template_key,
            "missing: a generative judge needs a chat template",
        )
    })?;
    let token_text = |key: &str| -> Result<Option<String>, LocalJudgeError> {
        Ok(reader
            .optional_number(key)?
            .and_then(|id| tokenizer.id_to_token(id as u32)))
    };
    let bos = token_text("tokenizer.ggml.bos_token_id")?;
    let eos = token_text("tokenizer.ggml.eos_token_id")?;
    let template = ChatTemplate::new(&template_source, bos.as_deref(), eos.as_deref())?;
    let mut end_of_turn = BTreeSet::new();
    for key in ["tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id"] {
        if let Some(id) = reader.optional_number(key)? {
            end_of_turn.insert(id as u32);
        }
    }
    if end_of_turn.is_empty() {
        return Err(gguf_error(
            file,
            "tokenizer.ggml.eos_token_id",
            "missing: no end-of-turn token",
        ));
    }
    Ok(ChatParts {
        tokenizer,
        template: (template, template_source),
        end_of_turn,
    })
}

fn tensor_types(content: &Content) -> BTreeSet<String> {
    content
        .tensor_infos
        .values()
        .map(|info| ggml_type_name(info.ggml_dtype))
        .collect()
}

fn parameter_count(content: &Content) -> u64 {
    content
        .tensor_infos
        .values()
        .map(|info| info.shape.elem_count() as u64)
        .sum()
}

fn ggml_type_name(dtype: GgmlDType) -> String {
    format!("{dtype:?}").to_lowercase()
}
