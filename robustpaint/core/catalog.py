"""The model catalogue: the models shipped inside the package and the ones the user imported, found by name, and
their cards (JSON beside the weights). No torch here: `robustpaint models list` answers without loading it."""


from __future__ import annotations

import json
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
    path = Path(path)
    try:
        card = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise ModelError(f"model card not found: {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"model card {path} is unreadable: {exc}") from None
    if not isinstance(card, dict) or "arch" not in card or "classes" not in card:
        raise ModelError(f"model card {path} lacks 'arch' or 'classes'")
    if card.get("card_version", 1) > CARD_VERSION:
        raise ModelError(f"model card {path} is from a newer RobustPaint (version {card['card_version']})")
    return card


def accuracy_summary(card: dict) -> str:
    """The card's measured accuracies in one line ("clean 80.8%, robust_... 70.6%"), or "not evaluated"."""
    acc = card.get("accuracy", {})
    figures = ", ".join(f"{k} {v * 100:.1f}%" for k, v in acc.items() if isinstance(v, (int, float)))
    return figures or "not evaluated"
