"""Images/s of our adversarial training step against a plain fp32 PyTorch loop of the same model, attack and batch
size, timed interleaved in one run (so machine noise hits both alike).

    python benchmarks/train_throughput.py [--arch resnet18] [--batch 128] [--rounds 6] [--json PATH]

Ours is `robustpaint.core.train.loop.train_step` exactly as `robustpaint train` runs it (bf16 autocast and
channels_last where the CPU has bf16 units, fp32 elsewhere). The baseline is what a plain script does: an fp32,
NCHW model, an FGSM-with-random-start L2 attack written out, then an SGD step.
"""

from __future__ import annotations

import argparse
import copy
import platform
import statistics
import time
from pathlib import Path

import torch
from torch.nn import functional as F

from common import save_results
from robustpaint.core.models import CIFAR10_CLASSES, build_classifier
from robustpaint.core.models import choose_precision
from robustpaint.core.train.loop import TrainConfig, train_step


def baseline_step(model, optimizer, x, y, eps: float, step_size: float, generator) -> None:
    """FGSM with a random start in the L2 ball, in fp32, then one SGD step: a plain loop's training step."""
    noise = torch.randn(x.shape, generator=generator)
    noise = noise / noise.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
    radius = torch.rand(len(x), 1, 1, 1, generator=generator) ** (1 / x[0].numel())
    adv = (x + eps * radius * noise).clamp(0, 1).requires_grad_(True)
    loss = F.cross_entropy(model(adv), y)
    (grad,) = torch.autograd.grad(loss, adv)
    grad = grad / grad.flatten(1).norm(dim=1).clamp(min=1e-12).view(-1, 1, 1, 1)
    delta = adv.detach() + step_size * grad - x
    delta = delta * (eps / delta.flatten(1).norm(dim=1).clamp(min=eps).view(-1, 1, 1, 1))
    adv = (x + delta).clamp(0, 1)
    loss = F.cross_entropy(model(adv), y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="resnet18")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--eps", type=float, default=0.5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    cfg = TrainConfig(arch=args.arch, data="", out="", norm="l2", eps=args.eps, attack_steps=1)
    bf16 = choose_precision("auto", torch.device("cpu"), args.arch)
    ours = build_classifier(args.arch, CIFAR10_CLASSES).train()
    base = copy.deepcopy(ours)
    ours = ours.to(memory_format=torch.channels_last)
    opt_ours = torch.optim.SGD(ours.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)
    opt_base = torch.optim.SGD(base.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(args.batch, 3, 32, 32, generator=g)
    y = torch.randint(0, 10, (args.batch,), generator=g)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    times = {"ours": [], "baseline": []}
    for round_ in range(args.rounds + 1):  # the first round warms up and is not counted
        started = time.perf_counter()
        train_step(ours, ours, opt_ours, x_cl, y, cfg, bf16, g)
        t_ours = time.perf_counter() - started
        started = time.perf_counter()
        baseline_step(base, opt_base, x, y, cfg.eps, cfg.step_size, g)
        t_base = time.perf_counter() - started
        if round_:
            times["ours"].append(t_ours)
            times["baseline"].append(t_base)
    ours_ips = args.batch / statistics.median(times["ours"])
    base_ips = args.batch / statistics.median(times["baseline"])
    result = {"arch": args.arch, "batch": args.batch, "attack": f"FGSM-RS L2 eps {args.eps}",
              "ours_precision": "bf16 autocast + channels_last" if bf16 else "fp32 + channels_last",
              "ours_images_per_second": round(ours_ips, 1), "baseline_images_per_second": round(base_ips, 1),
              "ratio": round(ours_ips / base_ips, 2), "rounds": args.rounds,
              "machine": platform.processor() or platform.machine(), "torch": torch.__version__}
    print(f"| model | batch | attack | ours ({result['ours_precision']}) | plain fp32 loop | ratio |\n"
          f"|---|---|---|---|---|---|\n| {args.arch} | {args.batch} | {result['attack']} | {ours_ips:.1f} img/s | "
          f"{base_ips:.1f} img/s | {result['ratio']:.2f} |")
    save_results(args.json, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
