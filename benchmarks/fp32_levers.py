"""fp32 levers for the synthesis step, each against a bare eager step of the same model and batch, interleaved in
one run: what issue #22 asked to try beyond BatchNorm folding.

    ONEDNN_MAX_CPU_ISA=AVX512_CORE python benchmarks/fp32_levers.py [--seconds 15] [--compile] [--json PATH]

Each variant runs the same step (a forward and an input-gradient backward; `pgd_step.bare_step`) on
- `bare`: the model as trained (BatchNorm separate, contiguous, parameters requiring gradients): the baseline;
- `folded`: BatchNorm folded into the convolutions (what the app and the CLI run);
- `folded, channels_last`: the same in channels-last memory format (the layout that pays in bf16);
- `folded, parameters frozen`: `requires_grad_(False)` on the weights (the backward never needs their gradients);
- `folded, TorchScript frozen`: `torch.jit.freeze(torch.jit.trace(...))` (its graph fuser; deprecated by torch);
- `--compile`: `torch.compile` (inductor) of the folded model with frozen parameters, timed after its compile.
`ONEDNN_MAX_CPU_ISA=AVX512_CORE` makes oneDNN use no AMX and no AVX512-BF16 kernels: a CPU without bf16 units.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings
from pathlib import Path

import torch

from common import save_results
from pgd_step import bare_step
from robustpaint.core.models import CIFAR10_CLASSES, build_classifier
from robustpaint.core.models.folding import fold_batchnorm

CASES = [("resnet18", 32, 1), ("resnet18", 32, 8), ("imagenet_resnet18", 128, 1), ("imagenet_resnet18", 128, 8)]


def _frozen(model):
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def variants(arch: str, side: int, batch: int, compile_model: bool) -> tuple[dict, dict]:
    """name: (model, input) and name: seconds its preparation took."""
    torch.manual_seed(0)
    model = build_classifier(arch, CIFAR10_CLASSES).eval()
    x = torch.rand(batch, 3, side, side)
    last = torch.channels_last
    made = {"bare": (model, x), "folded": (fold_batchnorm(model), x),
            "folded, channels_last": (fold_batchnorm(model).to(memory_format=last), x.contiguous(memory_format=last)),
            "folded, parameters frozen": (_frozen(fold_batchnorm(model)), x)}
    prepared = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated, and measured all the same
        started = time.perf_counter()
        made["folded, TorchScript frozen"] = (torch.jit.freeze(torch.jit.trace(fold_batchnorm(model), x)), x)
        prepared["folded, TorchScript frozen"] = time.perf_counter() - started
    if compile_model:
        started = time.perf_counter()
        compiled = torch.compile(_frozen(fold_batchnorm(model)))
        bare_step(compiled, x, torch.arange(batch) % 10, False)  # the compile happens on the first call
        made["folded, torch.compile"] = (compiled, x)
        prepared["folded, torch.compile"] = time.perf_counter() - started
    return made, prepared


def measure(arch: str, side: int, batch: int, seconds: float, compile_model: bool) -> list[dict]:
    made, prepared = variants(arch, side, batch, compile_model)
    y = torch.arange(batch) % 10
    times = {name: [] for name in made}
    for model, x in made.values():
        for _ in range(3):  # oneDNN builds its kernels on first use
            bare_step(model, x, y, False)
    started = time.perf_counter()
    rounds = 0
    while time.perf_counter() - started < seconds or rounds < 5:
        order = list(made.items()) if rounds % 2 == 0 else list(made.items())[::-1]
        for name, (model, x) in order:
            t = time.perf_counter()
            bare_step(model, x, y, False)
            times[name].append(time.perf_counter() - t)
        rounds += 1
    bare_ms = statistics.median(times["bare"]) * 1e3
    rows = []
    for name, samples in times.items():
        ms = statistics.median(samples) * 1e3
        rows.append({"arch": arch, "side": side, "batch": batch, "variant": name, "step_ms": round(ms, 2),
                     "bare_over_this": round(bare_ms / ms, 2), "steps": len(samples),
                     "prepare_s": round(prepared[name], 1) if name in prepared else None})
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="timing per model and batch")
    parser.add_argument("--compile", action="store_true", help="also torch.compile (about 12 s of compile each)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    isa = os.environ.get("ONEDNN_MAX_CPU_ISA", "")
    print(f"ONEDNN_MAX_CPU_ISA={isa or '(unset: the CPU as it is)'}")
    print("| model | side | batch | variant | step | bare / this |\n|---|---|---|---|---|---|")
    rows = []
    for arch, side, batch in CASES:
        for row in measure(arch, side, batch, args.seconds, args.compile):
            rows.append(row)
            print(f"| {arch} | {side} px | {batch} | {row['variant']} | {row['step_ms']} ms | "
                  f"{row['bare_over_this']} |", flush=True)
    save_results(args.json, {"benchmark": "fp32_levers", "onednn_max_cpu_isa": isa, "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
