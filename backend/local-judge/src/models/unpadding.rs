//! Running the per-token work of a padded batch on its real tokens only.
//!
//! A batch is padded to its longest input, and most of a transformer layer (the projections, the
//! feed-forward network, the norms and residual additions: all but the attention itself) treats
//! every position on its own. [`Unpadding`] gathers the real tokens of `[rows, len, …]` into
//! `[tokens, …]` for that work and scatters them back, with zeros at the padding, for the
//! attention, which needs the padded layout. On the benchmark's batches (15 % padding) this saves
//! the same share of the matrix products (docs/benchmarks.md). The results are those of the
//! padded computation: padding never reached a real token's value, it only cost time.
//!
//! The moves are `index_select`s, which candle differentiates, and, into and out of the attention
//! heads, custom ops that are each other's backward pass, so training goes through them.

use std::sync::Arc;

use candle_core::{CpuStorage, CustomOp1, DType, Device, Layout, Shape, Tensor, bail};
use rayon::prelude::*;

use super::vectorised::contiguous_f32;

/// Below this share of real tokens the gather and scatter cost less than the padded rows they
/// save; above it (almost no padding) the batch runs padded.
const WORTHWHILE_REAL_SHARE: f64 = 0.95;

/// Where the real tokens of a padded batch `[rows, length]` are.
#[derive(Debug)]
pub(crate) struct Unpadding {
    /// `[tokens]`: the flat padded position (`row × length + position`) of each real token.
    real: Tensor,
    /// `[rows × length]`: each padded position's real-token index, or `tokens` for padding (the
    /// zero row [`Unpadding::pad`] appends).
    padded: Tensor,
    /// The same, on the host, by row (shared with the moves to and from attention heads).
    rows_of_tokens: Arc<RowsOfTokens>,
}

/// The real tokens of each row of a `[rows, length]` batch: row `r` holds tokens
/// `starts[r]..starts[r + 1]`, the token `t` at position `positions[t]` of its row (increasing
/// within a row).
#[derive(Debug)]
struct RowsOfTokens {
    rows: usize,
    length: usize,
    starts: Vec<usize>,
    positions: Vec<u32>,
}

impl Unpadding {
    /// From an attention mask `[rows, length]` (1 for real tokens, 0 for padding, any layout).
    /// `None` where unpadding would not pay: no padding, or almost none.
    pub(crate) fn from_mask(mask: &Tensor) -> candle_core::Result<Option<Unpadding>> {
        let flags = mask.to_dtype(DType::F32)?.to_vec2::<f32>()?;
        let rows = flags.len();
        let length = flags.first().map_or(0, Vec::len);
        Unpadding::from_flags(
            rows,
            length,
            flags.iter().flatten().map(|&flag| flag > 0.5),
            mask.device(),
        )
    }

    /// From the unpadded length of each row of a right-padded batch of `length` positions.
    pub(crate) fn from_lengths(
        lengths: &[usize],
        length: usize,
        device: &Device,
    ) -> candle_core::Result<Option<Unpadding>> {
        let flags = lengths
            .iter()
            .flat_map(|&real| (0..length).map(move |position| position < real));
        Unpadding::from_flags(lengths.len(), length, flags, device)
    }

    fn from_flags(
        rows: usize,
        length: usize,
        flags: impl Iterator<Item = bool>,
        device: &Device,
    ) -> candle_core::Result<Option<Unpadding>> {
        let mut real = Vec::new();
        let mut padded_host = Vec::with_capacity(rows * length);
        for (position, is_real) in flags.enumerate() {
            if is_real {
                padded_host.push(real.len() as u32);
                real.push(position as u32);
            } else {
                padded_host.push(u32::MAX);
            }
        }
        let tokens = real.len();
        let total = rows * length;
        if padded_host.len() != total {
            candle_core::bail!(
                "an attention mask of {} flags for {rows} × {length}",
                padded_host.len()
            )
        }
        if tokens == 0 || tokens as f64 >= WORTHWHILE_REAL_SHARE * total as f64 {
            return Ok(None);
        }
        for index in &mut padded_host {
            if *index == u32::MAX {
                *index = tokens as u32;
            }
        }
        let mut starts = Vec::with_capacity(rows + 1);
        let mut next = 0;
        for row in 0..rows {
            starts.push(next);
            next += real[next..]
                .iter()
                .take_while(|&&flat| (flat as usize) / length == row)
                .count();
        }
        starts.push(next);
        let positions = real.iter().map(|&flat| flat % length as u32).collect();
        let rows_of_tokens = Arc::new(RowsOfTokens {
            rows,
            length,
            starts,
            positions,
        });
        Ok(Some(Unpadding {
            real: Tensor::new(real, device)?,
            padded: Tensor::new(padded_host, device)?,
            rows_of_tokens,
        }))
    }

