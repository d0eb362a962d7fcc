//! The building blocks model files share and that know no family: what a model is built from
//! ([`ModelSource`], [`RewardLabel`]), the checkpoint's JSON files, `config.json` adapters and
//! errors, the activations `transformers` names, pooling ([`masked_mean`], `reward_column`) and
//! [`l2_normalize`].
//!
//! It lives in `models/` because model files are its users (`judge` and the image preprocessor
//! take only `read_json_file` and [`config_error`]), and it imports no model file,
//! `models/mod.rs` or `judge`: every arrow points one way, model files → `layers`, `models`
//! (dispatch) → model files, `judge` → `models`.

use std::fs;
use std::path::Path;

use candle_core::{D, DType, Tensor};
use candle_nn::VarBuilder;
use serde_json::Value;

use super::kernels::Kernels;
use super::vectorised;
use crate::checkpoint::CheckpointError;
use crate::error::LocalJudgeError;

/// Everything a model file needs to build itself.
pub struct ModelSource<'a> {
    /// `config.json`, for error messages.
    pub config_file: &'a Path,
    /// `config.json`, parsed.
    pub config: &'a Value,
    /// The weights, already on the device and in the dtype the model runs in.
    pub weights: VarBuilder<'static>,
    /// Which head output is the reward.
    pub reward_label: &'a RewardLabel,
    /// Fused kernels (scoring) or differentiable compositions (training every weight).
    pub kernels: Kernels,
}

/// Which output of a multi-label classification head is the reward.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum RewardLabel {
    /// The head must have exactly one output.
    #[default]
    Single,
    /// Output number N.
    Index(usize),
    /// The output whose `id2label` name is this.
    Name(String),
}

impl RewardLabel {
    /// The output index to read from a head with `num_labels` outputs, resolving names through
    /// `config.json`'s `id2label`.
    pub fn resolve(
        &self,
        file: &Path,
        config: &Value,
        num_labels: usize,
    ) -> Result<usize, LocalJudgeError> {
        let error = |message: String| config_error(file, "num_labels", message);
        match self {
            RewardLabel::Single if num_labels == 1 => Ok(0),
            RewardLabel::Single => Err(error(format!(
                "the head has {num_labels} outputs; choose the reward with --reward-label NAME or INDEX"
            ))),
            RewardLabel::Index(index) if *index < num_labels => Ok(*index),
            RewardLabel::Index(index) => Err(error(format!(
                "reward label {index} is out of range for {num_labels} outputs"
            ))),
            RewardLabel::Name(name) => config
                .get("id2label")
                .and_then(Value::as_object)
                .and_then(|labels| {
                    labels
                        .iter()
                        .find(|(_, label)| label.as_str() == Some(name))
                        .and_then(|(index, _)| index.parse::<usize>().ok())
                })
                .filter(|index| *index < num_labels)
                .ok_or_else(|| error(format!("no output is labelled {name:?} in id2label"))),
        }
    }
}

/// A config error about `field` of `file` (`config.json`, or the image preprocessor's file): the
/// one constructor every reader of checkpoint settings uses.
pub fn config_error(file: &Path, field: &str, message: impl Into<String>) -> LocalJudgeError {
    LocalJudgeError::Config {
        file: file.to_path_buf(),
        field: field.to_owned(),
        message: message.into(),
    }
}

/// Every `*.safetensors` file of `folder` in name order (a value head file among them): the
/// weights of a model loaded from a folder that was not checked first.
pub fn safetensors_files(folder: &Path) -> Result<Vec<std::path::PathBuf>, LocalJudgeError> {
    let mut files: Vec<_> = std::fs::read_dir(folder)
        .map_err(|error| config_error(folder, "(folder)", format!("cannot be listed: {error}")))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "safetensors")
        })
        .collect();
    files.sort();
    Ok(files)
}

/// `folder/config.json` parsed, with its path (for errors).
pub fn read_config(folder: &Path) -> Result<(std::path::PathBuf, Value), LocalJudgeError> {
    let config_file = folder.join("config.json");
    let text = std::fs::read_to_string(&config_file).map_err(|error| {
        config_error(&config_file, "(file)", format!("cannot be read: {error}"))
    })?;
    let config = serde_json::from_str(&text)
        .map_err(|error| config_error(&config_file, "(file)", error.to_string()))?;
    Ok((config_file, config))
}

