"""A model as the tasks use it: the network, its card, its generation seeds (if it ships any) and where it lives."""

from __future__ import annotations

from dataclasses import dataclass

from robustpaint.core.models.classifier import Classifier
from robustpaint.core.models.store import ModelEntry


@dataclass
class ModelBundle:
    model: Classifier
    card: dict
    seeds: object | None  # ClassSeeds, or None when the model ships none (generation then says how to fit them)
    entry: ModelEntry

    @property
    def sha256(self) -> str:
        return self.card.get("weights_sha256", "")


def load_model_bundle(name: str | None, device: str = "cpu") -> ModelBundle:
    """The bundle of a model name or .safetensors path (None: the default model)."""
    from robustpaint.core.models.checkpoint import load_model
    from robustpaint.core.models.store import find_model
    from robustpaint.core.seeds import ClassSeeds
    entry = find_model(name)
    model, card = load_model(entry.weights)
    seeds = ClassSeeds.load(entry.seeds_path) if entry.seeds_path.is_file() else None
    return ModelBundle(model.to(device), card, seeds, entry)
