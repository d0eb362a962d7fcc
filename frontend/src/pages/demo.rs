//! `/demo`: score two responses (texts, or uploaded images for an image-text model) with the
//! server's local model, for a chosen task type. The form posts to the server (it works without
//! the bundle); examples are links that fill it in.

use leptos::prelude::*;

use omnireward_shared::scorecard::TieRule;
use omnireward_shared::ties_matter::verdict_for_margin;
use omnireward_shared::wire::JudgeAnswer;
use omnireward_shared::{Task, Verdict};

use crate::data::{self, DemoCoverage, DemoForm, DemoStanding, DemoTask, ScoreResponse};
use crate::format;

/// The name the default model (`scripts/setup.sh` assembles it into
/// `.cache/models/omnireward-minilm-bt/`) is served under; the page says it is a small
/// baseline.
const DEFAULT_MODEL: &str = "omnireward-minilm-bt";

/// Ready-made inputs, one click away (`/demo?example=N`).
pub const EXAMPLES: [(&str, DemoExample); 3] = [
    (
        "Helpful answer vs refusal",
        DemoExample {
            criterion: "The response should answer the user's question directly and correctly.",
            prompt: "What is the boiling point of water at sea level in degrees Celsius?",
            response1: "Water boils at 100 degrees Celsius at sea level (standard atmospheric pressure).",
            response2: "I'm not able to help with that question.",
        },
    ),
    (
        "On-topic vs off-topic",
        DemoExample {
            criterion: "Prefer the response that stays on the topic the user asked about.",
            prompt: "Give me two tips for keeping houseplants healthy.",
            response1: "The stock market closed higher today, led by technology shares.",
            response2: "Water only when the top of the soil is dry, and give the plant bright, indirect light.",
        },
    ),
    (
        "Concise vs rambling",
        DemoExample {
            criterion: "The answer should be concise: one sentence is enough.",
            prompt: "What is the capital of France?",
            response1: "Paris.",
            response2: "Well, France is a country in Europe with many cities, and among all of those cities, the one that serves as its capital, after a long history, is Paris.",
        },
    ),
];

/// One example's inputs.
pub struct DemoExample {
    pub criterion: &'static str,
    pub prompt: &'static str,
    pub response1: &'static str,
    pub response2: &'static str,
}

impl DemoExample {
    /// The form filled with this example.
    pub fn form(&self) -> DemoForm {
        DemoForm {
            task: Task::TextToText.key().to_owned(),
            criterion: self.criterion.to_owned(),
            prompt: self.prompt.to_owned(),
            response1: self.response1.to_owned(),
            response2: self.response2.to_owned(),
        }
    }
}

/// The task type the form shows as chosen: the posted one, else the first the model scores
/// fully.
fn chosen_task(page: &data::DemoPage) -> Option<Task> {
    page.form.task.parse::<Task>().ok().or_else(|| {
        page.tasks
            .iter()
            .find(|entry| entry.coverage == DemoCoverage::Full)
            .map(|entry| entry.task)
    })
}

/// A task type's option label: `T2T: Text → Text`, with why it cannot be chosen.
fn task_label(entry: &DemoTask) -> String {
    let task = entry.task;
    let inputs: Vec<&str> = task
        .input_modalities()
        .iter()
        .map(|modality| modality.label())
        .collect();
    let label = format!(
        "{}: {} → {}",
        task.short_name(),
        inputs.join(" + "),
        task.response_modality().label()
    );
    match entry.coverage {
        DemoCoverage::Full => label,
        DemoCoverage::PromptTextOnly => format!("{label} (the prompt's text only)"),
        DemoCoverage::NotCovered => format!("{label} (not readable by this model)"),
    }
}

