//! `/models/{id}`: a model's metadata, its run records, charts of its scores, and its per-item
//! judgements with filters (a GET form, so filtered views are links too).

use leptos::prelude::*;
use omnireward_shared::scorecard::TieRule;
use omnireward_shared::{Preference, Setting, Task};

use crate::components::{AblationAuditTable, MetricCardTable};
use crate::data::{self, JudgementFilter, JudgementItem, Paged, RunDocument};
use crate::format;
use omnireward_shared::wire::Provenance;

/// A model's page.
#[component]
pub fn ModelPage(page: data::ModelPage) -> impl IntoView {
    let model = page.model;
    let paper = page
        .runs
        .iter()
        .any(|run| run.provenance == Provenance::PaperReported);
    let facts = [
        ("Type", Some(model.kind.as_str().replace('_', " "))),
        (
            "Provenance",
            paper.then(|| {
                "paper-reported: numbers copied from the paper, not re-run here".to_owned()
            }),
        ),
        (
            "Paper's group",
            model.group.as_deref().map(format::group_label),
        ),
        ("Parameters", model.parameters.clone()),
        ("Licence", model.licence.clone()),
        (
            "Open weights",
            model
                .open_weights
                .map(|open| if open { "yes" } else { "no" }.to_owned()),
        ),
    ];
    let model_id = model.id;
    view! {
        <section class="model">
            <p class="crumbs"><a href="/">"Leaderboard"</a> " / model"</p>
            <h1>{model.name.clone()}</h1>
            <dl class="facts">
                {facts
                    .into_iter()
                    .filter_map(|(term, value)| value.map(|value| view! { <dt>{term}</dt><dd>{value}</dd> }))
                    .collect_view()}
                {model.link.clone().map(|link| {
                    let text = link.clone();
                    view! { <dt>"Model card"</dt><dd><a href=link rel="noopener">{text}</a></dd> }
                })}
                {page.ranks.into_iter().map(|rank| view! {
                    <dt>{format!("Rank ({})", rank.setting.label())}</dt>
                    <dd class="rank">{format!("{} of {} on {}", rank.rank, rank.of, rank.benchmark)}</dd>
                }).collect_view()}
            </dl>
            {page.training.map(|record| view! { <TrainingRecord record/> })}
            <h2>"Charts"</h2>
            {if page.charts.is_empty() {
                view! { <p class="empty">"No evaluated run with a scorecard yet: nothing to chart."</p> }.into_any()
            } else {
                view! {
                    <div class="charts">
                        {page.charts.into_iter().map(|chart| view! {
                            <figure class="chart">
                                <figcaption>{chart.title}</figcaption>
                                <div class="svg" role="img" aria-label=chart.description.clone() inner_html=chart.svg></div>
                                <p class="visually-hidden">{chart.description}</p>
                            </figure>
                        }).collect_view()}
                    </div>
                }.into_any()
            }}
            <h2>{if paper { "Numbers" } else { "Runs" }}</h2>
            {page.runs.into_iter().map(run_view).collect_view()}
            {page.judgements.map(|judgements| view! { <Judgements model_id filter=page.filter judgements/> })}
        </section>
    }
}

/// A run's section; a paper-reported "run" is no run (nothing was executed here), so it is shown
/// as the paper's numbers with their source instead.
fn run_view(run: RunDocument) -> AnyView {
    if run.provenance == Provenance::PaperReported {
        return reported_view(run).into_any();
    }
    evaluated_view(run).into_any()
}

