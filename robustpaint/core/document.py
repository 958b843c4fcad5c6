"""What the user edits: the image and the mask as numpy arrays, and brush strokes applied to them.

No Qt here: the canvas converts widget coordinates to image coordinates and hands plain points to `paint_stroke`;
the app turns each stroke's before/after pair into one undo step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Brush:
    """A round brush. `target` is "image" (paint `color`), "erase" (paint white), "mask" (value 1, or 0 with
    `clear=True`), "regions" (class slot `value`, or no class with `clear=True`) or "strength" (level `value` in
    [0,1]: how much those pixels may change)."""

    size: float = 3.0
    color: tuple[float, float, float] = (0.0, 0.0, 0.0)
    opacity: float = 1.0
    target: str = "image"
    clear: bool = False
    value: float = 1.0
    hardness: float = 1.0  # 1: a hard edge one pixel wide; 0: coverage falls off linearly from the centre


BRUSH_TARGETS = ("image", "erase", "mask", "regions", "strength")
LAYERS = ("image", "sketch")  # what colour strokes paint on: the working image, or the user's sketch under it
STROKE_LIMIT = 1e6  # the largest coordinate or size a logged stroke holds: far past any canvas, finite when resized


def _real(value, low: float, high: float) -> bool:
    """A JSON number in low..high (compared exactly: an int too big for a float is out of range, not an error)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and low <= value <= high


def checked_stroke(stroke) -> dict:
    """A stroke of the log as `log_stroke` writes it, or a ValueError that says what is wrong: a project's log is
    resized with the canvas and saved again, so it is checked when read. Brush fields other than `size` may be
    missing (older logs have no `value`); fields the log does not know are left out."""
    if not isinstance(stroke, dict) or not isinstance(stroke.get("points"), list) \
            or not isinstance(stroke.get("brush"), dict):
        raise ValueError("is not a dict with a list of points and a brush")
    points = stroke["points"]
    if not all(isinstance(p, list) and len(p) in (2, 3) and all(_real(v, -STROKE_LIMIT, STROKE_LIMIT) for v in p[:2])
               and (len(p) == 2 or _real(p[2], 0, 1)) for p in points):
        raise ValueError(f"has a point that is not [x, y] within +-{STROKE_LIMIT:g} or [x, y, pressure in 0..1]")
    layer = stroke.get("layer", "image")
    if layer not in LAYERS:
        raise ValueError(f"is on a layer {layer!r:.40}, not one of {', '.join(LAYERS)}")
    brush, checked = stroke["brush"], {}
    rules = {"size": lambda v: _real(v, 0, STROKE_LIMIT), "opacity": lambda v: _real(v, 0, 1),
             "color": lambda v: isinstance(v, list) and len(v) == 3 and all(_real(c, 0, 1) for c in v),
             "target": lambda v: v in BRUSH_TARGETS, "clear": lambda v: isinstance(v, bool),
             "value": lambda v: _real(v, -STROKE_LIMIT, STROKE_LIMIT), "hardness": lambda v: _real(v, 0, 1)}
    if "size" not in brush:
        raise ValueError("has a brush without a size")
    for key, rule in rules.items():
        if key in brush:
            if not rule(brush[key]):
                raise ValueError(f"has a brush {key} of {brush[key]!r:.40}")
            checked[key] = brush[key]
    return {"points": points, "brush": checked, **({"layer": layer} if layer != "image" else {})}


