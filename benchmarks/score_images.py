"""The shipped evaluator's verdict on folders of generated images named CLASS-NNN.png (what `robustpaint generate
--out DIR` writes): accuracy, within-class diversity of the evaluator's features, and the evaluator score, computed
as quality.py computes them. Used to compare two models' samples, e.g. the eps 0.5 / 1.0 comparison.

    python benchmarks/score_images.py DIR [DIR ...]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from quality import _diversity, evaluator_outputs, evaluator_score
from robustpaint.core.models.bundle import load_model_bundle


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--evaluator", default="resnet9-evaluator")
    args = parser.parse_args(argv)
    evaluator = load_model_bundle(args.evaluator).model
    print("| folder | images | evaluator accuracy | diversity (evaluator features) | evaluator score |\n|---|---|---|---|---|")
    for folder in args.folders:
        files = sorted(folder.glob("*.png"))
        if not files:
            raise SystemExit(f"{folder}: no .png files")
        images = torch.stack([torch.from_numpy(np.asarray(Image.open(f).convert("RGB")).copy()).permute(2, 0, 1)
                              for f in files]).float() / 255
        labels = torch.tensor([evaluator.classes.index(f.stem.rsplit("-", 1)[0]) for f in files])
        with torch.no_grad():
            probs, feats = evaluator_outputs(evaluator, images)
        accuracy = float((probs.argmax(1) == labels).float().mean())
        diversity = float(np.mean([_diversity(feats[labels == c]) for c in labels.unique()]))
        print(f"| {folder} | {len(files)} | {accuracy:.3f} | {diversity:.3f} | {evaluator_score(probs):.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
