//! The facts of the models in the paper's tables (embedded `assets/paper_models.csv`): what kind
//! of model each is, its parameters, whether its weights are public, its licence and a link to
//! its model card or API, so the leaderboard's filters work on the paper's rows as on evaluated
//! ones. A paper row's provenance stays its own badge; its type is the model's real kind.
//!
//! Kinds follow the paper's grouping: its open-source and proprietary generative judges are
//! generative (`local_generative` when the weights are public, `api_judge` behind an API); its
//! specialised reward models are `scalar_reward_model` when they output a scalar reward
//! (PickScore, HPSv2, InternLM-XComposer2.5-7B-Reward, Omni-RewardModel-BT) and
//! `local_generative` when they write a judgement (UnifiedReward, Omni-RewardModel-R1). Only facts
//! taken from the public model cards are filled; a cell left empty is unknown, never guessed.

use std::sync::LazyLock;

use omnireward_shared::Setting;
use omnireward_shared::wire::ModelKind;

use crate::paper_results::{self, PaperResult};

/// The facts file, as shipped in the binary.
pub const PAPER_MODELS_CSV: &str = include_str!("../assets/paper_models.csv");

/// The facts of one model of the paper's tables.
#[derive(Clone, Debug, PartialEq)]
pub struct PaperModelFacts {
    /// The model name as the paper writes it.
    pub model: String,
    /// What kind of model it is.
    pub kind: ModelKind,
    /// Parameter count as text (`7B`), if known.
    pub parameters: Option<String>,
    /// Whether the weights are public, if known.
    pub open_weights: Option<bool>,
    /// Licence, if known.
    pub licence: Option<String>,
    /// The model card, repository or API documentation.
    pub link: Option<String>,
}

/// A problem in the facts file.
#[derive(Debug, thiserror::Error)]
pub enum PaperModelsError {
    /// The file is not well-formed CSV.
    #[error("paper_models.csv: {0}")]
    Csv(#[from] csv::Error),
    /// A cell that is not a value of its column.
    #[error("paper_models.csv, line {line}: `{value}` is not a valid {column}")]
    Value {
        /// The line.
        line: u64,
        /// The column.
        column: &'static str,
        /// The cell.
        value: String,
    },
}

/// Parses a facts file in the layout of `assets/paper_models.csv`.
pub fn parse_paper_models(text: &str) -> Result<Vec<PaperModelFacts>, PaperModelsError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut facts = Vec::new();
    for record in reader.records() {
        let record = record?;
        let line = record.position().map_or(0, csv::Position::line);
        let cell = |index: usize| {
            record
                .get(index)
                .filter(|value| !value.is_empty())
                .map(str::to_owned)
        };
        let invalid = |column: &'static str, value: &str| PaperModelsError::Value {
            line,
            column,
            value: value.to_owned(),
        };
        let kind_cell = cell(1).unwrap_or_default();
        let kind = kind_cell
            .parse::<ModelKind>()
            .map_err(|_| invalid("kind", &kind_cell))?;
        let open_weights = match cell(3).as_deref() {
            None => None,
            Some("true") => Some(true),
            Some("false") => Some(false),
            Some(other) => return Err(invalid("open_weights", other)),
        };
        facts.push(PaperModelFacts {
            model: cell(0).ok_or_else(|| invalid("model", ""))?,
            kind,
            parameters: cell(2),
            open_weights,
            licence: cell(4),
            link: cell(5),
        });
    }
    Ok(facts)
}

/// The embedded facts and the embedded results, parsed once. Both files are checked by this
/// module's tests, so an empty list (a parse failure) can only mean a broken build, and then the
/// pages show the paper's rows without facts rather than failing.
static EMBEDDED: LazyLock<(Vec<PaperModelFacts>, Vec<PaperResult>)> = LazyLock::new(|| {
    (
        parse_paper_models(PAPER_MODELS_CSV).unwrap_or_default(),
        paper_results::parse_embedded().unwrap_or_default(),
    )
});

/// The embedded facts of the paper model named `model`.
pub fn facts(model: &str) -> Option<&'static PaperModelFacts> {
    EMBEDDED.0.iter().find(|facts| facts.model == model)
}

/// Where the paper gives `model`'s numbers in `setting`: "Table 2, row N" (w/ Ties) or
/// "Table 3, row N" (w/o Ties), N counting the table's model rows from 1 in the order the
/// embedded results file keeps them (the tables' order).
pub fn source(model: &str, setting: Setting) -> Option<String> {
    let table = match setting {
        Setting::WithTies => 2,
        Setting::WithoutTies => 3,
    };
    EMBEDDED
        .1
        .iter()
        .filter(|result| result.setting == setting)
        .position(|result| result.model == model)
        .map(|index| format!("Table {table}, row {}", index + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_paper_model_has_its_facts_and_both_sources() {
        let facts = parse_paper_models(PAPER_MODELS_CSV).expect("the facts parse");
        let results = paper_results::parse_embedded().expect("the results parse");
        for result in &results {
            let model = super::facts(&result.model)
                .unwrap_or_else(|| panic!("{} has no facts", result.model));
            assert_ne!(model.kind, ModelKind::PaperReported, "{}", result.model);
            assert!(model.link.is_some(), "{}", result.model);
            assert!(source(&result.model, result.setting).is_some());
        }
        assert_eq!(facts.len(), 37);
        assert_eq!(
            source("Phi-4-Multimodal-Instruct", Setting::WithTies).as_deref(),
            Some("Table 2, row 1")
        );
        assert_eq!(
            source("Omni-RewardModel-BT", Setting::WithoutTies).as_deref(),
            Some("Table 3, row 37")
        );
        for scalar in ["HPSv2", "PickScore", "Omni-RewardModel-BT"] {
            assert_eq!(
                super::facts(scalar).map(|facts| facts.kind),
                Some(ModelKind::ScalarRewardModel)
            );
        }
    }

    #[test]
    fn bad_cells_are_refused_with_their_line() {
        let error =
            parse_paper_models("model,kind,parameters,open_weights,licence,link\nX,oracle,,,,\n")
                .expect_err("unknown kind");
        assert!(error.to_string().contains("line 2"), "{error}");
        let error = parse_paper_models(
            "model,kind,parameters,open_weights,licence,link\nX,baseline,,yes,,\n",
        )
        .expect_err("bad flag");
        assert!(error.to_string().contains("open_weights"), "{error}");
    }
}
