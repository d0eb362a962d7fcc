//! `/`: the leaderboard. One row per model with overall, modality and (on demand) task scores;
//! the ties toggle, sorting, filters and search all live in the URL. Without the bundle every
//! control is a link or a GET form the server renders; with it they apply at once.

use std::sync::Arc;

use leptos::prelude::*;
use omnireward_shared::wire::{ModelKind, Provenance};
use omnireward_shared::{Setting, Task};

use crate::data::{self, LeaderboardRow};
use crate::format;
use crate::leaderboard::{
    RankRule, ShownRow, SortColumn, View, common_tasks, encode_component, overall_on,
    shown_modalities, shown_rows,
};

/// Model types a row can have, with the label the filter shows. The paper's rows have their
/// model's real type (provenance is the separate "paper" badge), so "paper-reported" is no type.
const KINDS: [(&str, &str); 4] = [
    ("api_judge", "API judge"),
    ("scalar_reward_model", "Scalar reward model"),
    ("local_generative", "Generative judge (open weights)"),
    ("baseline", "Baseline"),
];

fn kind_label(kind: &str) -> &str {
    KINDS
        .iter()
        .find(|(key, _)| *key == kind)
        .map_or(kind, |(_, label)| label)
}

fn href(view: &View) -> String {
    let query = view.to_query();
    if query.is_empty() {
        "/".to_owned()
    } else {
        format!("/?{query}")
    }
}

/// Writes the view into the address bar (without a navigation), so a copied URL reproduces it.
#[cfg(feature = "hydrate")]
fn remember_in_address_bar(view: &View) {
    if let Some(history) = web_sys::window().and_then(|window| window.history().ok()) {
        // A refused `replaceState` only costs the shareable URL, never the table.
        let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&href(view)));
    }
}

/// Scrolls the table so the sorted column is in view (beside the sticky model column), since a
/// sorted task column can lie beyond the right edge of a narrow screen.
#[cfg(feature = "hydrate")]
fn scroll_sorted_column_into_view() {
    use wasm_bindgen::JsCast as _;
    let Some(document) = web_sys::window().and_then(|window| window.document()) else {
        return;
    };
    let header = document
        .query_selector(
            "table.scores th[aria-sort=ascending], table.scores th[aria-sort=descending]",
        )
        .ok()
        .flatten()
        .and_then(|element| element.dyn_into::<web_sys::HtmlElement>().ok());
    let container = document.query_selector(".table-scroll").ok().flatten();
    let model = document
        .query_selector("table.scores thead th.model")
        .ok()
        .flatten()
        .and_then(|element| element.dyn_into::<web_sys::HtmlElement>().ok());
    let (Some(header), Some(container)) = (header, container) else {
        return;
    };
    // Offsets are relative to the scroll container (it is the positioned ancestor); the sticky
    // model column covers the left part of the visible area.
    let covered = model.map_or(0, |model| model.offset_left() + model.offset_width());
    let left = header.offset_left();
    let right = left + header.offset_width();
    let visible_left = container.scroll_left() + covered;
    let visible_right = container.scroll_left() + container.client_width();
    if left < visible_left {
        container.set_scroll_left(left - covered);
    } else if right > visible_right {
        container.set_scroll_left(right - container.client_width());
    }
}

/// Which benchmark's rows are ranked: one link per benchmark with rows. Rows measured on
/// different benchmarks (the embedded sample and the 3,725-pair release, say) are never ranked in
/// one list; another benchmark is one click (a new page) away.
#[component]
fn BenchmarkChoice(
    view: View,
    current: String,
    benchmarks: Vec<data::BenchmarkRows>,
) -> impl IntoView {
    let label = |name: &str| {
        if name == RELEASE_BENCHMARK {
            "Full release (3,725 pairs; the paper's rows)".to_owned()
        } else {
            name.to_owned()
        }
    };
    let current_label = label(&current);
    view! {
        <nav class="benchmark-choice" aria-label="Benchmark">
            <p>
                "Ranked on " <strong id="benchmark-current">{current_label}</strong>
                {(benchmarks.len() > 1).then_some(" · other benchmarks, ranked apart: ")}
                {benchmarks
                    .into_iter()
                    .filter(|benchmark| benchmark.name != current)
                    .map(|benchmark| {
                        let target = View {
                            benchmark: Some(benchmark.name.clone()),
                            ..view.clone()
                        };
                        let rows = benchmark.evaluated + benchmark.paper_reported;
                        view! {
                            <a class="benchmark-link" href=href(&target)>
                                {format!("{} ({rows} rows)", label(&benchmark.name))}
                            </a>
                            " "
                        }
                    })
                    .collect_view()}
            </p>
        </nav>
    }
}

