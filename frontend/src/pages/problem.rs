//! Not found and server errors: what happened and where to go instead.

use leptos::prelude::*;

use crate::data;

/// An error page.
#[component]
pub fn ProblemPage(page: data::ProblemPage) -> impl IntoView {
    view! {
        <section class="problem">
            <h1>{page.heading}</h1>
            <p>{page.message}</p>
            <p><a href="/">"Back to the leaderboard"</a></p>
        </section>
    }
}
