"""How real the pictures are (#45 item 1): the kernel distance (KID) between pictures and real test photos in the
features of the project's own evaluator, class by class, beside landmarks computed the same way.

    python benchmarks/realism.py [--data ../shared/data/imagenette-224.tar.gz] [--model imagenette_resnet18]
        [--evaluator imagenette-evaluator] [--per-class 12] [--tasks generate,sketch,inpaint,translate]
        [--sheet docs/realism.png] [--json PATH] [--quick] [--freedom 1.0] [--knob NAME=VALUE ...]
        [--second-judge imagenette_resnet50]

KID (Binkowski et al., 2018) is the unbiased squared MMD with the cubic polynomial kernel k(a, b) = (a.b / d + 1)^3
on the evaluator's pooled features (d of them). Recognition by a plain classifier is saturated here (97-100%) and
can be fooled by PGD's fine pixel pattern; a distance to the feature distribution of real photos of the class is
not, and it also reads blur, colour noise and repeated parts. Each figure is the mean over classes of the KID
between the pictures of a class and real test photos of that class (the reference half: the odd-numbered test
photos of each class, at most 100). Two landmarks, computed the same way against the same reference half:
  - "photos": the even-numbered test photos of the class (the floor: real against real, about 0 up to noise);
  - "photos, noise + blur": those photos blurred (Gaussian, sigma 1.5 px at 128 px) with colour noise (0.08): what
    "looks like a photo, but worse" measures.
Pictures:
  - generate: the app's preset from the class-conditional seeds (the CLI's recipe path), `--per-class` a class;
  - sketch: held-out test photos flattened into about 24 flat-colour shapes (scikit-image's SLIC at mean colour),
    each run to its own class with the preset; and the drawings alone;
  - inpaint: a square hole a quarter of the side in held-out photos; the figure is of the hole's neighbourhood (the
    hole with a margin of an eighth of the side, scaled to the evaluator's side) against the same crop of the
    untouched photos: does the fill read like the photo around it;
  - translate: held-out photos to the next class (keep-photo preset), against real photos of the target class, with
    the untouched source photos as the landmark, and the SSIM to the source (a translation that changes less sits
    nearer the sources: compare settings at a like SSIM).
Low-pass recognition (the evaluator reading a 32-px thumbnail scaled back up) is reported for sketch and
translation: a class read only from the fine pixel pattern does not survive it.
`--freedom F` sets the app's Freedom knob for every task (each preset's radius and step size times F, the same
steps): the presets were tuned on the shipped eps-1.0 model, and a model trained at a larger radius moves less along
the same travel, so a more robust model is judged at the presets and at a freedom scaled with its radius (#45 item 2).
`--knob NAME=VALUE` (repeatable) sets any other knob of the task table (jitter, saturation, ...) for every task that
has it, to judge a knob on a model as the app would run it.
`--second-judge MODEL` scores the same pictures in a second classifier's features too, with its own landmarks (a
plain evaluator's features can be moved by PGD's fine pattern; a robust judge's less): the pictures are made once.
Every figure is printed with its landmarks; the ratio to "photos, noise + blur" is the headline (below 1: closer to
real photos than a degraded photo is).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).parent))
from common import save_results  # noqa: E402
from naturalness import DEFAULT_DATA, generate  # noqa: E402
from quality import evaluator_outputs, psnr_ssim  # noqa: E402

REFERENCE_PER_CLASS = 100
BLUR_SIGMA, NOISE = 1.5, 0.08  # the degraded-photo landmark at 128 px


def kid(x: torch.Tensor, y: torch.Tensor) -> float:
    """Unbiased squared MMD between feature sets x (m x d) and y (n x d), cubic polynomial kernel."""
    x, y = x.double(), y.double()
    d = x.shape[1]
    kxx, kyy, kxy = ((a @ b.T / d + 1) ** 3 for a, b in ((x, x), (y, y), (x, y)))
    m, n = len(x), len(y)
    return float((kxx.sum() - kxx.diagonal().sum()) / (m * (m - 1))
                 + (kyy.sum() - kyy.diagonal().sum()) / (n * (n - 1)) - 2 * kxy.mean())


def class_kid(feats: torch.Tensor, labels: torch.Tensor, reference: dict) -> float:
    """Mean over the classes present of the KID between that class's pictures and its reference photos."""
    values = [kid(feats[labels == c], reference[c]) for c in labels.unique().tolist() if (labels == c).sum() > 1]
    return float(np.mean(values))


