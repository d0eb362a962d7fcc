"""PyTorch reference for training throughput: the same Bradley-Terry steps as `train-bench`
(backend/training/src/bin/train_bench.rs), on the same token ids, training what it trained
(the batches file's `trainable`: `head` or `all`).

The model is transformers' BertForSequenceClassification (num_labels=1) over the checkpoint's
BertModel weights (all-MiniLM-L6-v2). Head only: the encoder is frozen (requires_grad False, so
no graph is kept for it), the pooler and classifier train; all: every parameter trains. Each step: one forward pass over the step's chosen
and rejected inputs (right-padded, attention mask), loss mean(softplus(-(r_chosen - r_rejected))),
backward, clip_grad_norm_ to the same limit, AdamW with the same weight decay and cosine schedule
with warm-up. Dropout is off (model.eval()), as candle's BERT has none.

    python scripts/bench/torch_train_reference.py MODEL_DIR BATCHES_JSON [--threads N] [--warmup-steps 2]

Prints one JSON line like train-bench.
"""

import argparse
import json
import math
import time

import torch
import torch.nn.functional as F
from transformers import BertConfig, BertForSequenceClassification
from safetensors.torch import load_file


def build_model(model_dir, trainable):
    config = BertConfig.from_pretrained(model_dir, num_labels=1)
    model = BertForSequenceClassification(config)
    weights = load_file(f"{model_dir}/model.safetensors")
    if not any(name.startswith("bert.") for name in weights):
        weights = {f"bert.{name}": tensor for name, tensor in weights.items()}
    missing, unexpected = model.load_state_dict(weights, strict=False)
    missing = [name for name in missing if not name.startswith("classifier.")]
    unexpected = [name for name in unexpected if not name.endswith("position_ids")]
    if missing or unexpected:
        raise SystemExit(f"weights do not fit: missing {missing}, unexpected {unexpected}")
    for name, parameter in model.named_parameters():
        parameter.requires_grad = trainable == "all" or name.startswith(("bert.pooler.", "classifier."))
    model.eval()
    return model


def padded(rows, pad_id):
    longest = max(len(row) for row in rows)
    ids = torch.full((len(rows), longest), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), longest), dtype=torch.long)
    for index, row in enumerate(rows):
        ids[index, : len(row)] = torch.tensor(row, dtype=torch.long)
        mask[index, : len(row)] = 1
    return ids, mask


def run_steps(model, document, steps):
    parameters = [parameter for parameter in model.parameters() if parameter.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=document["learning_rate"], weight_decay=document["weight_decay"])
    total = len(document["steps"])
    warmup = math.ceil(document["warmup_ratio"] * total)

    def learning_rate(step):
        if step < warmup:
            return document["learning_rate"] * step / max(1, warmup)
        progress = (step - warmup) / max(1, total - warmup)
        return document["learning_rate"] * max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))

    pairs = 0
    loss_value = None
    for step, batch in enumerate(steps):
        count = len(batch["chosen"])
        ids, mask = padded(batch["chosen"] + batch["rejected"], document["pad_id"])
        rewards = model(input_ids=ids, attention_mask=mask, token_type_ids=torch.zeros_like(ids)).logits[:, 0]
        loss = F.softplus(-(rewards[:count] - rewards[count:])).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, document["max_gradient_norm"])
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step)
        optimizer.step()
        pairs += count
        loss_value = loss.item()
    return pairs, loss_value


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model_dir")
    parser.add_argument("batches")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--warmup-steps", type=int, default=2)
    arguments = parser.parse_args()
    if arguments.threads:
        torch.set_num_threads(arguments.threads)
    with open(arguments.batches) as file:
        document = json.load(file)
    torch.manual_seed(0)
    trainable = document.get("trainable", "head")
    if arguments.warmup_steps:
        run_steps(build_model(arguments.model_dir, trainable), document, document["steps"][: arguments.warmup_steps])
    model = build_model(arguments.model_dir, trainable)
    started = time.perf_counter()
    pairs, loss = run_steps(model, document, document["steps"])
    seconds = time.perf_counter() - started
    tokens = sum(len(row) for step in document["steps"] for row in step["chosen"] + step["rejected"])
    print(json.dumps({
        "implementation": f"PyTorch {torch.__version__}",
        "trainable": trainable,
        "threads": torch.get_num_threads(),
        "pairs": pairs,
        "steps": len(document["steps"]),
        "real_tokens": tokens,
        "seconds": seconds,
        "pairs_per_second": pairs / seconds,
        "final_loss": loss,
    }))


if __name__ == "__main__":
    main()
