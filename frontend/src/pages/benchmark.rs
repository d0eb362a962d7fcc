//! `/benchmark` and `/benchmark/{task}/{sample}`: the benchmark browser. Samples are shown with
//! their prompt, prompt media and both responses rendered by kind (text, image, video and audio
//! players, 3D renders), the criterion and the label, and next to them what the evaluated models
//! answered. Every page says what the served benchmark is and how its labels were made, so the
//! synthetic sample's labels never read as human preferences.

use leptos::prelude::*;
use omnireward_shared::{MediaKind, Preference, Task};

use crate::data::{
    self, MediaLink, ResponseView, RightShare, SampleAnswer, SampleView, ServedBenchmark,
};
use crate::sample_list::{SampleList, SampleOrder, TiesFilter};

fn label_text(label: Preference) -> &'static str {
    match label {
        Preference::Response1 => "Response 1 is better",
        Preference::Response2 => "Response 2 is better",
        Preference::Tie => "Tie",
    }
}

fn excerpt(text: &str, limit: usize) -> String {
    match text.char_indices().nth(limit) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// A media item in the element that plays or shows it.
fn media(kind: MediaKind, url: String, label: String) -> AnyView {
    let download = url.clone();
    match kind {
        MediaKind::Image => view! { <img src=url alt=label loading="lazy"/> }.into_any(),
        // Clips are a few seconds long: they loop, so a judge can watch them again and again.
        MediaKind::Video => view! {
            <video controls=true loop=true playsinline=true preload="metadata" src=url aria-label=label>
                <a href=download>"Download the video"</a>
            </video>
        }
        .into_any(),
        MediaKind::Audio => view! {
            <audio controls=true preload="metadata" src=url aria-label=label>
                <a href=download>"Download the audio"</a>
            </audio>
        }
        .into_any(),
    }
}

/// Starts every video response from its first frame at once (the button below).
#[cfg(feature = "hydrate")]
fn play_both_in_step() {
    use wasm_bindgen::JsCast as _;
    let Some(videos) = web_sys::window()
        .and_then(|window| window.document())
        .and_then(|document| document.query_selector_all(".responses video").ok())
    else {
        return;
    };
    let videos: Vec<web_sys::HtmlMediaElement> = (0..videos.length())
        .filter_map(|index| videos.item(index))
        .filter_map(|node| node.dyn_into().ok())
        .collect();
    // Pause and rewind all first, then start all, so they begin within one frame.
    for video in &videos {
        // A refused pause only means it was not playing.
        let _ = video.pause();
        video.set_current_time(0.0);
    }
    for video in &videos {
        // The click is the user's gesture, so the browser lets both play; a refusal (no
        // playable source) leaves that video as it was.
        let _ = video.play();
    }
}

/// For two video responses: play both in step (with the bundle) and enlarge them (CSS only:
/// the checkbox widens the videos to the page, one under the other).
#[component]
fn VideoTools() -> impl IntoView {
    view! {
        <div class="video-tools">
            <button type="button" id="play-both" on:click=move |_| {
                #[cfg(feature = "hydrate")]
                play_both_in_step();
            }>"▶ Play both in step"</button>
            <label><input type="checkbox" id="enlarge" class="enlarge-toggle"/>" Enlarge the videos"</label>
        </div>
    }
}

/// "3 of 5 runs (60 %)", or a dash when no run judged it.
fn share_text(share: Option<RightShare>) -> String {
    match share.and_then(|share| Some((share, share.fraction()?))) {
        Some((share, fraction)) => format!(
            "{} of {} runs ({:.0} %)",
            share.right,
            share.judged,
            fraction * 100.0
        ),
        None => "–".to_owned(),
    }
}

/// Small pictures of a listed sample: its image responses, else its prompt's image.
fn thumbnails(sample: &SampleView) -> Vec<AnyView> {
    let image = |response: &ResponseView| match response {
        ResponseView::Media {
            kind: MediaKind::Image,
            url,
        } => Some(url.clone()),
        _ => None,
    };
    let mut urls: Vec<(String, &'static str)> = [
        (image(&sample.response1), "Response 1"),
        (image(&sample.response2), "Response 2"),
    ]
    .into_iter()
    .filter_map(|(url, label)| Some((url?, label)))
    .collect();
    if urls.is_empty()
        && let Some(MediaLink {
            kind: MediaKind::Image,
            url,
        }) = &sample.prompt_media
    {
        urls.push((url.clone(), "Prompt image"));
    }
    urls.into_iter()
        .map(|(url, label)| {
            view! { <img class="thumb" src=url alt=label loading="lazy" width="56" height="56"/> }
                .into_any()
        })
        .collect()
}

/// The task tabs, the list's filter and order, and one page of the listed samples.
#[component]
pub fn BenchmarkPage(page: data::BenchmarkPage) -> impl IntoView {
    let task = page.task;
    let list = SampleList { task, ..page.list };
    let pages = page.samples.pages();
    let current = page.samples.page.max(1);
    let difficulty = page.difficulty;
    let order_link = |order: SampleOrder| SampleList { order, ..list }.browser_href(1);
    let right_header = match list.order {
        SampleOrder::Hardest => view! { <a href=order_link(SampleOrder::Easiest) title="Sort easiest first">"Runs right ▲"</a> }.into_any(),
        SampleOrder::Easiest => view! { <a href=order_link(SampleOrder::Hardest) title="Sort hardest first">"Runs right ▼"</a> }.into_any(),
        SampleOrder::Benchmark => view! { <a href=order_link(SampleOrder::Hardest) title="Sort hardest first">"Runs right"</a> }.into_any(),
    };
    view! {
        <section class="benchmark">
            <h1>"Benchmark"</h1>
            <p class="lead" id="served-benchmark">{format!("Serving {}. Each pair is judged under its criterion against its label.", page.served.description())}</p>
            <nav class="tabs" aria-label="Tasks">
                {page.tasks.into_iter().map(|summary| view! {
                    <a href=SampleList { task: summary.task, ..list }.browser_href(1)
                        aria-current=(summary.task == task).then_some("page") title=summary.task.key()>
                        {summary.task.short_name()} " " <span class="count">{summary.samples}</span>
                    </a>
                }).collect_view()}
            </nav>
            <form class="sample-filters" method="get" action="/benchmark" id="sample-filters">
                <input type="hidden" name="task" value=task.key()/>
                <label>"Label "
                    <select name="ties">
                        {TiesFilter::ALL.into_iter().map(|ties| view! {
                            <option value=ties.key() selected=list.ties == ties>{ties.label()}</option>
                        }).collect_view()}
                    </select>
                </label>
                <label>"Order "
                    <select name="order">
                        {SampleOrder::ALL.into_iter().map(|order| view! {
                            <option value=order.key() selected=list.order == order>{order.label()}</option>
                        }).collect_view()}
                    </select>
                </label>
                <button type="submit">"Apply"</button>
            </form>
            <p class="note" id="difficulty-note">{format!(
                "Runs right: of the {} finished evaluated runs on this benchmark, how many judged the pair right with ties (each run's original-order verdict, decided as its scorecard decides it).",
                page.runs_counted
            )}</p>
            {if page.samples.items.is_empty() {
                view! { <p class="empty">{format!("No {} samples in this list.", task.short_name())}</p> }.into_any()
            } else {
                view! {
                    <table class="samples">
                        <thead><tr><th scope="col">"Sample"</th><th scope="col"><span class="visually-hidden">"Pictures"</span></th><th scope="col">"Criterion"</th><th scope="col">"Prompt"</th><th scope="col">{page.served.label_noun()}</th><th scope="col" class="difficulty" aria-sort=match list.order { SampleOrder::Hardest => "ascending", SampleOrder::Easiest => "descending", SampleOrder::Benchmark => "none" }>{right_header}</th></tr></thead>
                        <tbody>
                            {page.samples.items.into_iter().map(|sample| {
                                let share = difficulty.get(&sample.id).and_then(|difficulty| difficulty.with_ties);
                                let thumbs = thumbnails(&sample);
                                view! {
                                    <tr>
                                        <th scope="row"><a href=list.sample_href(&sample.id)>{sample.id.clone()}</a></th>
                                        <td class="thumbs">{thumbs}</td>
                                        <td>{excerpt(&sample.criterion, 90)}</td>
                                        <td>{excerpt(&sample.prompt, 120)}</td>
                                        <td>{label_text(sample.label)}</td>
                                        <td class="number difficulty">{share_text(share)}</td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
            <nav class="pager" aria-label="Sample pages">
                {(current > 1).then(|| view! { <a href=list.browser_href(current - 1) rel="prev">"← Previous"</a> })}
                <span>{format!("page {current} of {pages}")}</span>
                {(current < pages).then(|| view! { <a href=list.browser_href(current + 1) rel="next">"Next →"</a> })}
            </nav>
        </section>
    }
}

fn response(
    title: &'static str,
    response: ResponseView,
    model: Option<String>,
    preferred: Option<&'static str>,
) -> impl IntoView {
    let body = match response {
        ResponseView::Text { text } => view! { <div class="response-text">{text}</div> }.into_any(),
        ResponseView::Media { kind, url } => media(kind, url, title.to_owned()),
    };
    view! {
        <article class=if preferred.is_some() { "response preferred" } else { "response" }>
            <h2>{title} {preferred.map(|badge| view! { " " <span class="badge verified">{badge}</span> })}</h2>
            {model.map(|model| view! { <p class="meta">{format!("generated by {model}")}</p> })}
            {body}
        </article>
    }
}

/// One sample in full.
#[component]
pub fn SamplePage(page: data::SamplePage) -> impl IntoView {
    let plays_videos = page.plays_videos();
    let list = page.list;
    let difficulty = page.difficulty.unwrap_or_default();
    let runs_counted = page.runs_counted;
    let steps = sample_steps(list, page.neighbours);
    let SampleView {
        id,
        task,
        prompt,
        prompt_media,
        criterion,
        label,
        response1,
        response2,
        model1,
        model2,
    } = page.sample;
    let served: ServedBenchmark = page.served;
    let badge = if served.human_labels {
        "preferred by humans"
    } else {
        "labelled better (not by humans)"
    };
    let preferred = |response: Preference| (label == response).then_some(badge);
    let prompt_media =
        prompt_media.map(|MediaLink { kind, url }| media(kind, url, "Prompt media".to_owned()));
    view! {
        <section class="sample">
            <p class="crumbs"><a href="/benchmark">"Benchmark"</a> " / "
                <a href=list.browser_href(1)>{task.short_name()}</a> " / " {id.clone()}</p>
            <h1>{format!("{} sample {id}", task.short_name())}</h1>
            {steps}
            <dl class="facts">
                <dt>"Task"</dt><dd>{task.key()}</dd>
                <dt>"Criterion"</dt><dd class="criterion">{criterion}</dd>
                <dt>{served.label_noun()}</dt><dd>{label_text(label)}</dd>
                <dt>"Benchmark"</dt><dd class="served">{served.description()}</dd>
                <dt>"Runs right"</dt><dd class="difficulty" id="sample-difficulty">{format!(
                    "with ties {}; without ties {} (of {runs_counted} finished evaluated runs)",
                    share_text(difficulty.with_ties),
                    if label == Preference::Tie { "– (a tie is left out)".to_owned() } else { share_text(difficulty.without_ties) },
                )}</dd>
            </dl>
            <h2>"Prompt"</h2>
            <div class="prompt">{prompt}</div>
            {prompt_media}
            {plays_videos.then(|| view! { <VideoTools/> })}
            <div class="responses">
                {response("Response 1", response1, model1, preferred(Preference::Response1))}
                {response("Response 2", response2, model2, preferred(Preference::Response2))}
            </div>
            <h2>"What the evaluated models answered"</h2>
            <Answers answers=page.answers task/>
        </section>
    }
}

/// Previous and next in the list the sample was opened from, and its place in it.
fn sample_steps(list: SampleList, neighbours: Option<data::Neighbours>) -> impl IntoView {
    let neighbours = neighbours?;
    let link = |id: Option<String>, rel: &'static str, text: &'static str| {
        id.map(|id| view! { <a href=list.sample_href(&id) rel=rel id=format!("sample-{rel}")>{text}</a> })
    };
    Some(view! {
        <nav class="sample-steps" aria-label="Samples in this list">
            {link(neighbours.previous, "prev", "← Previous sample")}
            <span>{format!("{} of {} in this list", neighbours.position, neighbours.of)}</span>
            {link(neighbours.next, "next", "Next sample →")}
        </nav>
    })
}

#[component]
fn Answers(answers: Vec<SampleAnswer>, task: Task) -> impl IntoView {
    if answers.is_empty() {
        return view! { <p class="empty">{format!("No evaluated model has judged this {} sample yet.", task.short_name())}</p> }.into_any();
    }
    view! {
        <table class="judgements">
            <thead><tr><th scope="col">"Model"</th><th scope="col">"Setting"</th><th scope="col">"Order"</th><th scope="col">"Verdict"</th><th scope="col">"Result"</th><th scope="col">"Output"</th></tr></thead>
            <tbody>
                {answers.into_iter().map(|answer| {
                    let judgement = answer.judgement;
                    let output = judgement.raw_output.clone().or_else(|| judgement.rewards.map(|rewards| format!("rewards {:.4} / {:.4}", rewards.response1, rewards.response2)));
                    view! {
                        <tr class=if answer.correct { "correct" } else { "incorrect" }>
                            <th scope="row"><a href=format!("/models/{}", answer.model_id)>{answer.model}</a></th>
                            <td>{judgement.setting.label()}</td>
                            <td>{judgement.order.key()}</td>
                            <td>{judgement.verdict.map_or("unparseable", |verdict| verdict.key())}</td>
                            <td>{if answer.correct { "✓ correct" } else { "✗ incorrect" }}</td>
                            <td>{output.map(|output| view! { <details><summary>"show"</summary><pre>{output}</pre></details> })}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }.into_any()
}
