#!/usr/bin/env bash
# Makes docs/pets/: the robust cats-and-dogs model (pets_resnet18, 128 px) on every task, through the CLI (each PNG
# carries its recipe; `robustpaint replay` makes it again). Real photos: scikit-image's chelsea (a cat, 451x300, kept
# at its size) and two held-out pets test photos (PETS: the pets test/ folder, default /work/data/pets/test).
# Usage: bash docs/make_pets_examples.sh [PETS_TEST_DIR]   (needs scikit-image: pip install -e ".[bench]")
set -euo pipefail
pets=${1:-/work/data/pets/test}
out=docs/pets
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python - "$tmp" "$pets" <<'EOF'
import sys
from pathlib import Path
import numpy as np
from PIL import Image, ImageDraw
from skimage import data
folder, pets = Path(sys.argv[1]), Path(sys.argv[2])
Image.fromarray(data.chelsea()).save(folder / "chelsea.png")
for kind in ("cat", "dog"):
    first = sorted((pets / kind).iterdir())[0]
    Image.open(first).convert("RGB").save(folder / f"test-{kind}.png")
hole = np.zeros((300, 451), np.uint8)
hole[40:140, 120:230] = 255  # the cat's left eye and ear
Image.fromarray(hole).save(folder / "chelsea-hole.png")
sketch = Image.new("RGB", (128, 128), (200, 190, 170))  # a rough dog: a brown head, ears, eyes and nose
d = ImageDraw.Draw(sketch)
d.ellipse([30, 30, 98, 104], fill=(150, 100, 60))
d.ellipse([18, 26, 44, 80], fill=(100, 60, 30))
d.ellipse([84, 26, 110, 80], fill=(100, 60, 30))
d.ellipse([48, 56, 58, 66], fill=(20, 20, 20))
d.ellipse([70, 56, 80, 66], fill=(20, 20, 20))
d.ellipse([56, 78, 72, 90], fill=(30, 20, 20))
sketch.save(folder / "sketch-dog.png")
m = Image.new("RGB", (128, 128), (255, 255, 255))  # class map: a cat on the left, a dog on the right
ImageDraw.Draw(m).rectangle([0, 0, 63, 127], fill=(255, 0, 0))
ImageDraw.Draw(m).rectangle([64, 0, 127, 127], fill=(0, 255, 0))
m.save(folder / "map.png")
from robustpaint.core.models.bundle import load_model_bundle
head = load_model_bundle("pets_resnet18").model.head.weight.float()
(folder / "dog-unit.txt").write_text(str(int((head[1] - head[0]).argmax())))  # the unit that most says "dog"
EOF
unit=$(cat "$tmp/dog-unit.txt")
model=(--model pets_resnet18 --quiet)
robustpaint generate --class cat,dog -n 4 "${model[@]}" --out "$tmp/gen" --grid "$out/generate-cats-and-dogs.png"
# Each translation names its target: without --to a two-class model goes to the class it does not read, and the
# retrained pets model reads chelsea at her own size as a dog (58%), so "the other class" there is cat.
robustpaint translate "$tmp/chelsea.png" --to dog "${model[@]}" --keep-photo --out "$out/translate-chelsea-to-dog.png"
robustpaint translate "$tmp/chelsea.png" --to dog "${model[@]}" --no-keep-photo \
  --out "$out/translate-chelsea-to-dog-paper-ball.png"
robustpaint translate "$tmp/test-cat.png" --to dog "${model[@]}" --keep-photo --out "$out/translate-test-cat-to-dog.png"
robustpaint translate "$tmp/test-dog.png" --to cat "${model[@]}" --keep-photo --out "$out/translate-test-dog-to-cat.png"  # the model reads this dog as a cat (61%): the other class would be dog
robustpaint sketch "$tmp/sketch-dog.png" --class dog "${model[@]}" --out "$out/sketch-dog.png"
robustpaint inpaint "$tmp/chelsea.png" --mask "$tmp/chelsea-hole.png" --class cat "${model[@]}" \
  --out "$out/inpaint-chelsea.png"
robustpaint paint "$tmp/chelsea.png" --mask "$tmp/chelsea-hole.png" --neuron "$unit" "${model[@]}" \
  --out "$out/paint-chelsea-dog-unit.png"
robustpaint generate --class-map "$tmp/map.png" --classes cat,dog "${model[@]}" --out "$tmp/map-out"
cp "$tmp"/map-out/*.png "$out/classmap-cat-dog.png"
cp "$tmp/chelsea.png" "$out/source-chelsea.png"; cp "$tmp/test-cat.png" "$out/source-test-cat.png"
cp "$tmp/test-dog.png" "$out/source-test-dog.png"; cp "$tmp/sketch-dog.png" "$out/source-sketch-dog.png"
ls -l "$out"
