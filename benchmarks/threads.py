"""Torch's intra-op thread count against the step time, on an idle machine and on a busy one (a second process
spinning on one core, as another program or the app's own GUI thread would), interleaved in one run.

    python benchmarks/threads.py [--arch resnet18] [--side 32] [--batch 1] [--seconds 3] [--json PATH]

The engine's step (PGD on the class target, the model as the app loads it: BatchNorm folded, fp32 and, where the
CPU has bf16 units, bf16) for each thread count from 1 to the number of cores.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import time
from pathlib import Path

import torch

from common import save_results
from robustpaint.core import objectives as obj
from robustpaint.core.device import cpu_supports_bf16
from robustpaint.core.models import CIFAR10_CLASSES, build_classifier
from robustpaint.core.models.folding import fold_batchnorm
from robustpaint.core.pgd import PGDConfig, PGDOptimizer


def _spin(stop) -> None:
    while not stop.is_set():
        sum(i * i for i in range(10_000))


def _step_ms(engine, seconds: float) -> float:
    for _ in range(3):
        engine.step()
    times, started = [], time.perf_counter()
    while time.perf_counter() - started < seconds or len(times) < 5:
        t = time.perf_counter()
        engine.step()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="resnet18")
    parser.add_argument("--side", type=int, default=32)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    model = fold_batchnorm(build_classifier(args.arch, CIFAR10_CLASSES))
    x = torch.rand(args.batch, 3, args.side, args.side)
    y = torch.arange(args.batch) % 10
    cores = os.cpu_count() or 1
    precisions = [False, True] if cpu_supports_bf16() else [False]
    rows = []
    print(f"| load | threads | precision | step ms |\n|---|---|---|---|")
    for busy in (False, True):
        stop = multiprocessing.Event()
        spinner = multiprocessing.Process(target=_spin, args=(stop,)) if busy else None
        if spinner:
            spinner.start()
        try:
            for threads in range(1, cores + 1):
                torch.set_num_threads(threads)
                for bf16 in precisions:
                    engine = PGDOptimizer(model, obj.class_target(y), x,
                                          PGDConfig(eps=30, step_size=0.5, steps=10**9, bf16=bf16))
                    ms = _step_ms(engine, args.seconds)
                    row = {"load": "one core busy" if busy else "idle", "threads": threads,
                           "precision": "bf16" if bf16 else "fp32", "step_ms": round(ms, 2)}
                    rows.append(row)
                    print(f"| {row['load']} | {threads} | {row['precision']} | {ms:.2f} |", flush=True)
        finally:
            if spinner:
                stop.set()
                spinner.join()
    save_results(args.json, {"benchmark": "threads", "arch": args.arch, "side": args.side, "batch": args.batch,
                             "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
