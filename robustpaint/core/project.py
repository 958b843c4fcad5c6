"""Project files (`.rpaint`): the image, mask, strokes, parameters and model reference of one painting session.

A zip with fixed member names, read without extracting anything and without pickle: `project.json` (format
version, model name and weights hash, task and parameters, the stroke log, the last run's recipe), `image.npy` and
`mask.npy` (float32, loaded with `allow_pickle=False`, so PGD results keep their full precision) and `preview.png`
for file browsers. Writes are atomic; any damage is a `ProjectError` with one line that says what is wrong.
"""

from __future__ import annotations

import io
import json
import tokenize
import zipfile
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from robustpaint.core.atomic import atomic_path
from robustpaint.core.errors import RobustPaintError
from robustpaint.core.tasks.knobs import FEATURE_SLIDERS, KNOBS, MAX_UNIT, REGION_SLOTS, generic_knobs  # noqa: F401

FORMAT = "robustpaint-project"
FORMAT_VERSION = 2  # 2: a sketch layer (sketch.npy) or pen pressure in strokes; 1 is written without them
SUFFIX = ".rpaint"
MEMBERS = ("project.json", "image.npy", "mask.npy")
MAX_MEMBER_BYTES = 256 * 1024 * 1024  # refuse zip bombs before inflating them
MAX_SIDE = 8192
MAX_STROKES = 100_000  # strokes a project may log: 300,000 took 47 s to load (#46); a day's painting is a few thousand
CHUNK = 1 << 20  # a member is inflated this much at a time, never past the size its header claims
# What malformed content raises in the readers a project goes through (zipfile, zlib, json, numpy, whose header
# parser raises SyntaxError and tokenize's TokenError, the checks of its fields; RecursionError is a RuntimeError):
# `_damaged` turns these, and only these, into a ProjectError.
DAMAGE = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, OSError, EOFError, ValueError, TypeError,
          OverflowError, KeyError, IndexError, AttributeError, NotImplementedError, RuntimeError, MemoryError,
          SyntaxError, tokenize.TokenError)


class ProjectError(RobustPaintError):
    """A project file that cannot be read or written."""


@dataclass
class Project:
    image: np.ndarray  # H x W x 3 float32 in [0,1]
    mask: np.ndarray  # H x W float32 in {0,1}
    model: str = ""
    model_sha256: str = ""
    task: str = "generate"
    parameters: dict = field(default_factory=dict)
    strokes: list = field(default_factory=list)  # [{"points": [[x, y], ...], "brush": {...}}, ...]
    last_recipe: dict | None = None
    regions: np.ndarray | None = None  # H x W class slots (-1 none); optional member regions.npy
    strength: np.ndarray | None = None  # H x W in [0,1]; optional member strength.npy
    sketch: np.ndarray | None = None  # H x W x 3 in [0,1], the user's sketch under the result; member sketch.npy
    # `parameters` as the app's panel takes them, checked: set by load_project (saving writes `parameters`)
    task_parameters: "TaskParameters | None" = field(default=None, compare=False, repr=False)


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array, dtype=np.float32), allow_pickle=False)
    return buffer.getvalue()


def _version_needed(project: Project) -> int:
    """2 for a sketch layer or a pen's pressure in the strokes; else 1, which older versions of the app open."""
    pen = any(isinstance(stroke, dict) and isinstance(stroke.get("points"), list)
              and any(isinstance(point, list) and len(point) > 2 for point in stroke["points"])
              for stroke in project.strokes)
    return FORMAT_VERSION if project.sketch is not None or pen else 1


