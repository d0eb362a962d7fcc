//! Deterministic shuffling and the train/validation split, from a seed alone (SplitMix64 from
//! the shared crate, so every platform gets the same order).

use omnireward_shared::random::SplitMix64;

/// `0..count` in a seeded Fisher-Yates order.
pub fn shuffled_indices(count: usize, seed: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..count).collect();
    let mut random = SplitMix64::new(seed);
    for last in (1..count).rev() {
        let other = random.next_index(last + 1);
        order.swap(last, other);
    }
    order
}

/// The order of the training pairs in `epoch` (from 0): a fresh shuffle per epoch, a pure
/// function of the seed and the epoch so that a resumed run sees the same order.
pub fn epoch_order(count: usize, seed: u64, epoch: usize) -> Vec<usize> {
    // Distinct, well-mixed seeds per epoch; the constant is the 64-bit golden ratio.
    let epoch_seed = seed ^ (epoch as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    shuffled_indices(count, epoch_seed)
}

/// Splits `items` into (training, validation) after a seeded shuffle: `validation_count` items
/// go to validation. The validation set does not depend on anything but the items and the seed.
pub fn train_validation_split<T>(
    items: Vec<T>,
    validation_count: usize,
    seed: u64,
) -> (Vec<T>, Vec<T>) {
    let order = shuffled_indices(items.len(), seed);
    let mut slots: Vec<Option<T>> = items.into_iter().map(Some).collect();
    let mut validation = Vec::with_capacity(validation_count.min(slots.len()));
    let mut training = Vec::with_capacity(slots.len().saturating_sub(validation_count));
    for (position, index) in order.into_iter().enumerate() {
        if let Some(item) = slots[index].take() {
            if position < validation_count {
                validation.push(item);
            } else {
                training.push(item);
            }
        }
    }
    (training, validation)
}

/// The number of validation pairs for a fraction of `total`, at least one when the fraction is
/// positive and there are at least two pairs (so validation is never silently empty).
pub fn validation_count(total: usize, fraction: f64) -> usize {
    if fraction <= 0.0 || total < 2 {
        return 0;
    }
    ((total as f64 * fraction).round() as usize).clamp(1, total - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shuffles_are_permutations_and_depend_only_on_the_seed() {
        let first = shuffled_indices(100, 7);
        assert_eq!(first, shuffled_indices(100, 7));
        assert_ne!(first, shuffled_indices(100, 8));
        let mut sorted = first.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
        assert_ne!(epoch_order(100, 7, 0), epoch_order(100, 7, 1));
    }

    #[test]
    fn the_split_is_disjoint_complete_and_seeded() {
        let (training, validation) = train_validation_split((0..50).collect(), 10, 3);
        assert_eq!(validation.len(), 10);
        assert_eq!(training.len(), 40);
        let mut all: Vec<i32> = training.iter().chain(&validation).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..50).collect::<Vec<_>>());
        let (_, again) = train_validation_split((0..50).collect::<Vec<i32>>(), 10, 3);
        assert_eq!(validation, again);
        assert_eq!(validation_count(1000, 0.05), 50);
        assert_eq!(validation_count(3, 0.01), 1);
        assert_eq!(validation_count(3, 0.0), 0);
    }
}
