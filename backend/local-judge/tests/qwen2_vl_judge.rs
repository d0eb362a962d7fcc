//! Qwen2-VL and Qwen2.5-VL checkpoints through `LocalJudge`, the path `eval checkpoint`, `score`
//! and the demo take: the folder checks (the architecture read from `text_config` as
//! transformers 4.57 writes it, the value head's header, a folder without a head refused as a
//! reward model and taken by the generation engine as a generative judge), and conversation rewards equal to transformers' (1e-4) for a trl value
//! head (`chat.json` of `make_qwen2_vl_chat.py`) and a `score` head in VideoScore's layout
//! (`qwen2_vl_score_head/reference.json` of `make_qwen2_vl_score_head.py`), each pair scored in
//! one padded batch.

use std::path::{Path, PathBuf};

use omnireward_local_judge::architecture::ModelKind;
use omnireward_local_judge::checkpoint::{CheckpointError, CheckpointFolder, VALUE_HEAD_FILE};
use omnireward_local_judge::conversation::{Conversation, ConversationMedia};
use omnireward_local_judge::generation::chat_model::{
    inspect_generative_checkpoint, is_generative_checkpoint,
};
use omnireward_local_judge::input::ScoringText;
use omnireward_local_judge::judge::{LocalJudge, LocalJudgeOptions};
use serde_json::Value;

const TOLERANCE: f64 = 1e-4;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn read_json(path: &Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    serde_json::from_str(&text).expect("JSON")
}

fn image(name: &str) -> ConversationMedia {
    let file = fixtures()
        .join("qwen2_vl_processor")
        .join(format!("{name}.png"));
    ConversationMedia::Image(image::open(&file).expect("image"))
}

fn text(case: &Value, field: &str) -> String {
    case[field].as_str().expect("text").to_owned()
}

fn assert_close(ours: f32, theirs: &Value, what: &str) {
    let theirs = theirs.as_f64().expect("reward");
    assert!(
        (f64::from(ours) - theirs).abs() <= TOLERANCE,
        "{what}: reward {ours} against transformers' {theirs}"
    );
}

#[test]
fn value_head_checkpoints_score_conversations_like_transformers() {
    for variant in ["qwen2_vl_tiny", "qwen2_5_vl_tiny"] {
        let folder = fixtures().join(variant);
        let judge = LocalJudge::load(&folder, &LocalJudgeOptions::default()).expect("loads");
        let description = judge.description();
        assert_eq!(description.kind, ModelKind::MultimodalConversation);
        assert!(description.reads_images);
        let cases = read_json(&folder.join("chat.json"));
        let cases = cases["conversations"].as_array().expect("conversations");
        // Both conversations in one pair: one padded batch, each reward at its own last token.
        let conversation = |case: &Value| Conversation {
            system: text(case, "criterion"),
            media: vec![image(&text(case, "image"))],
            text: text(case, "prompt"),
            response: text(case, "response"),
        };
        let rewards = judge
            .score_conversation_pairs(
                &[[conversation(&cases[0]), conversation(&cases[1])]],
                &mut |_| {},
            )
            .expect("scores");
        assert_close(rewards[0][0], &cases[0]["reward"], variant);
        assert_close(rewards[0][1], &cases[1]["reward"], variant);
    }
}

