//! The key/value cache of a batch of sequences generated together, and what one forward step
//! over it needs: each row's positions and the attention mask.
//!
//! Per layer the keys and values are `[rows, kv_heads, slots, head_dim]`. Every row ends at the
//! last slot; a row shorter than the longest starts with `padding[row]` empty slots (left
//! padding), which the mask hides. This layout lets rows leave ([`BatchCache::retain`]) and join
//! ([`BatchCache::append_rows`]) between decoding steps without recomputing anyone, which is what
//! continuous batching needs: a joining group is left-padded (or the running rows are) until
//! both end at the same slot, and leading slots every row leaves empty are dropped.
//!
//! Positions count each row's real tokens, so padding never shifts a row's rotary angles
//! (`transformers` derives `position_ids` from the attention mask the same way).

use candle_core::{Device, Tensor};

/// What attention adds to the score of a hidden key: large and finite rather than -inf, so that
/// a row with every key hidden cannot produce NaN (0 × -inf) that would leak into the cache.
pub const MASKED: f32 = -1.0e30;

/// Keys, values and padding of the rows being generated.
#[derive(Debug)]
pub struct BatchCache {
    layers: Vec<Option<(Tensor, Tensor)>>,
    padding: Vec<usize>,
    slots: usize,
    /// Per row, what its rotary positions add to its token count (0 for text models;
    /// Qwen2-VL's `rope_deltas` after a prompt with media).
    position_offsets: Vec<i64>,
}

/// Positions and mask of one forward step over `len` new tokens per row.
#[derive(Debug)]
pub struct Step {
    /// `[rows * len]` rotary positions of the new tokens (0 for padding).
    pub positions: Vec<u32>,
    /// `[rows, 1, 1, len, slots + len]`: 0 where a new token may attend, [`MASKED`] elsewhere.
    pub mask: Tensor,
    /// New tokens per row.
    pub len: usize,
}

impl BatchCache {
    /// An empty cache for a model of `num_layers` layers.
    pub fn new(num_layers: usize) -> BatchCache {
        BatchCache {
            layers: vec![None; num_layers],
            padding: Vec::new(),
            slots: 0,
            position_offsets: Vec::new(),
        }
    }

    /// Per row, the offset its rotary positions add to its token count (zeros unless set).
    pub fn position_offsets(&self) -> &[i64] {
        &self.position_offsets
    }

    /// Sets each row's position offset (a model whose positions do not follow the token
    /// count, such as Qwen2-VL after images, sets them at its prefill); rows keep theirs when
    /// others leave or join.
    pub fn set_position_offsets(&mut self, offsets: Vec<i64>) -> candle_core::Result<()> {
        if offsets.len() != self.rows() {
            candle_core::bail!(
                "{} position offsets for {} rows",
                offsets.len(),
                self.rows()
            );
        }
        self.position_offsets = offsets;
        Ok(())
    }

    /// Rows held.
    pub fn rows(&self) -> usize {
        self.padding.len()
    }

    /// Slots per row (the longest row's length).
    pub fn slots(&self) -> usize {
        self.slots
    }

    /// Leading empty slots per row.
    pub fn padding(&self) -> &[usize] {
        &self.padding
    }

    /// Real tokens per row.
    pub fn lengths(&self) -> Vec<usize> {
        self.padding
            .iter()
            .map(|padding| self.slots - padding)
            .collect()
    }

