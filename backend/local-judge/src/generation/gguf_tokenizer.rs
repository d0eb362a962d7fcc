//! A `tokenizers` tokenizer rebuilt from a GGUF file's `tokenizer.ggml.*` metadata, so that a
//! single GGUF file is a complete chat model.
//!
//! Supported: `tokenizer.ggml.model = gpt2`, the byte-level BPE of GPT-2, SmolLM, Qwen2 and
//! Llama 3 (`tokens`, `merges` as "left right" strings, `token_type`). How text is split before
//! BPE depends on `tokenizer.ggml.pre`, which names a pre-tokenizer of llama.cpp; the known
//! ones are rebuilt here with `tokenizers`' equivalents ([`PreTokenizer`]) and any other is an
//! error naming the value, rather than a tokenizer that silently splits differently.
//!
//! Control tokens (type 3, `<|im_start|>`) and user-defined tokens (type 4) become added tokens,
//! matched in text before BPE, as llama.cpp matches them when it tokenizes with
//! `parse_special` (a rendered chat template contains them). Decoding skips control tokens.
//! llama.cpp applies no Unicode normalization to these vocabularies, so none is added.

use std::path::Path;

use candle_core::quantized::gguf_file::{Content, Value};
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{BPE, Vocab};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{AddedToken, SplitDelimiterBehavior, Tokenizer};

use crate::error::LocalJudgeError;

/// llama.cpp's token type of control tokens.
const CONTROL: i32 = 3;
/// llama.cpp's token type of user-defined tokens.
const USER_DEFINED: i32 = 4;

/// Qwen2's split pattern (digits one by one).
const QWEN2_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Llama 3's split pattern (digits in groups of up to three).
const LLAMA3_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// The pre-tokenizers of llama.cpp this module rebuilds, by `tokenizer.ggml.pre`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PreTokenizer {
    /// `gpt-2` and `default`: GPT-2's byte-level regex.
    Gpt2,
    /// `smollm`: every digit alone, then GPT-2's regex.
    SmolLm,
    /// `qwen2`.
    Qwen2,
    /// `llama-bpe` (Llama 3).
    Llama3,
}

impl PreTokenizer {
    /// The pre-tokenizer llama.cpp names `name`.
    pub fn from_gguf_name(name: &str) -> Option<PreTokenizer> {
        match name {
            "gpt-2" | "default" => Some(PreTokenizer::Gpt2),
            "smollm" => Some(PreTokenizer::SmolLm),
            "qwen2" => Some(PreTokenizer::Qwen2),
            "llama-bpe" | "llama3" => Some(PreTokenizer::Llama3),
            _ => None,
        }
    }

    fn build(self) -> Result<PreTokenizerWrapper, String> {
        let byte_level = |use_regex: bool| ByteLevel::new(false, true, use_regex);
        let split = |pattern: &str| {
            Split::new(
                SplitPattern::Regex(pattern.to_owned()),
                SplitDelimiterBehavior::Isolated,
                false,
            )
            .map_err(|error| error.to_string())
        };
        Ok(match self {
            PreTokenizer::Gpt2 => PreTokenizerWrapper::ByteLevel(byte_level(true)),
            PreTokenizer::SmolLm => PreTokenizerWrapper::Sequence(Sequence::new(vec![
                PreTokenizerWrapper::Digits(Digits::new(true)),
                PreTokenizerWrapper::ByteLevel(byte_level(true)),
            ])),
            PreTokenizer::Qwen2 => PreTokenizerWrapper::Sequence(Sequence::new(vec![
                PreTokenizerWrapper::Split(split(QWEN2_PATTERN)?),
                PreTokenizerWrapper::ByteLevel(byte_level(false)),
            ])),
            PreTokenizer::Llama3 => PreTokenizerWrapper::Sequence(Sequence::new(vec![
                PreTokenizerWrapper::Split(split(LLAMA3_PATTERN)?),
                PreTokenizerWrapper::ByteLevel(byte_level(false)),
            ])),
        })
    }
}

/// Reads a metadata value, naming the key and the file when it is missing.
pub fn metadata<'a>(
    content: &'a Content,
    file: &Path,
    key: &str,
) -> Result<&'a Value, LocalJudgeError> {
    content
        .metadata
        .get(key)
        .ok_or_else(|| gguf_error(file, key, "missing"))
}

