//! The compare view (`/compare`, issue 20, addition 9) and the leaderboard's n column and
//! compare selection (addition 10), on the in-process router.

use axum::Router;
use axum::http::StatusCode;
use omnireward::http::{AppState, app};
use omnireward::storage::{ModelKind, Storage};
use omnireward_frontend::data::Page;
use omnireward_shared::{Judgement, Order, Preference, Setting};
use tempfile::TempDir;

use crate::support;
use crate::web_pages::{finish_always_a, finish_evaluation, get};

/// A judgement of `sample` in `setting` with `verdict`.
pub(crate) fn judged(
    sample: &omnireward_shared::sample::Sample,
    setting: Setting,
    verdict: Preference,
) -> Judgement {
    Judgement {
        task: sample.task,
        sample_id: sample.id.clone(),
        setting,
        order: Order::Original,
        raw_output: None,
        rewards: None,
        verdict: Some(verdict),
        label: sample.label,
        attempts: None,
        input_tokens: None,
        output_tokens: None,
        latency_ms: None,
    }
}

/// The paper's rows, and two evaluated runs on the served sample: "always A" and a judge that
/// is right on every pair (`oracle`).
pub(crate) async fn two_evaluated(folder: &TempDir) -> (Storage, Router) {
    let (storage, benchmark) = support::paper_site::paper_database(folder.path()).await;
    finish_always_a(&storage, &benchmark).await;
    finish_evaluation(
        &storage,
        &benchmark,
        "oracle",
        ModelKind::ApiJudge,
        &|sample, setting| judged(sample, setting, sample.label),
    )
    .await;
    let router = app(AppState::new(storage.clone(), benchmark));
    (storage, router)
}

fn compare_page(reply: &crate::support::test_app::Reply) -> omnireward_frontend::data::ComparePage {
    match reply.page() {
        Page::Compare(page) => page,
        other => panic!("not the compare page: {other:?}"),
    }
}

