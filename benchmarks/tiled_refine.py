"""Does a refinement in tiles at the model's scale put detail into a canvas larger than the model (#45 item 5)?

    python benchmarks/tiled_refine.py [--data ../shared/data/imagenette-224.tar.gz] [--model imagenette_resnet18]
        [--per-class 6] [--factor 2] [--sheet docs/tiled-refine.png] [--json PATH] [--quick]

The issue: a 512-px canvas is a soft smear with no more detail than a 128-px picture upscaled. BIGRoC refines a
picture with a robust classifier's gradient in a small ball; here the picture is a generation at the model's side,
upscaled `--factor` times and refined by super-resolution (its block means kept equal to the generation) with the
model judging it in three ways: the `views` knob's "model" (the default: the whole scaled down plus a random crop of
a side between the model's and the canvas's, scaled down too), "tiles" (the crops are model-sized tiles cut at the
canvas's own resolution), "tiles" with 4 tiles a step, and that with 4 times the radius (Freedom 4). Beside them:
plain bicubic upscaling (no refinement), and a generation made at the large side directly, with the default views
(the app's default for a large canvas) and with tiles.

The measure is realism.py's KID in the evaluator's features, at two scales:
  - detail: each picture's four quadrants (at factor 2, model-sized crops at the canvas's own resolution) against
    the quadrants of real test photos of the class resized to the large side (Imagenette's 224-px photos, so at
    factor 2 slightly enlarged), with landmarks: the other half of the photos' quadrants (the floor), and the
    quadrants of those photos at the model's side upscaled bicubic (the smear the issue names);
  - the whole picture scaled to the model's side, against the class's photos (does the refinement keep the object).
Every figure is a class's KID averaged over the classes; recognition of the whole by the evaluator beside it. A
classifier's features can be moved by PGD's fine pattern, so the sheet (rows: one picture a class per variant, and
a crop of each at full resolution) is the judge beside the numbers.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).parent))
from common import save_results  # noqa: E402
from naturalness import DEFAULT_DATA, generate  # noqa: E402
from quality import evaluator_outputs  # noqa: E402
from realism import REFERENCE_PER_CLASS, class_kid, kid, recognition, run_generation, setup  # noqa: E402


def quadrants(images: torch.Tensor) -> torch.Tensor:
    """The four quadrants of each image (N x 3 x H x W -> 4N x 3 x H/2 x W/2), in image order."""
    h, w = images.shape[-2] // 2, images.shape[-1] // 2
    return torch.stack([images[..., :h, :w], images[..., :h, w:], images[..., h:, :w], images[..., h:, w:]],
                       1).flatten(0, 1)


def upscale(images: torch.Tensor, size: int) -> torch.Tensor:
    return F.interpolate(images, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 1)


def to_side(images: torch.Tensor, side: int) -> torch.Tensor:
    return F.interpolate(images, size=(side, side), mode="bilinear", antialias=True, align_corners=False)


def photo_halves(data: str, side: int, classes) -> tuple[dict, dict]:
    """Per class: the reference half and the other half of the test photos (as realism.py draws them), at `side`."""
    from robustpaint.core.train.data import load_split, resize_images
    test = load_split(data, "test")
    if side > 1.15 * test.images.shape[-1]:
        raise SystemExit(f"the test photos are {test.images.shape[-1]} px: at {side} px their quadrants would be "
                         f"enlarged photos, a smear themselves; use a smaller --factor")
    labels = test.labels.long()
    reference, other = {}, {}
    for c in classes:
        which = (labels == c).nonzero().flatten()[:2 * REFERENCE_PER_CLASS]
        reference[c] = resize_images(test.images[which[1::2]], side).float() / 255
        other[c] = resize_images(test.images[which[0::2]], side).float() / 255
    return reference, other


def superres(bundle, images, targets, factor: int, knobs: dict, freedom: float = 1.0) -> torch.Tensor:
    """Each class's pictures super-resolved `factor` times towards their class with the task's preset (its radius
    and step times `freedom`, as the Freedom knob sets them)."""
    from robustpaint.core.tasks import TaskRequest, preset_values
    from steps_to_quality import run_batch
    side = bundle.model.input_size
    eps, step, steps = preset_values("superres", side * factor, side * factor, factor=factor, model_side=side,
                                     freedom=freedom)
    outs = []
    for t in targets.unique().tolist():
        which = (targets == t).nonzero().flatten()
        request = TaskRequest("superres", image=images[which], targets=(int(t),), factor=factor,
                              candidates=len(which), eps=eps, step_size=step, steps=steps,
                              bf16=False).with_knobs(**knobs)
        outs.append(run_batch(bundle, request, side))
    order = torch.cat([(targets == t).nonzero().flatten() for t in targets.unique().tolist()])
    result = torch.empty(len(images), 3, side * factor, side * factor)
    result[order] = torch.cat(outs)
    return result


def generate_large(bundle, model_name: str, targets: torch.Tensor, seed: int, large: int, knobs: dict) -> torch.Tensor:
    """Generations made at the large side directly, a recipe per class (a run's batch has a pixel budget; the
    preset's spread acts within a class, so this is the run a user gets for each class)."""
    images = torch.empty(len(targets), 3, large, large)
    for t in targets.unique().tolist():
        which = (targets == t).nonzero().flatten()
        images[which] = generate(bundle, model_name, [int(t)] * len(which), seed,
                                 {"size": large, **knobs})[0].float().clamp(0, 1)
    return images


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--model", default="imagenette_resnet18")
    parser.add_argument("--evaluator", default="imagenette-evaluator")
    parser.add_argument("--per-class", type=int, default=6)
    parser.add_argument("--factor", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variants", help="run only the variants whose names contain one of these words, comma "
                                           "separated (e.g. 'generated,Freedom')")
    parser.add_argument("--sheet", type=Path)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--quick", action="store_true", help="2 a class, 3 classes")
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)
    bundle, evaluator, _, _, (whole_reference, _, _) = setup(args.model, args.evaluator, args.data)
    side = bundle.model.input_size
    large = side * args.factor
    classes = list(range(3 if args.quick else len(bundle.model.classes)))
    per_class = 2 if args.quick else args.per_class
    reference_photos, other_photos = photo_halves(args.data, large, classes)

    def detail_features(images: torch.Tensor) -> torch.Tensor:
        return evaluator_outputs(evaluator, to_side(quadrants(images), evaluator.input_size))[1]

    reference = {c: detail_features(reference_photos[c]) for c in classes}
    floor = sum(kid(detail_features(other_photos[c]), reference[c]) for c in classes) / len(classes)
    smear = sum(kid(detail_features(upscale(to_side(other_photos[c], side), large)), reference[c])
                for c in classes) / len(classes)
    print(f"detail landmarks (KID x 1000 of quadrants at {large} px): photos {1000 * floor:.2f}, photos at {side} px "
          f"upscaled bicubic {1000 * smear:.2f}", flush=True)

    started = time.perf_counter()
    generations, targets = run_generation(bundle, args.model, classes, per_class, args.seed)
    generation_seconds = time.perf_counter() - started
    variants = {"bicubic (no refinement)": lambda: upscale(generations, large)}
    for name, knobs, freedom in (("superres, views model (default)", {"views": "model"}, 1.0),
                                 ("superres, views tiles", {"views": "tiles"}, 1.0),
                                 ("superres, views tiles, 4 tiles", {"views": "tiles", "crops": 4}, 1.0),
                                 ("superres, views tiles, 4 tiles, Freedom 4", {"views": "tiles", "crops": 4}, 4.0)):
        variants[name] = lambda knobs=knobs, freedom=freedom: superres(bundle, generations, targets, args.factor,
                                                                       knobs, freedom)
    for name, views in ((f"generated at {large} px (the default)", {}),
                        (f"generated at {large} px, views tiles", {"views": "tiles"})):
        variants[name] = lambda views=views: generate_large(bundle, args.model, targets, args.seed, large, views)
    if args.variants:
        chosen = [name for name in variants if any(word in name for word in args.variants.split(","))]
        if not chosen:
            raise SystemExit(f"--variants {args.variants!r} names none of: {'; '.join(variants)}")
        variants = {name: variants[name] for name in chosen}

    quads = targets.repeat_interleave(4)
    rows, sheet = {}, []

    def write() -> None:
        """The rows so far and their sheet (after every row: an hour's figures are not lost to a later failure)."""
        if args.sheet is not None:
            from torchvision.utils import save_image
            args.sheet.parent.mkdir(parents=True, exist_ok=True)
            save_image(torch.cat(sheet), args.sheet, nrow=len(sheet[0]), padding=2)
        save_results(args.json, {"benchmark": "tiled_refine", "model": args.model, "evaluator": args.evaluator,
                                 "factor": args.factor, "per_class": per_class, "classes": len(classes),
                                 "landmarks_detail_kid": {"photos": round(1000 * floor, 3),
                                                          "photos upscaled": round(1000 * smear, 3)},
                                 "rows": rows})

    for name, make in variants.items():
        started = time.perf_counter()
        images = make()
        seconds = time.perf_counter() - started
        if name.startswith("superres") or name.startswith("bicubic"):
            seconds += generation_seconds
        detail = class_kid(detail_features(images), quads, reference)
        whole = to_side(images, side)
        whole_kid = class_kid(evaluator_outputs(evaluator, to_side(whole, evaluator.input_size))[1], targets,
                              whole_reference)
        rows[name] = {"detail_kid": round(1000 * detail, 3), "detail_vs_upscaled_photos": round(detail / smear, 3),
                      "whole_kid": round(1000 * whole_kid, 3),
                      "recognised": recognition(evaluator, to_side(whole, evaluator.input_size), targets),
                      "seconds": round(seconds, 1)}
        print(f"{name:36s} " + "  ".join(f"{k} {v}" for k, v in rows[name].items()), flush=True)
        picks = images[::per_class][:6]
        sheet.append(to_side(picks, side))
        sheet.append(picks[..., large // 4:large // 4 + side, large // 4:large // 4 + side])
        write()
    if args.sheet is not None:
        print(f"wrote {args.sheet} (rows in pairs per variant, in the order above: the whole at {side} px, then a "
              f"{side}-px crop at full resolution)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
