"""A random-weight (seeded) Qwen2.5-VL reward model of real size, and the inputs it is timed on.

Writes OUT_DIR/qwen2_5_vl-SIZE/ (not committed; about 2.3 GB in bf16 for --size 0.5b, the
default, and 16.6 GB for --size 7b, whose language model is Qwen2.5-VL-7B's):

- config.json: Qwen2_5_VLForConditionalGeneration with the vision tower of the released
  Qwen2.5-VL checkpoints (32 blocks of width 1280, 16 heads, SwiGLU 3420, window 112 with full
  attention in blocks 7, 15, 23 and 31, 14-pixel patches, 2 x 2 merge, 2 frames per temporal
  patch) and a language model of Qwen2.5-0.5B's size (hidden 896, 24 layers, 14 heads, 2
  key-value heads, SwiGLU 4864, vocabulary 151,936, tied embeddings) or, with --size 7b, of
  Qwen2.5-VL-7B's (hidden 3584, 28 layers, 28 heads, 4 key-value heads, SwiGLU 18944,
  vocabulary 152,064);
- model.safetensors: transformers' own initialisation under a fixed seed, saved in bfloat16
  (exact in f32 too, so an f32 run and a bf16 run differ by arithmetic only);
- value_head.safetensors: a trl value head (`v_head.summary.weight` and `.bias`) drawn at
  std 0.5, so rewards differ visibly between inputs;
- the tokenizer, chat template and preprocessor settings of the repository's tiny Qwen2.5-VL
  fixture (its ids are valid rows of the larger vocabulary; its image tokens are ids 500-505,
  which the config names), with max_pixels raised to the released checkpoints' value;
- inputs.json and images/: the timed conversations (criterion, prompt, response, one image each),
  images of a few sizes drawn from a seeded generator.

With --size tiny the tower and language model are small (a quick check that the pipeline runs).

    python scripts/bench/make_random_qwen2_vl.py OUT_DIR [--size tiny|0.5b|7b] [--device cuda]
        [--conversations N]
"""

import argparse
import json
import pathlib
import shutil

import numpy
import torch
from PIL import Image
from safetensors.torch import save_file
from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

SEED = 20261207
HEAD_STD = 0.5
FIXTURE = pathlib.Path(__file__).resolve().parents[2] / "backend/local-judge/tests/fixtures/qwen2_5_vl_tiny"
TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja"]
# Image sizes (width, height) of the timed conversations, cycled: square, wide and tall pictures,
# small enough (64-81 merged tokens each) that a pass of the 0.67 B-parameter tower takes
# seconds, not minutes, on two cores.
IMAGE_SIZES = [(224, 224), (280, 196), (196, 280), (252, 252)]
CRITERION = "Judge how accurately and helpfully the response answers the question about the image."
PROMPT = "Describe what is happening in this picture, including the colours and the objects you see."
RESPONSE = (
    "The picture shows a quiet street in the morning. Three red chairs stand beside a white table, "
    "a dog runs across the garden, and the sky above the river is clear and blue."
)


