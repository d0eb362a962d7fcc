//! Test fixtures: a tiny BERT reward model folder for from-scratch training (config, a word-level
//! tokenizer, no weights) and a synthetic preference set with a known separating direction.

use std::fs;
use std::path::Path;

use candle_core::DType;
use omnireward_local_judge::device::DeviceChoice;
use omnireward_local_judge::input::TruncationSide;
use omnireward_shared::random::SplitMix64;
use serde_json::{Value, json};

use crate::data::PreferencePair;
use crate::model::{Initialisation, ModelSpec, Trainable};

/// Words of the synthetic language: answers contain one word from `GOOD` (chosen) or `BAD`
/// (rejected) among shared filler, so "good minus bad word" is the separating direction.
pub const GOOD: [&str; 4] = ["great", "correct", "clear", "kind"];
pub const BAD: [&str; 4] = ["awful", "wrong", "vague", "rude"];
pub const FILLER: [&str; 8] = ["the", "cat", "sat", "on", "a", "mat", "today", "again"];
pub const CRITERIA: [&str; 2] = ["prefer", "helpful"];

/// Writes a from-scratch BERT reward-model folder (2 layers, width 64) into `folder`.
pub fn write_tiny_bert(folder: &Path) {
    let mut vocabulary = vec!["[PAD]", "[UNK]", "[CLS]", "[SEP]"];
    vocabulary.extend(GOOD);
    vocabulary.extend(BAD);
    vocabulary.extend(FILLER);
    vocabulary.extend(CRITERIA);
    let vocab: serde_json::Map<String, Value> = vocabulary
        .iter()
        .enumerate()
        .map(|(id, word)| ((*word).to_owned(), Value::from(id)))
        .collect();
    let special = |id: usize, content: &str| {
        json!({"id": id, "content": content, "single_word": false, "lstrip": false, "rstrip": false,
               "normalized": false, "special": true})
    };
    let tokenizer = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": [special(0, "[PAD]"), special(1, "[UNK]"), special(2, "[CLS]"), special(3, "[SEP]")],
        "normalizer": null,
        "pre_tokenizer": {"type": "Whitespace"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
            "special_tokens": {
                "[CLS]": {"id": "[CLS]", "ids": [2], "tokens": ["[CLS]"]},
                "[SEP]": {"id": "[SEP]", "ids": [3], "tokens": ["[SEP]"]}
            }
        },
        "decoder": null,
        "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "[UNK]"}
    });
    let config = json!({
        "architectures": ["BertForSequenceClassification"],
        "model_type": "bert",
        "vocab_size": vocabulary.len(),
        "hidden_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "intermediate_size": 128,
        "max_position_embeddings": 64,
        "num_labels": 1
    });
    fs::create_dir_all(folder).expect("folder");
    fs::write(folder.join("tokenizer.json"), tokenizer.to_string()).expect("tokenizer");
    fs::write(folder.join("config.json"), config.to_string()).expect("config");
    fs::write(
        folder.join("tokenizer_config.json"),
        json!({"sep_token": "[SEP]", "pad_token": "[PAD]", "model_max_length": 64}).to_string(),
    )
    .expect("tokenizer config");
}

/// The spec of the tiny model, trained from scratch on the CPU in f32.
pub fn tiny_spec(folder: &Path, trainable: Trainable) -> ModelSpec {
    ModelSpec {
        folder: folder.to_path_buf(),
        initialisation: Initialisation::Scratch,
        trainable,
        device: DeviceChoice::Cpu,
        max_length: None,
        truncation: TruncationSide::Right,
        separator: None,
        seed: 7,
        dtype: Some(DType::F32),
    }
}

/// `count` pairs: the same prompt and filler for both answers, which differ only in one good or
/// bad word.
pub fn separable_pairs(count: usize, seed: u64) -> Vec<PreferencePair> {
    let mut random = SplitMix64::new(seed);
    (0..count)
        .map(|index| {
            let mut pick = |words: &[&'static str]| words[random.next_index(words.len())];
            let prompt = format!("{} {} {}", pick(&FILLER), pick(&FILLER), pick(&FILLER));
            let before = format!("{} {}", pick(&FILLER), pick(&FILLER));
            let after = pick(&FILLER).to_owned();
            let good = pick(&GOOD);
            let bad = pick(&BAD);
            PreferencePair {
                criterion: format!("{} {}", CRITERIA[0], CRITERIA[1]),
                prompt,
                chosen: format!("{before} {good} {after}"),
                rejected: format!("{before} {bad} {after}"),
                prompt_media: Vec::new(),
                chosen_media: Vec::new(),
                rejected_media: Vec::new(),
                origin: format!("synthetic:{index}"),
            }
        })
        .collect()
}
