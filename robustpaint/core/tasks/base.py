"""What every task shares: the request, the preset, the parameter table, the spec a task module declares, and the
one function that turns a request into a start image, an objective and a constraint.

Presets come in two tables per task: one for 32-pixel models (CIFAR-10), tuned on them, and one for models of
photos (input side `PHOTO_MODEL_SIDE` and up, e.g. Imagenette at 128 px), from the paper's 224-pixel settings. Each
preset states its values at a reference side; L2 radii and step sizes scale with the square root of the pixel
count, so a value is multiplied by sqrt(h*w) / side for a canvas of h x w (the paper's 224-pixel numbers are divided
by 7 at 32 px and by 1.75 at 128 px).
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from robustpaint.core import objectives as obj
from robustpaint.core.errors import RobustPaintError
from robustpaint.core.options import (add_input_arguments, class_index, default_output, non_negative,  # noqa: F401
                                      positive_int)
from robustpaint.core.pgd import PGDConfig, PGDOptimizer
from robustpaint.core.tasks.knobs import AT_MODEL_SCALE, CANVAS_MAX, CANVAS_MIN, EFFORT_STEPS, KNOBS, Knob, generic_knobs  # noqa: F401 - the knob table, re-exported
from robustpaint.core.seeds import ClassSeeds
from robustpaint.core.views import ModelScaleViews, RandomView, View, judged_whole

PHOTO_MODEL_SIDE = 64  # models trained at this side or more use the photo presets


@dataclass(frozen=True)
class Preset:
    eps: float
    step_size: float
    steps: int
    why: str
    norm: str = "l2"
    side: int = 32  # the canvas side the values are given for
    inside_mask_only: bool = False  # inpaint: only the hole may change (unless the request has a strength map)
    spread: float = 0.0  # generate: weight of pushing a class's candidates apart (objectives.within_class_spread)
    knobs: tuple[tuple[str, object], ...] = ()  # the preset's values of generic knobs (the table's default elsewhere)


@dataclass(frozen=True)
class TaskRequest:
    """Everything a task needs, as plain values: the CLI builds one from its options, the app from its canvas and
    panel, a replay from a recipe (see `recipes`); the worker receives it as it is."""

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
    lam: float | None = None  # weight of "stay close outside the mask" (default: the task's)
    activation_weight: float = 0.1  # paint
    factor: int = 4  # superres
    keep_photo: bool = False  # translate: the small-ball preset that keeps the source's layout
    temperature: float = 1.0  # generate, and a class map's seeded start
    spread: float | None = None  # generate: push a class's candidates apart (None: the preset's)
    mix: tuple[int, float] | None = None  # generate: (other class, weight)
    candidates: int = 1
    size: int | None = None  # generate / class map without an image: canvas side (default: the model's input size)
    width: int | None = None  # ... and its width, where it differs from `size` (a non-square canvas of the app)
    seed: int = 0
    bf16: bool = False
    track_best: bool = False
    fill: str = "smooth"  # inpaint: start from a smooth fill of the hole ("smooth") or the paper's channel mean
    consistent: bool = True  # superres: keep the output's block means equal to the input
    consistency_sweeps: int = 10  # superres: smooth back-projection rounds before the exact projection
    change_mask: torch.Tensor | None = None  # strength map: how much each pixel may change (0..1)
    anchor: torch.Tensor | None = None  # sketch/translate/paint/classmap: keep the ball around this image, not the start
    knobs: tuple[tuple[str, object], ...] = ()  # the generic knobs' values (knobs.py), by name

    def replace(self, **changes) -> "TaskRequest":
        return dataclasses.replace(self, **changes)

    def knob(self, name: str):
        """A generic knob's value: the request's, or the table's default."""
        return dict(self.knobs).get(name, KNOBS[name].default)

    def with_knobs(self, **values) -> "TaskRequest":
        """The request with these generic knobs set (each checked against the table)."""
        merged = dict(self.knobs)
        for name, value in values.items():
            merged[name] = KNOBS[name].check(value, "the request")
        return self.replace(knobs=tuple(sorted(merged.items())))


