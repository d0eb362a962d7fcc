//! MiniCPM-o 2.6's (and MiniCPM-V 2.6's) vision path: the SigLIP-400M encoder in its NaViT form
//! (`vpm.*`: any picture size, learned positions looked up by bucket) and the perceiver
//! resampler (`resampler.*`: 64 learned queries attend once to the picture, keys carrying 2-D
//! sine-cosine positions), giving each picture of [`crate::minicpm_v_processor`] 64 embeddings
//! in the language model's width.
//!
//! Positions: a picture of h × w patches takes, per row and column, the bucket of its
//! fractional coordinate k / h (k / w) among the table's side (70 for image size 980 and
//! 14-pixel patches); position = row bucket × side + column bucket. The reference computes the
//! coordinates and bucket bounds with `torch.arange` in f32 on the CPU, whose rounding decides
//! the bucket where k / h falls exactly on a bound (k = 5, h = 25 falls in bucket 13, not 14):
//! [`torch_arange_f32`] reproduces that arithmetic (elements in pairs of 8-wide vectors from a
//! base rounded to f32, the rest one by one in f64), checked against torch for every side up
//! to 200 in the tests.
//!
//! The resampler's positions are the reference's `get_2d_sincos_pos_embed` in f32: the first
//! half of the channels from the column index, the second from the row index, each
//! `[sin(p ω), cos(p ω)]` with ω = 10000^(−2i/d).
//!
//! Pictures are encoded one at a time. The reference pads a batch of pictures and masks the
//! padding's keys in both the encoder and the resampler, so a picture's embeddings are the same
//! alone; without padding there is no mask to get wrong.

use candle_core::{Device, Module, Tensor};
use candle_nn::{Linear, VarBuilder};
use serde::Deserialize;

use super::clip::{Activation, Encoder, EncoderSettings, attend};
use super::kernels::{Kernels, LayerNorm};
use crate::error::LocalJudgeError;

/// The vision encoder's settings: MiniCPM-o's `vision_config` (a `SiglipVisionConfig`).
#[derive(Clone, Debug, Deserialize)]
pub struct VisionEncoderConfig {
    /// Width.
    pub hidden_size: usize,
    /// Feed-forward width.
    pub intermediate_size: usize,
    /// Attention heads.
    pub num_attention_heads: usize,
    /// Blocks (before `drop_vision_last_layer`).
    pub num_hidden_layers: usize,
    /// Side of the largest picture the position table covers, in pixels.
    pub image_size: usize,
    /// Side of a patch, in pixels.
    pub patch_size: usize,
    /// Layer norm epsilon.
    #[serde(default = "default_layer_norm_eps")]
    pub layer_norm_eps: f64,
    /// The feed-forward activation.
    #[serde(default = "default_activation", rename = "hidden_act")]
    pub(crate) activation: Activation,
}

fn default_layer_norm_eps() -> f64 {
    1e-6
}

fn default_activation() -> Activation {
    Activation::GeluTanh
}

/// The resampler's layer norms (`partial(nn.LayerNorm, eps=1e-6)`).
const RESAMPLER_NORM_EPS: f64 = 1e-6;
/// Channels per resampler attention head (`num_heads = embed_dim // 128`).
const RESAMPLER_HEAD_WIDTH: usize = 128;

/// `torch.arange(start, end, step)` in f32 on the CPU, element for element: its length is
/// `ceil((end − start) / step)` in f64; elements come in blocks of 16 (two 8-wide vectors), each
/// vector from its first element rounded to f32 plus `j × step` in f64; the elements after the
/// last whole block are `start + i × step` in f64; each is rounded to f32.
pub fn torch_arange_f32(start: f64, end: f64, step: f64) -> Vec<f32> {
    let length = ((end - start) / step).ceil().max(0.0) as usize;
    let blocks_end = length / 16 * 16;
    (0..length)
        .map(|index| {
            if index < blocks_end {
                let vector_start = index - index % 8;
                let base = (start + step * vector_start as f64) as f32;
                (f64::from(base) + (index - vector_start) as f64 * step) as f32
            } else {
                (start + step * index as f64) as f32
            }
        })
        .collect()
}

