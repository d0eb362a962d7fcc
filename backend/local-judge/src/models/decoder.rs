//! The causal decoder shared by Qwen2, Qwen3 and Llama, and the `score` head `transformers` puts
//! on it for `*ForSequenceClassification`: a linear layer without bias (hidden → num_labels)
//! read at each row's last real token.
//!
//! The layout follows candle-transformers' `qwen2`, `qwen3` and `llama` (embedding, pre-norm
//! layers of grouped-query attention with rotary positions and a SwiGLU MLP, final RMSNorm),
//! written here rather than used from there because those models cannot score a batch: they keep
//! a KV cache behind `&mut self`, return only language-model logits at the last position of the
//! padded batch (llama), build a bidirectional mask from an attention mask (qwen2), compute
//! rotary tables in the model dtype (qwen2, inexact in bf16 past position 256) and require config
//! fields that real checkpoints leave out or set to null. The three families differ only in
//! switches ([`DecoderSettings`]): attention biases, Qwen3's per-head q/k norms, the head size and
//! the rotary frequencies (with Llama 3's scaling).
//!
//! Attention is causal with positions `0..len` for every row: batches are right-padded, so the
//! padding after a row's last real token never reaches it. On the CPU in f32 it runs candle's
//! fused causal kernel (memory linear in the length); elsewhere a matmul over the whole square
//! with the softmax in f32, as `transformers`' eager attention does in half precision. On the CPU
//! the projections, norms and MLP run on the batch's real tokens only ([`Unpadding`]), and the
//! last layer computes its output for each row's last token alone (all that the head reads).

use candle_core::{D, DType, Device, Module, Tensor};
use candle_nn::attention::{AttnMask, flash_attn};
use candle_nn::{Embedding, Linear, VarBuilder};
use serde::Deserialize;
use serde_json::Value;

use super::SequenceRewardModel;
use super::kernels::{Kernels, RmsNorm, rotary, softmax_last_dim};
use super::layers::{ModelSource, config_error, num_labels, parse_config};
use super::unpadding::Unpadding;
use super::vectorised;
use crate::batch::PaddedBatch;
use crate::error::LocalJudgeError;

/// What the decoder families differ in, read from `config.json` by each family's file.
#[derive(Clone, Debug)]
pub struct DecoderSettings {
    /// Rows of the token embedding.
    pub vocab_size: usize,
    /// Width of the residual stream.
    pub hidden_size: usize,
    /// Width of the MLP.
    pub intermediate_size: usize,
    /// Number of decoder layers.
    pub num_hidden_layers: usize,
    /// Query heads.
    pub num_attention_heads: usize,
    /// Key/value heads (grouped-query attention when fewer than the query heads).
    pub num_key_value_heads: usize,
    /// Size of one head (not always `hidden_size / num_attention_heads`: Qwen3).
    pub head_dim: usize,
    /// RMSNorm epsilon.
    pub rms_norm_eps: f64,
    /// Biases on the query, key and value projections.
    pub qkv_bias: bool,
    /// Bias on the output projection.
    pub output_bias: bool,
    /// Biases on the MLP projections (Llama's `mlp_bias`).
    pub mlp_bias: bool,
    /// RMSNorm over each head of the queries and keys before the rotation (Qwen3).
    pub qk_norm: bool,
    /// Rotary inverse frequencies, `head_dim / 2` of them, scaling applied.
    pub inverse_frequencies: Vec<f32>,
    /// `max_position_embeddings`.
    pub max_position_embeddings: usize,
}

fn default_rope_theta() -> f64 {
    10_000.0
}

fn default_rms_norm_eps() -> f64 {
    1e-6
}

fn default_hidden_act() -> String {
    "silu".to_owned()
}

/// The `config.json` fields Llama, Qwen2 and Qwen3 read, with `transformers`' defaults: one
/// adapter for the three families. A field a family does not use (Qwen2's `attention_bias`) is
/// left out of its [`DecoderLayout`].
#[derive(Debug, Deserialize)]
pub struct DecoderConfig {
    /// Rows of the token embedding.
    pub vocab_size: usize,
    /// Width of the residual stream.
    pub hidden_size: usize,
    /// Width of the MLP.
    pub intermediate_size: usize,
    /// Number of decoder layers.
    pub num_hidden_layers: usize,
    /// Query heads.
    pub num_attention_heads: usize,
    /// Key/value heads; the query heads when absent.
    pub num_key_value_heads: Option<usize>,
    /// Size of one head, when the config states it.
    pub head_dim: Option<usize>,
    /// `max_position_embeddings`.
    pub max_position_embeddings: usize,
    /// Rotary base (a `rope_parameters` object wins, see [`inverse_frequencies`]).
    #[serde(default = "default_rope_theta")]
    pub rope_theta: f64,
    /// RMSNorm epsilon.
    #[serde(default = "default_rms_norm_eps")]
    pub rms_norm_eps: f64,
    /// Biases on the attention projections (Llama, Qwen3).
    #[serde(default)]
    pub attention_bias: bool,
    /// Biases on the MLP projections (Llama).
    #[serde(default)]
    pub mlp_bias: bool,
    /// The activation; only SiLU is supported ([`check_activation`]).
    #[serde(default = "default_hidden_act")]
    pub hidden_act: String,
}

