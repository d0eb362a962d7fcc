//! The Omni-RewardBench web front end (Leptos). Every page is rendered on the server (`ssr`) from
//! a [`data::Page`] built out of the REST API's documents, so it is readable before any WASM
//! loads; the browser bundle (`hydrate`, wasm32) reads the same `Page` back from the document and
//! hydrates it, which makes sorting, filtering and live progress interactive. Only the pages
//! with something to do in the browser are hydrated ([`data::InteractivePage`]); the others
//! load no bundle at all.
//!
//! Navigation between pages is plain links and forms (each page is its own document): every
//! action works without the bundle, and the bundle only makes it quicker.

// Leptos views are deeply nested types; hydration code for the larger pages needs a deeper limit.
#![recursion_limit = "256"]

pub mod app;
pub mod components;
pub mod data;
pub mod format;
pub mod leaderboard;
pub mod pages;
pub mod sample_list;

#[cfg(feature = "ssr")]
pub mod charts;
#[cfg(feature = "ssr")]
pub mod document;

/// The id of the `<script type="application/json">` element that carries the page's data.
pub const PAGE_DATA_ID: &str = "page-data";

/// Browser entry point, called by the bundle's loader: reads the page data the server embedded
/// and hydrates the body rendered from it.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    let page = web_sys::window()
        .and_then(|window| window.document())
        .and_then(|document| document.get_element_by_id(PAGE_DATA_ID))
        .and_then(|element| element.text_content())
        .and_then(|text| serde_json::from_str::<data::InteractivePage>(&text).ok());
    // Without readable data (or on a page that is not interactive, which the server does not
    // send the bundle to anyway) the server-rendered page stays as it is: still complete, just
    // not interactive. Hydrating a different tree would break it.
    if let Some(page) = page {
        leptos::mount::hydrate_body(move || leptos::view! { <app::InteractiveApp page/> });
    }
}