@dataclass
class TaskSetup:
    start: torch.Tensor
    anchor: torch.Tensor
    objective: obj.Objective
    config: PGDConfig
    change_mask: torch.Tensor | None = None
    notes: dict = field(default_factory=dict)
    constraint: Callable[[torch.Tensor], torch.Tensor] | None = None
    view: Callable[[torch.Tensor], list[View]] | None = None

    def optimizer(self, model) -> PGDOptimizer:
        return PGDOptimizer(model, self.objective, self.start, self.config, self.anchor, self.change_mask,
                            self.constraint, self.view)


@dataclass
class Built:
    """What a task's `build` returns: the start images, the centre of the ball, the objective, and optionally a
    strength map and a projection applied after every step."""

    start: torch.Tensor
    objective: obj.Objective
    anchor: torch.Tensor | None = None  # default: the start
    change_mask: torch.Tensor | None = None
    constraint: Callable[[torch.Tensor], torch.Tensor] | None = None


@dataclass
class CliJob:
    """What a task's command line gives the CLI: the request, one output path per image to write, and the files
    that must not be overwritten."""

    request: TaskRequest
    outputs: list[Path]
    inputs: tuple = ()
    into_folder: bool = False  # the outputs are new files in a folder (made if needed), not one named file
    grid: Path | None = None  # also all images as one PNG
    grid_columns: int = 1


