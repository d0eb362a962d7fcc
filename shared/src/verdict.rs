//! Verdict parsing, exactly as the reference harness does it.
//!
//! Reference: `parse_judgement` in `utils/video_utils.py` of github.com/HongbangYuan/OmniReward.
//! The rules, in order:
//! 1. if both `[[A]]` and `[[B]]` occur, the output is unparseable;
//! 2. if both `\boxed{A}` and `\boxed{B}` occur, the output is unparseable;
//! 3. otherwise the first marker *in this precedence list* that occurs anywhere wins:
//!    `[[A]]`, `[[B]]`, `\boxed{A}`, `\boxed{B}`, `[[C]]`, `\boxed{C}`.
//!
//! Precedence is by marker, not by position in the text, so `[[C]] ... [[A]]` reads as A, and a
//! bracket marker beats a boxed one of the other side (`[[A]]` with `\boxed{B}` reads as A). We keep
//! these quirks because scores must equal the paper's definition.

use crate::preference::Verdict;

/// Markers in the reference's precedence order.
const MARKERS: [(&str, Verdict); 6] = [
    ("[[A]]", Verdict::Response1),
    ("[[B]]", Verdict::Response2),
    ("\\boxed{A}", Verdict::Response1),
    ("\\boxed{B}", Verdict::Response2),
    ("[[C]]", Verdict::Tie),
    ("\\boxed{C}", Verdict::Tie),
];

/// Parses a judge's raw output into a verdict in the order the responses were shown
/// (A = first shown). Returns `None` when the output is unparseable.
pub fn parse_verdict(output: &str) -> Option<Verdict> {
    let contains_both =
        |first: &str, second: &str| output.contains(first) && output.contains(second);
    if contains_both("[[A]]", "[[B]]") || contains_both("\\boxed{A}", "\\boxed{B}") {
        return None;
    }
    MARKERS
        .iter()
        .find(|(marker, _)| output.contains(marker))
        .map(|(_, verdict)| *verdict)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_follow_the_reference_rules() {
        let cases: &[(&str, Option<Verdict>)] = &[
            ("[[A]]", Some(Verdict::Response1)),
            ("[[B]]", Some(Verdict::Response2)),
            ("[[C]]", Some(Verdict::Tie)),
            ("\\boxed{A}", Some(Verdict::Response1)),
            ("\\boxed{B}", Some(Verdict::Response2)),
            ("\\boxed{C}", Some(Verdict::Tie)),
            ("", None),
            ("   \n", None),
            ("Response A is better.", None),
            ("[A]", None),
            ("[[a]]", None),
            ("[[ A ]]", None),
            ("boxed{A}", None),
            // Markers inside longer text.
            (
                "Response B ignores the criterion.\nFinal verdict: [[A]].",
                Some(Verdict::Response1),
            ),
            (
                "The answer is $\\boxed{B}$ overall",
                Some(Verdict::Response2),
            ),
            ("Both equal, so [[C]]!", Some(Verdict::Tie)),
            // Both sides in one style: unparseable.
            ("[[A]] or maybe [[B]]", None),
            ("\\boxed{A} \\boxed{B}", None),
            ("[[A]] \\boxed{A} [[B]]", None),
            // Mixed styles: the reference's precedence decides, not the position.
            ("\\boxed{B} ... final: [[A]]", Some(Verdict::Response1)),
            ("[[B]] and \\boxed{A}", Some(Verdict::Response2)),
            // A and B outrank C regardless of order.
            ("[[C]] no wait, [[A]]", Some(Verdict::Response1)),
            ("\\boxed{C} then [[B]]", Some(Verdict::Response2)),
            ("[[C]] \\boxed{A}", Some(Verdict::Response1)),
            // Both markers in one style plus a tie marker is still unparseable.
            ("[[A]] [[B]] [[C]]", None),
        ];
        for (output, expected) in cases {
            assert_eq!(parse_verdict(output), *expected, "output: {output:?}");
        }
    }
}