def config(size: str) -> Qwen2_5_VLConfig:
    fixture = json.loads((FIXTURE / "config.json").read_text())
    if size == "tiny":
        vision = dict(depth=4, hidden_size=64, intermediate_size=96, num_heads=4, fullatt_block_indexes=[1, 3])
        text = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                    intermediate_size=128, vocab_size=1024)
        section = [2, 3, 3]
    else:
        vision = dict(depth=32, hidden_size=1280, intermediate_size=3420, num_heads=16,
                      fullatt_block_indexes=[7, 15, 23, 31])
        if size == "0.5b":
            text = dict(hidden_size=896, num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2,
                        intermediate_size=4864, vocab_size=151936)
            section = [8, 12, 12]  # head size 64: half of it, split as the 7B splits 128
        else:  # Qwen2.5-VL-7B's language model
            text = dict(hidden_size=3584, num_hidden_layers=28, num_attention_heads=28, num_key_value_heads=4,
                        intermediate_size=18944, vocab_size=152064)
            section = [16, 24, 24]
    vision.update(hidden_act="silu", in_channels=3, patch_size=14, spatial_merge_size=2,
                  temporal_patch_size=2, tokens_per_second=2, window_size=112,
                  out_hidden_size=text["hidden_size"])
    text.update(hidden_act="silu", max_position_embeddings=32768, rms_norm_eps=1e-6, rope_theta=1000000.0,
                rope_scaling={"type": "mrope", "mrope_section": section}, tie_word_embeddings=size != "7b",
                use_sliding_window=False, sliding_window=None)
    return Qwen2_5_VLConfig(
        text_config=text,
        vision_config=vision,
        image_token_id=fixture["image_token_id"],
        video_token_id=fixture["video_token_id"],
        vision_start_token_id=fixture["vision_start_token_id"],
        vision_end_token_id=fixture["vision_end_token_id"],
        bos_token_id=fixture["bos_token_id"],
        eos_token_id=fixture["eos_token_id"],
        tie_word_embeddings=size != "7b",
    )


def write_inputs(folder: pathlib.Path, conversations: int) -> None:
    images = folder / "images"
    images.mkdir(exist_ok=True)
    generator = numpy.random.default_rng(SEED)
    records = []
    for index in range(conversations):
        width, height = IMAGE_SIZES[index % len(IMAGE_SIZES)]
        # Smooth colour fields plus noise: something like a photo, not a flat colour.
        rows = numpy.linspace(0, 1, height)[:, None, None]
        columns = numpy.linspace(0, 1, width)[None, :, None]
        base = generator.uniform(0, 255, size=(1, 1, 3)) * (0.5 + 0.5 * rows) * (0.5 + 0.5 * columns)
        noise = generator.normal(0, 25, size=(height, width, 3))
        pixels = numpy.clip(base + noise, 0, 255).astype(numpy.uint8)
        name = f"image_{index}.png"
        Image.fromarray(pixels, "RGB").save(images / name)
        records.append({"criterion": CRITERION, "prompt": PROMPT, "response": RESPONSE + f" ({index})",
                        "image": f"images/{name}"})
    (folder / "inputs.json").write_text(json.dumps(records, indent=1) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=pathlib.Path)
    parser.add_argument("--size", choices=["tiny", "0.5b", "7b"], default="0.5b")
    parser.add_argument("--device", default="cpu", help="where the weights are initialised (cuda: much faster for 7b)")
    parser.add_argument("--conversations", type=int, default=4)
    arguments = parser.parse_args()
    folder = arguments.out_dir / f"qwen2_5_vl-{arguments.size}"
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(SEED)
    with torch.device(arguments.device):
        model = Qwen2_5_VLForConditionalGeneration(config(arguments.size)).to(torch.bfloat16).eval()
    model.save_pretrained(folder, safe_serialization=True)
    hidden = model.config.text_config.hidden_size
    head = {
        "v_head.summary.weight": (torch.randn(1, hidden) * HEAD_STD).to(torch.bfloat16).cpu(),
        "v_head.summary.bias": torch.zeros(1).to(torch.bfloat16),
    }
    save_file(head, folder / "value_head.safetensors")
    for name in TOKENIZER_FILES:
        shutil.copyfile(FIXTURE / name, folder / name)
    preprocessor = json.loads((FIXTURE / "preprocessor_config.json").read_text())
    preprocessor["max_pixels"] = 12845056
    (folder / "preprocessor_config.json").write_text(json.dumps(preprocessor, indent=2) + "\n")
    write_inputs(folder, arguments.conversations)
    parameters = sum(parameter.numel() for parameter in model.parameters())
    print(json.dumps({"folder": str(folder), "parameters": parameters}))


if __name__ == "__main__":
    main()
