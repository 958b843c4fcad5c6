"""Region class targets: a picture whose colours say which class each region should read as.

The i-th class named by the user owns the i-th colour of `PALETTE`; white pixels belong to no class (they change
only as much as the rest of the picture needs). A pixel takes the nearest of those colours; a colour far from all of
them is an error that says where it is, so a map drawn with the wrong colours never runs silently with wrong targets.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from robustpaint.core.errors import ImageError

PALETTE: list[tuple[int, int, int]] = [
    (230, 25, 75), (60, 180, 75), (0, 130, 200), (255, 225, 25), (145, 30, 180),
    (70, 240, 240), (245, 130, 48), (240, 50, 230), (128, 128, 0), (0, 0, 128),
]
PALETTE_NAMES = ["red", "green", "blue", "yellow", "purple", "cyan", "orange", "magenta", "olive", "navy"]
WHITE = (255, 255, 255)
TOLERANCE = 160  # the farthest (Euclidean, 0-255 per channel) a pixel may be from its colour: pure red, green,
# blue and yellow read as the palette's; a JPEG or antialiased map reads too


def regions_from_labels(labels: np.ndarray, count: int) -> torch.Tensor:
    """`labels` H x W with -1 (no class) or 0..count-1 → count x H x W masks in {0,1}."""
    return torch.stack([torch.from_numpy((labels == i).astype(np.float32)) for i in range(count)])


def read_class_map(path: str | Path, size: tuple[int, int], count: int) -> torch.Tensor:
    """The regions (count x H x W) of a class-map picture for `count` classes; it must be the canvas's size."""
    from robustpaint.core.imageio import load_image
    if not 1 <= count <= len(PALETTE):
        raise ImageError(f"a class map holds 1 to {len(PALETTE)} classes, not {count}")
    image = load_image(path)[0]  # handles every image mode and damaged files with one clear message
    h, w = image.shape[-2:]
    if (h, w) != tuple(size):
        raise ImageError(f"class map {path} is {w}x{h}, but the canvas is {size[1]}x{size[0]}")
    rgb = (image.permute(1, 2, 0).numpy() * 255).round().astype(np.int32)
    # Each pixel takes the nearest of white and the classes' colours (pure red reads as the palette's red); only a
    # colour far from all of them is refused.
    colours = np.array([WHITE] + PALETTE[:count], np.int32)
    distance = np.linalg.norm(rgb[:, :, None, :] - colours[None, None], axis=3)
    nearest = distance.argmin(axis=2)
    labels = np.where(distance.min(axis=2) <= TOLERANCE, nearest - 1, -2)
    unknown = np.argwhere(labels == -2)
    if len(unknown):
        y, x = unknown[0]
        allowed = ", ".join(f"{PALETTE_NAMES[i]} {PALETTE[i]}" for i in range(count))
        raise ImageError(f"class map {path}: colour {tuple(int(v) for v in rgb[y, x])} at ({x}, {y}) names no class; "
                         f"with {count} classes use white (no class) and {allowed}")
    present = [i for i in range(count) if (labels == i).any()]
    if len(present) < count:
        missing = next(i for i in range(count) if i not in present)
        raise ImageError(f"class map {path} has no {PALETTE_NAMES[missing]} region for class {missing + 1}")
    return regions_from_labels(labels, count)


def seeded_start(seeds, regions: torch.Tensor, targets: list[int], generator: torch.Generator,
                 temperature: float = 1.0) -> torch.Tensor:
    """A start image (1 x 3 x H x W) with each region filled from its class's seed, the rest from the mean seed."""
    h, w = regions.shape[-2:]
    samples = seeds.sample(targets, (h, w), temperature, generator)  # K x 3 x H x W
    start = samples.mean(0, keepdim=True)
    for region, sample in zip(regions, samples):
        start = start * (1 - region) + sample * region
    return start.clamp(0, 1)