    /// Starts a step of `len` new tokens per row, of which the first `chunk_padding[row]` are
    /// padding. Only an empty cache takes padded input (a left-padded prefill); later steps add
    /// real tokens to every row.
    pub fn step(
        &mut self,
        chunk_padding: &[usize],
        len: usize,
        device: &Device,
    ) -> candle_core::Result<Step> {
        if self.rows() == 0 && self.slots == 0 {
            self.padding = chunk_padding.to_vec();
            self.position_offsets = vec![0; chunk_padding.len()];
        } else if chunk_padding.len() != self.rows() || chunk_padding.iter().any(|&pad| pad != 0) {
            candle_core::bail!(
                "a step over a filled cache of {} rows must add unpadded tokens to every row (got padding {chunk_padding:?})",
                self.rows()
            );
        }
        if len == 0 || chunk_padding.iter().any(|&pad| pad >= len) {
            candle_core::bail!(
                "every row needs at least one real token (padding {chunk_padding:?}, length {len})"
            );
        }
        let rows = self.rows();
        let total = self.slots + len;
        let mut positions = Vec::with_capacity(rows * len);
        let mut mask = Vec::with_capacity(rows * len * total);
        for &padding in &self.padding {
            for offset in 0..len {
                let slot = self.slots + offset;
                positions.push(slot.saturating_sub(padding) as u32);
                let is_padding = slot < padding;
                for key in 0..total {
                    // Padding queries attend to themselves only: their output is never read,
                    // but it must stay finite.
                    let visible = if is_padding {
                        key == slot
                    } else {
                        key <= slot && key >= padding
                    };
                    mask.push(if visible { 0.0 } else { MASKED });
                }
            }
        }
        let mask = Tensor::from_vec(mask, (rows, 1, 1, len, total), device)?;
        Ok(Step {
            positions,
            mask,
            len,
        })
    }

    /// Appends a layer's new keys and values `[rows, kv_heads, len, head_dim]` and returns the
    /// layer's whole keys and values.
    pub fn append(
        &mut self,
        layer: usize,
        keys: Tensor,
        values: Tensor,
    ) -> candle_core::Result<(Tensor, Tensor)> {
        let Some(entry) = self.layers.get_mut(layer) else {
            candle_core::bail!("layer {layer} is not in the cache");
        };
        let updated = match entry.take() {
            None => (keys, values),
            Some((old_keys, old_values)) => (
                Tensor::cat(&[&old_keys, &keys], 2)?,
                Tensor::cat(&[&old_values, &values], 2)?,
            ),
        };
        *entry = Some(updated.clone());
        Ok(updated)
    }

    /// Ends a step: every layer has appended `len` slots.
    pub fn commit(&mut self, len: usize) {
        self.slots += len;
    }

    /// Keeps the rows at `keep` (in that order) and drops leading slots that every kept row
    /// leaves empty.
    pub fn retain(&mut self, keep: &[usize]) -> candle_core::Result<()> {
        if keep.is_empty() {
            *self = BatchCache::new(self.layers.len());
            return Ok(());
        }
        if keep.len() == self.rows() && keep.iter().enumerate().all(|(index, &row)| index == row) {
            return Ok(());
        }
        let padding: Vec<usize> = keep.iter().map(|&row| self.padding[row]).collect();
        let trim = padding.iter().copied().min().unwrap_or(0);
        for entry in self.layers.iter_mut().flatten() {
            let device = entry.0.device().clone();
            let indices = Tensor::from_vec(
                keep.iter().map(|&row| row as u32).collect::<Vec<_>>(),
                keep.len(),
                &device,
            )?;
            let select = |tensor: &Tensor| -> candle_core::Result<Tensor> {
                let kept = tensor.index_select(&indices, 0)?;
                if trim == 0 {
                    Ok(kept)
                } else {
                    kept.narrow(2, trim, self.slots - trim)?.contiguous()
                }
            };
            *entry = (select(&entry.0)?, select(&entry.1)?);
        }
        self.padding = padding.into_iter().map(|pad| pad - trim).collect();
        self.position_offsets = keep.iter().map(|&row| self.position_offsets[row]).collect();
        self.slots -= trim;
        Ok(())
    }

