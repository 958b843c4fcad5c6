#!/usr/bin/env bash
# The cat-and-dog model retrained at the radius of the 128-px Imagenette run (#45 item 2: "retrain the pets model the
# same way"; the shipped pets_resnet18 had 4 epochs of FGSM-RS at eps 1.0): torchvision's ResNet-18 at 128 px, its
# backbone transferred from the eps-2.0 Imagenette model (recipes/imagenette_resnet18_l2_eps2.sh; --init on other
# classes: a fresh two-class head), then 10 epochs of N-FGSM at L2 eps 2.0 with the same augmentation, one-cycle to
# lr 0.04, batch 64, --ema 0.995, and --check-robust 200 (each epoch's clean and PGD-10 accuracy in the card).
# 10 epochs of 13,000 photos take about 2 h at 19 img/s (fp32 on a 2-core AVX2 CPU): in the background, with
# --resume across sessions. Evaluated into its own card, not shipped: it replaces pets_resnet18 only if translation
# improves by benchmarks/translate_sweep.py and by eye.
# Usage: bash recipes/pets_resnet18_l2_eps2.sh PATH/TO/pets-160.tar.gz INIT_MODEL [OUT]
#   INIT_MODEL: the eps-2.0 Imagenette model (a name or RUN/model.safetensors)
set -euo pipefail
data=${1:?give the pets image-folder .tar.gz or folder}
init=${2:?give the eps-2.0 Imagenette model to start from (a name or .safetensors path)}
out=${3:-runs/pets-resnet18-l2-eps2-nfgsm}
robustpaint train --arch imagenet_resnet18 --init "$init" --data "$data" --out "$out" --image-size 128 \
  --crop-scale 0.35 --epochs 10 --batch-size 64 --lr 0.04 --schedule onecycle --norm l2 --eps 2.0 --attack nfgsm \
  --check-robust 200 --ema 0.995 --precision auto --resume
robustpaint eval --model "$out/model.safetensors" --data "$data" --norm l2 --eps 0.857 --steps 20 --limit 1000
robustpaint seeds fit --model "$out/model.safetensors" --data "$data" --rank 32 --pool 4
