#!/usr/bin/env bash
# Training throughput on the CPU, ours and PyTorch's in one run on the same token ids:
# Bradley-Terry steps with the default backbone (all-MiniLM-L6-v2), head only or every weight.
#
#   scripts/bench/train-bench.sh [PYTHON] [THREADS] [PAIRS] [head|all]
#
# Environment: TRAIN_BENCH (a train-bench binary to use instead of building one), BASELINE_BENCH
# (another build timed in the same rounds), ROUNDS (default 2).
#
# PYTHON must have torch and transformers (e.g. a venv with torch 2.9.1 and transformers 4.57.3);
# the bench is not part of the test suite.
set -euo pipefail
cd "$(dirname "$0")/../.."
python=${1:-python3}
threads=${2:-2}
pairs=${3:-256}
train=${4:-head}
model=.cache/models/all-MiniLM-L6-v2
batches=$(mktemp --suffix=.json)
trap 'rm -f "$batches"' EXIT
if [ -n "${TRAIN_BENCH:-}" ]; then
    bench=$TRAIN_BENCH # another build of train-bench (an experiment)
else
    cargo build --release -p omnireward-training --bin train-bench >&2
    bench=target/release/train-bench
fi
for round in $(seq 1 "${ROUNDS:-2}"); do
    RAYON_NUM_THREADS=$threads "$bench" --model "$model" --pairs "$pairs" \
        --train "$train" --batches "$batches"
    OMP_NUM_THREADS=$threads "$python" scripts/bench/torch_train_reference.py "$model" "$batches" --threads "$threads"
    if [ -n "${BASELINE_BENCH:-}" ]; then
        # Another train-bench build (e.g. of an older commit) on the same pairs: a change's baseline.
        RAYON_NUM_THREADS=$threads "$BASELINE_BENCH" --model "$model" --pairs "$pairs" --train "$train"
    fi
done
