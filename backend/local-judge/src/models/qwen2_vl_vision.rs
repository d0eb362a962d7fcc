//! The vision tower of Qwen2-VL and Qwen2.5-VL (`transformers` 4.57.3's
//! `Qwen2VisionTransformerPretrainedModel` and `Qwen2_5_VisionTransformerPretrainedModel`): the
//! patches of [`crate::qwen2_vl_processor`] in, one embedding per 2 × 2 merged patch out, in the
//! language model's width.
//!
//! Both variants: a patch embedding (a 3-D convolution whose kernel is the patch, so a matrix
//! product over the flattened patch), 2-D rotary positions (half the rotary channels follow the
//! patch's row, half its column), pre-norm blocks of bidirectional attention and an MLP, and a
//! merger that normalises, concatenates each 2 × 2 window and projects it. Attention never
//! crosses an image (nor a temporal patch of a video).
//!
//! Qwen2-VL uses LayerNorm and a `fc1 → act → fc2` MLP (QuickGELU). Qwen2.5-VL uses RMSNorm, a
//! gated MLP, and window attention: the merged tokens are reordered window by window (windows of
//! `window_size` pixels; partial windows at the right and bottom edges where the grid is no
//! multiple of the window), every block except those in `fullatt_block_indexes` attends within
//! a window only, and the merger's output is put back in the original order.
//!
//! Norms and rotary tables are computed in f32 whatever the weights' dtype: the tower overflows
//! in f16 (vLLM #13968).

use candle_core::{D, DType, Device, IndexOp, Module, Tensor};
use candle_nn::{Linear, VarBuilder};
use serde::Deserialize;

use super::kernels::{Kernels, LayerNorm, RmsNorm, softmax_last_dim};
use super::layers::{Activation, ModelSource, config_error, config_section};
use super::vectorised;
use crate::error::LocalJudgeError;

/// Which of the two towers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VisionVariant {
    /// Qwen2-VL: LayerNorm, `fc1 → act → fc2`, full attention per image.
    Qwen2Vl,
    /// Qwen2.5-VL: RMSNorm, gated MLP, window attention except in the full-attention blocks.
    Qwen25Vl,
}

/// `vision_config` of either variant, with the field names each uses.
#[derive(Clone, Debug, Deserialize)]
struct RawVisionConfig {
    depth: usize,
    /// Qwen2-VL: the tower's width; Qwen2.5-VL: absent (its `hidden_size` is the width).
    embed_dim: Option<usize>,
    /// Qwen2-VL: the output width; Qwen2.5-VL: the tower's width.
    hidden_size: usize,
    /// Qwen2.5-VL: the output width.
    out_hidden_size: Option<usize>,
    /// Qwen2-VL: the MLP's width over the tower's.
    mlp_ratio: Option<f64>,
    /// Qwen2.5-VL: the MLP's width.
    intermediate_size: Option<usize>,
    num_heads: usize,
    #[serde(default = "default_in_channels")]
    in_channels: usize,
    patch_size: usize,
    spatial_merge_size: usize,
    temporal_patch_size: usize,
    hidden_act: Option<String>,
    window_size: Option<usize>,
    #[serde(default)]
    fullatt_block_indexes: Vec<usize>,
}

fn default_in_channels() -> usize {
    3
}

/// The tower's dimensions.
#[derive(Clone, Debug, PartialEq)]
pub struct VisionConfig {
    pub variant: VisionVariant,
    pub depth: usize,
    /// The tower's width.
    pub width: usize,
    /// The merger's output width (the language model's).
    pub output_width: usize,
    pub mlp_width: usize,
    pub heads: usize,
    pub in_channels: usize,
    pub patch_size: usize,
    pub merge_size: usize,
    pub temporal_patch_size: usize,
    /// Pixels on a side of an attention window (Qwen2.5-VL).
    pub window_size: usize,
    /// Blocks that attend over the whole image (Qwen2.5-VL).
    pub full_attention_blocks: Vec<usize>,
    /// The MLP's activation, as `transformers` names it.
    pub activation: String,
}

