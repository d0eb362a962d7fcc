//! The leaderboard's view logic, free of any rendering: which rows are shown in which order, the
//! rank groups, and the view state that lives in the URL so a view can be shared.
//!
//! The server and the browser run the same functions on the same data, so the server-rendered
//! table and the hydrated one agree row for row.

use std::cmp::Ordering;

pub use omnireward_shared::wire::{Intervals, LeaderboardRow};
use omnireward_shared::{Modality, Setting, Task};
use serde::{Deserialize, Serialize};

/// The column the table is sorted by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SortColumn {
    #[default]
    Overall,
    Model,
    Parameters,
    Modality(Modality),
    Task(Task),
}

impl SortColumn {
    /// The URL value.
    pub fn key(self) -> &'static str {
        match self {
            SortColumn::Overall => "overall",
            SortColumn::Model => "model",
            SortColumn::Parameters => "parameters",
            SortColumn::Modality(modality) => modality.key(),
            SortColumn::Task(task) => task.key(),
        }
    }

    fn parse(value: &str) -> Option<SortColumn> {
        match value {
            "overall" => Some(SortColumn::Overall),
            "model" => Some(SortColumn::Model),
            "parameters" => Some(SortColumn::Parameters),
            _ => Modality::ALL
                .into_iter()
                .find(|modality| modality.key() == value)
                .map(SortColumn::Modality)
                .or_else(|| value.parse::<Task>().ok().map(SortColumn::Task)),
        }
    }

    /// The direction a first click sorts in: names A to Z, scores and sizes largest first.
    pub fn natural_descending(self) -> bool {
        !matches!(self, SortColumn::Model)
    }

    /// The score the Rank column ranks by under this sort: the sorted score, or overall when
    /// the table is sorted by name or size (neither is a measure of quality).
    pub fn measure(self) -> SortColumn {
        match self {
            SortColumn::Model | SortColumn::Parameters => SortColumn::Overall,
            score => score,
        }
    }

    /// The column header's label.
    pub fn label(self) -> &'static str {
        match self {
            SortColumn::Overall => "Overall",
            SortColumn::Model => "Model",
            SortColumn::Parameters => "Size",
            SortColumn::Modality(modality) => modality.label(),
            SortColumn::Task(task) => task.short_name(),
        }
    }

    /// The column that shows this one's numbers: with the nine tasks shown, a modality of a
    /// single task (Text is T2T, 3D is T23D) is that task's column, since the two would repeat
    /// each other.
    pub fn shown_as(self, show_tasks: bool) -> SortColumn {
        match self {
            SortColumn::Modality(modality) if show_tasks => {
                let mut tasks = modality.tasks();
                match (tasks.next(), tasks.next()) {
                    (Some(task), None) => SortColumn::Task(task),
                    _ => self,
                }
            }
            other => other,
        }
    }

    /// The row's value in this column (`None` for the name column and for missing scores).
    fn value(self, row: &LeaderboardRow) -> Option<f64> {
        match self {
            SortColumn::Overall => row.overall,
            SortColumn::Parameters => row.parameters.as_deref().and_then(parameters_in_billions),
            SortColumn::Modality(modality) => row.modalities.get(&modality).copied(),
            SortColumn::Task(task) => row.tasks.get(&task).copied(),
            SortColumn::Model => None,
        }
    }
}

/// The modality columns a view shows: all five, or with the nine tasks shown only those of
/// more than one task (the others would repeat a task column).
pub fn shown_modalities(show_tasks: bool) -> impl Iterator<Item = Modality> {
    Modality::ALL.into_iter().filter(move |modality| {
        SortColumn::Modality(*modality).shown_as(show_tasks) == SortColumn::Modality(*modality)
    })
}