impl DecoderConfig {
    /// `head_dim`, else `hidden_size / num_attention_heads` (`transformers`' rule for Llama and
    /// Qwen2).
    pub fn head_dim_or_derived(&self) -> usize {
        self.head_dim
            .unwrap_or(self.hidden_size / self.num_attention_heads.max(1))
    }
}

/// What a family's file decides from its [`DecoderConfig`]: the switches of [`DecoderSettings`]
/// that are not plain config fields.
#[derive(Clone, Copy, Debug)]
pub struct DecoderLayout {
    /// Size of one head.
    pub head_dim: usize,
    /// Biases on the query, key and value projections.
    pub qkv_bias: bool,
    /// Bias on the output projection.
    pub output_bias: bool,
    /// Biases on the MLP projections.
    pub mlp_bias: bool,
    /// RMSNorm over each query and key head (Qwen3).
    pub qk_norm: bool,
    /// Whether the family's configs can ask for sliding-window layers, which are refused
    /// ([`check_full_attention`]).
    pub refuses_sliding_window: bool,
}

/// Builds a decoder family's model: parses the [`DecoderConfig`], takes the family's
/// [`DecoderLayout`] of it and reads the [`DecoderSettings`] ([`decoder_settings`]).
pub fn load_family(
    source: ModelSource<'_>,
    layout: impl FnOnce(&DecoderConfig) -> DecoderLayout,
) -> Result<Box<dyn SequenceRewardModel>, LocalJudgeError> {
    let config: DecoderConfig = parse_config(&source)?;
    let layout = layout(&config);
    let settings = decoder_settings(&source, &config, layout)?;
    let model = DecoderForSequenceClassification::load(source, &settings)?;
    Ok(Box::new(model))
}

/// The settings of a decoder family's backbone: checks the activation (then sliding windows,
/// when the family has them) and computes the rotary frequencies, in the order the family files
/// always checked. The reward models and the generation engine's causal language models
/// ([`crate::generation`]) share it.
pub fn decoder_settings(
    source: &ModelSource<'_>,
    config: &DecoderConfig,
    layout: DecoderLayout,
) -> Result<DecoderSettings, LocalJudgeError> {
    check_activation(source, &config.hidden_act)?;
    if layout.refuses_sliding_window {
        check_full_attention(source)?;
    }
    Ok(DecoderSettings {
        vocab_size: config.vocab_size,
        hidden_size: config.hidden_size,
        intermediate_size: config.intermediate_size,
        num_hidden_layers: config.num_hidden_layers,
        num_attention_heads: config.num_attention_heads,
        num_key_value_heads: config
            .num_key_value_heads
            .unwrap_or(config.num_attention_heads),
        head_dim: layout.head_dim,
        rms_norm_eps: config.rms_norm_eps,
        qkv_bias: layout.qkv_bias,
        output_bias: layout.output_bias,
        mlp_bias: layout.mlp_bias,
        qk_norm: layout.qk_norm,
        inverse_frequencies: inverse_frequencies(source, config.rope_theta, layout.head_dim)?,
        max_position_embeddings: config.max_position_embeddings,
    })
}

/// Checks `hidden_act`: every checkpoint of these families uses SiLU.
pub fn check_activation(source: &ModelSource<'_>, hidden_act: &str) -> Result<(), LocalJudgeError> {
    match hidden_act {
        "silu" | "swish" => Ok(()),
        other => Err(config_error(
            source.config_file,
            "hidden_act",
            format!("activation {other:?} is not supported (expected silu)"),
        )),
    }
}

/// Checks that no layer uses sliding-window attention (`layer_types`, or `use_sliding_window`
/// with a window), which this decoder does not implement.
pub fn check_full_attention(source: &ModelSource<'_>) -> Result<(), LocalJudgeError> {
    let config = source.config;
    if let Some(types) = config.get("layer_types").and_then(Value::as_array)
        && let Some(other) = types
            .iter()
            .find(|kind| kind.as_str() != Some("full_attention"))
    {
        return Err(config_error(
            source.config_file,
            "layer_types",
            format!("layer type {other} is not supported (only full_attention)"),
        ));
    }
    let sliding = config.get("use_sliding_window").and_then(Value::as_bool) == Some(true);
    let window = config
        .get("sliding_window")
        .is_some_and(|window| !window.is_null());
    if sliding && window {
        return Err(config_error(
            source.config_file,
            "use_sliding_window",
            "sliding-window attention is not supported".to_owned(),
        ));
    }
    Ok(())
}

