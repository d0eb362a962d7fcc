//! Resampling of 8-bit RGB images exactly as Pillow does it (`Image.resize` with a convolution
//! filter and no `reducing_gap`, Pillow 12's `Resample.c`), so that image processors that resize
//! with PIL (`transformers`' slow processors) can be matched pixel for pixel.
//!
//! Pillow resizes in two separable passes, horizontal first, each a convolution whose weights are
//! the filter sampled at the source pixels under the output pixel's footprint (widened by the
//! scale when shrinking, so shrinking averages rather than skips), normalised to sum to one, then
//! turned into 22-bit fixed point. Each pass rounds and clamps to 8 bits: the intermediate image
//! is 8-bit, which is why a float implementation of the same filter differs from Pillow by a level
//! here and there. Everything below follows that arithmetic step by step: the coefficients in
//! `f64`, the C casts that truncate toward zero, the fixed-point sums in integers.

use image::RgbImage;

/// Fixed-point precision of Pillow's 8-bit coefficients: 32 bits, less 8 for the pixel value and 2
/// for headroom.
const PRECISION_BITS: u32 = 32 - 8 - 2;

/// The convolution filters Pillow resizes with (`Image.Resampling`); nearest neighbour is not a
/// convolution in Pillow and is not here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Filter {
    /// `BOX` (4).
    Box,
    /// `BILINEAR` (2).
    Bilinear,
    /// `HAMMING` (5).
    Hamming,
    /// `BICUBIC` (3): the cubic convolution with `a = -0.5`.
    Bicubic,
    /// `LANCZOS` (1).
    Lanczos,
}

impl Filter {
    /// The filter of a PIL resample code (`preprocessor_config.json`'s `resample`); `None` for
    /// nearest (0) and unknown codes.
    pub fn from_pil_code(code: u64) -> Option<Filter> {
        match code {
            1 => Some(Filter::Lanczos),
            2 => Some(Filter::Bilinear),
            3 => Some(Filter::Bicubic),
            4 => Some(Filter::Box),
            5 => Some(Filter::Hamming),
            _ => None,
        }
    }

    /// Half the width of the filter's kernel, in source pixels at scale 1.
    fn support(self) -> f64 {
        match self {
            Filter::Box => 0.5,
            Filter::Bilinear | Filter::Hamming => 1.0,
            Filter::Bicubic => 2.0,
            Filter::Lanczos => 3.0,
        }
    }

    /// The kernel's weight at distance `x`.
    fn weight(self, x: f64) -> f64 {
        match self {
            Filter::Box => {
                if x > -0.5 && x <= 0.5 {
                    1.0
                } else {
                    0.0
                }
            }
            Filter::Bilinear => {
                let x = x.abs();
                if x < 1.0 { 1.0 - x } else { 0.0 }
            }
            Filter::Hamming => {
                let x = x.abs();
                if x == 0.0 {
                    1.0
                } else if x >= 1.0 {
                    0.0
                } else {
                    let x = x * std::f64::consts::PI;
                    x.sin() / x * (0.54 + 0.46 * x.cos())
                }
            }
            Filter::Bicubic => {
                const A: f64 = -0.5;
                let x = x.abs();
                if x < 1.0 {
                    ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
                } else if x < 2.0 {
                    (((x - 5.0) * x + 8.0) * x - 4.0) * A
                } else {
                    0.0
                }
            }
            Filter::Lanczos => {
                if (-3.0..3.0).contains(&x) {
                    sinc(x) * sinc(x / 3.0)
                } else {
                    0.0
                }
            }
        }
    }
}

fn sinc(x: f64) -> f64 {
    if x == 0.0 {
        1.0
    } else {
        let x = x * std::f64::consts::PI;
        x.sin() / x
    }
}

/// The weights of one pass: for each output pixel, the first source pixel it reads and its
/// fixed-point weights over the source pixels from there.
struct Coefficients {
    /// Per output pixel: (first source index, number of source pixels read).
    bounds: Vec<(usize, usize)>,
    /// `kernel_size` weights per output pixel, zero past its count.
    weights: Vec<i32>,
    kernel_size: usize,
}