/// The name runs on the public release carry, under which the paper's rows are listed.
const RELEASE_BENCHMARK: &str = "omni-rewardbench";

/// The leaderboard page.
#[component]
pub fn LeaderboardPage(page: data::LeaderboardPage) -> impl IntoView {
    let benchmark_choice = view! {
        <BenchmarkChoice view=page.view.clone() current=page.benchmark.clone() benchmarks=page.benchmarks.clone()/>
    };
    let benchmark_query = format!("&benchmark={}", encode_component(&page.benchmark));
    let with_ties = Arc::new(page.with_ties);
    let without_ties = Arc::new(page.without_ties);
    let view_state = RwSignal::new(page.view);
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| view_state.with(remember_in_address_bar));

    let rows = {
        let (with_ties, without_ties) = (Arc::clone(&with_ties), Arc::clone(&without_ties));
        Memo::new(move |_| view_state.with(|view| shown_rows(&with_ties, &without_ties, view)))
    };
    // The tasks every shown row covers, when the common-tasks column is asked for.
    let common = Memo::new(move |_| {
        view_state
            .with(|view| view.common_tasks)
            .then(|| rows.with(|rows| common_tasks(rows)))
    });
    let rank_rule = {
        let (with_ties, without_ties) = (Arc::clone(&with_ties), Arc::clone(&without_ties));
        Memo::new(move |_| {
            view_state.with(|view| {
                let rows = match view.setting {
                    Setting::WithTies => &with_ties,
                    Setting::WithoutTies => &without_ties,
                };
                RankRule::for_view(rows, view)
            })
        })
    };
    // After the table re-renders for a new sort, bring the sorted column into view (also on
    // the first render of a shared link sorted by a column off to the right).
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        view_state.with(|view| (view.sort, view.descending, view.show_tasks));
        request_animation_frame(scroll_sorted_column_into_view);
    });
    let total = move || {
        view_state.with(|view| match view.setting {
            Setting::WithTies => with_ties.len(),
            Setting::WithoutTies => without_ties.len(),
        })
    };
    let update = move |change: &dyn Fn(&mut View)| view_state.update(|view| change(view));

    view! {
        <section class="leaderboard">
            <h1>"Leaderboard"</h1>
            <p class="lead">
                "Accuracy of reward models and judges against each benchmark's labels (human \
                 preferences on the full release), per modality and task. Rows marked "
                <span class="badge paper">"paper"</span>
                " are copied from the paper (full release, not re-run here); "
                <span class="badge baseline">"baseline"</span>
                " rows are content-blind shortcuts that bound what a score means; "
                <span class="badge submitted">"submitted"</span>
                " rows were judged elsewhere and submitted as per-item judgements, which are \
                 checked and scored here (the scoring is verified, the judging is not)."
            </p>
            {benchmark_choice}
            {(page.benchmark == page.served.name).then(|| view! {
                <p class="served" id="served-benchmark">
                    {format!("This server's benchmark: {}.", page.served.description())}
                </p>
            })}
            <SettingToggle view_state/>
            <TieRules/>
            <Filters view_state update/>
            <p class="summary" aria-live="polite">
                {move || format!("{} of {} models", rows.with(Vec::len), total())}
                " · "
                <a href={
                    let benchmark_query = benchmark_query.clone();
                    move || format!("/api/v1/leaderboard.csv?setting={}{benchmark_query}", view_state.with(|v| v.setting.key()))
                }
                    download="">"CSV"</a>
                " · "
                <a href=move || format!("/api/v1/leaderboard?setting={}{benchmark_query}", view_state.with(|v| v.setting.key()))>"JSON"</a>
            </p>
            <form class="compare-selection" id="compare-form" method="get" action="/compare">
                <input type="hidden" name="benchmark" value=page.benchmark.clone()/>
                <button type="submit" class="secondary">"Compare selected"</button>
                <span class="hint">" Tick two to four models beside their rank."</span>
            </form>
            <div class="table-scroll">
                <table class="scores">
                    <caption class="visually-hidden">
                        "Leaderboard rows; column headers sort the table."
                    </caption>
                    <thead>
                        <tr>
                            <th scope="col" class="rank" title=move || rank_rule.get().describe()>
                                "Rank"
                                <span class="rank-measure">
                                    {move || match rank_rule.get() {
                                        RankRule::Groups => "overall",
                                        RankRule::Strict(measure) => measure.label(),
                                    }}
                                </span>
                            </th>
                            <SortHeader view_state column=SortColumn::Model label="Model" title="Model name" class="model"/>
                            <th scope="col" class="type">"Type"</th>
                            <SortHeader view_state column=SortColumn::Parameters label="Size" title="Parameters" class="size"/>
                            <SortHeader view_state column=SortColumn::Overall label="Overall" title="Mean over covered tasks" class="overall"/>
                            <th scope="col" class="items" title=ITEMS_TITLE>"n"</th>
                            {move || common.get().map(|tasks| {
                                let names: Vec<&str> = tasks.iter().map(|task| task.short_name()).collect();
                                view! {
                                    <th scope="col" class="common" id="common-header"
                                        title=format!("Mean over the tasks every shown model covers: {}", names.join(", "))>
                                        "Common"
                                        <span class="rank-measure">{format!("{} tasks", tasks.len())}</span>
                                    </th>
                                }
                            })}
                            {move || {
                                let show_tasks = view_state.with(|view| view.show_tasks);
                                shown_modalities(show_tasks)
                                    .map(|modality| view! {
                                        <SortHeader view_state column=SortColumn::Modality(modality)
                                            label=modality.label() title="Mean over this modality's tasks"/>
                                    })
                                    .collect_view()
                            }}
                            {move || view_state.with(|view| view.show_tasks).then(|| {
                                Task::ALL
                                    .into_iter()
                                    .map(|task| view! {
                                        <SortHeader view_state column=SortColumn::Task(task)
                                            label=task.short_name() title=task.key()/>
                                    })
                                    .collect_view()
                            })}
                        </tr>
                    </thead>
                    <tbody>
                        {move || {
                            let (show_tasks, show_intervals) =
                                view_state.with(|view| (view.show_tasks, view.show_intervals));
                            rows.with(|rows| {
                                if rows.is_empty() {
                                    let columns = 6
                                        + usize::from(common.with(Option::is_some))
                                        + shown_modalities(show_tasks).count()
                                        + if show_tasks { Task::ALL.len() } else { 0 };
                                    view! {
                                        <tr><td class="empty" colspan=columns>
                                            "No model matches these filters. "
                                            <a href="/">"Show all models"</a>
                                        </td></tr>
                                    }.into_any()
                                } else {
                                    let common_tasks = common.get();
                                    rows.iter()
                                        .map(|shown| row_view(shown, show_tasks, show_intervals, common_tasks.as_deref()))
                                        .collect_view()
                                        .into_any()
                                }
                            })
                        }}
                    </tbody>
                </table>
            </div>
            <p class="note" id="rank-rule">{move || rank_rule.get().describe()}</p>
            <p class="note">
                "* scored on the prompt's text only (a text model cannot see the prompt's image, \
                 video or audio). The bar under a score spans its 95 % bootstrap interval; \
                 \"Show 95 % intervals\" writes the bounds under every score."
            </p>
        </section>
    }
}

