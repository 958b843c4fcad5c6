"""Training speed of three MobileNetV2 layouts for 32x32 inputs, and the size of the map each ends on: the
measurement behind the layout `mobilenet_v2` ships (robustpaint/core/models/torchvision_nets.py).

    python benchmarks/mobilenet_layout.py [--batch 128] [--rounds 4] [--json results/mobilenet_layout.json]

Each layout runs `robustpaint.core.train.loop.train_step` (FGSM with random start, L2 eps 0.5, an SGD step) in fp32
and in bf16 autocast, channels_last, interleaved round by round so machine noise hits all alike. The stem's stride is
1 in all three; they differ in which stages downsample:
- ours: torchvision's strides except the 160-channel stage (stride 1): 32 -> 16 -> 8 -> 4, a 4x4 map;
- common CIFAR: the 24-channel stage keeps 32x32 and the 160-channel stage downsamples: also 4x4, more work;
- torchvision: its own strides: a 2x2 map (too coarse to paint features onto).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from torchvision.models import MobileNetV2

from common import save_results
from robustpaint.core.models import (
    CIFAR10_CLASSES,
    CIFAR10_MEAN,
    CIFAR10_STD,
    Classifier,
    build_classifier,
)
from robustpaint.core.train.loop import TrainConfig, train_step

_TORCHVISION = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2],
                [6, 320, 1, 1]]
_COMMON_CIFAR = [[1, 16, 1, 1], [6, 24, 2, 1], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2],
                 [6, 320, 1, 1]]


def _torchvision_layout(setting) -> Classifier:
    net = MobileNetV2(num_classes=10, inverted_residual_setting=setting)
    net.features[0][0].stride = (1, 1)
    return Classifier(net, CIFAR10_MEAN, CIFAR10_STD, CIFAR10_CLASSES, "mobilenet_v2")


def layouts() -> dict[str, Classifier]:
    return {"ours (shipped)": build_classifier("mobilenet_v2", CIFAR10_CLASSES),
            "common CIFAR": _torchvision_layout(_COMMON_CIFAR),
            "torchvision strides": _torchvision_layout(_TORCHVISION)}


def final_map(model: Classifier) -> str:
    with torch.no_grad():
        side = model.net.features(torch.zeros(1, 3, 32, 32)).shape[-1]
    return f"{side}x{side}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    cfg = TrainConfig(arch="mobilenet_v2", data="", out="", norm="l2", eps=0.5, attack_steps=1)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(args.batch, 3, 32, 32, generator=g).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (args.batch,), generator=g)
    runs = {}
    for bf16 in (False, True):
        for name, model in layouts().items():  # a fresh copy of each layout per precision
            m = model.train().to(memory_format=torch.channels_last)
            opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)
            runs[(name, bf16)] = (m, opt, [])
    for round_ in range(args.rounds + 1):  # the first round warms up and is not counted
        for (name, bf16), (m, opt, times) in runs.items():
            started = time.perf_counter()
            train_step(m, m, opt, x, y, cfg, bf16, g)
            if round_:
                times.append(time.perf_counter() - started)
    rows = []
    print("| layout | final map | fp32 img/s | bf16 img/s |\n|---|---|---|---|")
    for name in dict.fromkeys(name for name, _ in runs):
        fp32 = args.batch / statistics.median(runs[(name, False)][2])
        bf16 = args.batch / statistics.median(runs[(name, True)][2])
        rows.append({"layout": name, "final_map": final_map(runs[(name, False)][0]),
                     "fp32_images_per_second": round(fp32, 1), "bf16_images_per_second": round(bf16, 1)})
        print(f"| {name} | {rows[-1]['final_map']} | {fp32:.1f} | {bf16:.1f} |", flush=True)
    save_results(args.json, {"benchmark": "mobilenet_layout", "batch": args.batch, "rounds": args.rounds,
                             "attack": "FGSM-RS L2 eps 0.5", "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
