"""PyTorch (transformers) over the exact token batches reward-bench ran, timed the same way, and
its rewards compared with ours.

Reads the JSON that `reward-bench --dump-batches FILE` writes (each batch: input indices and
unpadded token ids; right padding with its pad id), loads the checkpoint with
AutoModelForSequenceClassification in --dtype on --device, scores the first batch once to warm
up, then times all batches (median of --repeats passes) under torch.inference_mode, with
torch.cuda.synchronize() before the clock is read on CUDA. The reward of an input is
logits[row, 0]; transformers finds a decoder's last real token itself (rightmost non-pad token).

    python scripts/bench/torch_reference.py CHECKPOINT --batches batches.json \
        [--device cpu|cuda] [--dtype float32|bfloat16] [--threads N] [--ours ours.json] \
        [--repeats R] [--output torch.json]

Prints one JSON object: device, dtype, threads, pairs, seconds, pairs_per_second,
tokens_per_second, tflops (same formula as reward-bench, with its matmul_parameters when --ours
is given), rewards and, with --ours, the comparison: max |ours - torch|, relative L2 error
‖ours - torch‖ / ‖torch‖, and the spread (standard deviation) of torch's rewards.
"""

import argparse
import json
import math
import statistics
import sys
import time

import torch
import torch.utils.mkldnn
import transformers
from transformers import AutoModelForSequenceClassification


def load_model(checkpoint, dtype, device):
    try:
        model = AutoModelForSequenceClassification.from_pretrained(checkpoint, dtype=dtype)
    except TypeError:  # transformers before 4.56 calls it torch_dtype
        model = AutoModelForSequenceClassification.from_pretrained(checkpoint, torch_dtype=dtype)
    return model.to(device).eval()


def padded(batch, pad_id, device):
    rows = batch["input_ids"]
    longest = max(len(row) for row in rows)
    ids = torch.full((len(rows), longest), pad_id, dtype=torch.long)
    types = torch.zeros((len(rows), longest), dtype=torch.long)
    mask = torch.zeros((len(rows), longest), dtype=torch.long)
    for index, (row, type_row) in enumerate(zip(rows, batch["token_type_ids"])):
        ids[index, : len(row)] = torch.tensor(row)
        types[index, : len(row)] = torch.tensor(type_row)
        mask[index, : len(row)] = 1
    return ids.to(device), types.to(device), mask.to(device)


def compare(ours, theirs):
    flat_ours = [value for pair in ours for value in pair]
    flat_theirs = [value for pair in theirs for value in pair]
    if len(flat_ours) != len(flat_theirs):
        return {"error": f"{len(flat_ours)} rewards against {len(flat_theirs)}"}
    differences = [a - b for a, b in zip(flat_ours, flat_theirs)]
    norm = math.sqrt(sum(b * b for b in flat_theirs)) or 1.0
    return {
        "max_abs_diff": max(abs(d) for d in differences),
        "relative_l2_error": math.sqrt(sum(d * d for d in differences)) / norm,
        "reward_std": statistics.pstdev(flat_theirs),
        "same_preference": sum(
            (a[0] > a[1]) == (b[0] > b[1]) for a, b in zip(ours, theirs)
        ) / len(ours),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint")
    parser.add_argument("--batches", required=True, help="reward-bench --dump-batches output")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], default="float32")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (CPU)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--ours", help="reward-bench's JSON report, to compare rewards with")
    parser.add_argument("--output", help="also write the JSON report here")
    parser.add_argument(
        "--onednn",
        action="store_true",
        help="CPU, float32: run the Linear layers through oneDNN (torch.utils.mkldnn.to_mkldnn, "
        "weights packed once) instead of the default BLAS (MKL)",
    )
    args = parser.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    with open(args.batches) as file:
        dump = json.load(file)
    ours = None
    if args.ours:
        with open(args.ours) as file:
            ours = json.load(file)

    started = time.perf_counter()
    model = load_model(args.checkpoint, getattr(torch, args.dtype), device)
    if args.onednn:
        if device.type != "cpu" or args.dtype != "float32":
            sys.exit("torch_reference: --onednn is for --device cpu --dtype float32")
        model = torch.utils.mkldnn.to_mkldnn(model)
    load_seconds = time.perf_counter() - started
    if next(model.parameters()).dtype != getattr(torch, args.dtype):
        sys.exit(f"torch_reference: the model loaded in {next(model.parameters()).dtype}, not {args.dtype}")
    uses_types = model.config.model_type in ("bert",)
    inputs = [padded(batch, dump["pad_id"], device) for batch in dump["batches"]]
    real_tokens = sum(len(row) for batch in dump["batches"] for row in batch["input_ids"])

    def run_all(selection):
        values = []
        for ids, types, mask in selection:
            extra = {"token_type_ids": types} if uses_types else {}
            logits = model(input_ids=ids, attention_mask=mask, **extra).logits
            values.append(logits[:, 0].float().cpu())
        return values

    def synchronize():
        if device.type == "cuda":
            torch.cuda.synchronize()

    with torch.inference_mode():
        started = time.perf_counter()
        run_all(inputs[:1])
        synchronize()
        warmup_seconds = time.perf_counter() - started
        all_seconds = []
        all_cpu_seconds = []
        for _ in range(max(1, args.repeats)):
            synchronize()
            cpu_started = time.process_time()
            started = time.perf_counter()
            outputs = run_all(inputs)
            synchronize()
            all_seconds.append(time.perf_counter() - started)
            all_cpu_seconds.append(time.process_time() - cpu_started)

    flat = [math.nan] * (2 * dump["pairs"])
    for batch, values in zip(dump["batches"], outputs):
        for index, value in zip(batch["indices"], values.tolist()):
            flat[index] = value
    rewards = [[flat[2 * pair], flat[2 * pair + 1]] for pair in range(dump["pairs"])]
    seconds = statistics.median(all_seconds)
    report = {
        "implementation": "pytorch",
        "checkpoint": args.checkpoint,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "device": str(device) if device.type == "cpu" else torch.cuda.get_device_name(device),
        "dtype": args.dtype,
        "model_dtype": str(next(model.parameters()).dtype).replace("torch.", ""),
        "attention": getattr(model.config, "_attn_implementation", None),
        "linear": "onednn" if args.onednn else "default",
        "threads": torch.get_num_threads(),
        "pairs": dump["pairs"],
        "batches": len(dump["batches"]),
        "real_tokens": real_tokens,
        "load_seconds": load_seconds,
        "warmup_seconds": warmup_seconds,
        "seconds": seconds,
        "all_seconds": all_seconds,
        "cpu_seconds": statistics.median(all_cpu_seconds),
        "pairs_per_second": dump["pairs"] / seconds,
        "tokens_per_second": real_tokens / seconds,
        "rewards": rewards,
    }
    if ours is not None:
        report["tflops"] = 2 * ours["matmul_parameters"] * real_tokens / seconds / 1e12
        report["comparison_with_ours"] = compare(ours["rewards"], rewards)
        report["ours_speedup"] = report["seconds"] / ours["seconds"]
    if any(math.isnan(value) for value in flat):
        sys.exit("torch_reference: some inputs got no reward")
    text = json.dumps(report, indent=2)
    print(text)
    if args.output:
        with open(args.output, "w") as file:
            file.write(text + "\n")


if __name__ == "__main__":
    main()
