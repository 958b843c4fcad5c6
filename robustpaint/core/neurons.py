"""The neuron browser's data: what each representation unit draws, and the classes it feeds most.

A unit's thumbnail is a feature visualisation by PGD (the paper's recipe): start from a gray image and raise that
unit's activation (through the fake ReLU) inside a wide L2 ball. Thumbnails are cached per model in the user cache
folder, keyed by the weights' sha256 and the recipe; a cache made from other weights, another recipe or a damaged
file is rebuilt, never trusted. A cache shipped beside the models (`resources/neurons/<model>/`, checked the same
way) would serve the units it holds without drawing them; none ships yet (`robustpaint neurons --model NAME` makes
one in the user cache, to be copied there).

A model's 512 units take minutes to draw on a CPU, so the app fills its browser with `ThumbnailFill`: a few units at
a time, in the order the browser asks for (the units in view first), with a preview of the units being drawn, and
the cache saved after every batch so that a fill stopped half-way continues where it stopped.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from robustpaint.core import objectives as obj
from robustpaint.core.atomic import atomic_path
from robustpaint.core.errors import RobustPaintError
from robustpaint.core.models import REPRESENTATION
from robustpaint.core.paths import file_stem, resources_dir, user_cache_dir
from robustpaint.core.pgd import PGDConfig, PGDOptimizer


THUMBNAIL_MAX_SIDE = 64  # thumbnails of photo models are drawn at 64 px: a quarter of the pixels of 128, and enough

# Units drawn together by the app's fill. The first batch is small: its pictures come twice as soon as those of 16
# (ResNet-18 at 64 px on 2 cores: 8 units take 0.35 s a step, 16 take 0.54 s, the medians of 52 interleaved steps).
# Then 16: a unit costs 44 ms a step in a batch of 8, 34 ms in one of 16 (30 ms in one of 32, but a scroll would wait
# for a batch twice as long before its units are drawn).
FIRST_BATCH = 8
FILL_BATCH = 16


def shipped_neurons_dir() -> Path:
    """Thumbnail caches shipped with the models (read-only): `resources/neurons/<model>/thumbnails.safetensors`."""
    return resources_dir() / "neurons"


@dataclass(frozen=True)
class ThumbnailRecipe:
    """Feature visualisation settings, eps and step given for 32 px (the paper's eps 40 / step 1 at 224 px, divided
    by 7) and scaled with the side for larger thumbnails."""

    eps: float = 6.0
    step_size: float = 0.5
    steps: int = 40
    gray: float = 0.5
    size: int = 32

    @classmethod
    def for_model(cls, model) -> "ThumbnailRecipe":
        return cls(size=min(model.input_size, THUMBNAIL_MAX_SIDE))

    def key(self) -> str:
        side = "" if self.size == 32 else f"-side{self.size}"  # 32-px caches made before sizes existed stay valid
        return f"eps{self.eps:g}-step{self.step_size:g}-n{self.steps}-gray{self.gray:g}{side}"


def strongest_classes(head: torch.nn.Linear, classes: list[str], k: int = 3) -> list[list[str]]:
    """For each representation unit, the `k` classes its final-layer weights feed most (for the neuron pickers)."""
    top = head.weight.detach().float().t().topk(min(k, len(classes)), dim=1).indices
    return [[classes[i] for i in row] for row in top.tolist()]


def check_units(model, units) -> list[int]:
    size = model.representation_size
    units = [int(u) for u in units]
    bad = [u for u in units if not 0 <= u < size]
    if bad:
        raise RobustPaintError(f"neuron {bad[0]} out of range (the representation has {size} units, 0-{size - 1})")
    return units


def visualise(model, units: list[int], recipe: ThumbnailRecipe = ThumbnailRecipe(), size: int | None = None,
              bf16: bool = False) -> torch.Tensor:
    """One image per unit (N x 3 x size x size in [0,1], the recipe's size by default) that drives that unit up, all
    units in one batch."""
    optimizer = thumbnail_optimizer(model, units, recipe, size, bf16)
    for _ in optimizer.run():
        pass
    return optimizer.x.detach().float().contiguous()


def thumbnail_optimizer(model, units: list[int], recipe: ThumbnailRecipe = ThumbnailRecipe(), size: int | None = None,
                        bf16: bool = False) -> PGDOptimizer:
    """The PGD run that draws `units`' thumbnails, to be stepped by the caller (the app's worker interleaves its
    steps with synthesis, so a run never waits for a whole batch of thumbnails)."""
    units = check_units(model, units)
    size = size or recipe.size
    index = torch.tensor(units)
    start = torch.full((len(units), 3, size, size), recipe.gray, device=next(model.parameters()).device)

    def each_unit(x, logits, acts):
        rep = acts[REPRESENTATION].float()
        return -rep[torch.arange(len(units)), index.to(rep.device)]

    objective = obj.Objective(each_unit, "one unit per image", frozenset({REPRESENTATION}), fake_relu=True)
    scale = size / 32  # L2 radii grow with the side
    config = PGDConfig(eps=recipe.eps * scale, step_size=recipe.step_size * scale, steps=recipe.steps, bf16=bf16)
    return PGDOptimizer(model, objective, start, config)


@torch.no_grad()
def activations(model, images: torch.Tensor) -> torch.Tensor:
    """The representation (N x units) of a batch of images."""
    with model.capture([REPRESENTATION]) as acts:
        model(images)
    return acts[REPRESENTATION].float().flatten(1)


class NeuronCache:
    """Thumbnails of one model's units on disk: `<cache>/neurons/<name>/thumbnails.safetensors`.

    The file's metadata holds the weights' sha256 and the recipe; on any mismatch or damage the cache starts empty.
    """

    def __init__(self, model, model_name: str, weights_sha256: str, recipe: ThumbnailRecipe | None = None,
                 folder: Path | None = None, bf16: bool = False, shipped: Path | None = None):
        self.model, self.recipe, self.sha = model, recipe or ThumbnailRecipe.for_model(model), weights_sha256
        self.bf16 = bf16  # other pixels than fp32: a file of their own, so neither precision serves the other's
        name = f"thumbnails{'-bf16' if bf16 else ''}.safetensors"
        self.path = (folder or user_cache_dir() / "neurons") / file_stem(model_name) / name
        self.shipped_path = (shipped or shipped_neurons_dir()) / file_stem(model_name) / name
        self.thumbnails: dict[int, torch.Tensor] = {}
        self.rebuilt_because: str | None = None
        # A shipped cache of other weights or settings is passed over in silence: it is not the user's to rebuild.
        self.thumbnails.update(self._load(self.shipped_path)[0])
        mine, self.rebuilt_because = self._load(self.path)
        self.thumbnails.update(mine)

    def _load(self, path: Path) -> tuple[dict[int, torch.Tensor], str | None]:
        """The thumbnails of the cache file at `path` ({} when there is none), and why it was not used, if it was
        not."""
        if not path.is_file():
            return {}, None
        try:
            from safetensors import safe_open
            with safe_open(str(path), "pt") as f:
                meta = f.metadata() or {}
            tensors = load_file(str(path))
        except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
            return {}, f"damaged cache ({type(exc).__name__})"
        if meta.get("weights_sha256") != self.sha:
            return {}, "the cache was made from other weights"
        if meta.get("recipe") != self.recipe.key():
            return {}, "the cache was made with other settings"
        units = tensors.get("units")
        images = tensors.get("images")
        if units is None or images is None or images.dtype != torch.uint8 or len(units) != len(images):
            return {}, "damaged cache (wrong contents)"
        return {int(u): img for u, img in zip(units.tolist(), images)}, None

    def _write(self) -> None:
        units = sorted(self.thumbnails)
        tensors = {"units": torch.tensor(units, dtype=torch.int64),
                   "images": torch.stack([self.thumbnails[u] for u in units]).contiguous()}
        meta = {"weights_sha256": self.sha, "recipe": self.recipe.key()}
        with atomic_path(self.path) as tmp:
            save_file(tensors, str(tmp), metadata=meta)

    def check_writable(self) -> None:
        """Refuses, in one line, a cache folder that cannot be written (a file in its place, a read-only disk, no
        permission), before any thumbnail is drawn: found only at the first save, it cost the 40-50 s of the first
        batch. The folder is made (it is the cache's own) and a file is created in it and removed."""
        import tempfile
        folder = self.path.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=folder):
                pass
        except OSError as exc:
            raise RobustPaintError(f"cannot write the neuron cache in {folder}: {exc.strerror or exc} (set "
                                   f"ROBUSTPAINT_CACHE_DIR to a folder that can be written)") from None

    def add(self, units: list[int], images: torch.Tensor) -> dict[int, torch.Tensor]:
        """Stores thumbnails drawn for `units` (N x 3 x H x W in [0,1]) and saves the cache (atomically: a fill
        stopped at any moment leaves the batches saved before); returns them as uint8."""
        for u, img in zip(units, images):
            self.thumbnails[u] = to_uint8(img)
        self._write()
        return {u: self.thumbnails[u] for u in units}

    def get(self, units, progress: Callable[[int, int], None] | None = None,
            batch: int = 32) -> dict[int, torch.Tensor]:
        """Thumbnails (3 x H x W uint8) of `units`, computing the missing ones in batches (in the cache's precision)
        and saving them."""
        units = check_units(self.model, units)
        missing = [u for u in units if u not in self.thumbnails]
        if missing:
            self.check_writable()
        for start in range(0, len(missing), batch):
            chunk = missing[start:start + batch]
            self.add(chunk, visualise(self.model, chunk, self.recipe, bf16=self.bf16))
            if progress is not None:
                progress(min(start + batch, len(missing)), len(missing))
        return {u: self.thumbnails[u] for u in units}


