"""The synthesis tasks, each a start image + an objective + a constraint, built from an immutable request.

Two preset tables: `PRESETS` for 32-pixel models (CIFAR-10), tuned on them, and `PHOTO_PRESETS` for models of
photos (input side 64 px and up, e.g. Imagenette at 128 px), the paper's 224-pixel settings. Each preset states its
values at a reference side; L2 radii and step sizes scale with the square root of the pixel count, so a value is
multiplied by sqrt(h*w) / side for a canvas of h x w (the paper's 224-pixel numbers are divided by 7 at 32 px and by
1.75 at 128 px).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch.nn import functional as F

from robustpaint.core import objectives as obj
from robustpaint.core.errors import RobustPaintError
from robustpaint.core.pgd import PGDConfig, PGDOptimizer
from robustpaint.core.seeds import ClassSeeds


@dataclass(frozen=True)
class Preset:
    eps: float
    step_size: float
    steps: int
    why: str
    norm: str = "l2"
    side: int = 32  # the canvas side the values are given for
    inside_mask_only: bool = False  # inpaint: only the hole may change (unless the request has a strength map)


# For 32x32 models (see the module docstring for the scaling).
PRESETS: dict[str, Preset] = {
    "generate": Preset(5.0, 0.25, 60, "paper's CIFAR setting is eps 30, step 0.5, 60 its; on the shipped ResNet-18 "
                                      "it pulls every sample of a class to one template, while eps 5, step 0.25 "
                                      "keeps the seeds' variety and still reads as the class (docs/generation.md)"),
    "sketch": Preset(5.7, 0.15, 60, "paper's RestrictedImageNet sketch setting (eps 40, step 1, 60 its) / 7"),
    "inpaint": Preset(0.5, 0.1, 100, "paper: eps 21.6 / 7 = 3.1 from a mean fill, for large holes; from our smooth "
                                     "fill, 60 held-out test images with 10x10 holes gave evaluator accuracy 88 / 83 / 80% "
                                     "at eps 0.5 / 1 / 2 (smooth fill alone 82%); raise eps for large holes"),
    "translate": Preset(11.4, 0.1, 200, "paper: eps 80 / 7 = 11.4, 200 its; step 0.5 / 7 raised to 0.1 to reach "
                                        "the target class at 32 px"),
    "superres": Preset(1.14, 0.14, 40, "paper's x8 setting: eps 8 / 7, step 1 / 7, 40 its; smaller factors lose "
                                       "less, so radius and step shrink by sqrt(log2(factor) / 3) (x2 0.66, x4 0.93): "
                                       "on 100 held-out test images (benchmarks/superres_eps.py), x2 at eps 1.14 is "
                                       "0.13 dB below bicubic, at 0.66 0.35 dB above it with the same evaluator "
                                       "accuracy (78%; bicubic 57%)"),
    "paint": Preset(10.0, 0.14, 140, "paper's feature painting: eps 70 / 7, step 1 / 7, 140 its; "
                                     "loss -0.1 * activation + 90 * mean squared change outside the mask"),
    "classmap": Preset(10.0, 0.14, 100, "like feature painting: a wide ball, the objective shapes each region"),
}
TASKS = tuple(PRESETS)

# For models of photos (input side >= PHOTO_MODEL_SIDE), stated at the paper's 224 px.
PHOTO_MODEL_SIDE = 64
PHOTO_PRESETS: dict[str, Preset] = {
    "generate": Preset(40.0, 1.0, 60, "paper's RestrictedImageNet / ImageNet generation setting: eps 40, step 1, "
                                      "60 its at 224 px", side=224),
    "sketch": Preset(40.0, 1.0, 60, "paper's RestrictedImageNet sketch-to-image setting: eps 40, step 1, 60 its",
                     side=224),
    "inpaint": Preset(3.5, 0.35, 100, "paper: eps 21.6 at 224 px from a mean fill; from our smooth fill, with only the "
                                      "hole changing (with the paper's penalty alone the change spreads over the "
                                      "photo), 30 held-out photos with 32-px holes at 128 px "
                                      "(benchmarks/inpaint_eps.py) gave PSNR in the hole 18.7 / 18.2 dB and evaluator "
                                      "accuracy 77 / 77% at eps 2 / 4 (Telea 18.2 dB, 67%): eps 2 at 128 px, 3.5 at "
                                      "224", side=224, inside_mask_only=True),
    "translate": Preset(80.0, 0.5, 200, "paper's translation setting: eps 80, step 0.5, 200 its: free to leave the "
                                        "photo behind; use 'keep the photo' to keep its layout", side=224),
    "superres": Preset(8.0, 1.0, 40, "paper's x8 setting (224 -> 28 -> 224): eps 8, step 1, 40 its; smaller factors "
                                     "lose less, so radius and step shrink by sqrt(log2(factor) / 3)", side=224),
    "paint": Preset(17.5, 0.44, 140, "paper's feature painting loss (-0.1 * activation + 90 * mean squared change "
                                     "outside the mask, 140 its) in a quarter of its ball: on the 128-px model eps 10 "
                                     "(17.5 here) blends the feature into the photo, while 20 and the paper's 40 "
                                     "(70 at 224) paint a saturated patch (two held-out photos, by eye)", side=224),
    "classmap": Preset(70.0, 1.0, 100, "like feature painting: a wide ball, the objective shapes each region",
                       side=224),
}
# Translation that keeps the source photo's layout: a ball small enough that the photo stays recognisable.
KEEP_PHOTO_TRANSLATE = Preset(45.5, 0.7, 100, "a ball of about half the paper's, reached in 100 steps: on 30 "
                                               "held-out photos pushed to the next class at 128 px "
                                               "(benchmarks/translate_eps.py), eps 12 / 18 / 26 gave evaluator "
                                               "target rates 60 / 83 / 93% with SSIM to the source 0.81 / 0.67 / "
                                               "0.54: eps 26 at 128 px (45.5 here) keeps the photo's layout and "
                                               "reads as the target", side=224)


def preset_for(task: str, model_side: int = 32, keep_photo: bool = False) -> Preset:
    """The preset of a task for a model trained at `model_side` pixels (32: CIFAR table, >= 64: photo table)."""
    if task == "translate" and keep_photo:
        return KEEP_PHOTO_TRANSLATE
    return (PHOTO_PRESETS if model_side >= PHOTO_MODEL_SIDE else PRESETS)[task]


@dataclass(frozen=True)
class TaskRequest:
    """Everything a task needs, as plain values: the GUI builds one per change and sends it to the worker."""

    task: str
    image: torch.Tensor | None = None  # 1 x 3 x H x W in [0,1] (not used by generate)
    mask: torch.Tensor | None = None  # 1 x 1 x H x W: hole (inpaint), brushed region (paint)
    targets: tuple[int, ...] = ()  # class per candidate (generate) or the target class (others)
    neurons: tuple[int, ...] = ()  # paint: representation units
    neuron_weights: tuple[float, ...] = ()  # paint: one per neuron (the feature sliders; negative suppresses)
    region_masks: torch.Tensor | None = None  # classmap: K x H x W
    eps: float | None = None
    step_size: float | None = None
    steps: int | None = None
    norm: str = "l2"
    lam: float | None = None  # weight of "stay close outside the mask" (inpaint 10, paint 90)
    activation_weight: float = 0.1  # paint
    factor: int = 4  # superres
    keep_photo: bool = False  # translate: the small-ball preset that keeps the source's layout
    temperature: float = 1.0  # generate
    mix: tuple[int, float] | None = None  # generate: (other class, weight)
    candidates: int = 1
    size: int | None = None  # generate: canvas side (default: the model's input size)
    seed: int = 0
    bf16: bool = False
    track_best: bool = False
    fill: str = "smooth"  # inpaint: start from a smooth fill of the hole ("smooth") or the paper's channel mean
    consistent: bool = True  # superres: keep the output's block means equal to the input
    change_mask: torch.Tensor | None = None  # strength map: how much each pixel may change (0..1)
    anchor: torch.Tensor | None = None  # sketch/translate/paint/classmap: keep the ball around this image, not the start

    def replace(self, **changes) -> "TaskRequest":
        return dataclasses.replace(self, **changes)


@dataclass
class TaskSetup:
    start: torch.Tensor
    anchor: torch.Tensor
    objective: obj.Objective
    config: PGDConfig
    change_mask: torch.Tensor | None = None
    notes: dict = field(default_factory=dict)
    constraint: Callable[[torch.Tensor], torch.Tensor] | None = None

    def optimizer(self, model) -> PGDOptimizer:
        return PGDOptimizer(model, self.objective, self.start, self.config, self.anchor, self.change_mask,
                            self.constraint)


def preset_values(task: str, height: int, width: int, norm: str = "l2", factor: int = 4, model_side: int = 32,
                  keep_photo: bool = False) -> tuple[float, float, int]:
    """The task's preset radius, step size and step count for an h x w canvas (and a super-resolution factor) and
    a model trained at `model_side`: the one place for this scaling, used by the engine (so by the CLI too) and by
    the app's sliders."""
    preset = preset_for(task, model_side, keep_photo)
    scale = (height * width) ** 0.5 / preset.side if norm == "l2" else 1.0
    if task == "superres":
        scale *= (math.log2(factor) / 3) ** 0.5  # 1 at the paper's x8
    return preset.eps * scale, preset.step_size * scale, preset.steps


