#!/usr/bin/env bash
# gpu-run.sh: the GPU check of local checkpoints. Runs ON THE GPU MACHINE, from the repository
# root, after scripts/gpu-check.sh prepared .gpu/ here (carry it: the device call's carry [".gpu"]).
#
# 1. prints the card (nvidia-smi) and the Python stack;
# 2. unpacks .gpu/reward-bench.xz (the stripped CUDA build of reward-bench);
# 3. makes the random BERT-base and Qwen2.5-0.5B-sized checkpoints with python3
#    (scripts/bench/make_random_checkpoints.py, bf16 weights, bert tokenizer from .gpu/);
# 4. parity, per model, on PARITY_PAIRS synthetic pairs: our binary on the CPU (f32) and on CUDA
#    (bf16 for the decoder, f32 for the encoder: crate::device::dtype_for) over the same inputs,
#    PyTorch bf16 on CUDA and f32 on the CPU over the same batches;
# 5. throughput, per model, on BERT_PAIRS / QWEN_PAIRS pairs: our binary on CUDA and PyTorch on
#    the same GPU over the same batches (bf16; the encoder also in f32, the dtype we run it in),
#    REPEATS timed passes after a warm-up (the first CUDA call compiles PTX);
# 6. generation (when .gpu/generation-bench.xz is there): a random Qwen2ForCausalLM of
#    Qwen2.5-0.5B size (scripts/bench/torch_generation_reference.py make, bf16), our
#    generation-bench on CUDA (bf16; GEN_PROMPTS prompts, GEN_TOKENS new tokens each, batch 1 and
#    continuous batching) and transformers' generate on the same prompt ids, same limits;
# 7. Qwen2.5-VL (when .gpu/vl-reward-bench.xz is there): a random checkpoint with the released
#    vision tower and a Qwen2.5-0.5B-sized language model (scripts/bench/make_random_qwen2_vl.py),
#    ours on the CPU (f32) against ours on CUDA (bf16) over the same conversations (rewards); then
#    a Qwen2.5-VL-7B-sized one (VL_SIZE, default 7b; initialised on the GPU), ours on CUDA in bf16
#    against transformers in bf16 on the same GPU and conversations (VL_CONVERSATIONS, default 32);
# 8. writes $OUT/summary.md (markdown tables), $OUT/results.json (all reports), $OUT/gpu-run.log.
#
# Aims at ~4-6 minutes of wall time on an H100/H200. Each step has a timeout, a failed step is
# recorded and the rest go on, and optional steps are skipped past DEADLINE_S seconds.
#
# Settings: OUT (default target/gpu-out), GPU_WORK (default /tmp/omnireward-gpu), PYTHON (python3),
# REWARD_BENCH (a reward-bench binary to use instead of .gpu/reward-bench.xz), GPU_DEVICE (cuda;
# `cpu` runs the whole script on the CPU to test its logic), TORCH_GPU_DTYPE (bfloat16),
# TINY=1 (toy-sized checkpoints, for tests), TOKENS (128), PARITY_PAIRS (16), BERT_PAIRS (1024),
# QWEN_PAIRS (512), REPEATS (3), DEADLINE_S (330).
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root" || exit 1
OUT=${OUT:-$root/target/gpu-out}
work=${GPU_WORK:-/tmp/omnireward-gpu}
python=${PYTHON:-python3}
device=${GPU_DEVICE:-cuda}
gpu_dtype=${TORCH_GPU_DTYPE:-bfloat16}
tokens=${TOKENS:-128}
parity_pairs=${PARITY_PAIRS:-16}
repeats=${REPEATS:-3}
deadline=${DEADLINE_S:-330}
results=$work/results
mkdir -p "$OUT" "$results" || exit 1
rm -f "$results"/*
exec > >(tee -a "$OUT/gpu-run.log") 2>&1
started=$SECONDS
failures=()

log() { echo "[gpu-run +$((SECONDS - started))s] $*" >&2; }
# step SECONDS NAME COMMAND...: runs with a timeout, records a failure, never stops the script.
step() {
    local limit=$1 name=$2
    shift 2
    log "$name"
    timeout --kill-after=5 "$limit" "$@"
    local status=$?
    if [ $status -ne 0 ]; then
        log "FAILED ($status): $name"
        failures+=("$name (exit $status)")
    fi
    return $status
}
late() { [ $((SECONDS - started)) -ge "$deadline" ]; }

log "device $device, work folder $work"
if command -v nvidia-smi > /dev/null; then
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
    card=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -n 1)
else
    card="(no nvidia-smi)"
fi
log "card: $card"
"$python" -c 'import torch, transformers, tokenizers; print("python stack: torch", torch.__version__, "transformers", transformers.__version__, "tokenizers", tokenizers.__version__, "cuda", torch.version.cuda)'
[ -f .gpu/BUILD ] && cat .gpu/BUILD

# 2. The binary.
bench=${REWARD_BENCH:-$work/reward-bench}
if [ -z "${REWARD_BENCH:-}" ]; then
    [ -f .gpu/reward-bench.xz ] || { log "no .gpu/reward-bench.xz: run scripts/gpu-check.sh and carry .gpu"; exit 1; }
    "$python" -c 'import lzma, shutil, sys
with lzma.open(sys.argv[1]) as source, open(sys.argv[2], "wb") as target:
    shutil.copyfileobj(source, target)' .gpu/reward-bench.xz "$bench" || exit 1
    chmod +x "$bench"
fi
if ldd "$bench" | grep -q "not found"; then
    # CUDA 13 libraries from the Python packages, when the loader path lacks them.
    extra=$("$python" -c 'import glob, os, site
dirs = set()
for base in site.getsitepackages():
    for lib in glob.glob(os.path.join(base, "nvidia", "**", "lib*.so*"), recursive=True):
        dirs.add(os.path.dirname(lib))
print(":".join(sorted(dirs)))')
    export LD_LIBRARY_PATH=${extra}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    log "libraries not found by the loader; added the Python packages' CUDA folders"
fi
ldd "$bench" | grep -E "cuda|cublas|curand|nvrtc|not found"
export CUDA_CACHE_MAXSIZE=${CUDA_CACHE_MAXSIZE:-4294967296}

# 3. Checkpoints.
checkpoints=$work/checkpoints
tiny=()
[ "${TINY:-0}" = 1 ] && tiny=(--tiny)
tokenizer=.gpu/bert-tokenizer
[ -f "$tokenizer/tokenizer.json" ] || tokenizer=$root/.cache/models/all-MiniLM-L6-v2
step 240 "make random checkpoints" "$python" scripts/bench/make_random_checkpoints.py \
    "$checkpoints" --bert-tokenizer "$tokenizer" "${tiny[@]}" || exit 1

torch_device=$device
cpu_threads=$(nproc)
for model in bert-base:${BERT_PAIRS:-1024} qwen2-0.5b:${QWEN_PAIRS:-512}; do
    name=${model%%:*}
    pairs=${model##*:}
    ckpt=$checkpoints/$name
    r=$results/$name
    # 4. Parity inputs: ours on the CPU writes the inputs and the batches.
    step 150 "$name: parity, ours on cpu (f32), $parity_pairs pairs" \
        "$bench" "$ckpt" --device cpu --pairs "$parity_pairs" --tokens "$tokens" \
        --write-inputs "$r.parity-inputs" --dump-batches "$r.parity-batches" \
        --output "$r.parity-ours-cpu.json" > /dev/null
    step 180 "$name: parity, ours on $device, same inputs (pays the PTX compilation once)" \
        "$bench" "$ckpt" --device "$device" --inputs "$r.parity-inputs" \
        --output "$r.parity-ours-cuda.json" > /dev/null
    # 5. Throughput.
    step 180 "$name: throughput, ours on $device, $pairs pairs of ~$tokens tokens" \
        "$bench" "$ckpt" --device "$device" --pairs "$pairs" --tokens "$tokens" \
        --repeats "$repeats" --warmup-pairs 64 --dump-batches "$r.batches" \
        --output "$r.ours-cuda.json" > /dev/null
    step 150 "$name: throughput, PyTorch $gpu_dtype on $torch_device, same batches" \
        "$python" scripts/bench/torch_reference.py "$ckpt" --batches "$r.batches" \
        --device "$torch_device" --dtype "$gpu_dtype" --repeats "$repeats" \
        --ours "$r.ours-cuda.json" --output "$r.torch-cuda-bf16.json" > /dev/null
    if [ "$name" = bert-base ] && ! late; then
        step 150 "$name: throughput, PyTorch float32 on $torch_device (the dtype we run encoders in)" \
            "$python" scripts/bench/torch_reference.py "$ckpt" --batches "$r.batches" \
            --device "$torch_device" --dtype float32 --repeats "$repeats" \
            --ours "$r.ours-cuda.json" --output "$r.torch-cuda-f32.json" > /dev/null
    fi
    if ! late; then
        step 120 "$name: parity, PyTorch $gpu_dtype on $torch_device over the parity batches" \
            "$python" scripts/bench/torch_reference.py "$ckpt" --batches "$r.parity-batches" \
            --device "$torch_device" --dtype "$gpu_dtype" \
            --output "$r.parity-torch-cuda-bf16.json" > /dev/null
    fi
    if ! late; then
        step 150 "$name: parity, PyTorch float32 on cpu over the parity batches" \
            "$python" scripts/bench/torch_reference.py "$ckpt" --batches "$r.parity-batches" \
            --device cpu --dtype float32 --threads "$cpu_threads" \
            --output "$r.parity-torch-cpu.json" > /dev/null
    fi
done

# 6. Generation: ours against transformers' generate, same prompts and limits, greedy.
if [ -f .gpu/generation-bench.xz ] && ! late; then
    generation_bench=$work/generation-bench
    "$python" -c 'import lzma, shutil, sys
with lzma.open(sys.argv[1]) as source, open(sys.argv[2], "wb") as target:
    shutil.copyfileobj(source, target)' .gpu/generation-bench.xz "$generation_bench" && chmod +x "$generation_bench"
    gen_prompts=${GEN_PROMPTS:-32}
    gen_tokens=${GEN_TOKENS:-128}
    if step 240 "generation: random Qwen2ForCausalLM (Qwen2.5-0.5B size)" \
        "$python" scripts/bench/torch_generation_reference.py make "$checkpoints" "${tiny[@]}"; then
        causal=$checkpoints/qwen2-0.5b-causal
        step 240 "generation: ours on $device (bf16), $gen_prompts prompts x $gen_tokens tokens" \
            "$generation_bench" "$causal" --device "$device" --prompts "$gen_prompts" \
            --max-new-tokens "$gen_tokens" --batch-rows 16 \
            --write-prompts "$results/generation.prompts" > "$results/generation.ours-cuda.json"
        step 240 "generation: transformers generate $gpu_dtype on $torch_device, same prompts" \
            "$python" scripts/bench/torch_generation_reference.py time "$causal" \
            --prompts "$results/generation.prompts" --max-new-tokens "$gen_tokens" \
            --batch-rows 16 --device "$torch_device" --dtype "$gpu_dtype" \
            > "$results/generation.torch-cuda.json"
    fi
fi

# 7. Qwen2.5-VL: CUDA against our CPU, then ours against transformers at 7B size, both in bf16.
if [ -f .gpu/vl-reward-bench.xz ] && ! late; then
    vl_bench=$work/vl-reward-bench
    "$python" -c 'import lzma, shutil, sys
with lzma.open(sys.argv[1]) as source, open(sys.argv[2], "wb") as target:
    shutil.copyfileobj(source, target)' .gpu/vl-reward-bench.xz "$vl_bench" && chmod +x "$vl_bench"
    vl_small=tiny
    [ "${TINY:-0}" = 1 ] || vl_small=0.5b
    if step 240 "qwen2.5-vl: random checkpoint ($vl_small)" \
        "$python" scripts/bench/make_random_qwen2_vl.py "$checkpoints" --size "$vl_small" --conversations 4; then
        vl=$checkpoints/qwen2_5_vl-$vl_small
        step 240 "qwen2.5-vl ($vl_small): ours on cpu (f32)" \
            "$vl_bench" "$vl" --device cpu --output "$results/vl.ours-cpu.json" > /dev/null
        step 120 "qwen2.5-vl ($vl_small): ours on $device (bf16), same conversations" \
            "$vl_bench" "$vl" --device "$device" --bf16 --output "$results/vl.ours-cuda.json" > /dev/null
        step 120 "qwen2.5-vl ($vl_small): transformers float32 on cpu, same conversations" \
            "$python" scripts/bench/torch_vl_reference.py "$vl" --device cpu --dtype float32 \
            --ours "$results/vl.ours-cpu.json" --output "$results/vl.torch-cpu.json" > /dev/null
    fi
    vl_size=${VL_SIZE:-7b}
    [ "${TINY:-0}" = 1 ] && vl_size=tiny
    if ! late && step 300 "qwen2.5-vl: random checkpoint ($vl_size, initialised on $device)" \
        "$python" scripts/bench/make_random_qwen2_vl.py "$checkpoints/large" --size "$vl_size" \
        --device "$device" --conversations "${VL_CONVERSATIONS:-32}"; then
        vl=$checkpoints/large/qwen2_5_vl-$vl_size
        step 300 "qwen2.5-vl ($vl_size): ours on $device (bf16), $repeats passes" \
            "$vl_bench" "$vl" --device "$device" --bf16 --repeats "$repeats" \
            --output "$results/vl-large.ours-cuda.json" > /dev/null
        step 300 "qwen2.5-vl ($vl_size): transformers $gpu_dtype on $torch_device, same conversations" \
            "$python" scripts/bench/torch_vl_reference.py "$vl" --device "$torch_device" --dtype "$gpu_dtype" \
            --repeats "$repeats" --ours "$results/vl-large.ours-cuda.json" \
            --output "$results/vl-large.torch-cuda.json" > /dev/null
    fi
fi

# 8. Summary.
{
    echo "## GPU check: $card"
    echo
    echo "- $(date -u +%Y-%m-%dT%H:%M:%SZ), device \`$device\`, $(nproc) CPU threads, wall time $((SECONDS - started)) s"
    [ -f .gpu/BUILD ] && sed 's/^/- build /' .gpu/BUILD
    "$python" -c 'import torch, transformers; print("- PyTorch", torch.__version__, "transformers", transformers.__version__)'
    echo "- TFLOP/s = 2 × matmul parameters (all less embedding tables) × real tokens / seconds"
    [ ${#failures[@]} -gt 0 ] && printf -- '- FAILED: %s\n' "${failures[@]}"
    echo
    "$python" scripts/bench/summarize.py "$results" --results "$OUT/results.json"
    if [ -s "$results/generation.ours-cuda.json" ] && [ -s "$results/generation.torch-cuda.json" ]; then
        echo
        echo "### Generation (random Qwen2.5-0.5B-sized Qwen2ForCausalLM, greedy)"
        echo
        "$python" -c 'import json, sys
ours, torch = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
print("| | ours tokens/s | transformers tokens/s | ratio |")
print("|---|---|---|---|")
for name in ("batch_1", "batched"):
    a, b = ours[name]["generated_tokens_per_second"], torch[name]["generated_tokens_per_second"]
    print(f"| {name} | {a:.1f} | {b:.1f} | {a / b:.2f} |")' "$results/generation.ours-cuda.json" "$results/generation.torch-cuda.json"
    fi
    if [ -s "$results/vl.ours-cpu.json" ] || [ -s "$results/vl-large.ours-cuda.json" ]; then
        echo
        echo "### Qwen2.5-VL reward model (random; real vision tower), conversations with one image"
        echo
        "$python" scripts/bench/summarize_vl.py "$results"
    fi
} > "$OUT/summary.md"
cat "$OUT/summary.md"
log "done in $((SECONDS - started)) s; results in $OUT"
[ ${#failures[@]} -eq 0 ]