impl VisionConfig {
    /// Reads `vision_config` of `config.json` for `variant`.
    pub fn from_config(
        source: &ModelSource<'_>,
        variant: VisionVariant,
    ) -> Result<VisionConfig, LocalJudgeError> {
        let raw: RawVisionConfig = config_section(source, "vision_config")?;
        let missing = |field: &str| {
            config_error(
                source.config_file,
                &format!("vision_config.{field}"),
                "missing, and this vision tower needs it",
            )
        };
        let config = match variant {
            VisionVariant::Qwen2Vl => {
                let width = raw.embed_dim.ok_or_else(|| missing("embed_dim"))?;
                let ratio = raw.mlp_ratio.unwrap_or(4.0);
                VisionConfig {
                    variant,
                    depth: raw.depth,
                    width,
                    output_width: raw.hidden_size,
                    // `int(embed_dim * mlp_ratio)`, as transformers truncates.
                    mlp_width: (width as f64 * ratio) as usize,
                    heads: raw.num_heads,
                    in_channels: raw.in_channels,
                    patch_size: raw.patch_size,
                    merge_size: raw.spatial_merge_size,
                    temporal_patch_size: raw.temporal_patch_size,
                    window_size: 0,
                    full_attention_blocks: Vec::new(),
                    activation: raw
                        .hidden_act
                        .clone()
                        .unwrap_or_else(|| "quick_gelu".to_owned()),
                }
            }
            VisionVariant::Qwen25Vl => VisionConfig {
                variant,
                depth: raw.depth,
                width: raw.hidden_size,
                output_width: raw
                    .out_hidden_size
                    .ok_or_else(|| missing("out_hidden_size"))?,
                mlp_width: raw
                    .intermediate_size
                    .ok_or_else(|| missing("intermediate_size"))?,
                heads: raw.num_heads,
                in_channels: raw.in_channels,
                patch_size: raw.patch_size,
                merge_size: raw.spatial_merge_size,
                temporal_patch_size: raw.temporal_patch_size,
                window_size: raw.window_size.ok_or_else(|| missing("window_size"))?,
                full_attention_blocks: raw.fullatt_block_indexes.clone(),
                activation: raw.hidden_act.clone().unwrap_or_else(|| "silu".to_owned()),
            },
        };
        if config.heads == 0
            || config.width % config.heads != 0
            || (config.width / config.heads) % 4 != 0
        {
            return Err(config_error(
                source.config_file,
                "vision_config.num_heads",
                format!(
                    "{} heads do not split a width of {} into heads whose rotary half divides \
                     into row and column halves",
                    config.heads, config.width
                ),
            ));
        }
        if config.variant == VisionVariant::Qwen25Vl
            && (config.window_size == 0
                || config.window_size % (config.merge_size * config.patch_size) != 0)
        {
            return Err(config_error(
                source.config_file,
                "vision_config.window_size",
                format!(
                    "{} pixels is not a whole number of merged patches ({} pixels)",
                    config.window_size,
                    config.merge_size * config.patch_size
                ),
            ));
        }
        Ok(config)
    }

    fn head_width(&self) -> usize {
        self.width / self.heads
    }
}

/// A norm of either kind.
#[derive(Clone, Debug)]
enum Norm {
    Layer(LayerNorm),
    Rms(RmsNorm),
}

impl Norm {
    /// Loads the norm's weights in f32, whatever the tower's dtype.
    fn load(
        variant: VisionVariant,
        width: usize,
        weights: VarBuilder<'_>,
    ) -> candle_core::Result<Norm> {
        let weights = weights.set_dtype(DType::F32);
        match variant {
            VisionVariant::Qwen2Vl => {
                LayerNorm::load(width, 1e-6, weights, Kernels::Fused).map(Norm::Layer)
            }
            VisionVariant::Qwen25Vl => {
                RmsNorm::load(width, 1e-6, weights, Kernels::Fused).map(Norm::Rms)
            }
        }
    }

