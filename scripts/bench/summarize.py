"""Markdown tables of a benchmark folder written by scripts/bench/cpu-bench.sh or
scripts/gpu-run.sh, and results.json with every report in it.

File names in FOLDER: MODEL.RUN.json, or MODEL.RUN.rN.json for round N of several (the median
of the rounds' times is reported), where RUN is one of
  ours-cpu, torch-cpu, torch-cpu-onednn, ours-cpu-baseline
                                              (cpu-bench.sh: same batches, same dtype)
  ours-cuda, torch-cuda-bf16, torch-cuda-f32  (gpu-run.sh throughput: same batches)
  parity-ours-cpu, parity-ours-cuda, parity-torch-cpu, parity-torch-cuda-bf16
                                              (gpu-run.sh parity: same inputs)
Reports from reward-bench have "matmul_parameters"; those from torch_reference.py have
"implementation": "pytorch".

    python scripts/bench/summarize.py FOLDER [--results results.json]
"""

import argparse
import glob
import json
import math
import os
import re
import statistics

THROUGHPUT = [
    ("ours-cpu", ["torch-cpu", "torch-cpu-onednn", "ours-cpu-baseline"]),
    ("ours-cuda", ["torch-cuda-bf16", "torch-cuda-f32"]),
]
PARITY = [
    ("parity-ours-cuda", "parity-ours-cpu"),
    ("parity-torch-cuda-bf16", "parity-ours-cpu"),
    ("parity-ours-cpu", "parity-torch-cpu"),
    ("ours-cpu", "torch-cpu"),
    ("ours-cpu", "torch-cpu-onednn"),
    ("ours-cpu", "ours-cpu-baseline"),
    ("ours-cuda", "torch-cuda-bf16"),
    ("ours-cuda", "torch-cuda-f32"),
]


def merge(found):
    """Rounds of one run (separate processes, alternated with the other implementation): the
    median of their timings, the first round's rewards."""
    if len(found) == 1:
        return found[0]
    merged = dict(found[0])
    merged["seconds"] = statistics.median(report["seconds"] for report in found)
    merged["round_seconds"] = [report["seconds"] for report in found]
    cpu = [report["cpu_seconds"] for report in found if report.get("cpu_seconds") is not None]
    merged["cpu_seconds"] = statistics.median(cpu) if cpu else None
    merged["all_seconds"] = [value for report in found for value in report.get("all_seconds", [])]
    merged["pairs_per_second"] = merged["pairs"] / merged["seconds"]
    merged["tokens_per_second"] = merged["real_tokens"] / merged["seconds"]
    return merged


def cpu_text(report):
    value = report.get("cpu_seconds")
    return "–" if value is None else f"{value:.3g}"


def compare(first, second):
    a = [value for pair in first["rewards"] for value in pair]
    b = [value for pair in second["rewards"] for value in pair]
    if len(a) != len(b):
        return None
    differences = [x - y for x, y in zip(a, b)]
    norm = math.sqrt(sum(y * y for y in b)) or 1.0
    same = sum((p[0] > p[1]) == (q[0] > q[1]) for p, q in zip(first["rewards"], second["rewards"]))
    return {
        "max_abs_diff": max(abs(d) for d in differences),
        "relative_l2_error": math.sqrt(sum(d * d for d in differences)) / norm,
        "reward_std": statistics.pstdev(b),
        "same_preference": same / len(first["rewards"]),
    }


RUN_NAMES = {
    "torch-cpu": "PyTorch (MKL)",
    "torch-cpu-onednn": "PyTorch (oneDNN)",
    "ours-cpu-baseline": "baseline build",
    "torch-cuda-bf16": "PyTorch bf16",
    "torch-cuda-f32": "PyTorch f32",
}


def label(run, report):
    if report.get("implementation") == "pytorch":
        linear = " (oneDNN linear)" if report.get("linear") == "onednn" else ""
        return f"PyTorch {report['torch']} / transformers {report['transformers']}{linear}"
    if run.endswith("-baseline"):
        return "omnireward (candle), baseline build"
    return "omnireward (candle)"


