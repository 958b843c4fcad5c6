"""Quality against wall time and steps: how few steps each step rule needs for a finished picture (#34).

    python benchmarks/steps_to_quality.py [--data ../shared/data/imagenette-224.tar.gz] [--model imagenette_resnet18]
        [--per-class 2] [--totals 10,20,30,60] [--tasks generate,translate] [--n 16] [--plot docs/steps-to-quality.png]
        [--quick]

Each candidate step rule (a set of recipe knobs: schedule, momentum, coarse, settle) runs at several step counts
on the same seeds and held-out photos (generation through `run_recipe`, the CLI's and the app's path; translation
through `build_task` on batches of photos, which a recipe cannot hold), and is scored as
naturalness.py and quality.py score: for generation the evaluator's recognition of the target class and the
blockiness and saturation as ratios to real test photos; for translation the evaluator's target rate and the SSIM
to the source photo. Fewer steps keep the distance a run travels: the step size is the preset's times (preset
steps / steps), as PGD's usual rule of step = travel / steps. The reference row is the paper's fixed schedule at the
preset's step count. Every run of a table is timed in the same process, one after another, so the ratios of wall
time are what is meant to be compared (this machine is noisy).
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


def preset_of(task: str, side: int, model_side: int, **kwargs) -> tuple[float, float, int]:
    from robustpaint.core.tasks import preset_values
    return preset_values(task, side, side, model_side=model_side, **kwargs)


def generation_rows(bundle, evaluator, args, totals, photos_ref, classes) -> dict:
    side = bundle.model.input_size
    eps, step, steps = preset_of("generate", side, side)
    targets = [c for c in classes for _ in range(args.per_class)]
    labels = torch.tensor(targets)
    rows = {}
    for name, knobs in CANDIDATES.items():
        for total in totals:
            variant = {**knobs, "steps": total, "step_size": step * steps / total, "eps": eps}
            started = time.perf_counter()
            images, recipe = generate(bundle, args.model, targets, args.seed, variant)
            seconds = time.perf_counter() - started
            images = images.float().clamp(0, 1)
            figures = image_figures(images)
            probs, _ = evaluator_outputs(evaluator, images)
            row = {"knobs": knobs, "steps": total, "seconds": round(seconds, 2),
                   "cost_in_full_steps": cost_in_full_steps(knobs, total),
                   "evaluator_recognition": round(float((probs.argmax(1) == labels).float().mean()), 4),
                   "blockiness_vs_photos": round(figures["blockiness"] / photos_ref["blockiness"], 3),
                   "saturation_vs_photos": round(figures["saturation"] / photos_ref["saturation"], 3),
                   "spread_vs_photos": round(class_spread(evaluator, images, labels, classes)
                                             / photos_ref["spread"], 3)}
            rows[f"{name} @ {total}"] = row
            print(f"generate  {name:24s} {total:4d} steps ({row['cost_in_full_steps']:5.1f} full) {seconds:6.1f} s  "
                  f"recognised "
                  f"{row['evaluator_recognition']:.2f}  blockiness {row['blockiness_vs_photos']:.2f}  saturation "
                  f"{row['saturation_vs_photos']:.2f}  spread {row['spread_vs_photos']:.2f}", flush=True)
    return rows


def translation_rows(bundle, evaluator, args, totals) -> dict:
    """Held-out test photos (quality.py's held_out_setup: images 1000 on of its shuffle) to the next class."""
    from robustpaint.core.tasks import TaskRequest, build_task, get_task
    from robustpaint.core.train.data import load_split, resize_images
    side = bundle.model.input_size
    test = load_split(args.data, "test")
    pick = torch.randperm(len(test.labels), generator=torch.Generator().manual_seed(0))[1000:1000 + args.n]
    photos = resize_images(test.images[pick], side).float() / 255
    labels = test.labels[pick].long()
    targets = (labels + 1) % len(bundle.model.classes)
    eps, step, steps = preset_of("translate", side, side, keep_photo=True)
    spec = get_task("translate")
    rows = {}
    for name, knobs in CANDIDATES.items():
        for total in totals:
            started = time.perf_counter()
            outs = photos.clone()
            for t in targets.unique().tolist():  # a request has one target class
                which = (targets == t).nonzero().flatten()
                request = TaskRequest("translate", image=photos[which], targets=(int(t),), candidates=len(which),
                                      keep_photo=True, eps=eps, step_size=step * steps / total, steps=total,
                                      bf16=False).with_knobs(**knobs)
                # A batch of photos (a recipe holds one image): the engine's path without the recipe round trip.
                optimizer = build_task(bundle.model, spec.finalise(request, side)).optimizer(bundle.model)
                for _ in optimizer.run():
                    pass
                outs[which] = optimizer.x.detach().float().clamp(0, 1)
            seconds = time.perf_counter() - started
            probs, _ = evaluator_outputs(evaluator, outs)
            row = {"knobs": knobs, "steps": total, "seconds": round(seconds, 2),
                   "cost_in_full_steps": cost_in_full_steps(knobs, total),
                   "evaluator_target_rate": round(float((probs.argmax(1) == targets).float().mean()), 4),
                   "ssim_to_source": round(psnr_ssim(outs, photos)[1], 4)}
            rows[f"{name} @ {total}"] = row
            print(f"translate {name:24s} {total:4d} steps ({row['cost_in_full_steps']:5.1f} full) {seconds:6.1f} s  "
                  f"target rate "
                  f"{row['evaluator_target_rate']:.2f}  SSIM {row['ssim_to_source']:.3f}", flush=True)
    return rows


def plot(results: dict, path: Path) -> None:
    """Quality against wall time, a line per candidate, a panel per task and figure."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    panels = [(task, key) for task, keys in (("generate", ("evaluator_recognition", "blockiness_vs_photos")),
                                             ("translate", ("evaluator_target_rate", "ssim_to_source")))
              if task in results for key in keys]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False)
    for ax, (task, key) in zip(axes[0], panels):
        for name in CANDIDATES:
            points = sorted((row["seconds"], row[key]) for label, row in results[task].items()
                            if label.rsplit(" @ ", 1)[0] == name)
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
    parser.add_argument("--n", type=int, default=16, help="held-out photos to translate")
    parser.add_argument("--totals", default="10,20,30,60", help="step counts to run each candidate at")
    parser.add_argument("--tasks", default="generate,translate")
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
    def save() -> None:  # after each task, so that a failure in the next keeps what was measured
        save_results(args.json, {"model": args.model, "model_sha256": bundle.sha256, "evaluator": args.evaluator,
                                 "settings": {"per_class": args.per_class, "classes": classes, "n": args.n,
                                              "totals": totals, "seed": args.seed, "quick": args.quick,
                                              "threads": torch.get_num_threads(), "precision": "fp32"},
                                 "candidates": CANDIDATES, **results,
                                 "seconds": round(time.perf_counter() - started, 1)})

    if "generate" in tasks:
        side = bundle.model.input_size
        photos, photo_labels, spread_photos, spread_labels = real_photos(args.data, side, classes, 60, args.per_class)
        ref = image_figures(photos)
        ref["spread"] = class_spread(evaluator, spread_photos, spread_labels, classes)
        results["generate"] = generation_rows(bundle, evaluator, args, totals, ref, classes)
        save()
    if "translate" in tasks:
        results["translate"] = translation_rows(bundle, evaluator, args, totals)
    if args.json.is_file() and set(tasks) != {"generate", "translate"}:  # a rerun of one task keeps the other's rows
        import json
        earlier = json.loads(args.json.read_text())
        results = {**{t: earlier[t] for t in ("generate", "translate") if t in earlier and t not in results},
                   **results}
    if args.plot:
        plot(results, args.plot)
    save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