def save_project(project: Project, path: str | Path) -> None:
    """Writes the project atomically: the previous file stays intact until the new one is complete. Of a stroke log
    longer than MAX_STROKES the newest are kept (the log is history: the layers hold the picture), so that every
    project saved opens again."""
    path = Path(path)
    meta = {"format": FORMAT, "version": _version_needed(project), "model": project.model,
            "model_sha256": project.model_sha256, "task": project.task, "parameters": project.parameters,
            "strokes": project.strokes[-MAX_STROKES:], "last_recipe": project.last_recipe}
    preview = io.BytesIO()
    Image.fromarray((np.clip(project.image, 0, 1) * 255 + 0.5).astype(np.uint8), "RGB").save(preview, "PNG")
    try:
        with atomic_path(path) as tmp:
            with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
                archive.writestr("project.json", json.dumps(meta, indent=1, sort_keys=True))
                archive.writestr("image.npy", _npy_bytes(project.image))
                archive.writestr("mask.npy", _npy_bytes(project.mask))
                archive.writestr("preview.png", preview.getvalue())
                if project.regions is not None:
                    archive.writestr("regions.npy", _npy_bytes(project.regions))
                if project.strength is not None:
                    archive.writestr("strength.npy", _npy_bytes(project.strength))
                if project.sketch is not None:
                    archive.writestr("sketch.npy", _npy_bytes(project.sketch))
    except OSError as exc:
        raise ProjectError(f"cannot write {path}: {exc.strerror or exc}") from None


@contextmanager
def _damaged(path: Path, what: str):
    """The one place where malformed content becomes a ProjectError: whatever a reader raises on bad bytes or a
    field of the wrong type or size (DAMAGE), said as `path is damaged: what (the reader's words)`."""
    try:
        yield
    except DAMAGE as exc:
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        raise ProjectError(f"{path} is damaged: {what} ({detail:.300})") from None


def _read_member(archive: zipfile.ZipFile, name: str, path: Path) -> bytes:
    """The member's bytes, inflated a chunk at a time and never past the size the zip's directory claims (a
    deflate stream of 1 MB can inflate to 1 GB: zipfile's read() would inflate all of it before the CRC check)."""
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise ProjectError(f"{path} is damaged: it has no {name}") from None
    if info.file_size > MAX_MEMBER_BYTES:
        raise ProjectError(f"{path} is damaged: {name} claims {info.file_size:,} bytes")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):  # others inflate without a bound
        raise ProjectError(f"{path} is damaged: {name} is compressed with method {info.compress_type}, "
                           f"not stored or deflated as RobustPaint writes it")
    chunks, inflated = [], 0
    with _damaged(path, f"cannot read {name}"), archive.open(info) as member:
        while chunk := member.read(min(CHUNK, info.file_size + 1 - inflated)):
            chunks.append(chunk)
            inflated += len(chunk)
            if inflated > info.file_size:
                raise ProjectError(f"{path} is damaged: {name} holds more than the {info.file_size:,} bytes "
                                   f"its header claims")
    return b"".join(chunks)


def _array(data: bytes, name: str, path: Path, ndim: int) -> np.ndarray:
    with _damaged(path, f"{name} is not an array"):
        array = np.load(io.BytesIO(data), allow_pickle=False)
    if array.ndim != ndim or array.dtype.kind != "f" or max(array.shape[:2], default=0) > MAX_SIDE or 0 in array.shape:
        raise ProjectError(f"{path} is damaged: {name} has shape {array.shape} and type {array.dtype}")
    if not np.isfinite(array).all():
        raise ProjectError(f"{path} is damaged: {name} holds NaN or infinite values")
    return array.astype(np.float32)


def load_project(path: str | Path) -> Project:
    """The project, every field checked (so the app can show it whole: parameters in `task_parameters`, strokes as
    the document logs them), or a ProjectError with one line: a damaged file of any kind is nothing else."""
    path = Path(path)
    if not path.is_file():
        raise ProjectError(f"project file not found: {path}")
    try:
        archive = zipfile.ZipFile(path)
    except DAMAGE as exc:
        raise ProjectError(f"{path} is not a RobustPaint project ({exc})") from None
    with archive, _damaged(path, "cannot read it"):
        return _load(archive, path)