/// The rotary inverse frequencies of `transformers`' `ROPE_INIT_FUNCTIONS`, computed in f32 as
/// PyTorch does: `default` (and no `rope_scaling`), `linear` and Llama 3's `llama3`. Other
/// types (dynamic, yarn, longrope, …) are refused rather than silently computed without scaling.
///
/// `transformers` 5 writes both settings into one `rope_parameters` object (`rope_theta`,
/// `rope_type` and the scaling fields) instead of the top-level `rope_theta` and `rope_scaling`
/// of 4.x; when present it wins, since a v5 config has no top-level theta and the family default
/// (10,000) would silently give other rewards.
pub fn inverse_frequencies(
    source: &ModelSource<'_>,
    rope_theta: f64,
    head_dim: usize,
) -> Result<Vec<f32>, LocalJudgeError> {
    if head_dim == 0 || !head_dim.is_multiple_of(2) {
        return Err(config_error(
            source.config_file,
            "head_dim",
            format!("rotary embeddings need an even head size, got {head_dim}"),
        ));
    }
    let parameters = source
        .config
        .get("rope_parameters")
        .filter(|parameters| parameters.is_object());
    let rope_theta = parameters
        .and_then(|parameters| parameters.get("rope_theta"))
        .and_then(Value::as_f64)
        .unwrap_or(rope_theta);
    let base = rope_theta as f32;
    let default: Vec<f32> = (0..head_dim)
        .step_by(2)
        .map(|index| 1.0 / base.powf(index as f32 / head_dim as f32))
        .collect();
    let scaling = match source.config.get("rope_scaling").or(parameters) {
        None | Some(Value::Null) => return Ok(default),
        Some(Value::Object(scaling)) => scaling,
        Some(other) => {
            return Err(config_error(
                source.config_file,
                "rope_scaling",
                format!("expected an object or null, got {other}"),
            ));
        }
    };
    let rope_type = scaling
        .get("rope_type")
        .or_else(|| scaling.get("type"))
        .and_then(Value::as_str)
        .unwrap_or("default");
    let number = |name: &str| -> Result<f32, LocalJudgeError> {
        scaling
            .get(name)
            .and_then(Value::as_f64)
            .map(|value| value as f32)
            .ok_or_else(|| {
                config_error(
                    source.config_file,
                    "rope_scaling",
                    format!("{rope_type} scaling needs a number `{name}`"),
                )
            })
    };
    match rope_type {
        "default" => Ok(default),
        "linear" => {
            let factor = number("factor")?;
            Ok(default
                .into_iter()
                .map(|frequency| frequency / factor)
                .collect())
        }
        "llama3" => {
            let factor = number("factor")?;
            let low_freq_factor = number("low_freq_factor")?;
            let high_freq_factor = number("high_freq_factor")?;
            let original = number("original_max_position_embeddings")?;
            let low_freq_wavelen = original / low_freq_factor;
            let high_freq_wavelen = original / high_freq_factor;
            Ok(default
                .into_iter()
                .map(|frequency| {
                    let wavelen = 2.0 * std::f32::consts::PI / frequency;
                    if wavelen < high_freq_wavelen {
                        frequency
                    } else if wavelen > low_freq_wavelen {
                        frequency / factor
                    } else {
                        let smooth = (original / wavelen - low_freq_factor)
                            / (high_freq_factor - low_freq_factor);
                        (1.0 - smooth) * frequency / factor + smooth * frequency
                    }
                })
                .collect())
        }
        other => Err(config_error(
            source.config_file,
            "rope_scaling",
            format!(
                "rope scaling type {other:?} is not supported (supported: default, linear, llama3)"
            ),
        )),
    }
}

/// How attention scores are computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AttentionKernel {
    /// candle's fused causal CPU kernel (f32 on the CPU).
    FusedCpu,
    /// Matmul over the square of positions with an additive causal mask.
    Matmul,
}

#[derive(Debug)]
struct RotaryEmbedding {
    inverse_frequencies: Vec<f32>,
}

impl RotaryEmbedding {
    /// `cos` and `sin` of `[len, head_dim / 2]`, in f32 like `transformers` (position × frequency
    /// rounded once), then in the model dtype.
    fn tables(
        &self,
        len: usize,
        dtype: DType,
        device: &Device,
    ) -> candle_core::Result<(Tensor, Tensor)> {
        let half = self.inverse_frequencies.len();
        let mut cos = Vec::with_capacity(len * half);
        let mut sin = Vec::with_capacity(len * half);
        for position in 0..len {
            for frequency in &self.inverse_frequencies {
                let angle = position as f32 * frequency;
                cos.push(angle.cos());
                sin.push(angle.sin());
            }
        }
        let cos = Tensor::from_vec(cos, (len, half), device)?.to_dtype(dtype)?;
        let sin = Tensor::from_vec(sin, (len, half), device)?.to_dtype(dtype)?;
        Ok((cos, sin))
    }
}

/// What every layer needs for one batch.
struct Positions {
    cos: Tensor,
    sin: Tensor,
    /// `[len, len]` f32, 0 on and below the diagonal and -inf above (matmul kernel only).
    causal_mask: Option<Tensor>,
}

#[derive(Debug)]
struct Mlp {
    gate_proj: Linear,
    up_proj: Linear,
    down_proj: Linear,
}

impl Mlp {
    fn new(settings: &DecoderSettings, vb: VarBuilder) -> candle_core::Result<Self> {
        let (hidden, intermediate) = (settings.hidden_size, settings.intermediate_size);
        let bias = settings.mlp_bias;
        Ok(Self {
            gate_proj: candle_nn::linear_b(hidden, intermediate, bias, vb.pp("gate_proj"))?,
            up_proj: candle_nn::linear_b(hidden, intermediate, bias, vb.pp("up_proj"))?,
            down_proj: candle_nn::linear_b(intermediate, hidden, bias, vb.pp("down_proj"))?,
        })
    }
}

