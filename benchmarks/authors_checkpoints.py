"""Checkpoints written by the authors' robustness library, imported and used end to end.

    python benchmarks/authors_checkpoints.py [--cases cifar10:resnet18,...] [--steps 3] [--gui] [--json PATH]

For each case the library itself (`robustness` on PyPI, in the benchmark's own virtual environment, see
peer_robustness_lib.py) builds its model with `make_and_restore_model`, sets BatchNorm statistics by a few
forward passes in training mode, and saves the checkpoint as its training loop does (`{'model', 'optimizer',
'schedule', 'epoch'}` of the DataParallel-wrapped AttackerModel, pickled with dill); it then reloads the file
with its own `make_and_restore_model(resume_path=...)` and records its logits on fixed random inputs. On our side:
`robustpaint models import` with neither `--arch` nor `--dataset`, our logits on the same inputs against theirs,
and every task of the registry through the CLI (`--gui`: also `robustpaint doctor --gui`, the real window).
Imported models live in a temporary ROBUSTPAINT_DATA_DIR; nothing is left in the user's.

Workarounds the benchmark applies to run the unmaintained library on current torch and a CPU (not its code):
`torchvision.models.utils` supplied from torch.hub, `.cuda()` as a no-op, and `torch.load(..., weights_only=False)`
for its own reload (torch >= 2.6 refuses `pickle_module=dill` with the new weights-only default).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from common import save_results
from peer_robustness_lib import WORKAROUNDS, ensure_venv, peer
from robustpaint.core.tasks import TASKS

PEER = WORKAROUNDS + r'''
import functools
import dill, numpy as np
torch.load = functools.partial(torch.load, weights_only=False)  # its reload passes pickle_module=dill
from robustness import datasets, model_utils
job = json.loads(sys.argv[1])
dataset = {"cifar10": datasets.CIFAR, "imagenet": datasets.ImageNet,
           "restricted_imagenet": datasets.RestrictedImageNet}[job["dataset"]]("/nonexistent")
torch.manual_seed(job["seed"])
model, _ = model_utils.make_and_restore_model(arch=job["arch"], dataset=dataset)
side = job["side"]
model.train()
with torch.no_grad():  # BatchNorm statistics that differ from the defaults, so a wrong mapping shows
    for _ in range(3):
        model(torch.rand(8, 3, side, side) * 0.8 + 0.1)
wrapped = torch.nn.DataParallel(model)  # its training loop saves the DataParallel model: keys start with module.
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
schedule = torch.optim.lr_scheduler.StepLR(opt, step_size=50)
torch.save({"model": wrapped.state_dict(), "optimizer": opt.state_dict(), "schedule": schedule.state_dict(),
            "epoch": 1}, job["out"], pickle_module=dill)
reloaded, checkpoint = model_utils.make_and_restore_model(arch=job["arch"], dataset=dataset, resume_path=job["out"])
reloaded.eval()
x = torch.rand(4, 3, side, side, generator=torch.Generator().manual_seed(1))
with torch.no_grad():
    logits, _ = reloaded(x)
np.savez(job["out"] + ".logits.npz", x=x.numpy(), logits=logits.numpy())
print("RESULT " + json.dumps({"epoch": checkpoint["epoch"], "keys": len(checkpoint["model"])}))
'''

SIDES = {"cifar10": 32, "imagenet": 224, "restricted_imagenet": 224}


def _robustpaint(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "robustpaint", *args], capture_output=True, text=True, env=env)


def _task_args(task: str, classes: list[str], side: int, folder: Path) -> list[str]:
    """The CLI arguments that run `task` on this model: its inputs made here, a few steps."""
    from PIL import Image
    photo, mask_path, map_path = (folder / f"{what}-{side}.png" for what in ("input", "mask", "map"))
    if not photo.exists():
        rng = np.random.default_rng(0)
        Image.fromarray(rng.integers(0, 256, (side + 20, side, 3), dtype=np.uint8)).save(photo)
        mask = np.zeros((side, side), np.uint8)
        mask[side // 4: side // 2, side // 4: side // 2] = 255
        Image.fromarray(mask).save(mask_path)
        regions = np.zeros((side, side, 3), np.uint8)
        regions[:, : side // 2] = (255, 0, 0)
        regions[:, side // 2:] = (0, 255, 0)
        Image.fromarray(regions).save(map_path)
    one, two = classes[0], classes[1]
    return {"generate": ["--class", one, "-n", "2"],
            "sketch": [str(photo), "--class", one],
            "inpaint": [str(photo), "--mask", str(mask_path), "--class", one],
            "translate": [str(photo), "--to", two],
            "superres": [str(photo), "--class", one, "--factor", "2"],
            "paint": [str(photo), "--neuron", "3", "--mask", str(mask_path)],
            "classmap": ["generate", "--class-map", str(map_path), "--classes", f"{one},{two}"]}[task]


def run_case(python: Path, dataset: str, arch: str, steps: int, gui: bool, folder: Path) -> dict:
    side = SIDES[dataset]
    path = folder / f"authors_{dataset}_{arch}.pt"
    their = peer(python, {"dataset": dataset, "arch": arch, "side": side, "seed": 0, "out": str(path)}, PEER)
    env = {**os.environ, "ROBUSTPAINT_DATA_DIR": str(folder / "data"), "ROBUSTPAINT_CACHE_DIR": str(folder / "cache")}
    name = f"authors-{dataset.replace('_', '-')}-{arch}"
    done = _robustpaint("models", "import", str(path), "--name", name, env=env)
    row = {"dataset": dataset, "arch": arch, "side": side, "their_reload_epoch": their["epoch"],
           "import": (done.stdout or done.stderr).strip().splitlines()[-1]}
    if done.returncode:
        row["ok"] = False
        return row
    from robustpaint.core.models.checkpoint import load_model
    model, _ = load_model(Path(env["ROBUSTPAINT_DATA_DIR"]) / "models" / f"{name}.safetensors")
    saved = np.load(str(path) + ".logits.npz")
    with torch.no_grad():
        ours = model.eval()(torch.from_numpy(saved["x"])).numpy()
    row["max_logit_difference"] = float(np.abs(ours - saved["logits"]).max())
    row["same_top_class"] = bool((ours.argmax(1) == saved["logits"].argmax(1)).all())
    row["tasks"] = {}
    for task in sorted(TASKS, key=lambda t: TASKS[t].order):
        started = time.perf_counter()
        out = folder / f"{name}-{task}.png"
        command = _task_args(task, model.classes, side, folder)
        command = command if task == "classmap" else [task, *command]  # a class map is `generate --class-map`
        done = _robustpaint(*command, "--model", name, "--steps",
                            str(steps), "--out", str(out), env=env)
        notes = [ln for ln in done.stderr.replace("\r", "\n").splitlines() if ln.strip() and "|" not in ln]
        row["tasks"][task] = {"ok": done.returncode == 0 and out.exists(), "seconds": round(time.perf_counter() -
                              started, 1), "said": " / ".join(notes)[:300]}
    if gui:
        done = _robustpaint("doctor", "--gui", "--model", name, env={**env, "QT_QPA_PLATFORM": "offscreen"})
        row["doctor_gui"] = done.returncode == 0
        row["doctor_gui_tail"] = (done.stdout + done.stderr).strip().splitlines()[-3:]
    row["ok"] = (row["max_logit_difference"] < 1e-3 and all(t["ok"] for t in row["tasks"].values())
                 and row.get("doctor_gui", True))
    return row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="cifar10:resnet18,cifar10:resnet50,restricted_imagenet:resnet50,"
                        "imagenet:resnet18", help="data set:their architecture name, comma-separated")
    parser.add_argument("--steps", type=int, default=3, help="PGD steps per task")
    parser.add_argument("--gui", action="store_true", help="also run `robustpaint doctor --gui` on each model")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    python = ensure_venv()
    rows = []
    with tempfile.TemporaryDirectory(prefix="authors-checkpoints-") as tmp:
        for case in args.cases.split(","):
            dataset, arch = case.split(":")
            row = run_case(python, dataset, arch, args.steps, args.gui, Path(tmp))
            rows.append(row)
            tasks = row.get("tasks", {})
            print(f"{dataset}:{arch}: {row['import']}")
            print(f"  logits against theirs: max |difference| {row.get('max_logit_difference', float('nan')):.2e}, "
                  f"same top class {row.get('same_top_class')}")
            for task, result in tasks.items():
                print(f"  {task:9s} {'ok' if result['ok'] else 'FAILED'} in {result['seconds']} s  {result['said']}")
            if "doctor_gui" in row:
                print(f"  doctor --gui: {'ok' if row['doctor_gui'] else 'FAILED'}  {' / '.join(row['doctor_gui_tail'])}")
    if args.json:
        save_results(args.json, {"benchmark": "authors_checkpoints", "rows": rows})
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
