"""Quality against wall time and steps: how few steps each step rule needs for a finished picture (#34).

    python benchmarks/steps_to_quality.py [--data ../shared/data/imagenette-224.tar.gz] [--model imagenette_resnet18]
        [--per-class 2] [--totals 10,20,30,60] [--tasks generate,sketch,translate,inpaint]
        [--candidates NAMES] [--n 16]
        [--plot docs/steps-to-quality.png] [--json PATH] [--quick]

Each candidate step rule (a set of recipe knobs: schedule, momentum, coarse, settle) runs at several step counts
on the same seeds and held-out photos (generation through `run_recipe`, the CLI's and the app's path; sketch,
translation and inpainting through `build_task` on batches of images, which a recipe cannot hold), and is scored as
naturalness.py and quality.py score: for generation the evaluator's recognition of the target class and the
blockiness and saturation as ratios to real test photos; for sketch to image (held-out photos flattened into a
few flat-colour shapes, scikit-image's SLIC superpixels at their mean colour: what a user draws in a minute, of a
known class) the evaluator's recognition of the drawn class, the same naturalness ratios and the SSIM to the
drawing; for translation the evaluator's target rate and the SSIM to the source photo; for inpainting (a square
hole a quarter of the side) the evaluator's accuracy and PSNR and SSIM in the hole. Fewer steps keep the distance
a run travels: the step size is the preset's times (preset steps / steps), as PGD's usual rule of step = travel /
steps. The reference row is the paper's fixed schedule, also run at the preset's own step count. Every run of a
table is timed in the same process, one after another, so the ratios of wall time are what is meant to be
compared (this machine is noisy).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

from common import save_results
from naturalness import DEFAULT_DATA, class_spread, generate, image_figures, real_photos
from quality import evaluator_outputs, psnr_ssim

# name -> knobs; the first is the reference (the paper's plain fixed-size steps)
CANDIDATES = {
    "paper (constant)": {},
    "cosine": {"schedule": "cosine"},
    "momentum 0.5": {"momentum": 0.5},
    "coarse 0.5": {"coarse": 0.5},
    "cosine + coarse 0.5": {"schedule": "cosine", "coarse": 0.5},
    "cosine + momentum 0.5": {"schedule": "cosine", "momentum": 0.5},
}


def cost_in_full_steps(knobs: dict, total: int) -> float:
    """The run's model work in full-size steps (a coarse step sees a quarter of the pixels): a figure that does not
    depend on how busy the machine was, beside the measured seconds."""
    from robustpaint.core.pgd import PGDConfig
    coarse = PGDConfig(steps=total, coarse=knobs.get("coarse", 0.0)).coarse_steps
    return total - 0.75 * coarse


def naturalness_vs_photos(images: torch.Tensor, photos_ref: dict) -> dict:
    """Blockiness and saturation as ratios to real test photos' (naturalness.py's figures)."""
    figures = image_figures(images)
    return {f"{key}_vs_photos": round(figures[key] / photos_ref[key], 3) for key in ("blockiness", "saturation")}


def preset_of(task: str, side: int, model_side: int, **kwargs) -> tuple[float, float, int]:
    from robustpaint.core.tasks import preset_values
    return preset_values(task, side, side, model_side=model_side, **kwargs)


def generation_rows(bundle, evaluator, args, totals, photos_ref, classes, candidates) -> dict:
    side = bundle.model.input_size
    eps, step, steps = preset_of("generate", side, side)
    targets = [c for c in classes for _ in range(args.per_class)]
    labels = torch.tensor(targets)
    rows = {}
    for name, knobs in candidates.items():
        for total in totals:
            variant = {**knobs, "steps": total, "step_size": step * steps / total, "eps": eps}
            started = time.perf_counter()
            images, recipe = generate(bundle, args.model, targets, args.seed, variant)
            seconds = time.perf_counter() - started
            images = images.float().clamp(0, 1)
            probs, _ = evaluator_outputs(evaluator, images)
            row = {"knobs": knobs, "steps": total, "seconds": round(seconds, 2),
                   "cost_in_full_steps": cost_in_full_steps(knobs, total),
                   "evaluator_recognition": round(float((probs.argmax(1) == labels).float().mean()), 4),
                   **naturalness_vs_photos(images, photos_ref),
                   "spread_vs_photos": round(class_spread(evaluator, images, labels, classes)
                                             / photos_ref["spread"], 3)}
            rows[f"{name} @ {total}"] = row
            print(f"generate  {name:24s} {total:4d} steps ({row['cost_in_full_steps']:5.1f} full) {seconds:6.1f} s  "
                  f"recognised "
                  f"{row['evaluator_recognition']:.2f}  blockiness {row['blockiness_vs_photos']:.2f}  saturation "
                  f"{row['saturation_vs_photos']:.2f}  spread {row['spread_vs_photos']:.2f}", flush=True)
    return rows


def held_out_photos(args, side: int, offset: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """Held-out test photos (quality.py's held_out_setup: images 1000 on of its shuffle) and their labels."""
    from robustpaint.core.train.data import load_split, resize_images
    test = load_split(args.data, "test")
    pick = torch.randperm(len(test.labels), generator=torch.Generator().manual_seed(0))[offset:offset + args.n]
    return resize_images(test.images[pick], side).float() / 255, test.labels[pick].long()


def square_holes(n: int, side: int, hole: int, seed: int = 1) -> torch.Tensor:
    """One random square hole per photo (N x 1 x H x W), as quality.py's inpainting places them."""
    g = torch.Generator().manual_seed(seed)
    masks = torch.zeros(n, 1, side, side)
    for i in range(n):
        y, x = torch.randint(0, side - hole + 1, (2,), generator=g).tolist()
        masks[i, :, y:y + hole, x:x + hole] = 1
    return masks


def flat_drawings(photos: torch.Tensor, shapes: int = 24) -> torch.Tensor:
    """Each photo as a rough drawing: SLIC superpixels (about `shapes` of them) filled with their mean colour."""
    from skimage.color import label2rgb
    from skimage.segmentation import slic
    out = []
    for photo in photos.permute(0, 2, 3, 1).numpy():
        segments = slic(photo, n_segments=shapes, compactness=20, start_label=1)
        out.append(torch.from_numpy(label2rgb(segments, photo, kind="avg", bg_label=0)).permute(2, 0, 1))
    return torch.stack(out).float().clamp(0, 1)


def run_batch(bundle, request, side: int) -> torch.Tensor:
    """A batch of photos through the engine (a recipe holds one image): the task's finalise and build, then PGD."""
    from robustpaint.core.tasks import build_task, get_task
    optimizer = build_task(bundle.model, get_task(request.task).finalise(request, side)).optimizer(bundle.model)
    for _ in optimizer.run():
        pass
    return optimizer.x.detach().float().clamp(0, 1)


def photo_task_rows(task: str, bundle, evaluator, args, totals, candidates, photos_ref=None) -> dict:
    """Sketch to image (flattened held-out photos to their own class; recognition, naturalness against
    `photos_ref`, SSIM to the drawing), translation (to the next class, keep the photo; target rate and SSIM to the
    source) or inpainting (a square hole a quarter of the side; the evaluator's accuracy on the true class and
    PSNR/SSIM in the hole) of held-out photos, at each step count and at the preset's own (the reference), every
    rule travelling the same distance."""
    from robustpaint.core.tasks import TaskRequest
    side = bundle.model.input_size
    photos, labels = held_out_photos(args, side)
    if task == "sketch":
        eps, step, steps = preset_of("sketch", side, side)
        photos, targets = flat_drawings(photos), labels  # the drawings are the sources; the drawn class the target
    elif task == "translate":
        eps, step, steps = preset_of("translate", side, side, keep_photo=True)
        targets = (labels + 1) % len(bundle.model.classes)
    else:
        eps, step, steps = preset_of("inpaint", side, side)
        masks = square_holes(len(photos), side, side // 4)
        targets = labels  # inpainting aims at the model's own guess; the evaluator is asked for the true class
    rows = {}
    if task == "sketch":  # what the drawings read as before any step: the floor the runs start from
        probs, _ = evaluator_outputs(evaluator, photos)
        alone = round(float((probs.argmax(1) == targets).float().mean()), 4)
        rows["the drawings alone @ 0"] = {
            "knobs": None, "steps": 0, "seconds": 0.0, "preset_steps": steps, "cost_in_full_steps": 0.0,
            "evaluator_target_rate": alone, "ssim_to_source": 1.0, **naturalness_vs_photos(photos, photos_ref)}
        print(f"sketch    the drawings alone: target rate {alone:.2f}")
    for name, knobs in candidates.items():
        for total in (sorted(set(totals) | {steps}) if not knobs else totals):  # the reference also at the preset's
            started = time.perf_counter()
            common = dict(eps=eps, step_size=step * steps / total, steps=total, bf16=False)
            if task in ("sketch", "translate"):
                outs = photos.clone()
                for t in targets.unique().tolist():  # a request has one target class
                    which = (targets == t).nonzero().flatten()
                    extra = {"keep_photo": True} if task == "translate" else {}
                    outs[which] = run_batch(bundle, TaskRequest(
                        task, image=photos[which], targets=(int(t),), candidates=len(which),
                        **extra, **common).with_knobs(**knobs), side)
            else:
                outs = run_batch(bundle, TaskRequest("inpaint", image=photos, mask=masks, candidates=len(photos),
                                                     **common).with_knobs(**knobs), side)
            seconds = time.perf_counter() - started
            probs, _ = evaluator_outputs(evaluator, outs)
            row = {"knobs": knobs, "steps": total, "seconds": round(seconds, 2), "preset_steps": steps,
                   "cost_in_full_steps": cost_in_full_steps(knobs, total),
                   "evaluator_target_rate": round(float((probs.argmax(1) == targets).float().mean()), 4)}
            if task in ("sketch", "translate"):
                row["ssim_to_source"] = round(psnr_ssim(outs, photos)[1], 4)
                quality = f"SSIM {row['ssim_to_source']:.3f}"
            if task == "sketch":
                row.update(naturalness_vs_photos(outs, photos_ref))
                quality += (f"  blockiness {row['blockiness_vs_photos']:.2f}  saturation "
                            f"{row['saturation_vs_photos']:.2f}")
            elif task == "inpaint":
                psnr, ssim = psnr_ssim(outs, photos, masks[:, 0])
                row["psnr_hole"], row["ssim_hole"] = round(psnr, 2), round(ssim, 4)
                quality = f"PSNR in the hole {psnr:.2f} dB  SSIM {ssim:.3f}"
            rows[f"{name} @ {total}"] = row
            print(f"{task:9s} {name:24s} {total:4d} steps ({row['cost_in_full_steps']:5.1f} full) {seconds:6.1f} s  "
                  f"target rate {row['evaluator_target_rate']:.2f}  {quality}", flush=True)
    return rows


def plot(results: dict, path: Path) -> None:
    """Quality against wall time, a line per candidate, a row of panels per task (one per figure); a row of no steps
    (the sketches' drawings alone) is in the tables, not on the time axis."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    keys_of = {"generate": ("evaluator_recognition", "blockiness_vs_photos"),
               "sketch": ("evaluator_target_rate", "ssim_to_source"),
               "translate": ("evaluator_target_rate", "ssim_to_source"),
               "inpaint": ("evaluator_target_rate", "psnr_hole")}
    tasks = [task for task in keys_of if task in results]
    fig, axes = plt.subplots(len(tasks), 2, figsize=(9, 3.2 * len(tasks)), squeeze=False)
    for row, task in zip(axes, tasks):
        for ax, key in zip(row, keys_of[task]):
            for name in dict.fromkeys(label.rsplit(" @ ", 1)[0] for label, r in results[task].items() if r["steps"]):
                points = sorted((r["seconds"], r[key]) for label, r in results[task].items()
                                if label.rsplit(" @ ", 1)[0] == name and r["steps"])  # not the drawings alone
                ax.plot(*zip(*points), marker="o", label=name)
            ax.set_title(f"{task}: {key.replace('_', ' ')}", fontsize=9)
            ax.set_xlabel("wall time (s)")
            ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=DEFAULT_DATA, help="image folder or .tar.gz with a test/ split")
    parser.add_argument("--model", default="imagenette_resnet18")
    parser.add_argument("--evaluator", default="imagenette-evaluator")
    parser.add_argument("--per-class", type=int, default=2, help="generated pictures per class")
    parser.add_argument("--classes", type=int, help="the model's first N classes only (default: all)")
    parser.add_argument("--n", type=int, default=16, help="held-out photos to sketch from, translate and inpaint")
    parser.add_argument("--totals", default="10,20,30,60", help="step counts to run each candidate at")
    parser.add_argument("--tasks", default="generate,sketch,translate,inpaint")
    parser.add_argument("--candidates", help="comma-separated names of CANDIDATES to run (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", type=Path, help="a PNG of quality against wall time")
    parser.add_argument("--quick", action="store_true", help="smoke run: 3 classes, 2 per class, 4 photos, 2 totals")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    from robustpaint.core.models.bundle import load_model_bundle
    if args.quick:
        args.per_class, args.classes, args.n, args.totals = 2, 3, 4, "5,10"
    totals = [int(t) for t in args.totals.split(",")]
    args.json = args.json or Path(f"benchmarks/results/steps_to_quality{'_quick' if args.quick else ''}.json")
    # One thread count for every run (the thread tuner's probe steps would time differently from run to run).
    os.environ.setdefault("ROBUSTPAINT_THREADS", str(torch.get_num_threads()))
    bundle, ev_bundle = load_model_bundle(args.model, "cpu"), load_model_bundle(args.evaluator, "cpu")
    if ev_bundle.card.get("role") != "evaluator":
        sys.exit(f"{args.evaluator} is not marked as an evaluator in its card")
    evaluator = ev_bundle.model.eval()
    classes = list(range(min(args.classes or len(bundle.model.classes), len(bundle.model.classes))))
    started = time.perf_counter()
    results = {}
    tasks = args.tasks.split(",")
    unknown = set(tasks) - {"generate", "sketch", "translate", "inpaint"}
    names = args.candidates.split(",") if args.candidates else list(CANDIDATES)
    if unknown or set(names) - set(CANDIDATES):
        sys.exit(f"unknown tasks or candidates: {sorted(unknown | (set(names) - set(CANDIDATES)))}; "
                 f"candidates are {list(CANDIDATES)}")
    candidates = {name: CANDIDATES[name] for name in names}
    def save() -> None:  # after each task, so that a failure in the next keeps what was measured
        save_results(args.json, {"model": args.model, "model_sha256": bundle.sha256, "evaluator": args.evaluator,
                                 "settings": {"per_class": args.per_class, "classes": classes, "n": args.n,
                                              "totals": totals, "seed": args.seed, "quick": args.quick,
                                              "threads": torch.get_num_threads(), "precision": "fp32"},
                                 "candidates": candidates, **results,
                                 "seconds": round(time.perf_counter() - started, 1)})

    ref = None
    if {"generate", "sketch"} & set(tasks):  # real photos' naturalness, the ratios' denominators
        side = bundle.model.input_size
        photos, photo_labels, spread_photos, spread_labels = real_photos(args.data, side, classes, 60, args.per_class)
        ref = image_figures(photos)
        ref["spread"] = class_spread(evaluator, spread_photos, spread_labels, classes)
    if "generate" in tasks:
        results["generate"] = generation_rows(bundle, evaluator, args, totals, ref, classes, candidates)
        save()
    for task in ("sketch", "translate", "inpaint"):
        if task in tasks:
            results[task] = photo_task_rows(task, bundle, evaluator, args, totals, candidates, ref)
            save()
    if args.plot:
        plot(results, args.plot)
    save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
