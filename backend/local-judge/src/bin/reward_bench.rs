//! `reward-bench`: throughput of a local reward-model checkpoint, in pairs per second, on the CPU
//! or a CUDA device, with the exact token batches written out so that PyTorch can run the same
//! work (`scripts/bench/torch_reference.py`).
//!
//! The pairs are synthetic and deterministic (words drawn with a seeded generator from a fixed
//! list, each input grown to a target number of tokens) or read from `--inputs`. The run loads
//! the checkpoint with [`LocalJudge::load`], scores a few pairs to warm up (the first CUDA call
//! compiles PTX), then times scoring every pair through [`LocalJudge::score_text_pairs`] and
//! prints one JSON object on stdout. Progress goes to stderr.
//!
//! Achieved TFLOP/s is an estimate: `2 × matmul parameters × real tokens / seconds`, where matmul
//! parameters are the checkpoint's parameters less its embedding tables (token, position and
//! segment embeddings are looked up, not multiplied) and real tokens exclude padding. Attention's
//! own products (QKᵀ and AV, ~4 × layers × hidden × length per token) are left out, so the
//! figure understates the work a little at long lengths.

// glibc's malloc hands every large tensor buffer back to the kernel and faults it in again on the
// next operation; mimalloc keeps freed blocks for reuse (docs/benchmarks.md, "Local checkpoints on
// the CPU": 10-25 % of a CPU scoring pass).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use omnireward_local_judge::batch::{DEFAULT_BATCH_TOKENS, plan_batches};
use omnireward_local_judge::checkpoint::CheckpointFolder;
use omnireward_local_judge::device::DeviceChoice;
use omnireward_local_judge::input::{EncodedText, ScoringText, TextEncoder};
use omnireward_local_judge::judge::{LocalJudge, LocalJudgeOptions};
use serde::{Deserialize, Serialize};

/// Throughput of a reward-model checkpoint on synthetic or given pairs.
#[derive(Debug, Parser)]
#[command(name = "reward-bench", version)]
struct Arguments {
    /// The checkpoint folder (Hugging Face layout, safetensors weights).
    checkpoint: PathBuf,
    /// Where to run: cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Padded tokens per batch.
    #[arg(long, default_value_t = DEFAULT_BATCH_TOKENS)]
    batch_tokens: usize,
    /// Token limit per input (default: the checkpoint's, capped by the judge's defaults).
    #[arg(long)]
    max_length: Option<usize>,
    /// Number of synthetic pairs.
    #[arg(long, default_value_t = 32)]
    pairs: usize,
    /// Target tokens per synthetic input; each input gets a length within ±25% of it.
    #[arg(long, default_value_t = 128)]
    tokens: usize,
    /// Seed of the synthetic pairs.
    #[arg(long, default_value_t = 2024)]
    seed: u64,
    /// Read the inputs from this JSON file instead: a list of {criterion, prompt, response};
    /// items 2k and 2k+1 form pair k.
    #[arg(long)]
    inputs: Option<PathBuf>,
    /// Write the inputs (synthetic or read) to this JSON file, in the `--inputs` format.
    #[arg(long)]
    write_inputs: Option<PathBuf>,
    /// Write the token-id batches the run scores, in order, to this JSON file.
    #[arg(long)]
    dump_batches: Option<PathBuf>,
    /// Pairs scored once before timing (the first CUDA call compiles kernels).
    #[arg(long, default_value_t = 4)]
    warmup_pairs: usize,
    /// Timed passes over all pairs; the median is reported.
    #[arg(long, default_value_t = 1)]
    repeats: usize,
    /// Also write the JSON report to this file.
    #[arg(long)]
    output: Option<PathBuf>,
}

/// One input, as read by `--inputs` and written by `--write-inputs`.
#[derive(Clone, Debug, Deserialize, Serialize)]
struct InputRecord {
    criterion: String,
    prompt: String,
    response: String,
}

/// The batches, as `torch_reference.py` reads them.
#[derive(Debug, Serialize)]
struct BatchDump<'a> {
    architecture: &'a str,
    pad_id: u32,
    pairs: usize,
    /// Each batch lists input indices (input `2k + side` is side `side` of pair `k`) and their
    /// unpadded token ids; padding is on the right with `pad_id`.
    batches: Vec<DumpedBatch>,
}

