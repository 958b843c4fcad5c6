#!/usr/bin/env bash
# The 128-px Imagenette model at the radius the 64-px sweep pointed to (#45 item 2; docs/quality.md "Does robustness
# buy pictures here?"): eps 1 at 64 px is eps 2 at 128 px (radii scale with the side), against the shipped model's
# eps 1.0. The same ResNet-18 and data as the shipped recipe (recipes/imagenette_resnet18_l2.sh: batch 64, one-cycle
# to lr 0.1, random-resized crops of 35-100%, flips, --ema 0.995), with the sweep's attack: N-FGSM (one step of eps
# from noise of 2 eps, not clipped), which does not overfit catastrophically at large radii, and --check-robust 200
# (clean and PGD-10 accuracy of each epoch in the card's history, where such a collapse would show).
# 30 epochs take about 4 h at 19 img/s (fp32, this 2-core AVX2 CPU; bf16 is chosen where the CPU has it): run it in
# the background; it resumes from its checkpoint, across sessions. It is evaluated into its own card (not shipped):
# it replaces imagenette_resnet18 only if it paints better by benchmarks/realism.py and by eye.
# Usage: bash recipes/imagenette_resnet18_l2_eps2.sh PATH/TO/imagenette-224.tar.gz [OUT]
set -euo pipefail
data=${1:?give the Imagenette image-folder .tar.gz or folder}
out=${2:-runs/imagenette-resnet18-l2-eps2-nfgsm}
robustpaint train --arch imagenet_resnet18 --data "$data" --out "$out" --image-size 128 --crop-scale 0.35 \
  --epochs 30 --batch-size 64 --lr 0.1 --schedule onecycle --norm l2 --eps 2.0 --attack nfgsm \
  --check-robust 200 --ema 0.995 --precision auto --resume
robustpaint eval --model "$out/model.safetensors" --data "$data" --norm l2 --eps 0.857 --steps 20 --limit 1000
