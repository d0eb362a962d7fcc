//! Tiny chat models for tests of the paths a generative checkpoint takes (uploads, workers, the
//! demo): the committed `qwen2_causal` fixture (a random `Qwen2ForCausalLM` written by
//! transformers, `local-judge/tests/fixtures/make_generation.py`) as a folder's files, and the
//! same weights, tokenizer and chat template as one GGUF file laid out as llama.cpp's converter
//! lays out a `qwen2` model (tensor names, metadata keys, `gpt2` byte-level BPE tokenizer).
//!
//! The fixture allows 256 positions, fewer than the built-in judge prompts take with its tiny
//! vocabulary; the copies here allow [`POSITIONS`] (positions only bound the rotary tables, the
//! weights do not depend on them).

use std::io::Cursor;
use std::path::{Path, PathBuf};

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};

/// Positions the test copies of the fixture allow.
pub const POSITIONS: u64 = 16_384;

/// The files of the fixture a chat checkpoint is made of (not the parity references).
const CHECKPOINT_FILES: [&str; 7] = [
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
    "model.safetensors",
];

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("local-judge/tests/fixtures/qwen2_causal")
}

fn config() -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(fixture().join("config.json")).expect("config"))
        .expect("config JSON")
}

/// The folder's files, by name, with `config.json` allowing [`POSITIONS`] positions.
pub fn qwen2_causal_files() -> Vec<(String, Vec<u8>)> {
    CHECKPOINT_FILES
        .iter()
        .map(|name| {
            let bytes = if *name == "config.json" {
                let mut config = config();
                config["max_position_embeddings"] = POSITIONS.into();
                serde_json::to_vec_pretty(&config).expect("encodes")
            } else {
                std::fs::read(fixture().join(name)).expect("fixture file")
            };
            ((*name).to_owned(), bytes)
        })
        .collect()
}

/// Writes [`qwen2_causal_files`] into `folder` (created) and returns it.
pub fn write_qwen2_causal_folder(folder: &Path) -> PathBuf {
    std::fs::create_dir_all(folder).expect("folder");
    for (name, bytes) in qwen2_causal_files() {
        std::fs::write(folder.join(name), bytes).expect("writes");
    }
    folder.to_path_buf()
}

