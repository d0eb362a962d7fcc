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

/// The paper's group key (`proprietary_generative`) in words, as the paper groups its tables.
pub fn group_label(group: &str) -> String {
    match group {
        "open_generative" => {
            "Open-weights generative judge (the paper's open-source group)".to_owned()
        }
        "proprietary_generative" => "Proprietary generative judge".to_owned(),
        "specialized" => "Specialised reward model".to_owned(),
        other => other.replace('_', " "),
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

/// Unix milliseconds as `YYYY-MM-DD HH:MM UTC` (the same text on the server and in the
/// browser, whatever their time zones).
pub fn timestamp(unix_ms: i64) -> String {
    let seconds = unix_ms.div_euclid(1000);
    let (days, of_day) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    // Howard Hinnant's days-to-civil conversion.
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        of_day / 3600,
        of_day % 3600 / 60
    )
}

/// A duration in milliseconds as `1 h 02 min`, `3 min 05 s` or `12 s`.
pub fn duration(milliseconds: i64) -> String {
    let seconds = milliseconds.max(0) / 1000;
    match seconds {
        0..60 => format!("{seconds} s"),
        60..3600 => format!("{} min {:02} s", seconds / 60, seconds % 60),
        _ => format!("{} h {:02} min", seconds / 3600, seconds % 3600 / 60),
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

    #[test]
    fn timestamps_are_utc_calendar_dates() {
        assert_eq!(timestamp(0), "1970-01-01 00:00 UTC");
        // 2026-11-26 16:05:30 UTC.
        assert_eq!(timestamp(1_795_709_130_000), "2026-11-26 16:05 UTC");
        assert_eq!(timestamp(951_782_400_000), "2000-02-29 00:00 UTC");
        assert_eq!(duration(65_000), "1 min 05 s");
        assert_eq!(duration(3_725_000), "1 h 02 min");
    }
}
