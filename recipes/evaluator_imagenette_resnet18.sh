#!/usr/bin/env bash
# The recipe of the standard (non-robust) Imagenette evaluator: torchvision's ResNet-18 trained at 64 px on clean
# random-resized crops. It scores the high-resolution model's syntheses (benchmarks/quality.py, which scales images
# to 64 px for it) and is never used to synthesise (the app does not offer it). 64 px, not 128: a clean step at 64 px
# costs about a twelfth of the robust model's FGSM step at 128, so it trains beside that run on the same 2 cores,
# at the lowest priority (nice 19, one thread).
# Usage: bash recipes/evaluator_imagenette_resnet18.sh PATH/TO/imagenette-224.tar.gz
set -euo pipefail
data=${1:?give the Imagenette image-folder .tar.gz or folder}
out=runs/evaluator-imagenette-resnet18
robustpaint train --arch imagenet_resnet18 --data "$data" --out "$out" --image-size 64 --crop-scale 0.35 \
  --epochs 12 --batch-size 64 --lr 0.1 --schedule onecycle --norm none --ema 0.995 --resume
python recipes/ship_run.py "$out" imagenette-evaluator recipe_script='"recipes/evaluator_imagenette_resnet18.sh"' \
  role='"evaluator"' robust=false \
  dataset='"imagenette (imagenette-224.tar.gz: 9,469 train / 2,925 test 224-px JPEG photos of 10 ImageNet classes)"' \
  licence='"Trained on Imagenette, a subset of ImageNet, whose terms allow non-commercial research and education only."' \
  notes='"A standard (non-robust) classifier kept only to score the 128-px model syntheses (benchmarks/quality.py). Its gradients are not human-aligned, so it is never used to synthesise; the app does not list it."'
robustpaint eval --model imagenette-evaluator --data "$data" --norm l2 --eps 0.43 --steps 10 --limit 200 --update-shipped