def to_uint8(image: torch.Tensor) -> torch.Tensor:
    return (image.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).cpu()


def preview(x: torch.Tensor, recipe: ThumbnailRecipe, eps: float) -> torch.Tensor:
    """Thumbnails still being drawn (N x 3 x H x W in [0,1]) as uint8 previews: each image's change from gray
    stretched to the ball's radius, which the finished picture reaches. The first steps change little (a gray
    square), but their direction already shows the unit's colours; an image at the radius is shown as it is."""
    change = x.detach().float() - recipe.gray
    norm = change.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *[1] * (x.dim() - 1))
    return to_uint8(recipe.gray + change * (eps / norm).clamp_min(1.0))


class ThumbnailFill:
    """Draws the thumbnails `cache` lacks, `batch` units at a time (`first_batch` the first time, to show them
    sooner), one PGD step per `step()` (the app's worker interleaves them with its runs), in the order asked for:
    `prefer(units)` puts those units first from the next batch on (the browser sends the units in view, then those
    after them). Each finished batch is saved to the cache, so stopping (dropping this object) loses at most the
    batch being drawn."""

    def __init__(self, cache: "NeuronCache", todo: list[int] | None = None, batch: int = FILL_BATCH,
                 first_batch: int = FIRST_BATCH):
        self.cache, self.batch, self.next_batch = cache, batch, first_batch
        units = range(cache.model.representation_size) if todo is None else check_units(cache.model, todo)
        self.todo = [u for u in units if u not in cache.thumbnails]
        self.units: list[int] = []  # the batch being drawn
        self.run: PGDOptimizer | None = None
        if self.todo:
            cache.check_writable()  # a cache that cannot be saved says so before any drawing, not after a batch

    @property
    def ready(self) -> bool:
        return bool(self.todo) or self.run is not None

    def prefer(self, units) -> None:
        """Draws `units` (those not drawn yet, in this order) before the others, from the next batch on."""
        waiting = set(self.todo)
        first = [u for u in dict.fromkeys(int(u) for u in units) if u in waiting]
        chosen = set(first)
        self.todo = first + [u for u in self.todo if u not in chosen]

    def step(self) -> dict[int, torch.Tensor] | None:
        """One step of the batch being drawn (starting the next one first if none is); its thumbnails {unit: 3 x H x
        W uint8} once it is done (saved to the cache), else None."""
        if self.run is None:
            size, self.next_batch = self.next_batch, self.batch
            self.units, self.todo = self.todo[:size], self.todo[size:]
            self.run = thumbnail_optimizer(self.cache.model, self.units, self.cache.recipe, bf16=self.cache.bf16)
        self.run.step()
        if not self.run.done:
            return None
        thumbs = self.cache.add(self.units, self.run.x)
        self.run, self.units = None, []
        return thumbs

    def previews(self) -> dict[int, torch.Tensor]:
        """The batch being drawn, as it is now ({unit: 3 x H x W uint8}, see `preview`; {} between batches)."""
        if self.run is None or not self.run.steps_done:
            return {}
        return dict(zip(self.units, preview(self.run.x, self.cache.recipe, self.run.config.eps)))


def neuron_index(model, units: list[int], thumbnails: dict[int, torch.Tensor], k: int = 3) -> list[dict]:
    """Per unit: its strongest classes and how much its thumbnail raises it over a gray image."""
    units = check_units(model, units)
    strongest = strongest_classes(model.head, model.classes, k)
    thumbs = torch.stack([thumbnails[u] for u in units]).float() / 255
    gray = activations(model, torch.full((1, *thumbs.shape[1:]), ThumbnailRecipe().gray))[0]
    acts = activations(model, thumbs)
    return [{"unit": u, "strongest_classes": strongest[u], "activation_gray": round(float(gray[u]), 4),
             "activation_thumbnail": round(float(acts[i, u]), 4)} for i, u in enumerate(units)]


def write_index(path: Path, entries: list[dict], model_name: str, sha: str,
                recipe_key: str = ThumbnailRecipe().key()) -> None:
    from robustpaint.core.atomic import atomic_write_text
    atomic_write_text(path, json.dumps({"model": model_name, "weights_sha256": sha, "recipe": recipe_key,
                                        "neurons": entries}, indent=1) + "\n")
