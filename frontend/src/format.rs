//! How numbers are shown: accuracies as percentages with two decimals, as in the paper's
//! tables, and intervals rounded to one decimal.

/// An accuracy fraction as a percentage with two decimals (`0.6536` → `65.36`).
pub fn percent(accuracy: f64) -> String {
    if accuracy.is_finite() {
        format!("{:.2}", accuracy * 100.0)
    } else {
        "–".to_owned()
    }
}

/// A 95 % interval as `[lo, hi]` in percent with one decimal.
pub fn interval(ci95: [f64; 2]) -> String {
    if ci95.iter().all(|bound| bound.is_finite()) {
        format!("[{:.1}, {:.1}]", ci95[0] * 100.0, ci95[1] * 100.0)
    } else {
        "–".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_match_the_paper_format() {
        assert_eq!(percent(0.6536), "65.36");
        assert_eq!(percent(1.0), "100.00");
        assert_eq!(percent(f64::NAN), "–");
        assert_eq!(interval([0.61234, 0.7]), "[61.2, 70.0]");
    }
}