/// The bucket of each of `count` fractional coordinates (`torch.bucketize(…, right=True)` over
/// the bounds 1/side … (side−1)/side): how many bounds are ≤ the coordinate.
fn coordinate_buckets(count: usize, side: usize) -> Vec<u32> {
    let bounds = torch_arange_f32(1.0 / side as f64, 1.0, 1.0 / side as f64);
    // The reference divides 1 by the patch count held in an int32 tensor: an f32 step.
    let step = f64::from(1.0_f32 / count as f32);
    torch_arange_f32(0.0, 1.0 - 1e-6, step)
        .into_iter()
        .map(|coordinate| bounds.partition_point(|bound| *bound <= coordinate) as u32)
        .collect()
}

/// The position ids of a picture of `rows × columns` patches, row-major.
pub fn position_ids(rows: usize, columns: usize, side: usize) -> Vec<u32> {
    let row_buckets = coordinate_buckets(rows, side);
    let column_buckets = coordinate_buckets(columns, side);
    let side = side as u32;
    row_buckets
        .iter()
        .flat_map(|row| column_buckets.iter().map(move |column| row * side + column))
        .collect()
}

/// The resampler's positions for `rows × columns` keys, row-major: `[rows × columns, width]`.
fn sincos_positions(rows: usize, columns: usize, width: usize) -> Vec<f32> {
    let quarter = width / 4;
    // numpy in f32: ω_i = 1 / 10000^(i / (d/2 / 2)) where d/2 is each axis's share.
    let omegas: Vec<f32> = (0..quarter)
        .map(|index| {
            let exponent = index as f32 / (width as f32 / 4.0);
            1.0 / 10000_f32.powf(exponent)
        })
        .collect();
    let mut table = Vec::with_capacity(rows * columns * width);
    for row in 0..rows {
        for column in 0..columns {
            for position in [column as f32, row as f32] {
                table.extend(omegas.iter().map(|omega| (position * omega).sin()));
                table.extend(omegas.iter().map(|omega| (position * omega).cos()));
            }
        }
    }
    table
}

/// The NaViT SigLIP encoder and the resampler of a MiniCPM-o checkpoint.
pub struct MiniCpmOVision {
    patch_weight: Tensor,
    patch_bias: Tensor,
    position_table: Tensor,
    encoder: Encoder,
    post_norm: LayerNorm,
    queries: Tensor,
    key_value_projection: Option<Linear>,
    query_norm: LayerNorm,
    key_value_norm: LayerNorm,
    in_projection_weight: Tensor,
    in_projection_bias: Tensor,
    out_projection: Linear,
    post_resampler_norm: LayerNorm,
    output_projection: Tensor,
    patch_size: usize,
    positions_per_side: usize,
    width: usize,
    resampler_heads: usize,
    device: Device,
}

impl std::fmt::Debug for MiniCpmOVision {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("MiniCpmOVision")
            .field("width", &self.width)
            .field("resampler_heads", &self.resampler_heads)
            .finish_non_exhaustive()
    }
}