impl Module for Mlp {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let gate = vectorised::silu(&xs.apply(&self.gate_proj)?)?;
        let up = xs.apply(&self.up_proj)?;
        (gate * up)?.apply(&self.down_proj)
    }
}

#[derive(Debug)]
struct Attention {
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    o_proj: Linear,
    q_norm: Option<RmsNorm>,
    k_norm: Option<RmsNorm>,
    num_heads: usize,
    num_kv_heads: usize,
    head_dim: usize,
    kernels: Kernels,
}

impl Attention {
    fn new(
        settings: &DecoderSettings,
        vb: VarBuilder,
        kernels: Kernels,
    ) -> candle_core::Result<Self> {
        let hidden = settings.hidden_size;
        let (heads, kv_heads, head_dim) = (
            settings.num_attention_heads,
            settings.num_key_value_heads,
            settings.head_dim,
        );
        let qkv_bias = settings.qkv_bias;
        let (q_norm, k_norm) = if settings.qk_norm {
            (
                Some(RmsNorm::load(
                    head_dim,
                    settings.rms_norm_eps,
                    vb.pp("q_norm"),
                    kernels,
                )?),
                Some(RmsNorm::load(
                    head_dim,
                    settings.rms_norm_eps,
                    vb.pp("k_norm"),
                    kernels,
                )?),
            )
        } else {
            (None, None)
        };
        Ok(Self {
            q_proj: candle_nn::linear_b(hidden, heads * head_dim, qkv_bias, vb.pp("q_proj"))?,
            k_proj: candle_nn::linear_b(hidden, kv_heads * head_dim, qkv_bias, vb.pp("k_proj"))?,
            v_proj: candle_nn::linear_b(hidden, kv_heads * head_dim, qkv_bias, vb.pp("v_proj"))?,
            o_proj: candle_nn::linear_b(
                heads * head_dim,
                hidden,
                settings.output_bias,
                vb.pp("o_proj"),
            )?,
            q_norm,
            k_norm,
            num_heads: heads,
            num_kv_heads: kv_heads,
            head_dim,
            kernels,
        })
    }

    /// `[b, l, heads * head_dim]` → `[b, heads, l, head_dim]`, normed per head and rotated.
    /// `xs` may also be `[tokens, heads * head_dim]` with the batch's `unpadding`, moved into the
    /// padded heads in one step.
    fn heads(
        &self,
        xs: &Tensor,
        heads: usize,
        norm: Option<&RmsNorm>,
        positions: Option<&Positions>,
        unpadding: Option<&Unpadding>,
    ) -> candle_core::Result<Tensor> {
        let xs = match unpadding {
            Some(unpadding) => unpadding.pad_heads(xs, heads)?,
            None => {
                let (b, l, _) = xs.dims3()?;
                xs.reshape((b, l, heads, self.head_dim))?
                    .transpose(1, 2)?
                    .contiguous()?
            }
        };
        // Per head vector, so the same before or after the transpose.
        let xs = match norm {
            Some(norm) => xs.apply(norm)?,
            None => xs,
        };
        match positions {
            Some(positions) => rotary(&xs, &positions.cos, &positions.sin, self.kernels),
            None => Ok(xs),
        }
    }

    /// `xs` is `[b, l, hidden]`, or `[tokens, hidden]` with the batch's `unpadding`: then the
    /// projections run on the real tokens and only the attention in the padded layout. With
    /// `keep` (indices of tokens, counted as in [`token_rows`]) the output projection runs on
    /// those tokens alone and the result is `[kept, hidden]`.
    fn forward(
        &self,
        xs: &Tensor,
        positions: &Positions,
        kernel: AttentionKernel,
        unpadding: Option<&Unpadding>,
        keep: Option<&Tensor>,
    ) -> candle_core::Result<Tensor> {
        let q = self.heads(
            &xs.apply(&self.q_proj)?,
            self.num_heads,
            self.q_norm.as_ref(),
            Some(positions),
            unpadding,
        )?;
        let k = self.heads(
            &xs.apply(&self.k_proj)?,
            self.num_kv_heads,
            self.k_norm.as_ref(),
            Some(positions),
            unpadding,
        )?;
        let v = self.heads(
            &xs.apply(&self.v_proj)?,
            self.num_kv_heads,
            None,
            None,
            unpadding,
        )?;
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        // [b, heads, l, head_dim]
        let output = match kernel {
            AttentionKernel::FusedCpu => {
                // The fused kernel takes [b, l, heads, head_dim] and handles the key/value groups.
                let q = q.transpose(1, 2)?.contiguous()?;
                let k = k.transpose(1, 2)?.contiguous()?;
                let v = v.transpose(1, 2)?.contiguous()?;
                flash_attn::<f32>(&q, &k, &v, scale as f32, AttnMask::causal(), None, None)?
            }
            AttentionKernel::Matmul => {
                let groups = self.num_heads / self.num_kv_heads;
                let k = repeat_kv(&k, groups)?;
                let v = repeat_kv(&v, groups)?;
                let scores = (q.matmul(&k.t()?)? * scale)?.to_dtype(DType::F32)?;
                let scores = match &positions.causal_mask {
                    Some(mask) => scores.broadcast_add(mask)?,
                    None => scores,
                };
                let weights = softmax_last_dim(&scores, self.kernels)?.to_dtype(v.dtype())?;
                weights.matmul(&v)?
            }
        };
        let output = match unpadding {
            Some(unpadding) => unpadding.unpad_heads(&output)?,
            None => {
                let (b, _, l, _) = output.dims4()?;
                output
                    .transpose(1, 2)?
                    .reshape((b, l, self.num_heads * self.head_dim))?
            }
        };
        match keep {
            Some(keep) => token_rows(&output)?
                .index_select(keep, 0)?
                .apply(&self.o_proj),
            None => output.apply(&self.o_proj),
        }
    }
}