def _load(archive: zipfile.ZipFile, path: Path) -> Project:
    from robustpaint.core.document import checked_stroke
    for info in archive.infolist():  # nothing is extracted, but a crafted archive is refused outright
        name = info.filename
        if name.startswith(("/", "\\")) or ".." in Path(name).parts or ":" in name:
            raise ProjectError(f"{path} is damaged: member {name!r} points outside the project")
    with _damaged(path, "project.json is not JSON"):  # RecursionError: nested thousands deep
        meta = json.loads(_read_member(archive, "project.json", path))
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ProjectError(f"{path} is not a RobustPaint project")
    version = meta.get("version")
    if not isinstance(version, int) or version < 1:
        raise ProjectError(f"{path} is damaged: format version {version!r}")
    if version > FORMAT_VERSION:
        raise ProjectError(f"{path} was saved by a newer RobustPaint (project format {version}); "
                           f"this version reads format {FORMAT_VERSION}: please update")
    image = _array(_read_member(archive, "image.npy", path), "image.npy", path, 3)
    mask = _array(_read_member(archive, "mask.npy", path), "mask.npy", path, 2)
    names = set(archive.namelist())
    regions = (_array(_read_member(archive, "regions.npy", path), "regions.npy", path, 2)
               if "regions.npy" in names else None)
    strength = (_array(_read_member(archive, "strength.npy", path), "strength.npy", path, 2)
                if "strength.npy" in names else None)
    sketch = _array(_read_member(archive, "sketch.npy", path), "sketch.npy", path, 3) if "sketch.npy" in names else None
    for name, layer in (("mask", mask), ("regions", regions), ("strength", strength), ("sketch", sketch)):
        if layer is not None and (image.shape[2] != 3 or layer.shape[:2] != image.shape[:2]
                                  or layer.shape[2:] not in ((), (3,))):
            raise ProjectError(f"{path} is damaged: image {image.shape} and {name} {layer.shape} do not match")
    strokes = meta.get("strokes", [])
    parameters = meta.get("parameters", {})
    recipe = meta.get("last_recipe")
    texts = [meta.get(key, default) for key, default in (("model", ""), ("model_sha256", ""), ("task", "generate"))]
    if not isinstance(strokes, list) or not isinstance(parameters, dict) or not isinstance(recipe, (dict, type(None))) \
            or not all(isinstance(text, str) for text in texts):
        raise ProjectError(f"{path} is damaged: project.json has fields of the wrong type")
    model, model_sha256, task = texts
    if len(strokes) > MAX_STROKES:
        raise ProjectError(f"{path} logs {len(strokes):,} strokes, more than the {MAX_STROKES:,} a project may hold")
    checked = []
    for number, stroke in enumerate(strokes, 1):
        with _damaged(path, f"its stroke {number} is not one the app logs"):
            checked.append(checked_stroke(stroke))
    return Project(image=image.clip(0, 1), mask=(mask > 0.5).astype(np.float32), model=model,
                   model_sha256=model_sha256, task=task, parameters=parameters, strokes=checked, last_recipe=recipe,
                   regions=None if regions is None else np.round(regions).clip(-1, 32767).astype(np.int16),
                   strength=None if strength is None else strength.clip(0, 1),
                   sketch=None if sketch is None else sketch.clip(0, 1),
                   task_parameters=TaskParameters.from_dict(task, parameters, str(path)))


def _within(value, low: float, high: float) -> bool:
    """low <= value <= high, compared exactly: NaN, infinities and an int too big for a float (JSON holds 10**400)
    are outside, not an OverflowError."""
    return low <= value <= high