#[derive(Debug, Serialize)]
struct DumpedBatch {
    indices: Vec<usize>,
    input_ids: Vec<Vec<u32>>,
    token_type_ids: Vec<Vec<u32>>,
}

#[derive(Debug, Serialize)]
struct Report {
    checkpoint: String,
    architecture: &'static str,
    device: String,
    dtype: &'static str,
    cpu_threads: usize,
    /// The SIMD level of the CPU kernels (`device::cpu_simd`).
    cpu_simd: &'static str,
    parameters: u64,
    matmul_parameters: u64,
    max_length: usize,
    batch_tokens: usize,
    pairs: usize,
    inputs: usize,
    batches: usize,
    real_tokens: usize,
    padded_tokens: usize,
    load_seconds: f64,
    /// Formatting and tokenizing every input once (single thread); part of each timed pass.
    tokenize_seconds: f64,
    warmup_seconds: f64,
    /// Median of the timed passes (formatting and tokenizing included).
    seconds: f64,
    all_seconds: Vec<f64>,
    /// CPU time (user + system, all threads) of the median pass; `None` where
    /// `/proc/self/stat` cannot be read. On a shared machine it varies less than wall time.
    cpu_seconds: Option<f64>,
    pairs_per_second: f64,
    tokens_per_second: f64,
    tflops: f64,
    tflops_formula: &'static str,
    rewards: Vec<[f32; 2]>,
}

const TFLOPS_FORMULA: &str = "2 * matmul_parameters * real_tokens / seconds / 1e12 (matmul_parameters: all parameters less embedding tables; attention score products and padding not counted)";

