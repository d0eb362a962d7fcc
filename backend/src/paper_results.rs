//! The accuracies the paper reports (Jin et al. 2025, arXiv 2510.23451 v1, Tables 2 and 3), parsed
//! from the embedded `assets/paper_results.csv`.
//!
//! The file holds percentages with two decimals; [`PaperResult`] holds fractions in [0, 1] like
//! every other accuracy in the workspace. An empty task cell means the model does not support it.

use std::collections::{BTreeMap, BTreeSet};

use omnireward_shared::{Setting, Task};

/// The paper-reported results file, as shipped in the binary.
pub const PAPER_RESULTS_CSV: &str = include_str!("../assets/paper_results.csv");

/// Where the numbers come from, recorded with every imported run.
pub const PAPER_RESULTS_SOURCE: &str = "Jin et al. 2025, arXiv 2510.23451 v1, Tables 2 and 3";

/// The release's pairs of `task` in `setting`, which the paper's accuracies are over: every
/// pair with ties; without ties the pairs not labelled tie (the paper does not publish these
/// counts: they are the ones its accuracies' denominators imply, as `shared/docs/benchmark.md`
/// tabulates; all nine tasks: 3,725 and 3,284).
pub fn release_pairs(task: Task, setting: Setting) -> usize {
    // (pairs, pairs labelled tie) per task.
    let (pairs, ties) = match task {
        Task::TextToText => (417, 51),
        Task::TextImageToText => (528, 98),
        Task::TextVideoToText => (443, 63),
        Task::TextAudioToText => (357, 23),
        Task::TextToImage => (509, 68),
        Task::TextToVideo => (529, 63),
        Task::TextToAudio => (411, 15),
        Task::TextTo3d => (302, 38),
        Task::TextImageToImage => (229, 22),
    };
    match setting {
        Setting::WithTies => pairs,
        Setting::WithoutTies => pairs - ties,
    }
}

/// The leading columns of the file; task columns follow, then [`OVERALL_COLUMN`].
const LEADING_COLUMNS: [&str; 3] = ["setting", "group", "model"];

/// The last column: the unweighted mean over the tasks the model supports.
pub const OVERALL_COLUMN: &str = "overall";

/// One row of the paper's tables: one model in one setting.
#[derive(Clone, Debug, PartialEq)]
pub struct PaperResult {
    /// w/ Ties (Table 2) or w/o Ties (Table 3).
    pub setting: Setting,
    /// The paper's grouping: `open_generative`, `proprietary_generative` or `specialized`.
    pub group: String,
    /// The model name as the paper writes it.
    pub model: String,
    /// Accuracy per supported task, as a fraction.
    pub tasks: BTreeMap<Task, f64>,
    /// The paper's overall accuracy, as a fraction.
    pub overall: f64,
}

/// A problem in the paper results file; line numbers count the header as line 1.
#[derive(Debug, thiserror::Error)]
pub enum PaperResultsError {
    /// The header is not `setting,group,model,<task short names>,overall`.
    #[error("line 1, column {column}: {reason}")]
    Header {
        /// The 1-based column.
        column: usize,
        /// What is wrong.
        reason: String,
    },
    /// The file is not well-formed CSV (for example a row with the wrong number of fields).
    #[error("line {line}: {source}")]
    Csv {
        /// The line, when the CSV reader knows it.
        line: u64,
        /// The reader's error.
        source: csv::Error,
    },
    /// The setting cell is neither `with_ties` nor `without_ties`.
    #[error(
        "line {line}, column setting: unknown setting `{value}`: expected with_ties or without_ties"
    )]
    Setting {
        /// The line.
        line: u64,
        /// The cell.
        value: String,
    },
    /// A required cell is empty.
    #[error("line {line}, column {column}: the value is missing")]
    Missing {
        /// The line.
        line: u64,
        /// The column name.
        column: String,
    },
    /// A score cell is not a percentage between 0 and 100.
    #[error("line {line}, column {column}: `{value}` is not a percentage between 0 and 100")]
    Number {
        /// The line.
        line: u64,
        /// The column name.
        column: String,
        /// The cell.
        value: String,
    },
    /// The same model appears twice in one setting.
    #[error("line {line}: `{model}` already has a {setting} row")]
    Duplicate {
        /// The line of the second row.
        line: u64,
        /// The model.
        model: String,
        /// The setting.
        setting: Setting,
    },
}

impl PaperResult {
    /// How many tasks the overall averages over.
    pub fn tasks_covered(&self) -> usize {
        self.tasks.len()
    }
}

/// The results shipped in the binary.
pub fn parse_embedded() -> Result<Vec<PaperResult>, PaperResultsError> {
    parse_paper_results(PAPER_RESULTS_CSV)
}