def _dab_weights(h: int, w: int, points: np.ndarray, radius: float, hardness: float = 1.0) -> np.ndarray:
    """Coverage in [0,1] of the pixels within `radius` of the polyline through `points` (x, y in pixels, or x, y and
    a pen's pressure in [0,1] that scales the radius at that point, growing linearly along each segment); a softer
    brush (`hardness` < 1) fades over the outer (1 - hardness) of its radius."""
    ys, xs = np.mgrid[0:h, 0:w]
    centres = np.stack([xs + 0.5, ys + 0.5], axis=-1).reshape(-1, 2)
    radii = radius * (points[:, 2] if points.shape[1] > 2 else np.ones(len(points)))
    points = points[:, :2]
    if len(points) == 1:
        points, radii = np.concatenate([points, points]), np.concatenate([radii, radii])
    softness = 1.0 - float(np.clip(hardness, 0.0, 1.0))
    # Soft edge one pixel wide (widened by softness), so small brushes still cover the pixel under the cursor.
    coverage = lambda r, distance: np.clip((r + 0.5 - distance) / np.maximum(1.0, (r + 0.5) * softness), 0, 1)
    one_radius = bool(np.all(radii == radii[0]))  # a mouse's stroke: the nearest segment decides
    nearest, cover = np.full(len(centres), np.inf), np.zeros(len(centres))
    for a, b, ra, rb in zip(points[:-1], points[1:], radii[:-1], radii[1:]):
        ab = b - a
        length2 = float(ab @ ab)
        t = np.zeros(len(centres)) if length2 == 0 else np.clip((centres - a) @ ab / length2, 0, 1)
        distance = np.linalg.norm(centres - (a + t[:, None] * ab), axis=1)
        if one_radius:
            nearest = np.minimum(nearest, distance)
        else:  # a pen's: the radius grows or shrinks along each segment, and the best-covering one decides
            cover = np.maximum(cover, coverage(ra + t * (rb - ra), distance))
    if one_radius:
        cover = coverage(radii[0], nearest)
    return cover.reshape(h, w)


