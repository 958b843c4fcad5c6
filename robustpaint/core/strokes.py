"""Brush strokes drawn one segment at a time: each mouse move paints the dabs along its new segment only, into the
rectangle that segment reaches, so a move costs the same at 128 px and at 1024 px, however long the stroke.

A stroke keeps its coverage (the largest of its segments' at each pixel) and the tiles of its layer as they were
before it touched them; a pixel is always the stroke's colour over its before-stroke value by the stroke's
coverage, so a stroke drawn move by move is the same, pixel for pixel, as one drawn at once, and overlapping
segments never darken a half-opaque stroke twice. `finish` hands undo the touched tiles before and after.

The eraser's colour is the picture underneath: on the result (the image layer) it brings back the drawing or photo
the run started from (the sketch layer), pixel by pixel; with no sketch, and on the sketch itself, there is nothing
under it but the blank canvas, so it paints white."""

from __future__ import annotations

import numpy as np

from robustpaint.core.tiles import LayerEdit, Packed, Rect, tile_grid, tile_slices

OVERLAY_VALUES = ("mask", "regions", "strength")  # brush targets that set a value where the brush covers > 0.5


def dab_cover(rect: Rect, points: np.ndarray, radius: float, hardness: float = 1.0) -> np.ndarray:
    """Coverage in [0,1] of the pixels of `rect` within `radius` of the polyline through `points` (x, y in pixels,
    or x, y and a pen's pressure in [0,1] that scales the radius at that point, growing linearly along each
    segment); a softer brush (`hardness` < 1) fades over the outer (1 - hardness) of its radius. One point is a dab.

    Element-wise arithmetic only, so a pixel's coverage does not depend on the rectangle it was computed in."""
    x0, y0, x1, y1 = rect
    cx = (np.arange(x0, x1, dtype=np.float64) + 0.5)[None, :]
    cy = (np.arange(y0, y1, dtype=np.float64) + 0.5)[:, None]
    radii = radius * (points[:, 2] if points.shape[1] > 2 else np.ones(len(points)))
    xy = points[:, :2]
    if len(xy) == 1:
        xy, radii = np.concatenate([xy, xy]), np.concatenate([radii, radii])
    softness = 1.0 - float(np.clip(hardness, 0.0, 1.0))
    cover = np.zeros((y1 - y0, x1 - x0))
    for (ax, ay), (bx, by), ra, rb in zip(xy[:-1], xy[1:], radii[:-1], radii[1:]):
        abx, aby = bx - ax, by - ay
        length2 = abx * abx + aby * aby
        dx, dy = cx - ax, cy - ay
        t = np.zeros_like(cover) if length2 == 0 else np.clip((dx * abx + dy * aby) / length2, 0, 1)
        ex, ey = dx - t * abx, dy - t * aby
        distance = np.sqrt(ex * ex + ey * ey)
        r = ra + t * (rb - ra)
        # Soft edge one pixel wide (widened by softness), so small brushes still cover the pixel under the cursor.
        np.maximum(cover, np.clip((r + 0.5 - distance) / np.maximum(1.0, (r + 0.5) * softness), 0, 1), out=cover)
    return cover