    /// Normalises in f32 and returns to the input's dtype.
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let wide = xs.to_dtype(DType::F32)?;
        let normalised = match self {
            Norm::Layer(norm) => norm.forward(&wide)?,
            Norm::Rms(norm) => norm.forward(&wide)?,
        };
        normalised.to_dtype(xs.dtype())
    }
}

/// The MLP of a block.
#[derive(Clone, Debug)]
enum Mlp {
    Plain {
        fc1: Linear,
        fc2: Linear,
        act: Activation,
    },
    Gated {
        gate: Linear,
        up: Linear,
        down: Linear,
        act: Activation,
    },
}

impl Mlp {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Mlp::Plain { fc1, fc2, act } => fc2.forward(&act.forward(&fc1.forward(xs)?)?),
            Mlp::Gated {
                gate,
                up,
                down,
                act,
            } => down.forward(&(act.forward(&gate.forward(xs)?)? * up.forward(xs)?)?),
        }
    }
}

#[derive(Clone, Debug)]
struct Block {
    norm1: Norm,
    norm2: Norm,
    qkv: Linear,
    projection: Linear,
    mlp: Mlp,
}

/// The loaded tower.
#[derive(Clone, Debug)]
pub struct VisionTower {
    config: VisionConfig,
    /// The convolution's weight as a matrix: `width × (channels · frames · patch²)`.
    patch_embedding: Tensor,
    blocks: Vec<Block>,
    merger_norm: Norm,
    merger_in: Linear,
    merger_out: Linear,
    /// `1 / 10000^(2i / rotary)` for the rotary half of a head.
    inverse_frequencies: Vec<f32>,
}

/// The two weight-name layouts of a checkpoint's tower: `transformers` before 4.52 saved it as
/// `visual.*`, later versions as `model.visual.*`.
const TOWER_PREFIXES: [&str; 2] = ["model.visual", "visual"];

impl VisionTower {
    /// Loads the tower of a checkpoint whose weights are `source.weights`, under either prefix.
    pub fn load_from_checkpoint(
        source: &ModelSource<'_>,
        variant: VisionVariant,
    ) -> Result<VisionTower, LocalJudgeError> {
        let config = VisionConfig::from_config(source, variant)?;
        let prefix = TOWER_PREFIXES
            .into_iter()
            .find(|prefix| {
                source
                    .weights
                    .contains_tensor(&format!("{prefix}.patch_embed.proj.weight"))
            })
            .ok_or_else(|| {
                config_error(
                    source.config_file,
                    "vision_config",
                    "the weights hold no vision tower (neither `model.visual.patch_embed.proj.weight` \
                     nor `visual.patch_embed.proj.weight`)",
                )
            })?;
        VisionTower::load(source, config, source.weights.pp(prefix))
    }