def degraded(photos: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Photos blurred and with colour noise: the "a photo, but worse" landmark."""
    sigma = BLUR_SIGMA * photos.shape[-1] / 128
    radius = max(1, int(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-t ** 2 / (2 * sigma ** 2))
    kernel = kernel / kernel.sum()
    c = photos.shape[1]
    blurred = F.conv2d(F.pad(photos, (radius, radius, 0, 0), mode="reflect"), kernel.view(1, 1, 1, -1).repeat(c, 1, 1, 1),
                       groups=c)
    blurred = F.conv2d(F.pad(blurred, (0, 0, radius, radius), mode="reflect"),
                       kernel.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)
    noise = torch.randn(photos.shape, generator=torch.Generator().manual_seed(seed)) * NOISE
    return (blurred + noise).clamp(0, 1)


def low_pass(images: torch.Tensor, side: int = 32) -> torch.Tensor:
    """A thumbnail of `side` px scaled back up: what survives without the fine pixel pattern."""
    small = F.interpolate(images, size=(side, side), mode="bilinear", antialias=True, align_corners=False)
    return F.interpolate(small, size=images.shape[-2:], mode="bilinear", align_corners=False).clamp(0, 1)


def test_split(data: str, side: int):
    from robustpaint.core.train.data import load_split, resize_images
    test = load_split(data, "test")
    return resize_images(test.images, side).float() / 255, test.labels.long()


def reference_sets(evaluator, photos, labels, classes) -> tuple[dict, dict, dict]:
    """Per class: the reference half's features, the other half's, and the other half degraded."""
    reference, other, worse = {}, {}, {}
    for c in classes:
        which = (labels == c).nonzero().flatten()[:2 * REFERENCE_PER_CLASS]
        reference[c] = evaluator_outputs(evaluator, photos[which[1::2]])[1]
        other[c] = evaluator_outputs(evaluator, photos[which[0::2]])[1]
        worse[c] = evaluator_outputs(evaluator, degraded(photos[which[0::2]], seed=c))[1]
    return reference, other, worse


def setup(model: str, evaluator: str, data: str):
    """The model's bundle, the evaluator, the test photos at the model's side with their labels, and the reference
    sets of every class (`reference_sets`)."""
    from robustpaint.core.models.bundle import load_model_bundle
    bundle = load_model_bundle(model)
    bundle.model.eval()
    judge = load_model_bundle(evaluator).model.eval()
    photos, labels = test_split(data, bundle.model.input_size)
    classes = list(range(len(bundle.model.classes)))
    return bundle, judge, photos, labels, reference_sets(judge, photos, labels, classes)


def landmark_kids(reference, other, worse) -> dict:
    classes = sorted(reference)
    return {"photos": float(np.mean([kid(other[c], reference[c]) for c in classes])),
            "photos, noise + blur": float(np.mean([kid(worse[c], reference[c]) for c in classes]))}


def held_out(photos, labels, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """quality.py's held-out photos: images 1000 onwards of its seed-0 shuffle (after the reference halves are
    drawn from the start of each class, these overlap them only by chance; the figures compare like with like)."""
    pick = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))[1000:1000 + n]
    return photos[pick], labels[pick]


def run_generation(bundle, model_name, classes, per_class, seed, freedom=1.0, knobs=None) -> tuple[torch.Tensor,
                                                                                                    torch.Tensor]:
    targets = [c for c in classes for _ in range(per_class)]
    variant = {**(knobs or {}), **({"freedom": freedom} if freedom != 1 else {})}
    images, _ = generate(bundle, model_name, targets, seed, uses_knobs("generate", variant))
    return images.float().clamp(0, 1), torch.tensor(targets)


def uses_knobs(task: str, knobs: dict) -> dict:
    """The knobs among `knobs` that `task` has (a knob another task lacks is left out there, not an error)."""
    from robustpaint.core.tasks import get_task
    return {name: value for name, value in knobs.items() if name in get_task(task).parameters}


def run_photos(bundle, task: str, sources, targets, masks=None, freedom=1.0, knobs=None) -> torch.Tensor:
    """Sketch or translation (a request per target class) or inpainting of a batch with the task's preset at the
    Freedom knob's `freedom`, with `knobs` set where the task has them."""
    from robustpaint.core.tasks import TaskRequest
    from steps_to_quality import preset_of, run_batch
    side = bundle.model.input_size
    kwargs = {"keep_photo": True} if task == "translate" else {}
    eps, step, steps = preset_of(task, side, side, freedom=freedom, **kwargs)
    common = dict(eps=eps, step_size=step, steps=steps, bf16=False)
    knobs = uses_knobs(task, knobs or {})
    if task == "inpaint":
        return run_batch(bundle, TaskRequest("inpaint", image=sources, mask=masks, candidates=len(sources),
                                             **common).with_knobs(**knobs), side)
    outs = sources.clone()
    for t in targets.unique().tolist():
        which = (targets == t).nonzero().flatten()
        outs[which] = run_batch(bundle, TaskRequest(task, image=sources[which], targets=(int(t),),
                                                    candidates=len(which), **kwargs, **common).with_knobs(**knobs),
                                side)
    return outs