def dtype(report):
    return {"float32": "f32", "bfloat16": "bf16", "float16": "f16"}.get(report["dtype"], report["dtype"])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("folder")
    parser.add_argument("--results")
    args = parser.parse_args()
    rounds = {}
    for path in sorted(glob.glob(os.path.join(args.folder, "*.json"))):
        parts = os.path.basename(path)[: -len(".json")].rsplit(".", 2)
        if len(parts) == 3 and re.fullmatch(r"r[0-9]+", parts[2]):
            model, run = parts[0], parts[1]  # one round of several: MODEL.RUN.rN.json
        elif len(parts) >= 2:
            model, run = ".".join(parts[:-1]), parts[-1]
        else:
            continue
        try:
            with open(path) as file:
                report = json.load(file)
        except (OSError, ValueError):
            continue
        if isinstance(report, dict) and "rewards" in report:
            rounds.setdefault(model, {}).setdefault(run, []).append(report)
    reports = {
        model: {run: merge(found) for run, found in runs.items()} for model, runs in rounds.items()
    }
    if args.results:
        with open(args.results, "w") as file:
            json.dump(reports, file)

    print("| model | implementation | device | dtype | threads | pairs | real tokens | seconds "
          "| of which tokenizing | CPU s | pairs/s | tokens/s | TFLOP/s | ours ÷ other (pairs/s) "
          "| ours ÷ other (CPU time) |")
    print("|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for model, runs in reports.items():
        matmul = next((r["matmul_parameters"] for r in runs.values() if "matmul_parameters" in r), None)
        for ours_run, torch_runs in THROUGHPUT:
            rows = [(run, runs[run]) for run in [ours_run, *torch_runs] if run in runs]
            ours = runs.get(ours_run)
            for run, report in rows:
                tflops = (2 * matmul * report["real_tokens"] / report["seconds"] / 1e12) if matmul else math.nan
                ratio = ""
                cpu_ratio = ""
                if report is ours and "cpu" in report["device"]:
                    cpu_ratio = " / ".join(
                        f"{runs[t]['cpu_seconds'] / ours['cpu_seconds']:.2f}x vs {RUN_NAMES[t]}"
                        for t in torch_runs
                        if t in runs and runs[t].get("cpu_seconds") and ours.get("cpu_seconds")
                    )
                if report is ours:
                    ratio = " / ".join(
                        f"**{runs[t]['seconds'] / ours['seconds']:.2f}x** vs {RUN_NAMES[t]}"
                        for t in torch_runs if t in runs
                    )
                threads = report.get("threads", report.get("cpu_threads", ""))
                tokenizing = f"{report['tokenize_seconds']:.3g}" if "tokenize_seconds" in report else "–"
                print(f"| {model} | {label(run, report)} | {report['device']} | {dtype(report)} | {threads} "
                      f"| {report['pairs']} | {report['real_tokens']} | {report['seconds']:.3g} "
                      f"| {tokenizing} | {cpu_text(report)} "
                      f"| {report['pairs_per_second']:.2f} | {report['tokens_per_second']:.0f} "
                      f"| {tflops:.3g} | {ratio} | {cpu_ratio} |")
    print()
    print("| model | rewards | against | max abs diff | relative L2 error | reward std | same preference |")
    print("|---|---|---|---:|---:|---:|---:|")
    for model, runs in reports.items():
        for first, second in PARITY:
            if first in runs and second in runs:
                result = compare(runs[first], runs[second])
                if result is None:
                    continue
                describe = lambda run: f"{run} ({dtype(runs[run])})"
                print(f"| {model} | {describe(first)} | {describe(second)} | {result['max_abs_diff']:.3g} "
                      f"| {result['relative_l2_error']:.3g} | {result['reward_std']:.3g} "
                      f"| {100 * result['same_preference']:.1f}% |")


if __name__ == "__main__":
    main()
