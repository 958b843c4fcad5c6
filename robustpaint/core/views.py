"""What the model sees of the canvas at each PGD step (beyond the paper, #29).

A view set maps the canvas `x` (N x 3 x H x W) to one or more `View`s: the pixels the model judges, and the `frame`
that carries any canvas-aligned map (a brushed region, a class map's regions) into those pixels, so that a spatial
objective pools the same place of the picture in every view. The optimiser averages the objective over the views,
so the gradient of a step is the mean of their gradients.

- `RandomView`: transformation robustness (lucid's and lucent's recipe): the canvas shifted and mirrored at random.
- `ModelScaleViews`: a canvas larger than the model, judged at the model's scale: the whole canvas scaled down to
  the model's side, plus random crops of it resized to that side, so the class reads both in the whole picture and
  in its detail. With `native` (the `views` knob's "tiles", beyond the paper, #45 item 5) the crops are tiles of
  the model's side cut at the canvas's own resolution: the model adds detail at the scale it was trained on, as
  BIGRoC refines a picture with a robust classifier, while the whole view keeps the picture one object.

Every draw comes from a generator seeded by the run's seed, so a run and its replay see the same views.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.nn import functional as F

VIEW_FRAME = "view:frame"  # the key under which an objective finds the view's frame among the activations
CROPS_SEED_OFFSET = 0xC209  # the crops' generator is the run's seed plus this (the jitter's is + 0x5EED)


def _identity(t: torch.Tensor) -> torch.Tensor:
    return t


@dataclass
class View:
    image: torch.Tensor  # what the model is shown
    frame: Callable[[torch.Tensor], torch.Tensor] = _identity  # canvas-aligned map (.. x H x W) -> this view's pixels


def resize(t: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """`t` (N x C x H x W) at `size`, antialiased when shrinking (differentiable, so gradients flow to the canvas)."""
    if tuple(t.shape[-2:]) == tuple(size):
        return t
    return F.interpolate(t, size=size, mode="bilinear", antialias=True, align_corners=False)


def in_frame(view_frame, region: torch.Tensor) -> torch.Tensor:
    """A canvas-aligned region (B or 1 x C x H x W, or K x H x W) in a view's pixels (itself without a frame)."""
    if view_frame is None:
        return region
    if region.dim() == 3:
        return view_frame(region.unsqueeze(0))[0]
    return view_frame(region)


class RandomView:
    """Each call shows the model the images shifted by up to `jitter` pixels (circularly, so nothing is cropped) and,
    at random, mirrored. Why: a step's gradient then favours what reads as the class wherever it sits, not a pixel
    grid."""

    def __init__(self, jitter: int, seed: int):
        self.jitter = int(jitter)
        self.generator = torch.Generator().manual_seed(seed + 0x5EED)

    def draw(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """The next shift and mirror, as a map that applies it to any canvas-aligned tensor."""
        dy, dx = (torch.randint(-self.jitter, self.jitter + 1, (2,), generator=self.generator)).tolist()
        flip = bool(torch.randint(0, 2, (1,), generator=self.generator))

        def move(t: torch.Tensor) -> torch.Tensor:
            moved = torch.roll(t, shifts=(dy, dx), dims=(-2, -1))
            return moved.flip(-1) if flip else moved
        return move

    def __call__(self, x: torch.Tensor) -> list[View]:
        move = self.draw()
        return [View(move(x), move)]


class ModelScaleViews:
    """A canvas whose shorter side exceeds the model's `side` is shown to the model as the whole canvas scaled down
    so that its shorter side is `side`, plus `crops` random square crops (of a side drawn between `side` and the
    canvas's shorter side, anywhere on it; with `native`, of `side` itself: tiles at the canvas's resolution) each
    resized to `side`. A canvas no larger than the model is shown as it
    is (so 128-px runs of a 128-px model are unchanged). With `jitter`, the canvas is first shifted and mirrored
    (`RandomView`).

    Why: a robust model reads a class at the scale it was trained on; a 512-px canvas shown whole to a 128-px model
    asks it for objects four times its scale (the class appears as small repeated textures), while the scaled-down
    view alone leaves the fine pixels to chance. The crops put the class into the detail, the whole view keeps the
    picture one object. The cost of a step is that of 1 + `crops` model-sized passes, whatever the canvas's size."""

    def __init__(self, side: int, crops: int, seed: int, jitter: int = 0, native: bool = False):
        self.side, self.crops, self.native = int(side), int(crops), bool(native)
        self.jitter = RandomView(jitter, seed) if jitter > 0 else None
        self.generator = torch.Generator().manual_seed(seed + CROPS_SEED_OFFSET)

    def _randint(self, low: int, high: int) -> int:
        return int(torch.randint(low, high + 1, (1,), generator=self.generator))

    def __call__(self, x: torch.Tensor) -> list[View]:
        move = self.jitter.draw() if self.jitter is not None else _identity
        h, w = x.shape[-2:]
        short = min(h, w)
        if short <= self.side:
            return [View(move(x), move)]
        scale = self.side / short
        size = (max(self.side, round(h * scale)), max(self.side, round(w * scale)))

        def whole(t: torch.Tensor) -> torch.Tensor:
            return resize(move(t), size)

        views = [View(whole(x), whole)]
        for _ in range(self.crops):
            crop_side = self.side if self.native else self._randint(self.side, short)
            top, left = self._randint(0, h - crop_side), self._randint(0, w - crop_side)

            def crop(t: torch.Tensor, top=top, left=left, crop_side=crop_side) -> torch.Tensor:
                return resize(move(t)[..., top:top + crop_side, left:left + crop_side], (self.side, self.side))
            views.append(View(crop(x), crop))
        return views


def judged_whole(images: torch.Tensor, side: int) -> torch.Tensor:
    """The images as a step at the model's scale shows them whole (`ModelScaleViews`' first view, without shifts or
    crops): what a reading of the canvas reads, so that a task's guess, `classify` and the top-5 agree with what the
    steps push (#47: a 451x300 cat read at its own size was 'dog 55%', at the model's scale 'cat 65%')."""
    return ModelScaleViews(side, 0, 0)(images)[0].image