#[test]
fn a_score_head_checkpoint_scores_every_layout_like_transformers() {
    let folder = fixtures().join("qwen2_vl_score_head");
    let checkpoint = CheckpointFolder::inspect(&folder).expect("checked");
    assert_eq!(
        checkpoint
            .require_supported_architecture()
            .expect("supported"),
        "Qwen2VLForSequenceClassification"
    );
    let judge = LocalJudge::load(&folder, &LocalJudgeOptions::default()).expect("loads");
    let reference = read_json(&folder.join("reference.json"));
    let cases = reference["cases"].as_array().expect("cases");
    let find = |name: &str| {
        cases
            .iter()
            .find(|case| case["case"] == name)
            .unwrap_or_else(|| panic!("case {name}"))
    };
    let conversation = |case: &Value| Conversation {
        system: text(case, "criterion"),
        media: case["images"]
            .as_array()
            .expect("images")
            .iter()
            .map(|name| image(name.as_str().expect("name")))
            .collect(),
        text: text(case, "prompt"),
        response: text(case, "response"),
    };
    let pairs = [
        [
            conversation(find("t2i_first")),
            conversation(find("t2i_second")),
        ],
        [conversation(find("ti2i")), conversation(find("t2t_first"))],
    ];
    let rewards = judge
        .score_conversation_pairs(&pairs, &mut |_| {})
        .expect("scores");
    assert_close(rewards[0][0], &find("t2i_first")["reward"], "t2i_first");
    assert_close(rewards[0][1], &find("t2i_second")["reward"], "t2i_second");
    assert_close(rewards[1][0], &find("ti2i")["reward"], "ti2i");
    assert_close(rewards[1][1], &find("t2t_first")["reward"], "t2t_first");

    // Text pairs are conversations without media.
    let first = find("t2t_first");
    let second = find("t2t_second");
    let (criterion, prompt) = (text(first, "criterion"), text(first, "prompt"));
    let (answer1, answer2) = (text(first, "response"), text(second, "response"));
    let scoring = |response| ScoringText {
        criterion: &criterion,
        prompt: &prompt,
        response,
    };
    let rewards = judge
        .score_text_pairs(&[[scoring(&answer1), scoring(&answer2)]], &mut |_| {})
        .expect("scores");
    assert_close(rewards[0][0], &first["reward"], "t2t_first");
    assert_close(rewards[0][1], &second["reward"], "t2t_second");

    // A limit that would cut into an image is refused, naming the lengths.
    let options = LocalJudgeOptions {
        max_length: Some(20),
        ..LocalJudgeOptions::default()
    };
    let short = LocalJudge::load(&folder, &options).expect("loads");
    let error = short
        .score_conversation_pairs(&pairs[..1], &mut |_| {})
        .expect_err("too long");
    assert!(error.to_string().contains("split an image"), "{error}");
}

/// Copies the fixture's checkpoint files (not its parity data) into a fresh folder.
fn copy_checkpoint(variant: &str, target: &Path, leave_out: &[&str]) {
    for name in [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "chat_template.jinja",
        "preprocessor_config.json",
        VALUE_HEAD_FILE,
    ] {
        if !leave_out.contains(&name) {
            std::fs::copy(fixtures().join(variant).join(name), target.join(name)).expect("copies");
        }
    }
}

#[test]
fn a_vision_language_folder_without_a_reward_head_is_a_generative_judge_not_a_reward_model() {
    let folder = tempfile::TempDir::new().expect("folder");
    copy_checkpoint("qwen2_5_vl_tiny", folder.path(), &[VALUE_HEAD_FILE]);
    let checkpoint = CheckpointFolder::inspect(folder.path()).expect("checked");
    // transformers 4.57 writes `architectures` only inside `text_config`.
    assert_eq!(
        checkpoint.architectures,
        ["Qwen2_5_VLForConditionalGeneration"]
    );
    assert!(!checkpoint.architecture_supported());
    let error = checkpoint
        .require_supported_architecture()
        .expect_err("no head");
    assert!(
        matches!(error, CheckpointError::GenerativeVisionLanguage { .. }),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .contains("is a generative vision-language judge"),
        "{error}"
    );
    // The generation engine takes it: checked from headers, weights without a head.
    assert!(is_generative_checkpoint(folder.path()));
    let checked = inspect_generative_checkpoint(folder.path()).expect("a generative judge");
    assert_eq!(checked.architecture, "Qwen2_5_VLForConditionalGeneration");
    assert_eq!(checked.weight_files, checkpoint.weight_files());

    // With the value head back it is a reward model, and the head counts as weights.
    copy_checkpoint("qwen2_5_vl_tiny", folder.path(), &[]);
    let checkpoint = CheckpointFolder::inspect(folder.path()).expect("checked");
    assert!(checkpoint.architecture_supported());
    assert!(
        !is_generative_checkpoint(folder.path()),
        "a reward model is not a generative judge"
    );
    let files = checkpoint.weight_files();
    assert_eq!(
        files.last().and_then(|file| file.file_name()),
        Some(std::ffi::OsStr::new(VALUE_HEAD_FILE))
    );

    // A value head whose header lies is refused like any weights file.
    std::fs::write(folder.path().join(VALUE_HEAD_FILE), b"\x10\0\0\0\0\0\0\0{}").expect("writes");
    let error = CheckpointFolder::inspect(folder.path()).expect_err("bad header");
    assert!(error.to_string().contains(VALUE_HEAD_FILE), "{error}");
}
