//! `/compare?models=A,B[,C,D]`: two to four models of one benchmark side by side: their rows,
//! overlaid task bars and radars, a table of differences with paired statistics where both
//! models have per-item outputs (and a plain "paper-reported numbers only" where not), and two
//! scatter plots of the whole board with the picked models marked. The form is a plain GET, so
//! the page needs no script.

use leptos::prelude::*;
use omnireward_shared::Setting;
use omnireward_shared::wire::Provenance;

use crate::data::{self, ComparedModel, LeaderboardRow, PairDifference};
use crate::format;
use crate::leaderboard::encode_component;

/// The most models one view compares.
pub const MOST_MODELS: usize = 4;

/// The compare view.
#[component]
pub fn ComparePage(page: data::ComparePage) -> impl IntoView {
    let benchmark = page.benchmark.clone();
    let enough = page.picked.len() >= 2;
    view! {
        <section class="compare">
            <p class="crumbs"><a href="/">"Leaderboard"</a> " / compare"</p>
            <h1>"Compare models"</h1>
            <p class="lead">
                "Pick two to four models of one benchmark. Paper rows show the paper's reported \
                 numbers; models with per-item outputs on this benchmark are also compared item \
                 by item (paired bootstrap interval of the difference, exact McNemar test, Holm's \
                 correction over the table)."
            </p>
            {page.notice.map(|notice| view! { <p class="error" id="compare-notice">{notice}</p> })}
            <BenchmarkLinks current=page.benchmark.clone() benchmarks=page.benchmarks picked=page.picked.iter().map(|model| model.model_id).collect()/>
            // Once models are picked, the choice folds away so the results come first (on a
            // phone the list of every model is several screens long).
            <details class="compare-choose" id="compare-choose" open=!enough>
                <summary>{if enough { "Change the models" } else { "Choose the models" }}</summary>
            <form class="compare-form" method="get" action="/compare" id="compare-picker">
                <input type="hidden" name="benchmark" value=benchmark/>
                <fieldset>
                    <legend>{format!("Models (pick 2 to {MOST_MODELS})")}</legend>
                    <div class="choices">
                        {page.choices.into_iter().map(|choice| view! {
                            <label class=if choice.paper { "choice paper" } else { "choice" }>
                                <input type="checkbox" name="models" value=choice.model_id.to_string() checked=choice.picked/>
                                " " {choice.model}
                                {choice.paper.then_some(view! { <span class="badge paper">"paper"</span> })}
                            </label>
                        }).collect_view()}
                    </div>
                </fieldset>
                <button type="submit">"Compare"</button>
            </form>
            </details>
            {if enough {
                view! {
                    <Picked picked=page.picked/>
                    <h2>"Scores"</h2>
                    <Charts charts=page.charts/>
                    <h2 id="differences-heading">"Differences"</h2>
                    <Differences differences=page.differences/>
                }.into_any()
            } else {
                view! {
                    <p class="empty" id="compare-empty">"Pick at least two models above (or tick them on the leaderboard and press \"Compare selected\")."</p>
                    <Charts charts=page.charts/>
                }.into_any()
            }}
        </section>
    }
}

/// Links to the same view on the other benchmarks with rows.
#[component]
fn BenchmarkLinks(
    current: String,
    benchmarks: Vec<data::BenchmarkRows>,
    picked: Vec<i64>,
) -> impl IntoView {
    let models: Vec<String> = picked.iter().map(i64::to_string).collect();
    let models = models.join(",");
    let others: Vec<data::BenchmarkRows> = benchmarks
        .into_iter()
        .filter(|benchmark| benchmark.name != current)
        .collect();
    view! {
        <p class="benchmark-choice">
            "Benchmark: " <strong id="compare-benchmark">{current}</strong>
            {(!others.is_empty()).then_some(" · rows of other benchmarks are compared apart: ")}
            {others.into_iter().map(|benchmark| {
                let href = format!("/compare?benchmark={}&models={}", encode_component(&benchmark.name), models);
                view! { <a href=href>{benchmark.name}</a> " " }
            }).collect_view()}
        </p>
    }
}

fn score(value: Option<f64>) -> String {
    value.map_or_else(|| "–".to_owned(), format::percent)
}

