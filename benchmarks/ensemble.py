"""Beyond the paper, measured before kept (#45 item 5): do the gradients of two shipped models together (ResNet-18
and ResNet-50 on Imagenette, the mean of their log-probabilities) paint better than either alone?

    python benchmarks/ensemble.py [--data ../shared/data/imagenette-224.tar.gz] [--per-class 6] [--n 30]
        [--members imagenette_resnet18,imagenette_resnet50] [--sheet PATH] [--json PATH]

Each of the members alone and the ensemble generate from the same seeds with the generation preset and run sketch
to image on the same flattened held-out photos; each is judged by benchmarks/realism.py's measure (KID to real
photos of the class in the evaluator's features, as a multiple of the noise + blur landmark), the evaluator's
recognition at full size and from a 32-px thumbnail, and the seconds it took. The within-class spread term of the
generation preset is off for all of them (it reads one model's representation, which an ensemble does not have), so
the rows compare like with like.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from common import save_results  # noqa: E402
from naturalness import DEFAULT_DATA, generate  # noqa: E402
from quality import evaluator_outputs  # noqa: E402
from realism import (class_kid, held_out, landmark_kids, low_pass, recognition, reference_sets,  # noqa: E402
                     run_photos, test_split)


class MeanLogProb(nn.Module):
    """The members' log-probabilities averaged: a product of experts, whose gradient is the mean of theirs."""

    def __init__(self, members):
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([m(x).float().log_softmax(1) for m in self.members]).mean(0)


def ensemble_bundle(bundles):
    """A bundle whose model is the members together (each keeps its own normalisation), with the first's seeds."""
    from robustpaint.core.models.classifier import Classifier
    first = bundles[0].model
    for b in bundles[1:]:
        if b.model.classes != first.classes or b.model.input_size != first.input_size:
            raise SystemExit("the members must have the same classes and input size")
    model = Classifier(MeanLogProb([b.model for b in bundles]), [0.0, 0.0, 0.0], [1.0, 1.0, 1.0], first.classes,
                       "ensemble", first.input_size).eval()
    return dataclasses.replace(bundles[0], model=model, card={})


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--members", default="imagenette_resnet18,imagenette_resnet50")
    parser.add_argument("--evaluator", default="imagenette-evaluator")
    parser.add_argument("--per-class", type=int, default=6)
    parser.add_argument("--n", type=int, default=30, help="held-out photos for sketch to image")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sheet", type=Path)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    from robustpaint.core.models.bundle import load_model_bundle
    names = args.members.split(",")
    bundles = [load_model_bundle(n) for n in names]
    for b in bundles:
        b.model.eval()
    candidates = {**dict(zip(names, bundles)), " + ".join(names): ensemble_bundle(bundles)}
    evaluator = load_model_bundle(args.evaluator).model.eval()
    side = bundles[0].model.input_size
    classes = list(range(len(bundles[0].model.classes)))
    photos, labels = test_split(args.data, side)
    reference, other, worse = reference_sets(evaluator, photos, labels, classes)
    noise_blur = landmark_kids(reference, other, worse)["photos, noise + blur"]
    sources, source_labels = held_out(photos, labels, args.n)
    from steps_to_quality import flat_drawings
    drawings = flat_drawings(sources)
    targets = [c for c in classes for _ in range(args.per_class)]
    rows, sheet = {}, []
    print("| model | generate: x noise+blur | recognised | low-pass | s | sketch: x noise+blur | recognised | low-pass "
          "| s |\n|---|---|---|---|---|---|---|---|---|", flush=True)
    for name, bundle in candidates.items():
        row = {}
        started = time.perf_counter()
        images = generate(bundle, names[0], targets, args.seed, {"spread": 0.0})[0].float().clamp(0, 1)
        row["generate"] = {"seconds": round(time.perf_counter() - started, 1)}
        started = time.perf_counter()
        outs = run_photos(bundle, "sketch", drawings, source_labels)
        row["sketch"] = {"seconds": round(time.perf_counter() - started, 1)}
        for task, pictures, labels_of in (("generate", images, torch.tensor(targets)),
                                          ("sketch", outs, source_labels)):
            value = class_kid(evaluator_outputs(evaluator, pictures)[1], labels_of, reference)
            row[task].update(kid=round(value, 5), vs_noise_blur=round(value / noise_blur, 3),
                             recognised=recognition(evaluator, pictures, labels_of),
                             low_pass_recognised=recognition(evaluator, low_pass(pictures), labels_of))
        rows[name] = row
        g, s = row["generate"], row["sketch"]
        print(f"| {name} | {g['vs_noise_blur']:.2f} | {g['recognised']:.2f} | {g['low_pass_recognised']:.2f} | "
              f"{g['seconds']} | {s['vs_noise_blur']:.2f} | {s['recognised']:.2f} | {s['low_pass_recognised']:.2f} | "
              f"{s['seconds']} |", flush=True)
        sheet += [images[::args.per_class][:10], outs[:10]]
    if args.sheet is not None:
        from torchvision.utils import save_image
        args.sheet.parent.mkdir(parents=True, exist_ok=True)
        save_image(torch.cat(sheet), args.sheet, nrow=10, padding=2)
        print(f"wrote {args.sheet} (two rows a model, in the table's order: generations, sketch to image)")
    save_results(args.json, {"benchmark": "ensemble", "members": names, "evaluator": args.evaluator,
                             "per_class": args.per_class, "n": args.n, "noise_blur_landmark": round(noise_blur, 5),
                             "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