/// An error about a GGUF metadata key.
pub fn gguf_error(file: &Path, key: &str, message: impl std::fmt::Display) -> LocalJudgeError {
    LocalJudgeError::Config {
        file: file.to_path_buf(),
        field: key.to_owned(),
        message: message.to_string(),
    }
}

fn strings<'a>(
    content: &'a Content,
    file: &Path,
    key: &str,
) -> Result<Vec<&'a str>, LocalJudgeError> {
    metadata(content, file, key)?
        .to_vec()
        .map_err(|error| gguf_error(file, key, error))?
        .iter()
        .map(|value| {
            value
                .to_string()
                .map(String::as_str)
                .map_err(|error| gguf_error(file, key, error))
        })
        .collect()
}

/// Builds the tokenizer of a GGUF file.
pub fn tokenizer_from_gguf(content: &Content, file: &Path) -> Result<Tokenizer, LocalJudgeError> {
    let model_key = "tokenizer.ggml.model";
    let model = metadata(content, file, model_key)?
        .to_string()
        .map_err(|error| gguf_error(file, model_key, error))?;
    if model != "gpt2" {
        return Err(gguf_error(
            file,
            model_key,
            format!("tokenizer model {model:?} is not supported (supported: gpt2, byte-level BPE)"),
        ));
    }
    let pre_key = "tokenizer.ggml.pre";
    let pre_name = match content.metadata.get(pre_key) {
        Some(value) => value
            .to_string()
            .map_err(|error| gguf_error(file, pre_key, error))?
            .as_str(),
        None => "default",
    };
    let pre_tokenizer = PreTokenizer::from_gguf_name(pre_name).ok_or_else(|| {
        gguf_error(
            file,
            pre_key,
            format!("pre-tokenizer {pre_name:?} is not supported (supported: gpt-2, default, smollm, qwen2, llama-bpe)"),
        )
    })?;

    let tokens = strings(content, file, "tokenizer.ggml.tokens")?;
    let merges_key = "tokenizer.ggml.merges";
    let merges = strings(content, file, merges_key)?
        .into_iter()
        .map(|merge| {
            merge
                .split_once(' ')
                .map(|(left, right)| (left.to_owned(), right.to_owned()))
                .ok_or_else(|| {
                    gguf_error(
                        file,
                        merges_key,
                        format!("merge {merge:?} is not \"left right\""),
                    )
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let types_key = "tokenizer.ggml.token_type";
    let types: Vec<i32> = match content.metadata.get(types_key) {
        Some(value) => value
            .to_vec()
            .map_err(|error| gguf_error(file, types_key, error))?
            .iter()
            .map(|value| {
                value
                    .to_i32()
                    .map_err(|error| gguf_error(file, types_key, error))
            })
            .collect::<Result<_, _>>()?,
        None => vec![1; tokens.len()],
    };
    if types.len() != tokens.len() {
        return Err(gguf_error(
            file,
            types_key,
            format!("{} types for {} tokens", types.len(), tokens.len()),
        ));
    }
    let vocab: Vocab = tokens
        .iter()
        .enumerate()
        .map(|(id, token)| ((*token).to_owned(), id as u32))
        .collect();
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .ignore_merges(pre_tokenizer == PreTokenizer::Llama3)
        .build()
        .map_err(|error| gguf_error(file, merges_key, error))?;
    let mut tokenizer = Tokenizer::new(bpe);
    let pre = pre_tokenizer
        .build()
        .map_err(|message| gguf_error(file, pre_key, message))?;
    tokenizer.with_pre_tokenizer(Some(pre));
    tokenizer.with_decoder(Some(ByteLevelDecoder::default()));
    let added = |kind: i32, special: bool| -> Vec<AddedToken> {
        tokens
            .iter()
            .zip(&types)
            .filter(|(_, token_type)| **token_type == kind)
            .map(|(token, _)| AddedToken::from(*token, special).normalized(false))
            .collect()
    };
    tokenizer
        .add_special_tokens(added(CONTROL, true))
        .and_then(|_| tokenizer.add_tokens(added(USER_DEFINED, false)))
        .map_err(|error| gguf_error(file, types_key, error))?;
    Ok(tokenizer)
}