def scaled_config(request: TaskRequest, height: int, width: int, model_side: int = 32) -> PGDConfig:
    """The request's values, or the task preset scaled to an h x w canvas."""
    eps, step_size, steps = preset_values(request.task, height, width, request.norm, request.factor, model_side,
                                          request.keep_photo)
    return PGDConfig(
        norm=request.norm,
        eps=request.eps if request.eps is not None else eps,
        step_size=request.step_size if request.step_size is not None else step_size,
        steps=request.steps if request.steps is not None else steps,
        track_best=request.track_best,
        bf16=request.bf16,
    ).validate()


def _need_image(request: TaskRequest) -> torch.Tensor:
    if request.image is None:
        raise RobustPaintError(f"{request.task} needs an input image")
    return request.image.float()


def _need_mask(request: TaskRequest, image: torch.Tensor) -> torch.Tensor:
    if request.mask is None:
        raise RobustPaintError(f"{request.task} needs a mask")
    if tuple(request.mask.shape[-2:]) != tuple(image.shape[-2:]):
        raise RobustPaintError(f"mask is {tuple(request.mask.shape[-2:])}, image is {tuple(image.shape[-2:])}")
    if float(request.mask.sum()) == 0:
        raise RobustPaintError("the mask is empty: brush the region first")
    return request.mask.float()


