//! `/queue` and `/submissions/{id}`: submissions by state with their position, elapsed time and
//! progress. The server renders the current numbers; once hydrated, each unfinished run's
//! progress follows its server-sent event stream (`/api/v1/runs/{id}/events`).

use leptos::prelude::*;

use omnireward_shared::wire::Approval;

use crate::data::{self, Progress, SubmissionView};
use crate::format;

fn unfinished(status: &str) -> bool {
    matches!(status, "queued" | "running")
}

/// Follows a run's `progress` events into the signals (browser only).
#[cfg(feature = "hydrate")]
fn follow(run: i64, progress: RwSignal<Option<Progress>>, status: RwSignal<String>) {
    use wasm_bindgen::JsCast;
    use wasm_bindgen::closure::Closure;

    #[derive(serde::Deserialize)]
    struct ProgressEvent {
        status: String,
        judged: u64,
        total: Option<u64>,
    }
    let Ok(source) = web_sys::EventSource::new(&format!("/api/v1/runs/{run}/events")) else {
        return;
    };
    let on_progress =
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |event: web_sys::MessageEvent| {
            let Some(text) = event.data().as_string() else {
                return;
            };
            if let Ok(event) = serde_json::from_str::<ProgressEvent>(&text) {
                progress.set(event.total.map(|planned| Progress {
                    done: event.judged,
                    planned,
                }));
                status.set(event.status);
            }
        });
    let _ =
        source.add_event_listener_with_callback("progress", on_progress.as_ref().unchecked_ref());
    let closing = source.clone();
    let on_end = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |_| closing.close());
    let _ = source.add_event_listener_with_callback("end", on_end.as_ref().unchecked_ref());
    // The listeners live as long as the page.
    on_progress.forget();
    on_end.forget();
}

/// A progress bar with its numbers.
fn progress_bar(progress: RwSignal<Option<Progress>>) -> impl IntoView {
    move || match progress.get() {
        Some(Progress { done, planned }) if planned > 0 => view! {
            <progress max=planned.to_string() value=done.min(planned).to_string()></progress>
            <span class="progress-text">{format!(" {done} / {planned}")}</span>
        }
        .into_any(),
        Some(Progress { done, .. }) => {
            view! { <span class="progress-text">{format!("{done} judged")}</span> }.into_any()
        }
        None => view! { <span class="progress-text">"–"</span> }.into_any(),
    }
}

/// A submission's row in the queue.
fn submission_row(
    submission: SubmissionView,
    progress: Option<Progress>,
    now_ms: i64,
    yours: bool,
) -> impl IntoView {
    let progress = RwSignal::new(progress);
    let status = RwSignal::new(submission.status.as_str().to_owned());
    #[cfg(feature = "hydrate")]
    if unfinished(submission.status.as_str()) {
        follow(submission.run, progress, status);
    }
    let elapsed = submission
        .started_at_ms
        .map(|started| format::duration(submission.finished_at_ms.unwrap_or(now_ms) - started));
    let id = submission.id;
    view! {
        <tr>
            <th scope="row"><a href=format!("/submissions/{id}")>{format!("#{id}")}</a></th>
            <td>{submission.model.clone().unwrap_or_else(|| "checkpoint".to_owned())}
                {yours.then_some(view! { <span class="badge" title="Submitted from this browser">"yours"</span> })}</td>
            <td>{submission.kind.replace('_', " ")}</td>
            <td><span class=move || format!("status {}", status.get())>{move || status.get()}</span>
                {(submission.approval == Approval::Pending).then_some(" (awaiting approval)")}</td>
            <td class="number">{submission.position.map(|position| position.to_string()).unwrap_or_default()}</td>
            <td class="number">{elapsed.unwrap_or_default()}</td>
            <td>{progress_bar(progress)}</td>
            <td>{(yours && unfinished(submission.status.as_str()) && !submission.cancel_requested).then(|| view! {
                <form method="post" action=format!("/submissions/{id}/cancel")>
                    <button type="submit" class="secondary" aria-label=format!("Cancel submission {id}")>"Cancel"</button>
                </form>
            })}</td>
        </tr>
    }
}

