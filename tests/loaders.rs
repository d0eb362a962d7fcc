//! Loader tests on data we did not write ourselves: a Hugging Face layout made by a pinned
//! pyarrow script (`tests/fixtures/make_hf_fixture.py`), the authors' JSON layout, and broken
//! variants of both.

use std::path::{Path, PathBuf};
use std::process::Command;

use omnireward::data::{self, Layout, LoadError, LoadOptions, media};
use omnireward_shared::{Label, MediaLocation, Response, Task};
use sha2::{Digest, Sha256};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_path_buf()
}

/// Runs the pyarrow fixture script into a fresh temporary folder.
fn python_fixture() -> (tempfile::TempDir, serde_json::Value) {
    let folder = tempfile::tempdir().expect("temp dir");
    let venv_python = workspace_root().join(".venv/bin/python3");
    let python = if venv_python.is_file() {
        venv_python
    } else {
        PathBuf::from("python3")
    };
    let output = Command::new(&python)
        .arg(workspace_root().join("tests/fixtures/make_hf_fixture.py"))
        .arg(folder.path())
        .output()
        .unwrap_or_else(|error| panic!("cannot run {}: {error}", python.display()));
    assert!(
        output.status.success(),
        "the pyarrow fixture script failed (run scripts/setup.sh to install pyarrow):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let expected =
        std::fs::read_to_string(folder.path().join("expected.json")).expect("expected.json");
    let expected = serde_json::from_str(&expected).expect("expected.json is JSON");
    (folder, expected)
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[test]
fn hugging_face_layout_written_by_pyarrow_loads_with_lazy_media() {
    let (folder, expected) = python_fixture();
    let benchmark =
        data::load(&folder.path().join("good"), &LoadOptions::default()).expect("loads");
    assert_eq!(benchmark.layout, Layout::HuggingFace);
    let count = |task| benchmark.task_samples(task).count();
    assert_eq!(
        count(Task::TextToText),
        3,
        "both shards of data/text_to_text"
    );
    assert_eq!(count(Task::TextImageToText), 4);
    assert_eq!(count(Task::TextToAudio), 2);
    assert_eq!(count(Task::TextVideoToText), 1);
    assert_eq!(benchmark.samples.len(), 10);
    assert_eq!(benchmark.files[&Task::TextToText].len(), 2);

    let t2t = benchmark.task_samples(Task::TextToText).collect::<Vec<_>>();
    assert_eq!(t2t[1].label, Label::Tie);
    assert_eq!(t2t[2].id, "t2t-2");
    assert_eq!(
        t2t[0].response1,
        Response::Text {
            text: "answer one of t2t-0".into()
        }
    );
    assert_eq!(t2t[0].criterion, "criterion for t2t-0");
    assert_eq!(t2t[0].model1.as_deref(), Some("model-a"));

    // Every media item resolves to the exact bytes pyarrow wrote, embedded or on disk.
    let hashes = &expected["media_sha256"];
    let mut checked = 0;
    for sample in &benchmark.samples {
        let fields = [
            ("image", sample.prompt_media.as_ref()),
            ("video", sample.prompt_media.as_ref()),
            ("response1", sample.response1.media()),
            ("response2", sample.response2.media()),
        ];
        for (field, item) in fields {
            let (Some(item), Some(want)) =
                (item, hashes[sample.task.key()][&sample.id][field].as_str())
            else {
                continue;
            };
            let bytes = media::read_media(item).expect("media reads");
            assert_eq!(
                sha256(&bytes),
                want,
                "{} {} {field}",
                sample.task,
                sample.id
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 6);

    // Embedded bytes are referenced by cell (second row group for row 2), paths by file.
    let ti2t: Vec<_> = benchmark.task_samples(Task::TextImageToText).collect();
    let location = |index: usize| &ti2t[index].prompt_media.as_ref().expect("image").location;
    assert!(matches!(
        location(2),
        MediaLocation::ParquetCell { row_group: 1, row: 0, column, .. } if column == "image"
    ));
    assert!(
        matches!(location(1), MediaLocation::File { path } if path.ends_with("images/blue.png"))
    );
    assert_eq!(
        ti2t[0].prompt_media.as_ref().expect("image").name,
        "images/red.png"
    );
    let red = media::read_media(ti2t[2].prompt_media.as_ref().expect("image")).expect("reads");
    assert!(red.starts_with(b"\x89PNG"));
    assert_eq!(benchmark.identity.hash.len(), 64);
}

#[test]
fn broken_hugging_face_data_gives_errors_naming_file_row_and_field() {
    let (folder, _) = python_fixture();
    let root = folder.path();

    let error =
        data::load(&root.join("missing_column"), &LoadOptions::default()).expect_err("no criteria");
    let message = error.to_string();
    assert!(
        matches!(error, LoadError::MissingColumn { .. }),
        "{message}"
    );
    assert!(
        message.contains("test-00000-of-00002.parquet") && message.contains("`criteria`"),
        "{message}"
    );

    let error =
        data::load(&root.join("unknown_label"), &LoadOptions::default()).expect_err("bad label");
    let message = error.to_string();
    assert!(
        message.contains("text_image_to_text")
            && message.contains("row 2")
            && message.contains("ti2t-2")
            && message.contains("criteria_preference")
            && message.contains("`both`"),
        "{message}"
    );

    let error =
        data::load(&root.join("missing_media"), &LoadOptions::default()).expect_err("no hum.wav");
    let message = error.to_string();
    assert!(
        message.contains("t2a-0")
            && message.contains("response2")
            && message.contains("audio/hum.wav"),
        "{message}"
    );

    // --skip-invalid keeps the good rows and reports the bad ones.
    let options = LoadOptions {
        skip_invalid: true,
        ..LoadOptions::default()
    };
    let benchmark = data::load(&root.join("missing_media"), &options).expect("loads the rest");
    assert_eq!(benchmark.task_samples(Task::TextToAudio).count(), 0);
    assert_eq!(benchmark.skipped.len(), 2);
    assert_eq!(benchmark.samples.len(), 8);

    // A truncated parquet file is refused with its name.
    let good = root.join("good");
    let file = good.join("text_video_to_text/test-00000-of-00001.parquet");
    let bytes = std::fs::read(&file).expect("reads");
    std::fs::write(&file, &bytes[..bytes.len() / 2]).expect("truncates");
    let error = data::load(&good, &LoadOptions::default()).expect_err("truncated");
    assert!(matches!(error, LoadError::Parquet { .. }), "{error}");
    assert!(error.to_string().contains("text_video_to_text"), "{error}");
}

fn write_json(path: &Path, value: &serde_json::Value) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, serde_json::to_vec_pretty(value).expect("json")).expect("write");
}

#[test]
fn authors_json_layout_loads_and_bad_shapes_are_refused() {
    let folder = tempfile::tempdir().expect("temp dir");
    let root = folder.path();
    std::fs::create_dir_all(root.join("media_data/t2i")).expect("mkdir");
    std::fs::write(root.join("media_data/t2i/a.png"), b"png a").expect("write");
    std::fs::write(root.join("media_data/t2i/b.png"), b"png b").expect("write");
    write_json(
        &root.join("text_to_image_preferences.json"),
        &serde_json::json!([
            {"prompt": "a red circle", "criteria": "colour accuracy", "criteria_preference": "response1",
             "response1": "t2i/a.png", "response2": "t2i/b.png", "model1": "m1", "model2": "m2"},
            {"prompt": "a red circle", "criteria": "composition", "criteria_preference": "tie",
             "response1": "t2i/a.png", "response2": "t2i/b.png", "id": 17}
        ]),
    );
    write_json(
        &root.join("text_to_text_preferences.json"),
        &serde_json::json!([
            {"prompt": "2+2?", "criteria": "correctness", "criteria_preference": "response2",
             "response1": "5", "response2": "4", "id": "t2t-a"}
        ]),
    );
    let benchmark = data::load(root, &LoadOptions::default()).expect("loads");
    assert_eq!(benchmark.layout, Layout::AuthorsJson);
    assert_eq!(benchmark.samples.len(), 3);
    let t2i: Vec<_> = benchmark.task_samples(Task::TextToImage).collect();
    assert!(t2i[0].id.starts_with("t2i-"), "derived id {}", t2i[0].id);
    assert_eq!(t2i[1].id, "17");
    let image = t2i[0].response2.media().expect("image response");
    assert_eq!(media::read_media(image).expect("reads"), b"png b");
    // Task filter.
    let only_text = LoadOptions {
        tasks: vec![Task::TextToText],
        ..LoadOptions::default()
    };
    assert_eq!(
        data::load(root, &only_text).expect("loads").samples.len(),
        1
    );

    // Wrong JSON shape: an object instead of an array.
    write_json(
        &root.join("text_to_text_preferences.json"),
        &serde_json::json!({"rows": []}),
    );
    let message = data::load(root, &LoadOptions::default())
        .expect_err("shape")
        .to_string();
    assert!(
        message.contains("text_to_text_preferences.json")
            && message.contains("expected a JSON array"),
        "{message}"
    );

    // A media path escaping media_data is refused.
    write_json(
        &root.join("text_to_text_preferences.json"),
        &serde_json::json!([]),
    );
    write_json(
        &root.join("text_to_image_preferences.json"),
        &serde_json::json!([
            {"prompt": "p", "criteria": "c", "criteria_preference": "response1",
             "response1": "../secret.png", "response2": "t2i/b.png", "id": "x"}
        ]),
    );
    let message = data::load(root, &LoadOptions::default())
        .expect_err("escape")
        .to_string();
    assert!(
        message.contains("response1") && message.contains("stay inside"),
        "{message}"
    );

    // No data at all.
    let empty = tempfile::tempdir().expect("temp dir");
    assert!(matches!(
        data::load(empty.path(), &LoadOptions::default()),
        Err(LoadError::NoBenchmark { .. })
    ));
}