/// Parses a results file in the layout of `assets/paper_results.csv`. Task columns are named by
/// their short names (T2T, TI2T, ...) and may be any subset of the nine, in any order.
pub fn parse_paper_results(text: &str) -> Result<Vec<PaperResult>, PaperResultsError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header = reader.headers().map_err(csv_error)?.clone();
    let task_columns = task_columns(&header)?;

    let mut results = Vec::new();
    let mut seen = BTreeSet::new();
    for record in reader.records() {
        let record = record.map_err(csv_error)?;
        let line = record.position().map_or(0, csv::Position::line);
        let cell = |index: usize| record.get(index).unwrap_or_default();
        let required = |index: usize| {
            let value = cell(index);
            if value.is_empty() {
                Err(PaperResultsError::Missing {
                    line,
                    column: header.get(index).unwrap_or_default().to_owned(),
                })
            } else {
                Ok(value.to_owned())
            }
        };

        let setting_cell = required(0)?;
        let setting = setting_cell
            .parse::<Setting>()
            .map_err(|_| PaperResultsError::Setting {
                line,
                value: setting_cell.clone(),
            })?;
        let group = required(1)?;
        let model = required(2)?;
        if !seen.insert((setting, model.clone())) {
            return Err(PaperResultsError::Duplicate {
                line,
                model,
                setting,
            });
        }

        let mut tasks = BTreeMap::new();
        for (offset, task) in task_columns.iter().enumerate() {
            let index = LEADING_COLUMNS.len() + offset;
            if let Some(accuracy) = percentage(line, task.short_name(), cell(index))? {
                tasks.insert(*task, accuracy);
            }
        }
        let overall_index = LEADING_COLUMNS.len() + task_columns.len();
        let overall = percentage(line, OVERALL_COLUMN, cell(overall_index))?.ok_or_else(|| {
            PaperResultsError::Missing {
                line,
                column: OVERALL_COLUMN.to_owned(),
            }
        })?;
        results.push(PaperResult {
            setting,
            group,
            model,
            tasks,
            overall,
        });
    }
    Ok(results)
}

/// Checks the header and returns the tasks of the score columns, in file order.
fn task_columns(header: &csv::StringRecord) -> Result<Vec<Task>, PaperResultsError> {
    let names: Vec<&str> = header.iter().collect();
    for (index, expected) in LEADING_COLUMNS.iter().enumerate() {
        let found = names.get(index).copied().unwrap_or_default();
        if found != *expected {
            return Err(PaperResultsError::Header {
                column: index + 1,
                reason: format!("expected `{expected}`, found `{found}`"),
            });
        }
    }
    if names.last() != Some(&OVERALL_COLUMN) || names.len() <= LEADING_COLUMNS.len() + 1 {
        return Err(PaperResultsError::Header {
            column: names.len(),
            reason: format!(
                "expected task short names and then `{OVERALL_COLUMN}` as the last column"
            ),
        });
    }
    let mut tasks = Vec::new();
    for (index, name) in names
        .iter()
        .enumerate()
        .take(names.len() - 1)
        .skip(LEADING_COLUMNS.len())
    {
        let task = name
            .parse::<Task>()
            .map_err(|error| PaperResultsError::Header {
                column: index + 1,
                reason: error.to_string(),
            })?;
        if tasks.contains(&task) {
            return Err(PaperResultsError::Header {
                column: index + 1,
                reason: format!("task `{name}` appears twice"),
            });
        }
        tasks.push(task);
    }
    Ok(tasks)
}

/// Reads a percentage cell as a fraction; an empty cell is `None`.
fn percentage(line: u64, column: &str, value: &str) -> Result<Option<f64>, PaperResultsError> {
    if value.is_empty() {
        return Ok(None);
    }
    match value.parse::<f64>() {
        // Dividing by 100 gives binary noise (68.85 / 100 = 0.6884999999999999); parsing the
        // decimal exponent form gives the nearest double to the fraction the paper printed.
        Ok(percent) if (0.0..=100.0).contains(&percent) => Ok(format!("{value}e-2")
            .parse::<f64>()
            .ok()
            .or(Some(percent / 100.0))),
        _ => Err(PaperResultsError::Number {
            line,
            column: column.to_owned(),
            value: value.to_owned(),
        }),
    }
}

