#!/usr/bin/env bash
# vl-bench.sh: a Qwen2.5-VL reward model on this CPU, omnireward (candle) against PyTorch
# (transformers) on the same conversations with images, in f32, with the same threads, in one run.
#
# Builds vl-reward-bench (release), makes the random checkpoint once (the released checkpoints'
# 0.67 B-parameter vision tower and a Qwen2.5-0.5B-sized language model with a value head:
# scripts/bench/make_random_qwen2_vl.py), then alternates the two implementations for ROUNDS
# rounds (separate processes, so that a change in this shared machine's load hits both); each
# scores every conversation once to warm up, then REPEATS timed passes. Prints one markdown table
# row per round and the medians, and checks that the rewards agree.
#
# Settings (environment): PYTHON (default /tmp/genref/bin/python: torch + transformers 4.57),
# BENCH_CHECKPOINTS (default /tmp/omnireward-bench-checkpoints), SIZE (0.5b; tiny to check the
# script), THREADS (default: nproc), ROUNDS (3), REPEATS (1), BENCH_OUT (target/bench/vl).
set -euo pipefail
root=$(git rev-parse --show-toplevel)
cd "$root"
python=${PYTHON:-/tmp/genref/bin/python}
checkpoints=${BENCH_CHECKPOINTS:-/tmp/omnireward-bench-checkpoints}
size=${SIZE:-0.5b}
threads=${THREADS:-$(nproc)}
rounds=${ROUNDS:-3}
repeats=${REPEATS:-1}
out=${BENCH_OUT:-$root/target/bench/vl}
mkdir -p "$out"
rm -f "$out"/*.json
cargo build --release --locked -p omnireward-local-judge --bin vl-reward-bench
bench=$root/target/release/vl-reward-bench
checkpoint=$checkpoints/qwen2_5_vl-$size
[ -f "$checkpoint/value_head.safetensors" ] ||
    "$python" scripts/bench/make_random_qwen2_vl.py "$checkpoints" --size "$size"
export RAYON_NUM_THREADS=$threads OMP_NUM_THREADS=$threads
echo "vl-bench: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs), $threads threads," \
    "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for round in $(seq 1 "$rounds"); do
    "$bench" "$checkpoint" --device cpu --repeats "$repeats" --output "$out/ours.r$round.json" > /dev/null
    "$python" scripts/bench/torch_vl_reference.py "$checkpoint" --threads "$threads" \
        --repeats "$repeats" --ours "$out/ours.r$round.json" --output "$out/torch.r$round.json" > /dev/null
done
"$python" - "$out" "$rounds" <<'PY'
import json, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
ours = [json.load(open(f"{out}/ours.r{r}.json")) for r in range(1, rounds + 1)]
torch = [json.load(open(f"{out}/torch.r{r}.json")) for r in range(1, rounds + 1)]
print("| round | ours s | transformers s | ratio (transformers / ours) | max abs reward difference |")
print("|---|---|---|---|---|")
for index, (a, b) in enumerate(zip(ours, torch), 1):
    print(f"| {index} | {a['seconds']:.2f} | {b['seconds']:.2f} | {b['seconds'] / a['seconds']:.2f} | {b['max_abs_difference']:.1e} |")
a, b = statistics.median(o["seconds"] for o in ours), statistics.median(t["seconds"] for t in torch)
print(f"| median | {a:.2f} | {b:.2f} | {b / a:.2f} | |")
print(f"\n{ours[0]['conversations']} conversations, {ours[0]['tokens']} tokens; ours {ours[0]['conversations'] / a:.3f}"
      f" conversations/s, transformers {torch[0]['conversations'] / b:.3f}; reward spread {torch[0]['reward_spread']:.2f}")
PY
echo "vl-bench: load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
