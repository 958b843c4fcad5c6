"""The model catalogue: the models shipped inside the package and the ones the user imported, found by name, and
their cards (JSON beside the weights). No torch here: `robustpaint models list` answers without loading it."""


from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from robustpaint.core.errors import ModelError
from robustpaint.core.paths import shipped_models_dir, user_models_dir

DEFAULT_MODEL = "imagenette_resnet18"  # paints 128-px photos; resnet18 and mobilenet_v2 paint 32-px CIFAR-10


@dataclass(frozen=True)
class ModelEntry:
    name: str
    weights: Path
    origin: str  # "shipped" or "imported"

    @property
    def card_path(self) -> Path:
        return self.weights.with_suffix(".json")

    @property
    def seeds_path(self) -> Path:
        return self.weights.with_name(self.weights.stem + ".seeds.safetensors")

    @property
    def role(self) -> str:
        """The card's role: "synthesis" (robust, for painting) unless the card says otherwise, e.g. "evaluator"
        (a standard classifier that only scores quality). A missing or damaged card reads as "synthesis" here; loading
        the model reports the damage."""
        import json
        try:
            card = json.loads(self.card_path.read_text())
        except (OSError, ValueError):
            return "synthesis"
        return card.get("role", "synthesis") if isinstance(card, dict) else "synthesis"


def _entries(folder: Path, origin: str) -> list[ModelEntry]:
    if not folder.is_dir():
        return []
    return [ModelEntry(p.stem, p, origin) for p in sorted(folder.glob("*.safetensors"))
            if not p.name.endswith(".seeds.safetensors")]


def list_models() -> list[ModelEntry]:
    """Shipped models first, then imported ones (an imported model may not shadow a shipped name)."""
    return _entries(shipped_models_dir(), "shipped") + _entries(user_models_dir(), "imported")


def find_model(name_or_path: str | None) -> ModelEntry:
    """A model by name, or by the path of a `.safetensors` file with its card beside it."""
    name = name_or_path or DEFAULT_MODEL
    path = Path(name)
    if path.suffix == ".safetensors" and path.is_file():
        return ModelEntry(path.stem, path, "file")
    entries = list_models()
    for entry in entries:
        if entry.name == name:
            return entry
    if not entries:
        raise ModelError(f"no model named {name!r}: no models are installed. Train one with 'robustpaint train' "
                         f"or import the authors' checkpoint with 'robustpaint models import PATH --name NAME'")
    raise ModelError(f"no model named {name!r}; available: {', '.join(e.name for e in entries)}")


CARD_VERSION = 1


def card_path(weights: str | Path) -> Path:
    return Path(weights).with_suffix(".json")


def read_card(path: str | Path) -> dict:
    """The card at `path`, every field the code reads of the type it reads it as (a card is a file anyone can edit:
    `classes: 10` must be one line here, not a TypeError wherever the field is used)."""
    path = Path(path)
    try:
        card = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise ModelError(f"model card not found: {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ModelError(f"model card {path} is unreadable: {exc}") from None
    if not isinstance(card, dict) or "arch" not in card or "classes" not in card:
        raise ModelError(f"model card {path} lacks 'arch' or 'classes'")
    version = card.get("card_version", 1)
    if _whole(version) and version > CARD_VERSION:
        raise ModelError(f"model card {path} is from a newer RobustPaint (version {card['card_version']})")
    for field, (fits, expected) in CARD_FIELDS.items():
        if field in card and not fits(card[field]):
            raise ModelError(f"model card {path} has an invalid {field} {_shown(card[field])} "
                             f"(expected {expected})")
    check_normalisation(card.get("mean"), card.get("std"), f"model card {path}")
    check_class_names(card["classes"], f"model card {path}")
    return card


def check_class_names(classes: list[str], source: str) -> None:
    """Refuses a class name that cannot be shown on one line (a newline, a tab, any control or invisible format
    character): it would break every line that names it, the CLI's list of written files among them (#46). Names
    that are paths (`../x`) are shown as they are; every writer cleans them into file names (paths.file_stem)."""
    for i, name in enumerate(classes):
        if not name.isprintable():
            raise ModelError(f"{source}: class {i} is named {_shown(name)}, which cannot be shown on one line "
                             f"(it holds a newline or another control character)")


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _shown(value) -> str:
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):  # complex numbers of a checkpoint's normaliser
        text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _shown_values(values) -> str:
    """A normaliser as given, its float32 noise left out ([0, 0.2, 0.2], not [0.0, 0.20000000298023224, ...])."""
    if isinstance(values, (list, tuple)) and all(isinstance(v, (int, float)) for v in values):
        text = "[" + ", ".join(f"{v:g}" for v in values) + "]"
        return text if len(text) <= 40 else text[:37] + "..."
    return _shown(values)


def _class_names(value) -> bool:
    return (isinstance(value, list) and len(value) > 0 and all(isinstance(c, str) and c for c in value)
            and len(set(value)) == len(value))


CARD_FIELDS = {  # field: (its check, what it should be); fields not listed are free-form notes
    "card_version": (lambda v: _whole(v) and v >= 1, "a whole number from 1"),
    "arch": (lambda v: isinstance(v, str) and bool(v), "an architecture's name"),
    "classes": (_class_names, "a list of distinct class names"),
    "input_size": (lambda v: _whole(v) and 8 <= v <= 1024, "a side of 8 to 1024 pixels"),
    **{name: (lambda v: isinstance(v, str), "text")
       for name in ("name", "dataset", "role", "weights_file", "weights_sha256", "weights_dtype")},
    "robust": (lambda v: isinstance(v, bool), "true or false"),
    "accuracy": (lambda v: isinstance(v, dict), "an object of accuracies"),
    "evaluations": (lambda v: isinstance(v, list) and all(isinstance(e, dict) for e in v), "a list of objects"),
    "recipe": (lambda v: isinstance(v, dict), "an object"),
    "neuron_classes": (lambda v: isinstance(v, list), "a list"),
}


def check_normalisation(mean, std, source: str) -> tuple[list[float] | None, list[float] | None]:
    """The normaliser's mean and std as lists of 3 finite numbers, std above 0 (None: not given, the layout's own).
    The one check of a model's normalisation, for cards and imported checkpoints alike: std 0 or NaN makes every
    logit NaN, 5 channels fail on every RGB image."""
    for label, values in (("mean", mean), ("std", std)):
        if values is None:  # not given: the layout's own
            continue
        if (not isinstance(values, (list, tuple)) or len(values) != 3 or not all(map(_number, values))
                or (label == "std" and not all(v > 0 for v in values))):
            need = "3 finite numbers above 0" if label == "std" else "3 finite numbers"
            raise ModelError(f"{source}: the normaliser's {label} should be {need} (one per RGB channel), "
                             f"not {_shown_values(values)}")
    return (None if mean is None else [float(v) for v in mean]), (None if std is None else [float(v) for v in std])


def accuracy_summary(card: dict) -> str:
    """The card's measured accuracies in one line ("clean 80.8%, robust_... 70.6%"), or "not evaluated"."""
    acc = card.get("accuracy", {})
    figures = ", ".join(f"{k} {v * 100:.1f}%" for k, v in acc.items() if isinstance(v, (int, float)))
    return figures or "not evaluated"
