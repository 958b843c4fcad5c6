"""Start-up timings: fresh processes, each figure beside the torch import it includes (the median of a few runs).

    python benchmarks/startup.py [--runs 3] [--model imagenette_resnet18] [--json PATH]

- `robustpaint models list` (cards only, no torch);
- `robustpaint classify` with the weights' hash computed (a cold cache) and with it cached (size, mtime, inode);
- `robustpaint generate` of one image with the preset's steps, and the same minus the torch import.
Aims (issue #22): models list < 1 s; the first image within 3 s of the torch import.
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


def _seconds(command: list[str], env: dict, runs: int, before=None) -> float:
    times = []
    for _ in range(runs):
        if before:
            before()
        started = time.perf_counter()
        subprocess.run(command, env=env, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--model", default="imagenette_resnet18")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="robustpaint-startup-"))
    cache = folder / "cache"
    env = {**os.environ, "ROBUSTPAINT_DATA_DIR": str(folder / "data"), "ROBUSTPAINT_CACHE_DIR": str(cache)}
    from PIL import Image
    Image.new("RGB", (128, 128), (120, 90, 60)).save(folder / "photo.png")
    rp = [sys.executable, "-m", "robustpaint"]
    rows = {
        "python -c 'import torch'": _seconds([sys.executable, "-c", "import torch"], env, args.runs),
        "robustpaint models list": _seconds(rp + ["models", "list"], env, args.runs),
        "robustpaint classify, weights hashed (cold cache)": _seconds(
            rp + ["classify", str(folder / "photo.png"), "--model", args.model], env, args.runs,
            before=lambda: shutil.rmtree(cache, ignore_errors=True)),
        "robustpaint classify, hash cached": _seconds(
            rp + ["classify", str(folder / "photo.png"), "--model", args.model], env, args.runs),
        "robustpaint generate (one image, preset steps)": _seconds(
            rp + ["generate", "--class", "0", "--model", args.model, "--quiet", "--out", str(folder / "out")], env,
            args.runs),
    }
    torch_import = rows["python -c 'import torch'"]
    print(f"| command ({args.model}) | seconds | beyond the torch import |\n|---|---|---|")
    for name, seconds in rows.items():
        beyond = "-" if name.startswith("python") else f"{seconds - torch_import:+.2f}"
        print(f"| {name} | {seconds:.2f} | {beyond} |")
    shutil.rmtree(folder, ignore_errors=True)
    save_results(args.json, {"model": args.model, "runs": args.runs, "seconds": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
