"""Recipes: JSON-able descriptions of one synthesis run, stored in every output PNG so it can be replayed.

The CLI's options and the app's canvas both become a `TaskRequest`; `recipe_from_request` turns it into the recipe
that runs and that the PNG carries, and `request_from_recipe` turns it back for `replay`. Input images and masks
travel inside the recipe (as 8-bit PNG when 8 bits hold them exactly, else as compressed float32, e.g. an app canvas
after a run), so a replay needs nothing but the model and makes the same pixels.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import math
import zlib
from collections.abc import Callable

import numpy as np
import torch
from PIL import Image

from robustpaint import __version__
from robustpaint.core.errors import ModelError, RobustPaintError
from robustpaint.core.models.bundle import ModelBundle, load_model_bundle
from robustpaint.core.tasks import KNOBS, TaskRequest, build_task, get_task
from robustpaint.core.threads import ThreadTuner

RECIPE_VERSION = 1
# Images (see encode_image; gray levels kept for the strength map); the class regions travel as `class_map`.
_TENSOR_FIELDS = ("image", "mask", "change_mask", "anchor")
_SKIPPED_FIELDS = ("task", "region_masks", "knobs", *_TENSOR_FIELDS)
_REQUEST_FIELDS = tuple(f.name for f in dataclasses.fields(TaskRequest) if f.name not in _SKIPPED_FIELDS)


FLOAT_PREFIX = "float32-npy-zlib:"  # an image that 8 bits would change (a PGD result painted on in the app)


def encode_image(t: torch.Tensor) -> str:
    """A 1 x C x H x W tensor in [0,1] as base64 PNG when 8 bits hold it exactly (photos, masks, the CLI's inputs),
    else as compressed float32 (an app canvas after a run): either way the replay starts from the same values."""
    t = t.detach().float().cpu().clamp(0, 1)
    arr = t[0].mul(255).round().byte().permute(1, 2, 0).numpy()
    if not torch.equal(torch.from_numpy(arr).permute(2, 0, 1).float().div(255)[None], t):
        buffer = io.BytesIO()
        np.save(buffer, t.numpy().astype(np.float32), allow_pickle=False)
        return FLOAT_PREFIX + base64.b64encode(zlib.compress(buffer.getvalue(), 6)).decode("ascii")
    img = Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr, "L" if arr.shape[2] == 1 else "RGB")
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


MAX_RECIPE_SIDE = 2048  # an image inside a recipe: at most this many pixels a side
# What one run may ask for: candidates x pixels (about 2 GB of activations for a ResNet-18 step in fp32), and the
# pixels the model judges over the whole run, every pass of every step counted (`run_cost`): at most MAX_PASSES
# passes of a 128 x 128 picture, 45 min to an hour of a 2-core CPU with the default imagenette_resnet18 (100,000
# single passes took 2.5 h there, #46). A recipe over either is refused before any tensor.
MAX_BATCH_PIXELS = 64 * 224 * 224
BUDGET_SIDE = 128
MAX_PASSES = 30_000
MAX_STEP_PIXELS = MAX_PASSES * BUDGET_SIDE * BUDGET_SIDE
CANVAS_WORK = 1 / 64  # a step's own work on the canvas (scaling it into the views, back-propagating through that,
# the projection), in model-judged pixels per canvas pixel: a 1024-px canvas judged in one 128-px view steps 1.8x
# as long as a 128-px canvas (1.78x measured, 2 cores)


def _decode_float_image(text: str) -> torch.Tensor:
    limit = 4 * MAX_RECIPE_SIDE * MAX_RECIPE_SIDE * 4 + 1024  # four channels of the largest side, plus the header
    try:
        inflater = zlib.decompressobj()
        raw = inflater.decompress(base64.b64decode(text, validate=True), limit)
        if inflater.unconsumed_tail:
            raise RobustPaintError("the recipe holds an image larger than a recipe may hold")
        arr = np.load(io.BytesIO(raw), allow_pickle=False)
    except RobustPaintError:
        raise
    except Exception as exc:  # noqa: BLE001 - any damage becomes our error
        raise RobustPaintError(f"the recipe holds a damaged image ({type(exc).__name__})") from None
    if (arr.dtype != np.float32 or arr.ndim != 4 or arr.shape[0] != 1 or arr.shape[1] not in (1, 3)
            or max(arr.shape[2:]) > MAX_RECIPE_SIDE or not np.isfinite(arr).all()):
        raise RobustPaintError(f"the recipe holds a damaged image (shape {arr.shape}, {arr.dtype})")
    return torch.from_numpy(arr.clip(0, 1).copy())


def decode_image(text: str) -> torch.Tensor:
    if not isinstance(text, str):
        raise RobustPaintError("the recipe holds an image that is not base64 PNG text")
    if text.startswith(FLOAT_PREFIX):
        return _decode_float_image(text[len(FLOAT_PREFIX):])
    try:
        img = Image.open(io.BytesIO(base64.b64decode(text, validate=True)))
        if img.width > MAX_RECIPE_SIDE or img.height > MAX_RECIPE_SIDE:
            raise RobustPaintError(f"the recipe holds a {img.width}x{img.height} image, larger than the "
                                   f"{MAX_RECIPE_SIDE}-pixel sides a recipe may hold")
        arr = np.asarray(img)
    except RobustPaintError:
        raise
    except Exception as exc:  # noqa: BLE001 - any damage becomes our error
        raise RobustPaintError(f"the recipe holds a damaged image ({type(exc).__name__})") from None
    if arr.ndim == 2:
        arr = arr[..., None]
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).float().div(255).unsqueeze(0)


def _before(generic: bool) -> dict:
    """What a recipe written before a value existed replays with (the knob table's `before`)."""
    return {k.key: k.before for k in KNOBS.values() if k.generic == generic and k.before is not None}


def recipe_from_request(request: TaskRequest, model_name: str, model_sha256: str, **extra) -> dict:
    """The recipe of a request: every value it holds (images as PNG text), so that `request_from_recipe` gives the
    same request back and a replay makes the same pixels. The CLI, the app's export and `replay` all use this pair.
    `extra`: what else the recipe records (the image's index in a batch, the task's notes)."""
    recipe = {"recipe_version": RECIPE_VERSION, "robustpaint": __version__, "task": request.task, "model": model_name,
              "model_sha256": model_sha256}
    for key in _REQUEST_FIELDS:
        value = getattr(request, key)
        if value is not None:
            recipe[key] = list(value) if isinstance(value, tuple) else value
    recipe.update(request.knobs)
    for key in _TENSOR_FIELDS:
        value = getattr(request, key)
        if value is not None:
            recipe[key] = encode_image(value)
    if request.region_masks is not None:
        recipe["class_map"] = encode_class_map(request.region_masks)
    recipe.update(extra)
    return recipe


def _number(value, name: str, low: float, high: float, whole: bool = False):
    """A recipe value checked as the command line checks it: the right type, finite, within [low, high]."""
    kinds = (int,) if whole else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or (isinstance(value, float) and not math.isfinite(value)):
        raise RobustPaintError(f"the recipe's {name} must be a {'whole ' if whole else ''}number, not {value!r}")
    if not low <= value <= high:
        raise RobustPaintError(f"the recipe's {name} must lie in {low:g}..{high:g}, not {value!r}")
    return value


def _whole_list(value, name: str, high: int) -> tuple[int, ...]:
    if not isinstance(value, list) or len(value) > 4096:
        raise RobustPaintError(f"the recipe's {name} must be a list of whole numbers")
    return tuple(_number(v, f"{name} entry", 0, high, whole=True) for v in value)


# The recipe's own entries besides the knob table's (whose checks are the CLI's, the app's and the project's).
_RECIPE_CHECKS = {
    "index": lambda v: _number(v, "index", 0, 1023, whole=True),
    "export_scale": lambda v: _number(v, "export_scale", 1, 8, whole=True),
    "targets": lambda v: _whole_list(v, "targets", 100_000), "neurons": lambda v: _whole_list(v, "neurons", 100_000),
}


def _checks() -> tuple[dict, dict, tuple]:
    """Number checks, choices and flags, read from the knob table when a recipe is checked (a knob added to the
    table is checked from then on)."""
    numbers = {**{k.key: k.check for k in KNOBS.values() if k.kind in ("int", "float")}, **_RECIPE_CHECKS}
    choices = {**{k.key: k.choices for k in KNOBS.values() if k.kind == "choice"}, "device": ("cpu", "cuda", "mps"),
               "export_resample": ("smooth", "pixels")}
    flags = ("bf16", "track_best", *(k.key for k in KNOBS.values() if k.kind == "bool"))
    return numbers, choices, flags


def check_recipe(recipe: dict) -> None:
    """Refuses a recipe whose values the command line would refuse, or that asks for more memory or compute than
    one run may use, before any tensor is made (a PNG from anyone can carry a recipe)."""
    if not isinstance(recipe.get("task"), str):
        raise RobustPaintError("the recipe names no task")
    if recipe["task"] == "none":
        raise RobustPaintError("the image was exported without a PGD run (drawn by hand): there is no run to replay")
    get_task(recipe["task"])  # an unknown task says which ones exist
    version = recipe.get("recipe_version", 1)
    if isinstance(version, bool) or not isinstance(version, int):
        raise RobustPaintError(f"the recipe's recipe_version must be a whole number, not {version!r}")
    if version > RECIPE_VERSION:
        raise RobustPaintError("the recipe comes from a newer RobustPaint")
    if "model" in recipe and not isinstance(recipe["model"], str):
        raise RobustPaintError(f"the recipe's model must be a name, not {recipe['model']!r}")
    numbers, choices, flags = _checks()
    for key, check in numbers.items():
        if recipe.get(key) is not None:
            check(recipe[key])
    for key, allowed in choices.items():
        if key in recipe and recipe[key] not in allowed:
            raise RobustPaintError(f"the recipe's {key} must be one of {', '.join(allowed)}, not {recipe[key]!r}")
    for key in flags:
        if key in recipe and not isinstance(recipe[key], bool):
            raise RobustPaintError(f"the recipe's {key} must be true or false, not {recipe[key]!r}")
    if recipe.get("neuron_weights") is not None:
        weights = recipe["neuron_weights"]
        if not isinstance(weights, list) or len(weights) > 4096:
            raise RobustPaintError("the recipe's neuron_weights must be a list of numbers")
        for w in weights:
            _number(w, "neuron weight", -1e6, 1e6)
    mix = recipe.get("mix")
    if mix is not None:
        if not isinstance(mix, list) or len(mix) != 2:
            raise RobustPaintError(f"the recipe's mix must be [class, weight], not {mix!r}")
        _number(mix[0], "mix class", 0, 100_000, whole=True)
        _number(mix[1], "mix weight", 0, 1)


def run_cost(request: TaskRequest, side: int) -> tuple[float, str]:
    """The pixels the model judges over the run of `request` on a model of input `side`, and in words what one
    step shows it: every candidate, every view of a step (a canvas larger than the model is judged whole at the
    model's scale plus `crops` crops of the model's side, core.views), a coarse step's half-side view, the scoring
    of the best iterate, plus the step's work on the canvas itself (CANVAS_WORK)."""
    from robustpaint.core.tasks.base import views_of
    from robustpaint.core.views import ModelScaleViews
    spec = get_task(request.task)
    uses = set(spec.parameters)
    h, w = spec.output_shape(request, side)
    view = views_of(request, uses, (h, w), side)
    if isinstance(view, ModelScaleViews):
        scale = side / min(h, w)
        whole = max(side, round(h * scale)) * max(side, round(w * scale))
        crops = view.crops
        piece = "tile" if view.native else "crop"
        shown = (f"the whole canvas at the model's {side}-px scale and {crops} {piece}{'s' if crops != 1 else ''} of "
                 f"{side} px")
    else:
        whole, crops, shown = h * w, 0, f"the {w}x{h} canvas"
    canvas = h * w * CANVAS_WORK
    full, coarse = whole + crops * side * side + canvas, whole / 4 + canvas
    steps = request.steps or 1000
    coarse_steps = 0
    if "coarse" in uses and request.knob("coarse") > 0:
        planned = request.knob("schedule_steps") if "schedule_steps" in uses else None
        coarse_steps = min(steps, int(round(request.knob("coarse") * (planned or steps))))
    judged = (coarse_steps * coarse + (steps - coarse_steps + int(request.track_best)) * full)
    return max(request.candidates, 1) * judged, shown


def check_budget(request: TaskRequest, side: int) -> None:
    """Refuses a run whose canvas has a side outside the task's limits (16 to 1024 px), whose batch of pixels is
    over MAX_BATCH_PIXELS, or whose model passes (`run_cost`: every view, crop and candidate of every step) come to
    more than MAX_PASSES at BUDGET_SIDE px; each refusal says the figure. The app's worker and `run_recipe` (the
    CLI, replay) both call it, so a project's 100,000 steps are bounded as a recipe's are."""
    spec = get_task(request.task)
    h, w = spec.output_shape(request, side)
    low, high = spec.canvas_limits(side)
    if not (low <= h <= high and low <= w <= high):  # a 1 x 1 or 2048 x 16 canvas (#46): as the app and the CLI
        raise RobustPaintError(f"the run asks for a {w}x{h} canvas; a canvas's sides are {low} to {high:,} px")
    batch = max(request.candidates, 1)
    pixels = batch * h * w
    if pixels > MAX_BATCH_PIXELS:
        raise RobustPaintError(f"the run asks for {batch} image(s) of {w}x{h} pixels, more than one run may hold "
                               f"({MAX_BATCH_PIXELS:,} pixels in all); use fewer candidates or a smaller image")
    judged, shown = run_cost(request, side)
    if judged > MAX_STEP_PIXELS:
        unit = BUDGET_SIDE * BUDGET_SIDE
        raise RobustPaintError(f"the run asks for {request.steps or 1000:,} steps of {batch} image(s), each step "
                               f"judging {shown}: {judged / unit:,.0f} model passes at {BUDGET_SIDE}x{BUDGET_SIDE} "
                               f"px, more than one run may take ({MAX_PASSES:,}, about an hour on 2 CPU cores); use "
                               f"fewer steps, candidates or crops")


def request_from_recipe(recipe: dict) -> TaskRequest:
    check_recipe(recipe)
    values = {k: recipe[k] for k in _REQUEST_FIELDS if recipe.get(k) is not None}  # null: not given
    for key, old_value in _before(generic=False).items():
        values.setdefault(key, old_value)
    knobs = {**_before(generic=True), **{k.key: recipe[k.key] for k in KNOBS.values()
                                         if k.generic and recipe.get(k.key) is not None}}
    values["knobs"] = tuple(sorted(knobs.items()))
    for key in ("targets", "neurons"):
        if key in values:
            values[key] = tuple(int(v) for v in values[key])
    if "neuron_weights" in values:
        values["neuron_weights"] = tuple(float(v) for v in values["neuron_weights"])
    if "mix" in values and values["mix"] is not None:
        values["mix"] = (int(values["mix"][0]), float(values["mix"][1]))
    for key in _TENSOR_FIELDS:
        if key in recipe:
            values[key] = decode_image(recipe[key])
    if "mask" in values:
        values["mask"] = (values["mask"][:, :1] >= 0.5).float()
    if "change_mask" in values:
        values["change_mask"] = values["change_mask"][:, :1]
    if "anchor" in values and "image" in values and values["anchor"].shape[-2:] != values["image"].shape[-2:]:
        raise RobustPaintError("the recipe's anchor and image differ in size")
    if "class_map" in recipe:
        labels = (decode_image(recipe["class_map"])[0, 0] * 255).round().long() - 1
        values["region_masks"] = torch.stack([(labels == i).float() for i in range(len(values.get("targets", ())))])
    return TaskRequest(task=recipe["task"], **values)


def encode_class_map(regions: torch.Tensor) -> str:
    """K x H x W region masks as one gray PNG (0 = no class, i + 1 = region i), for the recipe."""
    labels = torch.zeros(regions.shape[-2:])
    for i, region in enumerate(regions):
        labels[region > 0.5] = i + 1
    return encode_image((labels / 255)[None, None])


def run_recipe(recipe: dict, device: str = "cpu", bundle: ModelBundle | None = None,
               progress: Callable[[int, float, tuple | None], None] | None = None) -> tuple[torch.Tensor, dict]:
    """Runs a recipe to the end; returns the images (N x 3 x H x W) and the recipe with the task's notes."""
    check_recipe(recipe)
    bundle = bundle or load_model_bundle(recipe.get("model"), device)
    expected = recipe.get("model_sha256")
    if expected and bundle.sha256 and expected != bundle.sha256:
        raise ModelError(f"the recipe was made with other weights of {recipe.get('model')!r} "
                         f"(sha256 {expected[:12]}..., installed {bundle.sha256[:12]}...)")
    request = request_from_recipe(recipe)
    model = bundle.model
    check_budget(request, model.input_size)
    from robustpaint.core.imageio import check_export_size
    # an app export's 2x-8x, which a replay writes again: a size the readers refuse is refused before the run
    check_export_size(*get_task(request.task).output_shape(request, model.input_size), recipe.get("export_scale") or 1)
    setup = build_task(model, request, bundle.seeds)
    optimizer = setup.optimizer(model)
    tuner = ThreadTuner(device=optimizer.x.device.type)
    target = request.targets[0] if request.targets else None  # the first image's class, for the progress line
    while not optimizer.done:
        result = tuner.step(optimizer.step)
        if progress is not None:
            reading = None
            if target is not None and 0 <= target < result.logits.shape[1]:
                reading = (model.classes[target], float(result.logits[0].softmax(0)[target]))
            progress(result.step, float(result.loss.mean()), reading)
    return optimizer.result().cpu(), {**recipe, **setup.notes}
