//! The metric card of a run's scorecard: the headline under the other scoring conventions, and
//! how the judge behaves (unparsed answers, ties, verdicts, position bias), per setting; and a
//! scalar reward model's tie thresholds, in-sample (the paper's) beside cross-validated.

use std::collections::BTreeMap;

use leptos::prelude::*;
use omnireward_shared::metric_card::MetricCard;
use omnireward_shared::tie_cross_validation::TieThresholdReport;
use omnireward_shared::{Setting, SettingScorecard, Task};

use crate::format;

/// One table row per setting that has a card; nothing when no setting has one (scorecards
/// stored before cards existed).
#[component]
pub fn MetricCardTable(settings: BTreeMap<Setting, SettingScorecard>) -> impl IntoView {
    let cards: Vec<(Setting, MetricCard)> = settings
        .into_iter()
        .filter_map(|(setting, scores)| scores.metric_card.map(|card| (setting, card)))
        .collect();
    let tie_thresholds: BTreeMap<Task, TieThresholdReport> = cards
        .iter()
        .flat_map(|(_, card)| card.tie_thresholds.clone())
        .collect();
    (!cards.is_empty()).then(|| {
        view! {
            <details class="metric-card" open>
                <summary>"Metric card: the same judgements under other conventions"</summary>
                <table class="scores compact">
                    <thead><tr>
                        <th scope="col">"Setting"</th>
                        <th scope="col" title="Unweighted mean of task accuracies, unparsed counted wrong: the headline">"Macro (paper)"</th>
                        <th scope="col" title="Correct items over all items, tasks pooled">"Micro"</th>
                        <th scope="col">"Unparsed dropped (macro)"</th>
                        <th scope="col">"Unparsed guessed, seeded (macro)"</th>
                        <th scope="col">"Unparsed"</th>
                        <th scope="col">"Ties predicted / labelled"</th>
                        <th scope="col" title="response1 / response2 / tie / none">"Verdicts A / B / tie / none"</th>
                        <th scope="col" title="Share of first-shown picks minus second-shown picks, both orders">"Position bias"</th>
                    </tr></thead>
                    <tbody>
                        {cards.into_iter().map(|(setting, card)| {
                            let convention = |index: usize| card.conventions.get(index).map_or_else(
                                || "–".to_owned(),
                                |score| format!("{} ({} items)", format::percent(score.macro_accuracy), score.items),
                            );
                            view! {
                                <tr>
                                    <th scope="row">{setting.label()}</th>
                                    <td class="score">{format::percent(card.macro_accuracy)}</td>
                                    <td class="score">{format::percent(card.micro_accuracy)}</td>
                                    <td class="score">{convention(1)}</td>
                                    <td class="score">{convention(2)}</td>
                                    <td>{format!("{} ({})", card.unparsed, format::percent(card.unparsed_rate))}</td>
                                    <td>{format!("{} / {}", format::percent(card.predicted_tie_rate), format::percent(card.labelled_tie_rate))}</td>
                                    <td>{format!("{} / {} / {} / {}", card.verdicts.response1, card.verdicts.response2, card.verdicts.tie, card.verdicts.none)}</td>
                                    <td>{card.position_bias.map_or_else(|| "no swap pass".to_owned(), |bias| format!("{bias:+.3}"))}</td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
                {(!tie_thresholds.is_empty()).then(|| view! {
                    <table class="scores compact tie-thresholds">
                        <caption>"w/ Ties threshold of a scalar reward model: the paper's in-sample sweep is tuned on the test labels themselves; the cross-validated one scores each fold with a threshold chosen on the other folds"</caption>
                        <thead><tr>
                            <th scope="col">"Task"</th>
                            <th scope="col">"In-sample sweep (paper, optimistic)"</th>
                            <th scope="col">"ε"</th>
                            <th scope="col">"Cross-validated"</th>
                            <th scope="col">"Folds (seed)"</th>
                        </tr></thead>
                        <tbody>
                            {tie_thresholds.into_iter().map(|(task, report)| view! {
                                <tr>
                                    <th scope="row" title=task.key()>{task.short_name()}</th>
                                    <td class="score">{format::percent(report.in_sample_accuracy)}</td>
                                    <td>{report.in_sample_epsilon.map_or_else(|| "never a tie".to_owned(), |epsilon| format!("{epsilon:.4}"))}</td>
                                    <td class="score">{format::percent(report.cross_validated_accuracy)}</td>
                                    <td>{format!("{} ({})", report.folds, report.seed)}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                })}
            </details>
        }
    })
}
