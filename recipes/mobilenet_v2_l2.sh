#!/usr/bin/env bash
# The recipe of the shipped robust MobileNetV2 (L2, eps 0.5): the small, fast model for weak machines.
# fp32 + channels_last (what --precision auto picks for it), because on this model bf16 autocast is no faster (depthwise
# convolutions gain nothing): benchmarks/mobilenet_layout.py measures both (session 4: 126 fp32 against 121 bf16 img/s).
# Usage: bash recipes/mobilenet_v2_l2.sh PATH/TO/cifar10-jpeg.tar.gz   (about 1 h on that CPU)
set -euo pipefail
data=${1:?give the CIFAR-10 image-folder .tar.gz or folder}
out=runs/mobilenet_v2-l2
robustpaint train --arch mobilenet_v2 --data "$data" --out "$out" --epochs 11 --batch-size 128 --lr 0.1 \
  --schedule onecycle --norm l2 --eps 0.5 --attack-steps 1 --precision fp32 --resume
python recipes/ship_run.py "$out" mobilenet_v2 recipe_script='"recipes/mobilenet_v2_l2.sh"'
robustpaint eval --model mobilenet_v2 --data "$data" --norm l2 --eps 0.5 --steps 20 --limit 1000
robustpaint seeds fit --model mobilenet_v2 --data "$data" --rank 32
