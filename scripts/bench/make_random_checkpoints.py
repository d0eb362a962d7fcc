"""Random-weight (seeded) reward-model checkpoints of real sizes, for throughput benchmarks.

Writes two Hugging Face checkpoint folders under OUT_DIR (not committed: ~0.2 GB and ~1 GB in
bf16, twice that in f32):

- bert-base/: BertForSequenceClassification of BERT-base size (hidden 768, 12 layers, 12 heads,
  intermediate 3072, vocab 30522, num_labels 1) with the bert-base-uncased tokenizer files of
  all-MiniLM-L6-v2 (--bert-tokenizer);
- qwen2-0.5b/: Qwen2ForSequenceClassification of Qwen2.5-0.5B size (hidden 896, 24 layers,
  14 heads, 2 key-value heads, intermediate 4864, vocab 151936, tied embeddings, num_labels 1,
  pad_token_id set) with a byte-level BPE tokenizer trained here with `tokenizers` on a small
  English corpus (its vocabulary is smaller than the model's; the ids it produces are valid
  rows of the embedding) and a ChatML chat template.

Weights: transformers' own initialisation under torch.manual_seed(SEED), with the reward head
(`classifier` / `score`) redrawn at std 0.5 so that rewards differ visibly between inputs. They are
saved in --dtype (default bfloat16: exact in f32 and bf16, so a parity check between an f32 and a
bf16 run measures arithmetic, not weight rounding).

Works with transformers 4.57 and 5.x; the tokenizer files are written without transformers.

    python scripts/bench/make_random_checkpoints.py OUT_DIR [--only bert|qwen2] [--dtype float32] [--tiny]
"""

import argparse
import json
import os
import shutil
import sys
import time

import torch
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers
from tokenizers import pre_tokenizers, processors, trainers

SEED = 20240611
HEAD_STD = 0.5
BERT_TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"]
DEFAULT_BERT_TOKENIZER = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", ".cache", "models", "all-MiniLM-L6-v2"
)

QWEN_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
CHATML_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content']"
    " + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
    "{% endif %}"
)
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

CORPUS = """
The model reads the question and the response, and a reward tells how helpful and correct the
answer is. A good response follows the instruction, explains the reason, and gives accurate
detail; a bad one is harmful, vague or wrong. Describe the scene: people walk along the street
of a quiet city in the morning, a dog runs in the garden, birds sing in a tree by the river, the
sky is clear and blue, a child reads a book at the table near the window. Count the objects in
the image: three red chairs, seven white cups, one black door. Listen to the audio and tell
whether the voice is loud or soft, fast or slow; the music starts with a bright sound and ends
with a dark, quiet note. Watch the video and explain what happens first, second and last.
However, the answer should be simple and complete, and it must not invent facts. Therefore the
better response is the one that is safe, clear and useful to the user who asked. Some numbers:
0 1 2 3 4 5 6 7 8 9 10 42 100 2024. Punctuation, quotes "like this" and 'that', (brackets),
lists - one; two: three! question? system user assistant
"""


# --tiny: the same families and tokenizers at toy sizes, to test the scripts' logic quickly.
TINY_SIZES = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128)


def bert_config_kwargs(tiny=False):
    sizes = TINY_SIZES if tiny else {}
    return dict(
        vocab_size=30522,
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
        intermediate_size=3072,
        hidden_act="gelu",
        max_position_embeddings=512,
        type_vocab_size=2,
        layer_norm_eps=1e-12,
        pad_token_id=0,
        num_labels=1,
        architectures=["BertForSequenceClassification"],
    ) | sizes


def qwen2_config_kwargs(pad_token_id, eos_token_id, tiny=False):
    sizes = TINY_SIZES | dict(num_key_value_heads=2, vocab_size=4096) if tiny else {}
    return dict(
        vocab_size=151936,
        hidden_size=896,
        intermediate_size=4864,
        num_hidden_layers=24,
        num_attention_heads=14,
        num_key_value_heads=2,
        hidden_act="silu",
        max_position_embeddings=32768,
        rope_theta=1000000.0,
        rms_norm_eps=1e-6,
        tie_word_embeddings=True,
        use_sliding_window=False,
        num_labels=1,
        pad_token_id=pad_token_id,
        eos_token_id=eos_token_id,
        bos_token_id=None,
        architectures=["Qwen2ForSequenceClassification"],
    ) | sizes


