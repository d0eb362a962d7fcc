//! The read-only HTTP API, exercised in process through `app(state)` with `oneshot` (no socket):
//! a real SQLite file with the paper's results and the embedded sample benchmark.

use crate::support::test_app::{Reply, TestApp, get, send};
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use omnireward::data::Benchmark;
use omnireward::data::media::read_media;
use omnireward::http::{AppState, app};
use omnireward::paper_results;
use omnireward::storage::{ModelKind, NewModel, NewRun, Provenance, RunId, RunStatus, Storage};
use omnireward_shared::scorecard::{ScalarTiePolicy, score_judgements};
use omnireward_shared::{
    BenchmarkIdentity, BootstrapConfig, Judgement, Label, MediaLocation, MediaRef, Order, Response,
    Sample, Scorecard, Setting, Task, Verdict,
};
use serde_json::{Value, json};

/// Paper numbers are two-decimal percentages stored as fractions.
const TOLERANCE: f64 = 1e-9;

async fn get_range(router: &Router, uri: &str, range: &str) -> Reply {
    let request = Request::get(uri)
        .header(header::RANGE, range)
        .body(Body::empty())
        .expect("request");
    send(router, request).await
}

/// A database with the paper's results and the embedded sample benchmark served.
async fn test_app() -> TestApp {
    TestApp::start(true, |state, _| state).await
}

fn row<'rows>(rows: &'rows [Value], model: &str) -> &'rows Value {
    rows.iter()
        .find(|row| row["model"] == model)
        .unwrap_or_else(|| panic!("no row for {model}"))
}

fn close(value: &Value, expected: f64) -> bool {
    value
        .as_f64()
        .is_some_and(|value| (value - expected).abs() < TOLERANCE)
}

#[tokio::test]
async fn leaderboard_lists_the_37_paper_models_in_both_settings() {
    let test = test_app().await;
    for (setting, gpt_4o_overall) in [("with_ties", 0.6462), ("without_ties", 0.7313)] {
        let reply = get(
            &test.router,
            &format!("/api/v1/leaderboard?setting={setting}"),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.header("content-type"), "application/json");
        let body = reply.json();
        assert_eq!(body["setting"], setting);
        assert_eq!(body["modality"], Value::Null);
        let rows = body["rows"].as_array().expect("rows");
        assert_eq!(rows.len(), 37, "{setting}");
        let mut previous = f64::INFINITY;
        for (position, row) in rows.iter().enumerate() {
            assert_eq!(row["rank"], position + 1);
            assert_eq!(row["provenance"], "paper_reported");
            let overall = row["overall"].as_f64().expect("overall");
            assert!(overall <= previous, "ranked by overall");
            previous = overall;
        }
        let gpt_4o = row(rows, "GPT-4o");
        assert!(close(&gpt_4o["overall"], gpt_4o_overall), "{gpt_4o}");
        assert_eq!(gpt_4o["tasks_covered"], 9);
        assert_eq!(gpt_4o["group"], "proprietary_generative");
        assert!(gpt_4o.get("modality_score").is_none());
    }
    // w/ Ties is the default.
    let default = get(&test.router, "/api/v1/leaderboard").await.json();
    assert_eq!(default["setting"], "with_ties");
    assert_eq!(
        default["rows"],
        get(&test.router, "/api/v1/leaderboard?setting=with_ties")
            .await
            .json()["rows"]
    );
}

#[tokio::test]
async fn leaderboard_modality_filter_keeps_rows_covering_it_ranked_by_its_score() {
    let test = test_app().await;
    let body = get(&test.router, "/api/v1/leaderboard?modality=audio")
        .await
        .json();
    assert_eq!(body["modality"], "audio");
    let rows = body["rows"].as_array().expect("rows");
    assert!(!rows.is_empty() && rows.len() < 37, "{} rows", rows.len());
    assert!(rows.iter().all(|row| row["model"] != "MiniCPM-V-2.6"));
    let mut previous = f64::INFINITY;
    for (position, row) in rows.iter().enumerate() {
        let audio: Vec<f64> = ["text_audio_to_text", "text_to_audio"]
            .iter()
            .filter_map(|task| row["tasks"][task].as_f64())
            .collect();
        assert!(!audio.is_empty(), "{row}");
        let mean = audio.iter().sum::<f64>() / audio.len() as f64;
        assert!(close(&row["modality_score"], mean), "{row}");
        assert_eq!(row["modality_tasks_covered"], audio.len());
        assert_eq!(row["rank"], position + 1);
        assert!(mean <= previous, "ranked by the audio score");
        previous = mean;
    }
    let gpt_4o = row(rows, "GPT-4o");
    assert!(close(&gpt_4o["modality_score"], (0.6275 + 0.4453) / 2.0));

    let evaluated = get(&test.router, "/api/v1/leaderboard?type=api_judge")
        .await
        .json();
    assert_eq!(evaluated["type"], "api_judge");
    // The paper's proprietary judges are API judges (their provenance says "paper").
    let api_judges = evaluated["rows"].as_array().expect("rows");
    assert_eq!(api_judges.len(), 6);
    assert!(api_judges.iter().all(|row| row["kind"] == "api_judge"));
}