/// The tokens of `xs` as rows: `[b, l, hidden]` → `[b × l, hidden]`; `[tokens, hidden]` as it is.
fn token_rows(xs: &Tensor) -> candle_core::Result<Tensor> {
    match xs.dims() {
        &[b, l, hidden] => xs.reshape((b * l, hidden)),
        _ => Ok(xs.clone()),
    }
}

/// `[b, kv_heads, l, d]` → `[b, kv_heads * groups, l, d]`, each key/value head repeated for the
/// query heads of its group (`transformers`' `repeat_kv`).
fn repeat_kv(xs: &Tensor, groups: usize) -> candle_core::Result<Tensor> {
    if groups == 1 {
        return Ok(xs.clone());
    }
    let (b, kv_heads, l, d) = xs.dims4()?;
    xs.unsqueeze(2)?
        .expand((b, kv_heads, groups, l, d))?
        .reshape((b, kv_heads * groups, l, d))
}

#[derive(Debug)]
struct DecoderLayer {
    self_attn: Attention,
    mlp: Mlp,
    input_layernorm: RmsNorm,
    post_attention_layernorm: RmsNorm,
}

impl DecoderLayer {
    fn new(
        settings: &DecoderSettings,
        vb: VarBuilder,
        kernels: Kernels,
    ) -> candle_core::Result<Self> {
        let (hidden, eps) = (settings.hidden_size, settings.rms_norm_eps);
        Ok(Self {
            self_attn: Attention::new(settings, vb.pp("self_attn"), kernels)?,
            mlp: Mlp::new(settings, vb.pp("mlp"))?,
            input_layernorm: RmsNorm::load(hidden, eps, vb.pp("input_layernorm"), kernels)?,
            post_attention_layernorm: RmsNorm::load(
                hidden,
                eps,
                vb.pp("post_attention_layernorm"),
                kernels,
            )?,
        })
    }

    /// The layer's output for every token, or (with `keep`, see [`Attention::forward`]) for the
    /// kept tokens only: every token is still attended to.
    fn forward(
        &self,
        xs: &Tensor,
        positions: &Positions,
        kernel: AttentionKernel,
        unpadding: Option<&Unpadding>,
        keep: Option<&Tensor>,
    ) -> candle_core::Result<Tensor> {
        let attended = self.self_attn.forward(
            &xs.apply(&self.input_layernorm)?,
            positions,
            kernel,
            unpadding,
            keep,
        )?;
        let xs = match keep {
            Some(keep) => token_rows(xs)?.index_select(keep, 0)?,
            None => xs.clone(),
        };
        let xs = (xs + attended)?;
        let transformed = xs.apply(&self.post_attention_layernorm)?.apply(&self.mlp)?;
        xs + transformed
    }
}

/// The backbone (`model.*`): embeddings, decoder layers, final norm.
#[derive(Debug)]
pub struct DecoderModel {
    embed_tokens: Embedding,
    layers: Vec<DecoderLayer>,
    norm: RmsNorm,
    rotary: RotaryEmbedding,
    kernel: AttentionKernel,
    dtype: DType,
    max_position_embeddings: usize,
}

impl DecoderModel {
    /// Loads `model.*` from the weights, with layers that compute through `kernels`.
    pub fn new(
        settings: &DecoderSettings,
        vb: VarBuilder,
        kernels: Kernels,
    ) -> candle_core::Result<Self> {
        DecoderModel::load_at(settings, vb.pp("model"), kernels)
    }

    /// Loads the backbone from weights already under its prefix (`model`, or
    /// `model.language_model` for the language model of a vision-language checkpoint).
    pub fn load_at(
        settings: &DecoderSettings,
        vb_m: VarBuilder,
        kernels: Kernels,
    ) -> candle_core::Result<Self> {
        let embed_tokens = candle_nn::embedding(
            settings.vocab_size,
            settings.hidden_size,
            vb_m.pp("embed_tokens"),
        )?;
        let layers = (0..settings.num_hidden_layers)
            .map(|index| DecoderLayer::new(settings, vb_m.pp("layers").pp(index), kernels))
            .collect::<candle_core::Result<Vec<_>>>()?;
        let norm = RmsNorm::load(
            settings.hidden_size,
            settings.rms_norm_eps,
            vb_m.pp("norm"),
            kernels,
        )?;
        // The fused CPU attention has no backward pass either.
        let kernel =
            if kernels == Kernels::Fused && vb_m.device().is_cpu() && vb_m.dtype() == DType::F32 {
                AttentionKernel::FusedCpu
            } else {
                AttentionKernel::Matmul
            };
        Ok(Self {
            embed_tokens,
            layers,
            norm,
            rotary: RotaryEmbedding {
                inverse_frequencies: settings.inverse_frequencies.clone(),
            },
            kernel,
            dtype: vb_m.dtype(),
            max_position_embeddings: settings.max_position_embeddings,
        })
    }

