"""A training run's checkpoint (`OUT/checkpoint.pt`): written whole after each epoch, and read back for `--resume`
as plain tensors only and checked field by field before anything is loaded, so that a checkpoint that does not fit
the run is one line, never a traceback at load or at the first step, nor a run of the wrong length."""

from __future__ import annotations

import contextlib
import errno
import json
import math
import shutil
from collections.abc import Iterator
from pathlib import Path

import torch
from safetensors import SafetensorError

from robustpaint.core.atomic import atomic_path
from robustpaint.core.errors import ModelError, RobustPaintError

NEEDED = {"config", "classes", "model", "optimizer", "epoch", "history"}


def tensor_bytes(obj) -> int:
    """The bytes of the tensors in a nested state (what writing it needs on disk, about)."""
    if isinstance(obj, torch.Tensor):
        return obj.nelement() * obj.element_size()
    if isinstance(obj, dict):
        return sum(tensor_bytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(tensor_bytes(v) for v in obj)
    return 0


def _disk_full(exc: BaseException, folder: Path, needed: int) -> bool:
    """torch's writer reports a full disk as "unexpected pos" and safetensors' as text: the free space decides."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return True
    if "No space left" in str(exc) or "os error 28" in str(exc):
        return True
    with contextlib.suppress(OSError):
        return shutil.disk_usage(folder).free < needed
    return False


@contextlib.contextmanager
def reported_write(path: Path, needed: int, option: str = "--out", training: bool = True) -> Iterator[None]:
    """Around an atomic write of `path` (a failure leaves no partial file): a full disk or another I/O failure
    becomes one line that names the file, the option that chooses another place, and (`training`) what is kept."""
    try:
        yield
    except (OSError, RuntimeError, SafetensorError) as exc:
        if _disk_full(exc, path.parent, needed):
            why = f"the disk is full (about {needed / 1e6:.0f} MB needed); free some space or choose another {option}"
        else:
            why = (str(exc).splitlines() or [type(exc).__name__])[0]
        kept = path.parent / "checkpoint.pt"
        note = ("; the last epoch's checkpoint is kept: --resume continues from it" if training and kept.is_file()
                else "")
        raise RobustPaintError(f"cannot write {path}: {why}{note}") from None


def write_checkpoint(path: Path, state: dict) -> None:
    with reported_write(path, tensor_bytes(state)), atomic_path(path) as tmp:
        torch.save(state, tmp)


def read_checkpoint(path: Path) -> dict:
    """The checkpoint as plain tensors and containers, all that training writes (a file that would need more is
    refused by read_torch_checkpoint, which says what it is, with no --trust-pickle hint: train has no such option)."""
    from robustpaint.core.models.checkpoint import read_torch_checkpoint
    state = read_torch_checkpoint(path)
    if not isinstance(state, dict) or not NEEDED <= state.keys() or not isinstance(state["config"], dict):
        raise ModelError(f"{path} is not a RobustPaint training checkpoint; delete it to start afresh")
    return state


def _tensors_problem(saved, expected: dict[str, torch.Tensor], what: str) -> str | None:
    if not isinstance(saved, dict):
        return f"its {what} are a {type(saved).__name__}, not tensors by name"
    missing, unexpected = sorted(expected.keys() - saved.keys()), sorted(saved.keys() - expected.keys(), key=str)
    if missing:
        return f"its {what} lack {len(missing)} of the network's {len(expected)} tensors (e.g. {missing[0]!r})"
    if unexpected:
        return f"its {what} hold {len(unexpected)} tensors the network does not have (e.g. {unexpected[0]!r})"
    for key, value in saved.items():
        want = expected[key]
        if (not isinstance(value, torch.Tensor) or value.shape != want.shape or value.is_complex()
                or value.is_floating_point() != want.is_floating_point()):
            got = (f"{tuple(value.shape)} {value.dtype}" if isinstance(value, torch.Tensor) else type(value).__name__)
            return f"its {what} hold {key!r} as {got}, not {tuple(want.shape)} {want.dtype}"
        if value.is_floating_point() and not torch.isfinite(value).all():
            return f"its {what} hold NaN or infinite values in {key!r} (a run that diverged)"
    return None


def _optimizer_problem(saved, optimizer: torch.optim.Optimizer) -> str | None:
    if (not isinstance(saved, dict) or not isinstance(saved.get("state"), dict)
            or not isinstance(saved.get("param_groups"), list)):
        return "its optimizer state is not an optimizer's (state and param_groups)"
    groups = optimizer.param_groups
    if len(saved["param_groups"]) != len(groups) or any(
            not isinstance(g, dict) or not isinstance(g.get("params"), list) or len(g["params"]) != len(f["params"])
            or not all(isinstance(i, int) for i in g["params"]) for g, f in zip(saved["param_groups"], groups)):
        return "its optimizer holds another set of parameters"
    params = {i: p for g, f in zip(saved["param_groups"], groups) for i, p in zip(g["params"], f["params"])}
    if len(params) != sum(len(f["params"]) for f in groups):
        return "its optimizer holds another set of parameters"
    for g, fresh in zip(saved["param_groups"], groups):
        for key, default in fresh.items():
            value = g.get(key, default)  # a flag a newer torch added is filled in by torch itself
            if isinstance(default, bool):
                fits = isinstance(value, bool)
            elif isinstance(default, (int, float)):
                fits = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            else:
                fits = True
            if key != "params" and not fits:
                return f"its optimizer's {key} is {value!r}"
    for index, entry in saved["state"].items():
        if index not in params or not isinstance(entry, dict):
            return "its optimizer holds state for parameters this network does not have"
        shape = params[index].shape
        for name, value in entry.items():
            if value is None:
                continue
            if not isinstance(value, torch.Tensor) or (name != "step" and value.shape != shape):
                got = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
                return f"its optimizer's {name} for a parameter of shape {tuple(shape)} is {got}"
            if value.is_floating_point() and not torch.isfinite(value).all():
                return f"its optimizer's {name} holds NaN or infinite values (a run that diverged)"
    return None


def run_of(path: Path, state: dict) -> tuple[dict, list[str]]:
    """The run a checkpoint belongs to (its config and classes), checked enough to build its network and optimizer
    from (`restore` checks the rest), for reading a checkpoint without the run's command line (`snapshot`)."""
    from robustpaint.core.models import ARCHITECTURES
    config, classes = state["config"], state["classes"]
    if (not isinstance(config, dict) or config.get("arch") not in ARCHITECTURES
            or not isinstance(classes, list) or not classes or not all(isinstance(c, str) for c in classes)
            or type(config.get("epochs")) is not int or not isinstance(config.get("data"), str)):
        raise ModelError(f"{path} does not say which run it belongs to (its config or classes are damaged)")
    return config, classes


def restore(path: Path, arch: str, classes: list[str], epochs: int, model, optimizer, averaged,
            state: dict | None = None) -> tuple[int, list]:
    """Loads the checkpoint at `path` (or its `state`, read already) into `model`, `optimizer` and `averaged` (the
    EMA, or None); returns the epochs done and their history. Every field is checked before any is loaded."""
    state = state if state is not None else read_checkpoint(path)
    if state["config"].get("arch") != arch or not isinstance(state["classes"], list) or state["classes"] != classes:
        raise ModelError(f"{path} was made for {state['config'].get('arch')} on classes {state['classes']}, not "
                         f"{arch} on {classes}")
    if (averaged is None) != (state.get("ema") is None):
        raise ModelError(f"{path} was made {'with' if state.get('ema') is not None else 'without'} --ema; resume it "
                         f"the same way")
    epoch, history = state["epoch"], state["history"]
    if type(epoch) is not int or epoch < 0:
        problem = f"its epoch is {epoch!r}, not a count of the epochs done"
    elif epoch > epochs:
        raise ModelError(f"{path} is after epoch {epoch}, more than --epochs {epochs}: resume with --epochs {epoch} "
                         f"or more")
    elif not isinstance(history, list) or len(history) != epoch or not all(
            isinstance(h, dict) and isinstance(h.get("seconds"), (int, float)) for h in history):
        problem = f"its history is not one record for each of its {epoch} epochs"
    else:
        try:
            json.dumps(history)  # the card records it
            problem = None
        except (TypeError, ValueError):
            problem = "its history holds values other than numbers and text"
    problem = (problem or _tensors_problem(state["model"], model.net.state_dict(), "weights")
               or _optimizer_problem(state["optimizer"], optimizer)
               or (averaged is not None and _tensors_problem(state["ema"], averaged.state_dict(), "moving average")))
    if problem:
        raise ModelError(f"{path} does not fit this run: {problem}; delete it to start afresh")
    model.net.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if averaged is not None:
        averaged.load_state_dict(state["ema"])
    return epoch, history