    /// The batch's rows and padded length.
    pub(crate) fn padded_shape(&self) -> (usize, usize) {
        (self.rows_of_tokens.rows, self.rows_of_tokens.length)
    }

    /// `[rows, length, width]` → `[tokens, width]`: the real tokens, row by row.
    pub(crate) fn unpad(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let (rows, length) = self.padded_shape();
        let width = xs.dim(2)?;
        xs.reshape((rows * length, width))?
            .index_select(&self.real, 0)
    }

    /// `[tokens, width]` → `[rows, length, width]`, zeros at the padding.
    pub(crate) fn pad(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let (rows, length) = self.padded_shape();
        let width = xs.dim(1)?;
        let zero = Tensor::zeros((1, width), xs.dtype(), xs.device())?;
        Tensor::cat(&[xs, &zero], 0)?
            .index_select(&self.padded, 0)?
            .reshape((rows, length, width))
    }

    /// Each row's token at position 0 `[rows, width]` of `xs` `[tokens, width]`: the first token
    /// of a right-padded row (an error where a row starts with padding).
    pub(crate) fn first_tokens(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let indices = (0..self.rows_of_tokens.rows)
            .map(|row| {
                self.token_index(row, 0).ok_or_else(|| {
                    candle_core::Error::Msg(format!("row {row} starts with padding"))
                })
            })
            .collect::<candle_core::Result<Vec<u32>>>()?;
        xs.index_select(&Tensor::new(indices, xs.device())?, 0)
    }

    /// `[tokens, heads × head_size]` → attention heads `[rows, heads, length, head_size]`,
    /// zeros at the padding: [`Unpadding::pad`] and the heads' transpose in one parallel move
    /// (f32 on the CPU; the two separate moves elsewhere).
    pub(crate) fn pad_heads(&self, xs: &Tensor, heads: usize) -> candle_core::Result<Tensor> {
        if xs.device().is_cpu() && xs.dtype() == DType::F32 {
            let op = HeadMove {
                rows_of_tokens: Arc::clone(&self.rows_of_tokens),
                heads,
                direction: Direction::ToHeads,
            };
            return xs.contiguous()?.apply_op1(op);
        }
        let (rows, length) = self.padded_shape();
        let width = xs.dim(1)?;
        self.pad(xs)?
            .reshape((rows, length, heads, width / heads))?
            .transpose(1, 2)?
            .contiguous()
    }

    /// Attention heads `[rows, heads, length, head_size]` → `[tokens, heads × head_size]`: the
    /// inverse of [`Unpadding::pad_heads`] (the padding's values are dropped).
    pub(crate) fn unpad_heads(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        if xs.device().is_cpu() && xs.dtype() == DType::F32 {
            let (_, heads, _, _) = xs.dims4()?;
            let op = HeadMove {
                rows_of_tokens: Arc::clone(&self.rows_of_tokens),
                heads,
                direction: Direction::FromHeads,
            };
            return xs.contiguous()?.apply_op1(op);
        }
        self.unpad(&xs.transpose(1, 2)?.flatten_from(2)?)
    }

    /// The real-token index of `position` in `row`; `None` for padding.
    pub(crate) fn token_index(&self, row: usize, position: usize) -> Option<u32> {
        let RowsOfTokens {
            starts, positions, ..
        } = self.rows_of_tokens.as_ref();
        let first = *starts.get(row)?;
        let row_positions = positions.get(first..*starts.get(row + 1)?)?;
        let offset = row_positions.binary_search(&(position as u32)).ok()?;
        Some((first + offset) as u32)
    }
}

/// Which way a [`HeadMove`] goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Direction {
    /// `[tokens, heads × head_size]` → `[rows, heads, length, head_size]`.
    ToHeads,
    /// `[rows, heads, length, head_size]` → `[tokens, heads × head_size]`.
    FromHeads,
}

