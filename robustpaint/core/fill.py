"""The fill tool: the 4-connected area around a pixel whose colours are within a tolerance of it (GIMP's threshold,
as a fraction of the full range in the channel that differs most), and, with soft edges, the antialiased rim of the
lines around it, so no pale halo stays between a soft stroke and the fill.

Vectorised with numpy alone (no scipy among the app's dependencies): the pixels within the tolerance become runs
along the rows, runs that touch in neighbouring rows are joined by a union-find done on whole arrays, and the seed's
run picks its component. At 1024 px that takes 0.03-0.15 s where the pixel-by-pixel flood fill it replaces took
4-7 s (benchmarks/fill_speed.py, on a busy 2-core machine).

The soft rim: from the filled area, the fill grows outwards while the colour keeps moving away from the seed's
colour (towards the line's core), for at most `SOFT_REACH` pixels, and stops where it turns back (past the line's
darkest pixel, so it never crosses a line). A rim pixel is taken as a mix of the seed's colour s and the line's
colour c, p = a s + (1 - a) c, with a = 1 - d(p) / d(c), d being the distance to the seed's colour and c the
farthest colour the rim reached beyond p; the fill replaces its share of s: p + a (f - s) = a f + (1 - a) c. A soft
black outline round a white area filled red goes from red to black, as the outline went from white to black."""

from __future__ import annotations

import numpy as np

DEFAULT_TOLERANCE = 0.15  # covers what is left of a soft edge's near-white pixels and a photo's slight noise
SOFT_REACH = 16  # the widest soft rim followed, in pixels: a soft brush's fade, not a photo's gradient (64 px
# tinted a sky or a vignette 64 px past the fill, a review found)
RISE_SLACK = 0.01  # a rim may dip this much on its way to the line's core (8-bit steps, a JPEG's ripples)
_SAME = 1e-6  # float noise: a tolerance of 0 takes exactly the seed's colour


def _distance(layer: np.ndarray, x: int, y: int) -> np.ndarray:
    """Each pixel's distance to the colour of pixel (x, y): the largest difference over the channels."""
    seed = layer[y, x]
    distance = np.abs(layer[..., 0] - seed[0])
    for c in range(1, layer.shape[2]):
        np.maximum(distance, np.abs(layer[..., c] - seed[c]), out=distance)
    return distance


def _component(inside: np.ndarray, x: int, y: int) -> tuple[np.ndarray, tuple[int, int, int, int]] | None:
    """The 4-connected component of `inside` (H x W bool) holding pixel (x, y), as a bool array of its bounding
    box and that box (x0, y0, x1, y1); None where (x, y) is not inside."""
    h, w = inside.shape
    if not inside[y, x]:
        return None
    stride = w + 1  # keys row * stride + column order the runs of all rows, a row's columns never reaching the next
    edges = np.diff(np.pad(inside, ((0, 0), (1, 1))).view(np.int8), axis=1)  # H x (W + 1): +1 starts, -1 ends
    changes = np.flatnonzero(edges)  # in row-major order, each run's start then its end
    rows, starts = np.divmod(changes[0::2], stride)
    starts_end = changes[1::2] - rows * stride
    n = len(rows)
    start_keys, end_keys = rows * stride + starts, rows * stride + starts_end
    # Runs of the next row that overlap each run (they share a column): a contiguous range of run indices.
    below = (rows + 1) * stride
    first = _merged_search(end_keys, below + starts, right=True)
    last = _merged_search(start_keys, below + starts_end, right=False)
    counts = np.maximum(last - first, 0)
    total = int(counts.sum())
    seed_run = int(np.searchsorted(start_keys, y * stride + x, side="right")) - 1
    if total:
        upper = np.repeat(np.arange(n), counts)
        lower = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts) + np.repeat(first, counts)
        labels = _union(n, upper, lower)
        chosen = labels == labels[seed_run]
    else:
        chosen = np.zeros(n, bool)
        chosen[seed_run] = True
    rows, starts, starts_end = rows[chosen], starts[chosen], starts_end[chosen]
    y0, y1, x0, x1 = int(rows.min()), int(rows.max()) + 1, int(starts.min()), int(starts_end.max())
    marks = np.zeros((y1 - y0, x1 - x0 + 1), np.int8)  # +1 where a run starts, -1 past its end
    marks[rows - y0, starts - x0] = 1
    marks[rows - y0, starts_end - x0] = -1  # never where one starts: runs of a row have a gap between them
    return np.cumsum(marks, axis=1, dtype=np.int8)[:, :-1].view(bool), (x0, y0, x1, y1)


def _merged_search(keys: np.ndarray, queries: np.ndarray, right: bool) -> np.ndarray:
    """`np.searchsorted(keys, queries, side)` for sorted queries as well as keys: one merge of the two (a stable
    sort of two sorted runs is a linear merge), three times quicker than a binary search each for half a million."""
    both = np.concatenate([keys, queries] if right else [queries, keys])  # ties: keys first counts them ("right")
    place = np.empty(len(both), np.intp)
    place[np.argsort(both, kind="stable")] = np.arange(len(both))
    return place[len(keys):] - np.arange(len(queries)) if right else place[:len(queries)] - np.arange(len(queries))