def redraw_head(model, prefix):
    generator = torch.Generator().manual_seed(SEED + 1)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.startswith(prefix):
                if name.endswith("bias"):
                    parameter.zero_()
                else:
                    parameter.copy_(HEAD_STD * torch.randn(parameter.shape, generator=generator))


def save_model(model, folder, dtype):
    model = model.to(dtype)
    try:
        model.save_pretrained(folder, safe_serialization=True)
    except TypeError:  # transformers 5 always writes safetensors and dropped the argument
        model.save_pretrained(folder)
    if not any(name.endswith(".safetensors") for name in os.listdir(folder)):
        sys.exit(f"make_random_checkpoints: no safetensors file written in {folder}")


def make_bert(out_dir, tokenizer_dir, dtype, tiny):
    from transformers import BertConfig, BertForSequenceClassification

    folder = os.path.join(out_dir, "bert-base")
    os.makedirs(folder, exist_ok=True)
    for name in BERT_TOKENIZER_FILES:
        source = os.path.join(tokenizer_dir, name)
        if not os.path.exists(source):
            sys.exit(f"make_random_checkpoints: {source} is missing (give --bert-tokenizer)")
        shutil.copyfile(source, os.path.join(folder, name))
    torch.manual_seed(SEED)
    model = BertForSequenceClassification(BertConfig(**bert_config_kwargs(tiny))).eval()
    redraw_head(model, "classifier")
    save_model(model, folder, dtype)
    return folder


def train_qwen_tokenizer():
    tokenizer = Tokenizer(models.BPE())
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN_PATTERN), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=2048,
        min_frequency=1,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    lines = [line for line in CORPUS.strip().splitlines() if line.strip()]
    tokenizer.train_from_iterator(lines * 4, trainer)
    tokenizer.add_special_tokens([AddedToken(token, special=True, normalized=False) for token in SPECIAL_TOKENS])
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    return tokenizer


def make_qwen2(out_dir, dtype, tiny):
    from transformers import Qwen2Config, Qwen2ForSequenceClassification

    folder = os.path.join(out_dir, "qwen2-0.5b")
    os.makedirs(folder, exist_ok=True)
    tokenizer = train_qwen_tokenizer()
    tokenizer.save(os.path.join(folder, "tokenizer.json"))
    pad_id = tokenizer.token_to_id("<|endoftext|>")
    eos_id = tokenizer.token_to_id("<|im_end|>")
    tokenizer_config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": None,
        "eos_token": "<|im_end|>",
        "pad_token": "<|endoftext|>",
        "unk_token": None,
        "model_max_length": 32768,
        "padding_side": "right",
        "add_prefix_space": False,
        "clean_up_tokenization_spaces": False,
        "chat_template": CHATML_TEMPLATE,
    }
    with open(os.path.join(folder, "tokenizer_config.json"), "w") as file:
        json.dump(tokenizer_config, file, indent=2)
    torch.manual_seed(SEED)
    model = Qwen2ForSequenceClassification(Qwen2Config(**qwen2_config_kwargs(pad_id, eos_id, tiny))).eval()
    redraw_head(model, "score")
    save_model(model, folder, dtype)
    return folder


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir")
    parser.add_argument("--only", choices=["bert", "qwen2"])
    parser.add_argument("--dtype", choices=["bfloat16", "float32"], default="bfloat16")
    parser.add_argument("--tiny", action="store_true", help="toy sizes (2 layers, hidden 64), for testing scripts")
    parser.add_argument("--bert-tokenizer", default=DEFAULT_BERT_TOKENIZER,
                        help="folder with bert-base-uncased tokenizer files (default: all-MiniLM-L6-v2's)")
    args = parser.parse_args()
    dtype = getattr(torch, args.dtype)
    os.makedirs(args.out_dir, exist_ok=True)
    for name, make in [("bert", lambda: make_bert(args.out_dir, args.bert_tokenizer, dtype, args.tiny)),
                       ("qwen2", lambda: make_qwen2(args.out_dir, dtype, args.tiny))]:
        if args.only not in (None, name):
            continue
        started = time.time()
        folder = make()
        size = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))
        print(f"make_random_checkpoints: {folder} ({size / 1e6:.0f} MB, {time.time() - started:.1f} s)",
              file=sys.stderr)


if __name__ == "__main__":
    main()