impl MiniCpmOVision {
    /// Loads `vpm.*` and `resampler.*`; `language_width` is the language model's hidden size
    /// (the resampler's width), `queries` the config's `query_num`, and `drop_last_layer` the
    /// config's `drop_vision_last_layer`.
    pub fn load(
        config: &VisionEncoderConfig,
        language_width: usize,
        queries: usize,
        drop_last_layer: bool,
        weights: VarBuilder<'_>,
    ) -> Result<MiniCpmOVision, LocalJudgeError> {
        let invalid = |message: String| LocalJudgeError::Input { message };
        if config.patch_size == 0 || config.image_size < config.patch_size {
            return Err(invalid(format!(
                "vision_config: image_size {} and patch_size {} give no patches",
                config.image_size, config.patch_size
            )));
        }
        if language_width < RESAMPLER_HEAD_WIDTH || !language_width.is_multiple_of(4) {
            return Err(invalid(format!(
                "hidden_size {language_width}: the resampler needs at least one head of \
                 {RESAMPLER_HEAD_WIDTH} channels and a width divisible by 4"
            )));
        }
        let layers = config
            .num_hidden_layers
            .saturating_sub(usize::from(drop_last_layer));
        let device = weights.device().clone();
        let width = config.hidden_size;
        let patch = config.patch_size;
        let side = config.image_size / patch;
        let load = || -> candle_core::Result<MiniCpmOVision> {
            let vision = weights.pp("vpm");
            let embeddings = vision.pp("embeddings");
            let patch_weight = embeddings
                .pp("patch_embedding")
                .get((width, 3, patch, patch), "weight")?
                .reshape((width, 3 * patch * patch))?;
            let patch_bias = embeddings.pp("patch_embedding").get(width, "bias")?;
            let position_table = embeddings
                .pp("position_embedding")
                .get((side * side, width), "weight")?;
            let settings = EncoderSettings {
                hidden_size: width,
                intermediate_size: config.intermediate_size,
                num_attention_heads: config.num_attention_heads,
                num_hidden_layers: layers,
                layer_norm_eps: config.layer_norm_eps,
                activation: config.activation,
                kernels: Kernels::Fused,
            };
            let encoder = Encoder::new(vision.pp("encoder"), &settings)?;
            let post_norm = LayerNorm::load(
                width,
                config.layer_norm_eps,
                vision.pp("post_layernorm"),
                Kernels::Fused,
            )?;
            let resampler = weights.pp("resampler");
            let key_value_projection = if width == language_width {
                None
            } else {
                Some(candle_nn::linear_no_bias(
                    width,
                    language_width,
                    resampler.pp("kv_proj"),
                )?)
            };
            let norm = |name: &str| {
                LayerNorm::load(
                    language_width,
                    RESAMPLER_NORM_EPS,
                    resampler.pp(name),
                    Kernels::Fused,
                )
            };
            let attention = resampler.pp("attn");
            Ok(MiniCpmOVision {
                patch_weight,
                patch_bias,
                position_table,
                encoder,
                post_norm,
                queries: resampler.get((queries, language_width), "query")?,
                key_value_projection,
                query_norm: norm("ln_q")?,
                key_value_norm: norm("ln_kv")?,
                in_projection_weight: attention
                    .get((3 * language_width, language_width), "in_proj_weight")?,
                in_projection_bias: attention.get(3 * language_width, "in_proj_bias")?,
                out_projection: candle_nn::linear(
                    language_width,
                    language_width,
                    attention.pp("out_proj"),
                )?,
                post_resampler_norm: norm("ln_post")?,
                output_projection: resampler.get((language_width, language_width), "proj")?,
                patch_size: patch,
                positions_per_side: side,
                width,
                resampler_heads: language_width / RESAMPLER_HEAD_WIDTH,
                device: device.clone(),
            })
        };
        load().map_err(LocalJudgeError::model(
            "loading the vision encoder and resampler (vpm, resampler)",
        ))
    }

    /// The encoder's final hidden states `[rows × columns, width]` for one picture laid out as
    /// the processor lays it out (`[3, patch, patches × patch]`) with `target_size` = (rows,
    /// columns) patches.
    pub fn encode(
        &self,
        pixel_values: &[f32],
        target_size: [usize; 2],
    ) -> Result<Tensor, LocalJudgeError> {
        let [rows, columns] = target_size;
        let patches = rows * columns;
        let patch = self.patch_size;
        if patches == 0
            || pixel_values.len() != 3 * patch * patches * patch
            || rows > 4 * self.positions_per_side
            || columns > 4 * self.positions_per_side
        {
            return Err(LocalJudgeError::Input {
                message: format!(
                    "a picture of {rows} × {columns} patches with {} pixel values (expected {})",
                    pixel_values.len(),
                    3 * patch * patches * patch
                ),
            });
        }
        // Each patch's values in the convolution's order: channel, row, column.
        let mut flattened = Vec::with_capacity(pixel_values.len());
        for index in 0..patches {
            for channel in 0..3 {
                for row in 0..patch {
                    let start = ((channel * patch + row) * patches + index) * patch;
                    flattened.extend_from_slice(&pixel_values[start..start + patch]);
                }
            }
        }
        let ids = position_ids(rows, columns, self.positions_per_side);
        let run = || -> candle_core::Result<Tensor> {
            let dtype = self.patch_weight.dtype();
            let input = Tensor::from_vec(flattened, (patches, 3 * patch * patch), &self.device)?
                .to_dtype(dtype)?;
            let embedded = input
                .matmul(&self.patch_weight.t()?)?
                .broadcast_add(&self.patch_bias)?;
            let ids = Tensor::from_vec(ids, patches, &self.device)?;
            let hidden = (embedded + self.position_table.index_select(&ids, 0)?)?.unsqueeze(0)?;
            let hidden = self.encoder.forward(&hidden, None)?;
            self.post_norm.forward(&hidden)?.squeeze(0)
        };
        run().map_err(LocalJudgeError::model("encoding a picture"))
    }