class Context:
    """What `build` may use besides the request: the model, the seeds, the device, the seeded generator, and the
    notes that go back to the user (and into the recipe)."""

    def __init__(self, model, request: TaskRequest, seeds: ClassSeeds | None):
        self.model, self.request, self.seeds = model, request, seeds
        self.device = next(model.parameters()).device
        self.generator = torch.Generator().manual_seed(request.seed)
        self.n = request.candidates
        self.notes: dict = {}

    def image(self) -> torch.Tensor:
        """The request's image as a batch of `candidates`."""
        if self.request.image is None:
            raise RobustPaintError(f"{self.request.task} needs an input image")
        return batch_of(self.request.image.float(), self.n)

    def mask(self, image: torch.Tensor) -> torch.Tensor:
        mask = self.request.mask
        if mask is None:
            raise RobustPaintError(f"{self.request.task} needs a mask")
        if tuple(mask.shape[-2:]) != tuple(image.shape[-2:]):
            raise RobustPaintError(f"mask is {tuple(mask.shape[-2:])}, image is {tuple(image.shape[-2:])}")
        if float(mask.sum()) == 0:
            raise RobustPaintError("the mask is empty: brush the region first")
        return mask.float()

    def targets(self, n: int | None = None, default: torch.Tensor | None = None) -> torch.Tensor:
        """The requested classes repeated to `n` images, or `default` when none was given."""
        n = self.n if n is None else n
        num = len(self.model.classes)
        if self.request.targets:
            bad = [t for t in self.request.targets if not 0 <= t < num]
            if bad:
                raise RobustPaintError(f"class index {bad[0]} out of range (model has {num} classes)")
            t = torch.tensor(self.request.targets, dtype=torch.long)
            return t.repeat((n + len(t) - 1) // len(t))[:n]
        if default is None:
            raise RobustPaintError(f"{self.request.task} needs a target class")
        return default

    def class_objective(self, targets: torch.Tensor) -> obj.Objective:
        """Towards `targets`, read from the whole picture, or from its strongest locations where the task has the
        `focus` knob and it is below 1 (objectives.focused_class_target)."""
        focus = self.request.knob("focus") if "focus" in get_task(self.request.task).parameters else 1.0
        targets = targets.to(self.device)
        return obj.class_target(targets) if focus >= 1 else obj.focused_class_target(self.model.head, targets, focus)

    def mix(self) -> tuple[int, float] | None:
        """The request's (other class, weight), its class checked like a target's (a recipe may say anything)."""
        mix = self.request.mix
        num = len(self.model.classes)
        if mix is not None and not 0 <= mix[0] < num:
            raise RobustPaintError(f"mix class index {mix[0]} out of range (model has {num} classes)")
        return mix

    def seeds_or_data_free(self):
        """The model's seeds, or (a model with none, for its data set either) smooth noise, noted for the user."""
        if self.seeds is not None:
            return self.seeds
        from robustpaint.core.seeds import DataFreeSeeds
        self.notes["start"] = "data-free"
        return DataFreeSeeds()

    @torch.no_grad()
    def reading(self, images: torch.Tensor) -> tuple[torch.Tensor, list[float]]:
        """The class the model reads each image as, and its probability (rounded, for the notes): read as the task's
        steps judge the canvas (at the model's scale where it is larger, `views` model or tiles), one reading for
        every task and the CLI's lines about it."""
        images = images.to(self.device)
        uses = get_task(self.request.task).parameters
        if "views" in uses and self.request.knob("views") in AT_MODEL_SCALE and (
                "reading" not in uses or self.request.knob("reading") == "model"):
            images = judged_whole(images, self.model.input_size)
        confidence, guess = self.model(images).float().softmax(1).max(1)
        return guess.cpu(), [round(float(p), 4) for p in confidence.cpu()]

    def targets_or_guess(self, start: torch.Tensor) -> torch.Tensor:
        """The requested class, or the model's guess for each start image (its probability noted, so the user
        learns what was chosen)."""
        if self.request.targets:
            targets = self.targets()
        else:
            targets, self.notes["guessed_probability"] = self.reading(start)
        self.notes["target"] = targets.tolist()
        return targets

    def anchor(self, image: torch.Tensor) -> torch.Tensor:
        """The centre of the ball: the start image, or the request's anchor (the app's "keep the original" mode)."""
        if self.request.anchor is None:
            return image
        if self.request.anchor.shape[-2:] != image.shape[-2:]:
            raise RobustPaintError("the anchor image and the canvas differ in size")
        return batch_of(self.request.anchor.float(), image.shape[0])

    def lam(self, spec: "TaskSpec") -> float:
        return float(spec.default("lam") if self.request.lam is None else self.request.lam)


class TaskSpec:
    """A task: its name and label, its presets, the parameters it uses, and how it builds a run.

    A task module subclasses this once and registers an instance (`register`); the app's panel, the CLI's
    sub-commands, the recipe reader and the tests all read the registry."""

    name: str = ""
    label: str = ""
    help: str = ""
    order: int = 100  # place in the app's task list and the CLI's help (the paper's tasks first)
    preset: Preset  # for 32-pixel models
    photo_preset: Preset  # for models of photos, stated at 224 px
    parameters: tuple[str, ...] = ("eps", "step", "steps")  # the knobs it reads (names in knobs.KNOBS)
    defaults: dict = {}  # its own defaults where they differ from the knob table's
    reads: frozenset = frozenset({"image"})  # canvas layers it reads: image, mask, regions (a stroke there restarts it)
    anchored: bool = False  # whether its ball may be centred on another image than the start (the request's anchor)
    out_help = "output PNG"

    def default(self, key: str):
        return self.defaults.get(key, KNOBS[key].default)

    def finalise(self, request: TaskRequest, model_side: int) -> TaskRequest:
        """The request with the defaults this task resolves itself filled in (the app and the CLI both call it
        before the recipe is made, so the recipe holds values, not "the preset"): here, the table's default of
        each generic knob the task reads and the request leaves unset."""
        preset = dict(self.preset_for(model_side, request.keep_photo).knobs)
        unset = {k.key: preset.get(k.key, self.default(k.name)) for k in generic_knobs(self.parameters)
                 if k.key not in dict(request.knobs)}
        unset = {key: value for key, value in unset.items() if value is not None}
        return request.with_knobs(**unset) if unset else request

    def preset_for(self, model_side: int = 32, keep_photo: bool = False) -> Preset:
        return self.photo_preset if model_side >= PHOTO_MODEL_SIDE else self.preset

    def radius_scale(self, factor: int) -> float:
        """A further scale of the preset radius and step (super-resolution: by its factor)."""
        return 1.0

    def canvas_input(self, canvas: np.ndarray, factor: int) -> np.ndarray:
        """The request's image from the app's canvas (H x W x 3): the canvas itself for most tasks."""
        return canvas

    def output_shape(self, request: TaskRequest, model_side: int) -> tuple[int, int]:
        """The (h, w) of the images a run makes."""
        if request.image is not None:
            return tuple(request.image.shape[-2:])
        return canvas_shape(request, model_side)

    def canvas_limits(self, model_side: int) -> tuple[int, int]:
        """The shortest and longest side a run's images may have: CANVAS_MIN to CANVAS_MAX (a model smaller than
        CANVAS_MIN runs at its own side too)."""
        return min(CANVAS_MIN, model_side), CANVAS_MAX

    def build(self, ctx: Context) -> Built:
        raise NotImplementedError

    # The command line: options of the sub-command and the request they make.
    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        add_input_arguments(parser)

    def request_from_args(self, args, model, seeds, note: Callable[[str | None], None]) -> CliJob:
        raise NotImplementedError


def canvas_shape(request: TaskRequest, model_side: int) -> tuple[int, int]:
    """The (h, w) of a canvas made without an input image: `size` x `width` (square by default), else the model's."""
    side = request.size or model_side
    return side, request.width or side


TASKS: dict[str, TaskSpec] = {}


def register(spec: TaskSpec) -> TaskSpec:
    """Adds a task to the registry (a task module calls this once; a test may add its own)."""
    if not spec.name or spec.name in TASKS and type(TASKS[spec.name]) is not type(spec):
        raise ValueError(f"task name {spec.name!r} is empty or taken")
    TASKS[spec.name] = spec
    ordered = sorted(TASKS.values(), key=lambda s: s.order)  # stable: equal orders keep their registration order
    TASKS.clear()
    TASKS.update((s.name, s) for s in ordered)
    return spec


def unregister(name: str) -> None:
    TASKS.pop(name, None)


def get_task(name: str) -> TaskSpec:
    if name not in TASKS:
        raise RobustPaintError(f"unknown task {name!r}; known: {', '.join(TASKS)}")
    return TASKS[name]


def preset_for(task: str, model_side: int = 32, keep_photo: bool = False) -> Preset:
    """The preset of a task for a model trained at `model_side` pixels (32: CIFAR table, >= 64: photo table)."""
    return get_task(task).preset_for(model_side, keep_photo)


def preset_values(task: str, height: int, width: int, norm: str = "l2", factor: int = 4, model_side: int = 32,
                  keep_photo: bool = False, freedom: float = 1.0, effort: str = "normal") -> tuple[float, float, int]:
    """The task's preset radius, step size and step count for an h x w canvas (and a super-resolution factor) and
    a model trained at `model_side`, scaled by the painter's `freedom` (radius and step) and `effort` (more, shorter
    steps over the same distance): the one place for this scaling, used by the engine (so by the CLI too) and by
    the app's panel."""
    spec = get_task(task)
    preset = spec.preset_for(model_side, keep_photo)
    scale = (height * width) ** 0.5 / preset.side if norm == "l2" else 1.0
    scale *= spec.radius_scale(factor) * freedom
    steps = max(1, round(preset.steps * EFFORT_STEPS[effort]))
    step_size = preset.step_size * scale * (preset.steps / steps if steps != preset.steps else 1)
    return preset.eps * scale, step_size, steps


def scaled_config(request: TaskRequest, height: int, width: int, model_side: int = 32) -> PGDConfig:
    """The request's values, or the task preset scaled to an h x w canvas."""
    eps, step_size, steps = preset_values(request.task, height, width, request.norm, request.factor, model_side,
                                          request.keep_photo, request.knob("freedom"), request.knob("effort"))
    return PGDConfig(
        norm=request.norm,
        eps=request.eps if request.eps is not None else eps,
        step_size=request.step_size if request.step_size is not None else step_size,
        steps=request.steps if request.steps is not None else steps,
        track_best=request.track_best,
        bf16=request.bf16,
    ).validate()


def batch_of(image: torch.Tensor, n: int) -> torch.Tensor:
    return image.expand(n, -1, -1, -1).clone() if image.shape[0] == 1 else image


STEP_RULE_KNOBS = ("schedule", "momentum", "coarse", "settle", "schedule_steps")  # PGDConfig fields of that name


def build_task(model, request: TaskRequest, seeds: ClassSeeds | None = None) -> TaskSetup:
    """Turns a request into a start image, an objective and a constraint (the task's spec says how)."""
    spec = get_task(request.task)
    if request.candidates < 1:
        raise RobustPaintError("the number of candidates must be at least 1")
    ctx = Context(model, request, seeds)
    built = spec.build(ctx)
    start = built.start
    anchor = start if built.anchor is None else built.anchor
    change = request.change_mask if built.change_mask is None else built.change_mask
    config = scaled_config(request, start.shape[-2], start.shape[-1], model.input_size)
    device = ctx.device
    objective = built.objective
    uses = set(spec.parameters)
    if "saturation" in uses and request.knob("saturation") > 0:
        objective = objective + obj.colour_prior(request.knob("saturation"))
    view = views_of(request, uses, tuple(start.shape[-2:]), model.input_size)
    if "fourier" in uses and request.knob("fourier") > 0:
        config = dataclasses.replace(config, precondition=request.knob("fourier"))
    steps_knobs = {name: request.knob(name) for name in STEP_RULE_KNOBS if name in uses}
    if steps_knobs:
        config = dataclasses.replace(config, **steps_knobs).validate()
    return TaskSetup(start.to(device), anchor.to(device), objective, config,
                     None if change is None else change.to(device), ctx.notes, built.constraint, view)


def views_of(request: TaskRequest, uses: set, canvas: tuple[int, int], model_side: int):
    """What the model sees at each step: the canvas itself (None), shifted at random (jitter), or, for a canvas
    larger than the model judged at the model's scale, the whole scaled down plus random crops (`views` model) or
    tiles at the canvas's own resolution (`views` tiles)."""
    jitter = request.knob("jitter") if "jitter" in uses else 0
    views = request.knob("views") if "views" in uses else "canvas"
    if views in AT_MODEL_SCALE and min(canvas) > model_side:
        return ModelScaleViews(model_side, request.knob("crops"), request.seed, jitter, native=views == "tiles")
    return RandomView(jitter, request.seed) if jitter > 0 else None


def add_photo_arguments(parser: argparse.ArgumentParser) -> None:
    """The input photo of a photo task: a canvas of its own size and shape, up to CANVAS_MAX (`--size`, `--fit`)."""
    add_input_arguments(parser, max_side=CANVAS_MAX)


def read_input(args, model, note, max_side: int | None = None, keep_size: bool = False):
    """The input photo as the canvas (8-bit quantised as read, so that the recipe replays it exactly); the line
    saying what happened goes to `note`. Returns (image, source size).

    A photo task (`--fit keep`, the default) keeps the photo's own shape: its size, or `--size` on its longer
    side, at most CANVAS_MAX, and raised to the model's input side when smaller (a larger canvas is judged at the
    model's scale, core.views). `--fit crop` takes the centre square (of `--size`, else its own side), `--fit scale`
    squeezes it to a square of `--size` (else the model's side). `keep_size` (super-resolution) keeps the photo up
    to `max_side`."""
    from robustpaint.core.imageio import load_photo
    side = getattr(args, "size", None)
    if keep_size:  # super-resolution's `--fit scale` is an older name of keep
        fit = "keep" if args.fit == "scale" else args.fit
        image, line, source_size = load_photo(args.input, None, fit, max_side)
    elif args.fit == "scale":
        image, line, source_size = load_photo(args.input, (side or model.input_size,) * 2, "scale")
    else:
        image, line, source_size = load_photo(args.input, None, args.fit, CANVAS_MAX, long_side=side,
                                              min_side=model.input_size)
    note(line)
    return image, source_size