/// What the n column counts.
const ITEMS_TITLE: &str = "Items the row's numbers count, all its tasks together. Evaluated rows: \
     the items their scorecard scored in this setting. Paper rows: the release's pairs of the \
     tasks the paper scored (3,725 for all nine with ties; without ties the 3,284 pairs not \
     labelled tie, a count inferred from the paper's denominators).";

/// The with-ties / without-ties switch.
#[component]
fn SettingToggle(view_state: RwSignal<View>) -> impl IntoView {
    let option = move |setting: Setting, label: &'static str| {
        let target = move || {
            view_state.with(|view| View {
                setting,
                ..view.clone()
            })
        };
        view! {
            <a class="toggle" role="button"
                href=move || href(&target())
                aria-pressed=move || (view_state.with(|view| view.setting) == setting).to_string()
                on:click=move |event| {
                    event.prevent_default();
                    view_state.update(|view| view.setting = setting);
                }>
                {label}
            </a>
        }
    };
    view! {
        <div class="setting-toggle" role="group" aria-label="Setting">
            {option(Setting::WithTies, "With ties (3-way)")}
            {option(Setting::WithoutTies, "Without ties")}
        </div>
    }
}

/// How each row type decides a tie, so the with-ties numbers can be read correctly.
#[component]
fn TieRules() -> impl IntoView {
    view! {
        <details class="tie-rules">
            <summary>"How ties are decided"</summary>
            <ul>
                <li><strong>"API and local generative judges: "</strong>
                    "the judge answers A, B or tie; with ties a tie verdict is right only on \
                     pairs labelled tie, without ties the tied pairs are left out and the judge is \
                     asked for A or B."</li>
                <li><strong>"Scalar reward models: "</strong>
                    "two rewards per pair; without ties the larger wins; with ties a pair counts \
                     as tied when the rewards differ by less than a threshold chosen by the \
                     Ties-Matter sweep (or the fixed threshold the run records)."</li>
                <li><strong>"Paper-reported rows: "</strong>
                    "as reported by Jin et al. (2025) on the full release."</li>
                <li><strong>"Baselines: "</strong>"content-blind rules. With ties, random \
                    picks A, B or tie uniformly; longer response and larger file answer tie when \
                    the two lengths or sizes are equal; always A never answers tie. Without ties, \
                    random picks A or B, and equal lengths or sizes give no decision, counted \
                    wrong."</li>
            </ul>
        </details>
    }
}