#[tokio::test]
async fn the_leaderboard_gives_each_row_its_items_and_a_compare_selection() {
    let folder = TempDir::new().expect("temporary folder");
    let (_storage, router) = two_evaluated(&folder).await;
    let reply = get(&router, "/?benchmark=omni-rewardbench").await;
    let Page::Leaderboard(page) = reply.page() else {
        panic!("not the leaderboard");
    };
    // Paper rows: the release's pairs of the tasks the paper scored.
    let full = |rows: &[omnireward_frontend::data::LeaderboardRow]| {
        rows.iter()
            .find(|row| row.model == "GPT-4o")
            .and_then(|row| row.items)
    };
    assert_eq!(full(&page.with_ties), Some(3725));
    assert_eq!(full(&page.without_ties), Some(3284));
    let partial = page
        .with_ties
        .iter()
        .find(|row| row.tasks_covered < 9)
        .expect("a paper row of fewer tasks");
    assert!(partial.items.expect("counted") < 3725);
    assert!(reply.text().contains(r#"class="items">n</th>"#));
    assert!(
        reply
            .text()
            .contains(r#"title="Items the row's numbers count"#)
    );
    assert!(reply.text().contains(">3725</td>"));
    // Every row can be ticked for the compare view, whose form is a plain GET to /compare.
    let form = reply.text();
    let form = &form[form.find(r#"id="compare-form""#).expect("the compare form")..];
    let form = &form[..form.find("</form>").expect("form end")];
    assert!(form.contains(r#"method="get""#) && form.contains(r#"action="/compare""#));
    assert!(form.contains(r#"name="benchmark" value="omni-rewardbench""#));
    assert_eq!(
        reply.text().matches(r#"form="compare-form""#).count(),
        page.with_ties.len()
    );

    // Evaluated rows: the items their scorecard scored.
    let Page::Leaderboard(sample) = get(&router, "/").await.page() else {
        panic!("not the leaderboard");
    };
    let served = omnireward::data::embedded::load(
        &folder.path().join("cache"),
        &omnireward::data::LoadOptions::default(),
    )
    .expect("loads");
    let non_tie = served
        .samples
        .iter()
        .filter(|sample| sample.label != Preference::Tie)
        .count();
    for row in &sample.with_ties {
        assert_eq!(row.items, Some(served.samples.len()), "{}", row.model);
    }
    for row in &sample.without_ties {
        assert_eq!(row.items, Some(non_tie), "{}", row.model);
    }
}

#[tokio::test]
async fn the_compare_view_pairs_models_with_outputs_and_says_when_only_paper_numbers_exist() {
    let folder = TempDir::new().expect("temporary folder");
    let (_storage, router) = two_evaluated(&folder).await;
    let Page::Leaderboard(board) = get(&router, "/").await.page() else {
        panic!("not the leaderboard");
    };
    let id = |name: &str| {
        board
            .with_ties
            .iter()
            .find(|row| row.model == name)
            .map(|row| (row.model_id, row.run))
            .expect("a row")
    };
    let ((oracle, oracle_run), (always_a, always_a_run)) = (id("oracle"), id("always A"));

    // Repeated `models` (the form's checkboxes) work without any script.
    let reply = get(
        &router,
        &format!("/compare?models={oracle}&models={always_a}"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(!reply.text().contains("omnireward_frontend.js"));
    let page = compare_page(&reply);
    assert_eq!(page.benchmark, "omni-rewardbench-sample");
    assert_eq!(
        page.picked
            .iter()
            .map(|model| model.model.as_str())
            .collect::<Vec<_>>(),
        ["oracle", "always A"]
    );
    assert_eq!(page.differences.len(), 2, "one pair in each setting");
    // The page's statistics are the API's `GET /compare` ones.
    let api = crate::support::test_app::send(
        &router,
        axum::http::Request::get(format!("/api/v1/compare?runs={oracle_run},{always_a_run}"))
            .body(axum::body::Body::empty())
            .expect("request"),
    )
    .await;
    let api: serde_json::Value = serde_json::from_str(&api.text()).expect("JSON");
    for difference in &page.differences {
        let paired = difference
            .paired
            .as_ref()
            .expect("both have per-item outputs");
        let overall = &api["settings"][difference.setting.key()]["overall"];
        assert_eq!(
            paired.items as u64,
            overall["items"].as_u64().expect("items")
        );
        assert!(
            (paired.difference - overall["difference"].as_f64().expect("difference")).abs() < 1e-12
        );
        assert!((paired.mcnemar_p - overall["mcnemar_p"].as_f64().expect("p")).abs() < 1e-12);
        assert_eq!(paired.first_accuracy, 1.0, "the oracle is always right");
        // One test per setting: Holm leaves it as it is.
        assert_eq!(difference.holm_p, Some(paired.mcnemar_p));
    }
    let text = reply.text();
    assert!(text.contains(r#"id="differences""#));
    assert!(text.contains("McNemar p") && text.contains("Holm p"));
    let titles: Vec<&str> = page
        .charts
        .iter()
        .map(|chart| chart.title.as_str())
        .collect();
    for title in [
        "Accuracy per task, with ties",
        "Accuracy per task, without ties",
        "Overall with ties against size (the whole board)",
        "Without ties against with ties (the whole board)",
    ] {
        assert!(titles.contains(&title), "{title} in {titles:?}");
    }
    // The comma form of the URL is the same view.
    let listed = compare_page(&get(&router, &format!("/compare?models={oracle},{always_a}")).await);
    assert_eq!(listed.picked, page.picked);

    // Paper rows: their reported numbers, and no statistics they cannot have.
    let Page::Leaderboard(release) = get(&router, "/?benchmark=omni-rewardbench").await.page()
    else {
        panic!("not the leaderboard");
    };
    let [first, second, third, fourth, fifth] =
        [0, 1, 2, 3, 4].map(|index| release.with_ties[index].model_id);
    let reply = get(
        &router,
        &format!("/compare?benchmark=omni-rewardbench&models={first},{second}"),
    )
    .await;
    let page = compare_page(&reply);
    assert_eq!(page.benchmark, "omni-rewardbench");
    assert!(
        page.differences
            .iter()
            .all(|difference| difference.paired.is_none()
                && difference.unpaired.as_deref()
                    == Some("no per-item outputs: paper-reported numbers only"))
    );
    assert!(
        reply
            .text()
            .contains("no per-item outputs: paper-reported numbers only")
    );
    let reported = &page.differences[0];
    assert_eq!(reported.first_overall, release.with_ties[0].overall);
    assert!(reply.text().contains(&format!(
        "{:+.2}",
        (reported.first_overall.expect("reported") - reported.second_overall.expect("reported"))
            * 100.0
    )));
    // Radar and bars overlay the paper's numbers too.
    assert!(
        page.charts
            .iter()
            .any(|chart| chart.title == "Accuracy per modality, with ties")
    );
    // The picked models are named in the board's scatter, the others are not.
    let scatter = page
        .charts
        .iter()
        .find(|chart| chart.title.starts_with("Without ties against with ties"))
        .expect("scatter");
    assert!(scatter.description.contains(&release.with_ties[0].model));
    assert!(
        !scatter
            .description
            .contains(&format!("{}:", release.with_ties[4].model))
    );

    // Five models: the first four, and a notice.
    let page = compare_page(
        &get(
            &router,
            &format!(
                "/compare?benchmark=omni-rewardbench&models={first},{second},{third},{fourth},{fifth}"
            ),
        )
        .await,
    );
    assert_eq!(page.picked.len(), 4);
    assert!(
        page.notice
            .as_deref()
            .is_some_and(|notice| notice.contains("At most 4"))
    );
    assert_eq!(page.differences.len(), 12, "six pairs in each setting");
    // A model of another benchmark is not mixed in.
    let page = compare_page(&get(&router, &format!("/compare?models={oracle},{first}")).await);
    assert_eq!(page.picked.len(), 1);
    assert!(
        page.notice
            .as_deref()
            .is_some_and(|notice| notice.contains("has no row on"))
    );
    // Nothing picked: the form and the board's charts.
    let reply = get(&router, "/compare").await;
    let page = compare_page(&reply);
    assert!(page.picked.is_empty() && page.choices.len() == 2);
    assert!(reply.text().contains(r#"id="compare-empty""#));
}

#[tokio::test]
async fn holm_corrects_the_tests_of_a_setting_together() {
    let folder = TempDir::new().expect("temporary folder");
    let (storage, benchmark) = support::paper_site::paper_database(folder.path()).await;
    finish_always_a(&storage, &benchmark).await;
    finish_evaluation(
        &storage,
        &benchmark,
        "oracle",
        ModelKind::ApiJudge,
        &|sample, setting| judged(sample, setting, sample.label),
    )
    .await;
    finish_evaluation(
        &storage,
        &benchmark,
        "always B",
        ModelKind::Baseline,
        &|sample, setting| judged(sample, setting, Preference::Response2),
    )
    .await;
    let router = app(AppState::new(storage, benchmark));
    let Page::Leaderboard(board) = get(&router, "/").await.page() else {
        panic!("not the leaderboard");
    };
    let ids: Vec<String> = board
        .with_ties
        .iter()
        .map(|row| row.model_id.to_string())
        .collect();
    let page = compare_page(&get(&router, &format!("/compare?models={}", ids.join(","))).await);
    for setting in Setting::ALL {
        let tests: Vec<&omnireward_frontend::data::PairDifference> = page
            .differences
            .iter()
            .filter(|difference| difference.setting == setting)
            .collect();
        assert_eq!(tests.len(), 3);
        let raw: Vec<f64> = tests
            .iter()
            .map(|difference| difference.paired.as_ref().expect("paired").mcnemar_p)
            .collect();
        let adjusted = omnireward_shared::paired::holm_adjusted(&raw);
        for (difference, holm) in tests.iter().zip(adjusted) {
            assert_eq!(difference.holm_p, Some(holm));
            assert!(holm >= difference.paired.as_ref().expect("paired").mcnemar_p);
        }
    }
}
