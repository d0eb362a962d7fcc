//! End-to-end tests of the `omnireward` binary: each runs the real executable with its own
//! `--home`, so no test touches the user's database or cache.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn omnireward(home: &Path, arguments: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_omnireward"))
        .arg("--home")
        .arg(home)
        .args(arguments)
        .output()
        .expect("the binary runs")
}

fn json_of(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "command failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("stdout is JSON")
}

#[test]
fn inspect_lists_all_nine_tasks_of_the_embedded_sample() {
    let home = tempfile::tempdir().expect("temp dir");
    let report = json_of(&omnireward(home.path(), &["data", "inspect", "--json"]));
    let tasks = report["tasks"].as_object().expect("tasks object");
    assert_eq!(tasks.len(), 9);
    let mut total = 0;
    for (task, counts) in tasks {
        let samples = counts["samples"].as_u64().expect("samples");
        let ties = counts["ties"].as_u64().expect("ties");
        assert!((12..=20).contains(&samples), "{task}: {samples} samples");
        assert!(ties >= 2, "{task}: {ties} ties");
        assert_eq!(counts["non_tie"].as_u64(), Some(samples - ties), "{task}");
        assert_eq!(counts["rows"].as_u64(), Some(samples), "{task}");
        assert_eq!(counts["problems"].as_u64(), Some(0), "{task}");
        assert_eq!(counts["media_missing"].as_u64(), Some(0), "{task}");
        total += samples;
    }
    assert_eq!(report["total"]["samples"].as_u64(), Some(total));
    assert_eq!(report["benchmark"]["name"], "omni-rewardbench-sample");
    assert_eq!(report["layout"], "hugging_face");
    // Every task with media has it present.
    assert!(tasks["text_to_video"]["media_present"].as_u64() > Some(0));
    assert_eq!(tasks["text_to_text"]["media_present"].as_u64(), Some(0));

    // The table form names every task too.
    let table = omnireward(home.path(), &["data", "inspect"]);
    let text = String::from_utf8_lossy(&table.stdout);
    for task in ["text_to_text", "text_to_3D", "T23D", "TI2I", "total"] {
        assert!(text.contains(task), "{task} in {text}");
    }
}

fn judgement(task: &str, id: &str, setting: &str, verdict: Option<&str>, label: &str) -> String {
    serde_json::json!({
        "task": task, "sample_id": id, "setting": setting, "order": "original",
        "raw_output": "…", "verdict": verdict, "label": label,
    })
    .to_string()
}

#[test]
fn rescore_reproduces_hand_computed_scores() {
    let home = tempfile::tempdir().expect("temp dir");
    let file = home.path().join("judge-x.jsonl");
    let lines = [
        // w/ Ties: T2T 2/3 (one unparseable), T2I 1/2, TA2T 0/1.
        judgement(
            "text_to_text",
            "a",
            "with_ties",
            Some("response1"),
            "response1",
        ),
        judgement("text_to_text", "b", "with_ties", Some("tie"), "tie"),
        judgement("text_to_text", "c", "with_ties", None, "response2"),
        judgement(
            "text_to_image",
            "d",
            "with_ties",
            Some("response2"),
            "response2",
        ),
        judgement("text_to_image", "e", "with_ties", Some("tie"), "response1"),
        judgement(
            "text_to_audio",
            "f",
            "with_ties",
            Some("response1"),
            "response2",
        ),
        // w/o Ties: T2T 2/2, T2I 0/1; a swapped-order line does not count.
        judgement(
            "text_to_text",
            "a",
            "without_ties",
            Some("response1"),
            "response1",
        ),
        judgement(
            "text_to_text",
            "c",
            "without_ties",
            Some("response2"),
            "response2",
        ),
        judgement(
            "text_to_image",
            "e",
            "without_ties",
            Some("response2"),
            "response1",
        ),
        serde_json::json!({"task": "text_to_image", "sample_id": "e", "setting": "without_ties",
            "order": "swapped", "verdict": "response1", "label": "response1"})
        .to_string(),
    ];
    std::fs::write(&file, lines.join("\n")).expect("write");
    let scorecard = json_of(&omnireward(
        home.path(),
        &["rescore", file.to_str().expect("utf-8"), "--json"],
    ));
    assert_eq!(scorecard["model"], "judge-x");
    assert_eq!(scorecard["benchmark"]["name"], "unverified");
    let with_ties = &scorecard["settings"]["with_ties"];
    let close =
        |value: &Value, expected: f64| (value.as_f64().expect("number") - expected).abs() < 1e-12;
    assert!(close(
        &with_ties["tasks"]["text_to_text"]["accuracy"],
        2.0 / 3.0
    ));
    assert_eq!(with_ties["tasks"]["text_to_text"]["correct"], 2);
    assert_eq!(with_ties["tasks"]["text_to_text"]["total"], 3);
    assert_eq!(with_ties["tasks"]["text_to_text"]["unparseable"], 1);
    assert!(close(&with_ties["modalities"]["image"]["accuracy"], 0.5));
    assert!(close(&with_ties["modalities"]["audio"]["accuracy"], 0.0));
    assert!(with_ties["modalities"].get("video").is_none());
    assert!(close(
        &with_ties["overall"]["accuracy"],
        (2.0 / 3.0 + 0.5 + 0.0) / 3.0
    ));
    assert_eq!(with_ties["overall"]["tasks_covered"], 3);
    let interval = with_ties["tasks"]["text_to_text"]["ci95"]
        .as_array()
        .expect("ci95");
    assert_eq!(interval.len(), 2);
    let without_ties = &scorecard["settings"]["without_ties"];
    assert!(close(&without_ties["overall"]["accuracy"], 0.5));
    assert_eq!(without_ties["tasks"]["text_to_image"]["total"], 1);

    // Checked against the embedded sample, these ids do not exist: a clear error.
    let output = omnireward(
        home.path(),
        &["rescore", file.to_str().expect("utf-8"), "--sample"],
    );
    assert!(!output.status.success());
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(
        message.contains("not in benchmark omni-rewardbench-sample"),
        "{message}"
    );

    // A malformed line is reported with its number and nothing is printed on stdout.
    std::fs::write(&file, format!("{}\n{{\"task\": 3}}\n", lines[0])).expect("write");
    let output = omnireward(home.path(), &["rescore", file.to_str().expect("utf-8")]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("line 2"));
    assert!(output.stdout.is_empty());
}