/// The filter form: a GET form the server can answer, applied at once when hydrated.
#[component]
fn Filters(
    view_state: RwSignal<View>,
    update: impl Fn(&dyn Fn(&mut View)) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let initial = view_state.get_untracked();
    let number = |value: Option<f64>| value.map(|value| value.to_string()).unwrap_or_default();
    view! {
        <form class="filters" method="get" action="/" role="search"
            on:submit=move |event| event.prevent_default()>
            <input type="hidden" name="setting" value=move || view_state.with(|v| v.setting.key().to_owned())/>
            <input type="hidden" name="sort" value=move || view_state.with(|v| v.sort.key().to_owned())/>
            <input type="hidden" name="order" value=move || view_state.with(|v| if v.descending { "desc" } else { "asc" })/>
            <label>"Search "
                <input type="search" name="q" value=initial.search.clone() placeholder="model name"
                    on:input=move |event| {
                        let text = event_target_value(&event);
                        update(&|view| view.search = text.clone());
                    }/>
            </label>
            <label>"Type "
                <select name="type" on:change=move |event| {
                    let kind = event_target_value(&event);
                    update(&|view| view.kind = (!kind.is_empty()).then(|| kind.clone()));
                }>
                    <option value="" selected=initial.kind.is_none()>"All"</option>
                    {KINDS.into_iter().map(|(key, label)| view! {
                        <option value=key selected=initial.kind.as_deref() == Some(key)>{label}</option>
                    }).collect_view()}
                </select>
            </label>
            <label>
                <input type="checkbox" name="open" value="1" checked=initial.open_weights_only
                    on:change=move |event| {
                        let checked = event_target_checked(&event);
                        update(&|view| view.open_weights_only = checked);
                    }/>
                " Open weights only"
            </label>
            <fieldset class="size">
                <legend>"Size (billions of parameters)"</legend>
                <label>"from " <input type="number" name="min" min="0" step="any" inputmode="decimal"
                    value=number(initial.min_billions)
                    on:input=move |event| {
                        let value = event_target_value(&event).parse().ok();
                        update(&|view| view.min_billions = value);
                    }/></label>
                <label>" to " <input type="number" name="max" min="0" step="any" inputmode="decimal"
                    value=number(initial.max_billions)
                    on:input=move |event| {
                        let value = event_target_value(&event).parse().ok();
                        update(&|view| view.max_billions = value);
                    }/></label>
            </fieldset>
            <label>
                <input type="checkbox" name="tasks" value="1" checked=initial.show_tasks
                    on:change=move |event| {
                        let checked = event_target_checked(&event);
                        update(&|view| view.show_tasks = checked);
                    }/>
                " Show the nine tasks"
            </label>
            <label>
                <input type="checkbox" name="ci" value="1" checked=initial.show_intervals
                    on:change=move |event| {
                        let checked = event_target_checked(&event);
                        update(&|view| view.show_intervals = checked);
                    }/>
                " Show 95 % intervals"
            </label>
            <label title="A column with each model's mean over the tasks every shown model covers, so models of 7 and 9 tasks compare on the same tasks">
                <input type="checkbox" name="common" value="1" checked=initial.common_tasks
                    on:change=move |event| {
                        let checked = event_target_checked(&event);
                        update(&|view| view.common_tasks = checked);
                    }/>
                " Overall on common tasks"
            </label>
            <noscript><button type="submit">"Apply"</button></noscript>
        </form>
    }
}

