"""Recipes: JSON-able descriptions of one synthesis run, stored in every output PNG so it can be replayed.

The CLI turns its arguments into a recipe and runs it; `replay` runs the recipe read from a PNG. Input images and
masks travel inside the recipe as PNG bytes, so a replay needs nothing but the model.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable

import numpy as np
import torch
from PIL import Image

from robustpaint import __version__
from robustpaint.core.errors import ModelError, RobustPaintError
from robustpaint.core.models.checkpoint import load_model
from robustpaint.core.models.store import find_model
from robustpaint.core.seeds import ClassSeeds
from robustpaint.core.tasks import TaskRequest, build_task

RECIPE_VERSION = 1
_TENSOR_FIELDS = ("image", "mask", "change_mask")  # change_mask: the strength map, gray levels kept
_REQUEST_FIELDS = ("targets", "neurons", "neuron_weights", "eps", "step_size", "steps", "norm", "lam", "activation_weight", "factor",
                   "temperature", "mix", "candidates", "size", "seed", "bf16", "track_best", "fill", "consistent", "keep_photo")


def encode_image(t: torch.Tensor) -> str:
    """A 1 x C x H x W tensor in [0,1] as base64 PNG (8 bits, lossless for 8-bit inputs)."""
    arr = t[0].clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).numpy()
    img = Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr, "L" if arr.shape[2] == 1 else "RGB")
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def decode_image(text: str) -> torch.Tensor:
    try:
        img = Image.open(io.BytesIO(base64.b64decode(text, validate=True)))
        arr = np.asarray(img)
    except Exception as exc:  # noqa: BLE001 - any damage becomes our error
        raise RobustPaintError(f"the recipe holds a damaged image ({type(exc).__name__})") from None
    if arr.ndim == 2:
        arr = arr[..., None]
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).float().div(255).unsqueeze(0)


# Recipes written before these fields existed replay with the behaviour of that time.
_FIELDS_BEFORE_THEY_EXISTED = {"fill": "mean", "consistent": False}


def make_recipe(task: str, model_name: str, model_sha256: str, **fields) -> dict:
    if task == "inpaint":
        fields.setdefault("fill", TaskRequest.fill)
    if task == "superres":
        fields.setdefault("consistent", TaskRequest.consistent)
    recipe = {"recipe_version": RECIPE_VERSION, "robustpaint": __version__, "task": task, "model": model_name,
              "model_sha256": model_sha256}
    for key, value in fields.items():
        if value is None:
            continue
        recipe[key] = encode_image(value) if key in _TENSOR_FIELDS else value
    return recipe


def request_from_recipe(recipe: dict) -> TaskRequest:
    if not isinstance(recipe.get("task"), str):
        raise RobustPaintError("the recipe names no task")
    if recipe.get("recipe_version", 1) > RECIPE_VERSION:
        raise RobustPaintError("the recipe comes from a newer RobustPaint")
    values = {k: recipe[k] for k in _REQUEST_FIELDS if k in recipe}
    for key, old_value in _FIELDS_BEFORE_THEY_EXISTED.items():
        values.setdefault(key, old_value)
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


def load_model_bundle(name: str | None, device: str = "cpu"):
    """(model, card, seeds or None, entry) for a model name or path."""
    entry = find_model(name)
    model, card = load_model(entry.weights)
    seeds = ClassSeeds.load(entry.seeds_path) if entry.seeds_path.is_file() else None
    return model.to(device), card, seeds, entry


def run_recipe(recipe: dict, device: str = "cpu", model_bundle=None,
               progress: Callable[[int, float], None] | None = None) -> tuple[torch.Tensor, dict]:
    """Runs a recipe to the end; returns the images (N x 3 x H x W) and the recipe with the task's notes."""
    model, card, seeds, _ = model_bundle or load_model_bundle(recipe.get("model"), device)
    expected = recipe.get("model_sha256")
    if expected and card.get("weights_sha256") and expected != card["weights_sha256"]:
        raise ModelError(f"the recipe was made with other weights of {recipe.get('model')!r} "
                         f"(sha256 {expected[:12]}..., installed {card['weights_sha256'][:12]}...)")
    request = request_from_recipe(recipe)
    setup = build_task(model, request, seeds)
    optimizer = setup.optimizer(model)
    for result in optimizer.run():
        if progress is not None:
            progress(result.step, float(result.loss.mean()))
    return optimizer.result().cpu(), {**recipe, **setup.notes}
