"""Time per PGD step of the engine against the physical limit: a bare forward + input-gradient backward of the
same model on the same batch, measured interleaved in one run (so machine noise hits both alike).

    python benchmarks/pgd_step.py [--quick] [--fold] [--compile] [--side 32] [--json results/pgd_step.json]

`--compile` adds a third column: the folded model under torch.compile (inductor, default mode; its parameters
frozen: with them requiring gradients the compiled backward computes theirs too, 0.47-0.57x the speed of a bare
step in session 11), timed after its compile. A CPU without bf16 units: run with
`ONEDNN_MAX_CPU_ISA=AVX512_CORE` (oneDNN then uses no AMX and no AVX512-BF16 kernels; AVX2 mimics most laptops) and
`--precisions fp32`.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from torch.nn import functional as F

from common import save_results
from robustpaint.core import objectives as obj
from robustpaint.core.models import CIFAR10_CLASSES, build_classifier
from robustpaint.core.models.folding import fold_batchnorm
from robustpaint.core.pgd import PGDConfig, PGDOptimizer


def bare_step(model, x, y, bf16):
    x = x.detach().requires_grad_(True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        loss = F.cross_entropy(model(x).float(), y)
    (grad,) = torch.autograd.grad(loss, x)
    return grad


def measure(arch: str, batch: int, bf16: bool, repeats: int, min_seconds: float = 0.0, fold: bool = False,
            side: int = 32, compile_model: bool = False) -> dict:
    torch.manual_seed(0)
    model = build_classifier(arch, CIFAR10_CLASSES).eval()
    if bf16:
        model = model.to(memory_format=torch.channels_last)
    x = torch.rand(batch, 3, side, side)
    y = torch.arange(batch) % 10
    # --fold: the engine runs the model as the app and the CLI load it (BatchNorm folded); the bare step stays eager
    engine_model = fold_batchnorm(model) if fold else model
    engine = PGDOptimizer(engine_model, obj.class_target(y), x,
                          PGDConfig(eps=30, step_size=0.5, steps=10**9, bf16=bf16))
    compiled, compile_seconds = None, 0.0
    if compile_model:
        t = time.perf_counter()
        frozen = fold_batchnorm(model).requires_grad_(False)  # else inductor also compiles the weights' gradients
        compiled = PGDOptimizer(torch.compile(frozen), obj.class_target(y), x,
                                PGDConfig(eps=30, step_size=0.5, steps=10**9, bf16=bf16))
        compiled.step()
        compile_seconds = time.perf_counter() - t
    for _ in range(3):  # warm-up: oneDNN builds its kernels on first use
        engine.step()
        bare_step(model, engine.x, y, bf16)
        if compiled is not None:
            compiled.step()
    engine_times, bare_times, compiled_times = [], [], []
    started = time.perf_counter()
    # At least `repeats` pairs, and more while under `min_seconds`: a batch-1 step takes about 10 ms, so 15 pairs
    # would be 0.3 s, where one hiccup of the OS moves the median. The order alternates within the pairs so that
    # neither side always runs on the caches the other one warmed.
    while len(engine_times) < repeats or time.perf_counter() - started < min_seconds:
        # The bare step takes the engine's current image (channels_last when bf16): the same batch, so the same
        # arithmetic. (A fixed first image would differ from the engine's moving one in the values the kernels see.)
        current = engine.x.detach()
        for which in ((0, 1) if len(engine_times) % 2 == 0 else (1, 0)):
            t = time.perf_counter()
            if which == 0:
                engine.step()
                engine_times.append(time.perf_counter() - t)
            else:
                bare_step(model, current, y, bf16)
                bare_times.append(time.perf_counter() - t)
        if compiled is not None:
            t = time.perf_counter()
            compiled.step()
            compiled_times.append(time.perf_counter() - t)
    engine_ms, bare_ms = statistics.median(engine_times) * 1e3, statistics.median(bare_times) * 1e3
    row = {"arch": arch, "batch": batch, "side": side, "folded": fold, "precision": "bf16" if bf16 else "fp32",
           "engine_ms": round(engine_ms, 2),
           "bare_ms": round(bare_ms, 2), "ratio": round(engine_ms / bare_ms, 3), "pairs": len(engine_times)}
    if compiled is not None:
        compiled_ms = statistics.median(compiled_times) * 1e3
        row.update(compiled_ms=round(compiled_ms, 2), compiled_ratio=round(compiled_ms / bare_ms, 3),
                   compile_seconds=round(compile_seconds, 1))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="resnet18 only, batch 1 and 8, few repeats (CI)")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--min-seconds", type=float, default=3.0, help="time each row for at least this long")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--arch", action="append", help="only this model (repeatable; default: all three)")
    parser.add_argument("--fold", action="store_true", help="the engine's model with BatchNorm folded (as shipped)")
    parser.add_argument("--compile", action="store_true", help="also time the folded model under torch.compile")
    parser.add_argument("--side", type=int, default=32, help="image side (default 32)")
    parser.add_argument("--precisions", default="fp32,bf16", help="fp32, bf16 or both")
    parser.add_argument("--batches", help="comma-separated batch sizes (default 1,8,32; --quick: 1,8)")
    args = parser.parse_args()
    archs = args.arch or (["resnet18"] if args.quick else ["resnet18", "mobilenet_v2", "resnet50"])
    batches = [int(b) for b in args.batches.split(",")] if args.batches else ([1, 8] if args.quick else [1, 8, 32])
    repeats = 5 if args.quick else args.repeats
    rows = []
    print(f"{'model':14s} {'batch':>5s} {'precision':>9s} {'engine ms':>10s} {'bare ms':>9s} {'ratio':>6s}"
          + (f" {'compiled ms':>11s} {'ratio':>6s} {'compile s':>9s}" if args.compile else ""))
    for arch in archs:
        for batch in batches:
            for bf16 in (p == "bf16" for p in args.precisions.split(",")):
                row = measure(arch, batch, bf16, repeats, 0.0 if args.quick else args.min_seconds, args.fold,
                              args.side, args.compile)
                rows.append(row)
                compiled = (f" {row['compiled_ms']:11.2f} {row['compiled_ratio']:6.3f} {row['compile_seconds']:9.1f}"
                            if args.compile else "")
                print(f"{arch:14s} {batch:5d} {row['precision']:>9s} {row['engine_ms']:10.2f} {row['bare_ms']:9.2f} "
                      f"{row['ratio']:6.3f}{compiled}", flush=True)
    save_results(args.json, {"benchmark": "pgd_step", "rows": rows})


if __name__ == "__main__":
    main()