    /// Loads the tower from `weights` (already under the tower's prefix: `visual` or
    /// `model.visual`).
    pub fn load(
        source: &ModelSource<'_>,
        config: VisionConfig,
        weights: VarBuilder<'_>,
    ) -> Result<VisionTower, LocalJudgeError> {
        let act = Activation::from_name(source, "vision_config.hidden_act", &config.activation)?;
        let load = || -> candle_core::Result<VisionTower> {
            let features = config.in_channels
                * config.temporal_patch_size
                * config.patch_size
                * config.patch_size;
            let patch_embedding = weights
                .pp("patch_embed.proj")
                .get(
                    (
                        config.width,
                        config.in_channels,
                        config.temporal_patch_size,
                        config.patch_size,
                        config.patch_size,
                    ),
                    "weight",
                )?
                .reshape((config.width, features))?;
            let mut blocks = Vec::with_capacity(config.depth);
            for index in 0..config.depth {
                let block = weights.pp(format!("blocks.{index}"));
                let mlp_weights = block.pp("mlp");
                let mlp = match config.variant {
                    VisionVariant::Qwen2Vl => Mlp::Plain {
                        fc1: candle_nn::linear(
                            config.width,
                            config.mlp_width,
                            mlp_weights.pp("fc1"),
                        )?,
                        fc2: candle_nn::linear(
                            config.mlp_width,
                            config.width,
                            mlp_weights.pp("fc2"),
                        )?,
                        act,
                    },
                    VisionVariant::Qwen25Vl => Mlp::Gated {
                        gate: candle_nn::linear(
                            config.width,
                            config.mlp_width,
                            mlp_weights.pp("gate_proj"),
                        )?,
                        up: candle_nn::linear(
                            config.width,
                            config.mlp_width,
                            mlp_weights.pp("up_proj"),
                        )?,
                        down: candle_nn::linear(
                            config.mlp_width,
                            config.width,
                            mlp_weights.pp("down_proj"),
                        )?,
                        act,
                    },
                };
                blocks.push(Block {
                    norm1: Norm::load(config.variant, config.width, block.pp("norm1"))?,
                    norm2: Norm::load(config.variant, config.width, block.pp("norm2"))?,
                    qkv: candle_nn::linear(config.width, 3 * config.width, block.pp("attn.qkv"))?,
                    projection: candle_nn::linear(
                        config.width,
                        config.width,
                        block.pp("attn.proj"),
                    )?,
                    mlp,
                });
            }
            let merged = config.width * config.merge_size * config.merge_size;
            let merger = weights.pp("merger");
            let rotary = config.head_width() / 2;
            let inverse_frequencies = (0..rotary)
                .step_by(2)
                .map(|index| 1.0 / 10000_f32.powf(index as f32 / rotary as f32))
                .collect();
            Ok(VisionTower {
                patch_embedding,
                blocks,
                merger_norm: Norm::load(config.variant, config.width, merger.pp("ln_q"))?,
                merger_in: candle_nn::linear(merged, merged, merger.pp("mlp.0"))?,
                merger_out: candle_nn::linear(merged, config.output_width, merger.pp("mlp.2"))?,
                inverse_frequencies,
                config: config.clone(),
            })
        };
        load().map_err(LocalJudgeError::model("loading the vision tower"))
    }

    /// Patches merged into one token along each side.
    pub fn merge_size(&self) -> usize {
        self.config.merge_size
    }

    /// The embeddings of the merged patches of every image, in the images' order: `pixel_values`
    /// is `patches × features` (the processor's rows), `grids` each image's `[t, h, w]`.
    pub fn forward(
        &self,
        pixel_values: &Tensor,
        grids: &[[usize; 3]],
    ) -> candle_core::Result<Tensor> {
        let device = pixel_values.device().clone();
        let dtype = self.patch_embedding.dtype();
        let merge_unit = self.config.merge_size * self.config.merge_size;
        let patches: usize = grids.iter().map(|[t, h, w]| t * h * w).sum();
        let mut hidden = pixel_values
            .to_dtype(dtype)?
            .matmul(&self.patch_embedding.t()?)?;
        let (cos, sin) = self.rotary_tables(grids, &device)?;
        let full_chunks = image_chunks(grids);
        let (window_order, window_chunks) = match self.config.variant {
            VisionVariant::Qwen2Vl => (None, full_chunks.clone()),
            VisionVariant::Qwen25Vl => {
                let window =
                    self.config.window_size / self.config.merge_size / self.config.patch_size;
                let (order, chunks) = window_order(grids, self.config.merge_size, window);
                (Some(order), chunks)
            }
        };
        let (cos, sin) = match &window_order {
            Some(order) => {
                let order_tensor = merged_token_rows(order, merge_unit, &device)?;
                hidden = hidden.index_select(&order_tensor, 0)?;
                (
                    cos.index_select(&order_tensor, 0)?,
                    sin.index_select(&order_tensor, 0)?,
                )
            }
            None => (cos, sin),
        };
        debug_assert_eq!(hidden.dim(0)?, patches);
        for (index, block) in self.blocks.iter().enumerate() {
            let chunks = if self.config.variant == VisionVariant::Qwen2Vl
                || self.config.full_attention_blocks.contains(&index)
            {
                &full_chunks
            } else {
                &window_chunks
            };
            let attended =
                self.attention(block, &block.norm1.forward(&hidden)?, &cos, &sin, chunks)?;
            hidden = (hidden + attended)?;
            hidden = (&hidden + block.mlp.forward(&block.norm2.forward(&hidden)?)?)?;
        }
        let merged = self
            .merger_norm
            .forward(&hidden)?
            .reshape((patches / merge_unit, self.config.width * merge_unit))?;
        let mut output = self
            .merger_out
            .forward(&vectorised::gelu_erf(&self.merger_in.forward(&merged)?)?)?;
        if let Some(order) = window_order {
            let mut inverse = vec![0_u32; order.len()];
            for (position, source) in order.iter().enumerate() {
                inverse[*source] = position as u32;
            }
            output = output.index_select(&Tensor::new(inverse.as_slice(), &device)?, 0)?;
        }
        Ok(output)
    }