    /// The token embeddings of `input_ids` `[rows, len]`.
    pub fn embed(&self, input_ids: &Tensor) -> candle_core::Result<Tensor> {
        self.embed_tokens.forward(input_ids)
    }

    /// The dtype the backbone computes in.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The final hidden state `[rows, hidden]` at each row's last real token of a right-padded
    /// batch.
    pub fn last_hidden_states(&self, batch: &PaddedBatch) -> candle_core::Result<Tensor> {
        let (_, len) = batch.input_ids.dims2()?;
        let device = batch.input_ids.device();
        let (cos, sin) = self.rotary.tables(len, self.dtype, device)?;
        self.last_hidden_states_of(
            self.embed(&batch.input_ids)?,
            &cos,
            &sin,
            &batch.last_token_indices()?,
        )
    }

    /// The final hidden state `[rows, hidden]` at `last[row]` of each row of `embeddings`
    /// `[rows, len, hidden]` (a right-padded batch), rotated with `cos` and `sin` of
    /// `[len, head_dim / 2]`, or `[rows, len, head_dim / 2]` when rows have positions of their
    /// own (the 3-D positions of Qwen2-VL's multimodal prompts).
    pub fn last_hidden_states_of(
        &self,
        embeddings: Tensor,
        cos: &Tensor,
        sin: &Tensor,
        last: &Tensor,
    ) -> candle_core::Result<Tensor> {
        let (_, len, _) = embeddings.dims3()?;
        let device = embeddings.device().clone();
        let (cos, sin) = (cos.to_dtype(self.dtype)?, sin.to_dtype(self.dtype)?);
        let causal_mask = match self.kernel {
            AttentionKernel::FusedCpu => None,
            AttentionKernel::Matmul => Some(causal_mask(len, &device)?),
        };
        let positions = Positions {
            cos,
            sin,
            causal_mask,
        };
        // On the CPU the per-token work runs on the real tokens only (the CUDA path stays padded
        // until a GPU run measures the gather and scatter there).
        let last = last.to_vec1::<u32>()?;
        let unpadding = if device.is_cpu() {
            let lengths: Vec<usize> = last.iter().map(|&last| last as usize + 1).collect();
            Unpadding::from_lengths(&lengths, len, &device)?
        } else {
            None
        };
        let unpadding = unpadding.as_ref();
        // Each row's last real token, as a row of `token_rows`: the only token the last layer's
        // output projection and MLP, and the final norm, need to compute.
        let keep = last
            .iter()
            .enumerate()
            .map(|(row, &last)| match unpadding {
                Some(unpadding) => unpadding.token_index(row, last as usize).ok_or_else(|| {
                    candle_core::Error::Msg(format!("row {row}: position {last} is padding"))
                }),
                None => Ok((row * len) as u32 + last),
            })
            .collect::<candle_core::Result<Vec<u32>>>()?;
        let keep = Tensor::new(keep, &device)?;
        let mut xs = match unpadding {
            Some(unpadding) => unpadding.unpad(&embeddings)?,
            None => embeddings,
        };
        let Some((last_layer, layers)) = self.layers.split_last() else {
            return token_rows(&xs)?.index_select(&keep, 0)?.apply(&self.norm);
        };
        for layer in layers {
            xs = layer.forward(&xs, &positions, self.kernel, unpadding, None)?;
        }
        // The norm is per token, so it can follow the selection.
        last_layer
            .forward(&xs, &positions, self.kernel, unpadding, Some(&keep))?
            .apply(&self.norm)
    }

    /// `max_position_embeddings`.
    pub fn max_positions(&self) -> usize {
        self.max_position_embeddings
    }
}

fn causal_mask(len: usize, device: &Device) -> candle_core::Result<Tensor> {
    let mask: Vec<f32> = (0..len)
        .flat_map(|row| {
            (0..len).map(
                move |column| {
                    if column > row { f32::NEG_INFINITY } else { 0.0 }
                },
            )
        })
        .collect();
    Tensor::from_vec(mask, (len, len), device)
}

/// The classification head: `score`, a linear layer without bias, and which of its outputs is
/// the reward.
#[derive(Debug)]
pub struct ScoreHead {
    score: Linear,
    label: usize,
}

impl ScoreHead {
    /// Loads `score.weight` (`[num_labels, hidden]`) and resolves the reward label.
    pub fn new(source: &ModelSource<'_>, hidden_size: usize) -> Result<Self, LocalJudgeError> {
        let labels = num_labels(source.config);
        let label = source
            .reward_label
            .resolve(source.config_file, source.config, labels)?;
        let score = candle_nn::linear_no_bias(hidden_size, labels, source.weights.pp("score"))
            .map_err(LocalJudgeError::model("loading the score head"))?;
        Ok(Self { score, label })
    }