/// The fused move between the unpadded tokens and the padded attention heads, as a candle
/// custom op: each row is copied by one task, so the move is parallel where a `cat`, an
/// `index_select` and a transposing copy are each a serial pass. The two directions are each
/// other's backward pass.
struct HeadMove {
    rows_of_tokens: Arc<RowsOfTokens>,
    heads: usize,
    direction: Direction,
}

impl CustomOp1 for HeadMove {
    fn name(&self) -> &'static str {
        match self.direction {
            Direction::ToHeads => "unpadded-to-heads",
            Direction::FromHeads => "heads-to-unpadded",
        }
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let input = contiguous_f32(self.name(), storage, layout)?;
        let RowsOfTokens {
            rows,
            length,
            starts,
            positions,
        } = self.rows_of_tokens.as_ref();
        let (rows, length, heads) = (*rows, *length, self.heads);
        let tokens = positions.len();
        let dims = layout.shape().dims();
        match (self.direction, dims) {
            (Direction::ToHeads, &[count, width]) if count == tokens && width % heads == 0 => {
                let head_size = width / heads;
                let mut output = vec![0.0f32; rows * heads * length * head_size];
                output
                    .par_chunks_mut(heads * length * head_size)
                    .enumerate()
                    .for_each(|(row, block)| {
                        for token in starts[row]..starts[row + 1] {
                            let position = positions[token] as usize;
                            let source = &input[token * width..(token + 1) * width];
                            for (head, values) in source.chunks_exact(head_size).enumerate() {
                                let at = (head * length + position) * head_size;
                                block[at..at + head_size].copy_from_slice(values);
                            }
                        }
                    });
                let shape = Shape::from_dims(&[rows, heads, length, head_size]);
                Ok((CpuStorage::F32(output), shape))
            }
            (Direction::FromHeads, &[batch_rows, batch_heads, batch_length, head_size])
                if (batch_rows, batch_heads, batch_length) == (rows, heads, length) =>
            {
                let width = heads * head_size;
                let mut output = vec![0.0f32; tokens * width];
                let mut blocks = Vec::with_capacity(rows);
                let mut rest = output.as_mut_slice();
                for row in 0..rows {
                    let (block, tail) = rest.split_at_mut((starts[row + 1] - starts[row]) * width);
                    blocks.push((row, block));
                    rest = tail;
                }
                blocks.into_par_iter().for_each(|(row, block)| {
                    let source = &input[row * heads * length * head_size..];
                    for (offset, values) in block.chunks_exact_mut(width).enumerate() {
                        let position = positions[starts[row] + offset] as usize;
                        for (head, out) in values.chunks_exact_mut(head_size).enumerate() {
                            let at = (head * length + position) * head_size;
                            out.copy_from_slice(&source[at..at + head_size]);
                        }
                    }
                });
                Ok((CpuStorage::F32(output), Shape::from_dims(&[tokens, width])))
            }
            _ => bail!(
                "{}: shape {dims:?} does not fit {rows} rows of {length} with {tokens} tokens \
                 and {heads} heads",
                self.name()
            ),
        }
    }

    fn bwd(
        &self,
        _arg: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        let inverse = HeadMove {
            rows_of_tokens: Arc::clone(&self.rows_of_tokens),
            heads: self.heads,
            direction: match self.direction {
                Direction::ToHeads => Direction::FromHeads,
                Direction::FromHeads => Direction::ToHeads,
            },
        };
        grad_res.contiguous()?.apply_op1_no_bwd(&inverse).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpad_then_pad_gives_the_real_tokens_back_and_zeros_at_the_padding()
    -> candle_core::Result<()> {
        let device = Device::Cpu;
        let mask = Tensor::new(&[[1u32, 1, 1, 0], [1, 0, 0, 0], [0, 1, 1, 0]], &device)?;
        let unpadding = Unpadding::from_mask(&mask)?.expect("half of the batch is padding");
        assert_eq!(unpadding.padded_shape(), (3, 4));
        let xs = Tensor::arange(0f32, 24.0, &device)?.reshape((3, 4, 2))?;
        let real = unpadding.unpad(&xs)?;
        assert_eq!(
            real.to_vec2::<f32>()?,
            [
                [0.0, 1.0],
                [2.0, 3.0],
                [4.0, 5.0],
                [8.0, 9.0],
                [18.0, 19.0],
                [20.0, 21.0]
            ]
        );
        let padded = unpadding.pad(&real)?.to_vec3::<f32>()?;
        let expected = xs.broadcast_mul(&mask.to_dtype(DType::F32)?.unsqueeze(2)?)?;
        assert_eq!(padded, expected.to_vec3::<f32>()?);
        assert_eq!(unpadding.token_index(0, 2), Some(2));
        assert_eq!(unpadding.token_index(2, 2), Some(5));
        assert_eq!(unpadding.token_index(1, 1), None);
        Ok(())
    }

    /// The fused moves equal the separate ones (pad, then split heads; merge heads, then unpad),
    /// and each is the other's gradient.
    #[test]
    fn head_moves_equal_the_separate_moves() -> candle_core::Result<()> {
        let device = Device::Cpu;
        let mask = Tensor::new(&[[1u32, 1, 1, 0], [1, 0, 0, 0], [1, 1, 0, 0]], &device)?;
        let unpadding = Unpadding::from_mask(&mask)?.expect("padding");
        let (heads, head_size) = (2, 3);
        let variable = candle_core::Var::from_tensor(
            &Tensor::arange(0f32, (6 * heads * head_size) as f32, &device)?
                .reshape((6, heads * head_size))?,
        )?;
        let fused = unpadding.pad_heads(variable.as_tensor(), heads)?;
        let separate = unpadding
            .pad(variable.as_tensor())?
            .reshape((3, 4, heads, head_size))?
            .transpose(1, 2)?
            .contiguous()?;
        assert_eq!(fused.dims(), [3, heads, 4, head_size]);
        assert_eq!(
            fused.flatten_all()?.to_vec1::<f32>()?,
            separate.flatten_all()?.to_vec1::<f32>()?
        );
        let back = unpadding.unpad_heads(&fused)?;
        assert_eq!(
            back.to_vec2::<f32>()?,
            variable.as_tensor().to_vec2::<f32>()?
        );
        // d(sum(w ⊙ pad_heads(x)))/dx = unpad_heads(w).
        let weights = Tensor::arange(0f32, (3 * heads * 4 * head_size) as f32, &device)?
            .reshape((3, heads, 4, head_size))?
            .cos()?;
        let gradients = (fused * &weights)?.sum_all()?.backward()?;
        let gradient = gradients.get(variable.as_tensor()).expect("a gradient");
        let expected = unpadding
            .unpad(&weights.transpose(1, 2)?.flatten_from(2)?)?
            .to_vec2::<f32>()?;
        assert_eq!(gradient.to_vec2::<f32>()?, expected);
        Ok(())
    }

    #[test]
    fn lengths_describe_a_right_padded_batch() -> candle_core::Result<()> {
        let unpadding =
            Unpadding::from_lengths(&[3, 1], 3, &Device::Cpu)?.expect("a third is padding");
        assert_eq!(unpadding.token_index(1, 0), Some(3));
        assert_eq!(unpadding.token_index(1, 1), None);
        Ok(())
    }

    #[test]
    fn batches_with_little_or_no_padding_stay_padded() -> candle_core::Result<()> {
        let lengths = vec![20; 10];
        assert!(Unpadding::from_lengths(&lengths, 20, &Device::Cpu)?.is_none());
        let mut lengths = vec![20; 10];
        lengths[0] = 19;
        assert!(Unpadding::from_lengths(&lengths, 20, &Device::Cpu)?.is_none());
        Ok(())
    }

    #[test]
    fn gradients_flow_back_through_the_moves() -> candle_core::Result<()> {
        let device = Device::Cpu;
        let unpadding = Unpadding::from_lengths(&[2, 1], 2, &device)?.expect("padding");
        let variable = candle_core::Var::new(&[[1f32, 2.0], [3.0, 4.0], [5.0, 6.0]], &device)?;
        let padded = unpadding.pad(variable.as_tensor())?;
        let weights = Tensor::new(
            &[[[1f32, 1.0], [2.0, 2.0]], [[3.0, 3.0], [4.0, 4.0]]],
            &device,
        )?;
        let gradients = (padded * weights)?.sum_all()?.backward()?;
        let gradient = gradients.get(variable.as_tensor()).expect("a gradient");
        // Token 2 (row 1, position 0) carries weight 3; the padding's weight 4 reaches nothing.
        assert_eq!(
            gradient.to_vec2::<f32>()?,
            [[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]
        );
        Ok(())
    }
}