    /// Bidirectional attention of `xs` (already normalised) within each chunk of rows.
    fn attention(
        &self,
        block: &Block,
        xs: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        chunks: &[(usize, usize)],
    ) -> candle_core::Result<Tensor> {
        let rows = xs.dim(0)?;
        let heads = self.config.heads;
        let head_width = self.config.head_width();
        let dtype = xs.dtype();
        let qkv = block
            .qkv
            .forward(xs)?
            .reshape((rows, 3, heads, head_width))?;
        let rotate = |tensor: Tensor| -> candle_core::Result<Tensor> {
            // In f32, as transformers' `apply_rotary_pos_emb_vision`.
            let tensor = tensor.to_dtype(DType::F32)?;
            let cos = cos.unsqueeze(1)?;
            let sin = sin.unsqueeze(1)?;
            let half = head_width / 2;
            let first = tensor.narrow(D::Minus1, 0, half)?;
            let second = tensor.narrow(D::Minus1, half, half)?;
            let rotated = Tensor::cat(&[&second.neg()?, &first], D::Minus1)?;
            (tensor.broadcast_mul(&cos)? + rotated.broadcast_mul(&sin)?)?.to_dtype(dtype)
        };
        let queries = rotate(qkv.i((.., 0))?)?.transpose(0, 1)?.contiguous()?;
        let keys = rotate(qkv.i((.., 1))?)?.transpose(0, 1)?.contiguous()?;
        let values = qkv.i((.., 2))?.transpose(0, 1)?.contiguous()?;
        let scale = 1.0 / (head_width as f64).sqrt();
        let mut outputs = Vec::with_capacity(chunks.len());
        for (start, length) in chunks {
            let query = queries.narrow(1, *start, *length)?;
            let key = keys.narrow(1, *start, *length)?;
            let value = values.narrow(1, *start, *length)?;
            let scores = (query.matmul(&key.t()?)? * scale)?;
            let weights =
                softmax_last_dim(&scores.to_dtype(DType::F32)?, Kernels::Fused)?.to_dtype(dtype)?;
            outputs.push(weights.matmul(&value)?);
        }
        let attended = Tensor::cat(&outputs, 1)?
            .transpose(0, 1)?
            .reshape((rows, heads * head_width))?;
        block.projection.forward(&attended)
    }

    /// The rotary cosines and sines of every patch, `patches × head_width`, in f32: each patch's
    /// row position times the frequencies, then its column position times them, twice.
    fn rotary_tables(
        &self,
        grids: &[[usize; 3]],
        device: &Device,
    ) -> candle_core::Result<(Tensor, Tensor)> {
        let merge = self.config.merge_size;
        let frequencies = &self.inverse_frequencies;
        let mut angles = Vec::new();
        for [frames, height, width] in grids {
            for _ in 0..*frames {
                for block_row in 0..height / merge {
                    for block_column in 0..width / merge {
                        for row in 0..merge {
                            for column in 0..merge {
                                let y = (block_row * merge + row) as f32;
                                let x = (block_column * merge + column) as f32;
                                let mut half: Vec<f32> =
                                    frequencies.iter().map(|f| y * f).collect();
                                half.extend(frequencies.iter().map(|f| x * f));
                                angles.extend_from_slice(&half);
                                angles.extend_from_slice(&half);
                            }
                        }
                    }
                }
            }
        }
        let patches = angles.len() / self.config.head_width();
        let angles = Tensor::from_vec(angles, (patches, self.config.head_width()), device)?;
        Ok((angles.cos()?, angles.sin()?))
    }
}