/// The queue page.
#[component]
pub fn QueuePage(page: data::QueuePage) -> impl IntoView {
    let now_ms = page.now_ms;
    let count = |state: &str| {
        page.submissions
            .iter()
            .filter(|(submission, _)| submission.status.as_str() == state)
            .count()
    };
    let summary = ["queued", "running", "finished", "failed", "cancelled"]
        .into_iter()
        .map(|state| format!("{} {state}", count(state)))
        .collect::<Vec<_>>()
        .join(" · ");
    view! {
        <section class="queue">
            <h1>"Queue"</h1>
            <p class="summary">{summary}</p>
            {if page.submissions.is_empty() {
                view! { <p class="empty">"Nothing submitted yet. " <a href="/submit">"Submit a model"</a></p> }.into_any()
            } else {
                view! {
                    <div class="table-scroll">
                    <table class="queue-table">
                        <thead><tr>
                            <th scope="col">"Submission"</th><th scope="col">"Model"</th><th scope="col">"Kind"</th>
                            <th scope="col">"State"</th><th scope="col">"Position"</th><th scope="col">"Elapsed"</th>
                            <th scope="col">"Progress"</th><th scope="col"><span class="visually-hidden">"Actions"</span></th>
                        </tr></thead>
                        <tbody>
                            {page.submissions.into_iter().map(|(submission, progress)| {
                                let yours = page.yours.contains(&submission.id);
                                submission_row(submission, progress, now_ms, yours)
                            }).collect_view()}
                        </tbody>
                    </table>
                    </div>
                }.into_any()
            }}
        </section>
    }
}

/// A submission's status page.
#[component]
pub fn SubmissionPage(page: data::SubmissionPage) -> impl IntoView {
    let submission = page.submission;
    let progress = RwSignal::new(page.progress);
    let status = RwSignal::new(submission.status.as_str().to_owned());
    #[cfg(feature = "hydrate")]
    if unfinished(submission.status.as_str()) {
        follow(submission.run, progress, status);
    }
    let id = submission.id;
    view! {
        <section class="submission">
            <p class="crumbs"><a href="/queue">"Queue"</a> " / " {format!("submission #{id}")}</p>
            <h1>{format!("Submission #{id}")}</h1>
            {page.just_submitted.then_some(view! {
                <p class="notice" role="status">"Submitted. Workers evaluate queued submissions in order; this page follows the progress."</p>
            })}
            <dl class="facts">
                <dt>"Model"</dt><dd>{submission.model.clone().unwrap_or_else(|| "checkpoint".to_owned())}</dd>
                <dt>"Kind"</dt><dd>{submission.kind.replace('_', " ")}</dd>
                {submission.endpoint.clone().map(|endpoint| view! { <dt>"Endpoint"</dt><dd>{endpoint}</dd> })}
                <dt>"State"</dt><dd><span class=move || format!("status {}", status.get()) id="submission-status">{move || status.get()}</span></dd>
                <dt>"Approval"</dt><dd>{submission.approval.as_str().replace('_', " ")}</dd>
                {submission.position.map(|position| view! { <dt>"Position"</dt><dd>{position}</dd> })}
                <dt>"Submitted"</dt><dd>{format::timestamp(submission.created_at_ms)}</dd>
                {submission.finished_at_ms.map(|finished| view! { <dt>"Finished"</dt><dd>{format::timestamp(finished)}</dd> })}
                <dt>"Progress"</dt><dd>{progress_bar(progress)}</dd>
                {submission.error.clone().map(|error| view! { <dt>"Error"</dt><dd class="error">{error}</dd> })}
            </dl>
            <p><a href=format!("/runs/{}", submission.run)>"The run's results"</a></p>
            {(unfinished(submission.status.as_str()) && !submission.cancel_requested).then(|| if page.yours {
                view! {
                    <form method="post" action=format!("/submissions/{id}/cancel")>
                        <button type="submit" class="secondary">"Cancel this submission"</button>
                    </form>
                }.into_any()
            } else {
                view! {
                    <p class="hint">"Only its submitter (from the browser it was sent from, or with the API's cancel token) or an administrator can cancel it."</p>
                }.into_any()
            })}
        </section>
    }
}