/// Everything about the table that a shared link should reproduce.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct View {
    pub setting: Setting,
    pub sort: SortColumn,
    pub descending: bool,
    /// Only rows of this model type (`api_judge`, `scalar_reward_model`, …).
    pub kind: Option<String>,
    /// Only models whose weights are public.
    pub open_weights_only: bool,
    /// Size range in billions of parameters; rows of unknown size are hidden when one is set.
    pub min_billions: Option<f64>,
    pub max_billions: Option<f64>,
    /// Case-insensitive substring of the model name.
    pub search: String,
    /// Whether the nine task columns are shown beside the modality columns.
    pub show_tasks: bool,
    /// Whether each score's 95 % interval is written under it (a hover title reaches no touch
    /// screen).
    pub show_intervals: bool,
    /// Whether a column gives each row's mean over the tasks every shown row covers, so a
    /// 7-task row and a 9-task row compare on the same tasks.
    pub common_tasks: bool,
    /// The benchmark asked for (`None`: the server's default); its rows are the only ones on
    /// the page, since rows of different benchmarks are never ranked together.
    pub benchmark: Option<String>,
}

impl Default for View {
    fn default() -> View {
        View {
            setting: Setting::WithTies,
            sort: SortColumn::Overall,
            descending: true,
            kind: None,
            open_weights_only: false,
            min_billions: None,
            max_billions: None,
            search: String::new(),
            show_tasks: false,
            show_intervals: false,
            common_tasks: false,
            benchmark: None,
        }
    }
}

impl View {
    /// The view a query string (without `?`) asks for; unknown or malformed values are ignored
    /// (a stale shared link still opens the leaderboard).
    pub fn from_query(query: &str) -> View {
        let mut view = View::default();
        let mut explicit_order = None;
        for (name, value) in query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .map(|(name, value)| (name, decode_component(value)))
        {
            match name {
                "setting" => {
                    if let Ok(setting) = value.parse() {
                        view.setting = setting;
                    }
                }
                "sort" => {
                    if let Some(sort) = SortColumn::parse(&value) {
                        view.sort = sort;
                    }
                }
                "order" => explicit_order = Some(value == "desc"),
                "type" if !value.is_empty() => view.kind = Some(value),
                "open" => view.open_weights_only = value == "1",
                "min" => view.min_billions = value.parse().ok().filter(|v: &f64| v.is_finite()),
                "max" => view.max_billions = value.parse().ok().filter(|v: &f64| v.is_finite()),
                "q" => view.search = value,
                "tasks" => view.show_tasks = value == "1",
                "ci" => view.show_intervals = value == "1",
                "common" => view.common_tasks = value == "1",
                "benchmark" if !value.is_empty() => view.benchmark = Some(value),
                _ => {}
            }
        }
        view.descending = explicit_order.unwrap_or_else(|| view.sort.natural_descending());
        view
    }

    /// The query string (without `?`) of this view; defaults are left out, so the plain
    /// leaderboard has a plain URL.
    pub fn to_query(&self) -> String {
        let default = View::default();
        let mut parts = Vec::new();
        if self.setting != default.setting {
            parts.push(format!("setting={}", self.setting.key()));
        }
        if self.sort != default.sort || self.descending != self.sort.natural_descending() {
            parts.push(format!("sort={}", self.sort.key()));
            parts.push(format!(
                "order={}",
                if self.descending { "desc" } else { "asc" }
            ));
        }
        if let Some(kind) = &self.kind {
            parts.push(format!("type={}", encode_component(kind)));
        }
        if self.open_weights_only {
            parts.push("open=1".to_owned());
        }
        if let Some(min) = self.min_billions {
            parts.push(format!("min={min}"));
        }
        if let Some(max) = self.max_billions {
            parts.push(format!("max={max}"));
        }
        if !self.search.is_empty() {
            parts.push(format!("q={}", encode_component(&self.search)));
        }
        if self.show_tasks {
            parts.push("tasks=1".to_owned());
        }
        if self.show_intervals {
            parts.push("ci=1".to_owned());
        }
        if self.common_tasks {
            parts.push("common=1".to_owned());
        }
        if let Some(benchmark) = &self.benchmark {
            parts.push(format!("benchmark={}", encode_component(benchmark)));
        }
        parts.join("&")
    }

    /// The view after a click on a column header: the same column flips direction, another
    /// column sorts in its natural direction.
    pub fn sorted_by(&self, column: SortColumn) -> View {
        let mut next = self.clone();
        if self.sorted_column() == column.shown_as(self.show_tasks) {
            next.descending = !self.descending;
        } else {
            next.sort = column;
            next.descending = column.natural_descending();
        }
        next
    }

    /// The shown column the table is sorted by (see [`SortColumn::shown_as`]).
    pub fn sorted_column(&self) -> SortColumn {
        self.sort.shown_as(self.show_tasks)
    }
}

