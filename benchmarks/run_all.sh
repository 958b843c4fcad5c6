#!/usr/bin/env bash
# Every benchmark at full size, one after another (never two at once: they share the CPU), then the README tables.
# Usage: bash benchmarks/run_all.sh PATH/TO/cifar10-jpeg.tar.gz   (about 40 min on a 2-core CPU; needs ".[bench]")
set -euo pipefail
data=${1:?give the CIFAR-10 image-folder .tar.gz or folder with a test/ split}
results=benchmarks/results
export QT_QPA_PLATFORM=${QT_QPA_PLATFORM:-offscreen}
python benchmarks/pgd_step.py --json $results/pgd_step.json
python benchmarks/train_throughput.py --json $results/train_throughput.json
python benchmarks/mobilenet_layout.py --json $results/mobilenet_layout.json
python benchmarks/peer_robustness_lib.py --json $results/peer_robustness_lib.json
python benchmarks/gui_latency.py --json $results/gui_latency.json
python benchmarks/quality.py --data "$data" --json $results/quality.json
python benchmarks/report.py
