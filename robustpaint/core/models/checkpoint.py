"""Our checkpoint format (safetensors weights + a JSON card) and import of the authors' robustness-library files."""

from __future__ import annotations

import hashlib
import json
import pickle
import zipfile
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from robustpaint.core.atomic import atomic_path, atomic_write_text
from robustpaint.core.catalog import CARD_VERSION, accuracy_summary, card_path, read_card  # noqa: F401
from robustpaint.core.errors import ModelError, UntrustedPickleError
from robustpaint.core.models import (
    CIFAR10_CLASSES, CIFAR10_MEAN, CIFAR10_STD, IMAGENET_MEAN, IMAGENET_STD, Classifier,
    build_classifier)



def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verified_sha256(path: str | Path) -> str:
    """`sha256_of`, computed once per change of the file: cached by its size, modification time and inode in the
    user cache folder (a model loads without reading its weights twice; a replaced or rewritten file is hashed
    again)."""
    from robustpaint.core.paths import user_cache_dir
    path = Path(path).resolve()
    info = path.stat()
    key, stamp = str(path), [info.st_size, info.st_mtime_ns, info.st_ino]
    cache_file = user_cache_dir() / "sha256.json"
    try:
        cache = json.loads(cache_file.read_text("utf-8"))
        if not isinstance(cache, dict):
            cache = {}
    except (OSError, ValueError):
        cache = {}
    entry = cache.get(key)
    if isinstance(entry, list) and len(entry) == 4 and entry[:3] == stamp and isinstance(entry[3], str):
        return entry[3]
    digest = sha256_of(path)
    cache[key] = [*stamp, digest]
    try:
        atomic_write_text(cache_file, json.dumps(cache))
    except OSError:
        pass  # a read-only cache folder: hash again next time
    return digest


def save_model(model: Classifier, weights_path: str | Path, card: dict, half: bool = False) -> dict:
    """Writes `NAME.safetensors` and its card `NAME.json` atomically; returns the card as written."""
    weights_path = Path(weights_path)
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.net.state_dict().items()}
    if half:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    with atomic_path(weights_path) as tmp:
        save_file(state, str(tmp), metadata={"format": "robustpaint", "arch": model.arch})
    full_card = {
        "card_version": CARD_VERSION,
        "name": weights_path.stem,
        "arch": model.arch,
        "classes": model.classes,
        "mean": model.normalize.mean.flatten().tolist(),
        "std": model.normalize.std.flatten().tolist(),
        "input_size": model.input_size,
        "weights_dtype": "float16" if half else "float32",
        **card,
        "weights_file": weights_path.name,
        "weights_sha256": sha256_of(weights_path),
    }
    write_card(weights_path, full_card)
    return full_card


def write_card(weights_path: str | Path, card: dict) -> None:
    atomic_write_text(card_path(weights_path), json.dumps(card, indent=2) + "\n")


def load_state_into(model: Classifier, state: dict[str, torch.Tensor], source: str) -> None:
    """Loads strictly, naming missing, unexpected and mis-shaped keys in the error."""
    expected = model.net.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) if tuple(expected[k].shape) != tuple(state[k].shape))
    if missing or unexpected or wrong:
        parts = []
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)):
            if keys:
                parts.append(f"{label}: {', '.join(keys[:5])}{' ...' if len(keys) > 5 else ''} ({len(keys)})")
        raise ModelError(f"{source} does not fit {model.arch}: " + "; ".join(parts))
    # Built with empty=True: the model takes the loaded tensors, copied out of the file's memory map (a file
    # overwritten in place must not change, or crash, a model already checked and running).
    empty = any(t.is_meta for t in expected.values())
    model.net.load_state_dict({k: v.to(expected[k].dtype, copy=empty) for k, v in state.items()}, assign=empty)
    unset = [name for name, t in [*model.net.named_parameters(), *model.net.named_buffers()] if t.is_meta]
    if unset:  # a tensor outside the state dict (a non-persistent buffer) would stay without values
        raise ModelError(f"{source} leaves {', '.join(unset[:5])} of {model.arch} without values")


def _card_input_size(card: dict, weights_path) -> int | None:
    size = card.get("input_size")
    if size is None:
        return None
    if not isinstance(size, int) or isinstance(size, bool) or not 8 <= size <= 1024:
        raise ModelError(f"model card of {weights_path} has an invalid input_size {size!r} (expected 8-1024 pixels)")
    return size