#[test]
fn import_reference_stores_a_run_once_and_prints_its_scorecard() {
    let home = tempfile::tempdir().expect("temp dir");
    let results = home.path().join("results");
    std::fs::create_dir_all(results.join("text_to_text")).expect("mkdir");
    let row = |prompt: &str, label: &str, predicted: Value| {
        serde_json::json!({
            "prompt": prompt, "criteria": "be correct", "criteria_preference": label,
            "response1": "one", "response2": "two", "predicted": predicted,
            "gpt-4o_raw_response": "… [[A]]",
        })
    };
    let without_ties = serde_json::json!([
        row("p1", "response1", "response1".into()),
        row("p2", "response2", "response1".into()),
    ]);
    let with_ties = serde_json::json!([
        row("p1", "response1", "response1".into()),
        row("p2", "response2", Value::Null),
        row("p3", "tie", "tie".into()),
    ]);
    std::fs::write(
        results.join("text_to_text/gpt-4o_preferences.json"),
        without_ties.to_string(),
    )
    .expect("write");
    std::fs::write(
        results.join("text_to_text/gpt-4o_preferences_with_tie.json"),
        with_ties.to_string(),
    )
    .expect("write");

    let arguments = [
        "import-reference",
        results.to_str().expect("utf-8"),
        "--json",
    ];
    let scorecard = json_of(&omnireward(home.path(), &arguments));
    assert_eq!(scorecard["model"], "gpt-4o");
    let t2t = &scorecard["settings"]["with_ties"]["tasks"]["text_to_text"];
    assert_eq!(
        (t2t["correct"].as_u64(), t2t["total"].as_u64()),
        (Some(2), Some(3))
    );
    assert_eq!(t2t["unparseable"], 1);
    assert_eq!(
        scorecard["settings"]["without_ties"]["tasks"]["text_to_text"]["correct"],
        1
    );

    // Importing again changes nothing: same scorecard, still one run with 5 judgements.
    let again = json_of(&omnireward(home.path(), &arguments));
    assert_eq!(again, scorecard);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let storage = omnireward::storage::Storage::open(&home.path().join("omnireward.sqlite"))
            .await
            .expect("opens");
        let runs = storage.runs().await.expect("runs");
        let imported: Vec<_> = runs
            .iter()
            .filter(|run| run.provenance == omnireward::storage::Provenance::ReferenceImport)
            .collect();
        assert_eq!(imported.len(), 1);
        assert_eq!(
            storage
                .judgements(imported[0].id)
                .await
                .expect("judgements")
                .len(),
            5
        );
        // The paper-reported rows came with the database, kept apart from evaluated runs.
        let paper = runs
            .iter()
            .filter(|run| run.provenance == omnireward::storage::Provenance::PaperReported)
            .count();
        assert_eq!(paper, 37);
    });

    // Two models in one folder need --model.
    std::fs::write(results.join("text_to_text/claude_preferences.json"), "[]").expect("write");
    let output = omnireward(
        home.path(),
        &["import-reference", results.to_str().expect("utf-8")],
    );
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--model"));
}