/// A sortable column header: a link to the sorted view, sorting in place when hydrated.
#[component]
fn SortHeader(
    view_state: RwSignal<View>,
    column: SortColumn,
    label: &'static str,
    title: &'static str,
    /// A class for the header (the phone layout hides or pins some columns).
    #[prop(optional)]
    class: &'static str,
) -> impl IntoView {
    let sort_state = move || {
        view_state.with(|view| {
            if view.sorted_column() != column {
                "none"
            } else if view.descending {
                "descending"
            } else {
                "ascending"
            }
        })
    };
    view! {
        <th scope="col" class=class aria-sort=sort_state data-column=column.key()>
            <a href=move || view_state.with(|view| href(&view.sorted_by(column)))
                title=title
                on:click=move |event| {
                    event.prevent_default();
                    view_state.update(|view| *view = view.sorted_by(column));
                }>
                {label}
                <span class="sort-mark" aria-hidden="true">
                    {move || match sort_state() { "descending" => "▼", "ascending" => "▲", _ => "" }}
                </span>
            </a>
        </th>
    }
}

/// A score cell: the percentage, its interval on hover, as a whisker and (when asked for) as
/// text under the score, or a dash.
fn score_cell(
    score: Option<f64>,
    interval: Option<[f64; 2]>,
    starred: bool,
    show_interval: bool,
    class: &'static str,
) -> impl IntoView {
    let title = interval.map(|interval| format!("95 % interval {}", format::interval(interval)));
    let interval_text = interval
        .filter(|_| show_interval)
        .map(|interval| view! { <small class="interval">{format::interval(interval)}</small> });
    let whisker = interval
        .filter(|[low, high]| low.is_finite() && high.is_finite())
        .map(|[low, high]| {
            let style = format!(
                "left:{:.1}%;width:{:.1}%",
                low * 100.0,
                ((high - low) * 100.0).max(0.5)
            );
            view! { <span class="whisker" aria-hidden="true"><span style=style></span></span> }
        });
    view! {
        <td class=if class.is_empty() { "score".to_owned() } else { format!("score {class}") } title=title>
            {score.map_or_else(|| "–".to_owned(), format::percent)}
            {starred.then_some(view! { <sup class="star" title="prompt text only">"*"</sup> })}
            {whisker}
            {interval_text}
        </td>
    }
}

