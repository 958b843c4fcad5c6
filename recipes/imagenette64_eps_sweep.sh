#!/usr/bin/env bash
# Does robustness buy pictures here? (#45 item 2) The same ResNet-18 (torchvision layout) trained on Imagenette at
# 64 px (a quarter of the 128-px cost) at L2 eps 0.5, 2, 1 and 3 (at 64 px; the shipped model's eps 1.0 at 128 px is
# 0.5 here), 20 epochs each, one training at a time. N-FGSM (one step of eps from noise of 2 eps, not clipped) so
# that large radii do not overfit catastrophically; --check-robust 200 logs clean and PGD-10 accuracy of each epoch
# in the card's history, which shows such a collapse if it happens. Each run resumes from its checkpoint, so the
# script can be stopped and started again (across sessions) and picks up where it was.
# Judged afterwards by benchmarks/realism.py (the kernel distance of generations and sketches to real photos).
# Usage: bash recipes/imagenette64_eps_sweep.sh PATH/TO/imagenette-224.tar.gz [OUT] [EPS ...]
set -euo pipefail
data=${1:?give the Imagenette image-folder .tar.gz or folder}
out=${2:-runs/imagenette64-eps-sweep}
shift $(( $# >= 2 ? 2 : $# ))
radii=("$@")
[ ${#radii[@]} -gt 0 ] || radii=(0.5 2 1 3)
mkdir -p "$out"
for eps in "${radii[@]}"; do
  run="$out/eps$eps"
  if [ -f "$run/model.safetensors" ] && [ -f "$run/done" ]; then continue; fi
  robustpaint train --arch imagenet_resnet18 --data "$data" --out "$run" --image-size 64 --crop-scale 0.35 \
    --epochs 20 --batch-size 128 --lr 0.1 --schedule onecycle --norm l2 --eps "$eps" --attack nfgsm \
    --check-robust 200 --ema 0.995 --precision auto --resume >> "$run.log" 2>&1
  robustpaint eval --model "$run/model.safetensors" --data "$data" --norm l2 --eps 0.43 --steps 20 --limit 500 \
    >> "$run.log" 2>&1
  touch "$run/done"
done
