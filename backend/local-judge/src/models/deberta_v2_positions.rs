//! DeBERTa-v2's relative positions and the gather indices of its disentangled attention,
//! computed on the host as plain integers (they depend only on the sequence length and the
//! config, never on weights, so they need no gradient): `transformers`'
//! `build_relative_position` and `make_log_bucket_position` in `modeling_deberta_v2.py`.

/// How the relative position of a query and a key is turned into a row of `rel_embeddings`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RelativePositions {
    /// `position_buckets` when positive: distances beyond half of it share log-spaced buckets.
    pub buckets: Option<usize>,
    /// `max_relative_positions` (`max_position_embeddings` when the config gives less than 1).
    pub max_relative_positions: usize,
}

impl RelativePositions {
    /// Half the number of `rel_embeddings` rows (`transformers`' `pos_ebd_size`, the
    /// attention span): the bucket count, else `max_relative_positions`.
    pub fn span(&self) -> usize {
        self.buckets.unwrap_or(self.max_relative_positions)
    }

    /// `query - key` for every query (row) and key (column) of a sequence of `length` tokens,
    /// log-bucketed when buckets are set; row-major `[length, length]`.
    pub fn relative(&self, length: usize) -> Vec<i64> {
        let mut relative = Vec::with_capacity(length * length);
        for query in 0..length as i64 {
            for key in 0..length as i64 {
                let distance = query - key;
                relative.push(match self.buckets {
                    Some(buckets) => {
                        log_bucket(distance, buckets as i64, self.max_relative_positions as i64)
                    }
                    None => distance,
                });
            }
        }
        relative
    }

    /// The `rel_embeddings` column each content-to-position score reads:
    /// `clamp(relative + span, 0, 2 span - 1)`, row-major `[length, length]`.
    pub fn content_to_position(&self, length: usize) -> Vec<u32> {
        let span = self.span() as i64;
        self.relative(length)
            .into_iter()
            .map(|relative| (relative + span).clamp(0, 2 * span - 1) as u32)
            .collect()
    }

    /// The `rel_embeddings` column each position-to-content score reads (before the transpose):
    /// `clamp(-relative + span, 0, 2 span - 1)`, row-major `[length, length]`.
    pub fn position_to_content(&self, length: usize) -> Vec<u32> {
        let span = self.span() as i64;
        self.relative(length)
            .into_iter()
            .map(|relative| (span - relative).clamp(0, 2 * span - 1) as u32)
            .collect()
    }
}

/// `make_log_bucket_position` for one distance: distances within half the bucket count stay
/// as they are; longer ones map to `ceil(log(|d| / mid) / log((max - 1) / mid) × (mid - 1)) + mid`
/// with the sign of `d`. Computed in f32 as `transformers` does (its tensors are float32), so
/// that the bucket boundaries round the same way.
fn log_bucket(distance: i64, buckets: i64, max_position: i64) -> i64 {
    let middle = buckets / 2;
    let absolute = if distance < middle && distance > -middle {
        middle - 1
    } else {
        distance.abs()
    };
    if absolute <= middle {
        return distance;
    }
    let ratio = ((max_position - 1) as f64 / middle as f64) as f32;
    let scaled = (absolute as f32 / middle as f32).ln() / ratio.ln() * (middle - 1) as f32;
    let bucket = scaled.ceil() as i64 + middle;
    bucket * distance.signum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unbucketed_positions_are_query_minus_key() {
        let positions = RelativePositions {
            buckets: None,
            max_relative_positions: 24,
        };
        assert_eq!(positions.relative(3), vec![0, -1, -2, 1, 0, -1, 2, 1, 0]);
        assert_eq!(positions.span(), 24);
        assert_eq!(positions.content_to_position(2), vec![24, 23, 25, 24]);
        assert_eq!(positions.position_to_content(2), vec![24, 25, 23, 24]);
    }

    #[test]
    fn long_distances_share_log_buckets_like_transformers() {
        // transformers 4.57.3: make_log_bucket_position(torch.tensor(distances), 16, 64).
        let expected = [
            (0, 0),
            (7, 7),
            (8, 8),
            (9, 9),
            (12, 10),
            (20, 12),
            (40, 14),
            (63, 15),
            (-9, -9),
            (-63, -15),
        ];
        for (distance, bucket) in expected {
            assert_eq!(log_bucket(distance, 16, 64), bucket, "distance {distance}");
        }
    }

    #[test]
    fn indices_stay_inside_the_relative_embeddings() {
        let positions = RelativePositions {
            buckets: Some(4),
            max_relative_positions: 8,
        };
        let span = positions.span() as u32;
        for index in positions
            .content_to_position(30)
            .into_iter()
            .chain(positions.position_to_content(30))
        {
            assert!(index < 2 * span, "{index}");
        }
    }
}