/// The fixture as one GGUF file (f32 tensors); `edit` may change the metadata before it is
/// written (to make a file the checks refuse).
pub fn qwen2_causal_gguf(edit: impl FnOnce(&mut Vec<(String, Value)>)) -> Vec<u8> {
    let config = config();
    let number = |key: &str| config[key].as_u64().expect("a count in config.json") as u32;
    let tokenizer: serde_json::Value = serde_json::from_slice(
        &std::fs::read(fixture().join("tokenizer.json")).expect("tokenizer"),
    )
    .expect("tokenizer JSON");
    let vocab_size = number("vocab_size") as usize;
    let mut tokens = vec![String::new(); vocab_size];
    let mut types = vec![1i32; vocab_size];
    for (token, id) in tokenizer["model"]["vocab"].as_object().expect("vocab") {
        tokens[id.as_u64().expect("id") as usize] = token.clone();
    }
    for added in tokenizer["added_tokens"].as_array().expect("added tokens") {
        let id = added["id"].as_u64().expect("id") as usize;
        tokens[id] = added["content"].as_str().expect("content").to_owned();
        // llama.cpp's control tokens: matched in text before BPE.
        types[id] = 3;
    }
    let merges: Vec<Value> = tokenizer["model"]["merges"]
        .as_array()
        .expect("merges")
        .iter()
        .map(|pair| {
            let pair = pair.as_array().expect("a merge pair");
            Value::String(format!(
                "{} {}",
                pair[0].as_str().expect("left"),
                pair[1].as_str().expect("right")
            ))
        })
        .collect();
    let template =
        std::fs::read_to_string(fixture().join("chat_template.jinja")).expect("template");
    let mut metadata: Vec<(String, Value)> = vec![
        ("general.architecture".into(), Value::String("qwen2".into())),
        (
            "qwen2.embedding_length".into(),
            Value::U32(number("hidden_size")),
        ),
        (
            "qwen2.attention.head_count".into(),
            Value::U32(number("num_attention_heads")),
        ),
        (
            "qwen2.attention.head_count_kv".into(),
            Value::U32(number("num_key_value_heads")),
        ),
        (
            "qwen2.block_count".into(),
            Value::U32(number("num_hidden_layers")),
        ),
        (
            "qwen2.feed_forward_length".into(),
            Value::U32(number("intermediate_size")),
        ),
        (
            "qwen2.attention.layer_norm_rms_epsilon".into(),
            Value::F32(config["rms_norm_eps"].as_f64().expect("eps") as f32),
        ),
        (
            "qwen2.rope.freq_base".into(),
            Value::F32(config["rope_theta"].as_f64().expect("theta") as f32),
        ),
        ("qwen2.context_length".into(), Value::U32(POSITIONS as u32)),
        ("tokenizer.ggml.model".into(), Value::String("gpt2".into())),
        ("tokenizer.ggml.pre".into(), Value::String("qwen2".into())),
        (
            "tokenizer.ggml.tokens".into(),
            Value::Array(tokens.into_iter().map(Value::String).collect()),
        ),
        (
            "tokenizer.ggml.token_type".into(),
            Value::Array(types.into_iter().map(Value::I32).collect()),
        ),
        ("tokenizer.ggml.merges".into(), Value::Array(merges)),
        (
            "tokenizer.ggml.eos_token_id".into(),
            Value::U32(number("eos_token_id")),
        ),
        ("tokenizer.chat_template".into(), Value::String(template)),
    ];
    edit(&mut metadata);

    let weights = candle_core::safetensors::load(fixture().join("model.safetensors"), &Device::Cpu)
        .expect("fixture weights");
    let layers = number("num_hidden_layers");
    let mut names: Vec<(String, String)> = vec![
        (
            "model.embed_tokens.weight".into(),
            "token_embd.weight".into(),
        ),
        ("model.norm.weight".into(), "output_norm.weight".into()),
    ];
    for layer in 0..layers {
        let from = |part: &str| format!("model.layers.{layer}.{part}");
        let to = |part: &str| format!("blk.{layer}.{part}");
        for (source, target) in [
            ("self_attn.q_proj.weight", "attn_q.weight"),
            ("self_attn.q_proj.bias", "attn_q.bias"),
            ("self_attn.k_proj.weight", "attn_k.weight"),
            ("self_attn.k_proj.bias", "attn_k.bias"),
            ("self_attn.v_proj.weight", "attn_v.weight"),
            ("self_attn.v_proj.bias", "attn_v.bias"),
            ("self_attn.o_proj.weight", "attn_output.weight"),
            ("mlp.gate_proj.weight", "ffn_gate.weight"),
            ("mlp.up_proj.weight", "ffn_up.weight"),
            ("mlp.down_proj.weight", "ffn_down.weight"),
            ("input_layernorm.weight", "attn_norm.weight"),
            ("post_attention_layernorm.weight", "ffn_norm.weight"),
        ] {
            names.push((from(source), to(target)));
        }
    }
    let tensors: Vec<(String, QTensor)> = names
        .into_iter()
        .map(|(source, target)| {
            let tensor: &Tensor = weights
                .get(&source)
                .unwrap_or_else(|| panic!("the fixture has {source}"));
            let tensor = tensor.to_dtype(candle_core::DType::F32).expect("f32");
            (
                target,
                QTensor::quantize(&tensor, GgmlDType::F32).expect("f32 tensor"),
            )
        })
        .collect();
    let metadata_refs: Vec<(&str, &Value)> = metadata
        .iter()
        .map(|(key, value)| (key.as_str(), value))
        .collect();
    let tensor_refs: Vec<(&str, &QTensor)> = tensors
        .iter()
        .map(|(name, tensor)| (name.as_str(), tensor))
        .collect();
    let mut file = Cursor::new(Vec::new());
    gguf_file::write(&mut file, &metadata_refs, &tensor_refs).expect("writes GGUF");
    file.into_inner()
}
