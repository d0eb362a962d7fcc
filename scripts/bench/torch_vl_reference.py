"""PyTorch (transformers) scoring the conversations of `make_random_qwen2_vl.py`, timed as
`vl-reward-bench` times ours, and its rewards compared with ours.

Each conversation is system = criterion, user = the image then the prompt, assistant = the
response, rendered with the checkpoint's chat template; the image goes through transformers'
slow `Qwen2VLImageProcessor` with the checkpoint's settings, each `<|image_pad|>` is expanded to
one per merged patch (as `Qwen2_5_VLProcessor` does) and the text tokenized. All conversations
form one right-padded batch; the reward is the value head on the final hidden state at each
conversation's last real token. A pass is the whole of that (images read, processed, tokenized,
scored), as it is for ours; the first pass warms up and the median of --repeats passes counts.

    python scripts/bench/torch_vl_reference.py CHECKPOINT [--dtype float32|bfloat16]
        [--device cpu|cuda] [--threads N] [--repeats R] [--ours ours.json] [--output torch.json]
"""

import argparse
import json
import pathlib
import statistics
import time

import torch
from PIL import Image
from safetensors.torch import load_file
from transformers import AutoTokenizer, Qwen2_5_VLForConditionalGeneration, Qwen2VLImageProcessor


def score(model, head, tokenizer, processor, folder, records, device):
    texts, images = [], []
    for record in records:
        messages = [
            {"role": "system", "content": record["criterion"]},
            {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": record["prompt"]}]},
            {"role": "assistant", "content": record["response"]},
        ]
        texts.append(tokenizer.apply_chat_template(messages, tokenize=False))
        images.append(Image.open(folder / record["image"]).convert("RGB"))
    pixels = processor(images=images, return_tensors="pt")
    merge = processor.merge_size ** 2
    rows = []
    for text, grid in zip(texts, pixels["image_grid_thw"]):
        expanded = text.replace("<|image_pad|>", "<|placeholder|>" * (int(grid.prod()) // merge))
        rows.append(tokenizer(expanded.replace("<|placeholder|>", "<|image_pad|>"))["input_ids"])
    longest = max(len(row) for row in rows)
    ids = torch.full((len(rows), longest), tokenizer.pad_token_id or 0, dtype=torch.long)
    mask = torch.zeros((len(rows), longest), dtype=torch.long)
    for index, row in enumerate(rows):
        ids[index, : len(row)] = torch.tensor(row)
        mask[index, : len(row)] = 1
    inputs = {
        "input_ids": ids.to(device),
        "attention_mask": mask.to(device),
        "pixel_values": pixels["pixel_values"].to(device, model.dtype),
        "image_grid_thw": pixels["image_grid_thw"].to(device),
    }
    output = model.model(**inputs)
    last = output.last_hidden_state[torch.arange(len(rows)), torch.tensor([len(row) - 1 for row in rows])]
    rewards = last.float() @ head["v_head.summary.weight"][0].float() + head["v_head.summary.bias"][0].float()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return rewards.tolist(), sum(len(row) for row in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=pathlib.Path)
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--ours", type=pathlib.Path)
    parser.add_argument("--output", type=pathlib.Path)
    arguments = parser.parse_args()
    if arguments.threads:
        torch.set_num_threads(arguments.threads)
    folder = arguments.checkpoint
    dtype = getattr(torch, arguments.dtype)
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(folder, dtype=dtype).to(arguments.device).eval()
    head = load_file(folder / "value_head.safetensors")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    settings = json.loads((folder / "preprocessor_config.json").read_text())
    processor = Qwen2VLImageProcessor(**{k: v for k, v in settings.items() if k != "image_processor_type"})
    records = json.loads((folder / "inputs.json").read_text())
    seconds = []
    with torch.inference_mode():
        score(model, head, tokenizer, processor, folder, records, arguments.device)
        for _ in range(arguments.repeats):
            start = time.perf_counter()
            rewards, tokens = score(model, head, tokenizer, processor, folder, records, arguments.device)
            seconds.append(time.perf_counter() - start)
    median = statistics.median(seconds)
    result = {
        "implementation": "transformers",
        "device": arguments.device,
        "dtype": arguments.dtype,
        "threads": torch.get_num_threads(),
        "conversations": len(records),
        "tokens": tokens,
        "seconds": median,
        "conversations_per_second": len(records) / median,
        "rewards": rewards,
    }
    if arguments.ours:
        ours = json.loads(arguments.ours.read_text())["rewards"]
        result["max_abs_difference"] = max(abs(a - b) for a, b in zip(ours, rewards))
        result["reward_spread"] = statistics.pstdev(rewards)
    text = json.dumps(result, indent=1)
    if arguments.output:
        arguments.output.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
