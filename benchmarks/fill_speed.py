"""The fill tool's time, the old pixel-by-pixel flood fill (pure Python, before #47 item 9) against the vectorised
fill of robustpaint/core/fill.py, on a square canvas of each side.

    python benchmarks/fill_speed.py [--sides 256,1024] [--repeats 5]

Pictures: a soft black circle (a brush of 1/64 of the side, hardness 0.3) on white, filled inside (about half the
canvas) and outside; a blank canvas filled whole; and two worst cases for the new fill, which works on runs of
pixels along the rows: random noise of two greys, 70% of one, filled in that one (a net of short runs across the
whole canvas), and a maze of one-pixel corridors snaking up and down (half a million runs at 1024 px). The new
fill is timed with its default tolerance (15%) and soft edges, and with the old fill's tolerance (1e-3) and soft
edges off, where it must fill the old fill's pixels exactly (checked). Times are the median of --repeats runs (the
old fill's of one).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from robustpaint.core.document import Brush, Document
from robustpaint.core.fill import fill_region, flood_fill


OLD_TOLERANCE = 0.000998  # the old fill's "within 1e-3", as the new fill's "within tolerance (+ 1e-6)"


def old_fill(image: np.ndarray, x: int, y: int, color) -> np.ndarray:
    """`Document.fill` as it was: a stack of pixels, one at a time, of the seed's colour within 1e-3."""
    h, w = image.shape[:2]
    image = image.copy()
    seed = image[y, x].copy()
    same = np.all(np.abs(image - seed) < 1e-3, axis=2)
    region = np.zeros((h, w), bool)
    stack = [(y, x)]
    while stack:
        cy, cx = stack.pop()
        if region[cy, cx] or not same[cy, cx]:
            continue
        region[cy, cx] = True
        stack.extend((ny, nx) for ny, nx in ((cy + 1, cx), (cy - 1, cx), (cy, cx + 1), (cy, cx - 1))
                     if 0 <= ny < h and 0 <= nx < w and not region[ny, nx])
    image[region] = np.asarray(color, np.float32)
    return image


def circle(side: int) -> np.ndarray:
    document = Document.blank(side)
    t = np.linspace(0, 2 * np.pi, 193)
    c, r = side / 2, side * 0.38
    points = np.stack([c + r * np.cos(t), c + r * np.sin(t)], axis=1)
    document.paint_stroke(points.tolist(), Brush(size=max(3, side // 64), color=(0, 0, 0), hardness=0.3))
    return document.image


def timed(function, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sides", default="256,1024")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    red = (1.0, 0.0, 0.0)
    print("| side | picture | filled px | old fill (s) | new, the old's tolerance (s) | new, default (s) | speed-up |")
    print("|---|---|---|---|---|---|---|")
    for side in (int(s) for s in args.sides.split(",")):
        pictures = {"soft circle, inside": (circle(side), side // 2, side // 2),
                    "soft circle, outside": (circle(side), 1, 1),
                    "blank canvas": (np.ones((side, side, 3), np.float32), side // 2, side // 2)}
        for name, (picture, x, y) in pictures.items():
            old_s, old = timed(lambda: old_fill(picture, x, y, red), 1)
            exact_s, made = timed(lambda: flood_fill(picture, x, y, red, OLD_TOLERANCE, False), args.repeats)
            (x0, y0, x1, y1), pixels = made
            new = picture.copy()
            new[y0:y1, x0:x1] = pixels
            assert np.array_equal(new, old), f"the new fill at tolerance 0 differs from the old one ({name})"
            default_s, _ = timed(lambda: flood_fill(picture, x, y, red), args.repeats)
            filled = int((old != picture).any(axis=2).sum())
            print(f"| {side} | {name} | {filled} | {old_s:.3f} | {exact_s:.4f} | {default_s:.4f} | "
                  f"{old_s / exact_s:.0f}x |", flush=True)
        noise = np.where(np.random.default_rng(0).random((side, side, 1)) < 0.7, 0.25, 0.75).astype(np.float32)
        noise[side // 2 - 1:side // 2 + 2, side // 2 - 1:side // 2 + 2] = 0.25  # the seed in the net, not an island
        maze = np.zeros((side, side, 1), np.float32)
        for i, c in enumerate(range(0, side, 2)):  # corridors joined at the bottom and the top in turn
            maze[1:side - 1, c] = 1
            maze[side - 1 if i % 2 == 0 else 0, c:c + 3] = 1
        for name, picture, (x, y) in (("two-grey noise", noise, (side // 2, side // 2)),
                                      ("snaking maze", maze, (0, 1))):
            picture = np.repeat(picture, 3, axis=2)
            old_s, old = timed(lambda: old_fill(picture, x, y, red), 1)
            exact_s, region = timed(lambda: fill_region(picture, x, y, OLD_TOLERANCE), args.repeats)
            assert np.array_equal(region, (old != picture).any(axis=2)), name
            default_s, _ = timed(lambda: flood_fill(picture, x, y, red), args.repeats)
            print(f"| {side} | {name} | {int(region.sum())} | {old_s:.3f} | {exact_s:.4f} (area only) | "
                  f"{default_s:.4f} | {old_s / exact_s:.0f}x |", flush=True)


if __name__ == "__main__":
    main()