fn main() -> ExitCode {
    let arguments = Arguments::parse();
    match run(&arguments) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("reward-bench: error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(arguments: &Arguments) -> Result<(), String> {
    if arguments.repeats == 0 {
        return Err("--repeats must be at least 1".to_owned());
    }
    let device: DeviceChoice = arguments
        .device
        .parse()
        .map_err(|error| format!("--device: {error}"))?;
    let options = LocalJudgeOptions {
        device,
        max_length: arguments.max_length,
        batch_tokens: arguments.batch_tokens,
        ..LocalJudgeOptions::default()
    };
    let folder = &arguments.checkpoint;
    let matmul_parameters = matmul_parameters(folder)?;

    eprintln!("reward-bench: loading {}", folder.display());
    let started = Instant::now();
    let judge = LocalJudge::load(folder, &options)
        .map_err(|error| format!("loading {}: {error}", folder.display()))?;
    let load_seconds = started.elapsed().as_secs_f64();
    let description = judge.description().clone();
    eprintln!(
        "reward-bench: {} on {} ({}) loaded in {load_seconds:.1} s",
        description.architecture, description.device, description.dtype
    );

    let records = match &arguments.inputs {
        Some(file) => read_inputs(file)?,
        None => synthetic_inputs(
            judge.encoder(),
            arguments.pairs,
            arguments.tokens,
            arguments.seed,
        )?,
    };
    if let Some(file) = &arguments.write_inputs {
        write_json(file, &records)?;
    }
    let pairs: Vec<[ScoringText<'_>; 2]> = records
        .chunks_exact(2)
        .map(|pair| [scoring_text(&pair[0]), scoring_text(&pair[1])])
        .collect();
    if pairs.is_empty() {
        return Err("no pairs to score".to_owned());
    }

    // The batches score_text_pairs will run: the same encoding and the same plan. Timing it
    // tells how much of a pass is formatting and tokenizing (the PyTorch reference starts from
    // token ids).
    let started = Instant::now();
    let encoded = pairs
        .iter()
        .flatten()
        .map(|text| judge.encoder().encode(text))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| format!("encoding the inputs: {error}"))?;
    let tokenize_seconds = started.elapsed().as_secs_f64();
    let lengths: Vec<usize> = encoded.iter().map(EncodedText::len).collect();
    let groups: Vec<Vec<usize>> = (0..pairs.len())
        .map(|pair| vec![2 * pair, 2 * pair + 1])
        .collect();
    let plan = plan_batches(&lengths, &groups, description.batch_tokens);
    let real_tokens: usize = lengths.iter().sum();
    let padded_tokens: usize = plan
        .iter()
        .map(|batch| batch.len() * batch.iter().map(|&index| lengths[index]).max().unwrap_or(0))
        .sum();
    if let Some(file) = &arguments.dump_batches {
        let dump = BatchDump {
            architecture: description.architecture,
            pad_id: judge.encoder().pad_id(),
            pairs: pairs.len(),
            batches: plan
                .iter()
                .map(|batch| DumpedBatch {
                    indices: batch.clone(),
                    input_ids: batch.iter().map(|&i| encoded[i].ids.clone()).collect(),
                    token_type_ids: batch.iter().map(|&i| encoded[i].type_ids.clone()).collect(),
                })
                .collect(),
        };
        write_json(file, &dump)?;
    }
    eprintln!(
        "reward-bench: {} pairs, {} batches, {real_tokens} real / {padded_tokens} padded tokens",
        pairs.len(),
        plan.len()
    );

    let score = |pairs: &[[ScoringText<'_>; 2]]| {
        judge
            .score_text_pairs(pairs, &mut |_| {})
            .map_err(|error| format!("scoring: {error}"))
    };
    let started = Instant::now();
    let warmup = arguments.warmup_pairs.min(pairs.len());
    if warmup > 0 {
        score(&pairs[..warmup])?;
    }
    let warmup_seconds = started.elapsed().as_secs_f64();

    let mut all_seconds = Vec::with_capacity(arguments.repeats);
    let mut all_cpu_seconds = Vec::with_capacity(arguments.repeats);
    let mut rewards = Vec::new();
    for repeat in 0..arguments.repeats {
        let cpu_started = process_cpu_seconds();
        let started = Instant::now();
        rewards = score(&pairs)?;
        let seconds = started.elapsed().as_secs_f64();
        if let (Some(before), Some(after)) = (cpu_started, process_cpu_seconds()) {
            all_cpu_seconds.push(after - before);
        }
        eprintln!(
            "reward-bench: pass {} of {}: {seconds:.3} s",
            repeat + 1,
            arguments.repeats
        );
        all_seconds.push(seconds);
    }
    if let Some(bad) = rewards.iter().flatten().find(|reward| !reward.is_finite()) {
        return Err(format!("the model returned a non-finite reward ({bad})"));
    }
    let seconds = median(&all_seconds);
    let cpu_seconds = (!all_cpu_seconds.is_empty()).then(|| median(&all_cpu_seconds));
    let report = Report {
        checkpoint: folder.display().to_string(),
        architecture: description.architecture,
        device: description.device.clone(),
        dtype: description.dtype,
        cpu_threads: candle_core::utils::get_num_threads(),
        cpu_simd: omnireward_local_judge::device::cpu_simd(),
        parameters: description.parameter_count,
        matmul_parameters,
        max_length: description.max_length,
        batch_tokens: description.batch_tokens,
        pairs: pairs.len(),
        inputs: encoded.len(),
        batches: plan.len(),
        real_tokens,
        padded_tokens,
        load_seconds,
        tokenize_seconds,
        warmup_seconds,
        seconds,
        all_seconds,
        cpu_seconds,
        pairs_per_second: pairs.len() as f64 / seconds,
        tokens_per_second: real_tokens as f64 / seconds,
        tflops: 2.0 * matmul_parameters as f64 * real_tokens as f64 / seconds / 1e12,
        tflops_formula: TFLOPS_FORMULA,
        rewards,
    };
    let text = serde_json::to_string_pretty(&report)
        .map_err(|error| format!("writing the report: {error}"))?;
    println!("{text}");
    if let Some(file) = &arguments.output {
        fs::write(file, format!("{text}\n"))
            .map_err(|error| format!("writing {}: {error}", file.display()))?;
    }
    Ok(())
}

fn scoring_text(record: &InputRecord) -> ScoringText<'_> {
    ScoringText {
        criterion: &record.criterion,
        prompt: &record.prompt,
        response: &record.response,
    }
}

/// User + system CPU time of this process, all threads, from `/proc/self/stat` (Linux; clock
/// ticks of 1/100 s, the kernel's USER_HZ on every mainstream architecture).
fn process_cpu_seconds() -> Option<f64> {
    let stat = fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces: state is
    // field 3, utime field 14, stime field 15.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |index: usize| fields.get(index)?.parse::<u64>().ok();
    Some((ticks(11)? + ticks(12)?) as f64 / 100.0)
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[middle]
    } else {
        (sorted[middle - 1] + sorted[middle]) / 2.0
    }
}

