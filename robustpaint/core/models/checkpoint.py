"""Our checkpoint format (safetensors weights + a JSON card) and import of the authors' robustness-library files."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import re
import warnings
import zipfile
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from robustpaint.core.atomic import atomic_path, atomic_write_text
from robustpaint.core.catalog import (CARD_VERSION, accuracy_summary, card_path, check_normalisation,  # noqa: F401
                                      read_card)
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
    """Writes `NAME.safetensors` and its card `NAME.json` atomically, replacing them; returns the card as written."""
    weights_path = Path(weights_path)
    with atomic_path(weights_path) as tmp:
        full_card = _write_weights(model, tmp, weights_path, card, half)
    write_card(weights_path, full_card)
    return full_card


def add_model(model: Classifier, weights_path: str | Path, card: dict, half: bool = False) -> dict:
    """`save_model` for a new name, as one step: never replaces a model, its card or seeds, also not one another
    process adds at the same moment (two imports under one name: one is refused, the other whole).

    The card is created exclusively (O_EXCL: of two writers one gets it, whatever the timing) while the weights wait
    in a temporary file, whose rename then makes the model appear, its card already beside it: a reader that sees
    the weights sees their card. A crash in between leaves a card without weights, which no listing shows."""
    weights_path = Path(weights_path)
    card_file = card_path(weights_path)
    seeds_file = weights_path.with_name(weights_path.stem + ".seeds.safetensors")
    name = weights_path.stem

    def refuse(path: Path):
        left = " (without its weights: an import that was stopped?)" if path == card_file else ""
        return ModelError(f"a model named {name!r} exists already: {path} is there{left}; choose another --name "
                          f"or remove it")

    for path in (weights_path, card_file, seeds_file):
        if os.path.lexists(path):
            raise refuse(path)
    claimed = False
    try:
        with atomic_path(weights_path) as tmp:
            full_card = _write_weights(model, tmp, weights_path, card, half)
            try:
                fd = os.open(card_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            except FileExistsError:
                raise refuse(card_file) from None
            claimed = True
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(json.dumps(full_card, indent=2) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            for path in (weights_path, seeds_file):  # put there meanwhile by something that takes no card first
                if os.path.lexists(path):
                    raise refuse(path)
            # leaving the block renames the weights into place
    except BaseException:
        if claimed:  # the card is ours and its weights never arrived
            card_file.unlink(missing_ok=True)
        raise
    return full_card


def _write_weights(model: Classifier, tmp: Path, weights_path: Path, card: dict, half: bool) -> dict:
    """Writes the weights to `tmp` and returns the card that describes them (its sha256 is of those bytes)."""
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.net.state_dict().items()}
    if half:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    save_file(state, str(tmp), metadata={"format": "robustpaint", "arch": model.arch})
    return {
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
        "weights_sha256": sha256_of(tmp),
    }


def write_card(weights_path: str | Path, card: dict) -> None:
    atomic_write_text(card_path(weights_path), json.dumps(card, indent=2) + "\n")


def load_state_into(model: Classifier, state: dict[str, torch.Tensor], source: str, finite: bool = False) -> None:
    """Loads strictly, naming missing, unexpected and mis-shaped keys in the error, and any tensor that cannot be
    the weight it stands for: sparse, complex or whole numbers where the network holds real ones (a cast would drop
    the imaginary part or keep nonsense). `finite`: also refuse NaN and infinite values (a foreign file's import;
    our own files are checked by their sha256 instead, without a pass over every weight at each load)."""
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
    for key in sorted(state):
        value, want = state[key], expected[key]
        if value.layout != torch.strided:
            raise ModelError(f"{source}: {key} is a {str(value.layout).removeprefix('torch.')} tensor; "
                             f"weights must be stored dense")
        if value.is_complex() or (want.is_floating_point() and not value.is_floating_point()):
            raise ModelError(f"{source}: {key} holds {str(value.dtype).removeprefix('torch.')} values where "
                             f"{model.arch} holds {str(want.dtype).removeprefix('torch.')} (real numbers)")
        if finite and value.is_floating_point() and not bool(torch.isfinite(value).all()):
            bad = int((~torch.isfinite(value)).sum())
            raise ModelError(f"{source}: {key} holds {bad:,} NaN or infinite value(s) of {value.numel():,}; a "
                             f"model with them answers NaN to every image")
    # Built with empty=True: the model takes the loaded tensors, copied out of the file's memory map (a file
    # overwritten in place must not change, or crash, a model already checked and running).
    empty = any(t.is_meta for t in expected.values())
    model.net.load_state_dict({k: v.to(expected[k].dtype, copy=empty) for k, v in state.items()}, assign=empty)
    unset = [name for name, t in [*model.net.named_parameters(), *model.net.named_buffers()] if t.is_meta]
    if unset:  # a tensor outside the state dict (a non-persistent buffer) would stay without values
        raise ModelError(f"{source} leaves {', '.join(unset[:5])} of {model.arch} without values")


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
    model = build_classifier(card["arch"], card["classes"], card.get("mean") or CIFAR10_MEAN,
                             card.get("std") or CIFAR10_STD, card.get("input_size"), empty=True)
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


def read_torch_checkpoint(path: str | Path, trust_pickle: bool = False, trust_hint: str = "") -> dict:
    """`torch.load(weights_only=True)`; anything needing arbitrary unpickling is refused unless trusted.

    A file that is neither of torch's formats (a zip archive, or a legacy pickle) is said to be so, not taken for
    pickled code. `trust_hint` (the caller's option, e.g. "pass --trust-pickle") is added only to the refusal of a
    whole pickle that imports what weights_only does not allow, never to that of damaged or random bytes."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"checkpoint not found: {path}")
    is_zip = zipfile.is_zipfile(path)
    if is_zip:  # torch's format stores tensors uncompressed: inflation means a zip bomb
        try:
            with zipfile.ZipFile(path) as archive:
                inflated = sum(info.file_size for info in archive.infolist())
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise ModelError(f"cannot read checkpoint {path}: {exc}") from None
        if inflated > max(4 * path.stat().st_size, 1 << 20):
            raise ModelError(f"{path} would inflate to {inflated:,} bytes from {path.stat().st_size:,}: not a "
                             f"checkpoint torch wrote; refused")
    else:
        with open(path, "rb") as handle:
            start = handle.read(4)
        if start == b"PK\x03\x04":  # a zip's first member without the directory at its end
            raise ModelError(f"cannot read checkpoint {path}: a zip archive cut short or damaged (its directory "
                             f"is missing)")
        if len(start) < 2 or start[0] != pickle.PROTO[0] or not 2 <= start[1] <= pickle.HIGHEST_PROTOCOL:
            raise ModelError(f"{path} is not a PyTorch checkpoint: neither a zip archive (torch.save's format) "
                             f"nor a pickle (its legacy format)")
    try:
        with warnings.catch_warnings():  # torch's note on checking a sparse tensor: refused by load_state_into
            warnings.filterwarnings("ignore", message="Validating sparse tensor invariants")
            return torch.load(path, map_location="cpu", weights_only=not trust_pickle)
    except pickle.UnpicklingError as exc:
        if trust_pickle or not _whole_pickle_with_imports(path, is_zip):
            raise ModelError(f"cannot read checkpoint {path}: its pickled contents are damaged") from None
        refused = re.search(r"GLOBAL (\S+)", str(exc))
        raise UntrustedPickleError(
            f"{path} holds more than plain tensors (loading it would run pickled code"
            f"{f', {refused.group(1)}' if refused else ''}); refused.{f' {trust_hint}' if trust_hint else ''}"
        ) from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError) as exc:
        raise ModelError(f"cannot read checkpoint {path}: {(str(exc).splitlines() or [type(exc).__name__])[0]}") from None
    except Exception as exc:  # noqa: BLE001 - damaged pickled bytes: the unpickler fails in many ways
        raise ModelError(f"{path} is not a PyTorch checkpoint ({type(exc).__name__} while reading it)") from None


