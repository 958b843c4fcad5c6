"""How photo-like the generated pictures of a photo model are, each figure as a ratio to real test photos.

    python benchmarks/naturalness.py [--data ../shared/data/imagenette-224.tar.gz] [--model imagenette_resnet18]
        [--per-class 4] [--photos 200] [--variant NAME='{"jitter": 8}' ...] [--size 512] [--save-grid DIR] [--quick]
        [--json benchmarks/results/naturalness.json]
    python benchmarks/naturalness.py --self-check

The pictures are made through `run_recipe`, the path the CLI's replay and the app's recipes take, so what is
measured is what users get. Per variant (a dict of extra recipe keys), on the same seeds:

- blockiness: per period p in (4, 8, 16), the mean |luminance step| across p-block borders over the mean step at
  all other neighbour pairs, the largest of the three (the seeds are 32-px and upsampled, so their blocks show here);
- high-frequency share: the share of the luminance power spectrum (mean removed) above half the Nyquist frequency;
- saturation: mean HSV saturation (PGD towards a class tends to push colours to garish);
- the standard evaluator's recognition of the target class, and the within-class spread of its features against
  real photos' (quality.py's "diversity vs real"): naturalness bought by losing the class or the variety is no gain.
Each image figure is divided by the same figure on a fixed subset of real test photos at the canvas's size
(1.0 = like photos). Ratios, not absolute values, are meant to be compared. `--size` generates on a canvas of that
side (default: the model's); the Imagenette photos are 224 px, so at 512 they are upscaled (bicubic) to it, which
makes them smoother than a real 512-px photo: the high-frequency ratio then flatters the photos, not the pictures.
The evaluator judges every picture scaled down to its own side.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from common import save_results
from quality import _diversity, evaluator_outputs

PERIODS = (4, 8, 16)
# printed per variant
RECIPE_SHOWN = ("eps", "step_size", "steps", "spread", "upsample", "jitter", "saturation", "fourier", "views", "crops")
DEFAULT_DATA = "../shared/data/imagenette-224.tar.gz"
# The paper's generation: Gaussian seeds upsampled by pixel repetition, independent samples (no spread penalty).
BUILT_IN_VARIANTS = {"paper (nearest seeds, no priors)": {"spread": 0.0, "upsample": "nearest", "jitter": 0,
                                                          "saturation": 0.0, "views": "canvas", "steps": 60},
                     "default preset": {}}


# ---------------------------------------------------------------- image statistics (N x 3 x H x W in [0, 1])

def luminance(images: torch.Tensor) -> torch.Tensor:
    """Rec. 601 luma, N x H x W: the channel where block edges and texture are seen."""
    r, g, b = images.float().unbind(1)
    return 0.299 * r + 0.587 * g + 0.114 * b


def blockiness(images: torch.Tensor, periods=PERIODS) -> float:
    """max over p of mean |step| across p-block borders / mean |step| elsewhere, pooled over all images and both
    directions: ~1 for content without a grid, >> 1 for pixel-repeated (upsampled) blocks."""
    y = luminance(images)
    dx = (y[:, :, 1:] - y[:, :, :-1]).abs()  # step between column j and j + 1
    dy = (y[:, 1:, :] - y[:, :-1, :]).abs()  # step between row i and i + 1
    ratios = []
    for p in periods:
        bx = (torch.arange(dx.shape[2]) % p) == p - 1
        by = (torch.arange(dy.shape[1]) % p) == p - 1
        border = torch.cat([dx[:, :, bx].flatten(), dy[:, by, :].flatten()])
        other = torch.cat([dx[:, :, ~bx].flatten(), dy[:, ~by, :].flatten()])
        ratios.append(float(border.mean()) / max(float(other.mean()), 1e-6))  # 1e-6: a pure block image is finite
    return max(ratios)


def high_frequency_share(images: torch.Tensor) -> float:
    """Mean over images of the luminance power (mean removed) at radial frequency > Nyquist / 2, i.e. > 0.25
    cycles/pixel: white noise gives 1 - pi/16 = 0.80, photos far less; sharp block edges and PGD speckle raise it."""
    y = luminance(images)
    y = y - y.mean((1, 2), keepdim=True)
    power = torch.fft.fft2(y).abs() ** 2
    h, w = y.shape[1:]
    radius = torch.sqrt(torch.fft.fftfreq(h)[:, None] ** 2 + torch.fft.fftfreq(w)[None, :] ** 2)
    high = (power * (radius > 0.25)).sum((1, 2)) / power.sum((1, 2)).clamp(min=1e-12)
    return float(high.mean())


def saturation(images: torch.Tensor) -> float:
    """Mean HSV saturation (max - min) / max per pixel (0 where max is 0)."""
    top, bottom = images.float().amax(1), images.float().amin(1)
    return float(torch.where(top > 0, (top - bottom) / top.clamp(min=1e-12), torch.zeros_like(top)).mean())


def image_figures(images: torch.Tensor) -> dict:
    return {"blockiness": blockiness(images), "high_frequency_share": high_frequency_share(images),
            "saturation": saturation(images)}


def self_check() -> None:
    """The metrics on images whose answer is known: a smooth random field (no grid: blockiness ~1), the same field
    4x4-average-pooled and pixel-repeated (what nearest-upsampled seeds look like: blockiness >> 1), its colours
    pushed away from gray (more saturated), white noise (high-frequency share 1 - pi/16) and gray (saturation 0)."""
    g = torch.Generator().manual_seed(0)
    noise = torch.randn(8, 3, 128, 128, generator=g)
    radius = torch.sqrt(torch.fft.fftfreq(128)[:, None] ** 2 + torch.fft.fftfreq(128)[None, :] ** 2)
    smooth = torch.fft.ifft2(torch.fft.fft2(noise) * torch.exp(-(radius / 0.03) ** 2)).real
    smooth = smooth - smooth.mean((2, 3), keepdim=True)
    smooth = (0.5 + 0.25 * smooth / smooth.abs().amax((1, 2, 3), keepdim=True)).clamp(0, 1)
    blocks = F.avg_pool2d(smooth, 4).repeat_interleave(4, 2).repeat_interleave(4, 3)
    gray = luminance(smooth)[:, None]
    saturated = (gray + 3 * (smooth - gray)).clamp(0, 1)
    white = torch.rand(8, 3, 128, 128, generator=g)
    figures = {name: image_figures(x) for name, x in
               (("smooth", smooth), ("blocks", blocks), ("saturated", saturated), ("white noise", white))}
    for name, f in figures.items():
        print(f"{name:12s} " + "  ".join(f"{k} {v:.4g}" for k, v in f.items()))
    assert 0.9 < figures["smooth"]["blockiness"] < 1.1, figures["smooth"]
    assert figures["blocks"]["blockiness"] > 10, figures["blocks"]
    assert figures["saturated"]["saturation"] > 1.5 * figures["smooth"]["saturation"], figures
    assert abs(figures["white noise"]["high_frequency_share"] - (1 - np.pi / 16)) < 0.02, figures["white noise"]
    assert figures["smooth"]["high_frequency_share"] < 0.01, figures["smooth"]
    assert figures["blocks"]["high_frequency_share"] > 10 * figures["smooth"]["high_frequency_share"], figures
    assert saturation(gray.expand(-1, 3, -1, -1)) == 0.0 and saturation(torch.zeros(1, 3, 4, 4)) == 0.0
    assert abs(saturation(torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1)) - 1.0) < 1e-6
    print("self-check passed")


# ---------------------------------------------------------------- generation through the recipe path

_NOT_RECIPE_KEYS = {"task", "knobs", "image", "mask", "change_mask", "anchor", "region_masks"}


def known_keys() -> set[str]:
    """Recipe keys the installed code reads: TaskRequest's scalar fields and the knob table's keys."""
    from robustpaint.core.tasks import KNOBS, TaskRequest
    return ({f.name for f in dataclasses.fields(TaskRequest)} | {k.key for k in KNOBS.values()}) - _NOT_RECIPE_KEYS


def unread_knobs(variant: dict) -> list[str]:
    """Knobs in `variant` that exist but that the generate task does not list among those it reads."""
    from robustpaint.core.tasks import KNOBS, get_task
    reads = set(get_task("generate").parameters)
    return [key for key in variant for k in KNOBS.values()
            if k.key == key and k.name not in reads and k.key != "size"]  # the canvas side is the task's own field


def generate(bundle, model_name: str, targets: list[int], seed: int, variant: dict) -> tuple[torch.Tensor, dict]:
    """The recipe the CLI would write for this run (`robustpaint generate` with the variant's options), run through
    `run_recipe`. Built as the CLI builds it (request, preset values, `finalise`, `recipe_from_request`) and not as a
    bare dict: a recipe that leaves a knob out replays with the knob's `before` value (the paper's method: spread 0,
    nearest seeds), not with the default a user gets. One recipe for all targets (the spread penalty acts within a
    batch); fp32 (no bf16 on this CPU)."""
    from robustpaint.core.recipes import recipe_from_request, run_recipe
    from robustpaint.core.tasks import KNOBS, TaskRequest, get_task, scaled_config
    spec, side = get_task("generate"), bundle.model.input_size
    generic = {k.key: k.name for k in KNOBS.values() if k.generic}
    request = TaskRequest("generate", targets=tuple(targets), candidates=len(targets), seed=seed, bf16=False)
    request = request.replace(**{k: tuple(v) if isinstance(v, list) else v for k, v in variant.items()
                                 if k not in generic})
    request = request.with_knobs(**{generic[k]: v for k, v in variant.items() if k in generic})
    config = scaled_config(request, *spec.output_shape(request, side), side)
    step_size = config.step_size
    if "steps" in variant and "step_size" not in variant:  # another step count covers the preset's distance
        preset = scaled_config(request.replace(steps=None), *spec.output_shape(request, side), side)
        step_size = preset.step_size * preset.steps / config.steps
    request = spec.finalise(request.replace(eps=config.eps, step_size=step_size, steps=config.steps), side)
    recipe = recipe_from_request(request, model_name, bundle.sha256, device="cpu")
    return run_recipe(recipe, "cpu", bundle)


def parse_variant(text: str) -> tuple[str, dict]:
    name, sep, body = text.partition("=")
    try:
        value = json.loads(body) if sep else None
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"--variant {name}: not JSON ({exc})") from None
    if not name.strip() or not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"--variant takes NAME='{{\"key\": value}}', not {text!r}")
    return name.strip(), value


def real_photos(data: str, side: int, classes: list[int], photos: int, per_class: int):
    """The test split at the model's side, as quality.py reads it: a fixed subset (seed 0, the same share of each
    generated class) for the image figures and the evaluator's ceiling, and, as quality.py's generation() does,
    the first `per_class` test photos of each class for the within-class spread."""
    from robustpaint.core.train.data import load_split, resize_images
    test = load_split(data, "test")
    labels = test.labels.long()
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))
    share = max(photos // len(classes), 1)
    pick = torch.cat([order[labels[order] == c][:share] for c in classes])
    spread_pick = torch.cat([(labels == c).nonzero().flatten()[:per_class] for c in classes])
    subset = resize_images(test.images[pick], side).float() / 255
    spread_set = resize_images(test.images[spread_pick], side).float() / 255
    return subset, labels[pick], spread_set, labels[spread_pick]


def class_spread(evaluator, images: torch.Tensor, labels: torch.Tensor, classes: list[int]) -> float:
    """quality.py's diversity: mean over classes of the mean pairwise distance of the evaluator's pooled features."""
    _, feats = evaluator_outputs(evaluator, images)
    return float(np.mean([_diversity(feats[labels == c]) for c in classes]))


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "variant"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=DEFAULT_DATA, help="image folder or .tar.gz with a test/ split")
    parser.add_argument("--model", default="imagenette_resnet18")
    parser.add_argument("--evaluator", default="imagenette-evaluator")
    parser.add_argument("--per-class", type=int, default=4, help="generated pictures per class")
    parser.add_argument("--photos", type=int, default=200, help="real test photos for the reference figures")
    parser.add_argument("--variant", action="append", type=parse_variant, default=[],
                        help="NAME='{\"key\": value}': extra recipe keys, one table row (repeatable)")
    parser.add_argument("--seed", type=int, default=0, help="the recipes' seed (the same for every variant)")
    parser.add_argument("--size", type=int, help="canvas side of the pictures (default: the model's input side)")
    parser.add_argument("--classes", type=int, help="the model's first N classes only (default: all; 3 with --quick)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 per class, 3 classes, 60 photos")
    parser.add_argument("--save-grid", type=Path, metavar="DIR", help="a PNG grid per variant (a row per class)")
    parser.add_argument("--json", type=Path, help="default: benchmarks/results/naturalness.json "
                                                  "(naturalness_quick.json with --quick)")
    parser.add_argument("--self-check", action="store_true", help="check the metrics on synthetic images, then stop")
    args = parser.parse_args(argv)
    if args.self_check:
        self_check()
        return 0
    from robustpaint.core.errors import RobustPaintError
    from robustpaint.core.models.bundle import load_model_bundle

    started = time.perf_counter()
    bundle, ev_bundle = load_model_bundle(args.model, "cpu"), load_model_bundle(args.evaluator, "cpu")
    if ev_bundle.card.get("role") != "evaluator":
        sys.exit(f"{args.evaluator} is not marked as an evaluator in its card (role: {ev_bundle.card.get('role')!r})")
    model, evaluator = bundle.model.eval(), ev_bundle.model.eval()
    n_classes = min(args.classes or (3 if args.quick else len(model.classes)), len(model.classes))
    if args.quick:
        args.per_class, args.photos = 2, 60
    if args.json is None:
        args.json = Path(f"benchmarks/results/naturalness{'_quick' if args.quick else ''}"
                         f"{f'_{args.size}' if args.size else ''}.json")
    classes = list(range(n_classes))
    targets = [c for c in classes for _ in range(args.per_class)]
    side = args.size or model.input_size

    photos, photo_labels, spread_photos, spread_labels = real_photos(args.data, side, classes, args.photos,
                                                                     args.per_class)
    ref = image_figures(photos)
    probs, _ = evaluator_outputs(evaluator, photos)
    ref["evaluator_accuracy"] = float((probs.argmax(1) == photo_labels).float().mean())
    ref["spread"] = class_spread(evaluator, spread_photos, spread_labels, classes)
    if args.save_grid:
        from robustpaint.core.imageio import save_grid
        args.save_grid.mkdir(parents=True, exist_ok=True)
        save_grid(spread_photos, args.save_grid / "naturalness-real-photos.png", columns=args.per_class)

    variants = {name: {**({"size": args.size} if args.size else {}), **v}
                for name, v in {**BUILT_IN_VARIANTS, **dict(args.variant)}.items()}
    known = known_keys()
    rows, skipped = {}, {}
    for name, variant in variants.items():
        unknown = [k for k in variant if k not in known]
        if unknown:
            skipped[name] = f"the installed code does not know {', '.join(unknown)}"
            print(f"skipping {name!r}: {skipped[name]}", flush=True)
            continue
        for key in unread_knobs(variant):
            print(f"note: {name!r}: the generate task does not list {key!r} among the knobs it reads", flush=True)
        t0 = time.perf_counter()
        try:
            images, recipe = generate(bundle, args.model, targets, args.seed, variant)
        except (RobustPaintError, ValueError) as exc:
            skipped[name] = f"refused: {exc}"
            print(f"skipping {name!r}: {skipped[name]}", flush=True)
            continue
        seconds = time.perf_counter() - t0
        images = images.float().clamp(0, 1)
        figures = image_figures(images)
        probs, _ = evaluator_outputs(evaluator, images)
        labels = torch.tensor(targets)
        figures["evaluator_accuracy"] = float((probs.argmax(1) == labels).float().mean())
        figures["spread"] = class_spread(evaluator, images, labels, classes)
        rows[name] = {"variant": variant,
                      "blockiness_vs_photos": round(figures["blockiness"] / ref["blockiness"], 3),
                      "high_frequency_share_vs_photos": round(figures["high_frequency_share"]
                                                              / ref["high_frequency_share"], 3),
                      "saturation_vs_photos": round(figures["saturation"] / ref["saturation"], 3),
                      "evaluator_recognition": round(figures["evaluator_accuracy"], 4),
                      "spread_vs_photos": round(figures["spread"] / ref["spread"], 3),
                      "absolute": {k: round(v, 4) for k, v in figures.items()},
                      "recipe": {k: v for k, v in recipe.items() if k != "targets"},
                      "seconds": round(seconds, 1)}
        shown = ", ".join(f"{k} {recipe[k]:.3g}" if isinstance(recipe[k], float) else f"{k} {recipe[k]}"
                          for k in RECIPE_SHOWN if k in recipe)
        print(f"{name}: {seconds:.1f} s ({shown})", flush=True)
        if args.save_grid:
            save_grid(images, args.save_grid / f"naturalness-{slug(name)}.png", columns=args.per_class)

    header = ["variant", "blockiness vs photos", "high-frequency share vs photos", "saturation vs photos",
              "evaluator recognition", "spread vs photos"]
    keys = ["blockiness_vs_photos", "high_frequency_share_vs_photos", "saturation_vs_photos",
            "evaluator_recognition", "spread_vs_photos"]
    print(f"\n### Naturalness of {args.model} generations ({args.per_class} per class, {n_classes} classes; "
          f"ratios to {len(photos)} real test photos at {side} px)")
    print("| " + " | ".join(header) + " |\n" + "|---" * len(header) + "|")
    for name, row in rows.items():
        print(f"| {name} | " + " | ".join(str(row[k]) for k in keys) + " |")
    print(f"real photos (absolute): blockiness {ref['blockiness']:.3f}, high-frequency share "
          f"{ref['high_frequency_share']:.4f}, saturation {ref['saturation']:.3f}, evaluator accuracy "
          f"{ref['evaluator_accuracy']:.3f}, spread {ref['spread']:.3f}")
    for name, why in skipped.items():
        print(f"skipped {name}: {why}")
    total = round(time.perf_counter() - started, 1)
    print(f"({total} s)")
    save_results(args.json, {
        "model": args.model, "model_sha256": bundle.sha256, "evaluator": args.evaluator,
        "settings": {"per_class": args.per_class, "classes": classes, "photos": len(photos), "seed": args.seed,
                     "quick": args.quick, "periods": list(PERIODS), "data": args.data, "side": side,
                     "precision": "fp32"},
        "photos": {k: round(v, 4) for k, v in ref.items()}, "rows": rows, "skipped": skipped, "seconds": total})
    return 0


if __name__ == "__main__":
    sys.exit(main())