#[tokio::test]
async fn leaderboard_refuses_unknown_values_with_a_json_error() {
    let test = test_app().await;
    let reply = get(&test.router, "/api/v1/leaderboard?setting=sometimes").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.header("content-type"), "application/json");
    assert_eq!(
        reply.json(),
        json!({"error": {
            "code": "invalid_parameter",
            "message": "invalid value `sometimes` for parameter `setting`: expected one of with_ties, without_ties"
        }})
    );
    let reply = get(&test.router, "/api/v1/leaderboard.csv?modality=smell").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        reply.json(),
        json!({"error": {
            "code": "invalid_parameter",
            "message": "invalid value `smell` for parameter `modality`: expected one of text, image, video, audio, 3d"
        }})
    );
    let reply = get(&test.router, "/api/v1/leaderboard?type=oracle").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.json()["error"]["code"], "invalid_parameter");
}

#[tokio::test]
async fn leaderboard_csv_has_the_header_and_the_same_rows() {
    let test = test_app().await;
    let reply = get(&test.router, "/api/v1/leaderboard.csv?setting=with_ties").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("content-type"), "text/csv; charset=utf-8");
    let text = String::from_utf8(reply.body.to_vec()).expect("UTF-8");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "rank,model,kind,provenance,benchmark,T2T,TI2T,TV2T,TA2T,T2I,T2V,T2A,T23D,TI2I,overall,tasks_covered,\
         text,image,video,audio,3d,overall_ci95_low,overall_ci95_high,verified,parameters,licence,open_weights"
    );
    assert_eq!(lines.len(), 38);
    let rows = get(&test.router, "/api/v1/leaderboard?setting=with_ties")
        .await
        .json();
    let rank = row(rows["rows"].as_array().expect("rows"), "GPT-4o")["rank"].clone();
    // Modalities are the means of their tasks; paper rows have no interval, and their model's
    // facts (kind, licence, closed weights) from the embedded facts file.
    let expected = format!(
        "{rank},GPT-4o,api_judge,paper_reported,\"paper: full release (Jin et al., 2025)\",\
         78.18,61.74,69.30,62.75,59.33,65.03,44.53,70.86,69.87,64.62,9,\
         78.18,63.65,67.16,53.64,70.86,,,false,,Proprietary,false"
    );
    assert!(lines.contains(&expected.as_str()), "{text}");
    let gpt_4o_mini = lines
        .iter()
        .find(|line| line.contains(",GPT-4o-mini,"))
        .expect("GPT-4o-mini row");
    assert!(
        gpt_4o_mini.contains(",76.50,60.23,67.95,,57.56,65.22,,60.26,60.26,64.00,7,"),
        "{gpt_4o_mini}"
    );
}

#[tokio::test]
async fn tasks_are_the_nine_with_the_sample_counts() {
    let test = test_app().await;
    let reply = get(&test.router, "/api/v1/tasks").await;
    assert_eq!(reply.status, StatusCode::OK);
    let body = reply.json();
    assert_eq!(body["benchmark"]["name"], "omni-rewardbench-sample");
    assert_eq!(body["benchmark"]["hash"], test.benchmark.identity.hash);
    let tasks = body["tasks"].as_array().expect("tasks");
    assert_eq!(tasks.len(), 9);
    for (view, task) in tasks.iter().zip(Task::ALL) {
        let samples: Vec<&Sample> = test.benchmark.task_samples(task).collect();
        let without_ties = samples
            .iter()
            .filter(|sample| sample.label != Label::Tie)
            .count();
        assert_eq!(view["key"], task.key());
        assert_eq!(view["samples"]["with_ties"], samples.len());
        assert_eq!(view["samples"]["without_ties"], without_ties);
    }
    assert_eq!(
        tasks[0],
        json!({
            "key": "text_to_text", "short_name": "T2T", "modality": "text",
            "input_modalities": ["text"], "response_modality": "text",
            "samples": {"with_ties": 16, "without_ties": 12}
        })
    );
    assert_eq!(
        tasks[7],
        json!({
            "key": "text_to_3D", "short_name": "T23D", "modality": "3d",
            "input_modalities": ["text"], "response_modality": "3d",
            "samples": {"with_ties": 15, "without_ties": 11}
        })
    );
}

#[tokio::test]
async fn samples_are_paginated_and_filtered_by_task() {
    let test = test_app().await;
    let all = get(&test.router, "/api/v1/samples").await.json();
    assert_eq!(all["total"], test.benchmark.samples.len());
    assert_eq!(
        (all["page"].clone(), all["per_page"].clone()),
        (json!(1), json!(20))
    );
    assert_eq!(all["items"].as_array().expect("items").len(), 20);

    let text: Vec<&Sample> = test.benchmark.task_samples(Task::TextToText).collect();
    let page = get(
        &test.router,
        "/api/v1/samples?task=text_to_text&page=2&per_page=5",
    )
    .await
    .json();
    assert_eq!(page["total"], text.len());
    let ids: Vec<&str> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| item["id"].as_str().expect("id"))
        .collect();
    let expected: Vec<&str> = text[5..10]
        .iter()
        .map(|sample| sample.id.as_str())
        .collect();
    assert_eq!(ids, expected);
    let short_name = get(&test.router, "/api/v1/samples?task=T2T&page=2&per_page=5")
        .await
        .json();
    assert_eq!(short_name, page);

    let past_the_end = get(&test.router, "/api/v1/samples?task=text_to_text&page=9")
        .await
        .json();
    assert_eq!(past_the_end["items"], json!([]));

    for (query, parameter) in [
        ("per_page=101", "per_page"),
        ("page=0", "page"),
        ("task=text_to_smell", "task"),
    ] {
        let reply = get(&test.router, &format!("/api/v1/samples?{query}")).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{query}");
        let message = reply.json()["error"]["message"].clone();
        assert!(
            message
                .as_str()
                .is_some_and(|message| message.contains(&format!("`{parameter}`"))),
            "{message}"
        );
    }
}

