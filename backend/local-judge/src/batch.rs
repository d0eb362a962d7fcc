//! Length-bucketed batching under a token budget, and right padding.
//!
//! Inputs are sorted by length so that a batch pads little, and batches are filled until the
//! padded size (rows × longest row) would pass the budget, like TEI's `max_batch_tokens`. The
//! two responses of a sample travel together when they fit, so that both rewards come from the
//! same padded shapes and arrive at the same time.

use candle_core::{Device, Tensor};

use crate::error::LocalJudgeError;
use crate::input::EncodedText;

/// The default padded-token budget of one batch.
pub const DEFAULT_BATCH_TOKENS: usize = 16_384;

/// Indices into the input list, one batch each, covering every input exactly once.
///
/// `groups` lists inputs that should share a batch (a sample's two responses); a group whose
/// members do not fit together is split. An input longer than the budget gets a batch of its own
/// (the budget bounds batching, it never refuses an input that passed the length limit).
pub fn plan_batches(
    lengths: &[usize],
    groups: &[Vec<usize>],
    batch_tokens: usize,
) -> Vec<Vec<usize>> {
    let batch_tokens = batch_tokens.max(1);
    // Units of scheduling: the groups that fit whole, and the members of those that do not.
    let mut units: Vec<Vec<usize>> = Vec::with_capacity(groups.len());
    for group in groups {
        let longest = group.iter().map(|&index| lengths[index]).max().unwrap_or(0);
        if group.len() * longest <= batch_tokens {
            units.push(group.clone());
        } else {
            units.extend(group.iter().map(|&index| vec![index]));
        }
    }
    let unit_length =
        |unit: &Vec<usize>| unit.iter().map(|&index| lengths[index]).max().unwrap_or(0);
    // Longest first: the first batch is the heaviest, so memory trouble shows at once.
    units.sort_by_key(|unit| std::cmp::Reverse(unit_length(unit)));

    let mut batches = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    let mut current_longest = 0;
    for unit in units {
        let longest = current_longest.max(unit_length(&unit));
        if !current.is_empty() && (current.len() + unit.len()) * longest > batch_tokens {
            batches.push(std::mem::take(&mut current));
            current_longest = 0;
        }
        current_longest = current_longest.max(unit_length(&unit));
        current.extend(unit);
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

/// Right-padded tensors of one batch, all `[rows, longest]` of `u32`.
#[derive(Debug)]
pub struct PaddedBatch {
    /// Token ids, padded with the tokenizer's pad id.
    pub input_ids: Tensor,
    /// Segment ids, padded with 0.
    pub type_ids: Tensor,
    /// 1 for real tokens, 0 for padding.
    pub attention_mask: Tensor,
    /// The unpadded length of each row: the last real token of row `i` is at `lengths[i] - 1`.
    pub lengths: Vec<usize>,
}

impl PaddedBatch {
    /// Pads the inputs on the right to the longest one and moves them to `device`.
    pub fn new(
        inputs: &[&EncodedText],
        pad_id: u32,
        device: &Device,
    ) -> Result<PaddedBatch, LocalJudgeError> {
        let rows = inputs.len();
        let longest = inputs.iter().map(|input| input.len()).max().unwrap_or(0);
        if rows == 0 || longest == 0 {
            return Err(LocalJudgeError::Input {
                message: "an empty batch cannot be scored".to_owned(),
            });
        }
        let mut ids = Vec::with_capacity(rows * longest);
        let mut type_ids = Vec::with_capacity(rows * longest);
        let mut mask = Vec::with_capacity(rows * longest);
        for input in inputs {
            let padding = longest - input.len();
            ids.extend_from_slice(&input.ids);
            ids.extend(std::iter::repeat_n(pad_id, padding));
            type_ids.extend_from_slice(&input.type_ids);
            type_ids.extend(std::iter::repeat_n(0, padding));
            mask.extend(std::iter::repeat_n(1u32, input.len()));
            mask.extend(std::iter::repeat_n(0u32, padding));
        }
        let tensor = |values: Vec<u32>| {
            Tensor::from_vec(values, (rows, longest), device)
                .map_err(LocalJudgeError::model("building a batch"))
        };
        Ok(PaddedBatch {
            input_ids: tensor(ids)?,
            type_ids: tensor(type_ids)?,
            attention_mask: tensor(mask)?,
            lengths: inputs.iter().map(|input| input.len()).collect(),
        })
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.lengths.len()
    }

    /// The index of each row's last real token, as a `u32` tensor on the batch's device.
    pub fn last_token_indices(&self) -> candle_core::Result<Tensor> {
        let last: Vec<u32> = self
            .lengths
            .iter()
            .map(|&length| (length - 1) as u32)
            .collect();
        Tensor::new(last, self.input_ids.device())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn covers_each_once(batches: &[Vec<usize>], count: usize) {
        let mut seen: Vec<usize> = batches.iter().flatten().copied().collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..count).collect::<Vec<_>>());
    }

    #[test]
    fn batches_respect_the_budget_and_keep_pairs_together() {
        let lengths = [10, 12, 100, 90, 11, 13, 50, 60];
        let groups: Vec<Vec<usize>> = (0..4).map(|pair| vec![2 * pair, 2 * pair + 1]).collect();
        let batches = plan_batches(&lengths, &groups, 240);
        covers_each_once(&batches, lengths.len());
        for batch in &batches {
            let longest = batch.iter().map(|&index| lengths[index]).max().unwrap_or(0);
            assert!(
                batch.len() * longest <= 240 || batch.len() == 1,
                "{batch:?}"
            );
            for pair in &groups {
                let inside = pair.iter().filter(|index| batch.contains(index)).count();
                assert!(
                    inside == 0 || inside == 2,
                    "pair {pair:?} split in {batch:?}"
                );
            }
        }
        // Longest first.
        assert!(batches[0].contains(&2));
    }

    #[test]
    fn pairs_that_cannot_fit_are_split_and_oversized_inputs_run_alone() {
        let lengths = [300, 20];
        let batches = plan_batches(&lengths, &[vec![0, 1]], 100);
        assert_eq!(batches, vec![vec![0], vec![1]]);
    }

    #[test]
    fn padding_is_on_the_right_with_a_mask() {
        let first = EncodedText {
            ids: vec![5, 6, 7],
            type_ids: vec![0, 0, 0],
        };
        let second = EncodedText {
            ids: vec![8],
            type_ids: vec![0],
        };
        let batch = PaddedBatch::new(&[&first, &second], 0, &Device::Cpu).expect("batch");
        assert_eq!(
            batch.input_ids.to_vec2::<u32>().expect("ids"),
            vec![vec![5, 6, 7], vec![8, 0, 0]]
        );
        assert_eq!(
            batch.attention_mask.to_vec2::<u32>().expect("mask"),
            vec![vec![1, 1, 1], vec![1, 0, 0]]
        );
        assert_eq!(
            batch
                .last_token_indices()
                .expect("last")
                .to_vec1::<u32>()
                .expect("v"),
            vec![2, 0]
        );
        assert!(PaddedBatch::new(&[], 0, &Device::Cpu).is_err());
    }
}
