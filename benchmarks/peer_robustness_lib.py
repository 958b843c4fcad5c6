"""The authors' robustness library as the baseline: L2 PGD steps/s and adversarial-training images/s, theirs against
ours on the same ResNet-18, in one run (rounds alternate between the two, medians are compared).

    python benchmarks/peer_robustness_lib.py [--batches 1,8,32] [--rounds 3] [--json PATH]

The library (`robustness` on PyPI, unmaintained) is installed into its own virtual environment made by this script
(`benchmarks/.peer-venv`, with the same torch and torchvision as ours); it is never a RobustPaint dependency. To run
it on current torchvision and on a CPU, the benchmark alone supplies `torchvision.models.utils` (from torch.hub)
and turns its `.cuda()` calls into no-ops. Its models are built exactly as it builds them
(`robustness.cifar_models.ResNet18` inside its `AttackerModel`); its attack is `AttackerModel(..., make_adv=True)`
and its training step is its own `train._model_loop`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torchvision

from common import save_results
from robustpaint.core import objectives as obj
from robustpaint.core.models import CIFAR10_CLASSES, build_classifier
from robustpaint.core.models.folding import fold_batchnorm
from robustpaint.core.pgd import PGDConfig, PGDOptimizer
from robustpaint.core.models import choose_precision
from robustpaint.core.train.loop import TrainConfig, train_step

VENV = Path(__file__).resolve().parent / ".peer-venv"

# What the library needs to run on current torchvision and on a CPU: the benchmarks' workarounds, not its code.
WORKAROUNDS = r'''
import json, sys, time, types
import torch, torch.hub, torchvision
utils = types.ModuleType("torchvision.models.utils")
utils.load_state_dict_from_url = torch.hub.load_state_dict_from_url
sys.modules["torchvision.models.utils"] = utils
torch.Tensor.cuda = lambda self, *a, **k: self
torch.nn.Module.cuda = lambda self, *a, **k: self
'''

PEER = WORKAROUNDS + r'''
from robustness.attacker import AttackerModel
from robustness.cifar_models import ResNet18
from robustness import train as rtrain
torch.set_num_threads(torch.get_num_threads())
job = json.loads(sys.argv[1])
dataset = types.SimpleNamespace(mean=torch.tensor([0.4914, 0.4822, 0.4465]), std=torch.tensor([0.2023, 0.1994, 0.2010]))
torch.manual_seed(0)
model = AttackerModel(ResNet18(num_classes=10), dataset)
out = {}
if job["mode"] == "attack":
    model.eval()
    x = torch.rand(job["batch"], 3, 32, 32)
    y = torch.randint(0, 10, (job["batch"],))
    kw = dict(make_adv=True, constraint="2", eps=0.5, step_size=0.1, iterations=job["steps"], random_start=False)
    for _ in range(2):  # warm-up
        model(x, y, **kw)
    times = []
    for _ in range(job["repeats"]):
        t = time.perf_counter()
        model(x, y, **kw)
        times.append((time.perf_counter() - t) / job["steps"])
    out["seconds_per_step"] = times
else:
    args = types.SimpleNamespace(constraint="2", eps=0.5, attack_lr=0.625, attack_steps=1, random_start=True,
                                 use_best=False, random_restarts=0, custom_eps_multiplier=None,
                                 mixed_precision=False)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    g = torch.Generator().manual_seed(0)
    loader = [(torch.rand(job["batch"], 3, 32, 32, generator=g), torch.randint(0, 10, (job["batch"],), generator=g))
              for _ in range(job["batches"])]
    rtrain._model_loop(args, "train", loader[:1], model, opt, 0, True, None)  # warm-up
    t = time.perf_counter()
    rtrain._model_loop(args, "train", loader, model, opt, 0, True, None)
    out["images_per_second"] = job["batch"] * job["batches"] / (time.perf_counter() - t)
print("RESULT " + json.dumps(out))
'''


def ensure_venv() -> Path:
    python = VENV / "bin" / "python"
    if python.exists() and subprocess.run([str(python), "-c", "import robustness"], capture_output=True).returncode == 0:
        return python
    print(f"making {VENV} with the robustness library (once)...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    versions = [f"torch=={torch.__version__.split('+')[0]}", f"torchvision=={torchvision.__version__.split('+')[0]}"]
    subprocess.run([str(python), "-m", "pip", "install", "-q", *versions, "robustness"], check=True)
    return python


def peer(python: Path, job: dict, script: str = PEER) -> dict:
    """Runs `script` (the library's side) in its environment with `job`; returns what it printed after RESULT."""
    done = subprocess.run([str(python), "-c", script, json.dumps(job)], capture_output=True, text=True)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if done.returncode or line is None:
        sys.exit(f"the robustness library failed:\n{done.stderr[-3000:]}")
    return json.loads(line[len("RESULT "):])


def ours_attack(batch: int, steps: int, repeats: int, bf16: bool, fold: bool = False) -> list[float]:
    torch.manual_seed(0)
    model = build_classifier("resnet18", CIFAR10_CLASSES).eval()
    if fold:  # the model as the app and the CLI load it
        model = fold_batchnorm(model)
    x = torch.rand(batch, 3, 32, 32)
    y = torch.randint(0, 10, (batch,))
    config = PGDConfig(norm="l2", eps=0.5, step_size=0.1, steps=10**9, bf16=bf16)
    optimizer = PGDOptimizer(model, obj.away_from_class(y), x, config)
    for _ in range(3):  # warm-up (the first bf16 steps build their kernels)
        optimizer.step()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(steps):
            optimizer.step()
        times.append((time.perf_counter() - t) / steps)
    return times


def ours_train(batch: int, batches: int, bf16: bool) -> float:
    torch.manual_seed(0)
    model = build_classifier("resnet18", CIFAR10_CLASSES).train().to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)
    cfg = TrainConfig(norm="l2", eps=0.5, attack_steps=1)
    g = torch.Generator().manual_seed(0)
    data = [(torch.rand(batch, 3, 32, 32, generator=g).contiguous(memory_format=torch.channels_last),
             torch.randint(0, 10, (batch,), generator=g)) for _ in range(batches)]
    train_step(model, model, opt, *data[0], cfg, bf16, g)  # warm-up
    t = time.perf_counter()
    for x, y in data:
        train_step(model, model, opt, x, y, cfg, bf16, g)
    return batch * batches / (time.perf_counter() - t)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", default="1,8,32", help="attack batch sizes")
    parser.add_argument("--steps", type=int, default=10, help="PGD steps per timed attack")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--train-batch", type=int, default=128)
    parser.add_argument("--train-batches", type=int, default=4)
    parser.add_argument("--precision", choices=("auto", "fp32"), default="auto",
                        help="ours: auto (bf16 where the CPU has bf16 units) or fp32")
    parser.add_argument("--fold", action="store_true", help="ours with BatchNorm folded, as the app loads models")
    parser.add_argument("--no-train", action="store_true", help="the attack rows only")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    python = ensure_venv()
    bf16 = choose_precision(args.precision, torch.device("cpu"))
    rows = []
    for batch in [int(b) for b in args.batches.split(",")]:
        theirs, ours = [], []
        for _ in range(args.rounds):  # alternate, so machine noise hits both alike
            theirs += peer(python, {"mode": "attack", "batch": batch, "steps": args.steps, "repeats": 1})["seconds_per_step"]
            ours += ours_attack(batch, args.steps, 1, bf16, args.fold)
        t, o = statistics.median(theirs), statistics.median(ours)
        rows.append({"what": f"L2 PGD step, batch {batch}", "theirs": round(1 / t, 2), "ours": round(1 / o, 2),
                     "unit": "steps/s", "ratio": round(t / o, 2)})
        print(rows[-1], flush=True)
    theirs, ours = [], []
    for _ in range(0 if args.no_train else args.rounds):
        theirs.append(peer(python, {"mode": "train", "batch": args.train_batch,
                                    "batches": args.train_batches})["images_per_second"])
        ours.append(ours_train(args.train_batch, args.train_batches, bf16))
    if not args.no_train:
        t, o = statistics.median(theirs), statistics.median(ours)
        rows.append({"what": f"adversarial training (FGSM-RS L2 0.5), batch {args.train_batch}", "theirs": round(t, 1),
                     "ours": round(o, 1), "unit": "images/s", "ratio": round(o / t, 2)})
    print("| measurement | robustness library | RobustPaint | ratio (ours / theirs) |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['what']} | {r['theirs']} {r['unit']} | {r['ours']} {r['unit']} | {r['ratio']} |")
    result = {"rows": rows, "ours_precision": ("bf16 autocast + channels_last" if bf16 else "fp32")
              + (", BatchNorm folded" if args.fold else ""), "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA"),
              "theirs_precision": "fp32 (its CPU path)", "rounds": args.rounds}
    save_results(args.json, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
