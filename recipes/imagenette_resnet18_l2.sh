#!/usr/bin/env bash
# The recipe of the shipped high-resolution robust model: torchvision's ResNet-18 (ImageNet layout) trained on
# Imagenette photos at 128 px with L2 FGSM with random start at eps 1.0, one-cycle to lr 0.1, batch 64, random-resized
# crops (35-100% of the area) and flips, keeping a moving average of the weights (--ema 0.995: about 1.4 epochs).
# 128 px, not 224: one FGSM-RS training step ran at 49 img/s at 128 px and 15 img/s at 224 (bf16 + channels_last,
# batch 64, this 2-core CPU), so 30 epochs take about 1.7 h at 128 px against 5.1 h at 224.
# eps 1.0 at 128 px is 1.75 at 224 px (radii scale with the side): between the 0.86 the card is evaluated at
# (1.5 x 128/224) and the 1.71 that the authors' ImageNet models' eps 3.0 becomes at 128 px.
# The shipped run began as 34 epochs and was resumed at epoch 8 with --epochs 30 (see the card's notes).
# Usage: bash recipes/imagenette_resnet18_l2.sh PATH/TO/imagenette-224.tar.gz
set -euo pipefail
data=${1:?give the Imagenette image-folder .tar.gz or folder}
out=runs/imagenette-resnet18-l2-eps1.0
robustpaint train --arch imagenet_resnet18 --data "$data" --out "$out" --image-size 128 --crop-scale 0.35 \
  --epochs 30 --batch-size 64 --lr 0.1 --schedule onecycle --norm l2 --eps 1.0 --attack-steps 1 --ema 0.995 --resume
python recipes/ship_run.py "$out" imagenette_resnet18 recipe_script='"recipes/imagenette_resnet18_l2.sh"' \
  dataset='"imagenette (imagenette-224.tar.gz: 9,469 train / 2,925 test 224-px JPEG photos of 10 ImageNet classes)"' \
  licence='"Trained on Imagenette, a subset of ImageNet, whose terms allow non-commercial research and education only."' \
  notes='"Robust L2 ResNet-18 (torchvision layout) for painting at 128 px, trained on a 2-core CPU: 30 epochs of FGSM with random start at L2 eps 1.0 (1.75 at 224 px), one-cycle to lr 0.1, batch 64, random-resized crops of 35-100% of the photo and flips, keeping a moving average of the weights (recipe.ema), which is what ships. Evaluated at eps 0.857 = 1.5 x 128/224. The shipped run was started as a 34-epoch run and shortened to 30 at the end of epoch 8 (resumed with --epochs 30) to fit a 3-hour session: epochs 1-8 followed the 34-epoch warm-up, so the learning rate went from 0.094 to 0.098 at the resume instead of passing 0.1. Weights are stored as fp16 and the evaluations were measured on them."'
robustpaint eval --model imagenette_resnet18 --data "$data" --norm l2 --eps 0.857 --steps 20 --limit 1000 --update-shipped
robustpaint seeds fit --model imagenette_resnet18 --data "$data" --rank 32 --pool 4 --update-shipped