/// How the Rank column ranks a view: one rule for every row of it, so paper rows and evaluated
/// rows never carry different kinds of rank in one list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RankRule {
    /// Ranked by overall, every ranked row verified here: models that the paired test between
    /// neighbours (or, without one, overlapping 95 % intervals) cannot separate share a rank.
    Groups,
    /// Competition ranks by this score: equal scores share a rank, the next rank skips.
    Strict(SortColumn),
}

impl RankRule {
    /// The rule for a view of these rows (all rows of its setting, before filters). Groups need
    /// per-item judgements or intervals on every row, and exist for the overall score only; a
    /// list with a paper row (numbers without either) or sorted by another score is ranked
    /// strictly.
    pub fn for_view(rows: &[LeaderboardRow], view: &View) -> RankRule {
        let measure = view.sort.measure();
        let all_verified = rows
            .iter()
            .filter(|row| row.overall.is_some())
            .all(|row| row.verified);
        if measure == SortColumn::Overall && all_verified {
            RankRule::Groups
        } else {
            RankRule::Strict(measure)
        }
    }

    /// The ranks of rows in any order, under this rule.
    pub fn ranks(self, rows: &[LeaderboardRow]) -> Vec<Option<usize>> {
        match self {
            RankRule::Groups => rank_groups(rows),
            RankRule::Strict(measure) => rows
                .iter()
                .map(|row| {
                    let value = measure.value(row)?;
                    let better = rows
                        .iter()
                        .filter_map(|other| measure.value(other))
                        .filter(|other| *other > value)
                        .count();
                    Some(better + 1)
                })
                .collect(),
        }
    }

    /// The rule in words, for the page.
    pub fn describe(self) -> String {
        match self {
            RankRule::Groups => "Rank by overall score. Every model here has per-item \
                                 judgements: models that the paired test against the next one \
                                 (McNemar, Holm-corrected) cannot separate share a rank, and \
                                 without a test, models whose 95 % intervals overlap the group \
                                 leader's."
                .to_owned(),
            RankRule::Strict(measure) => format!(
                "Rank by {} score: equal scores share a rank. Interval groups are used only \
                 when the list is ranked by overall and every model in it has per-item \
                 judgements (the paper's rows have none).",
                match measure {
                    SortColumn::Overall => "overall",
                    other => other.label(),
                }
            ),
        }
    }
}

/// A shown row with its rank.
#[derive(Clone, Debug, PartialEq)]
pub struct ShownRow {
    pub row: LeaderboardRow,
    /// Its rank under the view's [`RankRule`]; `None` for rows without the ranked score.
    pub rank: Option<usize>,
}

/// The rows of the view's setting that pass its filters, in its order, each with its rank
/// (among all rows of the setting, so a filter keeps the ranks of the full list).
pub fn shown_rows(
    with_ties: &[LeaderboardRow],
    without_ties: &[LeaderboardRow],
    view: &View,
) -> Vec<ShownRow> {
    let rows = match view.setting {
        Setting::WithTies => with_ties,
        Setting::WithoutTies => without_ties,
    };
    let ranks = RankRule::for_view(rows, view).ranks(rows);
    let needle = view.search.to_lowercase();
    let mut shown: Vec<ShownRow> = rows
        .iter()
        .zip(ranks)
        .filter(|(row, _)| {
            view.kind
                .as_ref()
                .is_none_or(|kind| row.kind.as_str() == kind)
                && (!view.open_weights_only || row.open_weights == Some(true))
                && (needle.is_empty() || row.model.to_lowercase().contains(&needle))
                && within_size(row, view.min_billions, view.max_billions)
        })
        .map(|(row, rank)| ShownRow {
            row: row.clone(),
            rank,
        })
        .collect();
    shown.sort_by(|left, right| compare(&left.row, &right.row, view.sort, view.descending));
    shown
}

/// The tasks every shown row with scores covers: the ground on which they all compare.
pub fn common_tasks(rows: &[ShownRow]) -> Vec<Task> {
    Task::ALL
        .into_iter()
        .filter(|task| {
            rows.iter()
                .filter(|shown| !shown.row.tasks.is_empty())
                .all(|shown| shown.row.tasks.contains_key(task))
        })
        .collect()
}

