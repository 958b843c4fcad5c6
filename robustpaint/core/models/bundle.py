"""A model as the tasks use it: the network, its card, its generation seeds (if it ships any) and where it lives."""

from __future__ import annotations

from dataclasses import dataclass

from robustpaint.core.models.classifier import Classifier
from robustpaint.core.catalog import ModelEntry


@dataclass
class ModelBundle:
    model: Classifier
    card: dict
    seeds: object | None  # ClassSeeds: its own, or those of a shipped model of the same data set; None: none at all
    entry: ModelEntry
    seeds_from: str = ""  # the shipped model whose seeds these are, when they are not the model's own

    @property
    def sha256(self) -> str:
        return self.card.get("weights_sha256", "")


def load_model_bundle(name: str | None, device: str = "cpu") -> ModelBundle:
    """The bundle of a model name or .safetensors path (None: the default model)."""
    from robustpaint.core.models.checkpoint import load_model
    from robustpaint.core.catalog import find_model
    from robustpaint.core.seeds import ClassSeeds
    from robustpaint.core.models.folding import fold_batchnorm
    entry = find_model(name)
    model, card = load_model(entry.weights)
    model = fold_batchnorm(model, in_place=True)  # for synthesis and scoring: eval mode, the same function, faster
    if entry.seeds_path.is_file():
        return ModelBundle(model.to(device), card, ClassSeeds.load(entry.seeds_path), entry)
    other = seeds_of_the_same_data(model.classes, model.input_size, model.arch)
    seeds = ClassSeeds.load(other.seeds_path) if other else None
    return ModelBundle(model.to(device), card, seeds, entry, other.name if other else "")


def seeds_of_the_same_data(classes: list[str], input_size: int, arch: str = ""):
    """A shipped model with seeds whose classes and input size are these, one of the same architecture first
    (seeds belong to a data set, not to one model: an imported CIFAR-10 model generates from the shipped CIFAR-10
    seeds)."""
    from robustpaint.core.catalog import list_models, read_card
    from robustpaint.core.errors import ModelError
    matches = []
    for entry in list_models():
        if entry.origin != "shipped" or not entry.seeds_path.is_file():
            continue
        try:
            card = read_card(entry.card_path)
        except ModelError:
            continue
        if card.get("classes") == classes and card.get("input_size") == input_size:
            matches.append((card.get("arch") != arch, entry.name, entry))
    return min(matches)[2] if matches else None
