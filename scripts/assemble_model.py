"""Ships a trained reward head without its backbone, and puts the two back together.

usage: assemble_model.py extract TRAINED_FOLDER HEAD_FOLDER TENSOR_PREFIX...
       assemble_model.py assemble BACKBONE_FOLDER HEAD_FOLDER TARGET

`extract` copies the tensors of TRAINED_FOLDER/model.safetensors whose names start with one of
TENSOR_PREFIXes into HEAD_FOLDER/head.safetensors (how backend/assets/models/minilm-bt-head/ was
made; its README says with which arguments).

`assemble` follows HEAD_FOLDER/assembly.json: it checks the backbone's weights and the head
against their pinned SHA-256, writes TARGET/model.safetensors with the backbone's tensors renamed
(`backbone.prefix` + name, minus `backbone.drop`) and the head's tensors, copies
`backbone.files` from BACKBONE_FOLDER and `head.files` from HEAD_FOLDER, and checks the result
against `model_sha256`. Tensors are written in name order, so the output is byte-identical on
every machine. A TARGET whose model.safetensors already has `model_sha256` and whose other files
equal their sources is left alone (setup.sh runs this every time). Everything is written into a
staging folder and renamed into place, so an interrupted run leaves nothing half assembled.
Standard library only: setup.sh runs it before anything else is installed.
"""

import filecmp
import hashlib
import json
import os
import shutil
import struct
import sys
import tempfile

# safetensors headers are padded with spaces to this alignment (what the reference writer does).
HEADER_ALIGNMENT = 8
COPY_BLOCK = 1 << 20


def fail(message):
    sys.exit(f"assemble_model: {message}")


def read_header(path):
    """The JSON header of a safetensors file and the offset of its data section."""
    with open(path, "rb") as file:
        prefix = file.read(8)
        if len(prefix) != 8:
            fail(f"{path}: shorter than a safetensors header")
        (length,) = struct.unpack("<Q", prefix)
        try:
            header = json.loads(file.read(length))
        except ValueError as error:
            fail(f"{path}: header is not JSON: {error}")
    return header, 8 + length


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(COPY_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def write_safetensors(path, tensors, metadata):
    """Writes `tensors`: (name, dtype, shape, source path, absolute start, end), in name order."""
    header = {"__metadata__": metadata}
    offset = 0
    for name, dtype, shape, _, start, end in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + end - start]}
        offset += end - start
    encoded = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
    encoded += b" " * (-len(encoded) % HEADER_ALIGNMENT)
    with open(path, "wb") as sink:
        sink.write(struct.pack("<Q", len(encoded)))
        sink.write(encoded)
        for _, _, _, source, start, end in tensors:
            with open(source, "rb") as file:
                file.seek(start)
                remaining = end - start
                while remaining:
                    block = file.read(min(COPY_BLOCK, remaining))
                    if not block:
                        fail(f"{source}: ends inside a tensor")
                    sink.write(block)
                    remaining -= len(block)


def tensor_entries(path, rename=lambda name: name, keep=lambda name: True):
    header, data_start = read_header(path)
    entries = []
    for name, info in header.items():
        if name == "__metadata__" or not keep(name):
            continue
        start, end = info["data_offsets"]
        entries.append((rename(name), info["dtype"], info["shape"], path, data_start + start, data_start + end))
    return entries


def extract(trained, head, prefixes):
    source = os.path.join(trained, "model.safetensors")
    entries = tensor_entries(source, keep=lambda name: name.startswith(tuple(prefixes)))
    if not entries:
        fail(f"{source}: no tensor starts with {', '.join(prefixes)}")
    os.makedirs(head, exist_ok=True)
    entries.sort(key=lambda entry: entry[0])
    write_safetensors(os.path.join(head, "head.safetensors"), entries, {"format": "pt"})
    count = sum(_element_count(entry[2]) for entry in entries)
    print(f"{len(entries)} tensors, {count} weights -> {head}/head.safetensors")


def _element_count(shape):
    count = 1
    for size in shape:
        count *= size
    return count


def load_manifest(head):
    path = os.path.join(head, "assembly.json")
    try:
        with open(path) as file:
            manifest = json.load(file)
    except (OSError, ValueError) as error:
        fail(f"{path}: {error}")
    for field in ("backbone", "head", "model_sha256"):
        if field not in manifest:
            fail(f"{path}: missing field `{field}`")
    return manifest


def up_to_date(target, manifest, backbone, head):
    weights = os.path.join(target, "model.safetensors")
    if not os.path.isfile(weights) or os.path.islink(weights):
        return False
    for folder, names in ((backbone, manifest["backbone"]["files"]), (head, manifest["head"]["files"])):
        for name in names:
            copy = os.path.join(target, name)
            if not os.path.isfile(copy) or not filecmp.cmp(os.path.join(folder, name), copy, shallow=False):
                return False
    return sha256_of(weights) == manifest["model_sha256"]


def assemble(backbone, head, target):
    manifest = load_manifest(head)
    if up_to_date(target, manifest, backbone, head):
        return
    backbone_weights = os.path.join(backbone, "model.safetensors")
    head_weights = os.path.join(head, manifest["head"]["file"])
    for path, expected in (
        (backbone_weights, manifest["backbone"]["sha256"]),
        (head_weights, manifest["head"]["sha256"]),
    ):
        if not os.path.isfile(path):
            fail(f"{path}: not found")
        found = sha256_of(path)
        if found != expected:
            fail(f"{path}: SHA-256 {found}, expected {expected} (assembly.json)")
    prefix = manifest["backbone"]["prefix"]
    drop = set(manifest["backbone"]["drop"])
    head_entries = tensor_entries(head_weights)
    replaced = {entry[0] for entry in head_entries}
    backbone_entries = tensor_entries(
        backbone_weights,
        rename=lambda name: prefix + name,
        keep=lambda name: name not in drop and prefix + name not in replaced,
    )
    entries = sorted(backbone_entries + head_entries, key=lambda entry: entry[0])

    parent = os.path.dirname(os.path.abspath(target))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(dir=parent, prefix=".assembling-")
    os.chmod(staging, 0o755)  # mkdtemp makes it private; a model folder is ordinary data
    try:
        weights = os.path.join(staging, "model.safetensors")
        write_safetensors(weights, entries, {"format": "pt"})
        found = sha256_of(weights)
        if found != manifest["model_sha256"]:
            fail(f"assembled model.safetensors has SHA-256 {found}, expected {manifest['model_sha256']} (assembly.json)")
        for folder, names in ((backbone, manifest["backbone"]["files"]), (head, manifest["head"]["files"])):
            for name in names:
                shutil.copyfile(os.path.join(folder, name), os.path.join(staging, name))
        if os.path.exists(target):
            shutil.rmtree(target)
        os.rename(staging, target)
    finally:
        if os.path.exists(staging):
            shutil.rmtree(staging)


def main():
    if len(sys.argv) >= 5 and sys.argv[1] == "extract":
        extract(sys.argv[2], sys.argv[3], sys.argv[4:])
    elif len(sys.argv) == 5 and sys.argv[1] == "assemble":
        assemble(*sys.argv[2:5])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