/// The paper badge's explanation: the benchmark and where the paper gives the row's numbers.
fn paper_title(row: &LeaderboardRow) -> String {
    match &row.source {
        Some(source) => format!("{} · source: {source}", row.benchmark),
        None => row.benchmark.clone(),
    }
}

fn row_view(
    shown: &ShownRow,
    show_tasks: bool,
    show_intervals: bool,
    common: Option<&[Task]>,
) -> impl IntoView + use<> {
    let row: &LeaderboardRow = &shown.row;
    let intervals = row.intervals.as_ref();
    let paper = row.provenance == Provenance::PaperReported;
    let baseline = row.kind == ModelKind::Baseline;
    let submitted = row.provenance == Provenance::SubmittedPredictions;
    // What "verified" means differs: for submitted predictions only the scoring is.
    let verified_title = if submitted {
        "Scored here from the submitted per-item judgements (the scoring is verified, not the judging)"
    } else {
        "Computed here from stored per-item judgements"
    };
    let class = if paper {
        "paper"
    } else if baseline {
        "baseline"
    } else {
        "evaluated"
    };
    let coverage = (row.tasks_covered < Task::ALL.len()).then(|| {
        view! {
            <span class="badge coverage" title="Tasks this row has scores for">
                {format!("{}/{} tasks", row.tasks_covered, Task::ALL.len())}
            </span>
        }
    });
    let text_only = &row.text_only_prompt;
    let modality_cells = shown_modalities(show_tasks)
        .map(|modality| {
            let starred = modality.tasks().any(|task| text_only.contains(&task));
            score_cell(
                row.modalities.get(&modality).copied(),
                intervals.and_then(|intervals| intervals.modalities.get(&modality).copied()),
                starred,
                show_intervals,
                "",
            )
        })
        .collect_view();
    let task_cells = show_tasks.then(|| {
        Task::ALL
            .into_iter()
            .map(|task| {
                score_cell(
                    row.tasks.get(&task).copied(),
                    intervals.and_then(|intervals| intervals.tasks.get(&task).copied()),
                    text_only.contains(&task),
                    show_intervals,
                    "",
                )
            })
            .collect_view()
    });
    view! {
        <tr class=class>
            // The compare tick sits beside the rank, so it takes no room from the model's name
            // (which must stay within three lines on a phone).
            <td class="rank">
                <input type="checkbox" class="pick" name="models" form="compare-form"
                    value=row.model_id.to_string() aria-label=format!("Compare {}", row.model)/>
                {shown.rank.map(|rank| rank.to_string()).unwrap_or_default()}
            </td>
            <th scope="row" class="model">
                <a href=format!("/models/{}", row.model_id)>{row.model.clone()}</a>
                {paper.then_some(view! { <span class="badge paper" title=paper_title(row)>"paper"</span> })}
                {baseline.then_some(view! { <span class="badge baseline">"baseline"</span> })}
                {submitted.then_some(view! { <span class="badge submitted" title="Judged elsewhere and submitted as a judgements file: every item was checked against the benchmark and scored here, but the judging was not run here">"submitted"</span> })}
                {row.verified.then_some(view! { <span class="badge verified" title=verified_title>"verified"</span> })}
                {coverage}
            </th>
            <td class="type">{kind_label(row.kind.as_str()).to_owned()}</td>
            <td class="number size">{row.parameters.clone().unwrap_or_else(|| "–".to_owned())}</td>
            {score_cell(row.overall, intervals.map(|intervals| intervals.overall), false, show_intervals, "overall")}
            <td class="number items">{row.items.map_or_else(|| "–".to_owned(), |items| items.to_string())}</td>
            {common.map(|tasks| score_cell(overall_on(row, tasks), None, false, false, "common"))}
            {modality_cells}
            {task_cells}
        </tr>
    }
}
