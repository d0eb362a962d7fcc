//! Preferences between two responses: the human [`Label`], the judge's [`Verdict`], and the
//! evaluation [`Setting`] that decides whether ties take part.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Which of the two responses is preferred, or neither.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preference {
    /// `response1` is better (shown as response A in the reference order).
    Response1,
    /// `response2` is better (shown as response B in the reference order).
    Response2,
    /// Neither is better under the criterion.
    Tie,
}

/// The annotator's preference for a sample.
pub type Label = Preference;

/// A judge's decision for a sample. Unparseable outputs are `None` where a verdict is optional.
pub type Verdict = Preference;

impl Preference {
    /// All values, in the order `response1`, `response2`, `tie`.
    pub const ALL: [Preference; 3] = [
        Preference::Response1,
        Preference::Response2,
        Preference::Tie,
    ];

    /// The value as written in the data files (`response1`, `response2`, `tie`).
    pub fn key(self) -> &'static str {
        match self {
            Preference::Response1 => "response1",
            Preference::Response2 => "response2",
            Preference::Tie => "tie",
        }
    }

    /// The same preference with the two responses exchanged (a tie stays a tie).
    pub fn swapped(self) -> Preference {
        match self {
            Preference::Response1 => Preference::Response2,
            Preference::Response2 => Preference::Response1,
            Preference::Tie => Preference::Tie,
        }
    }
}

impl fmt::Display for Preference {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.key())
    }
}

/// A preference value that is not `response1`, `response2` or `tie`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown preference `{0}`: expected response1, response2 or tie")]
pub struct ParsePreferenceError(pub String);

impl FromStr for Preference {
    type Err = ParsePreferenceError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "response1" => Ok(Preference::Response1),
            "response2" => Ok(Preference::Response2),
            "tie" => Ok(Preference::Tie),
            other => Err(ParsePreferenceError(other.to_owned())),
        }
    }
}

/// The two evaluation settings of the paper.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Setting {
    /// All samples; the judge may answer tie (3-way accuracy).
    WithTies,
    /// Samples labelled tie are dropped; the judge must choose (2-way accuracy).
    WithoutTies,
}

impl Setting {
    /// Both settings, w/ Ties first as in the paper's Table 2.
    pub const ALL: [Setting; 2] = [Setting::WithTies, Setting::WithoutTies];

    /// The JSON key (`with_ties`, `without_ties`).
    pub fn key(self) -> &'static str {
        match self {
            Setting::WithTies => "with_ties",
            Setting::WithoutTies => "without_ties",
        }
    }

    /// The label used in tables ("w/ Ties", "w/o Ties").
    pub fn label(self) -> &'static str {
        match self {
            Setting::WithTies => "w/ Ties",
            Setting::WithoutTies => "w/o Ties",
        }
    }

    /// Whether a sample with this label is evaluated in this setting.
    pub fn includes(self, label: Label) -> bool {
        self == Setting::WithTies || label != Label::Tie
    }

    /// Accuracy of a judge that picks uniformly at random among the allowed answers.
    pub fn chance_accuracy(self) -> f64 {
        match self {
            Setting::WithTies => 1.0 / 3.0,
            Setting::WithoutTies => 0.5,
        }
    }
}

impl fmt::Display for Setting {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.key())
    }
}

impl FromStr for Setting {
    type Err = String;

    /// Accepts `with_ties`/`with-ties` and `without_ties`/`without-ties`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.replace('-', "_").as_str() {
            "with_ties" => Ok(Setting::WithTies),
            "without_ties" => Ok(Setting::WithoutTies),
            _ => Err(format!(
                "unknown setting `{text}`: expected with_ties or without_ties"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preferences_round_trip_through_their_keys() {
        for preference in Preference::ALL {
            assert_eq!(preference.key().parse::<Preference>(), Ok(preference));
            assert_eq!(preference.swapped().swapped(), preference);
        }
        assert!("Response1".parse::<Preference>().is_err());
    }

    #[test]
    fn without_ties_drops_tie_labels_only() {
        assert!(Setting::WithTies.includes(Label::Tie));
        assert!(!Setting::WithoutTies.includes(Label::Tie));
        assert!(Setting::WithoutTies.includes(Label::Response2));
        assert_eq!("with-ties".parse::<Setting>(), Ok(Setting::WithTies));
    }
}