/// The picked models' rows: where the numbers come from, items, overall in each setting.
#[component]
fn Picked(picked: Vec<ComparedModel>) -> impl IntoView {
    let row_of = |model: &ComparedModel| -> Option<LeaderboardRow> {
        model
            .with_ties
            .clone()
            .or_else(|| model.without_ties.clone())
    };
    view! {
        <div class="table-scroll">
            <table class="compact picked" id="picked">
                <thead><tr>
                    <th scope="col">"Model"</th>
                    <th scope="col">"Numbers"</th>
                    <th scope="col">"Size"</th>
                    <th scope="col" title="Items judged with ties (evaluated rows: scored items; paper rows: the release's pairs of the tasks the paper scored)">"n"</th>
                    <th scope="col">"Overall with ties"</th>
                    <th scope="col">"Overall without ties"</th>
                </tr></thead>
                <tbody>
                    {picked.into_iter().map(|model| {
                        let row = row_of(&model);
                        let provenance = row.as_ref().map_or("", |row| match row.provenance {
                            Provenance::PaperReported => "paper-reported",
                            Provenance::SubmittedPredictions => "submitted, scored here",
                            Provenance::ReferenceImport => "authors' outputs, scored here",
                            _ => "evaluated here",
                        });
                        let coverage = row.as_ref().map(|row| format!(" · {}/9 tasks", row.tasks_covered)).unwrap_or_default();
                        view! {
                            <tr>
                                <th scope="row"><a href=format!("/models/{}", model.model_id)>{model.model.clone()}</a></th>
                                <td>{format!("{provenance}{coverage}")}</td>
                                <td>{row.as_ref().and_then(|row| row.parameters.clone()).unwrap_or_else(|| "–".to_owned())}</td>
                                <td class="number">{model.with_ties.as_ref().and_then(|row| row.items).map_or_else(|| "–".to_owned(), |items| items.to_string())}</td>
                                <td class="number">{score(model.with_ties.as_ref().and_then(|row| row.overall))}</td>
                                <td class="number">{score(model.without_ties.as_ref().and_then(|row| row.overall))}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

#[component]
fn Charts(charts: Vec<data::Chart>) -> impl IntoView {
    view! {
        <div class="charts">
            {charts.into_iter().map(|chart| view! {
                <figure class="chart">
                    <figcaption>{chart.title}</figcaption>
                    <div class="svg" role="img" aria-label=chart.description.clone() inner_html=chart.svg></div>
                    <p class="visually-hidden">{chart.description}</p>
                </figure>
            }).collect_view()}
        </div>
    }
}

fn p_value(p: f64) -> String {
    if p < 0.0001 {
        "< 0.0001".to_owned()
    } else {
        format!("{p:.4}")
    }
}

/// The table of differences: one row per pair and setting.
#[component]
fn Differences(differences: Vec<PairDifference>) -> impl IntoView {
    if differences.is_empty() {
        return view! { <p class="empty">"No pair to compare."</p> }.into_any();
    }
    view! {
        <div class="table-scroll">
            <table class="compact differences" id="differences">
                <thead><tr>
                    <th scope="col">"Setting"</th>
                    <th scope="col">"A − B"</th>
                    <th scope="col" title="Items both judged">"Shared items"</th>
                    <th scope="col">"A"</th>
                    <th scope="col">"B"</th>
                    <th scope="col">"Difference [95 % interval]"</th>
                    <th scope="col" title="Exact McNemar test over the shared items">"McNemar p"</th>
                    <th scope="col" title="McNemar p after Holm's correction over this setting's tests">"Holm p"</th>
                </tr></thead>
                <tbody>
                    {differences.into_iter().map(|difference| {
                        let pair = format!("{} − {}", difference.first, difference.second);
                        let setting = match difference.setting {
                            Setting::WithTies => "with ties",
                            Setting::WithoutTies => "without ties",
                        };
                        match difference.paired {
                            Some(paired) => view! {
                                <tr class="paired">
                                    <td>{setting}</td>
                                    <th scope="row">{pair}</th>
                                    <td class="number">{paired.items}</td>
                                    <td class="number">{format::percent(paired.first_accuracy)}</td>
                                    <td class="number">{format::percent(paired.second_accuracy)}</td>
                                    <td class="number">{format!("{:+.2} {}", paired.difference * 100.0, format::interval(paired.ci95))}</td>
                                    <td class="number">{p_value(paired.mcnemar_p)}</td>
                                    <td class="number">{difference.holm_p.map(p_value).unwrap_or_else(|| "–".to_owned())}</td>
                                </tr>
                            }.into_any(),
                            None => {
                                let reported = match (difference.first_overall, difference.second_overall) {
                                    (Some(first), Some(second)) => format!("{:+.2}", (first - second) * 100.0),
                                    _ => "–".to_owned(),
                                };
                                view! {
                                    <tr class="unpaired">
                                        <td>{setting}</td>
                                        <th scope="row">{pair}</th>
                                        <td class="number">"–"</td>
                                        <td class="number">{score(difference.first_overall)}</td>
                                        <td class="number">{score(difference.second_overall)}</td>
                                        <td class="number">{reported}</td>
                                        <td colspan="2" class="unpaired-reason">{difference.unpaired.unwrap_or_default()}</td>
                                    </tr>
                                }.into_any()
                            }
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
        <p class="note">
            "Paired rows compare the two models on the items both judged (original order; each \
             model's verdicts decided as its scorecard decides them), so A and B there can differ \
             from the overall columns above. Unpaired rows give the difference of the overall \
             scores as reported, each over its own tasks, with no test."
        </p>
    }
    .into_any()
}
