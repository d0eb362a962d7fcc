"""The Qwen2.5-VL section of gpu-run.sh's summary: what ours on CUDA (bf16) differs from ours on
the CPU (f32) and transformers on the CPU, and the 7B-size timing against transformers.

    python scripts/bench/summarize_vl.py RESULTS_FOLDER
"""

import json
import os
import sys


def load(folder, name):
    path = os.path.join(folder, name)
    if os.path.exists(path) and os.path.getsize(path):
        with open(path) as file:
            return json.load(file)
    return None


def main() -> None:
    folder = sys.argv[1]
    cpu, cuda = load(folder, "vl.ours-cpu.json"), load(folder, "vl.ours-cuda.json")
    torch_cpu = load(folder, "vl.torch-cpu.json")
    if cpu and cuda:
        worst = max(abs(a - b) for a, b in zip(cpu["rewards"], cuda["rewards"]))
        print(f"- small checkpoint: max |ours CUDA bf16 - ours CPU f32| reward = {worst:.3g}")
    if torch_cpu:
        print(
            f"- small checkpoint: max |ours CPU f32 - transformers CPU f32| reward = "
            f"{torch_cpu['max_abs_difference']:.3g} (rewards spread {torch_cpu['reward_spread']:.3g})"
        )
    ours, theirs = load(folder, "vl-large.ours-cuda.json"), load(folder, "vl-large.torch-cuda.json")
    if ours and theirs:
        ratio = ours["conversations_per_second"] / theirs["conversations_per_second"]
        print()
        print("| | ours (bf16) | transformers (bf16) | ratio |")
        print("|---|---|---|---|")
        print(
            f"| conversations/s | {ours['conversations_per_second']:.2f} | "
            f"{theirs['conversations_per_second']:.2f} | {ratio:.2f} |"
        )
        print()
        print(
            f"max |ours - transformers| reward = {theirs['max_abs_difference']:.3g} (spread "
            f"{theirs['reward_spread']:.3g}); {ours['conversations']} conversations, {ours['tokens']} tokens"
        )


if __name__ == "__main__":
    main()
