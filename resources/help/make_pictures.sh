#!/usr/bin/env bash
# Makes the pictures of Help > Getting started (robustpaint/app/help.py) with the CLI on the shipped models, each
# task at its preset. Inputs: a rough church drawn here, scikit-image's "chelsea" cat photo scaled to 192x128.
# sketch-after.png keeps the recipe the CLI wrote (Getting started shows it, and `robustpaint replay` makes it again);
# the two cat results drop theirs, which hold the whole input photo and would double their size.
# Usage, from the repository root: bash resources/help/make_pictures.sh   (needs scikit-image: pip install -e ".[bench]")
set -euo pipefail
out=resources/help
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python - "$tmp" "$out" <<'PY'
import sys
from pathlib import Path
import numpy as np
from PIL import Image, ImageDraw
from skimage import data
tmp, out = Path(sys.argv[1]), Path(sys.argv[2])
sketch = Image.new("RGB", (128, 128), (150, 200, 240))  # a church in a minute: flat colours, a few shapes
d = ImageDraw.Draw(sketch)
d.rectangle([0, 100, 128, 128], fill=(90, 150, 70))
d.rectangle([30, 60, 98, 108], fill=(200, 190, 170))
d.polygon([(24, 62), (64, 36), (104, 62)], fill=(120, 60, 50))
d.rectangle([56, 22, 72, 60], fill=(200, 190, 170))
d.polygon([(54, 24), (64, 6), (74, 24)], fill=(120, 60, 50))
d.rectangle([58, 80, 70, 108], fill=(80, 50, 30))
sketch.save(out / "sketch-before.png", optimize=True)
cat = Image.fromarray(data.chelsea()).resize((192, 128), Image.Resampling.LANCZOS)
cat.save(tmp / "cat.png")
hole = np.zeros((128, 192), bool)
hole[70:100, 70:110] = True  # the cat's nose: filled, it blends into the fur around it
Image.fromarray(hole.astype(np.uint8) * 255).save(tmp / "hole.png")
shown = np.asarray(cat).astype(float)
shown[hole] = shown[hole] * 0.45 + np.array([230, 40, 40]) * 0.55  # the mask as the app shows it
Image.fromarray(shown.round().astype(np.uint8)).save(out / "inpaint-before.png", optimize=True)
cat.save(out / "translate-before.png", optimize=True)
PY
robustpaint sketch "$out/sketch-before.png" --class church --quiet --out "$out/sketch-after.png"
robustpaint inpaint "$tmp/cat.png" --mask "$tmp/hole.png" --class cat --model pets_resnet18 --quiet \
  --out "$out/inpaint-after.png"
robustpaint translate "$tmp/cat.png" --model pets_resnet18 --keep-photo --quiet --out "$out/translate-after.png"
python - "$out" <<'PY'
import sys
from pathlib import Path
from PIL import Image
for name in ("inpaint-after.png", "translate-after.png"):
    path = Path(sys.argv[1]) / name
    Image.open(path).convert("RGB").save(path, optimize=True)  # without the recipe's text chunk
PY
ls -l "$out"