    /// Adds the rows of `other` after this cache's rows, left-padding whichever cache is
    /// shorter so that every row ends at the last slot.
    pub fn append_rows(&mut self, other: BatchCache) -> candle_core::Result<()> {
        if self.rows() == 0 {
            *self = other;
            return Ok(());
        }
        if other.rows() == 0 {
            return Ok(());
        }
        if other.layers.len() != self.layers.len() {
            candle_core::bail!("caches of different models cannot be joined");
        }
        let slots = self.slots.max(other.slots);
        let (own_extra, other_extra) = (slots - self.slots, slots - other.slots);
        let mut joined = Vec::with_capacity(self.layers.len());
        for (own, theirs) in self.layers.iter().zip(other.layers) {
            let (Some(own), Some(theirs)) = (own, theirs) else {
                candle_core::bail!("a cache without keys cannot be joined");
            };
            let keys = Tensor::cat(
                &[
                    &pad_front(&own.0, own_extra)?,
                    &pad_front(&theirs.0, other_extra)?,
                ],
                0,
            )?;
            let values = Tensor::cat(
                &[
                    &pad_front(&own.1, own_extra)?,
                    &pad_front(&theirs.1, other_extra)?,
                ],
                0,
            )?;
            joined.push(Some((keys, values)));
        }
        self.layers = joined;
        self.padding = self
            .padding
            .iter()
            .map(|pad| pad + own_extra)
            .chain(other.padding.iter().map(|pad| pad + other_extra))
            .collect();
        self.position_offsets.extend(other.position_offsets);
        self.slots = slots;
        Ok(())
    }
}

/// `[rows, kv_heads, slots, head_dim]` with `extra` zero slots in front.
fn pad_front(tensor: &Tensor, extra: usize) -> candle_core::Result<Tensor> {
    if extra == 0 {
        return Ok(tensor.clone());
    }
    let (rows, heads, _, head_dim) = tensor.dims4()?;
    let zeros = Tensor::zeros(
        (rows, heads, extra, head_dim),
        tensor.dtype(),
        tensor.device(),
    )?;
    Tensor::cat(&[&zeros, tensor], 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(rows: usize, slots: usize, start: f32) -> Tensor {
        let values: Vec<f32> = (0..rows * slots)
            .map(|index| start + index as f32)
            .collect();
        Tensor::from_vec(values, (rows, 1, slots, 1), &Device::Cpu).expect("tensor")
    }

    #[test]
    fn a_padded_prefill_hides_padding_and_counts_positions_from_real_tokens() {
        let mut cache = BatchCache::new(1);
        let step = cache.step(&[2, 0], 3, &Device::Cpu).expect("step");
        assert_eq!(step.positions, vec![0, 0, 0, 0, 1, 2]);
        let mask = step
            .mask
            .flatten_all()
            .expect("flat")
            .to_vec1::<f32>()
            .expect("mask");
        let visible: Vec<bool> = mask.iter().map(|value| *value == 0.0).collect();
        // Row 0: slots 0 and 1 are padding (each sees itself), slot 2 sees only itself.
        assert_eq!(
            visible[..9],
            [true, false, false, false, true, false, false, false, true]
        );
        // Row 1: causal.
        assert_eq!(
            visible[9..],
            [true, false, false, true, true, false, true, true, true]
        );
    }

    #[test]
    fn rows_leave_and_join_with_alignment_at_the_last_slot() {
        let mut cache = BatchCache::new(1);
        cache.step(&[1, 0, 2], 3, &Device::Cpu).expect("step");
        cache
            .append(0, filled(3, 3, 0.0), filled(3, 3, 0.0))
            .expect("append");
        cache.commit(3);
        assert_eq!(cache.lengths(), vec![2, 3, 1]);
        cache
            .set_position_offsets(vec![10, 20, 30])
            .expect("offsets");
        // The longest row leaves: the slot every remaining row leaves empty goes.
        cache.retain(&[0, 2]).expect("retain");
        assert_eq!(cache.slots(), 2);
        assert_eq!(cache.lengths(), vec![2, 1]);
        let mut other = BatchCache::new(1);
        other.step(&[0], 4, &Device::Cpu).expect("step");
        other
            .append(0, filled(1, 4, 100.0), filled(1, 4, 100.0))
            .expect("append");
        other.commit(4);
        cache.append_rows(other).expect("join");
        assert_eq!(cache.rows(), 3);
        assert_eq!(cache.slots(), 4);
        assert_eq!(cache.lengths(), vec![2, 1, 4]);
        assert_eq!(cache.position_offsets(), &[10, 30, 0]);
        let step = cache.step(&[0, 0, 0], 1, &Device::Cpu).expect("step");
        assert_eq!(step.positions, vec![2, 1, 4]);
        assert!(cache.step(&[1, 0, 0], 1, &Device::Cpu).is_err());
    }
}