def _targets(request: TaskRequest, model, n: int, default: torch.Tensor | None = None) -> torch.Tensor:
    num = len(model.classes)
    if request.targets:
        bad = [t for t in request.targets if not 0 <= t < num]
        if bad:
            raise RobustPaintError(f"class index {bad[0]} out of range (model has {num} classes)")
        t = torch.tensor(request.targets, dtype=torch.long)
        return t.repeat((n + len(t) - 1) // len(t))[:n]
    if default is None:
        raise RobustPaintError(f"{request.task} needs a target class")
    return default


@torch.no_grad()
def predicted_classes(model, images: torch.Tensor) -> torch.Tensor:
    return model(images).argmax(1)


@torch.no_grad()
def _guessed_targets(model, images: torch.Tensor, notes: dict) -> torch.Tensor:
    """The model's guess for each start image, noting its probability so the user learns what was chosen."""
    probabilities = model(images).float().softmax(1)
    confidence, guess = probabilities.max(1)
    notes["guessed_probability"] = [round(float(p), 4) for p in confidence.cpu()]
    return guess.cpu()


def _anchor(request: TaskRequest, image: torch.Tensor) -> torch.Tensor:
    """The centre of the ball: the start image, or the request's anchor (the app's "keep the original" mode)."""
    if request.anchor is None:
        return image
    if request.anchor.shape[-2:] != image.shape[-2:]:
        raise RobustPaintError("the anchor image and the canvas differ in size")
    return _batch(request.anchor.float(), image.shape[0])


def agrees_with(low: torch.Tensor, factor: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """Projection onto the images whose factor x factor block means equal `low` (the super-resolution input).

    Averaging blocks is a linear map A with A A^T = I / factor^2, so the nearest consistent image is
    x - upsample_nearest(A x - low). Keeping every iterate consistent lets the classifier add only detail the input
    cannot see, and the result shrinks back to what the user gave. Clamping to [0,1] can break the agreement next
    to black or white, so the two projections alternate a few times (both sets are convex: this converges).
    """
    def project_consistent(x: torch.Tensor) -> torch.Tensor:
        for _ in range(4):
            error = F.avg_pool2d(x, factor) - low
            x = (x - F.interpolate(error, scale_factor=factor, mode="nearest")).clamp(0.0, 1.0)
        return x
    return project_consistent


def masked_channel_mean(image: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """Per-image, per-channel mean of the pixels where `keep` is 1 (N x C x 1 x 1)."""
    return (image * keep).sum((2, 3), keepdim=True) / keep.sum((2, 3), keepdim=True).clamp(min=1)


def smooth_fill(image: torch.Tensor, hole: torch.Tensor, sweeps: int = 20) -> torch.Tensor:
    """The hole filled by diffusion from its border (a harmonic fill, like OpenCV's inpainting but in torch).

    Coarse to fine: the fill of the half-size image is the start of a few averaging sweeps at this size, so a wide
    hole converges in O(log size) levels instead of O(size^2) sweeps. Pixels outside the hole are returned unchanged.
    """
    keep = 1 - hole
    h, w = image.shape[-2:]
    if min(h, w) >= 8 and bool((hole > 0).any()):
        weight = F.avg_pool2d(keep, 2, ceil_mode=True)
        small = F.avg_pool2d(image * keep, 2, ceil_mode=True) / weight.clamp(min=1e-6)
        coarse = smooth_fill(small, (weight == 0).float(), sweeps)
        guess = F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)
    else:
        guess = masked_channel_mean(image, keep).expand_as(image)
    x = image * keep + guess * hole
    for _ in range(sweeps):
        blurred = F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
        x = image * keep + blurred * hole
    return x


def _batch(image: torch.Tensor, n: int) -> torch.Tensor:
    return image.expand(n, -1, -1, -1).clone() if image.shape[0] == 1 else image


def build_task(model, request: TaskRequest, seeds: ClassSeeds | None = None) -> TaskSetup:
    """Turns a request into a start image, an objective and a constraint."""
    if request.task not in PRESETS:
        raise RobustPaintError(f"unknown task {request.task!r}; known: {', '.join(TASKS)}")
    if request.candidates < 1:
        raise RobustPaintError("the number of candidates must be at least 1")
    generator = torch.Generator().manual_seed(request.seed)
    n = request.candidates
    device = next(model.parameters()).device
    task = request.task
    notes: dict = {}
    constraint = None

    if task == "generate":
        if seeds is None:
            raise RobustPaintError("this model ships no generation seeds; fit them with 'robustpaint seeds fit'")
        targets = _targets(request, model, n, torch.arange(n) % len(model.classes))
        size = request.size or model.input_size
        start = seeds.sample(targets, size, request.temperature, generator, request.mix)
        objective = obj.class_target(targets.to(device))
        anchor, change = start, request.change_mask
    elif task in ("sketch", "translate"):
        image = _batch(_need_image(request), n)
        targets = _targets(request, model, n)
        start, anchor, change = image, _anchor(request, image), request.change_mask
        objective = obj.class_target(targets.to(device))
    elif task == "inpaint":
        image = _batch(_need_image(request), n)
        hole = _need_mask(request, image).to(image.device)
        keep = 1 - hole
        if request.fill == "mean":  # the paper's start: the hole filled with the per-channel mean
            start = image * keep + masked_channel_mean(image, keep) * hole
        elif request.fill == "smooth":
            start = smooth_fill(image, hole)
        else:
            raise RobustPaintError(f"the hole fill must be 'smooth' or 'mean', not {request.fill!r}")
        targets = (_targets(request, model, n) if request.targets
                   else _guessed_targets(model, start.to(device), notes))
        lam = 10.0 if request.lam is None else request.lam
        objective = obj.class_target(targets.to(device)) + lam * obj.stay_close(start.to(device), keep.to(device))
        anchor, change = start, request.change_mask
        if change is None and preset_for("inpaint", model.input_size).inside_mask_only:
            change = hole
        notes["target"] = targets.tolist()
    elif task == "superres":
        low = _need_image(request)
        if not 2 <= request.factor <= 8:
            raise RobustPaintError(f"the super-resolution factor must be 2 to 8, not {request.factor}")
        h, w = low.shape[-2] * request.factor, low.shape[-1] * request.factor
        bicubic = F.interpolate(low, size=(h, w), mode="bicubic", align_corners=False).clamp(0, 1)
        if request.consistent:
            constraint = agrees_with(low.to(device), request.factor)
            bicubic = constraint(bicubic.to(device)).cpu()
        start = _batch(bicubic, n)
        targets = (_targets(request, model, n) if request.targets
                   else _guessed_targets(model, start.to(device), notes))
        objective = obj.class_target(targets.to(device))
        anchor, change = start, request.change_mask
        notes["target"] = targets.tolist()
    elif task == "paint":
        image = _batch(_need_image(request), n)
        region = _need_mask(request, image)
        if not request.neurons:
            raise RobustPaintError("feature painting needs at least one neuron")
        size = model.representation_size
        bad = [i for i in request.neurons if not 0 <= i < size]
        if bad:
            raise RobustPaintError(f"neuron {bad[0]} out of range (the representation has {size} units, 0-{size - 1})")
        if request.neuron_weights and len(request.neuron_weights) != len(request.neurons):
            raise RobustPaintError(f"{len(request.neuron_weights)} feature strengths for {len(request.neurons)} neurons")
        lam = 90.0 if request.lam is None else request.lam
        weights = list(request.neuron_weights) if request.neuron_weights else None
        objective = (request.activation_weight * obj.neuron(list(request.neurons), weights=weights)
                     + lam * obj.stay_close(image.to(device), (1 - region).to(device)))
        start, anchor, change = image, _anchor(request, image), request.change_mask
    else:  # classmap
        image = _batch(_need_image(request), n)
        if request.region_masks is None or not request.targets:
            raise RobustPaintError("a class map needs regions and one class per region: paint regions with the "
                                   "class-regions brush (R) first")
        if request.region_masks.shape[0] != len(request.targets):
            raise RobustPaintError(f"{request.region_masks.shape[0]} regions but {len(request.targets)} classes")
        targets = _targets(request, model, len(request.targets))
        objective = obj.class_map(model.head, request.region_masks.to(device), targets.to(device))
        start, anchor, change = image, _anchor(request, image), request.change_mask

    config = scaled_config(request, start.shape[-2], start.shape[-1], model.input_size)
    return TaskSetup(start.to(device), anchor.to(device), objective, config,
                     None if change is None else change.to(device), notes, constraint)
