//! `/demo`: score two responses with the server's default local model. The form posts to the
//! server (it works without the bundle); examples are links that fill it in.

use leptos::prelude::*;

use crate::data::{self, DemoForm};

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
            criterion: self.criterion.to_owned(),
            prompt: self.prompt.to_owned(),
            response1: self.response1.to_owned(),
            response2: self.response2.to_owned(),
        }
    }
}

/// The demo page.
#[component]
pub fn DemoPage(page: data::DemoPage) -> impl IntoView {
    let Some(model) = page.model else {
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
    let form = page.form;
    view! {
        <section class="demo">
            <h1>"Scoring demo"</h1>
            <p class="lead">{format!("Both responses are scored by {model}; the higher reward wins. Text responses; \
                image pairs go through the API (POST /api/v1/score with image1 and image2).")}</p>
            <p class="examples">"Examples: "
                {EXAMPLES.iter().enumerate().map(|(index, (title, _))| view! {
                    <a href=format!("/demo?example={}", index + 1)>{*title}</a> " "
                }).collect_view()}
            </p>
            <form class="demo-form" method="post" action="/demo">
                <label for="criterion">"Criterion"</label>
                <textarea id="criterion" name="criterion" rows="2" required=true>{form.criterion}</textarea>
                <label for="prompt">"Prompt"</label>
                <textarea id="prompt" name="prompt" rows="3" required=true>{form.prompt}</textarea>
                <div class="pair">
                    <div>
                        <label for="response1">"Response 1"</label>
                        <textarea id="response1" name="response1" rows="5" required=true>{form.response1}</textarea>
                    </div>
                    <div>
                        <label for="response2">"Response 2"</label>
                        <textarea id="response2" name="response2" rows="5" required=true>{form.response2}</textarea>
                    </div>
                </div>
                <button type="submit">"Score both responses"</button>
            </form>
            {page.error.map(|error| view! { <p class="error" role="alert">{error}</p> })}
            {page.result.map(|result| {
                let winner = match result.verdict.as_str() {
                    "response1" => "Response 1 wins",
                    "response2" => "Response 2 wins",
                    _ => "Tie: equal rewards",
                };
                view! {
                    <section class="result" aria-live="polite" id="result">
                        <h2>{winner}</h2>
                        <dl class="facts">
                            <dt>"Reward of response 1"</dt><dd class="reward" id="reward1">{format!("{:.4}", result.reward1)}</dd>
                            <dt>"Reward of response 2"</dt><dd class="reward" id="reward2">{format!("{:.4}", result.reward2)}</dd>
                            <dt>"Model"</dt><dd>{format!("{} ({})", result.model, result.architecture)}</dd>
                            <dt>"Latency"</dt><dd>{format!("{:.1} ms scoring, {:.1} ms queued", result.latency_ms, result.queue_ms)}</dd>
                        </dl>
                    </section>
                }
            })}
        </section>
    }
    .into_any()
}