impl Coefficients {
    /// Pillow's `precompute_coeffs` and `normalize_coeffs_8bpc` for resizing `input` pixels to
    /// `output` pixels (the whole source; no crop box).
    fn new(input: usize, output: usize, filter: Filter) -> Coefficients {
        let scale = input as f64 / output as f64;
        let filter_scale = scale.max(1.0);
        let support = filter.support() * filter_scale;
        let kernel_size = support.ceil() as usize * 2 + 1;
        let mut bounds = Vec::with_capacity(output);
        let mut weights = vec![0_i32; output * kernel_size];
        let mut kernel = vec![0.0_f64; kernel_size];
        for position in 0..output {
            let center = (position as f64 + 0.5) * scale;
            let inverse_scale = 1.0 / filter_scale;
            // C's `(int)` truncates toward zero; a negative start is clamped to 0 anyway.
            let first = ((center - support + 0.5).trunc().max(0.0)) as usize;
            let last = ((center + support + 0.5).trunc() as usize).min(input);
            let count = last.saturating_sub(first);
            let mut total = 0.0;
            for (offset, weight) in kernel.iter_mut().enumerate().take(count) {
                *weight =
                    filter.weight((offset as f64 + first as f64 - center + 0.5) * inverse_scale);
                total += *weight;
            }
            let row = &mut weights[position * kernel_size..(position + 1) * kernel_size];
            for (fixed, weight) in row.iter_mut().zip(&kernel).take(count) {
                let normalised = if total == 0.0 {
                    *weight
                } else {
                    weight / total
                };
                let scaled = normalised * f64::from(1_u32 << PRECISION_BITS);
                // Rounded half away from zero, then truncated as C's `(int)` does.
                *fixed = if normalised < 0.0 {
                    (scaled - 0.5).trunc() as i32
                } else {
                    (scaled + 0.5).trunc() as i32
                };
            }
            bounds.push((first, count));
        }
        Coefficients {
            bounds,
            weights,
            kernel_size,
        }
    }

    /// The weighted sum of `count` samples from `sample(first + i)`, rounded and clamped to 8
    /// bits as Pillow's `clip8` does.
    fn apply(&self, position: usize, sample: impl Fn(usize) -> u8) -> u8 {
        let (first, count) = self.bounds[position];
        let weights = &self.weights[position * self.kernel_size..];
        let mut sum: i64 = 1 << (PRECISION_BITS - 1);
        for (offset, weight) in weights.iter().take(count).enumerate() {
            sum += i64::from(sample(first + offset)) * i64::from(*weight);
        }
        if sum <= 0 {
            0
        } else if sum >= (255_i64 + 1) << PRECISION_BITS {
            255
        } else {
            // In range by the two tests above.
            u8::try_from(sum >> PRECISION_BITS).unwrap_or(u8::MAX)
        }
    }
}

/// `image` resized to `width` × `height` as Pillow's `Image.resize(…, resample=filter)` does.
/// An image already at that size is returned unchanged (Pillow copies it).
pub fn resize(image: &RgbImage, width: u32, height: u32, filter: Filter) -> RgbImage {
    let (source_width, source_height) = image.dimensions();
    let mut current = image.clone();
    if width != source_width {
        let coefficients = Coefficients::new(source_width as usize, width as usize, filter);
        let source = &current;
        current = RgbImage::from_fn(width, source_height, |x, y| {
            let mut pixel = [0_u8; 3];
            for (channel, value) in pixel.iter_mut().enumerate() {
                *value = coefficients.apply(x as usize, |column| {
                    source.get_pixel(column as u32, y).0[channel]
                });
            }
            image::Rgb(pixel)
        });
    }
    if height != source_height {
        let coefficients = Coefficients::new(source_height as usize, height as usize, filter);
        let source = &current;
        current = RgbImage::from_fn(width, height, |x, y| {
            let mut pixel = [0_u8; 3];
            for (channel, value) in pixel.iter_mut().enumerate() {
                *value = coefficients
                    .apply(y as usize, |row| source.get_pixel(x, row as u32).0[channel]);
            }
            image::Rgb(pixel)
        });
    }
    current
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_of_each_output_pixel_sum_to_one_in_fixed_point() {
        for (input, output) in [(20, 56), (300, 308), (320, 252), (7, 3)] {
            for filter in [Filter::Bicubic, Filter::Bilinear, Filter::Lanczos] {
                let coefficients = Coefficients::new(input, output, filter);
                for position in 0..output {
                    let row = &coefficients.weights[position * coefficients.kernel_size..]
                        [..coefficients.kernel_size];
                    let sum: i64 = row.iter().map(|weight| i64::from(*weight)).sum();
                    // Rounding each weight can move the sum by one unit per tap.
                    let one = 1_i64 << PRECISION_BITS;
                    assert!(
                        (sum - one).abs() <= coefficients.kernel_size as i64,
                        "{sum}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_flat_image_stays_flat_and_same_size_is_a_copy() {
        let flat = RgbImage::from_pixel(13, 9, image::Rgb([200, 10, 77]));
        let resized = resize(&flat, 31, 4, Filter::Bicubic);
        assert!(resized.pixels().all(|pixel| pixel.0 == [200, 10, 77]));
        let noisy = RgbImage::from_fn(5, 6, |x, y| image::Rgb([(x * 40) as u8, (y * 30) as u8, 9]));
        assert_eq!(resize(&noisy, 5, 6, Filter::Bicubic), noisy);
    }
}
