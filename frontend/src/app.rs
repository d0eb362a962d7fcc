//! The page frame (header, navigation, footer) and the choice of page: [`App`] renders any
//! page on the server; [`InteractiveApp`] hydrates the interactive ones in the browser through
//! the same [`Frame`], so both build the same tree.

use leptos::prelude::*;

use crate::data::{InteractivePage, Page};
use crate::pages;

/// The whole `<body>` of any page (server rendering).
#[component]
pub fn App(page: Page) -> impl IntoView {
    let current = match &page {
        Page::Leaderboard(_) | Page::Model(_) | Page::Compare(_) => "/",
        Page::Benchmark(_) | Page::Sample(_) => "/benchmark",
        Page::Submit(_) | Page::Submission(_) => "/submit",
        Page::Queue(_) => "/queue",
        Page::Demo(_) => "/demo",
        Page::Methods => "/methods",
        Page::Problem(_) => "",
    };
    let body = match page {
        Page::Leaderboard(page) => view! { <pages::leaderboard::LeaderboardPage page/> }.into_any(),
        Page::Compare(page) => view! { <pages::compare::ComparePage page/> }.into_any(),
        Page::Model(page) => view! { <pages::model::ModelPage page/> }.into_any(),
        Page::Benchmark(page) => view! { <pages::benchmark::BenchmarkPage page/> }.into_any(),
        Page::Sample(page) => view! { <pages::benchmark::SamplePage page/> }.into_any(),
        Page::Submit(page) => view! { <pages::submit::SubmitPage page/> }.into_any(),
        Page::Submission(page) => view! { <pages::queue::SubmissionPage page/> }.into_any(),
        Page::Queue(page) => view! { <pages::queue::QueuePage page/> }.into_any(),
        Page::Demo(page) => view! { <pages::demo::DemoPage page/> }.into_any(),
        Page::Methods => view! { <pages::methods::MethodsPage/> }.into_any(),
        Page::Problem(page) => view! { <pages::problem::ProblemPage page/> }.into_any(),
    };
    view! { <Frame current body/> }
}

/// The `<body>` of an interactive page, as the bundle hydrates it: the same frame and page
/// components as [`App`], and nothing of the other pages.
#[component]
pub fn InteractiveApp(page: InteractivePage) -> impl IntoView {
    let current = match &page {
        InteractivePage::Leaderboard(_) => "/",
        InteractivePage::Sample(_) => "/benchmark",
        InteractivePage::Submit(_) | InteractivePage::Submission(_) => "/submit",
        InteractivePage::Queue(_) => "/queue",
    };
    let body = match page {
        InteractivePage::Leaderboard(page) => {
            view! { <pages::leaderboard::LeaderboardPage page/> }.into_any()
        }
        InteractivePage::Sample(page) => view! { <pages::benchmark::SamplePage page/> }.into_any(),
        InteractivePage::Submit(page) => view! { <pages::submit::SubmitPage page/> }.into_any(),
        InteractivePage::Submission(page) => {
            view! { <pages::queue::SubmissionPage page/> }.into_any()
        }
        InteractivePage::Queue(page) => view! { <pages::queue::QueuePage page/> }.into_any(),
    };
    view! { <Frame current body/> }
}

/// Header, navigation and footer around a page's `body`; `current` is the navigation entry
/// marked as the current page.
#[component]
fn Frame(current: &'static str, body: AnyView) -> impl IntoView {
    let link = move |href: &'static str, label: &'static str| {
        let here = href == current;
        view! {
            <a href=href aria-current=here.then_some("page")>{label}</a>
        }
    };
    view! {
        <a class="skip" href="#main">"Skip to content"</a>
        <header class="site">
            <a class="brand" href="/">"Omni-RewardBench"</a>
            <nav aria-label="Site">
                {link("/", "Leaderboard")}
                {link("/benchmark", "Benchmark")}
                {link("/demo", "Demo")}
                {link("/submit", "Submit")}
                {link("/queue", "Queue")}
                {link("/methods", "Methods")}
                <a href="/api/v1/docs">"API"</a>
            </nav>
        </header>
        <main id="main">{body}</main>
        <footer class="site">
            <p>
                "Omni-RewardBench: Jin et al., 2025 (arXiv 2510.23451); its full release has \
                 3,725 human-labelled preference pairs over nine tasks and five modalities. \
                 Scores are accuracies against the labels of the benchmark a row names, with ties \
                 (3-way) and without ties. The " <a href="/benchmark">"benchmark page"</a>
                " says which benchmark this server serves, its size and how it was labelled."
            </p>
        </footer>
    }
}