/// The model's weights among a folder's files: all but the value head file, which the head
/// reads itself.
pub fn model_weight_files(files: &[std::path::PathBuf]) -> Vec<&std::path::PathBuf> {
    files
        .iter()
        .filter(|path| {
            path.file_name()
                .is_some_and(|name| name != crate::checkpoint::VALUE_HEAD_FILE)
        })
        .collect()
}

/// Reads the JSON file `name` of the checkpoint `folder` (`config.json`, the tokenizer's or the
/// image preprocessor's settings): `None` when it is absent, a config error naming the file when
/// it does not parse.
pub(crate) fn read_json_file(folder: &Path, name: &str) -> Result<Option<Value>, LocalJudgeError> {
    let file = folder.join(name);
    let text = match fs::read_to_string(&file) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(CheckpointError::Io { file, source }.into()),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|error| config_error(Path::new(name), "(file)", error.to_string()))
}

/// Reads a required config field as a deserializable value, naming the field on failure.
pub fn config_field<T: serde::de::DeserializeOwned>(
    source: &ModelSource<'_>,
    field: &str,
) -> Result<T, LocalJudgeError> {
    let value = source
        .config
        .get(field)
        .cloned()
        .ok_or_else(|| config_error(source.config_file, field, "missing"))?;
    serde_json::from_value(value)
        .map_err(|error| config_error(source.config_file, field, error.to_string()))
}

/// Deserializes the whole config into an architecture's candle config struct, naming the file.
pub fn parse_config<T: serde::de::DeserializeOwned>(
    source: &ModelSource<'_>,
) -> Result<T, LocalJudgeError> {
    parse_value(source, source.config.clone())
}

/// Deserializes `config` (the whole `config.json`, possibly with defaults filled in) into a config
/// struct, naming the file and `(config)` on failure.
pub(crate) fn parse_value<T: serde::de::DeserializeOwned>(
    source: &ModelSource<'_>,
    config: Value,
) -> Result<T, LocalJudgeError> {
    serde_json::from_value(config)
        .map_err(|error| config_error(source.config_file, "(config)", error.to_string()))
}

/// Reads the section `name` of `config.json` (an empty object when missing, so that every field
/// takes `transformers`' default), naming the section in errors.
pub(crate) fn config_section<T: serde::de::DeserializeOwned>(
    source: &ModelSource<'_>,
    name: &str,
) -> Result<T, LocalJudgeError> {
    let section = match source.config.get(name) {
        None | Some(Value::Null) => Value::Object(Default::default()),
        Some(section) => section.clone(),
    };
    serde_json::from_value(section)
        .map_err(|error| config_error(source.config_file, name, error.to_string()))
}

/// A copy of `config` where every field of `defaults` that is missing or null has the default.
pub(crate) fn config_with_defaults(config: &Value, defaults: &[(&str, Value)]) -> Value {
    let mut config = match config {
        Value::Object(_) => config.clone(),
        _ => Value::Object(serde_json::Map::new()),
    };
    if let Value::Object(fields) = &mut config {
        for (name, value) in defaults {
            let missing = fields.get(*name).is_none_or(Value::is_null);
            if missing {
                fields.insert((*name).to_owned(), value.clone());
            }
        }
    }
    config
}

/// The number of outputs of a classification head: `num_labels`, else the size of `id2label`,
/// else 2 (the `transformers` default).
pub fn num_labels(config: &Value) -> usize {
    config
        .get("num_labels")
        .and_then(Value::as_u64)
        .map(|count| count as usize)
        .or_else(|| {
            config
                .get("id2label")
                .and_then(Value::as_object)
                .map(|labels| labels.len())
        })
        .unwrap_or(2)
}

/// The number of head outputs and the index of the reward among them.
pub(crate) fn reward_index(source: &ModelSource<'_>) -> Result<(usize, usize), LocalJudgeError> {
    let labels = num_labels(source.config);
    let index = source
        .reward_label
        .resolve(source.config_file, source.config, labels)?;
    Ok((labels, index))
}

/// Column `index` of logits `[rows, labels]`, as f32 `[rows]`.
pub(crate) fn reward_column(logits: &Tensor, index: usize) -> candle_core::Result<Tensor> {
    logits
        .narrow(D::Minus1, index, 1)?
        .squeeze(D::Minus1)?
        .to_dtype(DType::F32)
}