def hole_crops(images: torch.Tensor, masks: torch.Tensor, side: int) -> torch.Tensor:
    """Each image's hole with a margin of side/8 around it, scaled to `side`."""
    crops = []
    margin = images.shape[-1] // 8
    for image, mask in zip(images, masks):
        ys, xs = mask[0].nonzero(as_tuple=True)
        y0, y1 = max(int(ys.min()) - margin, 0), min(int(ys.max()) + 1 + margin, image.shape[-2])
        x0, x1 = max(int(xs.min()) - margin, 0), min(int(xs.max()) + 1 + margin, image.shape[-1])
        crops.append(F.interpolate(image[None, :, y0:y1, x0:x1], size=(side, side), mode="bilinear",
                                   antialias=True, align_corners=False)[0])
    return torch.stack(crops)


def recognition(evaluator, images, targets) -> float:
    probs, _ = evaluator_outputs(evaluator, images)
    return round(float((probs.argmax(1) == targets).float().mean()), 4)


def parse_knobs(parser, items: list[str]) -> dict:
    """--knob NAME=VALUE items, each checked against the knob table (as the CLI checks them)."""
    from robustpaint.core.errors import RobustPaintError
    from robustpaint.core.tasks import KNOBS
    knobs, names = {}, [k.name for k in KNOBS.values() if k.generic and k.name != "freedom"]
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or name not in names:
            parser.error(f"--knob takes NAME=VALUE with NAME one of {', '.join(names)} (freedom has its own "
                         f"option), not {item!r}")
        try:
            knobs[name] = KNOBS[name].parse(text)
        except (argparse.ArgumentTypeError, RobustPaintError) as exc:
            parser.error(f"--knob {item}: {exc}")
    return knobs


@dataclass
class Pictures:
    """What one run made, task by task, for every judge to score: each tensor is in [0,1] at the model's side."""

    generated: tuple[torch.Tensor, torch.Tensor, float] | None = None  # images, classes, seconds
    sources: torch.Tensor | None = None  # held-out photos (sketch, inpaint, translate)
    source_labels: torch.Tensor | None = None
    drawings: torch.Tensor | None = None
    sketched: tuple[torch.Tensor, float] | None = None
    masks: torch.Tensor | None = None
    inpainted: tuple[torch.Tensor, float] | None = None
    translated: tuple[torch.Tensor, torch.Tensor, float] | None = None  # images, target classes, seconds

    def sheet_rows(self) -> list[torch.Tensor]:
        """The contact sheet's rows: generations (one a class), drawings, sketches, holes, inpainted, sources and
        translations."""
        rows = []
        if self.generated is not None:
            images, targets, _ = self.generated
            per_class = int((targets == targets[0]).sum())
            rows.append(images[::per_class])
        if self.sketched is not None:
            rows += [self.drawings, self.sketched[0]]
        if self.inpainted is not None:
            rows += [self.sources * (1 - self.masks), self.inpainted[0]]
        if self.translated is not None:
            rows += [self.sources, self.translated[0]]
        return rows