/// Qwen2.5-VL's window order: the merged tokens of each image (and temporal patch) window by
/// window, windows in row-major order, tokens row-major within a window (windows of `window`
/// merged tokens on a side, partial at the right and bottom edges); and the chunks of patch
/// rows (`merge`² per token) each window covers, in that order.
fn window_order(
    grids: &[[usize; 3]],
    merge: usize,
    window: usize,
) -> (Vec<usize>, Vec<(usize, usize)>) {
    let unit = merge * merge;
    let mut order = Vec::new();
    let mut chunks = Vec::new();
    let mut offset = 0;
    let mut start = 0;
    for [frames, height, width] in grids {
        let (rows, columns) = (height / merge, width / merge);
        for frame in 0..*frames {
            let base = offset + frame * rows * columns;
            for window_row in 0..rows.div_ceil(window) {
                for window_column in 0..columns.div_ceil(window) {
                    let mut count = 0;
                    for row in window_row * window..((window_row + 1) * window).min(rows) {
                        for column in
                            window_column * window..((window_column + 1) * window).min(columns)
                        {
                            order.push(base + row * columns + column);
                            count += 1;
                        }
                    }
                    chunks.push((start, count * unit));
                    start += count * unit;
                }
            }
        }
        offset += frames * rows * columns;
    }
    (order, chunks)
}

/// The rows (patches) of each image's temporal patches: attention's bounds without windows.
fn image_chunks(grids: &[[usize; 3]]) -> Vec<(usize, usize)> {
    let mut chunks = Vec::new();
    let mut start = 0;
    for [frames, height, width] in grids {
        for _ in 0..*frames {
            chunks.push((start, height * width));
            start += height * width;
        }
    }
    chunks
}

/// The patch rows of merged tokens taken in `order`: each merged token's `unit` patches stay
/// together.
fn merged_token_rows(order: &[usize], unit: usize, device: &Device) -> candle_core::Result<Tensor> {
    let rows: Vec<u32> = order
        .iter()
        .flat_map(|token| (0..unit).map(move |patch| (token * unit + patch) as u32))
        .collect();
    Tensor::new(rows.as_slice(), device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cover_every_merged_token_once_with_partial_edges() {
        // 5 x 7 merged tokens in windows of 4: a 4 x 4, a 4 x 3, a 1 x 4 and a 1 x 3 window.
        let (order, chunks) = window_order(&[[1, 10, 14]], 2, 4);
        let sizes: Vec<usize> = chunks.iter().map(|(_, length)| length / 4).collect();
        assert_eq!(sizes, vec![16, 12, 4, 3]);
        assert_eq!(&order[..5], &[0, 1, 2, 3, 7]);
        assert_eq!(&order[16..19], &[4, 5, 6]);
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..35).collect::<Vec<_>>());
        // A second image's tokens come after the first's, each frame of a video on its own.
        let (order, chunks) = window_order(&[[1, 4, 4], [2, 4, 4]], 2, 4);
        assert_eq!(order, (0..12).collect::<Vec<_>>());
        assert_eq!(chunks, vec![(0, 16), (16, 16), (32, 16)]);
        // A 10 x 14 patch grid: 5 x 7 merged tokens, windows of 4 x 4 merged tokens.
        let chunks = image_chunks(&[[1, 10, 14], [2, 4, 4]]);
        assert_eq!(chunks, vec![(0, 140), (140, 16), (156, 16)]);
        let order: Vec<usize> = (0..35).collect();
        let rows = merged_token_rows(&order[..2], 4, &Device::Cpu)
            .and_then(|rows| rows.to_vec1::<u32>())
            .expect("rows");
        assert_eq!(rows, vec![0, 1, 2, 3, 4, 5, 6, 7]);
    }
}