fn write_json<T: Serialize + ?Sized>(file: &Path, value: &T) -> Result<(), String> {
    let text = serde_json::to_string(value)
        .map_err(|error| format!("serializing {}: {error}", file.display()))?;
    fs::write(file, text).map_err(|error| format!("writing {}: {error}", file.display()))
}

fn read_inputs(file: &Path) -> Result<Vec<InputRecord>, String> {
    let text =
        fs::read_to_string(file).map_err(|error| format!("reading {}: {error}", file.display()))?;
    let records: Vec<InputRecord> = serde_json::from_str(&text).map_err(|error| {
        format!(
            "{}: expected a JSON list of {{criterion, prompt, response}}: {error}",
            file.display()
        )
    })?;
    if records.is_empty() || !records.len().is_multiple_of(2) {
        return Err(format!(
            "{}: {} inputs; items 2k and 2k+1 form a pair, so the count must be even and non-zero",
            file.display(),
            records.len()
        ));
    }
    Ok(records)
}

/// Parameters that take part in matrix products: all of the checkpoint's, less the embedding
/// tables (read from the safetensors headers, without loading weights).
fn matmul_parameters(folder: &Path) -> Result<u64, String> {
    let checkpoint = CheckpointFolder::inspect(folder)
        .map_err(|error| format!("checking {}: {error}", folder.display()))?;
    let embeddings: u64 = checkpoint
        .shards
        .iter()
        .flat_map(|shard| shard.header.tensors.iter())
        .filter(|(name, _)| is_embedding_table(name))
        .map(|(_, tensor)| tensor.element_count())
        .sum();
    Ok(checkpoint.parameter_count().saturating_sub(embeddings))
}

fn is_embedding_table(name: &str) -> bool {
    name.contains("embed_tokens")
        || name.contains("word_embeddings")
        || name.contains("position_embeddings")
        || name.contains("token_type_embeddings")
}

/// Common English words; inputs are drawn from these.
const WORDS: &[&str] = &[
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "that",
    "for",
    "it",
    "as",
    "was",
    "with",
    "be",
    "by",
    "on",
    "not",
    "he",
    "this",
    "are",
    "or",
    "his",
    "from",
    "at",
    "which",
    "but",
    "have",
    "an",
    "had",
    "they",
    "you",
    "were",
    "their",
    "one",
    "all",
    "we",
    "can",
    "her",
    "has",
    "there",
    "been",
    "if",
    "more",
    "when",
    "will",
    "would",
    "who",
    "so",
    "no",
    "answer",
    "question",
    "model",
    "response",
    "helpful",
    "correct",
    "reason",
    "because",
    "image",
    "video",
    "audio",
    "describe",
    "scene",
    "people",
    "water",
    "light",
    "color",
    "music",
    "sound",
    "voice",
    "city",
    "street",
    "house",
    "garden",
    "tree",
    "river",
    "mountain",
    "sky",
    "cloud",
    "dog",
    "cat",
    "bird",
    "child",
    "woman",
    "man",
    "table",
    "chair",
    "window",
    "door",
    "book",
    "paper",
    "number",
    "count",
    "three",
    "seven",
    "first",
    "second",
    "last",
    "left",
    "right",
    "small",
    "large",
    "red",
    "blue",
    "green",
    "white",
    "black",
    "bright",
    "dark",
    "quiet",
    "loud",
    "fast",
    "slow",
    "clear",
    "detail",
    "accurate",
    "safe",
    "harmful",
    "instruction",
    "follow",
    "explain",
    "because",
    "therefore",
    "however",
    "example",
    "result",
    "method",
    "data",
    "value",
    "time",
    "year",
    "day",
    "morning",
    "evening",
    "work",
    "play",
    "read",
    "write",
    "listen",
    "watch",
    "move",
    "stand",
    "sit",
    "walk",
    "run",
    "open",
    "close",
    "carry",
    "hold",
    "show",
    "tell",
    "ask",
    "give",
    "take",
    "make",
    "find",
    "think",
    "know",
    "see",
    "look",
    "hear",
    "feel",
    "try",
    "leave",
    "call",
    "keep",
    "begin",
    "seem",
    "help",
    "turn",
    "start",
    "might",
    "should",
    "could",
    "must",
    "very",
    "also",
    "only",
    "just",
    "well",
    "still",
    "even",
    "much",
    "many",
    "most",
    "some",
    "any",
    "each",
    "every",
    "other",
    "another",
    "such",
    "same",
    "different",
    "important",
    "possible",
    "simple",
    "complete",
    "final",
    "better",
    "best",
    "worse",
    "worst",
];