#[tokio::test]
async fn one_sample_shows_texts_and_media_urls() {
    let test = test_app().await;
    let text = test
        .benchmark
        .task_samples(Task::TextToText)
        .next()
        .expect("a text sample");
    let reply = get(
        &test.router,
        &format!("/api/v1/samples/text_to_text/{}", text.id),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let text_of = |response: &Response| response.text().expect("text").to_owned();
    assert_eq!(
        reply.json(),
        json!({
            "id": text.id, "task": "text_to_text", "prompt": text.prompt, "prompt_media": null,
            "criterion": text.criterion, "label": text.label.key(),
            "response1": {"type": "text", "text": text_of(&text.response1)},
            "response2": {"type": "text", "text": text_of(&text.response2)},
            "model1": text.model1, "model2": text.model2,
        })
    );

    let edit = test
        .benchmark
        .task_samples(Task::TextImageToImage)
        .next()
        .expect("an image-editing sample");
    let body = get(
        &test.router,
        &format!("/api/v1/samples/text_image_to_image/{}", edit.id),
    )
    .await
    .json();
    let url = |field: &str| format!("/api/v1/media/text_image_to_image/{}/{field}", edit.id);
    assert_eq!(
        body["prompt_media"],
        json!({"kind": "image", "url": url("prompt_media")})
    );
    assert_eq!(
        body["response2"],
        json!({"type": "media", "kind": "image", "url": url("response2")})
    );
}

#[tokio::test]
async fn unknown_samples_tasks_and_routes_are_json_404s() {
    let test = test_app().await;
    let reply = get(&test.router, "/api/v1/samples/text_to_text/no-such-id").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(
        reply.json(),
        json!({"error": {"code": "not_found", "message": "sample text_to_text/no-such-id does not exist"}})
    );
    let reply = get(&test.router, "/api/v1/samples/text_to_smell/x").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    let reply = get(&test.router, "/api/v1/nothing-here").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(
        reply.json(),
        json!({"error": {"code": "not_found", "message": "no API route matches `/api/v1/nothing-here`"}})
    );
}

/// The first sample of `task` whose `response1` is media in a parquet cell or, if not
/// `in_parquet`, in a file.
fn media_sample(benchmark: &Benchmark, task: Task, in_parquet: bool) -> (&Sample, &MediaRef) {
    benchmark
        .task_samples(task)
        .find_map(|sample| {
            let media = sample.response1.media()?;
            let is_cell = matches!(media.location, MediaLocation::ParquetCell { .. });
            (is_cell == in_parquet).then_some((sample, media))
        })
        .unwrap_or_else(|| panic!("no {task} sample with that media"))
}

#[tokio::test]
async fn media_bytes_equal_the_stored_media() {
    let test = test_app().await;
    let cases = [
        (Task::TextToImage, true, "image/png"),
        (Task::TextToAudio, false, "audio/wav"),
        (Task::TextToVideo, false, "video/mp4"),
    ];
    for (task, in_parquet, content_type) in cases {
        let (sample, media) = media_sample(&test.benchmark, task, in_parquet);
        let expected = read_media(media).expect("reads the media");
        let uri = format!("/api/v1/media/{}/{}/response1", task.key(), sample.id);
        let reply = get(&test.router, &uri).await;
        assert_eq!(reply.status, StatusCode::OK, "{uri}");
        assert_eq!(reply.body.as_ref(), expected.as_slice(), "{uri}");
        assert_eq!(reply.header("content-type"), content_type);
        assert_eq!(reply.header("content-length"), expected.len().to_string());
        assert_eq!(reply.header("accept-ranges"), "bytes");
        assert_eq!(reply.header("cache-control"), "public, max-age=86400");
    }

    let text = test
        .benchmark
        .task_samples(Task::TextToText)
        .next()
        .expect("a text sample");
    for field in ["response1", "prompt_media", "thumbnail"] {
        let reply = get(
            &test.router,
            &format!("/api/v1/media/text_to_text/{}/{field}", text.id),
        )
        .await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{field}");
        assert_eq!(reply.json()["error"]["code"], "not_found");
    }
}

#[tokio::test]
async fn media_ranges_are_served_as_partial_content() {
    let test = test_app().await;
    let (sample, media) = media_sample(&test.benchmark, Task::TextToAudio, false);
    let bytes = read_media(media).expect("reads the media");
    let length = bytes.len();
    assert!(length > 200);
    let uri = format!("/api/v1/media/text_to_audio/{}/response1", sample.id);

    let reply = get_range(&test.router, &uri, "bytes=10-99").await;
    assert_eq!(reply.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(reply.body.as_ref(), &bytes[10..100]);
    assert_eq!(
        reply.header("content-range"),
        format!("bytes 10-99/{length}")
    );
    assert_eq!(reply.header("content-length"), "90");
    assert_eq!(reply.header("content-type"), "audio/wav");
    assert_eq!(reply.header("accept-ranges"), "bytes");

    let reply = get_range(&test.router, &uri, "bytes=-100").await;
    assert_eq!(reply.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(reply.body.as_ref(), &bytes[length - 100..]);
    assert_eq!(
        reply.header("content-range"),
        format!("bytes {}-{}/{length}", length - 100, length - 1)
    );

    let reply = get_range(&test.router, &uri, "bytes=100-").await;
    assert_eq!(reply.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(reply.body.as_ref(), &bytes[100..]);

    let reply = get_range(&test.router, &uri, &format!("bytes={length}-")).await;
    assert_eq!(reply.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(reply.header("content-range"), format!("bytes */{length}"));
    assert_eq!(reply.header("accept-ranges"), "bytes");
    assert_eq!(
        reply.json(),
        json!({"error": {
            "code": "range_not_satisfiable",
            "message": format!("the requested range is outside the {length} bytes of the resource")
        }})
    );

    // Several ranges are not served as multipart: the whole item comes back.
    let reply = get_range(&test.router, &uri, "bytes=0-1,5-6").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body.len(), length);
}

#[tokio::test]
async fn paper_reported_runs_show_their_reported_scores() {
    let test = test_app().await;
    let rows = get(&test.router, "/api/v1/leaderboard").await.json();
    let run = row(rows["rows"].as_array().expect("rows"), "GPT-4o")["run"].clone();
    let reply = get(&test.router, &format!("/api/v1/runs/{run}")).await;
    assert_eq!(reply.status, StatusCode::OK);
    let body = reply.json();
    assert_eq!(body["id"], run);
    assert_eq!(body["model"]["name"], "GPT-4o");
    // The model's real kind; that the numbers are the paper's is the provenance.
    assert_eq!(body["model"]["kind"], "api_judge");
    assert_eq!(body["provenance"], "paper_reported");
    assert_eq!(body["status"], "finished");
    assert_eq!(body["benchmark"], Value::Null);
    assert_eq!(body["scorecard"], Value::Null);
    assert_eq!(
        body["configuration"]["source"],
        paper_results::PAPER_RESULTS_SOURCE
    );
    assert!(body["finished_at_ms"].is_i64());
    let with_ties = &body["reported_scores"]["with_ties"];
    assert!(close(&with_ties["overall"], 0.6462), "{with_ties}");
    assert!(
        close(&with_ties["tasks"]["text_to_3D"], 0.7086),
        "{with_ties}"
    );
    assert!(close(
        &body["reported_scores"]["without_ties"]["overall"],
        0.7313
    ));

    for missing in ["999999", "not-a-number"] {
        let reply = get(&test.router, &format!("/api/v1/runs/{missing}")).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND);
        assert_eq!(
            reply.json(),
            json!({"error": {"code": "not_found", "message": format!("run {missing} does not exist")}})
        );
    }
}

fn judgement(
    sample_id: &str,
    setting: Setting,
    order: Order,
    verdict: Option<Verdict>,
) -> Judgement {
    Judgement {
        task: Task::TextToText,
        sample_id: sample_id.to_owned(),
        setting,
        order,
        raw_output: Some(format!("verdict {verdict:?}")),
        rewards: None,
        verdict,
        label: Label::Response1,
        attempts: Some(1),
        input_tokens: Some(100),
        output_tokens: Some(10),
        latency_ms: Some(5),
    }
}

#[tokio::test]
async fn sample_judgements_include_runs_over_some_of_the_tasks() {
    let test = test_app().await;
    let t2t = test
        .benchmark
        .samples
        .iter()
        .find(|sample| sample.task == Task::TextToText)
        .expect("a T2T sample")
        .clone();
    // Three runs judged this sample: one over the whole served benchmark, one over its T2T
    // task alone (stored under a benchmark of its own), and one over another benchmark whose
    // sample of the same id has other content, which must not be listed.
    let mut restricted = (*test.benchmark).clone();
    restricted
        .samples
        .retain(|sample| sample.task == Task::TextToText);
    restricted.identity.hash = omnireward::data::content_hash(&restricted.samples);
    let mut other = restricted.clone();
    for sample in &mut other.samples {
        sample.criterion = format!("{} (another benchmark)", sample.criterion);
    }
    other.identity.hash = omnireward::data::content_hash(&other.samples);
    for (name, benchmark) in [
        ("whole benchmark", &*test.benchmark),
        ("T2T only", &restricted),
        ("other benchmark", &other),
    ] {
        let benchmark_id = omnireward::evaluation::runs::record_benchmark(&test.storage, benchmark)
            .await
            .expect("records the benchmark");
        let model = test
            .storage
            .upsert_model(&NewModel::named(name, ModelKind::ApiJudge))
            .await
            .expect("stores the model");
        let run = test
            .storage
            .create_run(&NewRun {
                model,
                benchmark: Some(benchmark_id),
                status: RunStatus::Finished,
                provenance: Provenance::Evaluated,
                configuration: json!({}),
            })
            .await
            .expect("creates the run");
        let mut item = judgement(
            &t2t.id,
            Setting::WithTies,
            Order::Original,
            Some(Verdict::Response1),
        );
        item.label = t2t.label;
        test.storage
            .record_judgements(run, &[item])
            .await
            .expect("stores");
    }
    let reply = get(
        &test.router,
        &format!("/api/v1/samples/text_to_text/{}/judgements", t2t.id),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let models: Vec<String> = reply
        .json()
        .as_array()
        .expect("a list")
        .iter()
        .map(|answer| answer["model"].as_str().expect("a name").to_owned())
        .collect();
    assert_eq!(models, ["T2T only", "whole benchmark"]);
}

#[tokio::test]
async fn scalar_items_with_ties_carry_the_verdict_their_scorecard_counts() {
    let test = test_app().await;
    let model = test
        .storage
        .upsert_model(&NewModel::named(
            "reward model",
            ModelKind::ScalarRewardModel,
        ))
        .await
        .expect("stores the model");
    let run = test
        .storage
        .create_run(&NewRun {
            model,
            benchmark: None,
            status: RunStatus::Running,
            provenance: Provenance::Evaluated,
            configuration: json!({}),
        })
        .await
        .expect("creates the run");
    // Margins 1.0, -0.5, 0.05 (a tie), 0.02 (a tie), -0.2 (labelled response1: wrong at any
    // threshold under 0.2) and 0.0 (labelled response1).
    let items = [
        (1.0, Label::Response1),
        (-0.5, Label::Response2),
        (0.05, Label::Tie),
        (0.02, Label::Tie),
        (-0.2, Label::Response1),
        (0.0, Label::Response1),
    ];
    let mut judgements = Vec::new();
    for (index, (margin, label)) in items.into_iter().enumerate() {
        for setting in Setting::ALL {
            if !setting.includes(label) {
                continue;
            }
            let mut item = judgement(&format!("t2t-{index}"), setting, Order::Original, None);
            item.raw_output = None;
            item.label = label;
            item.rewards = Some(omnireward_shared::Rewards {
                response1: margin,
                response2: 0.0,
            });
            item.verdict = match setting {
                Setting::WithoutTies if margin > 0.0 => Some(Verdict::Response1),
                Setting::WithoutTies if margin < 0.0 => Some(Verdict::Response2),
                _ => None,
            };
            judgements.push(item);
        }
    }
    test.storage
        .record_judgements(run, &judgements)
        .await
        .expect("stores");
    let scorecard = Scorecard {
        model: "reward model".to_owned(),
        benchmark: test.benchmark.identity.clone(),
        settings: score_judgements(
            &judgements,
            ScalarTiePolicy::Sweep,
            BootstrapConfig::default(),
        ),
    };
    test.storage
        .store_scorecard(run, &scorecard)
        .await
        .expect("stores the scorecard");
    let with_ties = &scorecard.settings[&Setting::WithTies].tasks[&Task::TextToText];

    let base = format!("/api/v1/runs/{}/judgements?setting=with_ties", run.0);
    let listed = get(&test.router, &base).await.json();
    let items = listed["items"].as_array().expect("items");
    assert_eq!(items.len(), 6);
    for item in items {
        assert!(!item["verdict"].is_null(), "{item}");
        assert_eq!(item["tie_rule"]["kind"], "sweep", "{item}");
        assert_eq!(
            item["correct"],
            json!(item["verdict"] == item["label"]),
            "{item}"
        );
    }
    let correct = items.iter().filter(|item| item["correct"] == true).count();
    assert_eq!(
        correct, with_ties.correct,
        "the listing agrees with the scorecard"
    );
    // The Outcome and Verdict filters count what the scorecard counts.
    let right = get(&test.router, &format!("{base}&correct=true"))
        .await
        .json();
    assert_eq!(right["total"], json!(with_ties.correct));
    let ties = get(&test.router, &format!("{base}&verdict=tie"))
        .await
        .json();
    assert!(ties["total"].as_u64().expect("a count") >= 2, "{ties}");
    let unparseable = get(&test.router, &format!("{base}&verdict=unparseable"))
        .await
        .json();
    assert_eq!(unparseable["total"], json!(0));
}

/// An evaluated run of an API judge with five judgements, two of them wrong.
async fn evaluated_run(storage: &Storage) -> (i64, RunId) {
    let model = storage
        .upsert_model(&NewModel::named("judge-under-test", ModelKind::ApiJudge))
        .await
        .expect("stores the model");
    let run = storage
        .create_run(&NewRun {
            model,
            benchmark: None,
            status: RunStatus::Finished,
            provenance: Provenance::Evaluated,
            configuration: json!({"temperature": 0.0}),
        })
        .await
        .expect("creates the run");
    let judgements = [
        judgement(
            "a",
            Setting::WithTies,
            Order::Original,
            Some(Verdict::Response1),
        ),
        judgement(
            "a",
            Setting::WithTies,
            Order::Swapped,
            Some(Verdict::Response2),
        ),
        judgement(
            "a",
            Setting::WithoutTies,
            Order::Original,
            Some(Verdict::Response1),
        ),
        judgement("b", Setting::WithTies, Order::Original, None),
        judgement(
            "c",
            Setting::WithTies,
            Order::Original,
            Some(Verdict::Response1),
        ),
    ];
    storage
        .record_judgements(run, &judgements)
        .await
        .expect("records");
    (model.0, run)
}

#[tokio::test]
async fn judgements_are_filtered_and_paginated() {
    let test = test_app().await;
    let (_, run) = evaluated_run(&test.storage).await;
    let base = format!("/api/v1/runs/{}/judgements", run.0);

    let page = get(&test.router, &format!("{base}?page=2&per_page=2"))
        .await
        .json();
    let item = |sample_id: &str, setting: &str, order: &str, verdict: Option<Verdict>| {
        json!({
            "task": "text_to_text", "sample_id": sample_id, "setting": setting, "order": order,
            "raw_output": format!("verdict {verdict:?}"), "verdict": verdict,
            "label": "response1", "attempts": 1, "input_tokens": 100, "output_tokens": 10,
            "latency_ms": 5, "correct": verdict == Some(Verdict::Response1),
        })
    };
    // Ordered by task, sample id, setting (w/ Ties first) and order.
    assert_eq!(
        page,
        json!({
            "page": 2, "per_page": 2, "total": 5,
            "items": [
                item("a", "without_ties", "original", Some(Verdict::Response1)),
                item("b", "with_ties", "original", None),
            ]
        })
    );

    let count = |query: &str| {
        let uri = format!("{base}?{query}");
        let router = test.router.clone();
        async move {
            let body = get(&router, &uri).await.json();
            body["total"].as_u64().expect("total")
        }
    };
    assert_eq!(count("correct=false").await, 2);
    assert_eq!(count("correct=true&setting=with_ties").await, 2);
    assert_eq!(count("order=swapped").await, 1);
    assert_eq!(count("task=T2T&setting=without_ties").await, 1);
    assert_eq!(count("task=text_to_image").await, 0);
    assert_eq!(count("verdict=unparseable").await, 1);
    assert_eq!(count("verdict=response1").await, 3);
    assert_eq!(
        count("verdict=tie&task=T2T").await,
        5 - 3 - 1 - count("verdict=response2").await
    );
    let reply = get(&test.router, &format!("{base}?verdict=maybe")).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);

    let reply = get(&test.router, &format!("{base}?correct=maybe")).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        reply.json()["error"]["message"],
        "invalid value `maybe` for parameter `correct`: expected one of true, false"
    );
    let reply = get(&test.router, "/api/v1/runs/999999/judgements").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn models_list_their_runs() {
    let test = test_app().await;
    let (model, run) = evaluated_run(&test.storage).await;
    let reply = get(&test.router, &format!("/api/v1/models/{model}")).await;
    assert_eq!(reply.status, StatusCode::OK);
    let body = reply.json();
    assert_eq!(body["name"], "judge-under-test");
    assert_eq!(body["kind"], "api_judge");
    let runs = body["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["id"], run.0);
    assert_eq!(runs[0]["provenance"], "evaluated");
    assert_eq!(runs[0]["configuration"], json!({"temperature": 0.0}));
    assert_eq!(runs[0]["scorecard"], Value::Null);

    let reply = get(&test.router, "/api/v1/models/999999").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(
        reply.json(),
        json!({"error": {"code": "not_found", "message": "model 999999 does not exist"}})
    );
}

#[tokio::test]
async fn request_ids_are_set_or_kept_and_echoed() {
    let test = test_app().await;
    let generated = get(&test.router, "/api/v1/tasks").await;
    assert!(!generated.header("x-request-id").is_empty());
    let other = get(&test.router, "/api/v1/nothing").await;
    assert_ne!(
        other.header("x-request-id"),
        generated.header("x-request-id")
    );
    let request = Request::get("/api/v1/tasks")
        .header("x-request-id", "client-chosen-42")
        .body(Body::empty())
        .expect("request");
    let kept = send(&test.router, request).await;
    assert_eq!(kept.header("x-request-id"), "client-chosen-42");
}

#[tokio::test]
async fn oversized_request_bodies_are_refused() {
    let test = test_app().await;
    let body = vec![b'x'; 2 * 1024 * 1024];
    let request = Request::builder()
        .method(Method::GET)
        .uri("/api/v1/tasks")
        .header(header::CONTENT_LENGTH, body.len())
        .body(Body::from(body))
        .expect("request");
    let reply = send(&test.router, request).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
}

/// A run of `model` with a scorecard over T2T and T2I (some judgements wrong), moved to
/// `status`, written through `storage` (any handle on the database file).
async fn scored_run(storage: &Storage, model: &NewModel, status: RunStatus) -> (i64, RunId) {
    let model_id = storage.upsert_model(model).await.expect("stores the model");
    let run = storage
        .create_run(&NewRun {
            model: model_id,
            benchmark: None,
            status: RunStatus::Running,
            provenance: Provenance::Evaluated,
            configuration: json!({}),
        })
        .await
        .expect("creates the run");
    let mut judgements = Vec::new();
    for (task, wrong) in [(Task::TextToText, 1), (Task::TextToImage, 3)] {
        for index in 0..8 {
            for setting in Setting::ALL {
                let mut item = judgement(
                    &format!("{}-{index}", task.short_name()),
                    setting,
                    Order::Original,
                    Some(if index < wrong {
                        Verdict::Response2
                    } else {
                        Verdict::Response1
                    }),
                );
                item.task = task;
                judgements.push(item);
            }
        }
    }
    let scorecard = Scorecard {
        model: model.name.clone(),
        benchmark: BenchmarkIdentity {
            name: "omni-rewardbench-sample".to_owned(),
            version: "1".to_owned(),
            hash: "ab12".to_owned(),
        },
        settings: score_judgements(
            &judgements,
            ScalarTiePolicy::Sweep,
            BootstrapConfig::default(),
        ),
    };
    storage
        .store_scorecard(run, &scorecard)
        .await
        .expect("stores the scorecard");
    storage.set_run_status(run, status).await.expect("status");
    (model_id.0, run)
}

#[tokio::test]
async fn leaderboard_rows_show_metadata_modalities_intervals_and_verification() {
    let test = test_app().await;
    let (model, run) = scored_run(
        &test.storage,
        &NewModel {
            parameters: Some("7B".to_owned()),
            licence: Some("apache-2.0".to_owned()),
            open_weights: Some(true),
            ..NewModel::named("judge-under-test", ModelKind::ApiJudge)
        },
        RunStatus::Finished,
    )
    .await;
    let body = get(&test.router, "/api/v1/leaderboard").await.json();
    // The served sample now has an evaluated row: it is ranked alone, without the paper's rows
    // (measured on the release), which stay one `benchmark=` away.
    assert_eq!(body["benchmark"], "omni-rewardbench-sample");
    let rows = body["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 1);
    let release = get(
        &test.router,
        "/api/v1/leaderboard?benchmark=omni-rewardbench",
    )
    .await
    .json();
    let release_rows = release["rows"].as_array().expect("rows");
    assert_eq!(release_rows.len(), 37);
    let evaluated = row(rows, "judge-under-test");
    assert_eq!(evaluated["run"], run.0);
    assert_eq!(evaluated["model_id"], model);
    assert_eq!(evaluated["kind"], "api_judge");
    assert_eq!(evaluated["provenance"], "evaluated");
    assert_eq!(evaluated["verified"], true);
    assert_eq!(evaluated["parameters"], "7B");
    assert_eq!(evaluated["licence"], "apache-2.0");
    assert_eq!(evaluated["open_weights"], true);
    assert_eq!(evaluated["benchmark"], "omni-rewardbench-sample 1");
    assert_eq!(evaluated["tasks_covered"], 2);
    assert!(close(&evaluated["tasks"]["text_to_text"], 7.0 / 8.0));
    assert!(close(&evaluated["tasks"]["text_to_image"], 5.0 / 8.0));
    assert!(close(&evaluated["modalities"]["text"], 7.0 / 8.0));
    assert!(close(&evaluated["modalities"]["image"], 5.0 / 8.0));
    assert!(close(&evaluated["overall"], 0.75));
    let intervals = &evaluated["intervals"];
    for interval in [
        &intervals["overall"],
        &intervals["tasks"]["text_to_text"],
        &intervals["tasks"]["text_to_image"],
        &intervals["modalities"]["text"],
        &intervals["modalities"]["image"],
    ] {
        let bounds: Vec<f64> = interval
            .as_array()
            .expect("[low, high]")
            .iter()
            .map(|bound| bound.as_f64().expect("number"))
            .collect();
        assert!(
            bounds.len() == 2 && 0.0 <= bounds[0] && bounds[0] <= bounds[1] && bounds[1] <= 1.0,
            "{interval}"
        );
    }
    let overall = evaluated["overall"].as_f64().expect("overall");
    assert!(intervals["overall"][0].as_f64() <= Some(overall));
    assert!(intervals["overall"][1].as_f64() >= Some(overall));

    let paper = row(release_rows, "GPT-4o");
    assert_eq!(paper["verified"], false);
    assert_eq!(paper["intervals"], Value::Null);
    // Proprietary: no published size, closed weights.
    assert_eq!(paper["parameters"], Value::Null);
    assert_eq!(paper["open_weights"], false);
    assert!(close(
        &paper["modalities"]["audio"],
        (0.6275 + 0.4453) / 2.0
    ));
    assert!(close(&paper["modalities"]["3d"], 0.7086));

    let image = get(
        &test.router,
        "/api/v1/leaderboard?modality=image&type=api_judge",
    )
    .await
    .json();
    let rows = image["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 1);
    assert!(close(&rows[0]["modality_score"], 5.0 / 8.0));
    assert_eq!(rows[0]["modality_tasks_covered"], 1);
}

#[tokio::test]
async fn a_run_finished_by_another_process_shows_on_the_next_leaderboard_request() {
    let test = test_app().await;
    let count = |uri: &'static str| {
        let router = test.router.clone();
        async move {
            get(&router, uri).await.json()["rows"]
                .as_array()
                .expect("rows")
                .len()
        }
    };
    let csv_lines = || {
        let router = test.router.clone();
        async move {
            let reply = get(&router, "/api/v1/leaderboard.csv").await;
            String::from_utf8(reply.body.to_vec())
                .expect("UTF-8")
                .lines()
                .count()
        }
    };
    // Fill the cache: every view, both formats.
    assert_eq!(count("/api/v1/leaderboard").await, 37);
    // The paper's six proprietary judges.
    assert_eq!(count("/api/v1/leaderboard?type=api_judge").await, 6);
    assert_eq!(count("/api/v1/leaderboard?modality=text").await, 37);
    assert_eq!(csv_lines().await, 38);

    // Another handle on the file, as a worker or `eval` process would write it.
    let other = Storage::connect(test.storage.location())
        .await
        .expect("opens the file again");
    let (_, run) = scored_run(
        &other,
        &NewModel::named("judge-under-test", ModelKind::ApiJudge),
        RunStatus::Running,
    )
    .await;
    assert_eq!(count("/api/v1/leaderboard?type=api_judge").await, 6);

    other
        .set_run_status(run, RunStatus::Finished)
        .await
        .expect("finishes");
    assert_eq!(count("/api/v1/leaderboard?type=api_judge").await, 1);
    // The served sample has an evaluated row now: the default view ranks it alone.
    assert_eq!(count("/api/v1/leaderboard").await, 1);
    assert_eq!(count("/api/v1/leaderboard?modality=text").await, 1);
    assert_eq!(csv_lines().await, 2);
    assert_eq!(
        count("/api/v1/leaderboard?benchmark=omni-rewardbench").await,
        37
    );

    // Resumed: no longer finished, no longer shown.
    other
        .set_run_status(run, RunStatus::Running)
        .await
        .expect("resumes");
    assert_eq!(count("/api/v1/leaderboard?type=api_judge").await, 6);
    assert_eq!(count("/api/v1/leaderboard").await, 37);

    // The server without the cache serves the same documents.
    other
        .set_run_status(run, RunStatus::Finished)
        .await
        .expect("finishes");
    let uncached = app(
        AppState::new(test.storage.clone(), Arc::clone(&test.benchmark))
            .without_leaderboard_cache(),
    );
    for uri in [
        "/api/v1/leaderboard",
        "/api/v1/leaderboard?setting=without_ties&modality=image",
        "/api/v1/leaderboard.csv?type=api_judge",
    ] {
        assert_eq!(
            get(&uncached, uri).await.body,
            get(&test.router, uri).await.body,
            "{uri}"
        );
    }
}

#[tokio::test]
async fn leaderboard_responses_revalidate_with_their_entity_tag() {
    let test = test_app().await;
    let conditional = |uri: &str, etag: &str| {
        Request::get(uri)
            .header(header::IF_NONE_MATCH, etag)
            .body(Body::empty())
            .expect("request")
    };
    for uri in ["/api/v1/leaderboard", "/api/v1/leaderboard.csv?modality=3d"] {
        let first = get(&test.router, uri).await;
        assert_eq!(first.status, StatusCode::OK);
        assert_eq!(first.header("cache-control"), "no-cache");
        let etag = first.header("etag").to_owned();
        assert!(etag.starts_with('"') && etag.len() == 34, "{etag}");
        assert_eq!(get(&test.router, uri).await.header("etag"), etag);

        let unchanged = send(&test.router, conditional(uri, &etag)).await;
        assert_eq!(unchanged.status, StatusCode::NOT_MODIFIED, "{uri}");
        assert!(unchanged.body.is_empty());
        assert_eq!(unchanged.header("etag"), etag);
        let listed = send(
            &test.router,
            conditional(uri, &format!("\"other\", W/{etag}")),
        )
        .await;
        assert_eq!(listed.status, StatusCode::NOT_MODIFIED, "{uri}");
        let other = send(&test.router, conditional(uri, "\"other\"")).await;
        assert_eq!(other.status, StatusCode::OK);
        assert_eq!(other.body, first.body);
    }

    let etag = get(&test.router, "/api/v1/leaderboard")
        .await
        .header("etag")
        .to_owned();
    scored_run(
        &test.storage,
        &NewModel::named("judge-under-test", ModelKind::ApiJudge),
        RunStatus::Finished,
    )
    .await;
    let changed = send(&test.router, conditional("/api/v1/leaderboard", &etag)).await;
    assert_eq!(changed.status, StatusCode::OK);
    assert_ne!(changed.header("etag"), etag);
    // The served sample's first evaluated row makes it the default benchmark.
    assert_eq!(changed.json()["rows"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn compare_pairs_two_runs_and_refuses_runs_without_judgements() {
    use omnireward::evaluation::baseline::{self, BaselineKind};

    let app = TestApp::start(true, |state, _| state).await;
    let (_, always_a) = crate::support::evaluated_runs::finished_run(
        &app.storage,
        &app.benchmark,
        "always A",
        |sample, setting| baseline::judge(BaselineKind::AlwaysA, 0, sample, setting),
    )
    .await;
    let (_, random) = crate::support::evaluated_runs::finished_run(
        &app.storage,
        &app.benchmark,
        "random",
        |sample, setting| baseline::judge(BaselineKind::Random, 3, sample, setting),
    )
    .await;
    let reply = get(
        &app.router,
        &format!("/api/v1/compare?runs={},{}", always_a.0, random.0),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let document = reply.json();
    assert_eq!(document["first"]["run"], always_a.0);
    assert_eq!(document["second"]["model"], "random");
    for setting in ["with_ties", "without_ties"] {
        let comparison = &document["settings"][setting];
        assert_eq!(
            comparison["tasks"].as_object().map(|tasks| tasks.len()),
            Some(9)
        );
        let overall = &comparison["overall"];
        let difference = overall["difference"].as_f64().expect("difference");
        let first = overall["first_accuracy"].as_f64().expect("accuracy");
        let second = overall["second_accuracy"].as_f64().expect("accuracy");
        assert!((difference - (first - second)).abs() < 1e-12);
        assert!(overall["mcnemar_p"].as_f64().is_some());
    }

    // On the leaderboard, the better of the two rows carries its paired test against the other
    // (the paper's rows are on another benchmark and keep the interval rule).
    let rows = get(
        &app.router,
        "/api/v1/leaderboard?benchmark=omni-rewardbench-sample",
    )
    .await
    .json();
    let rows = rows["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 2);
    let test = &rows[0]["paired_with_next"];
    assert_eq!(test["next_run"], rows[1]["run"], "{test}");
    let holm = test["holm_p"].as_f64().expect("holm p");
    assert_eq!(test["distinguishable"].as_bool(), Some(holm <= 0.05));
    assert!(rows[1].get("paired_with_next").is_none());

    // The paper's rows have no per-item judgements; a malformed pair is a bad parameter.
    let paper_run = 1;
    let reply = get(
        &app.router,
        &format!("/api/v1/compare?runs={},{paper_run}", always_a.0),
    )
    .await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.text()
    );
    assert!(
        reply
            .text()
            .contains(&format!("run {paper_run} has no per-item judgements"))
    );
    let reply = get(&app.router, "/api/v1/compare?runs=3").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let reply = get(&app.router, "/api/v1/compare?runs=1,999").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
}