def timed(fn, *args, **kwargs):
    started = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, round(time.perf_counter() - started, 1)


def make_pictures(bundle, args, tasks, photos, labels, classes, knobs) -> Pictures:
    """Every task's pictures at the presets (with `args.freedom` and `knobs`), made once for all judges."""
    side = bundle.model.input_size
    pictures = Pictures()
    if "generate" in tasks:
        (images, targets), seconds = timed(run_generation, bundle, args.model, classes, args.per_class, args.seed,
                                           args.freedom, knobs)
        pictures.generated = (images, targets, seconds)
    pictures.sources, pictures.source_labels = held_out(photos, labels, args.n)
    if "sketch" in tasks:
        from steps_to_quality import flat_drawings
        pictures.drawings = flat_drawings(pictures.sources)
        pictures.sketched = timed(run_photos, bundle, "sketch", pictures.drawings, pictures.source_labels,
                                  freedom=args.freedom, knobs=knobs)
    if "inpaint" in tasks:
        from steps_to_quality import square_holes
        pictures.masks = square_holes(len(pictures.sources), side, side // 4)
        pictures.inpainted = timed(run_photos, bundle, "inpaint", pictures.sources, pictures.source_labels,
                                   pictures.masks, freedom=args.freedom, knobs=knobs)
    if "translate" in tasks:
        targets = (pictures.source_labels + 1) % len(classes)
        outs, seconds = timed(run_photos, bundle, "translate", pictures.sources, targets, freedom=args.freedom,
                              knobs=knobs)
        pictures.translated = (outs, targets, seconds)
    return pictures


def score(evaluator, references, pictures: Pictures, name: str) -> dict:
    """One judge's landmarks and rows for the pictures (`references`: its `reference_sets`), printed as they come."""
    reference, other, worse = references
    marks = landmark_kids(reference, other, worse)
    print(f"judged by {name}: landmarks photos {marks['photos']:.4f}, photos with noise and blur "
          f"{marks['photos, noise + blur']:.4f}")
    rows = {}

    def features(images):
        return evaluator_outputs(evaluator, images)[1]

    def row(row_name, value, **extra):
        rows[row_name] = {"kid": round(value, 5), "vs_noise_blur": round(value / marks["photos, noise + blur"], 3),
                          **extra}
        print(f"{row_name:34s} KID {value:.4f}  = {rows[row_name]['vs_noise_blur']:.2f} x noise+blur landmark  "
              + "  ".join(f"{k} {v}" for k, v in extra.items()), flush=True)

    def class_row(row_name, images, classes, seconds=None, rate="recognised"):
        extra = {rate: recognition(evaluator, images, classes),
                 f"low_pass_{rate}": recognition(evaluator, low_pass(images), classes)}
        row(row_name, class_kid(features(images), classes, reference),
            **extra, **({} if seconds is None else {"seconds": seconds}))

    sources, labels = pictures.sources, pictures.source_labels
    if pictures.generated is not None:
        images, targets, seconds = pictures.generated
        class_row("generate", images, targets, seconds)
    if pictures.sketched is not None:
        class_row("sketch: the drawings alone", pictures.drawings, labels)
        class_row("sketch to image", pictures.sketched[0], labels, pictures.sketched[1])
    if pictures.inpainted is not None:
        outs, seconds = pictures.inpainted
        masks = pictures.masks
        real = features(hole_crops(sources, masks, evaluator.input_size))
        # the crops of the untouched photos, split in two: the floor of this comparison
        half = len(real) // 2
        floor = kid(real[:half], real[half:])
        filled = features(hole_crops(outs, masks, evaluator.input_size))
        blurred = features(hole_crops(degraded(sources), masks, evaluator.input_size))
        value, worse_crop = kid(filled[:half], real[half:]), kid(blurred[:half], real[half:])
        rows["inpaint: the hole"] = {"kid": round(value, 5), "photos_crops": round(floor, 5),
                                     "noise_blur_crops": round(worse_crop, 5),
                                     "vs_noise_blur": round(value / worse_crop, 3), "seconds": seconds}
        print(f"{'inpaint: the hole':34s} KID {value:.4f}  = {value / worse_crop:.2f} x noise+blur crops "
              f"(photos' crops {floor:.4f}, noise+blur crops {worse_crop:.4f})", flush=True)
    if pictures.translated is not None:
        outs, targets, seconds = pictures.translated
        row("translate: untouched sources", class_kid(features(sources), targets, reference))
        class_row("translate", outs, targets, seconds, rate="target_rate")
        rows["translate"]["ssim"] = round(psnr_ssim(outs, sources)[1], 4)  # how much of the photo is kept
    return {"landmarks": {k: round(v, 5) for k, v in marks.items()}, "rows": rows}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--model", default="imagenette_resnet18")
    parser.add_argument("--evaluator", default="imagenette-evaluator")
    parser.add_argument("--per-class", type=int, default=12, help="generations a class")
    parser.add_argument("--n", type=int, default=60, help="held-out photos for sketch, inpaint and translate")
    parser.add_argument("--tasks", default="generate,sketch,inpaint,translate")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sheet", type=Path, help="a contact sheet of the pictures (PNG)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--quick", action="store_true",
                        help="4 a class, 20 photos: a first look, too few photos to compare by")
    parser.add_argument("--freedom", type=float, default=1.0,
                        help="the Freedom knob for every task: each preset's radius and step size times this "
                             "(0.1-10; default 1: the presets)")
    parser.add_argument("--knob", action="append", default=[], metavar="NAME=VALUE",
                        help="another knob for every task that has it (repeatable), e.g. jitter=4")
    parser.add_argument("--second-judge", metavar="MODEL",
                        help="score the same pictures in a second classifier's features too (e.g. the robust "
                             "imagenette_resnet50, which PGD's fine pattern moves less): the pictures are made once")
    args = parser.parse_args(argv)
    if not 0.1 <= args.freedom <= 10:
        parser.error(f"--freedom must lie in 0.1-10 (the knob's range), not {args.freedom}")
    knobs = parse_knobs(parser, args.knob)
    if args.quick:
        args.per_class, args.n = 4, 20
        print("--quick: 4 generations a class and 20 photos (2 a class): a first look only; the photo rows' KID over "
              "2 photos a class is noise (translation read 0.27-1.8 x the landmark across knobs of one model), "
              "compare models and knobs on the full run", flush=True)
    torch.manual_seed(args.seed)
    bundle, evaluator, photos, labels, references = setup(args.model, args.evaluator, args.data)
    classes = list(range(len(bundle.model.classes)))
    pictures = make_pictures(bundle, args, args.tasks.split(","), photos, labels, classes, knobs)
    result = {"benchmark": "realism", "model": args.model, "evaluator": args.evaluator,
              **score(evaluator, references, pictures, args.evaluator)}
    if args.second_judge:
        from robustpaint.core.models.bundle import load_model_bundle
        second = load_model_bundle(args.second_judge).model.eval()
        judged = score(second, reference_sets(second, photos, labels, classes), pictures, args.second_judge)
        result.update(second_judge=args.second_judge, second_judge_landmarks=judged["landmarks"],
                      second_judge_rows=judged["rows"])
    sheet = [images[:10] for images in pictures.sheet_rows() if len(images)]
    if args.sheet is not None and sheet:
        from torchvision.utils import save_image
        args.sheet.parent.mkdir(parents=True, exist_ok=True)
        save_image(torch.cat(sheet), args.sheet, nrow=10, padding=2)
        print(f"wrote {args.sheet}")
    save_results(args.json, {**result, "per_class": args.per_class, "n": args.n, "freedom": args.freedom,
                             "knobs": knobs})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
