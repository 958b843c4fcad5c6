#!/usr/bin/env bash
# The recipe of the shipped standard evaluator (ResNet-9, not robust): it scores synthesis quality in
# benchmarks/quality.py and is never used to synthesise (the app does not offer it).
# Usage: bash recipes/evaluator_resnet9.sh PATH/TO/cifar10-jpeg.tar.gz   (about 1 h on a 2-core AVX512-BF16 CPU)
set -euo pipefail
data=${1:?give the CIFAR-10 image-folder .tar.gz or folder}
out=runs/evaluator-resnet9
robustpaint train --arch resnet9 --data "$data" --out "$out" --epochs 10 --batch-size 256 --lr 0.2 \
  --schedule onecycle --norm none --resume
python recipes/ship_run.py "$out" resnet9-evaluator recipe_script='"recipes/evaluator_resnet9.sh"' role='"evaluator"' robust=false \
  dataset='"cifar10 (cifar10-jpeg.tar.gz: 50,000 train / 8,000 test JPEG images)"' \
  notes='"A standard (non-robust) classifier kept only to score synthesis quality (benchmarks/quality.py). Its gradients are not human-aligned, so it is never used to synthesise; the app does not list it."'
robustpaint eval --model resnet9-evaluator --data "$data" --norm l2 --eps 0.5 --steps 20 --limit 1000 --update-shipped