def _said(value) -> str:
    """A value for a message: a 400-digit number shortened."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:20]}... ({len(text)} characters)"


@dataclass(frozen=True)
class TaskParameters:
    """The app's task panel as one frozen value: what a run is asked for besides the canvas, and what a project
    file keeps (`to_dict` / `from_dict` are the project's "parameters" member; classes are kept by name, so a
    project opens with another model's class list)."""

    task: str = "generate"
    class_name: str = ""
    keep_photo: bool = True
    features: tuple[tuple[int, float], ...] = ((0, 1.0), (1, 0.0), (2, 0.0))  # (unit, strength); 0 = unused
    region_classes: tuple[str, ...] = ()
    candidates: int = 1
    temperature: float = 1.0
    spread: float = 0.0
    mix_class: str = ""  # "" = no mix
    mix_weight: float = 0.5
    eps: float = 1.0
    step_size: float = 0.1
    steps: int = 60
    lam: float = 10.0
    seed: int = 0
    factor: int = 4
    knobs: tuple[tuple[str, object], ...] = ()  # the generic knobs' values (knobs.py), by name

    def knob(self, name: str):
        """A generic knob's value, or its default."""
        return dict(self.knobs).get(name, KNOBS[name].default)

    def to_dict(self) -> dict:
        return {"class": self.class_name, "neuron": self.features[0][0] if self.features else 0,
                "keep_photo": self.keep_photo, "eps": self.eps, "step_size": self.step_size, "steps": self.steps,
                "lam": self.lam, "seed": self.seed, "factor": self.factor, "temperature": self.temperature,
                "spread": self.spread, "candidates": self.candidates, "mix": [self.mix_class, self.mix_weight],
                "region_classes": list(self.region_classes), "features": [list(f) for f in self.features],
                **dict(self.knobs)}

    @classmethod
    def from_dict(cls, task: str, values: dict, source: str = "the project") -> "TaskParameters":
        """A project's parameters. A value of the wrong type is left at its default (a project from an older version,
        or edited by hand, still opens); a number outside the app's range is refused with a `ProjectError`, before
        the caller changes anything."""
        default = cls()
        picked: dict = {"task": task}

        def number(name):
            knob = KNOBS[name]
            value = values.get(knob.key)
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                return
            if not _within(value, knob.low, knob.high):
                raise ProjectError(f"{source} is damaged: its {knob.key} {_said(value)} is outside "
                                   f"{knob.low:g}..{knob.high:g}")
            picked[knob.key] = int(value) if knob.kind == "int" else float(value)

        for name in ("eps", "step", "steps", "lam", "seed", "temperature", "spread", "candidates", "factor"):
            number(name)
        generic = []
        for knob in generic_knobs(KNOBS):
            if knob.key in values:
                try:
                    generic.append((knob.key, knob.check(values[knob.key], source)))
                except RobustPaintError as exc:
                    raise ProjectError(f"{source} is damaged: {exc}") from None
        picked["knobs"] = tuple(generic)
        if isinstance(values.get("class"), str):
            picked["class_name"] = values["class"][:200]
        if isinstance(values.get("keep_photo"), bool):
            picked["keep_photo"] = values["keep_photo"]
        mix, mix_knob = values.get("mix"), KNOBS["mix"]
        if isinstance(mix, list) and len(mix) == 2 and isinstance(mix[0], str) and isinstance(mix[1], (int, float)) \
                and not isinstance(mix[1], bool):
            if not _within(mix[1], mix_knob.low, mix_knob.high):
                raise ProjectError(f"{source} is damaged: its mix weight {_said(mix[1])} is outside "
                                   f"{mix_knob.low:g}..{mix_knob.high:g}")
            picked["mix_class"], picked["mix_weight"] = mix[0][:200], float(mix[1])
        regions = values.get("region_classes")
        if isinstance(regions, list):
            picked["region_classes"] = tuple(r[:200] for r in regions[:REGION_SLOTS] if isinstance(r, str))
        features = values.get("features")
        if isinstance(features, list):
            chosen = []
            for f in features[:FEATURE_SLIDERS]:
                if not (isinstance(f, list) and len(f) == 2
                        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in f)):
                    continue
                if not (_within(f[0], 0, MAX_UNIT) and _within(f[1], -2, 2)):
                    raise ProjectError(f"{source} is damaged: its feature {_said(f)} is outside units 0..{MAX_UNIT}, "
                                       f"strengths -2..2")
                chosen.append((int(f[0]), float(f[1])))
            picked["features"] = tuple(chosen)
        elif isinstance(values.get("neuron"), int) and 0 <= values["neuron"] <= MAX_UNIT:
            picked["features"] = ((values["neuron"], 1.0),) + default.features[1:]
        return cls(**picked)
