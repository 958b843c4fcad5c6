"""Start-up timings: fresh processes, each figure beside the torch import it includes (the median of a few rounds).

    python benchmarks/startup.py [--runs 3] [--models imagenette_resnet18,resnet18] [--json PATH]

- `robustpaint --version` and `robustpaint models list` (cards only, no torch);
- `robustpaint classify` with the weights' hash computed (a cold cache) and with it cached (size, mtime, inode);
- `robustpaint generate` of one image with one step (what a command costs before its work) and with the preset's
  steps, and the same minus the torch import;
- the app (offscreen): the window shown, usable (the panel ready with the model loaded on the device), and the
  first live image of a generation run (its first step);
- `--importtime`: the slowest top-level imports of `generate -n 1 --steps 1` (python -X importtime).
Each row is also given as a ratio to the bare torch import (exiting without teardown, as the commands do).
- where there is no GPU, `robustpaint generate --device cuda`, which must fail at once with a clear error.
`--models` gives a row set per model (default: the app's default model and the 32-px resnet18).
Aims (issue #22): models list < 1 s; the first image within 3 s of the torch import. (#48): a one-step generate
at most 1.3x the torch import; the app usable within 2x.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import save_results


def _seconds(command: list[str], env: dict, before=None, fails: bool = False) -> float:
    """The wall time of one run of `command`; it must succeed (or, `fails`, end with a clear error)."""
    if before:
        before()
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if (done.returncode != 0) != fails or (fails and "Traceback" in done.stderr):
        raise SystemExit(f"{' '.join(command[:6])} ended with status {done.returncode}: {done.stderr[-500:]}")
    return seconds


APP_CHILD = """
import sys, os
from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication
from robustpaint.app.window import MainWindow
app = QApplication([])
window = MainWindow(model_name=sys.argv[1])
window.show()
app.processEvents()
if sys.argv[2] == "window":
    os._exit(0)  # at once: the worker thread is still loading the model
loop = QEventLoop()
poll = QTimer(interval=5)
poll.timeout.connect(lambda: sys.argv[1] in window.panel.cards and loop.quit())
poll.start()
loop.exec()
if sys.argv[2] == "ready":
    os._exit(0)  # usable: the model is loaded on the device and the panel shows its classes
window.panel.task_combo.setCurrentIndex(window.panel.task_combo.findData("generate"))
window.session.image_updated.connect(lambda _step: os._exit(0))  # the first live image is on the canvas
window.start_run()
app.exec()
"""


def import_summary(command: list[str], env: dict, top: int = 10) -> None:
    """The `top` slowest imports (cumulative) directly under the command's own modules, from -X importtime."""
    done = subprocess.run([command[0], "-X", "importtime", *command[1:]], env=env, capture_output=True, text=True)
    rows = []
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            _, cumulative, name = (part.strip() for part in line[len("import time:"):].split("|"))
            if cumulative.isdigit() and not name.startswith(" ") and len(name) - len(name.lstrip()) <= 2:
                rows.append((int(cumulative) / 1e6, name.strip()))
    print("\nslowest top-level imports of a one-step generate (cumulative seconds):")
    for seconds, name in sorted(rows, reverse=True)[:top]:
        print(f"  {seconds:6.2f}  {name}")
    print(f"  torchvision imported: {any(n.startswith('torchvision') for _, n in rows)}; torch._dynamo imported: "
          f"{'torch._dynamo' in done.stderr}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--models", default="imagenette_resnet18,resnet18")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--importtime", action="store_true", help="the slowest imports of a one-step generate")
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="robustpaint-startup-"))
    cache = folder / "cache"
    env = {**os.environ, "ROBUSTPAINT_DATA_DIR": str(folder / "data"), "ROBUSTPAINT_CACHE_DIR": str(cache),
           "QT_QPA_PLATFORM": "offscreen"}
    from PIL import Image
    Image.new("RGB", (128, 128), (120, 90, 60)).save(folder / "photo.png")
    rp = [sys.executable, "-m", "robustpaint"]
    # (model, what, command, before, fails): timed in rounds, each round every command once, so that the machine's
    # slow spells hit every row alike; the median of the rounds is reported
    # the baseline exits as the commands do once torch is loaded (robustpaint.cli.run, the app child): without the
    # interpreter's teardown, 0.5-0.6 s of freeing torch
    plan = [("", "python: import torch, exit without teardown", [sys.executable, "-c", "import os, torch; os._exit(0)"],
             None, False),
            ("", "python: import torch, ordinary exit (with the teardown the commands skip)",
             [sys.executable, "-c", "import torch"], None, False),
            ("", "robustpaint --version", rp + ["--version"], None, False),
            ("", "robustpaint models list", rp + ["models", "list"], None, False)]
    if not shutil.which("nvidia-smi"):  # where there is no GPU, asking for one is an error that comes at once
        plan.append(("", "robustpaint generate --device cuda (no GPU here: the error)",
                     rp + ["generate", "--class", "0", "--device", "cuda", "--out", str(folder / "out")], None, True))
    for model in args.models.split(","):
        photo = rp + ["classify", str(folder / "photo.png"), "--model", model]
        app = [sys.executable, "-c", APP_CHILD, model]
        plan += [
            (model, "robustpaint classify, weights hashed (cold cache)", photo,
             lambda: shutil.rmtree(cache, ignore_errors=True), False),
            (model, "robustpaint classify, hash cached", photo, None, False),
            (model, "robustpaint generate -n 1 --steps 1",
             rp + ["generate", "--class", "0", "--model", model, "-n", "1", "--steps", "1", "--quiet", "--out",
                   str(folder / "out")], None, False),
            (model, "robustpaint generate (one image, preset steps)",
             rp + ["generate", "--class", "0", "--model", model, "--quiet", "--out", str(folder / "out")], None, False),
            (model, "app: window shown", app + ["window"], None, False),
            (model, "app: usable (panel ready, model loaded)", app + ["ready"], None, False),
            (model, "app: first live image of a generation run", app + ["run"], None, False),
        ]
    times: list[list[float]] = [[] for _ in plan]
    for _ in range(args.runs):
        for samples, (_, _, command, before, fails) in zip(times, plan):
            samples.append(_seconds(command, env, before, fails))
    rows = [(model, name, statistics.median(samples)) for (model, name, *_), samples in zip(plan, times)]
    torch_import = rows[0][2]
    print("| model | command | seconds | beyond the torch import | x the torch import |\n|---|---|---|---|---|")
    for model, name, seconds in rows:
        beyond = "-" if name.startswith("python:") else f"{seconds - torch_import:+.2f}"
        print(f"| {model or '-'} | {name} | {seconds:.2f} | {beyond} | {seconds / torch_import:.2f} |")
    if args.importtime:
        import_summary(rp + ["generate", "--class", "0", "-n", "1", "--steps", "1", "--quiet", "--out",
                             str(folder / "out")], env)
    shutil.rmtree(folder, ignore_errors=True)
    save_results(args.json, {"benchmark": "startup", "runs": args.runs,
                             "rows": [{"model": m, "command": n, "seconds": round(t, 3)} for m, n, t in rows]})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
