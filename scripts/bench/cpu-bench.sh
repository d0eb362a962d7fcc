#!/usr/bin/env bash
# cpu-bench.sh: local checkpoints on this CPU, omnireward (candle) against PyTorch (transformers)
# on the same token batches, in the same dtype (f32), with the same number of threads, in one run.
#
# Builds reward-bench (release), makes the two random checkpoints once (BERT-base and
# Qwen2.5-0.5B sizes, scripts/bench/make_random_checkpoints.py), then for each: reward-bench
# writes its batches and times itself, torch_reference.py times transformers over those batches
# and compares the rewards; summarize.py prints the markdown tables.
#
# Settings (environment): PYTHON (default /work/pyref/bin/python: torch + transformers),
# BENCH_CHECKPOINTS (default /tmp/omnireward-bench-checkpoints, ~1.2 GB, not committed),
# BENCH_OUT (default target/bench/cpu), THREADS (default: nproc), TOKENS (target tokens per
# input, default 128), BERT_PAIRS (default 16), QWEN_PAIRS (default 4), ROUNDS (default 3),
# REPEATS (timed passes per round, default 1), REWARD_BENCH (a reward-bench binary to use instead
# of building one), BASELINE_BENCH (another reward-bench build, e.g. of an older commit, timed in
# the same rounds: the baseline of a change), ONEDNN (default 1: also time PyTorch with its Linear
# layers on oneDNN, `torch_reference.py --onednn`, which is faster than its default MKL path on
# some CPUs, AMD's among them).
set -euo pipefail
root=$(git rev-parse --show-toplevel)
cd "$root"
python=${PYTHON:-/work/pyref/bin/python}
checkpoints=${BENCH_CHECKPOINTS:-/tmp/omnireward-bench-checkpoints}
out=${BENCH_OUT:-$root/target/bench/cpu}
threads=${THREADS:-$(nproc)}
tokens=${TOKENS:-128}
repeats=${REPEATS:-1}
rounds=${ROUNDS:-3}
mkdir -p "$out"
rm -f "$out"/*.json

if [ -n "${REWARD_BENCH:-}" ]; then
    bench=$REWARD_BENCH # another build of reward-bench (an experiment)
else
    cargo build --release -p omnireward-local-judge --bin reward-bench
    bench=$root/target/release/reward-bench
fi
if [ ! -f "$checkpoints/bert-base/model.safetensors" ] || [ ! -f "$checkpoints/qwen2-0.5b/model.safetensors" ]; then
    "$python" scripts/bench/make_random_checkpoints.py "$checkpoints"
fi

jq_seconds() { "$python" -c 'import json, sys; print("%.2f" % json.load(open(sys.argv[1]))["seconds"])' "$1"; }

export RAYON_NUM_THREADS=$threads OMP_NUM_THREADS=$threads
echo "cpu-bench: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs), $threads threads," \
    "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
# Rounds alternate the two implementations (separate processes), so that a change in the load of
# this shared machine hits both; each round warms up and times REPEATS passes, and the summary
# reports the median of the rounds.
for model in bert-base:${BERT_PAIRS:-16} qwen2-0.5b:${QWEN_PAIRS:-4}; do
    name=${model%%:*}
    pairs=${model##*:}
    echo "cpu-bench: $name, $pairs pairs of ~$tokens tokens, $rounds rounds of $repeats timed passes" >&2
    for round in $(seq 1 "$rounds"); do
        "$bench" "$checkpoints/$name" --device cpu --pairs "$pairs" --tokens "$tokens" \
            --repeats "$repeats" --dump-batches "$out/$name.batches" \
            --output "$out/$name.ours-cpu.r$round.json" > /dev/null
        "$python" scripts/bench/torch_reference.py "$checkpoints/$name" --batches "$out/$name.batches" \
            --device cpu --dtype float32 --threads "$threads" --repeats "$repeats" \
            --ours "$out/$name.ours-cpu.r$round.json" --output "$out/$name.torch-cpu.r$round.json" > /dev/null
        summary="ours $(jq_seconds "$out/$name.ours-cpu.r$round.json") s, PyTorch $(jq_seconds "$out/$name.torch-cpu.r$round.json") s"
        if [ "${ONEDNN:-1}" = 1 ]; then
            "$python" scripts/bench/torch_reference.py "$checkpoints/$name" --batches "$out/$name.batches" \
                --device cpu --dtype float32 --threads "$threads" --repeats "$repeats" --onednn \
                --ours "$out/$name.ours-cpu.r$round.json" --output "$out/$name.torch-cpu-onednn.r$round.json" > /dev/null
            summary="$summary, PyTorch oneDNN $(jq_seconds "$out/$name.torch-cpu-onednn.r$round.json") s"
        fi
        if [ -n "${BASELINE_BENCH:-}" ]; then
            # The same pairs (same seed and sizes), so the same batches.
            "$BASELINE_BENCH" "$checkpoints/$name" --device cpu --pairs "$pairs" --tokens "$tokens" \
                --repeats "$repeats" --output "$out/$name.ours-cpu-baseline.r$round.json" > /dev/null
            summary="$summary, baseline $(jq_seconds "$out/$name.ours-cpu-baseline.r$round.json") s"
        fi
        echo "cpu-bench: $name round $round: $summary (load $(cut -d' ' -f1 /proc/loadavg))" >&2
    done
done
echo "cpu-bench: load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
"$python" scripts/bench/summarize.py "$out" --results "$out/results.json"
