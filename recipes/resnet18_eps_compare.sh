#!/usr/bin/env bash
# eps 0.5 against eps 1.0 for the ResNet-18 painter: 2 more FGSM-RS epochs at each eps from stage 2 of
# recipes/resnet18_l2_staged.sh (the model shipped in session 4, when this comparison ran)
# (cosine from lr 0.02, the same seed), then each one's accuracy at L2 eps 0.5 and its generation grid, and the
# evaluator's verdict on both grids. About 45 min on a 2-core AVX512-BF16 CPU. Findings: docs/generation.md.
# Usage: bash recipes/resnet18_eps_compare.sh PATH/TO/cifar10-jpeg.tar.gz
set -euo pipefail
data=${1:?give the CIFAR-10 image-folder .tar.gz or folder}
classes=airplane,automobile,bird,cat,deer,dog,frog,horse,ship,truck
for eps in 1.0 0.5; do
  run=runs/resnet18-eps$eps-more
  robustpaint train --arch resnet18 --data "$data" --out $run --epochs 2 --batch-size 128 --lr 0.02 --schedule cosine \
    --norm l2 --eps $eps --attack-steps 1 --init runs/resnet18-l2-stage2/model.safetensors --resume
  cp resources/models/resnet18.seeds.safetensors $run/model.seeds.safetensors
  robustpaint eval --model $run/model.safetensors --data "$data" --norm l2 --eps 0.5 --steps 20 --limit 1000
  robustpaint generate --model $run/model.safetensors --class $classes -n 8 --out $run/samples \
    --grid docs/eps-compare-$eps.png --precision bf16 --quiet
done
python benchmarks/score_images.py runs/resnet18-eps1.0-more/samples runs/resnet18-eps0.5-more/samples
