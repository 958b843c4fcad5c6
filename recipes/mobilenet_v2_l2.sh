#!/usr/bin/env bash
# The recipe of the shipped robust MobileNetV2 (L2, eps 0.5): the small, fast model for weak machines.
# fp32 + channels_last (what --precision auto picks for it), because on this model bf16 autocast is no faster (depthwise
# convolutions gain nothing): benchmarks/mobilenet_layout.py measures both (session 4: 126 fp32 against 121 bf16 img/s).
# Stage 1: 11 epochs of FGSM with random start, one-cycle to lr 0.1 (90 min in session 2, partly on a shared CPU).
# Stage 2: 8 more epochs from stage 1's weights (--init: fresh optimizer), cosine from lr 0.1: a warm restart, as for
# the ResNet-18 (62 min in session 5, of which 2 epochs on a shared CPU; about 47 min alone at its 145 img/s).
# Usage: bash recipes/mobilenet_v2_l2.sh PATH/TO/cifar10-jpeg.tar.gz
set -euo pipefail
data=${1:?give the CIFAR-10 image-folder .tar.gz or folder}
stage1=runs/mobilenet_v2-l2
out=runs/mobilenet_v2-l2-stage2
robustpaint train --arch mobilenet_v2 --data "$data" --out "$stage1" --epochs 11 --batch-size 128 --lr 0.1 \
  --schedule onecycle --norm l2 --eps 0.5 --attack-steps 1 --precision fp32 --resume
robustpaint train --arch mobilenet_v2 --data "$data" --out "$out" --epochs 8 --batch-size 128 --lr 0.1 \
  --schedule cosine --norm l2 --eps 0.5 --attack-steps 1 --precision fp32 --init "$stage1/model.safetensors" --resume
python recipes/ship_run.py "$out" mobilenet_v2 recipe_script='"recipes/mobilenet_v2_l2.sh"' \
  dataset='"cifar10 (cifar10-jpeg.tar.gz: 50,000 train / 8,000 test JPEG images)"' \
  notes='"Robust L2 (eps 0.5) MobileNetV2 for synthesis on weak machines: the small, fast model. Trained on a 2-core CPU in two stages of FGSM with random start, fp32 + channels_last (faster than bf16 for this network): 11 epochs one-cycle (recipe.init_from.recipe), then 8 epochs cosine from those weights (recipe). Layout: torchvision MobileNetV2 with the stem and the 160-channel stage at stride 1, so a 32x32 input ends on a 4x4 map (benchmarks/mobilenet_layout.py). Weights are stored as fp16 and the evaluations were measured on them."'
robustpaint eval --model mobilenet_v2 --data "$data" --norm l2 --eps 0.5 --steps 20 --limit 1000 --update-shipped
robustpaint seeds fit --model mobilenet_v2 --data "$data" --rank 32 --update-shipped
