"""The figures of a radius sweep's runs so far, finished or not (#45: write down every run, also the ones that lose):
each run's per-epoch history from its log (training accuracy on attacked batches, and clean and PGD-10 accuracy of
the weights being trained on 200 test images at the run's own radius, `--check-robust`), and its final evaluation
when `robustpaint eval` has run.

    python recipes/sweep_figures.py runs/imagenette64-eps-sweep benchmarks/results/radius_sweep_64px.json \
        [--sheets DIR OUT.png]

With --sheets, the contact sheets that benchmarks/realism.py wrote for each run (DIR/epsR.png, made with `--sheet`)
are put together by task: the generations of every radius, the drawings, then sketch to image and translation of
every radius, a row each, smallest radius first.
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


REALISM_ROWS = {"generate": 0, "drawings": 1, "sketch": 2, "translate": 6}  # benchmarks/realism.py's sheet rows


def compose_sheets(folder: Path, out: Path) -> None:
    """One sheet of the realism sheets' rows, by task then radius (each row is a side + 2 px band of its grid)."""
    from PIL import Image
    sheets = sorted((p for p in folder.glob("eps*.png") if p.stem[3:].replace(".", "", 1).isdigit()),
                    key=lambda p: float(p.stem[3:]))
    if not sheets:
        raise SystemExit(f"no epsR.png sheets in {folder}")
    images = [Image.open(p).convert("RGB") for p in sheets]
    band = (images[0].width - 2) // 10  # ten pictures a row, 2 px of padding each
    for path, image in zip(sheets, images):
        if image.size != (10 * band + 2, 7 * band + 2):
            raise SystemExit(f"{path} is not a sheet of realism.py's four tasks (7 rows of 10): make it with "
                             f"--tasks generate,sketch,inpaint,translate and the default --per-class and --n")
    order = [("generate", i) for i in range(len(images))] + [("drawings", 0)] + \
        [(task, i) for task in ("sketch", "translate") for i in range(len(images))]
    result = Image.new("RGB", (images[0].width, band * len(order) + 2))
    for k, (task, i) in enumerate(order):
        top = REALISM_ROWS[task] * band
        result.paste(images[i].crop((0, top, images[i].width, top + band + 2)), (0, k * band))
    result.save(out)
    print(f"wrote {out}: rows {', '.join(f'{t} {sheets[i].stem}' for t, i in order)}")


def main() -> int:
    if "--sheets" in sys.argv:
        at = sys.argv.index("--sheets")
        compose_sheets(Path(sys.argv[at + 1]), Path(sys.argv[at + 2]))
        del sys.argv[at:at + 3]
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
