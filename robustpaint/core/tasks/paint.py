"""Feature painting: make representation units fire inside the brushed region, the rest staying put (the paper's
section 3.6): -0.1 x activation + lambda x squared change outside the mask."""

from __future__ import annotations

import math

from robustpaint.core import objectives as obj
from robustpaint.core.errors import RobustPaintError
from robustpaint.core.tasks.base import (Built, CliJob, Context, Preset, TaskRequest, TaskSpec, add_photo_arguments,
                                         default_output, non_negative, read_input, register)


def parse_neurons(text: str) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """--neuron 12,40:-0.5 -> units (12, 40) and strengths (1.0, -0.5)."""
    try:
        parts = [item.split(":") for item in text.split(",")]
        units = tuple(int(p[0]) for p in parts)
        weights = tuple(float(p[1]) if len(p) == 2 else 1.0 for p in parts)
        if any(len(p) > 2 for p in parts) or not all(math.isfinite(w) for w in weights):
            raise ValueError
    except ValueError:
        raise RobustPaintError(f"--neuron takes UNIT or UNIT:STRENGTH, comma separated, not {text!r}") from None
    return units, weights


class FeaturePaint(TaskSpec):
    name, label = "paint", "Feature paint"
    order = 60
    help = "feature painting: make a neuron fire inside the brushed region"
    preset = Preset(10.0, 0.14, 140, "paper's feature painting: eps 70 / 7, step 1 / 7, 140 its; "
                                     "loss -0.1 * activation + 90 * mean squared change outside the mask")
    photo_preset = Preset(17.5, 0.44, 140, "paper's feature painting loss (-0.1 * activation + 90 * mean squared "
                                           "change outside the mask, 140 its) in a quarter of its ball: on the 128-px "
                                           "model eps 10 (17.5 here) blends the feature into the photo, while 20 and "
                                           "the paper's 40 (70 at 224) paint a saturated patch (two held-out photos, "
                                           "by eye)", side=224)
    anchored = True
    parameters = ("neuron", "eps", "step", "steps", "lam", "views", "crops", "freedom", "effort")
    defaults = {"lam": 90.0}
    reads = frozenset({"image", "mask"})

    def build(self, ctx: Context) -> Built:
        request = ctx.request
        image = ctx.image()
        region = ctx.mask(image)
        if not request.neurons:
            raise RobustPaintError("feature painting needs at least one neuron")
        size = ctx.model.representation_size
        bad = [i for i in request.neurons if not 0 <= i < size]
        if bad:
            raise RobustPaintError(f"neuron {bad[0]} out of range (the representation has {size} units, 0-{size - 1})")
        if request.neuron_weights and len(request.neuron_weights) != len(request.neurons):
            raise RobustPaintError(f"{len(request.neuron_weights)} feature strengths for {len(request.neurons)} neurons")
        weights = list(request.neuron_weights) if request.neuron_weights else None
        objective = (request.activation_weight * obj.neuron(list(request.neurons), weights=weights)
                     + ctx.lam(self) * obj.stay_close(image.to(ctx.device), (1 - region).to(ctx.device)))
        return Built(image, objective, anchor=ctx.anchor(image))

    def add_arguments(self, p) -> None:
        add_photo_arguments(p)
        p.add_argument("--neuron", required=True,
                       help="representation unit(s), comma separated, each with an optional strength: 12,40:-0.5 "
                            "(a negative strength suppresses the feature)")
        p.add_argument("--mask", required=True, help="PNG, white = where the feature should appear")
        p.add_argument("--lam", type=non_negative, help="weight of staying close outside the mask (default 90)")

    def request_from_args(self, args, model, seeds, note) -> CliJob:
        from robustpaint.core.imageio import load_mask
        units, weights = parse_neurons(args.neuron)
        image, source_size = read_input(args, model, note)
        mask = load_mask(args.mask, tuple(image.shape[-2:]), source_size, args.fit)
        request = TaskRequest("paint", image=image, mask=mask, neurons=units,
                              neuron_weights=weights if any(w != 1.0 for w in weights) else (), lam=args.lam)
        return CliJob(request, [default_output(args, "paint")], (args.input, args.mask))


SPEC = register(FeaturePaint())