    /// f32 rewards `[rows]` from last hidden states `[rows, hidden]`.
    pub fn rewards(&self, last_hidden: &Tensor) -> candle_core::Result<Tensor> {
        last_hidden
            .apply(&self.score)?
            .narrow(D::Minus1, self.label, 1)?
            .squeeze(D::Minus1)?
            .to_dtype(DType::F32)
    }
}

/// A decoder with a `score` head: `Qwen2ForSequenceClassification`,
/// `Qwen3ForSequenceClassification` and `LlamaForSequenceClassification` are this with their
/// family's settings.
#[derive(Debug)]
pub struct DecoderForSequenceClassification {
    model: DecoderModel,
    score: ScoreHead,
}

impl DecoderForSequenceClassification {
    /// Builds backbone and head from checked settings.
    pub fn load(
        source: ModelSource<'_>,
        settings: &DecoderSettings,
    ) -> Result<Self, LocalJudgeError> {
        if settings.num_key_value_heads == 0
            || !settings
                .num_attention_heads
                .is_multiple_of(settings.num_key_value_heads)
        {
            return Err(config_error(
                source.config_file,
                "num_key_value_heads",
                format!(
                    "{} attention heads cannot be grouped over {} key/value heads",
                    settings.num_attention_heads, settings.num_key_value_heads
                ),
            ));
        }
        let model = DecoderModel::new(settings, source.weights.clone(), source.kernels)
            .map_err(LocalJudgeError::model("loading the decoder weights"))?;
        let score = ScoreHead::new(&source, settings.hidden_size)?;
        Ok(Self { model, score })
    }
}

impl SequenceRewardModel for DecoderForSequenceClassification {
    fn rewards(&self, batch: &PaddedBatch) -> candle_core::Result<Tensor> {
        self.score.rewards(&self.model.last_hidden_states(batch)?)
    }

