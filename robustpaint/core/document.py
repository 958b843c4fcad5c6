"""What the user edits: the image and the mask as numpy arrays, and brush strokes applied to them.

No Qt here: the canvas converts widget coordinates to image coordinates and hands plain points to `paint_stroke`;
the app turns each stroke's before/after pair into one undo step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Brush:
    """A round brush. `target` is "image" (paint `color`), "erase" (the picture underneath: on the image layer the
    sketch, where there is one, else white), "mask" (value 1, or 0 with `clear=True`), "regions" (class slot
    `value`, or no class with `clear=True`) or "strength" (level `value` in [0,1]: how much those pixels may
    change)."""

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


LAYER_NAMES = ("image", "sketch", "mask", "regions", "strength")


class Document:
    """One picture as named layers of one size: "image" (the working picture: what a run made, with any touch-ups;
    H x W x 3 float32 in [0,1]), "sketch" (the user's drawing or photo that runs from the canvas start from, kept
    under the result; H x W x 3, or None until there is one), "mask" (H x W float32 in {0,1}), "regions" (H x W
    int16: -1 no class, else a class slot) and "strength" (H x W float32 in [0,1], 1 = free).

    Every change says what it changed: `changed(layers, rect)` calls each listener (`subscribe`) with the layer
    names and the rectangle (x0, y0, x1, y1; None for the whole canvas). The canvas, the top-5 and the run session
    listen; nothing here knows them (no Qt)."""

    def __init__(self, image: np.ndarray):
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError("the image must be H x W x 3")
        h, w = image.shape[:2]
        self.layers: dict[str, np.ndarray | None] = {
            "image": image.astype(np.float32).clip(0, 1), "sketch": None, "mask": np.zeros((h, w), np.float32),
            "regions": np.full((h, w), -1, np.int16), "strength": np.ones((h, w), np.float32)}
        self.strokes: list[dict] = []  # the log saved in project files: points in image pixels and the brush
        self._listeners: list = []
        # Layers whose arrays the document made itself: strokes and undo write into those in place. A layer set
        # from outside (a run's result, which the timeline and the candidates also hold) is copied first.
        self._owned: set[str] = set(LAYER_NAMES)

    # --- layers and events ---------------------------------------------------------------------------------

    def subscribe(self, listener) -> None:
        """`listener(layers: frozenset[str], rect: tuple | None)` after every change."""
        self._listeners.append(listener)

    def changed(self, layers, rect=None) -> None:
        layers = frozenset(layers)
        for listener in list(self._listeners):
            listener(layers, rect)

    def layer_array(self, name: str) -> np.ndarray:
        """The array of layer `name` itself, to read."""
        return self.layers[name]

    def writable(self, name: str) -> np.ndarray:
        """The array of layer `name` to write into in place (strokes, undo), then call `changed`: the document's
        own, copied first where the array came from outside (a run's image is also the timeline's last iterate)."""
        if name not in self._owned:
            self.layers[name] = self.layers[name].copy()
            self._owned.add(name)
        return self.layers[name]

    def set_layer(self, name: str, array: np.ndarray | None) -> None:
        """Replaces a whole layer (a run's result, an opened mask, the sketch kept or dropped)."""
        if name not in LAYER_NAMES:
            raise ValueError(f"no layer {name!r}")
        if array is None and name != "sketch":
            raise ValueError(f"the {name} layer cannot be removed")
        self.layers[name] = array
        self._owned.discard(name)
        self.changed({name})

    image = property(lambda self: self.layers["image"], lambda self, a: self.set_layer("image", a))
    sketch = property(lambda self: self.layers["sketch"], lambda self, a: self.set_layer("sketch", a))
    mask = property(lambda self: self.layers["mask"], lambda self, a: self.set_layer("mask", a))
    regions = property(lambda self: self.layers["regions"], lambda self, a: self.set_layer("regions", a))
    strength = property(lambda self: self.layers["strength"], lambda self, a: self.set_layer("strength", a))

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
        layers = self.layers
        rows = (np.arange(height) * h // height)[:, None]
        cols = (np.arange(width) * w // width)[None, :]
        self.layers = {"image": smoothly(layers["image"]),
                       "sketch": None if layers["sketch"] is None else smoothly(layers["sketch"]),
                       **{name: layers[name][rows, cols].copy() for name in ("mask", "regions", "strength")}}
        sx, sy = width / w, height / h
        self.strokes = [{**s, "points": [[round(p[0] * sx, 2), round(p[1] * sy, 2), *p[2:]] for p in s["points"]],
                         "brush": {**s["brush"], "size": s["brush"]["size"] * (sx * sy) ** 0.5}}
                        for s in self.strokes]
        self.changed(LAYER_NAMES)

    def copy(self) -> "Document":
        document = Document(self.image)
        document.restore(self.state())
        return document

    def state(self) -> tuple:
        """A snapshot: image, mask, stroke log, regions, strength map and sketch (undo keeps only what differs
        from the state after, see `DocumentEdit`)."""
        return (self.image.copy(), self.mask.copy(), tuple(self.strokes), self.regions.copy(),
                self.strength.copy(), None if self.sketch is None else self.sketch.copy())

    def restore(self, state: tuple) -> None:
        self.layers = {"image": state[0].copy(), "mask": state[1].copy(), "regions": state[3].copy(),
                       "strength": state[4].copy(), "sketch": None if state[5] is None else state[5].copy()}
        self.strokes = list(state[2])
        self.changed(LAYER_NAMES)

    def assign(self, other: "Document") -> None:
        """Takes another document's layers and log (an opened or new picture), keeping this one's listeners."""
        self.layers, self.strokes = dict(other.layers), list(other.strokes)
        self._owned = set()  # shared with `other` until written
        self.changed(LAYER_NAMES)

    def begin_stroke(self, brush: "Brush", layer: str = "image"):
        """A stroke to draw move by move (`Stroke.extend`); colour strokes go on `layer` (the image, or the
        sketch when there is one), the others on the layer their brush targets."""
        from robustpaint.core.strokes import Stroke
        if brush.target in ("mask", "regions", "strength"):
            name = brush.target
        else:
            name = "sketch" if layer == "sketch" and self.sketch is not None else "image"
        return Stroke(self, brush, name)

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

    def paint_stroke(self, points, brush: Brush, layer: str = "image"):
        """Paints a polyline of (x, y) image coordinates, or (x, y, pressure) from a pen, at once (as a stroke
        drawn move by move paints it); returns its `LayerEdit` for undo (None when nothing changed)."""
        pts = np.asarray(points, dtype=np.float64)
        if pts.size == 0:
            return None
        stroke = self.begin_stroke(brush, layer)
        stroke.extend(pts.reshape(len(pts), -1).tolist())
        return stroke.finish()

    def fill(self, x: int, y: int, color, layer: str = "image", tolerance: float | None = None,
             soft_edges: bool = True):
        """Fills the 4-connected area of colours within `tolerance` (0..1, the largest channel difference; None:
        `fill.DEFAULT_TOLERANCE`) of pixel (x, y) of the layer, and with `soft_edges` the antialiased rim of the
        lines around it (see core/fill.py). Writes in place and announces the rectangle changed, which it returns
        (None when nothing changed)."""
        from robustpaint.core.fill import DEFAULT_TOLERANCE, flood_fill
        name = "sketch" if layer == "sketch" and self.sketch is not None else "image"
        made = flood_fill(self.layers[name], int(x), int(y), color,
                          DEFAULT_TOLERANCE if tolerance is None else float(tolerance), soft_edges)
        if made is None:
            return None
        (x0, y0, x1, y1), pixels = made
        self.writable(name)[y0:y1, x0:x1] = pixels
        self.changed({name}, (x0, y0, x1, y1))
        return x0, y0, x1, y1

    def invert_mask(self) -> None:
        self.mask = (1 - self.mask).astype(np.float32)

    def clear_mask(self) -> None:
        self.mask = np.zeros_like(self.mask)

    def clear_regions(self) -> None:
        self.regions = np.full_like(self.regions, -1)

    def region_masks(self, slots: int):
        """The regions as `slots` x H x W masks in {0,1} (slot i's pixels), for the class-map objective."""
        return np.stack([(self.regions == i).astype(np.float32) for i in range(slots)])


_STATE_LAYERS = {"image": 0, "mask": 1, "regions": 3, "strength": 4, "sketch": 5}  # in `Document.state()`


@dataclass
class DocumentEdit:
    """What one undo step changed: each layer's changed tiles (see `LayerEdit`) and the stroke log before and after
    (kept as the entries appended when that is all that happened, as a stroke does)."""

    layers: list
    log: tuple  # ("append", length before, entries appended) or ("whole", log before, log after)

    @classmethod
    def between(cls, before: tuple, document: "Document", layer_edits=None) -> "DocumentEdit":
        """The change from state `before` to the document as it is; `layer_edits` when the caller knows them (a
        stroke's tiles), else found by comparing every layer tile by tile. `before` is taken over: its arrays are
        kept as they are (a `state()` snapshot nobody changes), not copied again."""
        from robustpaint.core.tiles import LayerEdit, Packed
        if layer_edits is None:  # raw copies of the tiles that differ; `pack_steps` packs them later
            layer_edits = [LayerEdit.between(name, before[i], document.layers[name], Packed.raw, Packed.view)
                           for name, i in _STATE_LAYERS.items()]
        return cls([e for e in layer_edits if e is not None], _log_change(before[2], document.strokes))

    @property
    def nbytes(self) -> int:
        return sum(e.nbytes for e in self.layers)

    def pack_steps(self):
        """Packs the edit's raw tiles (uniform ones to a pixel, flat ones with zlib) one tile per step."""
        for edit in self.layers:
            yield from edit.pack_steps()

    @property
    def empty(self) -> bool:
        return not self.layers and self.log == ("append", self.log[1], ())

    def apply(self, document: "Document", side: int) -> None:
        """The document as it was before (`side` 0) or after (1) the change."""
        rects = [edit.apply(document, side, announce=False) for edit in self.layers]
        if self.layers:
            whole = any(r is None for r in rects)
            document.changed(self.layer_names(), None if whole else (
                min(r[0] for r in rects), min(r[1] for r in rects), max(r[2] for r in rects),
                max(r[3] for r in rects)))
        if self.log[0] == "append":
            document.strokes = document.strokes[:self.log[1]] + (list(self.log[2]) if side else [])
        else:
            document.strokes = list(self.log[1 + side])

    def layer_names(self) -> set:
        return {e.name for e in self.layers}


def _log_change(before, after) -> tuple:
    n = len(before)
    if len(after) >= n and all(a is b for a, b in zip(before, after)):
        return ("append", n, tuple(after[n:]))
    return ("whole", tuple(before), tuple(after))


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

    from robustpaint.core.tasks import TaskRequest, get_task, keeps_photo
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
        fields["keep_photo"] = keeps_photo(params.keep_photo, model_side)
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
