"""The generation half of the GPU check: a random Qwen2ForCausalLM of Qwen2.5-0.5B size, and
transformers' `generate` timed over the exact prompts generation-bench ran.

    python scripts/bench/torch_generation_reference.py make OUT_DIR [--tiny] [--dtype bfloat16]
    python scripts/bench/torch_generation_reference.py time CHECKPOINT --prompts prompts.json \
        --max-new-tokens 64 [--batch-rows 16] [--device cuda] [--dtype bfloat16]

`make` writes OUT_DIR/qwen2-0.5b-causal/ with the byte-level BPE tokenizer and ChatML template of
make_random_checkpoints.py (so our loader renders prompts as for a real chat model) and random
weights. `time` reads the token ids generation-bench wrote (--write-prompts), generates greedily
exactly --max-new-tokens tokens per prompt (min_new_tokens = max_new_tokens, so the end-of-turn
token does not stop it, as in generation-bench), one prompt at a time and then in left-padded
batches of --batch-rows, with torch.cuda.synchronize() before each clock read, and prints one JSON
object with generated tokens per second and judgements per minute of both passes.
"""

import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_random_checkpoints as random_checkpoints  # noqa: E402


def make(out_dir, tiny, dtype):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    folder = os.path.join(out_dir, "qwen2-0.5b-causal")
    os.makedirs(folder, exist_ok=True)
    tokenizer = random_checkpoints.train_qwen_tokenizer()
    tokenizer.save(os.path.join(folder, "tokenizer.json"))
    pad_id = tokenizer.token_to_id("<|endoftext|>")
    eos_id = tokenizer.token_to_id("<|im_end|>")
    with open(os.path.join(folder, "tokenizer_config.json"), "w") as file:
        json.dump({
            "tokenizer_class": "PreTrainedTokenizerFast",
            "bos_token": None,
            "eos_token": "<|im_end|>",
            "pad_token": "<|endoftext|>",
            "model_max_length": 32768,
            "chat_template": random_checkpoints.CHATML_TEMPLATE,
        }, file, indent=2)
    config = random_checkpoints.qwen2_config_kwargs(pad_id, eos_id, tiny)
    config.pop("num_labels", None)
    config["architectures"] = ["Qwen2ForCausalLM"]
    torch.manual_seed(random_checkpoints.SEED)
    model = Qwen2ForCausalLM(Qwen2Config(**config)).eval()
    random_checkpoints.save_model(model, folder, getattr(torch, dtype))
    print(folder)


def timed(device, work):
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    started = time.perf_counter()
    work()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - started


def time_generation(args):
    from transformers import AutoModelForCausalLM

    with open(args.prompts, encoding="utf-8") as handle:
        prompts = json.load(handle)
    model = AutoModelForCausalLM.from_pretrained(
        args.checkpoint, dtype=getattr(torch, args.dtype)
    ).to(args.device).eval()
    pad_id = model.config.pad_token_id or 0
    options = dict(
        do_sample=False,
        max_new_tokens=args.max_new_tokens,
        min_new_tokens=args.max_new_tokens,
        pad_token_id=pad_id,
    )

    def generate(rows):
        width = max(len(ids) for ids in rows)
        input_ids = torch.tensor([[pad_id] * (width - len(ids)) + ids for ids in rows], device=args.device)
        mask = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in rows], device=args.device)
        with torch.inference_mode():
            model.generate(input_ids=input_ids, attention_mask=mask, **options)

    generate(prompts[:1])  # warm-up
    batch_1 = timed(args.device, lambda: [generate([ids]) for ids in prompts])
    batches = [prompts[start:start + args.batch_rows] for start in range(0, len(prompts), args.batch_rows)]
    batched = timed(args.device, lambda: [generate(rows) for rows in batches])
    tokens = len(prompts) * args.max_new_tokens
    print(json.dumps({
        "implementation": "transformers generate",
        "device": args.device,
        "dtype": args.dtype,
        "prompts": len(prompts),
        "max_new_tokens": args.max_new_tokens,
        "batch_1": {"seconds": batch_1, "generated_tokens_per_second": tokens / batch_1,
                    "judgements_per_minute": len(prompts) * 60 / batch_1},
        "batched": {"rows": args.batch_rows, "seconds": batched,
                    "generated_tokens_per_second": tokens / batched,
                    "judgements_per_minute": len(prompts) * 60 / batched},
    }, indent=1))


def main():
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command", required=True)
    make_parser = commands.add_parser("make")
    make_parser.add_argument("out_dir")
    make_parser.add_argument("--tiny", action="store_true")
    make_parser.add_argument("--dtype", default="bfloat16")
    time_parser = commands.add_parser("time")
    time_parser.add_argument("checkpoint")
    time_parser.add_argument("--prompts", required=True)
    time_parser.add_argument("--max-new-tokens", type=int, default=64)
    time_parser.add_argument("--batch-rows", type=int, default=16)
    time_parser.add_argument("--device", default="cuda")
    time_parser.add_argument("--dtype", default="bfloat16")
    args = parser.parse_args()
    if args.command == "make":
        make(args.out_dir, args.tiny, args.dtype)
    else:
        time_generation(args)


if __name__ == "__main__":
    main()