class Document:
    """The working image (H x W x 3 float32 in [0,1]), the mask (H x W float32 in {0,1}), the class regions
    (H x W int16: -1 no class, else a class slot), the strength map (H x W float32 in [0,1], 1 = free) and the
    user's sketch (H x W x 3, or None): what the last run started from when the user had drawn it or opened it,
    kept under the result so that it can be shown, painted on and run again."""

    def __init__(self, image: np.ndarray):
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError("the image must be H x W x 3")
        self.image = image.astype(np.float32).clip(0, 1)
        self.mask = np.zeros(image.shape[:2], np.float32)
        self.regions = np.full(image.shape[:2], -1, np.int16)
        self.strength = np.ones(image.shape[:2], np.float32)
        self.sketch: np.ndarray | None = None
        self.strokes: list[dict] = []  # the log saved in project files: points in image pixels and the brush

    @classmethod
    def blank(cls, size: int, value: float = 1.0) -> "Document":
        return cls(np.full((size, size, 3), value, np.float32))

    @property
    def size(self) -> tuple[int, int]:
        return self.image.shape[0], self.image.shape[1]

    def resize(self, height: int, width: int | None = None) -> None:
        """Scales the document to height x width (square without a width): the image smoothly (bicubic, box
        filtered when shrinking), the mask, regions and strength map by nearest neighbour, the stroke log's points
        with them."""
        from PIL import Image

        def smoothly(array: np.ndarray) -> np.ndarray:
            image = Image.fromarray((array * 255).round().astype(np.uint8))
            return np.asarray(image.resize((width, height), Image.Resampling.BICUBIC, reducing_gap=3.0),
                              np.float32) / 255

        width = height if width is None else width
        h, w = self.size
        if (h, w) == (height, width):
            return
        self.image = smoothly(self.image)
        if self.sketch is not None:
            self.sketch = smoothly(self.sketch)
        rows = (np.arange(height) * h // height)[:, None]
        cols = (np.arange(width) * w // width)[None, :]
        self.mask = self.mask[rows, cols].copy()
        self.regions = self.regions[rows, cols].copy()
        self.strength = self.strength[rows, cols].copy()
        sx, sy = width / w, height / h
        self.strokes = [{**s, "points": [[round(p[0] * sx, 2), round(p[1] * sy, 2), *p[2:]] for p in s["points"]],
                         "brush": {**s["brush"], "size": s["brush"]["size"] * (sx * sy) ** 0.5}}
                        for s in self.strokes]

    def copy(self) -> "Document":
        document = Document(self.image)
        document.restore(self.state())
        return document

    def state(self) -> tuple:
        """A snapshot for undo: image, mask, stroke log, regions, strength map and sketch."""
        return (self.image.copy(), self.mask.copy(), tuple(self.strokes), self.regions.copy(),
                self.strength.copy(), None if self.sketch is None else self.sketch.copy())

    def restore(self, state: tuple) -> None:
        self.image, self.mask, self.strokes = state[0].copy(), state[1].copy(), list(state[2])
        self.regions, self.strength = state[3].copy(), state[4].copy()
        self.sketch = None if state[5] is None else state[5].copy()

    def keep_sketch(self) -> None:
        """The image as it is now becomes the sketch (a run starts from what the user drew or opened)."""
        self.sketch = self.image.copy()

    def log_stroke(self, points, brush: Brush, layer: str = "image") -> None:
        """Logs a stroke as `checked_stroke` reads it: [x, y] points, or [x, y, pressure] from a pen."""
        self.strokes.append({"points": [[round(float(p[0]), 2), round(float(p[1]), 2),
                                         *(round(float(v), 3) for v in p[2:3])] for p in points],
                             "brush": {"size": brush.size, "color": list(brush.color), "opacity": brush.opacity,
                                       "target": brush.target, "clear": brush.clear, "value": brush.value,
                                       "hardness": brush.hardness},
                             **({"layer": layer} if layer != "image" and brush.target in ("image", "erase") else {})})

    def layer(self, name: str) -> np.ndarray:
        """The colour layer `name` ("image", or "sketch", which falls back to the image while there is none)."""
        return self.sketch if name == "sketch" and self.sketch is not None else self.image

    def pick_color(self, x: float, y: float, layer: str = "image") -> tuple[float, float, float] | None:
        """The colour under image point (x, y) of the layer, or None outside the image."""
        h, w = self.size
        if not (0 <= x < w and 0 <= y < h):
            return None
        return tuple(float(v) for v in self.layer(layer)[int(y), int(x)])

    def paint_stroke(self, points, brush: Brush, layer: str = "image") -> None:
        """Paints a polyline of (x, y) image coordinates, or (x, y, pressure) from a pen, with the brush; colour
        strokes go on `layer` (the image, or the sketch when there is one)."""
        pts = np.asarray(points, dtype=np.float64)
        if pts.size == 0:
            return
        pts = pts.reshape(len(pts), -1)
        h, w = self.size
        # Hardness is a painter's edge: masks, regions and strength keep hard edges (a mask is where cover > 0.5).
        hardness = brush.hardness if brush.target in ("image", "erase") else 1.0
        cover = _dab_weights(h, w, pts, brush.size / 2, hardness) * float(np.clip(brush.opacity, 0, 1))
        if brush.target == "mask":
            value = 0.0 if brush.clear else 1.0
            self.mask = np.where(cover > 0.5, value, self.mask).astype(np.float32)
            return
        if brush.target == "regions":
            slot = -1 if brush.clear else int(brush.value)
            self.regions = np.where(cover > 0.5, slot, self.regions).astype(np.int16)
            return
        if brush.target == "strength":
            self.strength = np.where(cover > 0.5, float(np.clip(brush.value, 0, 1)), self.strength).astype(np.float32)
            return
        color = np.ones(3, np.float32) if brush.target == "erase" else np.asarray(brush.color, np.float32)
        painted = (self.layer(layer) * (1 - cover[..., None]) + color * cover[..., None]).astype(np.float32)
        self._set_layer(layer, painted)

    def _set_layer(self, name: str, array: np.ndarray) -> None:
        if name == "sketch" and self.sketch is not None:
            self.sketch = array
        else:
            self.image = array

    def fill(self, x: int, y: int, color, layer: str = "image") -> None:
        """Flood fill of the 4-connected region of (nearly) the same colour as pixel (x, y) of the layer."""
        h, w = self.size
        if not (0 <= x < w and 0 <= y < h):
            return
        image = self.layer(layer).copy()
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
        self._set_layer(layer, image)

    def invert_mask(self) -> None:
        self.mask = (1 - self.mask).astype(np.float32)

    def clear_mask(self) -> None:
        self.mask = np.zeros_like(self.mask)

    def clear_regions(self) -> None:
        self.regions = np.full_like(self.regions, -1)

    def region_masks(self, slots: int):
        """The regions as `slots` x H x W masks in {0,1} (slot i's pixels), for the class-map objective."""
        return np.stack([(self.regions == i).astype(np.float32) for i in range(slots)])


def _check_class_names(params, spec, uses: set, classes: list[str]) -> None:
    """A class name the model does not know (typed into a class field) is refused by name, rather than run as the
    model's guess; nothing is checked before the model's classes are known."""
    from robustpaint.core.errors import RobustPaintError
    if not classes:
        return
    named = []
    if "class" in uses and params.class_name:
        named.append(("class", params.class_name))
    if "mix" in uses and params.mix_class:
        named.append(("mix class", params.mix_class))
    if "regions" in spec.reads:
        named += [("region class", n) for n in params.region_classes if n]
    for what, name in named:
        if name not in classes:
            shown = ", ".join(classes[:10]) + (f" and {len(classes) - 10} more" if len(classes) > 10 else "")
            raise RobustPaintError(f"the model has no {what} {name!r}: pick one from the list ({shown})")


def canvas_request(document: Document, params, classes: list[str], bf16: bool,
                   anchor: np.ndarray | None, model_side: int):
    """The task request of the app's canvas and panel: what the worker runs and what the export's recipe holds.

    The recipe made from it holds the canvas's exact values (see `recipes.encode_image`), so it replays the run
    pixel for pixel."""
    import torch

    from robustpaint.core.tasks import PHOTO_MODEL_SIDE, TaskRequest, get_task
    from robustpaint.core.tasks.knobs import REGION_SLOTS, generic_knobs

    spec = get_task(params.task)
    uses = set(spec.parameters)
    _check_class_names(params, spec, uses, classes)

    def tensor(array: np.ndarray) -> torch.Tensor:  # H x W x C -> 1 x C x H x W
        return torch.from_numpy(array.transpose(2, 0, 1).astype(np.float32))[None]  # a copy: fill edits in place

    fields: dict = {"eps": params.eps, "step_size": params.step_size, "steps": params.steps, "seed": params.seed,
                    "bf16": bf16}
    if "class" in uses and params.class_name in classes:
        fields["targets"] = (classes.index(params.class_name),)
    if "image" in spec.reads:
        fields["image"] = tensor(spec.canvas_input(document.image, params.factor))
    else:
        fields["size"] = document.size[0]
        if document.size[1] != document.size[0]:
            fields["width"] = document.size[1]
    if "mask" in spec.reads and document.mask.any():
        fields["mask"] = torch.from_numpy((document.mask > 0.5).astype(np.float32))[None, None]
    if "regions" in spec.reads:  # the regions painted, each with the class chosen for its colour
        used = [i for i in range(REGION_SLOTS) if (document.regions == i).any()]
        names = [params.region_classes[i] if i < len(params.region_classes) else "" for i in used]
        if used and all(n in classes for n in names):
            fields["targets"] = tuple(classes.index(n) for n in names)
            fields["region_masks"] = torch.from_numpy(document.region_masks(REGION_SLOTS)[used])
    if "neuron" in uses:
        chosen = [(u, w) for u, w in params.features if w != 0]
        fields["neurons"] = tuple(u for u, _ in chosen)
        fields["neuron_weights"] = tuple(float(w) for _, w in chosen)
    if "lam" in uses:
        fields["lam"] = params.lam
    if "factor" in uses:
        fields["factor"] = params.factor
    if "keep" in uses:
        fields["keep_photo"] = params.keep_photo and model_side >= PHOTO_MODEL_SIDE
    if "candidates" in uses:
        fields["candidates"] = params.candidates
    if "temperature" in uses:
        fields["temperature"] = params.temperature
    if "spread" in uses:
        fields["spread"] = params.spread
    if "mix" in uses and params.mix_class in classes:
        fields["mix"] = (classes.index(params.mix_class), params.mix_weight)
    if not (document.strength >= 1).all():
        fields["change_mask"] = tensor(document.strength[..., None])
    if anchor is not None and spec.anchored:
        fields["anchor"] = tensor(anchor)
    fields["knobs"] = tuple(sorted((k.key, params.knob(k.key)) for k in generic_knobs(uses)))
    return spec.finalise(TaskRequest(params.task, **fields), model_side)
