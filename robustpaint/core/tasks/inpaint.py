"""Inpainting: fill a brushed hole so the image reads as its class while the rest stays (the paper's section 3.5):
loss + lambda times the squared distance outside the mask."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from robustpaint.core import objectives as obj
from robustpaint.core.errors import RobustPaintError
from robustpaint.core.tasks.base import (Built, CliJob, Context, Preset, TaskRequest, TaskSpec, add_photo_arguments,
                                         class_index, default_output, non_negative, read_input, register)


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


class Inpaint(TaskSpec):
    name, label = "inpaint", "Inpaint"
    order = 30
    help = "fill the masked region so the image reads as its class"
    preset = Preset(0.5, 0.1, 100, "paper: eps 21.6 / 7 = 3.1 from a mean fill, for large holes; from our smooth "
                                   "fill, 60 held-out test images with 10x10 holes gave evaluator accuracy 88 / 83 / 80% "
                                   "at eps 0.5 / 1 / 2 (smooth fill alone 82%); raise eps for large holes")
    photo_preset = Preset(3.5, 1.75, 20, "paper: eps 21.6 at 224 px from a mean fill; from our smooth fill, with only "
                                         "the hole changing (with the paper's penalty alone the change spreads over "
                                         "the photo), 30 held-out photos with 32-px holes at 128 px "
                                         "(benchmarks/inpaint_eps.py) gave PSNR in the hole 18.7 / 18.2 dB and "
                                         "evaluator accuracy 77 / 77% at eps 2 / 4 (Telea 18.2 dB, 67%): eps 2 at "
                                         "128 px, 3.5 at 224; covered in 20 steps of 1.75 instead of 100 of 0.35 "
                                         "(benchmarks/steps_to_quality.py: the same 77% and 18.45 dB in 0.21x "
                                         "the time)", side=224, inside_mask_only=True)
    parameters = ("class", "eps", "step", "steps", "lam", "views",
                  "crops", "schedule", "momentum", "coarse", "settle",
                  "schedule_steps", "freedom", "effort", "reading")
    defaults = {"lam": 10.0}
    reads = frozenset({"image", "mask"})

    def build(self, ctx: Context) -> Built:
        image = ctx.image()
        hole = ctx.mask(image).to(image.device)
        keep = 1 - hole
        if ctx.request.fill == "mean":  # the paper's start: the hole filled with the per-channel mean
            start = image * keep + masked_channel_mean(image, keep) * hole
        elif ctx.request.fill == "smooth":
            start = smooth_fill(image, hole)
        else:
            raise RobustPaintError(f"the hole fill must be 'smooth' or 'mean', not {ctx.request.fill!r}")
        targets = ctx.targets_or_guess(start)
        objective = (obj.class_target(targets.to(ctx.device))
                     + ctx.lam(self) * obj.stay_close(start.to(ctx.device), keep.to(ctx.device)))
        change = None
        if ctx.request.change_mask is None and self.preset_for(ctx.model.input_size).inside_mask_only:
            change = hole
        return Built(start, objective, change_mask=change)

    def add_arguments(self, p) -> None:
        add_photo_arguments(p)
        p.add_argument("--mask", required=True, help="PNG, white = hole to fill")
        p.add_argument("--class", dest="target", help="class to read as (default: the model's guess)")
        p.add_argument("--lam", type=non_negative, help="weight of staying close outside the hole (default 10)")
        p.add_argument("--fill", choices=("smooth", "mean"), default="smooth",
                       help="start: the hole diffused from its border (default) or the paper's channel mean")

    def request_from_args(self, args, model, seeds, note) -> CliJob:
        from robustpaint.core.imageio import load_mask
        image, source_size = read_input(args, model, note)
        mask = load_mask(args.mask, tuple(image.shape[-2:]), source_size, args.fit)
        targets = (class_index(model.classes, args.target),) if args.target else ()
        request = TaskRequest("inpaint", image=image, mask=mask, targets=targets, lam=args.lam, fill=args.fill)
        return CliJob(request, [default_output(args, "inpaint")], (args.input, args.mask))


SPEC = register(Inpaint())