/// A row's macro mean over `tasks` (`None` without tasks, or when the row lacks one).
pub fn overall_on(row: &LeaderboardRow, tasks: &[Task]) -> Option<f64> {
    if tasks.is_empty() {
        return None;
    }
    let total = tasks
        .iter()
        .map(|task| row.tasks.get(task).copied())
        .sum::<Option<f64>>()?;
    Some(total / tasks.len() as f64)
}

fn within_size(row: &LeaderboardRow, min: Option<f64>, max: Option<f64>) -> bool {
    if min.is_none() && max.is_none() {
        return true;
    }
    let Some(size) = row.parameters.as_deref().and_then(parameters_in_billions) else {
        return false;
    };
    min.is_none_or(|min| size >= min) && max.is_none_or(|max| size <= max)
}

/// Orders two rows by a column; rows without a value go last in either direction, and ties
/// keep the server's order (the sort is stable).
fn compare(
    left: &LeaderboardRow,
    right: &LeaderboardRow,
    column: SortColumn,
    descending: bool,
) -> Ordering {
    if column == SortColumn::Model {
        let order = left.model.to_lowercase().cmp(&right.model.to_lowercase());
        return if descending { order.reverse() } else { order };
    }
    match (column.value(left), column.value(right)) {
        (Some(a), Some(b)) => {
            let order = a.total_cmp(&b);
            if descending { order.reverse() } else { order }
        }
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// Rank groups over rows in any order, by overall score (a rank is its group's first position,
/// counted from 1). Where the row just above has a paired test against this row (both have
/// per-item judgements), the test decides: not distinguishable after Holm's correction, the
/// same rank; distinguishable, a new group. Elsewhere (the paper's rows, which have no per-item
/// outputs), a group's leader is the best row not yet ranked, and every following row whose
/// interval reaches the leader's interval shares its rank; a row without an interval counts as
/// the point interval of its score.
pub fn rank_groups(rows: &[LeaderboardRow]) -> Vec<Option<usize>> {
    let mut order: Vec<usize> = (0..rows.len())
        .filter(|&index| rows[index].overall.is_some())
        .collect();
    order.sort_by(|&a, &b| {
        let score = |index: usize| rows[index].overall.unwrap_or(f64::NEG_INFINITY);
        score(b).total_cmp(&score(a))
    });
    let bounds = |row: &LeaderboardRow| {
        let overall = row.overall.unwrap_or(f64::NEG_INFINITY);
        row.intervals
            .as_ref()
            .map_or([overall, overall], |intervals| intervals.overall)
    };
    let mut ranks = vec![None; rows.len()];
    let mut leader: Option<(usize, [f64; 2])> = None;
    for (position, &index) in order.iter().enumerate() {
        let above = position.checked_sub(1).map(|previous| order[previous]);
        let paired = above.and_then(|above| {
            rows[above]
                .paired_with_next
                .as_ref()
                .filter(|test| test.next_run == rows[index].run)
                .map(|test| (above, test.distinguishable))
        });
        let [_, high] = bounds(&rows[index]);
        let rank = match (paired, leader) {
            (Some((above, false)), _) => ranks[above].unwrap_or(position + 1),
            (None, Some((rank, [leader_low, _]))) if high >= leader_low => rank,
            _ => {
                leader = Some((position + 1, bounds(&rows[index])));
                position + 1
            }
        };
        ranks[index] = Some(rank);
    }
    ranks
}

/// A parameter count as written on the leaderboard (`7B`, `1.5B`, `335M`, `8x7B`) in billions.
pub fn parameters_in_billions(text: &str) -> Option<f64> {
    let text = text.trim();
    let (count, text) = match text.split_once(['x', '×']) {
        Some((experts, rest)) => (experts.trim().parse::<f64>().ok()?, rest.trim()),
        None => (1.0, text),
    };
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let scale = match unit.trim().to_ascii_uppercase().as_str() {
        "T" => 1000.0,
        "B" => 1.0,
        "M" => 0.001,
        "K" => 0.000_001,
        _ => return None,
    };
    Some(count * number * scale)
}

/// Decodes `%XX` escapes and `+` of a query value (invalid escapes stay as written).
pub fn decode_component(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'+' => decoded.push(b' '),
            b'%' if index + 2 < bytes.len() => {
                match u8::from_str_radix(value.get(index + 1..index + 3).unwrap_or(""), 16) {
                    Ok(byte) => {
                        decoded.push(byte);
                        index += 2;
                    }
                    Err(_) => decoded.push(b'%'),
                }
            }
            byte => decoded.push(byte),
        }
        index += 1;
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

/// Escapes everything but unreserved characters.
pub fn encode_component(value: &str) -> String {
    value
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use omnireward_shared::comparison::NeighbourTest;
    use omnireward_shared::wire::{ModelKind, Provenance};

    use super::*;

    fn row(
        model: &str,
        overall: f64,
        interval: Option<[f64; 2]>,
        parameters: Option<&str>,
    ) -> LeaderboardRow {
        LeaderboardRow {
            rank: 0,
            run: 1,
            model_id: 1,
            model: model.to_owned(),
            kind: if interval.is_some() {
                ModelKind::ApiJudge
            } else {
                ModelKind::PaperReported
            },
            group: None,
            parameters: parameters.map(str::to_owned),
            licence: None,
            open_weights: Some(parameters.is_some()),
            link: None,
            source: None,
            provenance: Provenance::Evaluated,
            verified: interval.is_some(),
            benchmark: "sample".to_owned(),
            benchmark_name: "sample".to_owned(),
            tasks: BTreeMap::from([(Task::TextToText, overall)]),
            modalities: BTreeMap::from([(Modality::Text, overall)]),
            overall: Some(overall),
            tasks_covered: 1,
            intervals: interval.map(|overall| Intervals {
                tasks: BTreeMap::new(),
                modalities: BTreeMap::new(),
                overall,
            }),
            items: None,
            text_only_prompt: Vec::new(),
            modality_score: None,
            modality_tasks_covered: None,
            paired_with_next: None,
        }
    }

    fn test_against(next_run: i64, distinguishable: bool) -> Option<NeighbourTest> {
        Some(NeighbourTest {
            next_run,
            items: 100,
            difference: 0.01,
            mcnemar_p: 0.01,
            holm_p: if distinguishable { 0.01 } else { 0.5 },
            distinguishable,
        })
    }

    #[test]
    fn paired_tests_between_neighbours_decide_where_they_exist() {
        // Intervals alone would put all four in one group (they overlap); the paired tests say
        // a ~ b, b ≠ c, c ~ d. e is a paper row under d with no test: the interval rule against
        // c (the last group's leader) applies, and its point 0.30 is below c's low 0.40.
        let mut rows = [
            row("a", 0.70, Some([0.40, 0.90]), None),
            row("b", 0.69, Some([0.40, 0.90]), None),
            row("c", 0.60, Some([0.40, 0.90]), None),
            row("d", 0.59, Some([0.40, 0.90]), None),
            row("e", 0.30, None, None),
        ];
        for (index, row) in rows.iter_mut().enumerate() {
            row.run = index as i64 + 1;
        }
        rows[0].paired_with_next = test_against(2, false);
        rows[1].paired_with_next = test_against(3, true);
        rows[2].paired_with_next = test_against(4, false);
        assert_eq!(
            rank_groups(&rows),
            vec![Some(1), Some(1), Some(3), Some(3), Some(5)]
        );
        // Without the tests, the interval rule: one group of four, then e.
        for row in &mut rows {
            row.paired_with_next = None;
        }
        assert_eq!(
            rank_groups(&rows),
            vec![Some(1), Some(1), Some(1), Some(1), Some(5)]
        );
    }

    #[test]
    fn rows_whose_interval_reaches_the_leader_share_its_rank() {
        let rows = [
            row("b", 0.60, Some([0.55, 0.65]), None),
            row("a", 0.70, Some([0.62, 0.78]), None),
            row("c", 0.50, Some([0.45, 0.55]), None),
            row("d", 0.40, None, None),
        ];
        // a leads (0.62 low); b reaches 0.65 ≥ 0.62 → rank 1; c's 0.55 < 0.62 → new group at
        // position 3; d (a point, 0.40) is below c's low 0.45 → rank 4.
        assert_eq!(rank_groups(&rows), vec![Some(1), Some(1), Some(3), Some(4)]);
    }

    #[test]
    fn sorting_filters_and_search_follow_the_view() {
        let rows = vec![
            row("Small", 0.5, Some([0.4, 0.6]), Some("7B")),
            row("Large", 0.7, Some([0.65, 0.75]), Some("72B")),
            row("Paper", 0.6, None, None),
        ];
        let names = |view: &View| {
            shown_rows(&rows, &[], view)
                .into_iter()
                .map(|shown| shown.row.model)
                .collect::<Vec<_>>()
        };
        let view = View::default();
        assert_eq!(names(&view), ["Large", "Paper", "Small"]);
        assert_eq!(
            names(&view.sorted_by(SortColumn::Model)),
            ["Large", "Paper", "Small"]
        );
        assert_eq!(
            names(&view.sorted_by(SortColumn::Overall)),
            ["Small", "Paper", "Large"]
        );
        // Unknown sizes go last in both directions.
        let by_size = view.sorted_by(SortColumn::Parameters);
        assert_eq!(names(&by_size), ["Large", "Small", "Paper"]);
        assert_eq!(
            names(&by_size.sorted_by(SortColumn::Parameters)),
            ["Small", "Large", "Paper"]
        );
        let small = View {
            max_billions: Some(10.0),
            ..View::default()
        };
        assert_eq!(names(&small), ["Small"]);
        let search = View {
            search: "ARG".to_owned(),
            ..View::default()
        };
        assert_eq!(names(&search), ["Large"]);
        let open = View {
            open_weights_only: true,
            ..View::default()
        };
        assert_eq!(names(&open), ["Large", "Small"]);
        let judges = View {
            kind: Some("paper_reported".to_owned()),
            ..View::default()
        };
        assert_eq!(names(&judges), ["Paper"]);
    }

    #[test]
    fn the_rank_is_the_sorted_measures_under_one_rule_per_view() {
        // Overlapping intervals: as groups the two evaluated rows would share rank 1.
        let mut rows = vec![
            row("Large", 0.70, Some([0.40, 0.90]), Some("72B")),
            row("Small", 0.65, Some([0.40, 0.90]), Some("7B")),
            row("Paper", 0.60, None, None),
        ];
        rows[0].tasks.insert(Task::TextToImage, 0.50);
        rows[1].tasks.insert(Task::TextToImage, 0.80);
        rows[2].tasks.insert(Task::TextToImage, 0.50);
        let ranks = |rows: &[LeaderboardRow], view: &View| {
            shown_rows(rows, &[], view)
                .into_iter()
                .map(|shown| (shown.row.model, shown.rank))
                .collect::<Vec<_>>()
        };
        // A paper row in the list: strict ranks for everyone, no groups for some rows only.
        let view = View::default();
        assert_eq!(
            RankRule::for_view(&rows, &view),
            RankRule::Strict(SortColumn::Overall)
        );
        assert_eq!(
            ranks(&rows, &view),
            [
                ("Large".to_owned(), Some(1)),
                ("Small".to_owned(), Some(2)),
                ("Paper".to_owned(), Some(3))
            ]
        );
        // Sorted by T2I, the rank is T2I's: equal scores share a rank.
        let by_task = view.sorted_by(SortColumn::Task(Task::TextToImage));
        assert_eq!(
            ranks(&rows, &by_task),
            [
                ("Small".to_owned(), Some(1)),
                ("Large".to_owned(), Some(2)),
                ("Paper".to_owned(), Some(2))
            ]
        );
        // Sorted by name, the rank stays overall's; ascending by T2I, the worst come first and
        // keep their ranks (the best is still 1).
        assert_eq!(
            ranks(&rows, &view.sorted_by(SortColumn::Model))[0],
            ("Large".to_owned(), Some(1))
        );
        assert_eq!(
            ranks(
                &rows,
                &by_task.sorted_by(SortColumn::Task(Task::TextToImage))
            )[2],
            ("Small".to_owned(), Some(1))
        );
        // Only verified rows, by overall: interval groups.
        let verified = &rows[..2];
        assert_eq!(RankRule::for_view(verified, &view), RankRule::Groups);
        assert_eq!(
            ranks(verified, &view),
            [("Large".to_owned(), Some(1)), ("Small".to_owned(), Some(1))]
        );
        assert!(
            RankRule::Strict(SortColumn::Task(Task::TextToImage))
                .describe()
                .starts_with("Rank by T2I score")
        );
    }

    #[test]
    fn with_the_tasks_shown_single_task_modalities_are_not_repeated() {
        assert_eq!(shown_modalities(false).count(), 5);
        let shown: Vec<Modality> = shown_modalities(true).collect();
        assert_eq!(
            shown,
            [Modality::Image, Modality::Video, Modality::Audio],
            "Text is T2T and 3D is T23D"
        );
        // A link sorted by Text marks (and flips on) the T2T column once the tasks are shown.
        let view = View {
            sort: SortColumn::Modality(Modality::Text),
            show_tasks: true,
            ..View::default()
        };
        assert_eq!(view.sorted_column(), SortColumn::Task(Task::TextToText));
        assert!(
            !view
                .sorted_by(SortColumn::Task(Task::TextToText))
                .descending
        );
    }

    #[test]
    fn the_common_overall_is_the_mean_over_the_tasks_every_shown_row_covers() {
        let mut full = row("Full", 0.6, None, None);
        full.tasks = BTreeMap::from([
            (Task::TextToText, 0.9),
            (Task::TextToImage, 0.5),
            (Task::TextTo3d, 0.1),
        ]);
        let mut partial = row("Partial", 0.7, None, None);
        partial.tasks = BTreeMap::from([(Task::TextToText, 0.8), (Task::TextToImage, 0.6)]);
        let shown = shown_rows(&[full.clone(), partial.clone()], &[], &View::default());
        let tasks = common_tasks(&shown);
        assert_eq!(tasks, [Task::TextToText, Task::TextToImage]);
        // Full's overall counts T23D (0.5); on the common tasks it is 0.7, as Partial's.
        assert_eq!(overall_on(&full, &tasks), Some(0.7));
        assert_eq!(overall_on(&partial, &tasks), Some(0.7));
        assert_eq!(overall_on(&full, &[]), None);
        // Filtered to Full alone, its own three tasks are the common ground.
        let alone = View {
            search: "full".to_owned(),
            ..View::default()
        };
        assert_eq!(
            common_tasks(&shown_rows(&[full, partial], &[], &alone)).len(),
            3
        );
    }

    #[test]
    fn the_setting_picks_the_rows() {
        let with = vec![row("with", 0.5, None, None)];
        let without = vec![row("without", 0.5, None, None)];
        let view = View {
            setting: Setting::WithoutTies,
            ..View::default()
        };
        assert_eq!(shown_rows(&with, &without, &view)[0].row.model, "without");
    }

    #[test]
    fn views_survive_the_url() {
        let view = View {
            setting: Setting::WithoutTies,
            sort: SortColumn::Task(Task::TextToImage),
            descending: false,
            kind: Some("api_judge".to_owned()),
            open_weights_only: true,
            min_billions: Some(1.5),
            max_billions: Some(80.0),
            search: "Qwen 2.5/VL&co".to_owned(),
            show_tasks: true,
            show_intervals: true,
            common_tasks: true,
            benchmark: Some("omni-rewardbench-sample".to_owned()),
        };
        let query = view.to_query();
        assert!(!query.contains(' ') && !query.contains("/VL&"), "{query}");
        assert_eq!(View::from_query(&query), view);
        assert_eq!(View::default().to_query(), "");
        assert_eq!(
            View::from_query("sort=model"),
            View {
                sort: SortColumn::Model,
                descending: false,
                ..View::default()
            }
        );
        assert_eq!(
            View::from_query("setting=bogus&sort=nope&min=x&%zz"),
            View::default()
        );
        assert_eq!(
            View::from_query("q=a+b%2"),
            View {
                search: "a b%2".to_owned(),
                ..View::default()
            }
        );
    }

    #[test]
    fn parameter_counts_read_as_billions() {
        assert_eq!(parameters_in_billions("7B"), Some(7.0));
        assert_eq!(parameters_in_billions("1.5B"), Some(1.5));
        assert_eq!(parameters_in_billions("335M"), Some(0.335));
        assert_eq!(parameters_in_billions("8x7B"), Some(56.0));
        assert_eq!(parameters_in_billions("unknown"), None);
        assert_eq!(parameters_in_billions("7"), None);
    }
}