/// The two response inputs: text areas, or image uploads for an image-text model (and, for a
/// model that reads videos, video uploads instead of images).
fn response_inputs(reads_images: bool, reads_videos: bool, form: &DemoForm) -> impl IntoView {
    if reads_images {
        // Either pair may be sent when videos are read, so neither is required then.
        let images_required = !reads_videos;
        view! {
            <div class="pair">
                <div>
                    <label for="image1">"Image 1"</label>
                    <input type="file" id="image1" name="image1" accept="image/png,image/jpeg" required=images_required/>
                </div>
                <div>
                    <label for="image2">"Image 2"</label>
                    <input type="file" id="image2" name="image2" accept="image/png,image/jpeg" required=images_required/>
                </div>
            </div>
            <p class="hint">"PNG or JPEG, up to 3 MB each."</p>
            {reads_videos.then(|| view! {
                <div class="pair">
                    <div>
                        <label for="video1">"Or video 1"</label>
                        <input type="file" id="video1" name="video1" accept="video/mp4,video/webm,video/quicktime"/>
                    </div>
                    <div>
                        <label for="video2">"Video 2"</label>
                        <input type="file" id="video2" name="video2" accept="video/mp4,video/webm,video/quicktime"/>
                    </div>
                </div>
                <p class="hint">"Or two short videos (MP4, WebM), up to 3 MB each, read as a text-to-video sample's responses."</p>
            })}
        }
        .into_any()
    } else {
        view! {
            <div class="pair">
                <div>
                    <label for="response1">"Response 1"</label>
                    <textarea id="response1" name="response1" rows="5" required=true>{form.response1.clone()}</textarea>
                </div>
                <div>
                    <label for="response2">"Response 2"</label>
                    <textarea id="response2" name="response2" rows="5" required=true>{form.response2.clone()}</textarea>
                </div>
            </div>
        }
        .into_any()
    }
}

/// The verdict the model's evaluation would give for these rewards with ties: the stored tie
/// rule of the task when one is known, else the service's (the larger reward wins).
fn verdict_with_ties(
    result: &ScoreResponse,
    margin: f64,
    rule: Option<TieRule>,
) -> Option<Verdict> {
    match rule {
        Some(rule) => verdict_for_margin(margin, rule.epsilon()),
        None => result.verdict,
    }
}

/// The answer: a generative judge's verdict and text, or what a reward model's two rewards
/// mean; with the model's own record either way.
fn result_view(
    result: ScoreResponse,
    task: Option<Task>,
    standing: &DemoStanding,
    reads_images: bool,
) -> AnyView {
    let record = standing_view(standing);
    match (result.judge.clone(), result.reward1, result.reward2) {
        (Some(judge), _, _) => generative_result_view(result, judge, task, record).into_any(),
        (None, Some(reward1), Some(reward2)) => {
            reward_result_view(result, [reward1, reward2], task, standing, reads_images, record)
                .into_any()
        }
        _ => view! {
            <section class="result" id="result">
                <p class="error" role="alert">"The server's answer has neither rewards nor a judge's text."</p>
            </section>
        }
        .into_any(),
    }
}

/// A generative judge's answer: the verdict its text gives (or none) and the text, escaped.
fn generative_result_view(
    result: ScoreResponse,
    judge: JudgeAnswer,
    task: Option<Task>,
    record: AnyView,
) -> impl IntoView {
    let winner = match result.verdict {
        Some(Verdict::Response1) => "Response 1 wins",
        Some(Verdict::Response2) => "Response 2 wins",
        Some(Verdict::Tie) => "Tie",
        None => "No decision: the judge's text names no verdict",
    };
    view! {
        <section class="result" aria-live="polite" id="result">
            <h2 id="demo-verdict">{winner}</h2>
            <dl class="facts">
                {task.map(|task| view! { <dt>"Task type"</dt><dd>{task.short_name()}</dd> })}
                <dt>"Model"</dt><dd>{format!("{} ({}, a generative judge)", result.model, result.architecture)}</dd>
                <dt>"Tokens"</dt><dd>{format!("{} in the prompt, {} generated", judge.prompt_tokens, judge.generated_tokens)}</dd>
                <dt>"Latency"</dt><dd>{format!("{:.1} ms generating, {:.1} ms queued", result.latency_ms, result.queue_ms)}</dd>
            </dl>
            <h3>"The judge's answer"</h3>
            <pre id="demo-judge-text" class="raw-output">{judge.text}</pre>
            <p id="demo-scale">"A chat model judges the pair with the built-in prompt of the \
                with-ties setting (greedy decoding); the verdict is read from its text by the \
                reference's rules, as in its evaluation."</p>
            {record}
        </section>
    }
}