/// The paper's numbers of a paper model: per setting, its overall and task accuracies and where
/// the paper gives them.
fn reported_view(run: RunDocument) -> impl IntoView {
    let reported = run.reported_scores.unwrap_or_default();
    let sources = reported
        .iter()
        .filter_map(|(setting, scores)| {
            let source = scores.source.as_ref()?;
            Some(format!("{source} ({})", setting.label()))
        })
        .collect::<Vec<_>>()
        .join("; ");
    view! {
        <article class="reported" id="paper-numbers">
            <h3>"The paper's numbers"</h3>
            <p class="meta">
                "Reported by Jin et al. (2025, arXiv 2510.23451 v1) on the full release; not \
                 re-run here, so there are no intervals or per-item judgements. "
                {(!sources.is_empty()).then(|| format!("Source: {sources}."))}
            </p>
            <table class="scores compact">
                <thead><tr><th scope="col">"Setting"</th><th scope="col">"Overall"</th>
                    {Task::ALL.into_iter().map(|task| view! { <th scope="col" title=task.key()>{task.short_name()}</th> }).collect_view()}
                </tr></thead>
                <tbody>
                    {reported.iter().map(|(setting, scores)| view! {
                        <tr>
                            <th scope="row">{setting.label()}</th>
                            <td class="score">{scores.overall.map_or_else(|| "–".to_owned(), format::percent)}</td>
                            {Task::ALL.into_iter().map(|task| view! {
                                <td class="score">{scores.tasks.get(&task).map_or_else(|| "–".to_owned(), |score| format::percent(*score))}</td>
                            }).collect_view()}
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </article>
    }
}

fn evaluated_view(run: RunDocument) -> impl IntoView {
    let benchmark = run.benchmark.as_ref().map_or_else(
        || "the paper's full release".to_owned(),
        |benchmark| {
            format!(
                "{} {} ({})",
                benchmark.identity.name,
                benchmark.identity.version,
                short_hash(&benchmark.identity.hash)
            )
        },
    );
    let scores = run.scorecard.as_ref().map(|scorecard| {
        view! {
            <table class="scores compact">
                <thead><tr><th scope="col">"Setting"</th><th scope="col">"Overall"</th>
                    {Task::ALL.into_iter().map(|task| view! { <th scope="col" title=task.key()>{task.short_name()}</th> }).collect_view()}
                </tr></thead>
                <tbody>
                    {scorecard.settings.iter().map(|(setting, scores)| view! {
                        <tr>
                            <th scope="row">{setting.label()}</th>
                            <td class="score" title=format!("95 % interval {}", format::interval(scores.overall.ci95))>{format::percent(scores.overall.accuracy)}</td>
                            {Task::ALL.into_iter().map(|task| {
                                let score = scores.tasks.get(&task);
                                view! {
                                    <td class="score" title=score.map(|score| format!("{}/{} right; 95 % interval {}", score.correct, score.total, format::interval(score.ci95)))>
                                        {score.map_or_else(|| "–".to_owned(), |score| format::percent(score.accuracy))}
                                    </td>
                                }
                            }).collect_view()}
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        }
    });
    let configuration = serde_json::to_string_pretty(&run.configuration).unwrap_or_default();
    view! {
        <article class="run" id=format!("run-{}", run.id)>
            <h3>{format!("Run {}", run.id)} " " <span class=format!("status {}", run.status)>{run.status.as_str()}</span></h3>
            <p class="meta">
                {format!("{} · benchmark: {benchmark} · started {}", run.provenance.as_str().replace('_', " "), format::timestamp(run.created_at_ms))}
                {run.finished_at_ms.map(|finished| format!(" · finished {}", format::timestamp(finished)))}
            </p>
            {scores}
            {run.ablation.map(|audit| view! { <AblationAuditTable audit/> })}
            {run.scorecard.map(|scorecard| view! { <MetricCardTable settings=scorecard.settings/> })}
            <details>
                <summary>"Run record (judge configuration, prompt set, code version)"</summary>
                <pre class="record">{configuration}</pre>
            </details>
        </article>
    }
}

/// The training record of a checkpoint trained by `omnireward train`: its headline values, then
/// the whole record as stored.
#[component]
fn TrainingRecord(record: serde_json::Value) -> impl IntoView {
    let text = |value: &serde_json::Value| match value {
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    // The record's top-level scalar fields (steps, epochs, learning rate, seed, …); nested
    // objects (data sources, validation history) are in the full record below.
    let facts: Vec<(String, String)> = record
        .as_object()
        .map(|fields| {
            fields
                .iter()
                .filter(|(_, value)| !value.is_object() && !value.is_array() && !value.is_null())
                .map(|(name, value)| (name.replace('_', " "), text(value)))
                .collect()
        })
        .unwrap_or_default();
    let full = serde_json::to_string_pretty(&record).unwrap_or_default();
    view! {
        <h2>"Training"</h2>
        <dl class="facts" id="training">
            {facts.into_iter().map(|(name, value)| view! { <dt>{name}</dt><dd>{value}</dd> }).collect_view()}
        </dl>
        <details>
            <summary>"Training record (data, steps, hyper-parameters, validation)"</summary>
            <pre class="record">{full}</pre>
        </details>
    }
}

fn short_hash(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

/// The judgements of one run, filtered.
#[component]
fn Judgements(
    model_id: i64,
    filter: JudgementFilter,
    judgements: Paged<JudgementItem>,
) -> impl IntoView {
    let pages = judgements.pages();
    let page_link = |page: usize| {
        let mut query = vec![format!("page={page}")];
        if let Some(run) = filter.run {
            query.push(format!("run={run}"));
        }
        if let Some(task) = filter.task {
            query.push(format!("task={}", task.key()));
        }
        if let Some(setting) = filter.setting {
            query.push(format!("setting={}", setting.key()));
        }
        if let Some(correct) = filter.correct {
            query.push(format!("correct={correct}"));
        }
        if let Some(verdict) = &filter.verdict {
            query.push(format!("verdict={verdict}"));
        }
        format!("/models/{model_id}?{}#judgements", query.join("&"))
    };
    let current = filter.page.max(1);
    view! {
        <h2 id="judgements">"Judgements"</h2>
        <form class="filters" method="get" action=format!("/models/{model_id}#judgements")>
            {filter.run.map(|run| view! { <input type="hidden" name="run" value=run.to_string()/> })}
            <label>"Task "
                <select name="task">
                    <option value="" selected=filter.task.is_none()>"All"</option>
                    {Task::ALL.into_iter().map(|task| view! {
                        <option value=task.key() selected=filter.task == Some(task)>{task.short_name()}</option>
                    }).collect_view()}
                </select>
            </label>
            <label>"Setting "
                <select name="setting">
                    <option value="" selected=filter.setting.is_none()>"Both"</option>
                    {Setting::ALL.into_iter().map(|setting| view! {
                        <option value=setting.key() selected=filter.setting == Some(setting)>{setting.label()}</option>
                    }).collect_view()}
                </select>
            </label>
            <label>"Outcome "
                <select name="correct">
                    <option value="" selected=filter.correct.is_none()>"All"</option>
                    <option value="true" selected=filter.correct == Some(true)>"Correct"</option>
                    <option value="false" selected=filter.correct == Some(false)>"Incorrect"</option>
                </select>
            </label>
            <label>
                "Verdict "
                <select name="verdict">
                    {[("", "All"), ("response1", "Response 1"), ("response2", "Response 2"), ("tie", "Tie"), ("unparseable", "Unparseable")]
                        .into_iter()
                        .map(|(value, label)| {
                            let selected = filter.verdict.as_deref().unwrap_or("") == value;
                            view! { <option value=value selected=selected>{label}</option> }
                        })
                        .collect_view()}
                </select>
            </label>
            <button type="submit">"Filter"</button>
        </form>
        <p class="summary">
            {format!("{} judgements · page {current} of {pages}", judgements.total)}
            {filter.run.map(|run| view! {
                " · "
                <a id="judgements-download" href=format!("/api/v1/runs/{run}/judgements.jsonl") download="">
                    "Download all of this run's judgements (JSON Lines)"
                </a>
            })}
        </p>
        {if judgements.items.is_empty() {
            view! { <p class="empty">"No judgement matches these filters."</p> }.into_any()
        } else {
            view! {
                <div class="table-scroll">
                <table class="judgements">
                    <thead><tr>
                        <th scope="col">"Sample"</th><th scope="col">"Setting"</th><th scope="col">"Order"</th>
                        <th scope="col">"Label"</th><th scope="col">"Verdict"</th><th scope="col">"Result"</th>
                        <th scope="col">"Output"</th>
                    </tr></thead>
                    <tbody>
                        {judgements.items.into_iter().map(judgement_row).collect_view()}
                    </tbody>
                </table>
                </div>
            }.into_any()
        }}
        <nav class="pager" aria-label="Judgement pages">
            {(current > 1).then(|| view! { <a href=page_link(current - 1) rel="prev">"← Previous"</a> })}
            {(current < pages).then(|| view! { <a href=page_link(current + 1) rel="next">"Next →"</a> })}
        </nav>
    }
}

fn preference(preference: Preference) -> &'static str {
    match preference {
        Preference::Response1 => "response 1",
        Preference::Response2 => "response 2",
        Preference::Tie => "tie",
    }
}

/// The w/ Ties threshold a scalar reward model's margin was held against.
fn tie_rule_text(rule: Option<TieRule>) -> String {
    match rule {
        None => String::new(),
        Some(TieRule::Sweep {
            epsilon: Some(epsilon),
        }) => format!(" · tie if |margin| ≤ {epsilon:.4} (the task's swept threshold)"),
        Some(TieRule::Sweep { epsilon: None }) => {
            " · never a tie (the task's sweep chose no threshold)".to_owned()
        }
        Some(TieRule::Fixed { epsilon }) => {
            format!(" · tie if |margin| ≤ {epsilon:.4} (a threshold fixed in advance)")
        }
    }
}

/// A judge's raw output shorter than this (in characters, on one line) is shown as it is; a
/// longer one is folded under its beginning.
const SHORT_OUTPUT_CHARS: usize = 120;

/// What a generative judge spent on an item: queries, tokens in and out, time.
fn generation_text(judgement: &omnireward_shared::Judgement) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(attempts) = judgement.attempts.filter(|attempts| *attempts > 1) {
        parts.push(format!("{attempts} queries"));
    }
    if let (Some(input), Some(output)) = (judgement.input_tokens, judgement.output_tokens) {
        parts.push(format!("{input} prompt tokens, {output} generated tokens"));
    }
    if let Some(latency) = judgement.latency_ms {
        parts.push(format!("{latency} ms"));
    }
    (!parts.is_empty()).then(|| parts.join(" · "))
}

/// The judge's text: short ones in full, long ones folded under their first characters (text
/// nodes, so the page escapes whatever the judge wrote).
fn raw_output_view(raw: String, spent: Option<String>) -> impl IntoView {
    let short = raw.chars().count() <= SHORT_OUTPUT_CHARS && !raw.contains('\n');
    let spent = spent.map(|spent| view! { <div class="hint">{spent}</div> });
    if short {
        view! { <pre class="raw-output">{raw}</pre>{spent} }.into_any()
    } else {
        let preview: String = raw
            .chars()
            .take(SHORT_OUTPUT_CHARS)
            .map(|character| if character == '\n' { ' ' } else { character })
            .collect();
        view! {
            <details class="raw-output"><summary>{format!("{preview}…")}</summary><pre>{raw}</pre></details>
            {spent}
        }
        .into_any()
    }
}

fn judgement_row(item: JudgementItem) -> impl IntoView {
    let judgement = item.judgement;
    let verdict = judgement.verdict.map_or("unparseable", preference);
    let spent = generation_text(&judgement);
    let output = match (&judgement.raw_output, &judgement.rewards) {
        (Some(raw), _) => Some(raw_output_view(raw.clone(), spent).into_any()),
        (None, Some(rewards)) => {
            let text = format!(
                "rewards {:.4} / {:.4} (margin {:+.4}){}",
                rewards.response1,
                rewards.response2,
                rewards.margin(),
                tie_rule_text(item.tie_rule)
            );
            Some(view! { <details><summary>"show"</summary><pre>{text}</pre></details> }.into_any())
        }
        (None, None) => None,
    };
    view! {
        <tr class=if item.correct { "correct" } else { "incorrect" }>
            <td><a href=format!("/benchmark/{}/{}", judgement.task.key(), judgement.sample_id)>
                {format!("{} {}", judgement.task.short_name(), judgement.sample_id)}</a></td>
            <td>{judgement.setting.label()}</td>
            <td>{judgement.order.key()}</td>
            <td>{preference(judgement.label)}</td>
            <td>{verdict}</td>
            <td>{if item.correct { "✓ correct" } else { "✗ incorrect" }}</td>
            <td>{output}</td>
        </tr>
    }
}
