"""The knob table: every value a user sets for a run, declared once.

A knob's entry says its name, kind, valid range, default, label and tooltip, CLI flag and the request field it
fills. The app's panel builds its rows from it, the CLI its options, `recipes` its checks, `project` its checks of a
project's parameters, and a task names the knobs it reads (`TaskSpec.parameters`). The valid range is the one every
reader enforces; `panel_range` only narrows the app's slider where the valid range is too wide to drag.

Knobs marked `generic` have no field of their own in `TaskRequest`: they travel in `TaskRequest.knobs` and in the
recipe under their name, so a new knob is one entry here plus the code of the task that reads it
(`request.knob(name)`). `before` is the value a recipe written before the knob existed replays with.
No torch and no Qt here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from robustpaint.core.errors import RobustPaintError

SEED_LIMIT = 2**63 - 1  # torch's generators take 0 .. 2**63 - 1
PANEL_INT_LIMIT = 2**31 - 1  # Qt's sliders hold 32-bit numbers
REGION_SLOTS = 4  # classes a class map can hold in the app (the palette's first colours)
FEATURE_SLIDERS = 3  # neurons the app's feature painting mixes
MAX_UNIT = 4095  # the highest representation unit the app's feature sliders reach
from robustpaint.core.options import CANVAS_MAX, CANVAS_MIN, fit_canvas  # noqa: F401 (the panel's limits)


def _shown(limit: float) -> str:
    return "2**63 - 1" if limit == SEED_LIMIT else f"{limit:g}"


@dataclass(frozen=True)
class Knob:
    name: str  # the key tasks list in `parameters`, the panel's row
    label: str = ""  # the panel's row label ("" = no row of its own)
    kind: str = "float"  # float, int, bool, choice, or custom (a structured value with its own widget and checks)
    default: object = None  # None: the task's preset gives it (eps, step size, steps)
    low: float = 0.0
    high: float = 0.0
    help: str = ""
    field: str = ""  # the TaskRequest field and project key it fills (default: the name)
    flag: str | None = ""  # the CLI option ("" = --name; None = the task's own options handle it)
    choices: tuple = ()
    panel_range: tuple[float, float] | None = None  # the app's slider range where it is narrower than the valid one
    generic: bool = False  # no TaskRequest field: kept in `TaskRequest.knobs`
    plain: bool = False  # on the app's plain panel (a painter's decision); the others sit under Advanced
    before: object = None  # what a recipe from before this knob existed means

    @property
    def key(self) -> str:
        return self.field or self.name

    @property
    def option(self) -> str:
        return self.flag or "--" + self.key.replace("_", "-")

    def check(self, value, source: str = "the recipe"):
        """The value converted to the knob's kind, or a RobustPaintError that names `source`, the knob and its
        range: one rule for the CLI, recipes, projects and the panel."""
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise RobustPaintError(f"{source}'s {self.key} must be true or false, not {value!r}")
            return value
        if self.kind == "choice":
            if value not in self.choices:
                raise RobustPaintError(f"{source}'s {self.key} must be one of {', '.join(map(str, self.choices))}, "
                                       f"not {value!r}")
            return value
        whole = self.kind == "int"
        kinds = (int,) if whole else (int, float)
        if isinstance(value, bool) or not isinstance(value, kinds) or (isinstance(value, float)
                                                                      and not math.isfinite(value)):
            raise RobustPaintError(f"{source}'s {self.key} must be a {'whole ' if whole else ''}number, not {value!r}")
        if not self.low <= value <= self.high:
            raise RobustPaintError(f"{source}'s {self.key} must lie in {self.low:g}..{self.high:g}, not {value!r}")
        return int(value) if whole else float(value)

    def parse(self, text: str):
        """A command-line value (argparse `type=`): the same check, said as argparse says it."""
        import argparse
        try:
            value = {"int": int, "float": float}.get(self.kind, str)(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {'whole ' if self.kind == 'int' else ''}number") \
                from None
        if isinstance(value, float) and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
        try:
            return self.check(value, "the option")
        except RobustPaintError:
            raise argparse.ArgumentTypeError(f"must be between {_shown(self.low)} and {_shown(self.high)}, "
                                             f"not {text}") from None

    def slider_range(self) -> tuple[float, float]:
        low, high = self.panel_range or (self.low, self.high)
        return low, min(high, PANEL_INT_LIMIT) if self.kind == "int" else high


AT_MODEL_SCALE = ("model", "tiles")  # the `views` choices that judge a canvas larger than the model at its scale
EFFORT_STEPS = {"quick": 0.5, "normal": 1.0, "thorough": 2.0}  # the effort knob's share of the preset's steps

# Every knob any task uses. A task lists the ones it reads in `TaskSpec.parameters` and may override a default in
# `TaskSpec.defaults`.
KNOBS: dict[str, Knob] = {k.name: k for k in (
    Knob("class", "Becomes", "custom", help="the class the image should read as", field="targets", flag=None,
         plain=True),
    Knob("keep", "", "bool", True, help="a small ball: the result keeps the source photo and still reads as the "
                                        "target class (off: the paper's wide ball, free to leave the photo behind)",
         field="keep_photo", flag="--keep-photo", before=False, plain=True),
    Knob("neuron", "Features", "custom", help="representation units and their strengths (negative suppresses)",
         field="neurons", flag=None, plain=True),
    Knob("regions", "Region classes", "custom", help="the class of each region colour", field="region_masks",
         flag=None, plain=True),
    Knob("candidates", "Pictures to pick from", "int", 1, 1, 1024, "generate this many samples at once (batched) "
                                                                   "and pick one", flag=None, panel_range=(1, 16),
         plain=True),
    Knob("temperature", "Randomness", "float", 1.0, 0.0, 100.0,
         help="the seed's temperature: how far the start strays from the class's average picture; 0 = the class "
              "mean, 1 = as varied as the data", panel_range=(0.0, 2.0), plain=True),
    Knob("spread", "Variety", "float", 0.0, 0.0, 100.0, "spread: push the candidates of a class apart, so they differ "
                                                        "(beyond the paper): the weight of a penalty on their "
                                                        "likeness in the model's features; 0 = the paper's "
                                                        "independent samples",
         panel_range=(0.0, 1.0), before=0.0),
    Knob("mix", "Mix with", "custom", 0.5, 0.0, 1.0, "blend the seed with another class's (e.g. half cat, half dog)",
         flag=None),
    Knob("eps", "Change allowed", "float", None, 0.0, 1e4, "epsilon: how far the picture may move from where it "
                                                              "started (the L2 radius of the ball around the start "
                                                              "image); small keeps the picture, large lets it become "
                                                              "another",
         panel_range=(0.0, 120.0)),
    Knob("step", "Step size", "float", None, 0.0, 1e3, "how far each step moves the picture (the PGD step size)",
         field="step_size",
         panel_range=(0.01, 2.0)),
    Knob("steps", "Steps", "int", None, 1, 100_000, "how many steps a run takes (PGD iterations)",
         panel_range=(1, 1000)),
    Knob("lam", "Keep the rest", "float", 10.0, 0.0, 1e6, "lambda: how strongly the picture outside the mask is "
                                                          "kept as it was (the weight of its squared distance)",
         panel_range=(0.0, 200.0)),
    Knob("seed", "Variation", "int", 0, 0, SEED_LIMIT, "random seed of the start and of any noise: another number, "
                                                       "another picture", plain=True),
    # The painter's two decisions (#47): each scales the preset (core.tasks.base.preset_values), so the plain panel
    # and the CLI say "how far" and "how long" without naming a radius or a step size; recipes keep both.
    Knob("freedom", "Freedom", "float", 1.0, 0.1, 10.0, "how far the picture may move from where it starts, as a multiple "
                                                 "of the preset's radius (the step size follows): below 1 stays "
                                                 "closer to the drawing or photo, above 1 lets it change more",
         generic=True, before=1.0, panel_range=(0.25, 4.0), plain=True),
    Knob("effort", "Work", "choice", "normal", choices=tuple(EFFORT_STEPS),
         help="how long to work: quick takes half the preset's steps (each twice as long), thorough twice as many "
              "(each half as long): the same distance, walked more finely", generic=True, before="normal",
         plain=True),
    Knob("factor", "Factor", "int", 2, 2, 8, "upsampling factor: the run makes a canvas this many times larger (at most "
                                             "1024 px a side; a larger picture is scaled down first)",
         plain=True),
    # Values the CLI and recipes set that have no panel row.
    Knob("activation_weight", "", "float", 0.1, -1e6, 1e6, "weight of the neuron's activation (feature painting)"),
    Knob("consistency_sweeps", "", "int", 10, 0, 100, "smooth back-projection rounds before the exact projection",
         before=0),
    Knob("size", "", "int", None, CANVAS_MIN, CANVAS_MAX, "canvas side in pixels (default: the model's input size)",
         flag=None),
    Knob("width", "", "int", None, CANVAS_MIN, CANVAS_MAX, "canvas width in pixels where it differs from the side",
         flag=None),
    Knob("fill", "", "choice", "smooth", choices=("smooth", "mean"), help="how the hole starts: a smooth fill of "
                                                                          "its border, or the paper's channel mean",
         before="mean"),
    Knob("consistent", "", "bool", True, help="keep the output's block means equal to the input", before=False),
    Knob("norm", "", "choice", "l2", choices=("l2", "linf", "none"), help="the ball the image stays in"),
    # Image priors beyond the paper (#29): generic knobs, recipes from before them replay as the paper's method.
    Knob("upsample", "Seed upsampling", "choice", "bicubic", choices=("nearest", "bicubic"),
         help="how the block-pooled seeds reach the canvas: bicubic (smooth) or nearest (the paper's pixel "
              "repetition, whose block grid the steps do not wash out)", generic=True, before="nearest"),
    Knob("jitter", "Random shifts", "int", 0, 0, 64,
         help="jitter, transformation robustness (lucid's recipe): each step sees the image shifted by up to this "
              "many pixels and flipped at random, drawn from the run's seed; 0 = off", generic=True, before=0),
    Knob("saturation", "Natural colours", "float", 0.0, 0.0, 10.0, "colour prior: keeps colours as strong as a "
                                                                   "photo's, not gaudier (the weight of a penalty "
                                                                   "on chroma above its typical level); 0 = off",
         generic=True, before=0.0),
    Knob("fourier", "Smooth steps", "float", 0.0, 0.0, 2.0, "precondition each step as lucid's photo "
                                                              "parametrisation would (decorrelated colours, "
                                                              "frequencies weighted by 1/f^(2 x this)); 0 = off, "
                                                              "the paper's plain steps", generic=True, before=0.0),
    # A canvas larger than the model (#29): how a step judges it (core.views.ModelScaleViews).
    Knob("views", "Judged at", "choice", "model", choices=("model", "tiles", "canvas"),
         help="how the model sees a canvas larger than itself: at the model's scale (the whole canvas scaled down, "
              "plus random crops at the model's side), the same with the crops cut as tiles at the canvas's own "
              "resolution (beyond the paper; measured in docs/quality.md: finer texture, no detail a person sees), "
              "or at the canvas's own (the model run on all its pixels, which asks it for objects at its training "
              "scale: repeated small textures)", generic=True, before="canvas"),
    Knob("crops", "Crops", "int", 1, 0, 16, "random crops at the model's side each step judges beside the whole "
                                             "canvas scaled down (a canvas larger than the model; each costs one "
                                             "model-sized pass)", generic=True, before=0),
    # Super-resolution without a class given (#33 item 16): a guess this unsure does not steer the picture.
    Knob("min_confidence", "", "float", 0.5, 0.0, 1.0,
         help="the least probability the model's guess needs for super-resolution to push the picture towards it "
              "(no --class given); below it the output stays the consistent bicubic upsampling. 0.5 spares 90% of "
              "Imagenette test photos and stops 2 of 6 scikit-image photos of other things (benchmarks/"
              "guess_confidence.py)",
         generic=True,
         before=0.0),
    # One reading (#47): a task that guesses its class reads the canvas as its steps judge it; recipes from before
    # replay their guess as it was read then (the canvas's own pixels), so they make the same pixels.
    Knob("reading", "", "choice", "model", choices=("model", "canvas"),
         help="how a task that guesses its class reads the canvas: as the steps judge it (model: a canvas larger "
              "than the model at the model's scale) or on all its pixels", generic=True, before="canvas", flag=None),
    # Fewer, better steps (#34, beyond the paper): recipes from before them replay the paper's fixed schedule.
    Knob("schedule", "Step schedule", "choice", "constant", choices=("constant", "cosine"),
         help="the step size over a run: constant (the paper's) or cosine, large steps first and small ones at the "
              "end (1.9x to 0.1x, the same distance on average)", generic=True, before="constant"),
    Knob("momentum", "Momentum", "float", 0.0, 0.0, 0.99, "normalised momentum: each step follows a running sum of "
                                                           "the unit gradients, with this decay (0 = the paper's "
                                                           "plain steps)", generic=True, before=0.0,
         panel_range=(0.0, 0.95)),
    Knob("coarse", "Coarse start", "float", 0.0, 0.0, 0.9, "coarse-to-fine: this share of the first steps judges "
                                                             "the canvas at half its side (a quarter of the cost), "
                                                             "moving large shapes first; 0 = off", generic=True,
         before=0.0),
    Knob("focus", "Focus", "float", 1.0, 0.05, 1.0, "the share of the picture's locations (the model's last feature "
                                                  "map) asked to read as the class: 1 = all of them, the paper's "
                                                  "(the class's evidence grows everywhere: several faces); below 1, "
                                                  "only those that already read most as it (one object, where the "
                                                  "class already shows)", generic=True, before=1.0,
         panel_range=(0.05, 1.0)),
    Knob("schedule_steps", "", "int", None, 1, 100_000, "the planned length of the run that the step schedule and "
                                                       "the coarse share follow (a run stopped early keeps it)",
         generic=True, before=None, flag=None),
    Knob("settle", "Stop when settled", "float", 0.0, 0.0, 10.0, "early stopping: the run is done once its loss "
                                                                   "has changed by less than this over the last 5 "
                                                                   "steps (0 = always the full step count)",
         generic=True, before=0.0, panel_range=(0.0, 0.1)),
)}


def knob(name: str) -> Knob:
    if name not in KNOBS:
        raise RobustPaintError(f"unknown knob {name!r}; known: {', '.join(KNOBS)}")
    return KNOBS[name]


def generic_knobs(names) -> list[Knob]:
    """The generic knobs among `names` (a task's parameters), in table order."""
    wanted = set(names)
    return [k for k in KNOBS.values() if k.generic and k.name in wanted]


def by_key(key: str) -> Knob | None:
    """The knob that fills a request field or project key (`step_size` is the knob `step`)."""
    for k in KNOBS.values():
        if k.key == key:
            return k
    return None