def load_model(weights_path: str | Path, verify: bool = True) -> tuple[Classifier, dict]:
    """Loads our format; checks the weights' sha256 against the card, so a damaged file is never used silently."""
    weights_path = Path(weights_path)
    card = read_card(card_path(weights_path))
    if not weights_path.is_file():
        raise ModelError(f"weights file missing: {weights_path} (expected sha256 {card.get('weights_sha256')})")
    if verify and card.get("weights_sha256"):
        actual = verified_sha256(weights_path)
        if actual != card["weights_sha256"]:
            raise ModelError(f"weights file {weights_path} is damaged: sha256 {actual[:12]}..., "
                             f"expected {card['weights_sha256']}")
    try:
        state = load_file(str(weights_path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelError(f"cannot read weights {weights_path}: {exc}") from None
    model = build_classifier(card["arch"], card["classes"], card.get("mean", CIFAR10_MEAN), card.get("std", CIFAR10_STD),
                             _card_input_size(card, weights_path), empty=True)
    load_state_into(model, state, str(weights_path))
    return model.eval(), card


# --- the authors' robustness-library checkpoints -------------------------------------------------------------

RESTRICTED_IMAGENET_CLASSES = ["dog", "cat", "frog", "turtle", "bird", "primate", "fish", "crab", "insect"]
IMAGENET_CLASS_COUNT = 1000
ROBUSTNESS_DATASETS = {  # name: (classes, mean, std); the mean and std give way to a file's own normalizer
    "cifar10": (CIFAR10_CLASSES, CIFAR10_MEAN, CIFAR10_STD),
    "imagenet": (None, IMAGENET_MEAN, IMAGENET_STD),  # names: imagenet_classes(), 1000 of them
    "restricted_imagenet": (RESTRICTED_IMAGENET_CLASSES, IMAGENET_MEAN, IMAGENET_STD),
    "horse2zebra": (["horse", "zebra"], IMAGENET_MEAN, IMAGENET_STD),
    "apple2orange": (["apple", "orange"], IMAGENET_MEAN, IMAGENET_STD),
    "summer2winter": (["summer", "winter"], IMAGENET_MEAN, IMAGENET_STD),
}


def read_torch_checkpoint(path: str | Path, trust_pickle: bool = False) -> dict:
    """`torch.load(weights_only=True)`; anything needing arbitrary unpickling is refused unless trusted."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"checkpoint not found: {path}")
    if zipfile.is_zipfile(path):  # torch's format stores tensors uncompressed: inflation means a zip bomb
        try:
            with zipfile.ZipFile(path) as archive:
                inflated = sum(info.file_size for info in archive.infolist())
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise ModelError(f"cannot read checkpoint {path}: {exc}") from None
        if inflated > max(4 * path.stat().st_size, 1 << 20):
            raise ModelError(f"{path} would inflate to {inflated:,} bytes from {path.stat().st_size:,}: not a "
                             f"checkpoint torch wrote; refused")
    try:
        return torch.load(path, map_location="cpu", weights_only=not trust_pickle)
    except pickle.UnpicklingError as exc:
        if trust_pickle:
            raise ModelError(f"cannot read checkpoint {path}: {exc}") from None
        raise UntrustedPickleError(
            f"{path} holds more than plain tensors (it would run pickled code to load); refused. If you trust "
            f"its source, pass --trust-pickle.") from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError) as exc:
        raise ModelError(f"cannot read checkpoint {path}: {(str(exc).splitlines() or [type(exc).__name__])[0]}") from None
    except Exception as exc:  # noqa: BLE001 - a text file or other bytes: the unpickler fails in many ways
        raise ModelError(f"{path} is not a PyTorch checkpoint ({type(exc).__name__} while reading it)") from None


def robustness_state_dict(checkpoint) -> tuple[dict[str, torch.Tensor], list[float] | None, list[float] | None]:
    """The bare network's state dict and the normalizer's mean/std from the authors' layout.

    Accepts `{'model': sd}` or `{'state_dict': sd}` or a bare state dict; keys may carry `module.`, and the model's
    own weights live under `model.` (the `attacker.model.` copy and `normalizer.` buffers are dropped or read).
    """
    if isinstance(checkpoint, dict) and isinstance(checkpoint.get("model"), dict):
        state = checkpoint["model"]
    elif isinstance(checkpoint, dict) and isinstance(checkpoint.get("state_dict"), dict):
        state = checkpoint["state_dict"]
    elif isinstance(checkpoint, dict):
        state = checkpoint
    else:
        raise ModelError("checkpoint holds no state dict (expected a dict with 'model' or 'state_dict')")
    stripped = {}
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            continue
        key = key.removeprefix("module.")
        stripped[key] = value
    mean = stripped.get("normalizer.new_mean")
    std = stripped.get("normalizer.new_std")
    if any(k.startswith("model.") for k in stripped):
        net = {k.removeprefix("model."): v for k, v in stripped.items() if k.startswith("model.")}
    else:
        net = {k: v for k, v in stripped.items() if not k.startswith(("attacker.", "normalizer."))}
    if not net:
        raise ModelError("checkpoint holds no network weights")
    return (net, mean.flatten().tolist() if mean is not None else None,
            std.flatten().tolist() if std is not None else None)


def imagenet_classes() -> list[str]:
    """ImageNet's 1000 category names, from the metadata torchvision ships with its weights (no download)."""
    from torchvision.models import ResNet50_Weights
    return list(ResNet50_Weights.IMAGENET1K_V1.meta["categories"])


def _fit(state: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> float:
    """The share of the keys of both state dicts that the other has with the same shape (1.0: it loads)."""
    both = set(state) | set(expected)
    same = sum(1 for k in set(state) & set(expected) if tuple(state[k].shape) == tuple(expected[k].shape))
    return same / max(len(both), 1)


def infer_architecture(state: dict[str, torch.Tensor], classes: list[str], mean=None, std=None) -> str:
    """The registered architecture whose state dict has exactly these keys and shapes; an error naming the closest
    ones when none has."""
    from robustpaint.core.models import ARCHITECTURES
    fits = []
    for name in ARCHITECTURES:
        try:
            expected = build_classifier(name, classes, mean, std, empty=True).net.state_dict()
        except Exception:  # noqa: BLE001 - an architecture that cannot take these classes fits nothing
            continue
        fits.append((_fit(state, expected), name))
    fits.sort(reverse=True)
    exact = [name for score, name in fits if score == 1.0]
    if len(exact) == 1:
        return exact[0]
    if exact:
        raise ModelError(f"the checkpoint fits {', '.join(exact)} alike; choose one with --arch")
    closest = ", ".join(f"{name} ({score:.0%} of the keys)" for score, name in fits[:3])
    raise ModelError(f"the checkpoint fits no registered architecture for {len(classes)} classes; closest: {closest}")


def infer_dataset(state: dict[str, torch.Tensor]) -> str:
    """The authors' data set with as many classes as the checkpoint's last layer has outputs (the translation pairs,
    all of two classes, must be named)."""
    heads = [v for k, v in state.items() if k.endswith("weight") and v.dim() == 2]
    if not heads:
        raise ModelError("the checkpoint has no linear layer to read its classes from; give --dataset")
    outputs = heads[-1].shape[0]
    counts = {name: len(classes) if classes else IMAGENET_CLASS_COUNT
              for name, (classes, *_) in ROBUSTNESS_DATASETS.items()}
    matches = [name for name, count in counts.items() if count == outputs]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise ModelError(f"a {outputs}-class checkpoint may be {', '.join(matches)}; choose one with --dataset")
    raise ModelError(f"the checkpoint has {outputs} outputs, and no known data set has that many classes "
                     f"({', '.join(f'{name}: {count}' for name, count in counts.items())})")


def import_robustness_checkpoint(path: str | Path, dataset: str | None = None, arch: str | None = None,
                                 trust_pickle: bool = False) -> tuple[Classifier, dict]:
    """Builds a Classifier from an authors' `.pt`, giving the same logits as their library on the same input; the
    data set (by its class count) and the architecture (by keys and shapes) are read from the weights unless given."""
    if dataset is not None and dataset not in ROBUSTNESS_DATASETS:
        raise ModelError(f"unknown dataset {dataset!r}; known: {', '.join(ROBUSTNESS_DATASETS)}")
    state, file_mean, file_std = robustness_state_dict(read_torch_checkpoint(path, trust_pickle))
    dataset_inferred = dataset is None
    dataset = dataset or infer_dataset(state)
    classes, mean, std = ROBUSTNESS_DATASETS[dataset]
    classes = classes or imagenet_classes()
    inferred = arch is None
    if inferred:
        arch = infer_architecture(state, classes, file_mean or mean, file_std or std)
    model = build_classifier(arch, classes, file_mean or mean, file_std or std, empty=True)
    load_state_into(model, state, str(path))
    card = {"dataset": dataset, "source": f"imported from the robustness library checkpoint {Path(path).name}",
            "imported_from_sha256": sha256_of(path), "robust": True,
            "arch_inferred": inferred, "dataset_inferred": dataset_inferred}
    return model.eval(), card
