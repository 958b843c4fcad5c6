"""Region class targets: a picture whose colours say which class each region should read as.

The i-th class named by the user owns the i-th colour of `PALETTE`; white pixels belong to no class (they change
only as much as the rest of the picture needs). A pixel takes the nearest of those colours; a colour far from all of
them is an error that says where it is, so a map drawn with the wrong colours never runs silently with wrong targets.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

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


def read_class_map(path: str | Path, size: tuple[int, int] | None, count: int, *, long_side: int | None = None,
                   min_side: int | None = None, max_side: int | None = None, note=None) -> torch.Tensor:
    """The regions (count x H x W) of a class-map picture for `count` classes, fitted like a photo: scaled to
    `size` (h, w), else keeping its own shape (`long_side`, `min_side`, `max_side` as for `load_photo`). It is
    resampled nearest-neighbour, so every pixel keeps a colour of the map and no border blends two classes into a
    colour of none. The line saying what was done goes to `note`."""
    from robustpaint.core.imageio import load_photo
    if not 1 <= count <= len(PALETTE):
        raise ImageError(f"a class map holds 1 to {len(PALETTE)} classes, not {count}")
    # load_photo handles every image mode, EXIF orientation and damaged files with one clear message
    image, line, (source_h, source_w) = load_photo(path, size, "scale", max_side, long_side=long_side,
                                                   min_side=min_side, resample=Image.Resampling.NEAREST)
    if note is not None:
        note(line)
    image = image[0]
    h, w = image.shape[-2:]
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
        colour = tuple(int(v) for v in rgb[y, x])
        x, y = int((x + 0.5) * source_w / w), int((y + 0.5) * source_h / h)  # where it is in the file (NEAREST's)
        allowed = ", ".join(f"{PALETTE_NAMES[i]} {PALETTE[i]}" for i in range(count))
        raise ImageError(f"class map {path}: colour {colour} at ({x}, {y}) names no class; "
                         f"with {count} classes use white (no class) and {allowed}")
    present = [i for i in range(count) if (labels == i).any()]
    if len(present) < count:
        missing = next(i for i in range(count) if i not in present)
        fitted = f" once fitted ({source_w}x{source_h} -> {w}x{h})" if (h, w) != (source_h, source_w) else ""
        raise ImageError(f"class map {path} has no {PALETTE_NAMES[missing]} region for class {missing + 1}{fitted}")
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
