#!/usr/bin/env bash
# Makes docs/large-canvas/: the 128-px Imagenette model on canvases larger than itself (#29), through the CLI (each
# PNG carries its recipe; `robustpaint replay` makes it again):
# - generation at 256 and 512 px, the model shown the whole canvas (the paper's way, --views canvas) against the
#   default (the canvas judged at the model's scale: scaled down plus a random crop);
# - scikit-image's photos at their own size: chelsea (451x300) inpainted, translated and feature-painted,
#   astronaut super-resolved from 128 to 512 px.
# Usage: bash docs/make_large_canvas_examples.sh   (needs scikit-image: pip install -e ".[bench]")
set -euo pipefail
out=docs/large-canvas
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python - "$tmp" <<'EOF'
import sys
import numpy as np
from PIL import Image
from skimage import data
folder = sys.argv[1]
Image.fromarray(data.chelsea()).save(f"{folder}/chelsea.png")
Image.fromarray(data.astronaut()).resize((128, 128), Image.Resampling.LANCZOS).save(f"{folder}/astronaut-128.png")
hole = np.zeros((300, 451), np.uint8)
hole[60:150, 250:350] = 255  # the cat's right eye and ear
Image.fromarray(hole).save(f"{folder}/chelsea-hole.png")
EOF
for side in 256 512; do
  for views in canvas model; do
    robustpaint generate --class church,golf_ball,parachute -n 1 --size "$side" --views "$views" --quiet \
      --out "$tmp/gen-$side-$views" --grid "$out/generate-$side-views-$views.png"
  done
done
robustpaint inpaint "$tmp/chelsea.png" --mask "$tmp/chelsea-hole.png" --class tench --quiet \
  --out "$out/inpaint-chelsea-451x300-tench.png"
robustpaint translate "$tmp/chelsea.png" --to english_springer --keep-photo --quiet \
  --out "$out/translate-chelsea-451x300-to-english_springer.png"
robustpaint paint "$tmp/chelsea.png" --mask "$tmp/chelsea-hole.png" --neuron 229 --quiet \
  --out "$out/paint-chelsea-451x300-unit229.png"
robustpaint superres "$tmp/astronaut-128.png" --factor 4 --quiet --out "$out/superres-astronaut-128-to-512.png"
ls -l "$out"