/// Mean over the sequence of `hidden` `[rows, length, dim]`, counting only unmasked positions.
pub fn masked_mean(hidden: &Tensor, attention_mask: &Tensor) -> candle_core::Result<Tensor> {
    let mask = attention_mask
        .to_dtype(hidden.dtype())?
        .unsqueeze(D::Minus1)?;
    let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
    let counts = mask.sum(1)?.clamp(1e-9, f64::MAX)?;
    summed.broadcast_div(&counts)
}

/// Divides each row by its L2 norm.
pub fn l2_normalize(rows: &Tensor) -> candle_core::Result<Tensor> {
    let norms = rows
        .sqr()?
        .sum_keepdim(D::Minus1)?
        .sqrt()?
        .clamp(1e-12, f64::MAX)?;
    rows.broadcast_div(&norms)
}

/// The value masked attention scores get: half the most negative finite value of `dtype`
/// (`transformers` uses the whole of it, `torch.finfo(dtype).min`). Any such value makes the
/// masked probabilities exactly zero; the halving leaves headroom so that adding a score to it
/// never rounds to `-inf` in half precision, which would turn a fully masked row into NaN, and a
/// finite value times a mask's zero is zero (`f32::MIN` rounded to bf16 or f16 is `-inf`, and
/// `0 × -inf` is NaN: candle-transformers' BERT in half precision).
pub(crate) fn mask_fill_value(dtype: DType) -> f64 {
    let most_negative = match dtype {
        DType::F16 => -65_504.0,
        DType::BF16 => -3.389_531_389_251_535_5e38,
        _ => f64::from(f32::MIN),
    };
    most_negative / 2.0
}

/// An activation as `transformers` names it in configs (`ACT2FN`), for the heads and layers of
/// the text families this crate builds itself (BERT, DeBERTa-v2, ModernBERT). CLIP and SigLIP
/// read theirs with serde ([`super::clip`]), as their sections default field by field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Activation {
    /// `gelu`: the exact (erf) GELU.
    Gelu,
    /// `gelu_new`, `gelu_pytorch_tanh`, `gelu_fast`: the tanh approximation.
    GeluTanh,
    /// `relu`.
    Relu,
    /// `silu` or `swish`.
    Silu,
    /// `quick_gelu`: `x · sigmoid(1.702 x)` (CLIP's and Qwen2-VL's vision towers).
    QuickGelu,
    /// `tanh`.
    Tanh,
    /// `sigmoid`.
    Sigmoid,
    /// `linear`: the identity.
    Identity,
}

impl Activation {
    /// The activation `transformers` calls `name`; `field` names the config field in errors.
    pub(crate) fn from_name(
        source: &ModelSource<'_>,
        field: &str,
        name: &str,
    ) -> Result<Activation, LocalJudgeError> {
        match name {
            "gelu" => Ok(Activation::Gelu),
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Ok(Activation::GeluTanh),
            "relu" => Ok(Activation::Relu),
            "silu" | "swish" => Ok(Activation::Silu),
            "quick_gelu" => Ok(Activation::QuickGelu),
            "tanh" => Ok(Activation::Tanh),
            "sigmoid" => Ok(Activation::Sigmoid),
            "linear" => Ok(Activation::Identity),
            other => Err(config_error(
                source.config_file,
                field,
                format!(
                    "activation {other:?} is not supported (gelu, gelu_new, \
                     gelu_pytorch_tanh, gelu_fast, relu, silu, swish, quick_gelu, tanh, sigmoid, linear)"
                ),
            )),
        }
    }

    /// Reads the activation named by `field` of the config, `default` when absent.
    pub(crate) fn from_config(
        source: &ModelSource<'_>,
        field: &str,
        default: &str,
    ) -> Result<Activation, LocalJudgeError> {
        let name = source
            .config
            .get(field)
            .and_then(Value::as_str)
            .unwrap_or(default);
        Activation::from_name(source, field, name)
    }

    /// Applies the activation.
    pub(crate) fn forward(self, xs: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Activation::Gelu => vectorised::gelu_erf(xs),
            Activation::GeluTanh => vectorised::gelu_tanh(xs),
            Activation::Relu => xs.relu(),
            Activation::Silu => vectorised::silu(xs),
            Activation::QuickGelu => vectorised::quick_gelu(xs),
            Activation::Tanh => xs.tanh(),
            Activation::Sigmoid => candle_nn::ops::sigmoid(xs),
            Activation::Identity => Ok(xs.clone()),
        }
    }
}
