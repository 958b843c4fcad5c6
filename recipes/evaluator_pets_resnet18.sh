#!/usr/bin/env bash
# The recipe of the standard (non-robust) pets evaluator: torchvision's ResNet-18 on the cat and dog photos at
# 128 px (the robust pets model's side), its backbone transferred from the shipped imagenette-evaluator (standard,
# not robust: --init on other classes gives a fresh two-class head), then 1 epoch of clean training on
# random-resized crops (35-100% of the area) and flips. It scores the pets model's syntheses (benchmarks scale
# images to its input size) and is never used to synthesise. Why this budget: a clean step costs about half the
# robust model's FGSM step: on a 2-core CPU without bf16 units the epoch takes about 6 min alone.
# Usage: bash recipes/evaluator_pets_resnet18.sh PATH/TO/pets-160.tar.gz
set -euo pipefail
data=${1:?give the pets image-folder .tar.gz or folder}
out=runs/evaluator-pets-resnet18
robustpaint train --arch imagenet_resnet18 --init imagenette-evaluator --data "$data" --out "$out" --image-size 128 \
  --crop-scale 0.35 --epochs 1 --batch-size 64 --lr 0.04 --schedule onecycle --norm none --ema 0.995 --resume
python recipes/ship_run.py "$out" pets-evaluator recipe_script='"recipes/evaluator_pets_resnet18.sh"' \
  role='"evaluator"' robust=false \
  dataset='"pets (pets-160.tar.gz: 13,000 train / 2,000 test 160-px JPEG cat and dog photos, the Asirra Cats vs Dogs images)"' \
  licence='"Trained on cat and dog photos from the Asirra Cats vs Dogs collection (Microsoft Research), redistributed for research use only; and on the backbone of imagenette-evaluator (ImageNet terms: non-commercial research and education)."' \
  notes='"A standard (non-robust) cat-and-dog classifier kept only to score the pets model syntheses. Its gradients are not human-aligned, so it is never used to synthesise. Backbone from the shipped imagenette-evaluator, a fresh two-class head, 1 clean epoch at 128 px."'
robustpaint eval --model pets-evaluator --data "$data" --norm l2 --eps 0.857 --steps 10 --limit 200 --update-shipped