    /// The picture's embeddings `[queries, language width]`: the encoder, then the resampler.
    pub fn embed(
        &self,
        pixel_values: &[f32],
        target_size: [usize; 2],
    ) -> Result<Tensor, LocalJudgeError> {
        let encoded = self.encode(pixel_values, target_size)?;
        let [rows, columns] = target_size;
        let run = || -> candle_core::Result<Tensor> {
            let width = self.queries.dim(1)?;
            let keys_values = match &self.key_value_projection {
                Some(projection) => projection.forward(&encoded)?,
                None => encoded.clone(),
            };
            let keys_values = self.key_value_norm.forward(&keys_values)?;
            let positions = Tensor::from_vec(
                sincos_positions(rows, columns, width),
                (rows * columns, width),
                &self.device,
            )?
            .to_dtype(keys_values.dtype())?;
            let queries = self.query_norm.forward(&self.queries)?;
            let project = |input: &Tensor, part: usize| -> candle_core::Result<Tensor> {
                let weight = self.in_projection_weight.narrow(0, part * width, width)?;
                let bias = self.in_projection_bias.narrow(0, part * width, width)?;
                input.matmul(&weight.t()?)?.broadcast_add(&bias)
            };
            let q = project(&queries, 0)?.unsqueeze(0)?;
            let k = project(&(&keys_values + positions)?, 1)?.unsqueeze(0)?;
            let v = project(&keys_values, 2)?.unsqueeze(0)?;
            let attended = attend(&q, &k, &v, self.resampler_heads, None, Kernels::Fused)?;
            let output = self.out_projection.forward(&attended.squeeze(0)?)?;
            self.post_resampler_norm
                .forward(&output)?
                .matmul(&self.output_projection)
        };
        run().map_err(LocalJudgeError::model("resampling a picture"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_follow_torch_rounding_on_exact_bounds() {
        // 5 / 25 = 14 / 70 exactly, yet torch's f32 arange puts it in bucket 13.
        assert_eq!(coordinate_buckets(25, 70)[5], 13);
        // Where nothing is exact, the bucket is floor(k × 70 / h).
        assert_eq!(coordinate_buckets(3, 70), vec![0, 23, 46]);
        assert_eq!(position_ids(1, 2, 70), vec![0, 35]);
        assert_eq!(torch_arange_f32(1.0 / 70.0, 1.0, 1.0 / 70.0).len(), 69);
    }

    #[test]
    fn sincos_positions_put_columns_first() {
        let table = sincos_positions(2, 3, 8);
        // Row 1, column 2: [sin 2, sin 2ω, cos 2, cos 2ω, sin 1, sin ω, cos 1, cos ω], ω = 0.01.
        let at = &table[(3 + 2) * 8..(3 + 3) * 8];
        let expected = [
            2.0_f32.sin(),
            0.02_f32.sin(),
            2.0_f32.cos(),
            0.02_f32.cos(),
            1.0_f32.sin(),
            0.01_f32.sin(),
            1.0_f32.cos(),
            0.01_f32.cos(),
        ];
        for (ours, theirs) in at.iter().zip(expected) {
            assert!((ours - theirs).abs() < 1e-6, "{at:?}");
        }
    }
}
