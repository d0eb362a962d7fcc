//! The learning-rate schedule: linear warm-up from 0 over `ceil(warmup_ratio × total)` steps, then
//! a half cosine down to 0 at the last step, as `transformers`' `get_cosine_schedule_with_warmup`
//! (one cycle) computes it.

use std::f64::consts::PI;

/// A cosine schedule with warm-up over a known number of optimizer steps.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CosineSchedule {
    /// The peak learning rate.
    pub peak: f64,
    /// Steps of linear warm-up.
    pub warmup_steps: usize,
    /// All optimizer steps of the run.
    pub total_steps: usize,
}

impl CosineSchedule {
    /// The schedule for `total_steps` with `warmup_ratio` of them spent warming up.
    pub fn new(peak: f64, warmup_ratio: f64, total_steps: usize) -> CosineSchedule {
        let warmup_steps = (warmup_ratio.max(0.0) * total_steps as f64).ceil() as usize;
        CosineSchedule {
            peak,
            warmup_steps,
            total_steps,
        }
    }

    /// The learning rate of optimizer step `step` (from 0: the first update uses step 0).
    pub fn learning_rate(&self, step: usize) -> f64 {
        if step < self.warmup_steps {
            return self.peak * step as f64 / self.warmup_steps.max(1) as f64;
        }
        let decay_steps = self.total_steps.saturating_sub(self.warmup_steps).max(1);
        let progress = (step - self.warmup_steps) as f64 / decay_steps as f64;
        self.peak * (0.5 * (1.0 + (PI * progress.min(1.0)).cos())).max(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_then_half_cosine_like_transformers() {
        let schedule = CosineSchedule::new(1e-3, 0.1, 100);
        assert_eq!(schedule.warmup_steps, 10);
        assert_eq!(schedule.learning_rate(0), 0.0);
        assert!((schedule.learning_rate(5) - 5e-4).abs() < 1e-15);
        assert!((schedule.learning_rate(10) - 1e-3).abs() < 1e-15);
        // Half-way through the decay: 0.5 × peak.
        assert!((schedule.learning_rate(55) - 5e-4).abs() < 1e-12);
        assert!(schedule.learning_rate(100).abs() < 1e-15);
        // ceil: 0.05 × 30 = 1.5 → 2 warm-up steps.
        assert_eq!(CosineSchedule::new(1.0, 0.05, 30).warmup_steps, 2);
        assert_eq!(CosineSchedule::new(1.0, 0.0, 4).learning_rate(0), 1.0);
    }
}