def _union(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Connected components of the graph on n nodes with edges a[i]-b[i]: each node's smallest node of its
    component, by hooking roots onto smaller roots and halving paths, whole arrays at a time."""
    labels = np.arange(n)
    while True:
        la, lb = labels[a], labels[b]
        differ = la != lb
        if not differ.any():
            return labels
        la, lb = la[differ], lb[differ]
        np.minimum.at(labels, np.maximum(la, lb), np.minimum(la, lb))  # a root onto the smaller root
        while True:  # every node straight onto its root
            jumped = labels[labels]
            if np.array_equal(jumped, labels):
                break
            labels = jumped


def fill_region(layer: np.ndarray, x: int, y: int, tolerance: float = DEFAULT_TOLERANCE) -> np.ndarray:
    """The pixels the fill takes wholly (H x W bool): those 4-connected to (x, y) through colours within
    `tolerance` of its colour (every channel, on the layer's 0..1 scale)."""
    h, w = layer.shape[:2]
    region = np.zeros((h, w), bool)
    found = _component(_distance(layer, x, y) <= tolerance + _SAME, x, y)
    if found is not None:
        part, (x0, y0, x1, y1) = found
        region[y0:y1, x0:x1] = part
    return region


def _soft_rim(distance: np.ndarray, region: np.ndarray, tolerance: float):
    """The rim grown from `region` into the soft edges around it: flat pixel indices and each one's share of the
    seed's colour (see the module's note)."""
    h, w = distance.shape
    flat = distance.ravel()
    taken = region.ravel().copy()
    # the region's pixels with a neighbour outside it
    inner = np.zeros_like(region)
    inner[1:] |= ~region[:-1]
    inner[:-1] |= ~region[1:]
    inner[:, 1:] |= ~region[:, :-1]
    inner[:, :-1] |= ~region[:, 1:]
    frontier = np.flatnonzero(inner & region)
    peak = np.zeros(h * w, np.float32)  # the farthest colour on the way to each rim pixel (its path's running max)
    peak[frontier] = flat[frontier]
    steps, rim = [], []  # per step: (parent, child) flat index pairs, and the pixels it took
    owner = np.empty(h * w, np.intp)  # scratch: which pair last wrote a pixel (dedupes without a sort)
    for _ in range(SOFT_REACH):
        if not len(frontier):
            break
        fy, fx = np.divmod(frontier, w)
        parents, children = [], []
        for ok, offset in ((fy > 0, -w), (fy < h - 1, w), (fx > 0, -1), (fx < w - 1, 1)):
            parents.append(frontier[ok])
            children.append(frontier[ok] + offset)
        parents, children = np.concatenate(parents), np.concatenate(children)
        keep = ~taken[children]
        parents, children = parents[keep], children[keep]
        keep = (flat[children] > tolerance + _SAME) & (flat[children] >= peak[parents] - RISE_SLACK)
        parents, children = parents[keep], children[keep]
        if not len(children):
            break
        np.maximum.at(peak, children, np.maximum(peak[parents], flat[children]))
        steps.append((parents, children))
        order = np.arange(len(children))
        owner[children] = order
        frontier = children[owner[children] == order]  # each child once
        taken[frontier] = True
        rim.append(frontier)
    if not steps:
        return np.zeros(0, np.intp), np.zeros(0, np.float32)
    # Each rim pixel's line colour: the farthest distance reached from it outwards (children before parents).
    farthest = flat.copy()
    for parents, children in reversed(steps):
        np.maximum.at(farthest, parents, farthest[children])
    rim = np.concatenate(rim)  # each pixel once: a step takes none taken before
    far = farthest[rim]
    share = np.where(far > 0, 1 - flat[rim] / np.maximum(far, 1e-12), 0).clip(0, 1).astype(np.float32)
    return rim, share


def flood_fill(layer: np.ndarray, x: int, y: int, color, tolerance: float = DEFAULT_TOLERANCE,
               soft_edges: bool = True):
    """What the fill at (x, y) makes of `layer` (H x W x 3 in [0,1]), as (rect, pixels): the rectangle
    (x0, y0, x1, y1) it changes and that rectangle's new pixels; None where it changes nothing (outside the
    layer, or the area has the fill's colour already)."""
    h, w = layer.shape[:2]
    if not (0 <= x < w and 0 <= y < h):
        return None
    color = np.asarray(color, np.float32)
    distance = _distance(layer, x, y)
    found = _component(distance <= tolerance + _SAME, x, y)
    x0, y0, x1, y1 = found[1]
    region = np.zeros((h, w), bool)
    region[y0:y1, x0:x1] = found[0]
    rim, share = _soft_rim(distance, region, tolerance) if soft_edges else (np.zeros(0, np.intp), None)
    if len(rim):
        ry, rx = np.divmod(rim, w)
        x0, y0 = min(x0, int(rx.min())), min(y0, int(ry.min()))
        x1, y1 = max(x1, int(rx.max()) + 1), max(y1, int(ry.max()) + 1)
    pixels = np.ascontiguousarray(layer[y0:y1, x0:x1], np.float32).copy()
    # the fill's colour where the region is: as one 12-byte item per pixel, several times quicker than a mask
    # over the channels
    item = np.dtype((np.void, pixels.dtype.itemsize * pixels.shape[2]))
    pixels.view(item)[..., 0][region[y0:y1, x0:x1]] = np.ascontiguousarray(color, np.float32).view(item)[0]
    if len(rim):
        seed = layer[y, x].astype(np.float32)
        ry, rx = ry - y0, rx - x0
        pixels[ry, rx] = (pixels[ry, rx] + share[:, None] * (color - seed)).clip(0, 1)
    if np.array_equal(color, layer[y, x]) and np.array_equal(pixels, layer[y0:y1, x0:x1]):
        return None  # (a fill of another colour than the seed's changes the seed's pixel at least)
    return (x0, y0, x1, y1), pixels
