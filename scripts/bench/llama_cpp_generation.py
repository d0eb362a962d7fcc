"""llama.cpp (llama-cpp-python) over the exact prompts generation-bench ran: greedy, one request
at a time, exactly --max-new-tokens generated per prompt (end-of-turn tokens do not stop it),
timed the same way (prefill and decoding together, per request; the whole set).

    .venv/bin/python scripts/bench/llama_cpp_generation.py MODEL.gguf --prompts prompts.json \
        --max-new-tokens 64 [--threads N]

Prints one JSON object: threads, prompts, prompt_tokens, generated_tokens, seconds,
generated_tokens_per_second, judgements_per_minute, and decode_tokens_per_second (decoding
alone, prefill time subtracted).
"""

import argparse
import json
import os
import time

from llama_cpp import Llama


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("--prompts", required=True)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()
    with open(args.prompts, encoding="utf-8") as handle:
        prompts = json.load(handle)
    longest = max(len(ids) for ids in prompts) + args.max_new_tokens + 8
    llm = Llama(
        model_path=args.model,
        n_ctx=max(512, longest),
        n_batch=512,
        n_threads=args.threads,
        n_threads_batch=args.threads,
        verbose=False,
    )

    def one(ids):
        llm.reset()
        started = time.perf_counter()
        llm.eval(ids)
        prefilled = time.perf_counter()
        generated = 0
        for _ in llm.generate(ids, temp=0.0, top_k=1, top_p=1.0, repeat_penalty=1.0):
            generated += 1
            if generated == args.max_new_tokens:
                break
        return generated, prefilled - started, time.perf_counter() - started

    one(prompts[0])  # warm-up
    generated = 0
    prefill = 0.0
    started = time.perf_counter()
    for ids in prompts:
        count, prefill_seconds, _ = one(ids)
        generated += count
        prefill += prefill_seconds
    seconds = time.perf_counter() - started
    print(json.dumps({
        "implementation": "llama-cpp-python",
        "threads": args.threads,
        "prompts": len(prompts),
        "prompt_tokens": sum(len(ids) for ids in prompts),
        "generated_tokens": generated,
        "seconds": seconds,
        "generated_tokens_per_second": generated / seconds,
        "decode_tokens_per_second": generated / max(seconds - prefill, 1e-9),
        "judgements_per_minute": len(prompts) * 60.0 / seconds,
    }, indent=1))


if __name__ == "__main__":
    main()