/// The model's own record on this server's leaderboard.
fn standing_view(standing: &DemoStanding) -> AnyView {
    match (&standing.with_ties, &standing.without_ties) {
        (Some(with_ties), without_ties) => view! {
            <p id="demo-standing">
                {format!(
                    "On this server's leaderboard ({}): rank {} of {} with ties, overall {}{}. ",
                    with_ties.benchmark_name,
                    with_ties.rank,
                    standing.ranked,
                    with_ties.overall.map_or_else(|| "–".to_owned(), format::percent),
                    without_ties
                        .as_ref()
                        .and_then(|row| row.overall)
                        .map(|overall| format!("; without ties {}", format::percent(overall)))
                        .unwrap_or_default(),
                )}
                <a href=format!("/models/{}", with_ties.model_id)>"Its page"</a>
                " lists every judgement."
            </p>
        }
        .into_any(),
        (None, _) => view! {
            <p id="demo-standing">"This server has not evaluated this model on its benchmark, so \
                there is no leaderboard row to read this answer against."</p>
        }
        .into_any(),
    }
}

/// What the two rewards mean: the scale, the tie threshold, and the model's own record.
fn reward_result_view(
    result: ScoreResponse,
    [reward1, reward2]: [f32; 2],
    task: Option<Task>,
    standing: &DemoStanding,
    reads_images: bool,
    record: AnyView,
) -> impl IntoView {
    let margin = f64::from(reward1 - reward2);
    let rule = task.and_then(|task| standing.tie_rules.get(&task).copied());
    let task_name = task.map_or("this task", Task::short_name);
    let winner = match verdict_with_ties(&result, margin, rule) {
        Some(Verdict::Response1) => "Response 1 wins",
        Some(Verdict::Response2) => "Response 2 wins",
        Some(Verdict::Tie) => "Tie",
        None => "No decision: equal rewards",
    };
    let scale = if reads_images {
        format!(
            "Rewards are the model's similarities of each image with the criterion and prompt, on \
             no fixed scale: only the margin r1 − r2 = {margin:+.4} counts."
        )
    } else {
        let probability = 1.0 / (1.0 + (-margin).exp());
        format!(
            "Rewards are the reward head's scores, on no fixed scale: only the margin \
             r1 − r2 = {margin:+.4} counts. Under the Bradley–Terry model reward models are \
             trained with, the chance that response 1 is preferred is σ(margin) = {}.",
            format::percent(probability)
        )
    };
    let run = standing.with_ties.as_ref().map_or(0, |row| row.run);
    let ties = match rule {
        Some(rule) => match rule.epsilon() {
            Some(epsilon) => format!(
                "With ties, this model calls a pair tied when the rewards differ by at most \
                 {epsilon:.4}: its {task_name} threshold in run {run} here ({}). This margin, \
                 {:.4}, is {} it.",
                match rule {
                    TieRule::Sweep { .. } => "chosen by the Ties-Matter sweep on the test items",
                    TieRule::Fixed { .. } => "fixed in advance",
                },
                margin.abs(),
                if margin.abs() <= epsilon {
                    "within"
                } else {
                    "over"
                }
            ),
            None => format!(
                "Its evaluation here (run {run}) found no {task_name} threshold that helped, so it \
                 never calls a tie: the larger reward wins."
            ),
        },
        None => format!(
            "No tie threshold is known for this model: this server has no with-ties evaluation \
             of it on {task_name}, so the larger reward wins and only equal rewards tie."
        ),
    };
    view! {
        <section class="result" aria-live="polite" id="result">
            <h2 id="demo-verdict">{winner}</h2>
            <dl class="facts">
                {task.map(|task| view! { <dt>"Task type"</dt><dd>{task.short_name()}</dd> })}
                <dt>"Reward of response 1"</dt><dd class="reward" id="reward1">{format!("{reward1:.4}")}</dd>
                <dt>"Reward of response 2"</dt><dd class="reward" id="reward2">{format!("{reward2:.4}")}</dd>
                <dt>"Model"</dt><dd>{format!("{} ({})", result.model, result.architecture)}</dd>
                <dt>"Latency"</dt><dd>{format!("{:.1} ms scoring, {:.1} ms queued", result.latency_ms, result.queue_ms)}</dd>
            </dl>
            <p id="demo-scale">{scale}</p>
            <p id="demo-ties">{ties}</p>
            {record}
        </section>
    }
}

