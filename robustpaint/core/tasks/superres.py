"""Super-resolution: upsample, then move towards the class within a small ball (the paper's section 3.5), each
iterate kept consistent with the input (its block means equal the input's pixels)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch.nn import functional as F

from robustpaint.core import objectives as obj
from robustpaint.core.errors import RobustPaintError
from robustpaint.core.options import CANVAS_MAX
from robustpaint.core.tasks.base import (Built, CliJob, Context, Preset, TaskRequest, TaskSpec, add_input_arguments,
                                         class_index, default_output, read_input, register)


def agrees_with(low: torch.Tensor, factor: int, smooth_sweeps: int = 10) -> Callable[[torch.Tensor], torch.Tensor]:
    """A map onto the images whose factor x factor block means equal `low` (the super-resolution input).

    Keeping every iterate consistent lets the classifier add only detail the input cannot see, and the result
    shrinks back to what the user gave. First `smooth_sweeps` rounds of back-projection with a bicubic kernel
    (x -= bicubic_up(A x - low), A = block mean): they spread each block's error smoothly over its neighbours
    instead of as a flat step per block, which gives 0.1 dB more at x4 than the exact projection alone
    (benchmarks/superres_eps.py --exact-too: 24.27 against 24.17 dB on 60 held-out photos at x4, 128 px). Then the
    exact orthogonal projection, x - nearest_up(A x - low) (A A^T = I / factor^2), removes what is left; clamping to [0,1] can break the agreement next to black or white, so the two
    alternate a few times (both sets are convex: this converges).
    """
    def up(t: torch.Tensor) -> torch.Tensor:
        return F.interpolate(t, scale_factor=factor, mode="bicubic", align_corners=False)

    def project_consistent(x: torch.Tensor) -> torch.Tensor:
        for _ in range(smooth_sweeps):
            x = (x - up(F.avg_pool2d(x, factor) - low)).clamp(0.0, 1.0)
        for _ in range(4):
            error = F.avg_pool2d(x, factor) - low
            x = (x - F.interpolate(error, scale_factor=factor, mode="nearest")).clamp(0.0, 1.0)
        return x
    return project_consistent


def superres_max_output(model_side: int) -> int:
    """The longest side a super-resolution output may have: 8 model sides, and at least 1024 px; a larger input is
    scaled down to fit before any tensor is made."""
    return max(8 * model_side, 1024)


def canvas_input_size(height: int, width: int, factor: int, limit: int = CANVAS_MAX) -> tuple[int, int]:
    """The (h, w) the app's picture is super-resolved from: its own size, or, where `factor` times it would pass
    `limit` (the app's largest canvas), scaled down, shape kept, so that the result's longer side is `limit`."""
    if max(height, width) * factor <= limit:
        return height, width
    ratio = limit / (factor * max(height, width))
    return max(1, math.floor(height * ratio)), max(1, math.floor(width * ratio))


def check_factor(factor: int) -> int:
    if not 2 <= factor <= 8:
        raise RobustPaintError(f"the super-resolution factor must be 2 to 8, not {factor}")
    return factor


class SuperResolve(TaskSpec):
    name, label = "superres", "Super-resolve"
    order = 50
    help = "upsample, then move towards the class within a small ball"
    preset = Preset(1.14, 0.14, 40, "paper's x8 setting: eps 8 / 7, step 1 / 7, 40 its; smaller factors lose "
                                    "less, so radius and step shrink by sqrt(log2(factor) / 3) (x2 0.66, x4 0.93): "
                                    "on 100 held-out test images (benchmarks/superres_eps.py), x2 at eps 1.14 is "
                                    "0.13 dB below bicubic, at 0.66 0.35 dB above it with the same evaluator "
                                    "accuracy (78%; bicubic 57%)")
    photo_preset = Preset(4.3, 0.54, 40, "the paper's x8 setting is eps 8, step 1, 40 its (224 -> 28 -> 224); smaller "
                                         "factors lose less, so radius and step shrink by sqrt(log2(factor) / 3). On "
                                         "60 held-out photos at x4, 128 px (benchmarks/superres_eps.py), eps 0 / 2 / "
                                         "3.73 / 5 gave PSNR 24.60 / 24.52 / 24.27 / 24.00 dB (bicubic 24.16) and "
                                         "evaluator accuracy 70 / 72 / 70 / 70% (bicubic 65%): a wider ball costs "
                                         "PSNR and buys no accuracy, so eps 2 at x4 and 128 px (4.3 at x8, 224 px)",
                          side=224)
    parameters = ("eps", "step", "steps", "factor", "views", "crops", "min_confidence", "freedom", "effort",
                  "reading")

    def radius_scale(self, factor: int) -> float:
        return (math.log2(factor) / 3) ** 0.5  # 1 at the paper's x8

    def canvas_input(self, canvas: np.ndarray, factor: int) -> np.ndarray:
        """The picture the user asks to super-resolve: the app's canvas at its own size, so the run makes a canvas
        `factor` times larger (#47: it was shrunk by the factor and made back to its own size, a blur). Where that
        would pass CANVAS_MAX, the canvas scaled down first (`canvas_input_size`; the app says so)."""
        size = canvas_input_size(*canvas.shape[:2], check_factor(factor))
        if size == canvas.shape[:2]:
            return canvas
        from PIL import Image  # PIL, not torch: this runs on the app's GUI thread, which never waits on torch
        channels = [np.asarray(Image.fromarray(np.ascontiguousarray(canvas[..., c], np.float32), "F").resize(
            size[::-1], Image.Resampling.BICUBIC, reducing_gap=3.0)) for c in range(canvas.shape[2])]
        return np.clip(np.stack(channels, -1), 0, 1).astype(np.float32)

    def canvas_limits(self, model_side: int) -> tuple[int, int]:
        """The output may be as large as the command line makes it (`superres_max_output`)."""
        return super().canvas_limits(model_side)[0], superres_max_output(model_side)

    def output_shape(self, request: TaskRequest, model_side: int) -> tuple[int, int]:
        h, w = super().output_shape(request, model_side)
        return h * request.factor, w * request.factor

    def build(self, ctx: Context) -> Built:
        if ctx.request.image is None:
            raise RobustPaintError("superres needs an input image")
        low = ctx.request.image.float()
        factor = check_factor(ctx.request.factor)
        h, w = low.shape[-2] * factor, low.shape[-1] * factor
        bicubic = F.interpolate(low, size=(h, w), mode="bicubic", align_corners=False).clamp(0, 1)
        constraint = None
        if ctx.request.consistent:
            constraint = agrees_with(low.to(ctx.device), factor, ctx.request.consistency_sweeps)
            bicubic = constraint(bicubic.to(ctx.device)).cpu()
        start = bicubic.expand(ctx.n, -1, -1, -1).clone()
        # The guess reads the start as each step shows it to the model (Context.reading): read at 4x its scale, a
        # 128-px model's church was "only 37% sure" beside a top-5 of church 100% (#47 item 4).
        targets = ctx.targets_or_guess(start)
        objective = obj.class_target(targets.to(ctx.device))
        guessed = ctx.notes.get("guessed_probability")
        if guessed is not None and ctx.request.knob("min_confidence") > 0:
            # A weak guess (a cat or an astronaut to the Imagenette model) would paint its class's texture into the
            # photo: those images keep the consistent bicubic start instead.
            steered = torch.tensor([float(p >= ctx.request.knob("min_confidence")) for p in guessed], device=ctx.device)
            if not steered.all():
                ctx.notes["unsure"] = [not bool(s) for s in steered.tolist()]
            guided = objective
            objective = obj.Objective(lambda x, logits, acts: steered * guided(x, logits, acts),
                                      "class target (sure guesses only)")
        change = ctx.request.change_mask  # a strength map of the picture (the app's canvas): the output's size
        if change is not None and tuple(change.shape[-2:]) != (h, w):
            change = F.interpolate(change.float(), size=(h, w), mode="nearest")
        return Built(start, objective, change_mask=change, constraint=constraint)

    def add_arguments(self, p) -> None:
        add_input_arguments(p, fit_default="keep")
        p.add_argument("--factor", type=int, default=4, help="upsampling factor, 2 to 8 (default 4)")
        p.add_argument("--no-consistency", dest="consistent", action="store_false",
                       help="let the output's block means drift from the input (the paper's setting)")
        p.add_argument("--class", dest="target", help="class (default: the model's guess)")

    def request_from_args(self, args, model, seeds, note) -> CliJob:
        # A small input keeps its size; a larger one is scaled down so that the output stays within the budget.
        factor = check_factor(args.factor)
        image, _ = read_input(args, model, note, superres_max_output(model.input_size) // factor, keep_size=True)
        targets = (class_index(model.classes, args.target),) if args.target else ()
        request = TaskRequest("superres", image=image, targets=targets, factor=factor, consistent=args.consistent)
        return CliJob(request, [default_output(args, "superres")], (args.input,))


SPEC = register(SuperResolve())
