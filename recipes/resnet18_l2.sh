#!/usr/bin/env bash
# The recipe of the shipped robust ResNet-18 (L2, evaluated at eps 0.5), from training to the files in resources/models/:
# one run of 17 epochs of FGSM with random start at training eps 0.4, one-cycle to lr 0.2, writing the moving average
# of the weights (--ema 0.998: a time constant of about 500 steps, 1.3 epochs).
# Measured in session 7: 137.3 min of training (83-122 img/s on a busier host than session 6's 107-128 for the same
# work per epoch), 86.1% clean / 63.1% robust (L2 0.5, PGD-20).
# Session 6 shipped the same run at training eps 0.5 (recipes/resnet18_l2_eps05.sh: 84.5% clean / 65.1% robust);
# before that, three stages, 20 epochs, 3.6 h (recipes/resnet18_l2_staged.sh).
# Usage: bash recipes/resnet18_l2.sh PATH/TO/cifar10-jpeg.tar.gz
set -euo pipefail
data=${1:?give the CIFAR-10 image-folder .tar.gz or folder}
out=runs/resnet18-l2-eps0.4
robustpaint train --arch resnet18 --data "$data" --out "$out" --epochs 17 --batch-size 128 --lr 0.2 \
  --schedule onecycle --norm l2 --eps 0.4 --attack-steps 1 --ema 0.998 --resume
python recipes/ship_run.py "$out" resnet18 recipe_script='"recipes/resnet18_l2.sh"' \
  dataset='"cifar10 (cifar10-jpeg.tar.gz: 50,000 train / 8,000 test JPEG images)"' \
  notes='"Robust L2 ResNet-18 for synthesis, trained on a 2-core CPU in one run of 17 epochs of FGSM with random start at L2 eps 0.4 (evaluated at eps 0.5), one-cycle to lr 0.2, keeping a moving average of the weights (recipe.ema), which is what ships. Weights are stored as fp16 and the evaluations were measured on them. Training eps 0.4 rather than 0.5: the same run at eps 0.5 (recipes/resnet18_l2_eps05.sh, session 6) reached 84.5% clean / 65.1% robust, short of the 85% clean aim with 3 points to spare on the 62% robust aim. A sweep of the training eps with this recipe on a GPU (recipes/resnet18_eps_sweep.sh, evaluated the same way; clean / robust) gave eps 0.5 84.6 / 64.0, 0.45 84.9 / 64.2, 0.4 85.8 / 62.6 (seeds 1-3: 86.0 / 63.3, 85.7 / 63.7, 85.6 / 63.0), 0.35 86.5 / 62.5: eps 0.4 is the largest radius tried that meets the clean aim, and it keeps the robust one, trading part of the robust margin for the clean accuracy that sketch-to-image, translation and the class readout lean on. eps 1.0 went the other way: 2 more epochs at eps 1.0 (recipes/resnet18_eps_compare.sh) gave slightly smoother, about 10% more varied samples but 3 points less clean accuracy (81.5 vs 84.8%, docs/generation.md). Generation preset: eps 5, step 0.25, 60 steps (docs/generation.md)."'
robustpaint eval --model resnet18 --data "$data" --norm l2 --eps 0.5 --steps 20 --limit 1000 --update-shipped
robustpaint seeds fit --model resnet18 --data "$data" --rank 32 --update-shipped
