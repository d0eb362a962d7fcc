#!/usr/bin/env bash
# generation-bench.sh: our generation engine against llama.cpp (llama-cpp-python) on the same GGUF
# file, prompts and limits, greedy, in one run: generated tokens/s one request at a time (both),
# and with continuous batching (ours). Results go to stdout as JSON lines; docs/benchmarks.md
# records them.
#
#   scripts/bench/generation-bench.sh [MODEL.gguf] [PROMPTS] [MAX_NEW_TOKENS] [THREADS...]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
model=${1:-.cache/models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf}
prompts=${2:-8}
tokens=${3:-64}
shift $(( $# < 3 ? $# : 3 ))
threads=("${@:-1 2}")
cargo build --release --locked -p omnireward-local-judge --bin generation-bench >&2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for count in ${threads[*]}; do
    RAYON_NUM_THREADS=$count target/release/generation-bench "$model" --prompts "$prompts" \
        --max-new-tokens "$tokens" --batch-rows "$prompts" --write-prompts "$work/prompts.json" \
        > "$work/ours.json"
    .venv/bin/python scripts/bench/llama_cpp_generation.py "$model" --prompts "$work/prompts.json" \
        --max-new-tokens "$tokens" --threads "$count" > "$work/llama.json"
    python3 - "$count" "$work/ours.json" "$work/llama.json" <<'PY'
import json, sys
threads, ours, llama = sys.argv[1], json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))
print(json.dumps({
    "threads": int(threads),
    "ours_batch_1_tokens_per_second": round(ours["batch_1"]["generated_tokens_per_second"], 2),
    "llama_cpp_batch_1_tokens_per_second": round(llama["generated_tokens_per_second"], 2),
    "llama_cpp_decode_only_tokens_per_second": round(llama["decode_tokens_per_second"], 2),
    "ratio_to_llama_cpp": round(ours["batch_1"]["generated_tokens_per_second"] / llama["generated_tokens_per_second"], 3),
    "ours_batched_tokens_per_second": round(ours["batched"]["generated_tokens_per_second"], 2),
    "ours_batch_1_judgements_per_minute": round(ours["batch_1"]["judgements_per_minute"], 2),
    "ours_batched_judgements_per_minute": round(ours["batched"]["judgements_per_minute"], 2),
    "batching_speedup": round(ours["batching_speedup"], 3),
    "prompt_tokens": ours["batch_1"]["prompt_tokens"],
    "generated_tokens": ours["batch_1"]["generated_tokens"],
}))
PY
done
