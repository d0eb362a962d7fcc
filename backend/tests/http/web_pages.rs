//! The web app's pages on the in-process router: each page renders from the API's documents
//! with its data embedded for hydration, form posts become API requests whose errors appear
//! beside the form, and unknown pages are 404 problem pages. (The browser side is covered by
//! `web_e2e.rs`.)

use crate::support::test_app::Reply;
use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use omnireward::http::score::ScoringService;
use omnireward::http::{AppState, app};
use omnireward::judges::local::{InferenceThread, LocalJudgeOptions};
use omnireward_frontend::data::DemoCoverage;
use omnireward_frontend::data::Page;
use omnireward_shared::Task;
use tempfile::TempDir;
use tower::ServiceExt as _;

use crate::support;

pub(crate) struct Site {
    pub(crate) _folder: TempDir,
    pub(crate) router: Router,
}

pub(crate) async fn site() -> Site {
    let folder = TempDir::new().expect("temporary folder");
    let (storage, benchmark) = support::paper_site::paper_database(folder.path()).await;
    let router = app(AppState::new(storage, benchmark));
    Site {
        _folder: folder,
        router,
    }
}

impl Reply {
    /// The page data embedded for hydration.
    pub(crate) fn page(&self) -> Page {
        let start = self
            .text()
            .find(r#"<script type="application/json" id="page-data">"#)
            .unwrap_or_else(|| panic!("no page data in {}", self.text()));
        let json = &self.text()[start..];
        let json =
            &json[json.find('>').expect("tag end") + 1..json.find("</script>").expect("end")];
        serde_json::from_str(json).unwrap_or_else(|error| panic!("page data ({error}): {json}"))
    }
}

async fn send(router: &Router, method: Method, uri: &str, form: Option<&str>) -> Reply {
    send_with_cookie(router, method, uri, form, None).await
}

async fn send_with_cookie(
    router: &Router,
    method: Method,
    uri: &str,
    form: Option<&str>,
    cookie: Option<&str>,
) -> Reply {
    let mut request = Request::builder().method(method).uri(uri);
    if form.is_some() {
        request = request.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    }
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    let request = request
        .body(form.map_or_else(Body::empty, |form| Body::from(form.to_owned())))
        .expect("request");
    crate::support::test_app::send(router, request).await
}

pub(crate) async fn get(router: &Router, uri: &str) -> Reply {
    send(router, Method::GET, uri, None).await
}

#[tokio::test]
async fn decoded_path_segments_stay_one_segment() {
    let site = site().await;
    // A segment holding `/`, `?`, `#` or a space names nothing: it must not turn into another
    // path, a query or a server error (before, `/models/1%3Fx` showed model 1 and
    // `…/t2v-0001%2Fjudgements` fetched the judgements document as a sample).
    for (uri, expected) in [
        ("/benchmark/text_to_video/a%20b", StatusCode::NOT_FOUND),
        (
            "/benchmark/text_to_video/t2v-0001%2Fjudgements",
            StatusCode::NOT_FOUND,
        ),
        (
            "/benchmark/text_to_video%2Fx/t2v-0001",
            StatusCode::NOT_FOUND,
        ),
        ("/models/1%3Fx", StatusCode::NOT_FOUND),
        ("/models/1%2F..%2F2", StatusCode::NOT_FOUND),
        ("/runs/1%3Fx", StatusCode::NOT_FOUND),
        ("/submissions/1%23x", StatusCode::BAD_REQUEST),
    ] {
        let reply = get(&site.router, uri).await;
        assert_eq!(reply.status, expected, "{uri}: {}", reply.text());
        assert!(matches!(reply.page(), Page::Problem(_)), "{uri}");
    }
    assert_eq!(get(&site.router, "/models/1").await.status, StatusCode::OK);
}

#[tokio::test]
async fn the_leaderboard_is_complete_html_with_its_data() {
    let site = site().await;
    let reply = get(&site.router, "/?setting=without_ties&sort=model&order=asc").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.text().starts_with("<!DOCTYPE html>"));
    assert!(reply.text().contains(r#"<table class="scores""#));
    assert!(
        reply.text().contains("Qwen2.5-Omni-7B"),
        "paper rows are rendered"
    );
    // No bundle was given: the page does not try to load one.
    assert!(!reply.text().contains("omnireward_frontend.js"));
    let Page::Leaderboard(page) = reply.page() else {
        panic!("not the leaderboard page");
    };
    assert!(page.with_ties.len() >= 30 && page.without_ties.len() >= 30);
    assert_eq!(page.view.setting, omnireward_shared::Setting::WithoutTies);
    // The server applied the URL's sort: the first rendered row is the first name in order.
    let mut names: Vec<&str> = page
        .without_ties
        .iter()
        .map(|row| row.model.as_str())
        .collect();
    names.sort_by_key(|name| name.to_lowercase());
    let first_row = reply.text().find("<tbody>").expect("table body");
    let first_link = &reply.text()[first_row..];
    assert!(
        first_link[..first_link.find("</a>").expect("a link")].ends_with(names[0]),
        "first row should be {}",
        names[0]
    );
}

/// Evaluates the "always A" baseline on the served sample: a verified row with intervals.
pub(crate) async fn finish_always_a(
    storage: &omnireward::storage::Storage,
    benchmark: &omnireward::data::Benchmark,
) {
    use omnireward::evaluation::baseline::{self, BaselineKind};
    finish_evaluation(
        storage,
        benchmark,
        "always A",
        omnireward::storage::ModelKind::Baseline,
        &|sample, setting| baseline::judge(BaselineKind::AlwaysA, 0, sample, setting),
    )
    .await;
}

/// Records a finished run of `name` on the served sample with the judgements `judge` gives.
pub(crate) async fn finish_evaluation(
    storage: &omnireward::storage::Storage,
    benchmark: &omnireward::data::Benchmark,
    name: &str,
    kind: omnireward::storage::ModelKind,
    judge: &dyn Fn(
        &omnireward_shared::sample::Sample,
        omnireward_shared::Setting,
    ) -> omnireward_shared::Judgement,
) {
    use omnireward::storage::{NewModel, NewRun, Provenance, RunStatus};

    let model = storage
        .upsert_model(&NewModel::named(name, kind))
        .await
        .expect("stores the model");
    let benchmark_id = omnireward::evaluation::runs::record_benchmark(storage, benchmark)
        .await
        .expect("records the benchmark");
    let run = storage
        .create_run(&NewRun {
            model,
            benchmark: Some(benchmark_id),
            status: RunStatus::Running,
            provenance: Provenance::Evaluated,
            configuration: serde_json::json!({}),
        })
        .await
        .expect("creates the run");
    let judgements: Vec<_> = benchmark
        .samples
        .iter()
        .flat_map(|sample| {
            omnireward_shared::Setting::ALL
                .into_iter()
                .filter(|setting| setting.includes(sample.label))
                .map(|setting| judge(sample, setting))
        })
        .collect();
    storage
        .record_judgements(run, &judgements)
        .await
        .expect("stores");
    omnireward::evaluation::runs::finish_run(
        storage,
        run,
        name,
        benchmark,
        RunStatus::Finished,
        omnireward_shared::BootstrapConfig::default(),
    )
    .await
    .expect("finishes");
}

#[tokio::test]
async fn the_leaderboard_ranks_one_benchmark_and_links_the_others() {
    let folder = TempDir::new().expect("temporary folder");
    let (storage, benchmark) = support::paper_site::paper_database(folder.path()).await;
    let router = app(AppState::new(
        storage.clone(),
        std::sync::Arc::clone(&benchmark),
    ));
    // Only the paper's rows: the release is shown, and no other benchmark is offered.
    let Page::Leaderboard(page) = get(&router, "/").await.page() else {
        panic!("not the leaderboard page");
    };
    assert_eq!(page.benchmark, "omni-rewardbench");
    assert_eq!(page.with_ties.len(), 37);
    assert_eq!(page.benchmarks.len(), 1);

    // A baseline evaluated on the served sample: the sample becomes the default, ranked alone.
    finish_always_a(&storage, &benchmark).await;

    let reply = get(&router, "/?sort=model").await;
    let Page::Leaderboard(page) = reply.page() else {
        panic!("not the leaderboard page");
    };
    assert_eq!(page.benchmark, "omni-rewardbench-sample");
    let models: Vec<&str> = page
        .with_ties
        .iter()
        .map(|row| row.model.as_str())
        .collect();
    assert_eq!(models, ["always A"]);
    assert_eq!(page.without_ties.len(), 1);
    assert!(
        reply
            .text()
            .contains(r#"href="/?sort=model&amp;order=asc&amp;benchmark=omni-rewardbench""#),
        "a link to the release keeps the view: {}",
        reply.text()
    );
    // Asked for, the release shows the paper's rows without the sample's.
    let Page::Leaderboard(page) = get(&router, "/?benchmark=omni-rewardbench").await.page() else {
        panic!("not the leaderboard page");
    };
    assert_eq!(page.benchmark, "omni-rewardbench");
    assert_eq!(page.with_ties.len(), 37);
    assert!(page.with_ties.iter().all(|row| row.model != "always A"));
    assert_eq!(page.benchmarks.len(), 2);
}

#[tokio::test]
async fn model_benchmark_and_sample_pages_render() {
    let site = site().await;
    let Page::Leaderboard(leaderboard) = get(&site.router, "/").await.page() else {
        panic!("leaderboard");
    };
    let model = &leaderboard.with_ties[0];
    let reply = get(&site.router, &format!("/models/{}", model.model_id)).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.text().contains(&model.model));
    assert!(
        matches!(reply.page(), Page::Model(page) if page.runs.len() == 1 && page.judgements.is_none())
    );

    let reply = get(&site.router, "/benchmark?task=text_to_audio").await;
    assert_eq!(reply.status, StatusCode::OK);
    let Page::Benchmark(benchmark) = reply.page() else {
        panic!("benchmark");
    };
    assert_eq!(benchmark.task, omnireward_shared::Task::TextToAudio);
    let sample = &benchmark.samples.items[0];
    let reply = get(
        &site.router,
        &format!("/benchmark/text_to_audio/{}", sample.id),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.text().matches("<audio").count(),
        2,
        "both responses play"
    );
    assert!(reply.text().contains("No evaluated model has judged this"));

    let reply = get(&site.router, "/runs/1").await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert!(reply.header("location").starts_with("/models/"));
}

#[tokio::test]
async fn unknown_pages_are_404_problem_pages() {
    let site = site().await;
    for uri in [
        "/nowhere",
        "/models/999999",
        "/models/abc",
        "/benchmark/text_to_text/no-such-sample",
        "/benchmark?task=bogus",
    ] {
        let reply = get(&site.router, uri).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{uri}");
        assert!(
            matches!(reply.page(), Page::Problem(problem) if problem.status == 404),
            "{uri}"
        );
    }
    // The API's own 404 stays JSON.
    let reply = get(&site.router, "/api/v1/nowhere").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert!(reply.text().starts_with('{'), "{}", reply.text());
}

#[tokio::test]
async fn the_submit_form_shows_the_apis_errors_and_keeps_the_values() {
    let site = site().await;
    let reply = send(
        &site.router,
        Method::POST,
        "/submit",
        Some("endpoint=http%3A%2F%2F127.0.0.1%3A9%2Fv1&model=my-judge&settings=both&tasks=text_to_text&api_key_env="),
    )
    .await;
    // A loopback endpoint is refused (SSRF) by the API's own check, shown beside the form.
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text());
    let Page::Submit(page) = reply.page() else {
        panic!("submit page");
    };
    let error = page.api_judge_error.expect("an error");
    assert!(error.contains("loopback"), "{error}");
    assert_eq!(page.api_judge.model, "my-judge");
    assert_eq!(
        page.api_judge.tasks,
        vec![omnireward_shared::Task::TextToText]
    );

    let reply = send(
        &site.router,
        Method::POST,
        "/submit",
        Some("endpoint=https%3A%2F%2Fexample.com%2Fv1&model=m&max_tokens=lots"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(reply.text().contains("max_tokens must be"));

    let reply = send(
        &site.router,
        Method::POST,
        "/submit",
        Some("endpoint=https%3A%2F%2Fexample.com%2Fv1&model=good-judge"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.text());
    let location = reply.header("location").to_owned();
    assert!(
        location.starts_with("/submissions/") && location.ends_with("?submitted=1"),
        "{location}"
    );
    // The submission's cancel token stays in this browser, out of reach of scripts and of
    // other sites' forms.
    let set_cookie = reply.header("set-cookie").to_owned();
    let cookie = set_cookie
        .split(';')
        .next()
        .expect("a name and value")
        .to_owned();
    let (name, token) = cookie.split_once('=').expect("name=value");
    assert!(name.starts_with("omnireward_cancel_"), "{set_cookie}");
    assert_eq!(token.len(), 64, "{set_cookie}");
    for attribute in ["Path=/", "HttpOnly", "SameSite=Strict"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }

    let status = get(&site.router, &location).await;
    assert_eq!(status.status, StatusCode::OK);
    let Page::Submission(page) = status.page() else {
        panic!("submission page");
    };
    assert!(page.just_submitted);
    assert_eq!(page.submission.status.as_str(), "queued");
    let id = page.submission.id;
    assert_eq!(name, format!("omnireward_cancel_{id}"));
    // Another browser sees no cancel button; the submitter's does.
    assert!(!page.yours);
    assert!(!status.text().contains("Cancel this submission"));
    let mine = send_with_cookie(&site.router, Method::GET, &location, None, Some(&cookie)).await;
    assert!(matches!(mine.page(), Page::Submission(page) if page.yours));
    assert!(mine.text().contains("Cancel this submission"));
    let queue = get(&site.router, "/queue").await;
    assert!(
        matches!(queue.page(), Page::Queue(page) if page.submissions.len() == 1 && page.yours.is_empty())
    );
    let queue = send_with_cookie(&site.router, Method::GET, "/queue", None, Some(&cookie)).await;
    assert!(matches!(queue.page(), Page::Queue(page) if page.yours == vec![id]));

    // Without the cookie the API's refusal is shown, and nothing changes.
    let refused = send(
        &site.router,
        Method::POST,
        &format!("/submissions/{id}/cancel"),
        None,
    )
    .await;
    assert_eq!(
        refused.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        refused.text()
    );
    assert!(
        refused.text().contains("cancel token"),
        "{}",
        refused.text()
    );
    let forged = send_with_cookie(
        &site.router,
        Method::POST,
        &format!("/submissions/{id}/cancel"),
        None,
        Some(&format!("omnireward_cancel_{id}={}", "0".repeat(64))),
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "{}", forged.text());
    let Page::Submission(page) = get(&site.router, &format!("/submissions/{id}"))
        .await
        .page()
    else {
        panic!("submission page");
    };
    assert_eq!(page.submission.status.as_str(), "queued");

    let cancelled = send_with_cookie(
        &site.router,
        Method::POST,
        &format!("/submissions/{id}/cancel"),
        None,
        Some(&format!("theme=dark; {cookie}")),
    )
    .await;
    assert_eq!(
        cancelled.status,
        StatusCode::SEE_OTHER,
        "{}",
        cancelled.text()
    );
    let Page::Submission(page) = get(&site.router, &format!("/submissions/{id}"))
        .await
        .page()
    else {
        panic!("submission page");
    };
    assert_eq!(page.submission.status.as_str(), "cancelled");
}

#[tokio::test]
async fn the_demo_says_when_there_is_no_model() {
    let site = site().await;
    let reply = get(&site.router, "/demo?example=2").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.text().contains("runs without a scoring model"));
    let reply = send(
        &site.router,
        Method::POST,
        "/demo",
        Some("criterion=c&prompt=p&response1=a&response2=b"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    let style = get(&site.router, "/style.css").await;
    assert_eq!(style.status, StatusCode::OK);
    assert!(style.text().contains("prefers-color-scheme: dark"));
    assert_eq!(
        get(&site.router, "/pkg/omnireward_frontend_bg.wasm")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

/// A site whose demo runs the local-judge crate's tiny fixture `name` (`bert-tiny` reads
/// text, `clip` compares images with text).
async fn site_with_model(name: &str) -> Site {
    let folder = TempDir::new().expect("temporary folder");
    let (storage, benchmark) = support::paper_site::paper_database(folder.path()).await;
    let model = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("local-judge/tests/fixtures")
        .join(name);
    let thread = InferenceThread::start(model, LocalJudgeOptions::default()).expect("loads");
    let scoring = std::sync::Arc::new(ScoringService::new(thread, name.to_owned(), 4));
    let router = app(AppState::new(storage, benchmark).with_scoring(scoring));
    Site {
        _folder: folder,
        router,
    }
}

/// A PNG of one colour.
fn png(width: u32, height: u32, colour: [u8; 3]) -> Vec<u8> {
    let image = image::RgbImage::from_pixel(width, height, image::Rgb(colour));
    let mut bytes = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut bytes, image::ImageFormat::Png)
        .expect("encodes");
    bytes.into_inner()
}

/// A multipart demo post: text fields, then files as (field, file name, bytes).
async fn post_demo_multipart(
    router: &Router,
    fields: &[(&str, &str)],
    files: &[(&str, &str, Vec<u8>)],
) -> Reply {
    let boundary = "demo-boundary-7d1f";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    for (name, file_name, bytes) in files {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; \
                 filename=\"{file_name}\"\r\nContent-Type: image/png\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    let request = Request::builder()
        .method(Method::POST)
        .uri("/demo")
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(Body::from(body))
        .expect("request");
    crate::support::test_app::send(router, request).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_offers_the_task_types_a_text_model_reads_and_scores_texts() {
    let site = site_with_model("bert-tiny").await;
    let reply = get(&site.router, "/demo?example=1").await;
    assert_eq!(reply.status, StatusCode::OK);
    let Page::Demo(page) = reply.page() else {
        panic!("demo page");
    };
    assert!(!page.reads_images);
    let readable: Vec<_> = page
        .tasks
        .iter()
        .filter(|entry| entry.coverage != DemoCoverage::NotCovered)
        .map(|entry| entry.task)
        .collect();
    assert_eq!(
        readable,
        vec![
            Task::TextToText,
            Task::TextImageToText,
            Task::TextVideoToText,
            Task::TextAudioToText
        ]
    );
    assert_eq!(page.form.task, "text_to_text");
    // Task types the model cannot read are listed but cannot be chosen; no file inputs.
    assert!(
        reply
            .text()
            .contains(r#"<option value="text_to_image" disabled"#),
        "{}",
        reply.text()
    );
    assert!(!reply.text().contains(r#"type="file""#));

    let reply = send(
        &site.router,
        Method::POST,
        "/demo",
        Some("task=text_image_to_text&criterion=c&prompt=p&response1=a%20b&response2=b"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let Page::Demo(page) = reply.page() else {
        panic!("demo page");
    };
    let result = page.result.expect("a result");
    assert_eq!(result.architecture, "BertForSequenceClassification");
    assert_eq!(page.form.task, "text_image_to_text");
    assert_eq!(
        page.form.response1, "a b",
        "the form is shown again as sent"
    );

    let reply = send(
        &site.router,
        Method::POST,
        "/demo",
        Some("task=painting&criterion=c&prompt=p&response1=a&response2=b"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(reply.text().contains("no task type"), "{}", reply.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_scores_two_uploaded_images_with_an_image_text_model() {
    let site = site_with_model("clip").await;
    let reply = get(&site.router, "/demo").await;
    let Page::Demo(page) = reply.page() else {
        panic!("demo page");
    };
    assert!(page.reads_images);
    assert_eq!(page.form.task, "", "nothing posted yet");
    assert!(reply.text().contains(r#"enctype="multipart/form-data""#));
    assert!(
        reply
            .text()
            .contains(r#"<input type="file" id="image1" name="image1""#)
    );
    assert!(
        reply
            .text()
            .contains(r#"<option value="text_to_image" selected"#),
        "{}",
        reply.text()
    );
    assert!(
        reply
            .text()
            .contains(r#"<option value="text_to_text" disabled"#)
    );

    let fields = [
        ("task", "text_to_image"),
        ("criterion", "The image should match the prompt."),
        ("prompt", "a red square"),
    ];
    let red = png(40, 30, [220, 20, 20]);
    let blue = png(30, 40, [20, 20, 220]);
    let reply = post_demo_multipart(
        &site.router,
        &fields,
        &[
            ("image1", "red.png", red.clone()),
            ("image2", "blue.png", blue.clone()),
        ],
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let Page::Demo(page) = reply.page() else {
        panic!("demo page");
    };
    let result = page.result.expect("a result");
    assert_eq!(result.architecture, "CLIPModel");
    let (reward1, reward2) = (
        result.reward1.expect("reward 1"),
        result.reward2.expect("reward 2"),
    );
    assert!(reward1.is_finite() && reward2.is_finite());
    assert_ne!(reward1, reward2, "different images, different rewards");
    assert_eq!(
        page.images,
        Some(["red.png".to_owned(), "blue.png".to_owned()])
    );
    assert_eq!(page.form.prompt, "a red square");

    // The same pair through the API gives the same rewards.
    let api = post_json(
        &site.router,
        "/api/v1/score",
        &serde_json::json!({
            "criterion": "The image should match the prompt.",
            "prompt": "a red square",
            "image1": base64_encode(&red),
            "image2": base64_encode(&blue),
        }),
    )
    .await;
    // Both are f32 rewards written as JSON numbers.
    let reward = |field: &str| api[field].as_f64().map(|reward| reward as f32);
    assert_eq!(reward("reward1"), Some(reward1));
    assert_eq!(reward("reward2"), Some(reward2));

    // One image, a file that is not an image, an image over the limit: each error is shown.
    let reply =
        post_demo_multipart(&site.router, &fields, &[("image1", "red.png", red.clone())]).await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.text()
    );
    assert!(reply.text().contains("image2"), "{}", reply.text());
    let reply = post_demo_multipart(
        &site.router,
        &fields,
        &[
            ("image1", "red.png", red.clone()),
            ("image2", "notes.png", b"not an image".to_vec()),
        ],
    )
    .await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.text()
    );
    assert!(
        reply.text().contains("not a PNG or JPEG"),
        "{}",
        reply.text()
    );
    let reply = post_demo_multipart(
        &site.router,
        &fields,
        &[
            ("image1", "huge.png", vec![0; 3 * 1024 * 1024 + 1]),
            ("image2", "red.png", red),
        ],
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text());
    assert!(
        reply.text().contains("image 1 is 3145729 bytes"),
        "{}",
        reply.text()
    );
}

#[test]
fn images_of_too_many_pixels_are_refused_from_their_header() {
    use omnireward::media::{ImageDecodeError, decode_image};
    let started = std::time::Instant::now();
    let error = decode_image(&support::images::announced_png(20_000, 20_000)).expect_err("a bomb");
    assert!(matches!(
        error,
        ImageDecodeError::TooLarge {
            width: 20_000,
            height: 20_000
        }
    ));
    assert!(
        error
            .to_string()
            .contains("20000×20000 pixels (400.0 megapixels)"),
        "{error}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
    // Under the limit the header passes and the decoder reads on (here into the short data).
    let short = decode_image(&support::images::announced_png(10_000, 4_000)).expect_err("short");
    assert!(matches!(short, ImageDecodeError::Image(_)), "{short}");
    assert_eq!(
        decode_image(&png(3, 2, [1, 2, 3]))
            .expect("decodes")
            .to_rgb8()
            .get_pixel(2, 1)
            .0,
        [1, 2, 3]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_refuses_decompression_bombs_before_decoding() {
    let site = site_with_model("clip").await;
    let bomb = support::images::announced_png(20_000, 20_000);
    let started = std::time::Instant::now();
    let api = post_json(
        &site.router,
        "/api/v1/score",
        &serde_json::json!({
            "criterion": "The image should match the prompt.",
            "prompt": "a red square",
            "image1": base64_encode(&bomb),
            "image2": base64_encode(&png(4, 4, [1, 2, 3])),
        }),
    )
    .await;
    let message = api["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("`image1`") && message.contains("400.0 megapixels"),
        "{api}"
    );
    let fields = [
        ("task", "text_to_image"),
        ("criterion", "The image should match the prompt."),
        ("prompt", "a red square"),
    ];
    let reply = post_demo_multipart(
        &site.router,
        &fields,
        &[
            ("image1", "bomb.png", bomb),
            ("image2", "red.png", png(4, 4, [220, 20, 20])),
        ],
    )
    .await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.text()
    );
    assert!(
        reply.text().contains("megapixels are refused"),
        "{}",
        reply.text()
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

async fn post_json(router: &Router, uri: &str, body: &serde_json::Value) -> serde_json::Value {
    let request = Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .expect("request");
    let response = router.clone().oneshot(request).await.expect("answers");
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    serde_json::from_slice(&bytes).expect("JSON")
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test]
async fn a_checkpoint_upload_is_forwarded_and_its_refusal_shown() {
    let site = site().await;
    let boundary = "omnireward-boundary";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"kind\"\r\n\r\ncheckpoint\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nmy model\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"config.json\"\r\n\
         Content-Type: application/json\r\n\r\n{{}}\r\n--{boundary}--\r\n"
    );
    let request = Request::post("/submit/checkpoint")
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={boundary}"),
        )
        .header(header::CONTENT_LENGTH, body.len())
        .body(Body::from(body))
        .expect("request");
    let reply = crate::support::test_app::send(&site.router, request).await;
    // This server takes no uploads: the API's refusal comes back on the form.
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    let Page::Submit(page) = reply.page() else {
        panic!("submit page");
    };
    assert!(page.checkpoint_error.is_some_and(|error| !error.is_empty()));
    assert_eq!(page.max_upload_bytes, None);
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn the_run_api_and_the_model_page_show_the_metric_card() {
    use omnireward::evaluation::baseline::{self, BaselineKind};

    let app = support::test_app::TestApp::start(false, |state, _| state).await;
    // Always A, except that every third sample's answer could not be parsed.
    let (model, run) = support::evaluated_runs::finished_run(
        &app.storage,
        &app.benchmark,
        "always A, sometimes unparsed",
        |sample, setting| {
            let mut judgement = baseline::judge(BaselineKind::AlwaysA, 0, sample, setting);
            if sample.id.bytes().map(u32::from).sum::<u32>() % 3 == 0 {
                judgement.verdict = None;
            }
            judgement
        },
    )
    .await;
    let document = get(&app.router, &format!("/api/v1/runs/{}", run.0))
        .await
        .json();
    let card = &document["scorecard"]["settings"]["with_ties"]["metric_card"];
    let conventions: Vec<&str> = card["conventions"]
        .as_array()
        .expect("conventions")
        .iter()
        .map(|score| score["convention"].as_str().expect("a key"))
        .collect();
    assert_eq!(conventions, ["counted_wrong", "dropped", "random_guess"]);
    let unparsed = card["unparsed"].as_u64().expect("a count");
    assert!(unparsed > 0, "{card}");
    assert_eq!(card["verdicts"]["none"].as_u64(), Some(unparsed));
    assert_eq!(card["verdicts"]["response2"].as_u64(), Some(0));
    assert_eq!(
        card["macro_accuracy"],
        document["scorecard"]["settings"]["with_ties"]["overall"]["accuracy"]
    );
    // Dropping unparsed answers leaves out exactly those items.
    assert_eq!(
        card["conventions"][1]["items"].as_u64(),
        card["items"].as_u64().map(|items| items - unparsed)
    );

    let page = get(&app.router, &format!("/models/{}", model.0))
        .await
        .text();
    assert!(page.contains("Metric card"), "{page}");
    assert!(page.contains("Unparsed guessed, seeded"));
}

#[tokio::test]
async fn a_scalar_models_page_shows_the_in_sample_and_cross_validated_tie_thresholds() {
    use omnireward_shared::{Judgement, Order, Rewards};

    let app = support::test_app::TestApp::start(false, |state, _| state).await;
    // Rewards whose margin is small for ties and signed by the label otherwise, with noise
    // from the id so thresholds differ between folds.
    let (model, run) = support::evaluated_runs::finished_run(
        &app.storage,
        &app.benchmark,
        "scalar reward model",
        |sample, setting| {
            let noise = f64::from(sample.id.bytes().map(u32::from).sum::<u32>() % 7) / 10.0;
            let margin = match sample.label {
                omnireward_shared::Preference::Response1 => 0.2 + noise,
                omnireward_shared::Preference::Response2 => -0.2 - noise,
                omnireward_shared::Preference::Tie => noise - 0.3,
            };
            Judgement {
                task: sample.task,
                sample_id: sample.id.clone(),
                setting,
                order: Order::Original,
                raw_output: None,
                rewards: Some(Rewards {
                    response1: margin,
                    response2: 0.0,
                }),
                verdict: None,
                label: sample.label,
                attempts: None,
                input_tokens: None,
                output_tokens: None,
                latency_ms: None,
            }
        },
    )
    .await;
    let document = get(&app.router, &format!("/api/v1/runs/{}", run.0))
        .await
        .json();
    let thresholds =
        document["scorecard"]["settings"]["with_ties"]["metric_card"]["tie_thresholds"]
            .as_object()
            .expect("tie thresholds of a scalar model");
    assert!(!thresholds.is_empty());
    for report in thresholds.values() {
        assert!(report["cross_validated_accuracy"].is_f64(), "{report}");
        assert!(report["in_sample_accuracy"].is_f64(), "{report}");
    }
    assert!(
        document["scorecard"]["settings"]["without_ties"]["metric_card"]
            .get("tie_thresholds")
            .is_none()
    );
    let page = get(&app.router, &format!("/models/{}", model.0))
        .await
        .text();
    assert!(
        page.contains("In-sample sweep (paper, optimistic)"),
        "{page}"
    );
    assert!(page.contains("Cross-validated"));
}

/// Issue 20, defect 1: the embedded sample is synthetic, so no page may call its labels human
/// preferences; the pages say what the served benchmark is (name, size, how labelled), and the
/// footer's 3,725 pairs are the full release's.
#[tokio::test]
async fn the_served_sample_is_never_called_human_labelled() {
    let site = site().await;
    let reply = get(&site.router, "/benchmark?task=text_to_text").await;
    assert_eq!(reply.status, StatusCode::OK);
    let Page::Benchmark(benchmark) = reply.page() else {
        panic!("benchmark");
    };
    assert!(!benchmark.served.human_labels);
    let pairs = benchmark.served.pairs;
    assert!(pairs > 0);
    let text = reply.text();
    assert!(!text.contains("human annotators' preference"), "{text}");
    assert!(text.contains("omni-rewardbench-sample 1"));
    assert!(text.contains(&format!("{pairs} pairs; synthetic")));

    let sample = &benchmark.samples.items[0];
    let reply = get(
        &site.router,
        &format!("/benchmark/text_to_text/{}", sample.id),
    )
    .await;
    let text = reply.text();
    assert!(!text.contains("preferred by humans"), "{text}");
    assert!(!text.contains("Human label"));
    assert!(text.contains("Label (not human)"));
    assert!(text.contains(&format!("{pairs} pairs; synthetic")));

    for page in ["/", "/benchmark", "/submit", "/demo"] {
        let text = get(&site.router, page).await.text();
        assert!(
            !text.contains("3,725 human-labelled preference pairs, nine"),
            "{page}: the footer presents the release's size as the served data's"
        );
        assert!(
            text.contains("its full release has 3,725 human-labelled"),
            "{page}"
        );
        assert!(!text.contains("against human preferences,"), "{page}");
    }
}

/// The names of the paper's rows the leaderboard page shows for `uri`.
async fn shown_paper_models(router: &Router, uri: &str) -> Vec<String> {
    let text = get(router, uri).await.text();
    text.split(r#"<tr class="paper">"#)
        .skip(1)
        .filter_map(|row| {
            let start = row.find(r#"href="/models/"#)?;
            let name = &row[start..];
            let name = &name[name.find('>')? + 1..];
            Some(name[..name.find('<')?].to_owned())
        })
        .collect()
}

/// Issue 20, defect 2: the paper's rows carry their models' facts, so the filters work on them;
/// their type is the model's kind and "paper" stays a separate badge.
#[tokio::test]
async fn the_paper_rows_have_facts_the_filters_use() {
    let site = site().await;
    let all = shown_paper_models(&site.router, "/").await;
    assert_eq!(all.len(), 37, "{all:?}");
    let open = shown_paper_models(&site.router, "/?open=1").await;
    assert_eq!(open.len(), 30, "{open:?}");
    assert!(!open.contains(&"GPT-4o".to_owned()));
    let sized = shown_paper_models(&site.router, "/?min=7&max=40").await;
    assert!(
        sized.contains(&"Qwen2.5-VL-32B-Instruct".to_owned()),
        "{sized:?}"
    );
    assert!(!sized.contains(&"Qwen2.5-VL-72B-Instruct".to_owned()));
    assert!(!sized.contains(&"Gemma-3-4B-it".to_owned()));
    let scalar = shown_paper_models(&site.router, "/?type=scalar_reward_model").await;
    for model in ["HPSv2", "PickScore", "Omni-RewardModel-BT"] {
        assert!(scalar.contains(&model.to_owned()), "{model} in {scalar:?}");
    }

    let Page::Leaderboard(leaderboard) = get(&site.router, "/").await.page() else {
        panic!("leaderboard");
    };
    let gpt = leaderboard
        .with_ties
        .iter()
        .find(|row| row.model == "GPT-4o")
        .expect("GPT-4o");
    assert_eq!(gpt.kind.as_str(), "api_judge");
    assert_eq!(gpt.open_weights, Some(false));
    assert_eq!(gpt.source.as_deref(), Some("Table 2, row 25"));
    assert!(
        gpt.link
            .as_deref()
            .is_some_and(|link| link.starts_with("https://"))
    );
    let gemma = leaderboard
        .without_ties
        .iter()
        .find(|row| row.model == "Gemma-3-27B-it")
        .expect("Gemma");
    assert_eq!(gemma.parameters.as_deref(), Some("27B"));
    assert_eq!(gemma.licence.as_deref(), Some("Gemma Terms of Use"));
    assert_eq!(gemma.source.as_deref(), Some("Table 3, row 24"));
}

/// Issue 20, defect 3: a paper model's page shows the paper's numbers with the charts evaluated
/// models get, its rank and source, its group in words, and no run that never happened.
#[tokio::test]
async fn a_paper_models_page_shows_the_papers_numbers_not_a_run() {
    let site = site().await;
    let Page::Leaderboard(leaderboard) = get(&site.router, "/").await.page() else {
        panic!("leaderboard");
    };
    let row = leaderboard
        .with_ties
        .iter()
        .find(|row| row.model == "Claude-3-5-Sonnet-20241022")
        .expect("Claude");
    let reply = get(&site.router, &format!("/models/{}", row.model_id)).await;
    assert_eq!(reply.status, StatusCode::OK);
    // What a reader sees: the HTML before the page data embedded for hydration.
    let html = reply.text();
    let data = html
        .find(r#"<script type="application/json""#)
        .expect("page data");
    let end = data + html[data..].find("</script>").expect("end of page data");
    let text = format!("{}{}", &html[..data], &html[end..]);
    assert!(!text.contains("Run "), "a made-up run: {text}");
    assert!(!text.contains("started "), "a made-up start time");
    assert!(!text.contains("proprietary_generative"), "a raw group key");
    assert!(text.contains("Proprietary generative judge"));
    assert!(text.contains("Source: Table 2, row 29 (w/ Ties); Table 3, row 29 (w/o Ties)."));
    assert!(text.contains(&format!("{} of", row.rank)));
    let Page::Model(page) = reply.page() else {
        panic!("model page");
    };
    let titles: Vec<&str> = page
        .charts
        .iter()
        .map(|chart| chart.title.as_str())
        .collect();
    assert_eq!(titles, ["Accuracy per task", "Accuracy per modality"]);
    assert!(
        page.charts[1].description.contains("Audio not covered"),
        "the radar says a modality is uncovered instead of drawing 0 %: {}",
        page.charts[1].description
    );
    assert_eq!(page.ranks.len(), 2);
    assert_eq!(page.ranks[0].rank, row.rank);
}

/// Issue 20, defect 5: "How ties are decided" says which baselines answer tie, the submit page
/// says which benchmark submissions are scored on, and the radar never draws an uncovered
/// modality (see `a_paper_models_page_shows_the_papers_numbers_not_a_run`).
#[tokio::test]
async fn the_tie_rules_and_the_submit_page_say_what_is_true() {
    let site = site().await;
    let text = get(&site.router, "/").await.text();
    assert!(
        !text.contains("they never answer tie"),
        "baselines do answer tie"
    );
    assert!(text.contains("random picks A, B or tie"));
    assert!(text.contains("answer tie when the two lengths or sizes are equal"));

    let reply = get(&site.router, "/submit").await;
    let Page::Submit(page) = reply.page() else {
        panic!("submit page");
    };
    assert_eq!(page.served.name, "omni-rewardbench-sample");
    assert!(reply.text().contains(&format!(
        "Scored on: omni-rewardbench-sample 1 ({} pairs; synthetic",
        page.served.pairs
    )));
}

/// The rendered table's (rank, model) pairs, in rendered order.
fn rendered_ranks(html: &str) -> Vec<(String, String)> {
    let body = &html[html.find("<tbody>").expect("table body")..];
    body.split(r#"<td class="rank">"#)
        .skip(1)
        .map(|row| {
            // The cell's text: the rank, without the compare tick and Leptos' markers.
            let cell = &row[..row.find("</td>").expect("rank cell end")];
            let mut rank = String::new();
            let mut in_tag = false;
            for character in cell.chars() {
                match character {
                    '<' => in_tag = true,
                    '>' => in_tag = false,
                    other if !in_tag => rank.push(other),
                    _ => {}
                }
            }
            let rank = rank.trim().to_owned();
            let link = &row[row.find("<a href=\"/models/").expect("model link")..];
            let name = &link[link.find('>').expect("tag end") + 1..link.find("</a>").expect("end")];
            (rank, name.to_owned())
        })
        .collect()
}

#[tokio::test]
async fn sorted_by_a_task_the_rank_is_that_tasks_and_no_column_repeats() {
    let site = site().await;
    let reply = get(&site.router, "/?sort=text_to_image&tasks=1").await;
    let Page::Leaderboard(page) = reply.page() else {
        panic!("not the leaderboard page");
    };
    let t2i = |name: &str| {
        page.with_ties
            .iter()
            .find(|row| row.model == name)
            .and_then(|row| row.tasks.get(&Task::TextToImage).copied())
    };
    let ranks = rendered_ranks(&reply.text());
    assert_eq!(ranks.len(), page.with_ties.len());
    assert_eq!(ranks[0].0, "1", "the best T2I model is ranked 1: {ranks:?}");
    // Every rank is the competition rank by T2I over the whole list (paper rows included, one
    // rule for all): one more than the number of models with a higher T2I score.
    for (rank, name) in &ranks {
        let expected = t2i(name).map_or_else(String::new, |score| {
            let better = page
                .with_ties
                .iter()
                .filter_map(|row| row.tasks.get(&Task::TextToImage))
                .filter(|other| **other > score)
                .count();
            (better + 1).to_string()
        });
        assert_eq!(rank, &expected, "{name}");
    }
    assert!(
        reply.text().contains("Rank by T2I score"),
        "the rule is said"
    );
    // With the nine tasks shown, Text (= T2T) and 3D (= T23D) are not repeated; Image is a mean.
    assert!(!reply.text().contains(r#"data-column="text""#));
    assert!(!reply.text().contains(r#"data-column="3d""#));
    assert!(reply.text().contains(r#"data-column="image""#));
    assert!(reply.text().contains(r#"data-column="text_to_text""#));
    // Without the tasks, all five modality columns.
    let plain = get(&site.router, "/").await;
    assert!(plain.text().contains(r#"data-column="text""#));
    assert!(plain.text().contains(r#"data-column="3d""#));
}

#[tokio::test]
async fn intervals_can_be_shown_as_text_for_touch_screens() {
    let folder = TempDir::new().expect("temporary folder");
    let (storage, benchmark) = support::paper_site::paper_database(folder.path()).await;
    finish_always_a(&storage, &benchmark).await;
    let router = app(AppState::new(storage, benchmark));
    let hover_only = get(&router, "/").await;
    assert!(!hover_only.text().contains(r#"<small class="interval">"#));
    assert!(hover_only.text().contains("Show 95 % intervals"));
    let shown = get(&router, "/?ci=1").await;
    let Page::Leaderboard(page) = shown.page() else {
        panic!("not the leaderboard page");
    };
    assert!(page.view.show_intervals);
    let [low, high] = page.with_ties[0]
        .intervals
        .as_ref()
        .expect("the baseline has intervals")
        .overall;
    let text = omnireward_frontend::format::interval([low, high]);
    assert!(
        shown
            .text()
            .contains(&format!(r#"<small class="interval">{text}</small>"#)),
        "the overall interval {text} is written under the score"
    );
    // Only verified rows here: ranked in groups by overall, and the page says so.
    assert!(shown.text().contains("paired test"));
}

#[tokio::test]
async fn the_api_docs_render_inline_code_and_an_example_per_route() {
    let site = site().await;
    let reply = get(&site.router, "/api/v1/docs").await;
    assert_eq!(reply.status, StatusCode::OK);
    let page = reply.text();
    assert!(!page.contains('`'), "no raw backticks are left");
    assert!(page.contains("<code>"), "inline code is code");
    let routes = page.matches("<section class=\"operation\"").count();
    assert!(routes > 10);
    assert_eq!(page.matches("class=\"example-request\"").count(), routes);
    assert!(page.contains("curl -X GET &#39;http://127.0.0.1:8080/api/v1/leaderboard"));
    assert!(page.matches("class=\"example-response\"").count() > routes / 2);
}

#[tokio::test]
async fn the_demo_explains_its_numbers_and_ties_under_the_models_threshold() {
    use omnireward::evaluation::baseline::{self, BaselineKind};
    use omnireward_shared::{Label, Rewards, Verdict};

    let site = site_with_model("bert-tiny").await;
    let post = "task=text_to_text&criterion=c&prompt=p&response1=a%20b&response2=b";
    // Not evaluated here: no threshold and no row are made up.
    let reply = send(&site.router, Method::POST, "/demo", Some(post)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let text = reply.text();
    assert!(
        text.contains("No tie threshold is known for this model"),
        "{text}"
    );
    assert!(text.contains("has not evaluated this model"));
    assert!(
        text.contains("only the margin"),
        "the reward scale is explained"
    );
    assert!(
        !text.contains("id=\"demo-baseline\""),
        "only the default model is called a baseline"
    );

    // An evaluation of the same model whose sweep puts the tie threshold at 5 or more: ties
    // have margin 5, the others 10.
    let folder = TempDir::new().expect("temporary folder");
    let (storage, benchmark) = support::paper_site::paper_database(folder.path()).await;
    finish_evaluation(
        &storage,
        &benchmark,
        "bert-tiny",
        omnireward::storage::ModelKind::ScalarRewardModel,
        &|sample, setting| {
            let mut judgement = baseline::judge(BaselineKind::AlwaysA, 0, sample, setting);
            let (response1, response2) = match sample.label {
                Label::Response1 => (10.0, 0.0),
                Label::Response2 => (0.0, 10.0),
                Label::Tie => (5.0, 0.0),
            };
            judgement.rewards = Some(Rewards {
                response1,
                response2,
            });
            judgement.raw_output = None;
            judgement.verdict = Some(if response1 > response2 {
                Verdict::Response1
            } else {
                Verdict::Response2
            });
            judgement
        },
    )
    .await;
    let model = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("local-judge/tests/fixtures/bert-tiny");
    let thread = InferenceThread::start(model, LocalJudgeOptions::default()).expect("loads");
    let scoring = std::sync::Arc::new(ScoringService::new(thread, "bert-tiny".to_owned(), 4));
    let router = app(AppState::new(storage, benchmark).with_scoring(scoring));
    let reply = send(&router, Method::POST, "/demo", Some(post)).await;
    let Page::Demo(page) = reply.page() else {
        panic!("demo page");
    };
    let epsilon = page.standing.tie_rules[&Task::TextToText]
        .epsilon()
        .expect("a threshold");
    assert!(epsilon >= 5.0, "{epsilon}");
    let result = page.result.as_ref().expect("a result");
    let margin =
        f64::from(result.reward1.expect("reward 1") - result.reward2.expect("reward 2")).abs();
    assert!(
        margin < epsilon,
        "the tiny model's margin {margin} is under {epsilon}"
    );
    let text = reply.text();
    assert!(text.contains("<h2 id=\"demo-verdict\">Tie</h2>"), "{text}");
    assert!(text.contains("calls a pair tied when the rewards differ by at most"));
    let row = page.standing.with_ties.as_ref().expect("its row");
    assert!(
        text.contains(&format!("rank {} of ", row.rank)),
        "its leaderboard row is stated"
    );
}

#[tokio::test]
async fn two_video_responses_loop_and_can_be_played_in_step_and_enlarged() {
    let site = site().await;
    let reply = get(&site.router, "/benchmark/text_to_video/t2v-0001").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let page = reply.page();
    assert!(
        page.is_interactive(),
        "the bundle runs the play-both button"
    );
    let text = reply.text();
    assert!(text.contains(r#"id="play-both""#) && text.contains(r#"id="enlarge""#));
    assert_eq!(text.matches("<video").count(), 2);
    assert!(text.contains(" loop"), "the clips loop");
    // A text pair has neither, and stays a page without the bundle.
    let reply = get(&site.router, "/benchmark?task=text_to_text").await;
    let first = reply.text();
    let start = first
        .find("/benchmark/text_to_text/")
        .expect("a sample link");
    let link = &first[start..];
    let link = &link[..link.find('"').expect("link end")];
    let reply = get(&site.router, link).await;
    assert!(!reply.page().is_interactive());
    assert!(!reply.text().contains(r#"id="play-both""#));
}

#[tokio::test]
async fn the_methods_page_says_how_numbers_are_computed_and_how_to_cite() {
    let site = site().await;
    let reply = get(&site.router, "/methods").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(matches!(reply.page(), Page::Methods));
    let text = reply.text();
    for needle in [
        "macro mean over the tasks",
        "tuned on the \ntest set",
        "McNemar",
        "https://arxiv.org/abs/2510.23451",
        "https://huggingface.co/datasets/HongbangYuan/OmniRewardBench",
        "@article{jin2025omnireward",
        r#"href="/methods/omni-reward.bib""#,
        // The modality means as the code computes them.
        "Image</strong>: mean of TI2T, T2I, TI2I",
    ] {
        assert!(
            text.contains(&needle.replace(" \n", " ")),
            "{needle}: {text}"
        );
    }
    assert!(
        text.contains(r#"href="/methods""#),
        "the navigation links it"
    );
    let bibtex = get(&site.router, "/methods/omni-reward.bib").await;
    assert_eq!(bibtex.status, StatusCode::OK);
    assert!(bibtex.text().starts_with("@article{jin2025omnireward"));
}

#[tokio::test]
async fn a_runs_judgements_download_as_json_lines_from_its_page() {
    let folder = TempDir::new().expect("temporary folder");
    let (storage, benchmark) = support::paper_site::paper_database(folder.path()).await;
    finish_always_a(&storage, &benchmark).await;
    let router = app(AppState::new(storage, benchmark.clone()));
    let Page::Leaderboard(leaderboard) = get(&router, "/").await.page() else {
        panic!("not the leaderboard page");
    };
    let row = &leaderboard.with_ties[0];
    let model_page = get(&router, &format!("/models/{}", row.model_id)).await;
    let link = format!("/api/v1/runs/{}/judgements.jsonl", row.run);
    assert!(
        model_page.text().contains(&link),
        "the model page links the download"
    );
    let reply = get(&router, &link).await;
    assert_eq!(reply.status, StatusCode::OK);
    let lines: Vec<serde_json::Value> = reply
        .text()
        .lines()
        .map(|line| serde_json::from_str(line).expect("each line is one JSON object"))
        .collect();
    let expected: usize = benchmark
        .samples
        .iter()
        .map(|sample| {
            omnireward_shared::Setting::ALL
                .into_iter()
                .filter(|setting| setting.includes(sample.label))
                .count()
        })
        .sum();
    assert_eq!(lines.len(), expected, "every judgement, unpaginated");
    assert!(
        lines
            .iter()
            .all(|line| line["correct"].is_boolean() && line["sample_id"].is_string())
    );
    let filtered = get(
        &router,
        &format!("{link}?task=text_to_text&setting=with_ties"),
    )
    .await;
    assert!(filtered.text().lines().count() < expected);
    assert_eq!(
        get(&router, "/api/v1/runs/999/judgements.jsonl")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_column_gives_the_overall_on_the_tasks_every_shown_model_covers() {
    let site = site().await;
    let reply = get(&site.router, "/?common=1").await;
    let Page::Leaderboard(page) = reply.page() else {
        panic!("not the leaderboard page");
    };
    // The paper's list has 7-task rows: the common ground is their seven tasks.
    let common: Vec<Task> = Task::ALL
        .into_iter()
        .filter(|task| {
            page.with_ties
                .iter()
                .all(|row| row.tasks.contains_key(task))
        })
        .collect();
    assert!(common.len() < Task::ALL.len() && !common.is_empty());
    let text = reply.text();
    assert!(
        text.contains(&format!("{} tasks</span>", common.len())),
        "the header names the common tasks' count"
    );
    let row = page
        .with_ties
        .iter()
        .find(|row| row.tasks_covered == Task::ALL.len())
        .expect("a nine-task row");
    let mean = common.iter().map(|task| row.tasks[task]).sum::<f64>() / common.len() as f64;
    assert!(
        text.contains(&format!(
            r#"<td class="score common">{}"#,
            omnireward_frontend::format::percent(mean)
        )),
        "a nine-task row's common overall is its mean over the common tasks"
    );
    assert!(!get(&site.router, "/").await.text().contains("score common"));
}