class Stroke:
    """A stroke in progress on one layer of a document ("image", "sketch", "mask", "regions" or "strength")."""

    def __init__(self, document, brush, layer: str):
        self.document, self.brush, self.layer = document, brush, layer
        self.points: list[tuple] = []
        self.line = False  # the app's line tool: `restart` draws its one segment again on each move
        self.logged_layer = "sketch" if layer == "sketch" else "image"  # as the stroke log names it
        h, w = document.size
        self.cover = np.zeros((h, w))  # calloc'd: pages are touched only where the stroke goes
        self.before: dict = {}  # tile -> the layer's pixels there before the stroke
        # Hardness is a painter's edge: masks, regions and strength keep hard edges (a mask is where cover > 0.5).
        self.hardness = brush.hardness if brush.target in ("image", "erase") else 1.0
        self.opacity = float(np.clip(brush.opacity, 0, 1))
        self.under = None  # the eraser's picture underneath, pixel by pixel (None: the white canvas)
        if brush.target == "erase":
            self.value = np.ones(3, np.float32)
            sketch = document.sketch
            if layer == "image" and sketch is not None and sketch.shape == document.image.shape:
                self.under = sketch  # the drawing or photo the run started from
        elif brush.target == "mask":
            self.value = 0.0 if brush.clear else 1.0
        elif brush.target == "regions":
            self.value = -1 if brush.clear else int(brush.value)
        elif brush.target == "strength":
            self.value = float(np.clip(brush.value, 0, 1))
        else:
            self.value = np.asarray(brush.color, np.float32)

    def extend(self, points) -> Rect | None:
        """Paints the segments from the stroke's last point through `points`; returns the rectangle changed."""
        new = [tuple(float(v) for v in p) for p in points]
        if not new:
            return None
        segment = np.asarray((self.points[-1:] if self.points else new[:1]) + new, np.float64)
        self.points += new
        radius = self.brush.size / 2
        h, w = self.document.size
        reach = radius * (float(segment[:, 2].max()) if segment.shape[1] > 2 else 1.0) + 2
        rect = (max(int(np.floor(segment[:, 0].min() - reach)), 0), max(int(np.floor(segment[:, 1].min() - reach)), 0),
                min(int(np.ceil(segment[:, 0].max() + reach)) + 1, w),
                min(int(np.ceil(segment[:, 1].max() + reach)) + 1, h))
        if rect[0] >= rect[2] or rect[1] >= rect[3]:
            return None  # wholly outside the canvas
        x0, y0, x1, y1 = rect
        np.maximum(self.cover[y0:y1, x0:x1], dab_cover(rect, segment, radius, self.hardness),
                   out=self.cover[y0:y1, x0:x1])
        self._composite(rect)
        self.document.changed({self.layer}, rect)
        return rect

    def restart(self, points) -> None:
        """Draws the stroke again from nothing through `points` (the line tool's segment follows the pointer)."""
        array = self.document.writable(self.layer)
        h, w = array.shape[:2]
        restored = [tile for tile in self.before if self.cover[tile_slices(tile, h, w)].any()]
        for tile in restored:  # the tiles the last segment painted (the others hold their before pixels already)
            sy, sx = tile_slices(tile, h, w)
            array[sy, sx] = self.before[tile]
            self.cover[sy, sx] = 0
        if restored:
            from robustpaint.core.tiles import tiles_rect
            self.document.changed({self.layer}, tiles_rect(restored, h, w))
        self.points = []
        self.extend(points)

    def _composite(self, rect: Rect) -> None:
        """The layer in `rect`: the stroke's value over the pixels as they were before it, by its coverage."""
        array = self.document.writable(self.layer)
        h, w = array.shape[:2]
        x0, y0, x1, y1 = rect
        for tile in tile_grid(rect, h, w):
            sy, sx = tile_slices(tile, h, w)
            if tile not in self.before:
                self.before[tile] = array[sy, sx].copy()
            ys, xs = slice(max(sy.start, y0), min(sy.stop, y1)), slice(max(sx.start, x0), min(sx.stop, x1))
            before = self.before[tile][ys.start - sy.start:ys.stop - sy.start, xs.start - sx.start:xs.stop - sx.start]
            cover = self.cover[ys, xs] * self.opacity
            if self.brush.target in OVERLAY_VALUES:
                array[ys, xs] = np.where(cover > 0.5, self.value, before)
            else:
                value = self.value if self.under is None else self.under[ys, xs]
                array[ys, xs] = (before * (1 - cover[..., None]) + value * cover[..., None]).astype(np.float32)

    def cancel(self) -> None:
        """Puts the layer back as it was before the stroke (the document is about to change under it)."""
        array = self.document.writable(self.layer)
        h, w = array.shape[:2]
        for tile, pixels in self.before.items():
            array[tile_slices(tile, h, w)] = pixels
        if self.before:
            from robustpaint.core.tiles import tiles_rect
            self.document.changed({self.layer}, tiles_rect(self.before, h, w))
        self.before, self.cover = {}, None

    def finish(self) -> LayerEdit | None:
        """The tiles the stroke changed, before and after (None when it changed nothing)."""
        array = self.document.layer_array(self.layer)
        h, w = array.shape[:2]
        tiles = {}
        for tile, before in self.before.items():
            sy, sx = tile_slices(tile, h, w)
            if not np.array_equal(before, array[sy, sx]):
                tiles[tile] = (Packed.raw(before), Packed.raw(array[sy, sx]))  # packed when idle
        self.before, self.cover = {}, None
        return LayerEdit(self.layer, tiles) if tiles else None