/// SplitMix64: deterministic on every platform.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut mixed = self.0;
        mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        mixed ^ (mixed >> 31)
    }

    /// A number in `0..bound` (`bound` > 0).
    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }

    fn words(&mut self, count: usize) -> Vec<&'static str> {
        (0..count).map(|_| WORDS[self.below(WORDS.len())]).collect()
    }
}

fn sentence(words: &[&str]) -> String {
    let mut text = String::new();
    for (index, word) in words.iter().enumerate() {
        if index > 0 {
            text.push(if index % 12 == 0 { '.' } else { ' ' });
            if index % 12 == 0 {
                text.push(' ');
            }
        }
        text.push_str(word);
    }
    text.push('.');
    text
}

/// `pairs` synthetic pairs: a short criterion, a prompt of about a quarter of the target and two
/// responses grown until each formatted input has its own target length (the target ±25%, never
/// over the judge's maximum length).
fn synthetic_inputs(
    encoder: &TextEncoder,
    pairs: usize,
    tokens: usize,
    seed: u64,
) -> Result<Vec<InputRecord>, String> {
    if pairs == 0 || tokens == 0 {
        return Err("--pairs and --tokens must be at least 1".to_owned());
    }
    let mut random = SplitMix64(seed);
    let mut records = Vec::with_capacity(2 * pairs);
    let length_of = |record: &InputRecord| -> Result<usize, String> {
        encoder
            .encode(&scoring_text(record))
            .map(|encoded| encoded.len())
            .map_err(|error| format!("encoding a synthetic input: {error}"))
    };
    // Tokens per word of this tokenizer, so that the prompt is about a quarter of the target.
    let sample = sentence(&random.words(64));
    let sample_tokens = encoder
        .encode_formatted(&sample)
        .map_err(|error| format!("encoding a synthetic input: {error}"))?
        .len();
    let tokens_per_word = (sample_tokens as f64 / 64.0).max(0.25);
    let prompt_words = ((tokens as f64 / 4.0 / tokens_per_word).round() as usize).max(1);
    for _ in 0..pairs {
        let criterion_words = 6 + random.below(6);
        let criterion = sentence(&random.words(criterion_words));
        let prompt = sentence(&random.words(prompt_words));
        for _ in 0..2 {
            // ±25% around the target, within the judge's limit.
            let spread = (tokens / 2).max(1);
            let target =
                (tokens - tokens / 4 + random.below(spread + 1)).clamp(1, encoder.max_length());
            let mut words: Vec<&str> = Vec::new();
            let mut record = InputRecord {
                criterion: criterion.clone(),
                prompt: prompt.clone(),
                response: String::new(),
            };
            // Grow by an estimate of the words still missing, then one word at a time.
            loop {
                let length = length_of(&record)?;
                if length >= target || length >= encoder.max_length() {
                    break;
                }
                let missing = (target - length) as f64 / tokens_per_word;
                let step = if missing > 8.0 {
                    (missing * 0.75) as usize
                } else {
                    1
                };
                words.extend(random.words(step));
                record.response = sentence(&words);
            }
            records.push(record);
        }
    }
    Ok(records)
}