fn csv_error(source: csv::Error) -> PaperResultsError {
    let line = source.position().map_or(0, csv::Position::line);
    PaperResultsError::Csv { line, source }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The file's percentages have two decimals; fractions are compared well inside that.
    const TOLERANCE: f64 = 1e-12;

    #[test]
    fn the_release_counts_add_up_to_the_published_totals() {
        let total = |setting| {
            Task::ALL
                .map(|task| release_pairs(task, setting))
                .iter()
                .sum::<usize>()
        };
        assert_eq!(total(Setting::WithTies), 3725);
        assert_eq!(total(Setting::WithoutTies), 3284);
    }

    fn find<'results>(
        results: &'results [PaperResult],
        model: &str,
        setting: Setting,
    ) -> &'results PaperResult {
        results
            .iter()
            .find(|result| result.model == model && result.setting == setting)
            .unwrap_or_else(|| panic!("{model} {setting} is in the file"))
    }

    fn assert_close(actual: f64, expected: f64) {
        assert!(
            (actual - expected).abs() < TOLERANCE,
            "{actual} != {expected}"
        );
    }

    #[test]
    fn embedded_file_has_37_models_in_both_settings() {
        let results = parse_embedded().expect("parses");
        assert_eq!(results.len(), 74);
        for setting in Setting::ALL {
            let models: BTreeSet<&str> = results
                .iter()
                .filter(|result| result.setting == setting)
                .map(|result| result.model.as_str())
                .collect();
            assert_eq!(models.len(), 37, "{setting}");
        }
        let groups: BTreeSet<&str> = results.iter().map(|result| result.group.as_str()).collect();
        assert_eq!(
            groups,
            BTreeSet::from(["open_generative", "proprietary_generative", "specialized"])
        );
    }

    #[test]
    fn headline_numbers_match_the_paper() {
        let results = parse_embedded().expect("parses");
        let cases = [
            ("Omni-RewardModel-BT", 0.6536, 0.7368),
            ("Claude-3-5-Sonnet-20241022", 0.6654, 0.7666),
            ("GPT-4o", 0.6462, 0.7313),
            ("MiniCPM-o-2.6", 0.4667, 0.6218),
        ];
        for (model, with_ties, without_ties) in cases {
            assert_close(find(&results, model, Setting::WithTies).overall, with_ties);
            assert_close(
                find(&results, model, Setting::WithoutTies).overall,
                without_ties,
            );
        }
        let bt = find(&results, "Omni-RewardModel-BT", Setting::WithTies);
        assert_eq!(bt.tasks_covered(), 9);
        assert_close(bt.tasks[&Task::TextToAudio], 0.6399);
    }

    #[test]
    fn models_without_audio_have_no_audio_scores() {
        let results = parse_embedded().expect("parses");
        for setting in Setting::ALL {
            let result = find(&results, "MiniCPM-V-2.6", setting);
            assert!(!result.tasks.contains_key(&Task::TextAudioToText));
            assert!(!result.tasks.contains_key(&Task::TextToAudio));
            assert_eq!(result.tasks_covered(), 7);
        }
    }

    #[test]
    fn every_overall_is_the_mean_of_its_tasks() {
        // Each printed number is rounded to 0.01 %, so the mean of the rounded task scores may
        // differ from the printed overall by up to 0.005 % plus the overall's own rounding.
        let results = parse_embedded().expect("parses");
        for result in &results {
            let mean = result.tasks.values().sum::<f64>() / result.tasks.len() as f64;
            assert!(
                (mean - result.overall).abs() <= 0.000_101,
                "{} {}: mean {mean} vs overall {}",
                result.model,
                result.setting,
                result.overall
            );
        }
    }

    #[test]
    fn errors_name_the_line_and_column() {
        let header = "setting,group,model,T2T,T2I,overall\n";
        let good = "with_ties,specialized,\"A\",50.00,60.00,55.00\n";

        let bad_number =
            format!("{header}{good}without_ties,specialized,\"A\",5O.00,60.00,55.00\n");
        let error = parse_paper_results(&bad_number).expect_err("bad number");
        assert_eq!(
            error.to_string(),
            "line 3, column T2T: `5O.00` is not a percentage between 0 and 100"
        );

        let too_large = format!("{header}with_ties,specialized,\"A\",50.00,160.00,55.00\n");
        let error = parse_paper_results(&too_large).expect_err("above 100");
        assert!(
            error.to_string().starts_with("line 2, column T2I:"),
            "{error}"
        );

        let bad_setting = format!("{header}{good}with_tie,specialized,\"B\",1,2,3\n");
        let error = parse_paper_results(&bad_setting).expect_err("bad setting");
        assert!(
            error.to_string().starts_with("line 3, column setting:"),
            "{error}"
        );

        let missing_overall = format!("{header}with_ties,specialized,\"A\",50.00,60.00,\n");
        let error = parse_paper_results(&missing_overall).expect_err("no overall");
        assert_eq!(
            error.to_string(),
            "line 2, column overall: the value is missing"
        );

        let short_row = format!("{header}{good}with_ties,specialized,\"B\",50.00\n");
        let error = parse_paper_results(&short_row).expect_err("short row");
        assert!(
            matches!(error, PaperResultsError::Csv { line: 3, .. }),
            "{error}"
        );

        let duplicate = format!("{header}{good}{good}");
        let error = parse_paper_results(&duplicate).expect_err("duplicate");
        assert!(
            matches!(error, PaperResultsError::Duplicate { line: 3, .. }),
            "{error}"
        );

        let bad_header = "setting,group,model,T2X,overall\n";
        let error = parse_paper_results(bad_header).expect_err("bad header");
        assert!(
            error.to_string().starts_with("line 1, column 4:"),
            "{error}"
        );
        let no_overall = "setting,group,model,T2T\n";
        assert!(matches!(
            parse_paper_results(no_overall),
            Err(PaperResultsError::Header { column: 4, .. })
        ));
    }

    #[test]
    fn task_columns_may_be_a_subset_in_any_order() {
        let text = "setting,group,model,T2I,T2T,overall\nwithout_ties,baseline,\"Random\",50,,50\n";
        let results = parse_paper_results(text).expect("parses");
        assert_eq!(results.len(), 1);
        assert_eq!(results[0].tasks, BTreeMap::from([(Task::TextToImage, 0.5)]));
        assert_eq!(results[0].setting, Setting::WithoutTies);
    }
}
