"""The figures of a radius sweep's runs so far, finished or not (#45: write down every run, also the ones that lose):
each run's per-epoch history from its log (training accuracy on attacked batches, and clean and PGD-10 accuracy of
the weights being trained on 200 test images at the run's own radius, `--check-robust`), and its final evaluation
when `robustpaint eval` has run.

    python recipes/sweep_figures.py runs/imagenette64-eps-sweep benchmarks/results/radius_sweep_64px.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def runs(folder: Path) -> dict:
    figures = {}
    for log in sorted(folder.glob("eps*.log")):
        history, evaluation = [], None
        text = log.read_text(errors="replace")
        for line in text.splitlines():
            line = line.strip()
            if line.startswith('{"epoch"'):
                history.append(json.loads(line))
        if '"robust_accuracy"' in text:  # eval prints one indented JSON object at the end
            start = text.rindex('{\n  "attack"')
            evaluation = json.loads(text[start:text.index("\n}", start) + 2])
        figures[log.stem] = {"epochs_done": len(history), "finished": (folder / log.stem / "done").exists(),
                             "history": history, "evaluation": evaluation}
    return figures


def main() -> int:
    folder, out = Path(sys.argv[1]), Path(sys.argv[2])
    result = {"what": "imagenette ResNet-18 at 64 px, N-FGSM, 20 epochs a radius (recipes/imagenette64_eps_sweep.sh)",
              "runs": runs(folder)}
    out.write_text(json.dumps(result, indent=1) + "\n")
    for name, run in result["runs"].items():
        last = run["history"][-1] if run["history"] else {}
        print(f"{name}: {run['epochs_done']} epochs, clean {last.get('check_clean')}, PGD-10 {last.get('check_pgd10')}"
              f"{'' if run['finished'] else ' (running)'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
