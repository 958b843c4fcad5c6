#!/usr/bin/env bash
# Makes docs/inpaint-eye-tries.jpg (#45 item 3): chelsea's left eye (scikit-image's photo, 451x300) masked and filled
# by the pets model through the CLI in the ways tried to make an eye appear: the preset, a wider ball walked in more
# steps, the paper's own setting (mean fill, eps 21.6 at 224 px = Freedom 6.2 here, 720 steps), model-sized tiles at
# the photo's resolution (`--views tiles`), and feature painting of the units that fire where an eye is: those the
# eye itself drives (taken from the original photo, which a user would not have: an upper bound) and those of her
# other eye (what a user could point at). Each tile is the eye's neighbourhood, enlarged 2x.
# Usage: bash docs/make_inpaint_eye_tries.sh [MODEL] [OUT]   (needs scikit-image: pip install -e ".[bench]"; about
#   15 min on 2 cores; MODEL: a name or RUN/model.safetensors, default pets_resnet18;
#   OUT: default docs/inpaint-eye-tries.jpg)
set -euo pipefail
model=${1:-pets_resnet18}
[[ -f "$model" ]] && model=$(realpath "$model")
out=$(realpath -m "${2:-docs/inpaint-eye-tries.jpg}")
export model
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
python - <<'EOF'
from PIL import Image, ImageDraw
from skimage import data
Image.fromarray(data.chelsea()).save("chelsea.png")
for name, box in (("eye", (132, 84, 208, 146)), ("other-eye", (290, 105, 348, 168))):
    mask = Image.new("L", (451, 300), 0)
    ImageDraw.Draw(mask).ellipse(box, fill=255)
    mask.save(f"{name}.png")
EOF
fill=(robustpaint inpaint chelsea.png --mask eye.png --class cat --model "$model" --quiet)
"${fill[@]}" --out preset.png
"${fill[@]}" --freedom 4 --steps 200 --out freedom4-200-steps.png
"${fill[@]}" --fill mean --freedom 6.2 --steps 720 --out paper.png
"${fill[@]}" --freedom 4 --steps 200 --views tiles --crops 4 --out freedom4-200-steps-4-tiles.png
# The units whose activation in the feature map's cells under a region is highest (for the eye itself: against the
# photo with the eye filled by the preset, preset.png; for the other eye: against the mean over the picture), 4 of them.
python - <<'EOF'
import os

import numpy as np
import torch
from PIL import Image
from torch.nn import functional as F
from robustpaint.core.models import FEATURE_MAP
from robustpaint.core.models.bundle import load_model_bundle
model = load_model_bundle(os.environ["model"]).model.eval()
def tensor(path, mode="RGB"):
    array = np.asarray(Image.open(path).convert(mode), np.float32) / 255
    return torch.from_numpy(array).permute(2, 0, 1)[None] if mode == "RGB" else torch.from_numpy(array)[None, None]
def feature_map(image):
    side = model.input_size
    with torch.no_grad(), model.capture([FEATURE_MAP]) as acts:
        model(F.interpolate(image, size=(side, round(side * 451 / 300)), mode="bilinear", antialias=True))
    return acts[FEATURE_MAP][0]
def under(fmap, mask_path):
    weights = F.interpolate(tensor(mask_path, "L"), size=fmap.shape[-2:], mode="area")[0, 0]
    return (fmap * weights).sum((-2, -1)) / weights.sum()
photo, smooth = feature_map(tensor("chelsea.png")), feature_map(tensor("preset.png"))
own = (under(photo, "eye.png") - under(smooth, "eye.png")).topk(4).indices.tolist()
other = (under(smooth, "other-eye.png") - smooth.mean((-2, -1))).topk(4).indices.tolist()
open("own-units.txt", "w").write(",".join(map(str, own)))
open("other-units.txt", "w").write(",".join(map(str, other)))
print("units of the eye itself:", own, "units of the other eye:", other)
EOF
paint=(robustpaint paint preset.png --mask eye.png --model "$model" --views tiles --crops 4 --quiet)
"${paint[@]}" --neuron "$(cat own-units.txt)" --out units-of-the-eye-itself.png
"${paint[@]}" --neuron "$(cat other-units.txt)" --out units-of-the-other-eye.png
cd - > /dev/null
python - "$tmp" "$out" <<'EOF'
import sys
from pathlib import Path
from PIL import Image, ImageDraw
folder, out = Path(sys.argv[1]), sys.argv[2]
names = ["chelsea", "preset", "freedom4-200-steps", "paper", "freedom4-200-steps-4-tiles", "units-of-the-eye-itself",
         "units-of-the-other-eye"]
sheet = Image.new("RGB", (4 * 282, 2 * 222), "white")
for i, name in enumerate(names):
    tile = Image.open(folder / f"{name}.png").convert("RGB").crop((100, 60, 240, 170)).resize((280, 220))
    ImageDraw.Draw(tile).text((4, 4), name, fill=(255, 255, 0))
    sheet.paste(tile, ((i % 4) * 282, (i // 4) * 222))
sheet.save(out, quality=90)
print(f"wrote {out}")
EOF