    fn max_positions(&self) -> Option<usize> {
        Some(self.model.max_positions())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::Path;

    use serde_json::json;

    use super::*;
    use crate::input::EncodedText;
    use crate::models::RewardLabel;

    fn settings() -> DecoderSettings {
        DecoderSettings {
            vocab_size: 50,
            hidden_size: 24,
            intermediate_size: 40,
            num_hidden_layers: 2,
            num_attention_heads: 4,
            num_key_value_heads: 2,
            head_dim: 8,
            rms_norm_eps: 1e-6,
            qkv_bias: true,
            output_bias: false,
            mlp_bias: false,
            qk_norm: true,
            inverse_frequencies: (0..4)
                .map(|index| 1.0 / 10_000f32.powf(2.0 * index as f32 / 8.0))
                .collect(),
            max_position_embeddings: 64,
        }
    }

    /// Random weights for every tensor the settings need.
    fn weights(settings: &DecoderSettings) -> HashMap<String, Tensor> {
        let device = Device::Cpu;
        let mut tensors = HashMap::new();
        let mut add = |name: String, shape: &[usize], mean: f64, std: f64| {
            let tensor = Tensor::randn(mean as f32, std as f32, shape, &device).expect("randn");
            tensors.insert(name, tensor);
        };
        let (h, i, d) = (
            settings.hidden_size,
            settings.intermediate_size,
            settings.head_dim,
        );
        let (heads, kv) = (settings.num_attention_heads, settings.num_key_value_heads);
        add(
            "model.embed_tokens.weight".into(),
            &[settings.vocab_size, h],
            0.0,
            1.0,
        );
        add("model.norm.weight".into(), &[h], 1.0, 0.2);
        add("score.weight".into(), &[2, h], 0.0, 0.5);
        for layer in 0..settings.num_hidden_layers {
            let prefix = format!("model.layers.{layer}");
            add(format!("{prefix}.input_layernorm.weight"), &[h], 1.0, 0.2);
            add(
                format!("{prefix}.post_attention_layernorm.weight"),
                &[h],
                1.0,
                0.2,
            );
            for (name, rows) in [
                ("q_proj", heads * d),
                ("k_proj", kv * d),
                ("v_proj", kv * d),
            ] {
                add(
                    format!("{prefix}.self_attn.{name}.weight"),
                    &[rows, h],
                    0.0,
                    0.3,
                );
                add(format!("{prefix}.self_attn.{name}.bias"), &[rows], 0.0, 0.1);
            }
            add(
                format!("{prefix}.self_attn.o_proj.weight"),
                &[h, heads * d],
                0.0,
                0.3,
            );
            add(format!("{prefix}.self_attn.q_norm.weight"), &[d], 1.0, 0.2);
            add(format!("{prefix}.self_attn.k_norm.weight"), &[d], 1.0, 0.2);
            add(format!("{prefix}.mlp.gate_proj.weight"), &[i, h], 0.0, 0.3);
            add(format!("{prefix}.mlp.up_proj.weight"), &[i, h], 0.0, 0.3);
            add(format!("{prefix}.mlp.down_proj.weight"), &[h, i], 0.0, 0.3);
        }
        tensors
    }

    fn batch(rows: &[Vec<u32>]) -> PaddedBatch {
        let inputs: Vec<EncodedText> = rows
            .iter()
            .map(|ids| EncodedText {
                ids: ids.clone(),
                type_ids: vec![0; ids.len()],
            })
            .collect();
        let references: Vec<&EncodedText> = inputs.iter().collect();
        PaddedBatch::new(&references, 0, &Device::Cpu).expect("batch")
    }

    #[test]
    fn fused_and_matmul_attention_agree_and_padding_does_not_matter() {
        let settings = settings();
        let tensors = weights(&settings);
        let config = json!({"num_labels": 2});
        let load = |kernel: AttentionKernel| {
            let vb = VarBuilder::from_tensors(tensors.clone(), DType::F32, &Device::Cpu);
            let source = ModelSource {
                config_file: Path::new("config.json"),
                config: &config,
                weights: vb,
                reward_label: &RewardLabel::Index(1),
                kernels: crate::models::kernels::Kernels::Fused,
            };
            let mut model =
                DecoderForSequenceClassification::load(source, &settings).expect("loads");
            model.model.kernel = kernel;
            model
        };
        let fused = load(AttentionKernel::FusedCpu);
        let matmul = load(AttentionKernel::Matmul);
        let rows = vec![
            vec![1, 5, 9, 13, 17, 21, 25, 29, 33, 37],
            vec![2, 4, 6],
            vec![7; 12],
        ];
        let rewards = |model: &DecoderForSequenceClassification, rows: &[Vec<u32>]| {
            model
                .rewards(&batch(rows))
                .expect("rewards")
                .to_vec1::<f32>()
                .expect("f32")
        };
        let together = rewards(&fused, &rows);
        let by_matmul = rewards(&matmul, &rows);
        for (row, ids) in rows.iter().enumerate() {
            let alone = rewards(&fused, std::slice::from_ref(ids))[0];
            assert!(
                (alone - together[row]).abs() < 1e-5,
                "row {row}: {alone} vs {}",
                together[row]
            );
            assert!(
                (by_matmul[row] - together[row]).abs() < 1e-5,
                "row {row}: matmul {} vs fused {}",
                by_matmul[row],
                together[row]
            );
        }
        assert_eq!(fused.max_positions(), Some(64));
    }

    #[test]
    fn llama3_scaling_keeps_high_and_divides_low_frequencies() {
        let config = json!({"rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 64}});
        let source = ModelSource {
            config_file: Path::new("config.json"),
            config: &config,
            weights: VarBuilder::zeros(DType::F32, &Device::Cpu),
            reward_label: &RewardLabel::Single,
            kernels: crate::models::kernels::Kernels::Fused,
        };
        let scaled = inverse_frequencies(&source, 500_000.0, 16).expect("llama3");
        let plain: Vec<f32> = (0..16)
            .step_by(2)
            .map(|index| 1.0 / 500_000f32.powf(index as f32 / 16.0))
            .collect();
        assert_eq!(scaled[0], plain[0]);
        assert_eq!(scaled[7], plain[7] / 8.0);
    }

    #[test]
    fn transformers_5_rope_parameters_override_the_family_defaults() {
        let config =
            json!({"rope_parameters": {"rope_type": "default", "rope_theta": 1_000_000.0}});
        let source = ModelSource {
            config_file: Path::new("config.json"),
            config: &config,
            weights: VarBuilder::zeros(DType::F32, &Device::Cpu),
            reward_label: &RewardLabel::Single,
            kernels: crate::models::kernels::Kernels::Fused,
        };
        // 10,000 is the family default a v5 config no longer states at the top level.
        let frequencies = inverse_frequencies(&source, 10_000.0, 8).expect("default");
        assert_eq!(frequencies[1], 1.0 / 1_000_000f32.powf(2.0 / 8.0));
        let linear =
            json!({"rope_parameters": {"rope_type": "linear", "factor": 2.0, "rope_theta": 100.0}});
        let source = ModelSource {
            config: &linear,
            ..source
        };
        let scaled = inverse_frequencies(&source, 10_000.0, 8).expect("linear");
        assert_eq!(scaled[1], 1.0 / 100f32.powf(2.0 / 8.0) / 2.0);
    }

    #[test]
    fn unsupported_rope_scaling_and_sliding_windows_are_refused() {
        let check = |config: serde_json::Value| -> Option<String> {
            let source = ModelSource {
                config_file: Path::new("config.json"),
                config: &config,
                weights: VarBuilder::zeros(DType::F32, &Device::Cpu),
                reward_label: &RewardLabel::Single,
                kernels: crate::models::kernels::Kernels::Fused,
            };
            inverse_frequencies(&source, 10_000.0, 8)
                .err()
                .or_else(|| check_full_attention(&source).err())
                .map(|error| error.to_string())
        };
        let yarn = check(json!({"rope_scaling": {"rope_type": "yarn", "factor": 4.0}}))
            .expect("yarn is refused");
        assert!(
            yarn.contains("yarn") && yarn.contains("rope_scaling"),
            "{yarn}"
        );
        let window = check(json!({"use_sliding_window": true, "sliding_window": 4096}))
            .expect("sliding window is refused");
        assert!(window.contains("sliding"), "{window}");
        assert!(
            check(
                json!({"rope_scaling": null, "use_sliding_window": false, "sliding_window": null})
            )
            .is_none()
        );
        assert!(check(json!({"rope_scaling": {"type": "linear", "factor": 2.0}})).is_none());
    }
}