def _whole_pickle_with_imports(path: Path, is_zip: bool) -> bool:
    """Whether the checkpoint's pickles parse to their end and import something, read with pickletools (which runs
    nothing): the mark of a file that weights_only refused for what it would run, not for damaged bytes."""
    import io
    import pickletools
    try:
        if is_zip:
            with zipfile.ZipFile(path) as archive:
                name = next(n for n in archive.namelist() if n == "data.pkl" or n.endswith("/data.pkl"))
                stream = io.BytesIO(archive.read(name))  # small: the tensors' bytes are members of their own
            count = 1
        else:
            stream = open(path, "rb")  # noqa: SIM115 - closed below
            count = 4  # the legacy format's magic number, protocol, system info and the object
        with stream:
            imports = False
            for _ in range(count):
                at = stream.tell()
                if not stream.read(1):  # the end: a plain pickle is one, a legacy checkpoint more
                    break
                stream.seek(at)
                for opcode, _arg, _pos in pickletools.genops(stream):
                    imports = imports or opcode.name in ("GLOBAL", "STACK_GLOBAL", "INST", "OBJ")
            return imports
    except Exception:  # noqa: BLE001 - any failure to parse: damaged, not a refused import
        return False


def robustness_state_dict(checkpoint, source: str = "the checkpoint"
                          ) -> tuple[dict[str, torch.Tensor], list[float] | None, list[float] | None]:
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
    mean, std = check_normalisation(_values(stripped.get("normalizer.new_mean")),
                                    _values(stripped.get("normalizer.new_std")), source)
    if any(k.startswith("model.") for k in stripped):
        net = {k.removeprefix("model."): v for k, v in stripped.items() if k.startswith("model.")}
    else:
        net = {k: v for k, v in stripped.items() if not k.startswith(("attacker.", "normalizer."))}
    if not net:
        raise ModelError("checkpoint holds no network weights")
    return net, mean, std


def _values(tensor: torch.Tensor | None) -> list | None:
    """A normaliser tensor's values, for check_normalisation (a sparse one: its dense values)."""
    return None if tensor is None else tensor.to_dense().flatten().tolist()


def imagenet_classes() -> list[str]:
    """ImageNet's 1000 category names, from the metadata torchvision ships with its weights (no download); a
    torchvision that does not import with this torch is one line that says so."""
    from robustpaint.core.versions import import_torchvision
    models = import_torchvision("torchvision.models", "importing the authors' ImageNet checkpoints")
    return list(models.ResNet50_Weights.IMAGENET1K_V1.meta["categories"])


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
    checkpoint = read_torch_checkpoint(path, trust_pickle, "If you trust its source, pass --trust-pickle.")
    state, file_mean, file_std = robustness_state_dict(checkpoint, str(path))
    dataset_inferred = dataset is None
    dataset = dataset or infer_dataset(state)
    classes, mean, std = ROBUSTNESS_DATASETS[dataset]
    classes = classes or imagenet_classes()
    inferred = arch is None
    if inferred:
        arch = infer_architecture(state, classes, file_mean or mean, file_std or std)
    model = build_classifier(arch, classes, file_mean or mean, file_std or std, empty=True)
    load_state_into(model, state, str(path), finite=True)
    card = {"dataset": dataset, "source": f"imported from the robustness library checkpoint {Path(path).name}",
            "imported_from_sha256": sha256_of(path), "robust": True,
            "arch_inferred": inferred, "dataset_inferred": dataset_inferred}
    return model.eval(), card
