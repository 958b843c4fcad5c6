#!/usr/bin/env bash
# The recipe of the shipped cat-and-dog robust model: torchvision's ResNet-18 (ImageNet layout) on the pets photos at
# 128 px, its backbone transferred from the shipped robust imagenette_resnet18 (--init on other classes: the backbone's
# weights, a fresh two-class head), then 4 epochs of L2 FGSM with random start at eps 1.0 (1.75 at 224 px), one-cycle
# to lr 0.04, batch 64, random-resized crops (35-100% of the area) and flips, keeping a moving average (--ema 0.995).
# Why this budget: on a 2-core CPU without bf16 units one FGSM-RS step at 128 px ran at 13 img/s (fp32, batch 64),
# 17 min an epoch of 13,000 photos, so training from scratch (30 epochs, 8.5 h) did not fit a session; starting from
# robust photo features needs only a few epochs. 160 px would cost 1.56x per epoch. A GPU would allow from scratch.
# Usage: bash recipes/pets_resnet18_l2.sh PATH/TO/pets-160.tar.gz
set -euo pipefail
data=${1:?give the pets image-folder .tar.gz or folder}
out=runs/pets-resnet18-l2-eps1.0
robustpaint train --arch imagenet_resnet18 --init imagenette_resnet18 --data "$data" --out "$out" --image-size 128 \
  --crop-scale 0.35 --epochs 4 --batch-size 64 --lr 0.04 --schedule onecycle --norm l2 --eps 1.0 --attack-steps 1 \
  --ema 0.995 --resume
python recipes/ship_run.py "$out" pets_resnet18 recipe_script='"recipes/pets_resnet18_l2.sh"' \
  dataset='"pets (pets-160.tar.gz: 13,000 train / 2,000 test 160-px JPEG cat and dog photos, the Asirra Cats vs Dogs images)"' \
  licence='"Trained on cat and dog photos from the Asirra Cats vs Dogs collection (Microsoft Research), redistributed for research use only; and on the backbone of imagenette_resnet18 (ImageNet terms: non-commercial research and education)."' \
  notes='"Robust L2 ResNet-18 (torchvision layout) for cats and dogs at 128 px, for the paper s per-pair translation (cat <-> dog) and every other task. Backbone transferred from the shipped robust imagenette_resnet18, a fresh two-class head (recipe.init_from), then 4 epochs of FGSM with random start at L2 eps 1.0 on a 2-core CPU. Evaluated at eps 0.857 = 1.5 x 128/224. Weights are stored as fp16 and the evaluations were measured on them."'
robustpaint eval --model pets_resnet18 --data "$data" --norm l2 --eps 0.857 --steps 20 --limit 1000 --update-shipped
robustpaint seeds fit --model pets_resnet18 --data "$data" --rank 32 --pool 4 --update-shipped