/// The demo page.
#[component]
pub fn DemoPage(page: data::DemoPage) -> impl IntoView {
    let Some(model) = page.model.clone() else {
        return view! {
            <section class="demo">
                <h1>"Scoring demo"</h1>
                <p class="empty">"This server runs without a scoring model (it was started with \
                    --no-demo, or the default model is not installed). Run scripts/setup.sh and \
                    start the server again."</p>
            </section>
        }
        .into_any();
    };
    let chosen = chosen_task(&page);
    let reads_images = page.reads_images;
    let baseline_note = (model == DEFAULT_MODEL).then(|| view! {
        <p class="notice" id="demo-baseline">
            {format!("{model} is the server's default model and a small baseline: \
                all-MiniLM-L6-v2 (22 M parameters) with a Bradley–Terry head trained by this \
                project on synthetic pairs. It reads text only and is far weaker than the judges on \
                the leaderboard, so it gets easy-looking pairs wrong; read its answers as a \
                demonstration of scoring, not as a judgement.")}
        </p>
    });
    let (lead, examples) = if reads_images {
        (
            format!(
                "{model} compares two images with the criterion and prompt; the higher reward wins. \
                For text pairs, start the server with a text reward model."
            ),
            view! {
                <p class="examples">"Images to try: the "
                    <a href="/benchmark?task=text_to_image">"text-to-image samples"</a>
                    " of the benchmark browser."</p>
            }
            .into_any(),
        )
    } else {
        (
            format!(
                "{model} scores two text responses against the criterion and prompt; the higher reward wins. \
                Image pairs need an image-text model (start the server with a CLIP or SigLIP checkpoint)."
            ),
            view! {
                <p class="examples">"Examples: "
                    {EXAMPLES.iter().enumerate().map(|(index, (title, _))| view! {
                        <a href=format!("/demo?example={}", index + 1)>{*title}</a> " "
                    }).collect_view()}
                </p>
            }
            .into_any(),
        )
    };
    let form = page.form;
    let enctype = if reads_images {
        "multipart/form-data"
    } else {
        "application/x-www-form-urlencoded"
    };
    let options = page
        .tasks
        .iter()
        .map(|entry| {
            view! {
                <option value=entry.task.key() selected=Some(entry.task) == chosen
                    disabled=entry.coverage == DemoCoverage::NotCovered>{task_label(entry)}</option>
            }
        })
        .collect_view();
    let uploaded = page.images.map(|[first, second]| {
        view! { <p class="hint">{format!("Scored: {first} and {second}. Choose the files again to score another pair.")}</p> }
    });
    view! {
        <section class="demo">
            <h1>"Scoring demo"</h1>
            <p class="lead">{lead}</p>
            {baseline_note}
            {examples}
            <form class="demo-form" method="post" action="/demo" enctype=enctype>
                <label for="task">"Task type"</label>
                <select id="task" name="task" aria-describedby="task-hint">{options}</select>
                <p class="hint" id="task-hint">"Task types whose responses this model cannot read are listed but cannot be chosen. \
                    For tasks with an image, video or audio prompt the demo takes the prompt's text; \
                    every task type is judged in full by the API judges (Submit)."</p>
                <label for="criterion">"Criterion"</label>
                <textarea id="criterion" name="criterion" rows="2" required=true>{form.criterion.clone()}</textarea>
                <label for="prompt">"Prompt"</label>
                <textarea id="prompt" name="prompt" rows="3" required=true>{form.prompt.clone()}</textarea>
                {response_inputs(reads_images, page.reads_videos, &form)}
                {uploaded}
                <button type="submit">"Score both responses"</button>
            </form>
            {page.error.map(|error| view! { <p class="error" role="alert">{error}</p> })}
            {page.result.map(|result| result_view(result, chosen, &page.standing, reads_images))}
        </section>
    }
    .into_any()
}
