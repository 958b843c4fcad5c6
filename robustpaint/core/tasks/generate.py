"""Class-conditional generation: PGD towards a class from a sample of its Gaussian seed (the paper's section 3.1)."""

from __future__ import annotations

from pathlib import Path

from robustpaint.core import objectives as obj
from robustpaint.core.errors import RobustPaintError
from robustpaint.core.paths import file_stem
from robustpaint.core.options import CANVAS_MAX, CANVAS_MIN, canvas_side
from robustpaint.core.tasks.base import (Built, CliJob, Context, Preset, TaskSpec, canvas_shape, class_index,
                                         non_negative, positive_int, register)


def parse_mix(text: str, classes: list[str]) -> tuple[int, float]:
    """--mix CLASS:WEIGHT (weight 0.5 when left out)."""
    other, _, weight = text.partition(":")
    try:
        w = float(weight or 0.5)
    except ValueError:
        raise RobustPaintError(f"--mix takes CLASS:WEIGHT, not {text!r}") from None
    if not 0 <= w <= 1:
        raise RobustPaintError("the --mix weight must be between 0 and 1")
    return class_index(classes, other), w


class Generate(TaskSpec):
    name, label = "generate", "Generate"
    order = 10
    help = "class-conditional generation from a Gaussian seed"
    preset = Preset(5.0, 0.25, 60, "paper's CIFAR setting is eps 30, step 0.5, 60 its; on the shipped ResNet-18 "
                                   "it pulls every sample of a class to one template, while eps 5, step 0.25 "
                                   "keeps the seeds' variety and still reads as the class (docs/generation.md)")
    photo_preset = Preset(40.0, 4.0, 15, "paper's RestrictedImageNet / ImageNet generation setting, eps 40 at 224 px, "
                                         "in 15 steps of 4 instead of its 60 of 1 (the same distance; beyond the "
                                         "paper, #34: at 128 px the same recognition and blockiness, slightly less "
                                         "saturation, in 0.27x the time, benchmarks/steps_to_quality.py); with "
                                         "spread 0.05 (beyond the paper) the candidates of a "
                                         "class stay about as varied as real photos (0.92-0.94 of their spread, against "
                                         "0.69-0.77 without; 95-97.5% still read as the class: "
                                         "benchmarks/quality.py and generation_spread.py)",
                          side=224, spread=0.05,
                          # beyond the paper (#29): 20 samples, 2 a class (benchmarks/naturalness.py): the colour prior
                          # brought saturation from 1.39 to 1.11x photos' at 100% recognised; seeds are bicubic
                          # (blockiness 2.95 -> 1.13x photos'); jitter 4 only smoothed further (HF share 0.40 -> 0.24)
                          knobs=(("saturation", 1.0),))
    parameters = ("class", "eps", "step", "steps", "seed", "candidates", "temperature", "spread", "mix", "upsample",
                  "jitter", "saturation", "fourier", "views", "crops", "schedule", "momentum", "coarse", "settle",
                  "schedule_steps", "freedom", "effort")
    reads = frozenset()
    out_help = "output folder (default: .)"

    def build(self, ctx: Context) -> Built:
        seeds = ctx.seeds_or_data_free()
        if not ctx.request.targets:  # a recipe with an empty class list made class 0, quietly (#46)
            raise RobustPaintError("generate needs at least one class; the request names none")
        targets = ctx.targets()
        size = canvas_shape(ctx.request, ctx.model.input_size)
        start = seeds.sample(targets, size, ctx.request.temperature, ctx.generator, ctx.mix(),
                             upsample=ctx.request.knob("upsample"))
        objective = obj.class_target(targets.to(ctx.device))
        spread = self.spread_of(ctx.request, ctx.model.input_size)
        if spread > 0 and len(targets) > len(set(targets.tolist())):  # some class has more than one candidate
            objective = objective + obj.within_class_spread(targets, spread)
        return Built(start, objective)

    def spread_of(self, request, model_side: int) -> float:
        """The request's spread, or its preset's for a model of this side."""
        return request.spread if request.spread is not None else self.preset_for(model_side).spread

    def finalise(self, request, model_side: int):
        """The preset's spread written into the request (so the recipe holds it)."""
        request = super().finalise(request, model_side)
        return request if request.spread is not None else request.replace(spread=self.spread_of(request, model_side))

    def add_arguments(self, p) -> None:
        p.add_argument("--class", "--classes", dest="classes", required=True,
                       help="class name(s), comma separated (with --class-map: one per colour, in palette order)")
        p.add_argument("-n", "--count", type=positive_int(1024), default=1, help="images per class (default 1)")
        p.add_argument("--temperature", type=non_negative, default=1.0,
                       help="seed temperature: 0 = the class's mean seed, 1 (default) = as varied as the data, "
                            "more = wilder")
        p.add_argument("--spread", type=non_negative, help="push each class's images apart (beyond the paper; "
                       "default: the preset's, 0.05 for photo models, 0 for 32-px ones; 0 = independent samples)")
        p.add_argument("--mix", help="CLASS:WEIGHT, blend the seed with another class's")
        p.add_argument("--size", type=canvas_side(), help=f"canvas side in pixels, {CANVAS_MIN} to {CANVAS_MAX} "
                                                          f"(default: the model's input size)")
        p.add_argument("--grid", help="also write all images as one PNG, a row per class")
        p.add_argument("--class-map", help="PNG fitted as a photo is (its shape, --size on its longer side): each "
                                           "region in the colour of its class (the "
                                           "i-th class owns the i-th palette colour: red, green, blue, yellow, ...; "
                                           "white = no class), so each region reads as its own class")

    def request_from_args(self, args, model, seeds, note) -> CliJob:
        from robustpaint.core.tasks.base import TaskRequest
        from robustpaint.core.tasks.classmap import request_from_class_map
        targets = [class_index(model.classes, c) for c in args.classes.split(",") if c.strip()]
        if not targets:
            raise RobustPaintError("--class needs at least one class name")
        out_dir = Path(args.out or ".")
        if args.class_map:
            return request_from_class_map(args, model, targets, out_dir, note)
        mix = parse_mix(args.mix, model.classes) if args.mix else None
        per_image = [t for t in targets for _ in range(args.count)]
        request = TaskRequest("generate", targets=tuple(per_image), candidates=len(per_image),
                              temperature=args.temperature, spread=args.spread, size=args.size, mix=mix)
        # Each class numbered from 000 (cat-000, cat-001, dog-000, ...); a class named twice goes on counting, and
        # so do two classes whose names clean to one file name (paths.file_stem: a card's name never leaves out_dir).
        counts: dict[str, int] = {}
        outputs = []
        for t in per_image:
            stem = file_stem(model.classes[t])
            outputs.append(out_dir / f"{stem}-{counts.get(stem, 0):03d}.png")
            counts[stem] = counts.get(stem, 0) + 1
        return CliJob(request, outputs, into_folder=True, grid=Path(args.grid) if args.grid else None,
                      grid_columns=args.count)


SPEC = register(Generate())
