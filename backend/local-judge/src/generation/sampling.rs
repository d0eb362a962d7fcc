//! How the next token is chosen: greedy (the default, as the reference harness queries judges
//! at temperature 0) or sampled with a temperature and nucleus (top-p) cut, seeded per request so
//! that a re-query is reproducible and does not depend on which other requests share its batch.

use candle_core::{Device, Tensor};
use candle_transformers::generation::{LogitsProcessor, Sampling};
use serde::Serialize;

use super::decoder::argmax;

/// Decoding options of one generation call; the run records them.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DecodingOptions {
    /// Generated tokens at most (the end-of-turn token not counted).
    pub max_new_tokens: usize,
    /// 0 for greedy decoding; otherwise the softmax temperature.
    pub temperature: f64,
    /// Nucleus cut for sampling (1.0 keeps every token).
    pub top_p: f64,
    /// Strings that end an answer when they appear in its text (not included in it).
    pub stop_strings: Vec<String>,
}

impl Default for DecodingOptions {
    fn default() -> Self {
        DecodingOptions {
            max_new_tokens: 512,
            temperature: 0.0,
            top_p: 1.0,
            stop_strings: Vec::new(),
        }
    }
}

impl DecodingOptions {
    /// Whether tokens are sampled rather than chosen greedily.
    pub fn samples(&self) -> bool {
        self.temperature > 0.0
    }
}

/// Chooses the tokens of one request.
pub struct TokenSampler {
    processor: Option<LogitsProcessor>,
}

impl TokenSampler {
    /// A sampler for one request: greedy when `options.temperature` is 0, else seeded with
    /// `seed`.
    pub fn new(options: &DecodingOptions, seed: u64) -> TokenSampler {
        let processor = options.samples().then(|| {
            let sampling = if options.top_p < 1.0 {
                Sampling::TopP {
                    p: options.top_p,
                    temperature: options.temperature,
                }
            } else {
                Sampling::All {
                    temperature: options.temperature,
                }
            };
            LogitsProcessor::from_sampling(seed, sampling)
        });
        TokenSampler { processor }
    }

    /// The next token given the f32 logits over the vocabulary.
    pub fn next(&mut self, logits: &[f32]) -> candle_core::Result<u32> {
        match &mut self.processor {
            None => Ok(argmax(logits)),
            Some(processor) => {
                let logits = Tensor::from_slice(logits, logits.len(), &Device::Cpu)?;
                processor.sample(&logits)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_takes_the_first_maximum_and_sampling_repeats_with_its_seed() {
        let logits = [0.5, 2.0, 2.0, -1.0];
        let mut greedy = TokenSampler::new(&DecodingOptions::default(), 7);
        assert_eq!(greedy.next(&logits).expect("greedy"), 1);
        let sampled = DecodingOptions {
            temperature: 1.0,
            top_p: 0.9,
            ..DecodingOptions::default()
        };
        let draw = |seed: u64| -> Vec<u32> {
            let mut sampler = TokenSampler::new(&sampled, seed);
            (0..20)
                .map(|_| sampler.next(&logits).expect("sample"))
                .collect()
        };
        assert_eq!(draw(3), draw(3));
        assert!(
            draw(3)
                .iter()
                .all(|token| *token == 1 || *token == 2 || *token == 0)
        );
        assert!((0..8).any(|seed| draw(seed) != draw(3)));
    }
}
