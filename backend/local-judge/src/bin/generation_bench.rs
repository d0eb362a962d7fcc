//! `generation-bench`: generation throughput of a chat model (a GGUF file or a `*ForCausalLM`
//! folder) on the CPU or a CUDA device: generated tokens per second one request at a time, and
//! judgements per minute with continuous batching, over judge-like prompts.
//!
//! The prompts are a fixed set of short pairwise-judging requests rendered through the model's
//! chat template; their token ids are written to `--write-prompts` so that llama.cpp
//! (`scripts/bench/llama_cpp_generation.py`) runs exactly the same work. Every request
//! generates exactly `--max-new-tokens` tokens (end-of-turn tokens do not stop it), so both
//! sides generate the same number of tokens whatever the model answers. Greedy decoding.
//!
//! Prints one JSON object on stdout; progress goes to stderr.

// glibc's malloc hands every large tensor buffer back to the kernel and faults it in again on the
// next operation; mimalloc keeps freed blocks for reuse (docs/benchmarks.md, "Local checkpoints on
// the CPU": 10-25 % of a CPU scoring pass).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use omnireward_local_judge::device::DeviceChoice;
use omnireward_local_judge::generation::chat_model::ChatModel;
use omnireward_local_judge::generation::engine::{
    Batching, GenerationRequest, StopRules, generate,
};
use omnireward_local_judge::generation::sampling::DecodingOptions;
use serde::Serialize;

/// Generation throughput of a chat model.
#[derive(Debug, Parser)]
#[command(name = "generation-bench", version)]
struct Arguments {
    /// A GGUF file or a `*ForCausalLM` folder.
    model: PathBuf,
    /// Where to run: cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Number of prompts.
    #[arg(long, default_value_t = 16)]
    prompts: usize,
    /// Tokens generated per prompt.
    #[arg(long, default_value_t = 64)]
    max_new_tokens: usize,
    /// Rows generated together in the batched pass.
    #[arg(long, default_value_t = 16)]
    batch_rows: usize,
    /// Rows × (longest row + new tokens) per batch.
    #[arg(long, default_value_t = 65_536)]
    batch_tokens: usize,
    /// Write the prompts' token ids (a JSON list of lists) here, for the llama.cpp reference.
    #[arg(long)]
    write_prompts: Option<PathBuf>,
}

/// One timed pass.
#[derive(Debug, Serialize)]
struct Pass {
    rows: usize,
    prompts: usize,
    prompt_tokens: usize,
    generated_tokens: usize,
    seconds: f64,
    generated_tokens_per_second: f64,
    judgements_per_minute: f64,
}

#[derive(Debug, Serialize)]
struct Report {
    model: String,
    description: omnireward_local_judge::generation::chat_model::ChatModelDescription,
    max_new_tokens: usize,
    threads: usize,
    batch_1: Pass,
    batched: Pass,
    batching_speedup: f64,
}

const QUESTIONS: [&str; 8] = [
    "What is the capital of France?",
    "Explain why the sky is blue in two sentences.",
    "Write a haiku about autumn leaves.",
    "How do I reverse a list in Python?",
    "Give three tips for sleeping better.",
    "What is 17 multiplied by 23?",
    "Summarise the plot of Romeo and Juliet.",
    "Why do cats purr?",
];

const ANSWERS: [(&str, &str); 4] = [
    ("Paris is the capital.", "I think it might be Lyon."),
    (
        "Light scatters off air molecules; blue scatters most.",
        "Because the ocean reflects onto it.",
    ),
    (
        "Here is a short answer.",
        "Here is a much longer answer with more detail and care.",
    ),
    ("Yes.", "No, and here is why it is not so."),
];

fn user_message(index: usize) -> String {
    let question = QUESTIONS[index % QUESTIONS.len()];
    let (first, second) = ANSWERS[index % ANSWERS.len()];
    format!(
        "[User Question]\n{question}\n\n[The Start of Assistant A's Answer]\n{first}\n[The End of Assistant A's Answer]\n\n[The Start of Assistant B's Answer]\n{second}\n[The End of Assistant B's Answer]\n\nRequest #{index}."
    )
}

const SYSTEM: &str = "Please act as an impartial judge and evaluate the quality of the responses provided by two AI assistants to the user question displayed below. Output your final verdict by strictly following this format: \"[[A]]\" if assistant A is better, \"[[B]]\" if assistant B is better.";

fn pass(
    model: &ChatModel,
    requests: &[GenerationRequest],
    decoding: &DecodingOptions,
    batching: Batching,
) -> Result<Pass, String> {
    // No end-of-turn token: every request generates exactly max_new_tokens.
    let stop = StopRules::default();
    let started = Instant::now();
    let answers = generate(
        model.model(),
        model.tokenizer(),
        requests,
        decoding,
        &stop,
        batching,
        &mut |_, _| Ok(()),
    )
    .map_err(|error| error.to_string())?;
    let seconds = started.elapsed().as_secs_f64();
    let generated: usize = answers.iter().map(|answer| answer.tokens.len()).sum();
    Ok(Pass {
        rows: batching.max_rows,
        prompts: requests.len(),
        prompt_tokens: requests.iter().map(|request| request.prompt.len()).sum(),
        generated_tokens: generated,
        seconds,
        generated_tokens_per_second: generated as f64 / seconds,
        judgements_per_minute: requests.len() as f64 * 60.0 / seconds,
    })
}

fn main() -> ExitCode {
    let arguments = Arguments::parse();
    match run(&arguments) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("generation-bench: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(arguments: &Arguments) -> Result<(), String> {
    let device: DeviceChoice = arguments
        .device
        .parse()
        .map_err(|error: omnireward_local_judge::LocalJudgeError| error.to_string())?;
    let model = ChatModel::load(&arguments.model, device).map_err(|error| error.to_string())?;
    let mut requests = Vec::with_capacity(arguments.prompts);
    for index in 0..arguments.prompts {
        let prompt = model
            .prompt(Some(SYSTEM), &user_message(index))
            .map_err(|error| error.to_string())?;
        requests.push(GenerationRequest { prompt, seed: 0 });
    }
    if let Some(file) = &arguments.write_prompts {
        let ids: Vec<&Vec<u32>> = requests.iter().map(|request| &request.prompt).collect();
        let text = serde_json::to_string(&ids).map_err(|error| error.to_string())?;
        std::fs::write(file, text).map_err(|error| format!("{}: {error}", file.display()))?;
    }
    let decoding = DecodingOptions {
        max_new_tokens: arguments.max_new_tokens,
        ..DecodingOptions::default()
    };
    eprintln!("warming up");
    pass(&model, &requests[..1], &decoding, Batching::default())?;
    eprintln!("batch 1: {} prompts", requests.len());
    let batch_1 = pass(
        &model,
        &requests,
        &decoding,
        Batching {
            batch_tokens: arguments.batch_tokens,
            max_rows: 1,
        },
    )?;
    eprintln!("batched: {} rows", arguments.batch_rows);
    let batched = pass(
        &model,
        &requests,
        &decoding,
        Batching {
            batch_tokens: arguments.batch_tokens,
            max_rows: arguments.batch_rows,
        },
    )?;
    let report = Report {
        model: arguments.model.display().to_string(),
        description: model.description().clone(),
        max_new_tokens: arguments.max_new_tokens,
        threads: std::thread::available_parallelism().map_or(1, usize::from),
        batching_speedup: batched.generated_tokens_per_second / batch_1.generated_tokens_per_second,
        batch_1,
        batched,
    };
    println!(
        "{}",
        serde_json::to_string_pretty(&report).map_err(|error| error.to_string())?
    );
    Ok(())
}