#[test]
fn baselines_score_as_their_rules_say_and_rerun_without_duplicates() {
    let home = tempfile::tempdir().expect("temp dir");
    let samples = omnireward::data::embedded::load(
        &home.path().join("cache"),
        &omnireward::data::LoadOptions::default(),
    )
    .expect("sample loads")
    .samples;
    let report = json_of(&omnireward(
        home.path(),
        &["eval", "baseline", "--kind", "always-a", "--json"],
    ));
    assert_eq!(report["status"], "finished");
    let scorecard = &report["scorecard"];
    assert_eq!(scorecard["model"], "baseline: always A");
    for task in omnireward_shared::Task::ALL {
        let of_task: Vec<_> = samples.iter().filter(|s| s.task == task).collect();
        let first = of_task
            .iter()
            .filter(|s| s.label == omnireward_shared::Label::Response1)
            .count() as f64;
        let ties = of_task
            .iter()
            .filter(|s| s.label == omnireward_shared::Label::Tie)
            .count() as f64;
        let total = of_task.len() as f64;
        let with_ties = scorecard["settings"]["with_ties"]["tasks"][task.key()]["accuracy"]
            .as_f64()
            .expect("accuracy");
        let without_ties = scorecard["settings"]["without_ties"]["tasks"][task.key()]["accuracy"]
            .as_f64()
            .expect("accuracy");
        assert!((with_ties - first / total).abs() < 1e-12, "{task}");
        assert!(
            (without_ties - first / (total - ties)).abs() < 1e-12,
            "{task}"
        );
    }
    let file = report["judgements_file"].as_str().expect("file").to_owned();
    let lines = std::fs::read_to_string(&file)
        .expect("file")
        .lines()
        .count();
    let again = json_of(&omnireward(
        home.path(),
        &["eval", "baseline", "--kind", "always-a", "--json"],
    ));
    assert_eq!(again["run"], report["run"]);
    assert_eq!(again["scorecard"], report["scorecard"]);
    assert_eq!(
        std::fs::read_to_string(&file)
            .expect("file")
            .lines()
            .count(),
        lines
    );

    // Larger-file only judges tasks whose responses are media files.
    let larger = json_of(&omnireward(
        home.path(),
        &["eval", "baseline", "--kind", "larger-file", "--json"],
    ));
    let overall = &larger["scorecard"]["settings"]["with_ties"]["overall"];
    assert_eq!(overall["tasks_covered"], 5);
    assert!(
        larger["scorecard"]["settings"]["with_ties"]["tasks"]
            .get("text_to_text")
            .is_none()
    );

    // Both runs are on the leaderboard, marked as evaluated on the sample benchmark.
    let rows = json_of(&omnireward(home.path(), &["leaderboard", "--json"]));
    let baselines: Vec<_> = rows
        .as_array()
        .expect("rows")
        .iter()
        .filter(|row| row["kind"] == "baseline")
        .collect();
    assert_eq!(baselines.len(), 2);
    assert!(
        baselines
            .iter()
            .all(|row| row["benchmark"] == "omni-rewardbench-sample 1")
    );
}

#[test]
fn compare_pairs_two_runs_on_their_shared_samples() {
    let home = tempfile::tempdir().expect("temp dir");
    let always_a = json_of(&omnireward(
        home.path(),
        &["eval", "baseline", "--kind", "always-a", "--json"],
    ));
    let larger = json_of(&omnireward(
        home.path(),
        &["eval", "baseline", "--kind", "larger-file", "--json"],
    ));
    let first = always_a["run"].to_string();
    let second = larger["run"].to_string();
    let comparison = json_of(&omnireward(
        home.path(),
        &["compare", &first, &second, "--json"],
    ));
    assert_eq!(comparison["first"]["model"], "baseline: always A");
    let with_ties = &comparison["settings"]["with_ties"];
    // Only the five media-response tasks are shared; each task's accuracies equal the two
    // scorecards' (every sample of a shared task is judged by both).
    let tasks = with_ties["tasks"].as_object().expect("tasks");
    assert_eq!(tasks.len(), 5);
    assert!(tasks.get("text_to_text").is_none());
    for (task, paired) in tasks {
        let score = |report: &Value| {
            report["scorecard"]["settings"]["with_ties"]["tasks"][task]["accuracy"]
                .as_f64()
                .expect("accuracy")
        };
        let difference = paired["difference"].as_f64().expect("difference");
        assert!(
            (difference - (score(&always_a) - score(&larger))).abs() < 1e-12,
            "{task}"
        );
        let [low, high] = [0, 1].map(|bound| paired["ci95"][bound].as_f64().expect("bound"));
        assert!(low <= difference && difference <= high, "{task}: {paired}");
        let p = paired["mcnemar_p"].as_f64().expect("p");
        assert!((0.0..=1.0).contains(&p));
    }
    assert_eq!(
        with_ties["overall"]["items"].as_u64(),
        Some(
            tasks
                .values()
                .map(|paired| paired["items"].as_u64().expect("items"))
                .sum()
        )
    );

    let table = omnireward(home.path(), &["compare", &first, &second]);
    assert!(table.status.success());
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("McNemar p") && text.contains("overall"),
        "{text}"
    );

    // Comparing a run with a missing one names it.
    let missing = omnireward(home.path(), &["compare", &first, "999"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("999"));
}
