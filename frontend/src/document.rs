//! The HTML document around a rendered page (server only): head, stylesheet, the page data for
//! hydration and the bundle loader.

use leptos::prelude::*;

use crate::PAGE_DATA_ID;
use crate::app::App;
use crate::data::Page;

/// The site's stylesheet, served at [`STYLESHEET_PATH`].
pub const STYLESHEET: &str = include_str!("../style/site.css");

/// Where the stylesheet is served.
pub const STYLESHEET_PATH: &str = "/style.css";

/// Where the bundle built by `scripts/build-web.sh` is served: `omnireward_frontend.js` and
/// `omnireward_frontend_bg.wasm`.
pub const BUNDLE_PATH: &str = "/pkg";

/// The inline module that loads the bundle and hydrates the page. The server's
/// Content-Security-Policy admits it by its SHA-256, so it must be exactly this text.
pub fn loader_script() -> String {
    format!(
        r#"import init, {{ hydrate }} from "{BUNDLE_PATH}/omnireward_frontend.js"; init({{ module_or_path: "{BUNDLE_PATH}/omnireward_frontend_bg.wasm" }}).then(() => {{ hydrate(); document.documentElement.dataset.hydrated = performance.now().toFixed(1); }});"#
    )
}

/// Renders `page` as a complete HTML document. With `hydrate` (a bundle is served) an
/// interactive page loads the bundle, which hydrates it; other pages, and every page without a
/// bundle, are static but complete.
pub fn render(page: Page, hydrate: bool) -> String {
    let hydrate = hydrate && page.is_interactive();
    let title = escape_text(&page.title());
    // Inside <script>, only `<` can end the element early: JSON allows it escaped everywhere
    // it can occur (in strings).
    let data = serde_json::to_string(&page)
        .unwrap_or_else(|_| "null".to_owned())
        .replace('<', "\\u003c");
    let owner = Owner::new();
    let body = owner.with(|| view! { <App page/> }.to_html());
    let loader = if hydrate {
        format!(
            r#"<link rel="modulepreload" href="{BUNDLE_PATH}/omnireward_frontend.js"><link rel="preload" href="{BUNDLE_PATH}/omnireward_frontend_bg.wasm" as="fetch" type="application/wasm" crossorigin=""><script type="module">{}</script>"#,
            loader_script()
        )
    } else {
        String::new()
    };
    format!(
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta name="color-scheme" content="light dark"><link rel="icon" href="data:,"><title>{title}</title><link rel="stylesheet" href="{STYLESHEET_PATH}"><script type="application/json" id="{PAGE_DATA_ID}">{data}</script>{loader}</head><body>{body}</body></html>"#
    )
}

fn escape_text(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::ProblemPage;

    #[test]
    fn data_cannot_close_its_script_element() {
        let page = Page::Problem(ProblemPage {
            status: 404,
            heading: "Not </script><script>alert(1)</script> found".to_owned(),
            message: "x".to_owned(),
        });
        let html = render(page.clone(), true);
        let data_start = html
            .find(&format!(r#"id="{PAGE_DATA_ID}">"#))
            .expect("data element");
        let data_end = data_start + html[data_start..].find("</script>").expect("end");
        let json = &html[data_start + PAGE_DATA_ID.len() + 6..data_end];
        assert_eq!(
            serde_json::from_str::<Page>(json).expect("round trip"),
            page
        );
        assert!(
            html.contains("&lt;/script&gt;"),
            "the heading is escaped in the body"
        );
        // A problem page has nothing to hydrate: no bundle, with or without one built.
        assert!(!html.contains("omnireward_frontend.js"));
        assert!(!render(page, false).contains("omnireward_frontend.js"));
    }

    #[test]
    fn only_interactive_pages_load_the_bundle_and_their_data_reads_as_one() {
        let queue = Page::Queue(crate::data::QueuePage {
            submissions: Vec::new(),
            now_ms: 0,
            yours: vec![3],
        });
        assert!(queue.is_interactive());
        let html = render(queue.clone(), true);
        assert!(html.contains("omnireward_frontend.js"));
        assert!(!render(queue.clone(), false).contains("omnireward_frontend.js"));
        // The bundle reads the same data as the narrower type it hydrates.
        let json = serde_json::to_string(&queue).expect("serialises");
        let crate::data::InteractivePage::Queue(read) =
            serde_json::from_str::<crate::data::InteractivePage>(&json).expect("reads")
        else {
            panic!("the queue page");
        };
        assert_eq!(Page::Queue(read), queue);
        let demo = Page::Demo(crate::data::DemoPage::default());
        assert!(!demo.is_interactive());
        let json = serde_json::to_string(&demo).expect("serialises");
        assert!(serde_json::from_str::<crate::data::InteractivePage>(&json).is_err());
    }
}
