"""The installed torch and torchvision, and torchvision imported for the two things that need it (the authors'
ImageNet class names, the CIFAR-10 download; painting never does): a torchvision that does not import, as one built
for another torch or CUDA does not (`operator torchvision::nms does not exist`, a missing libcudart), is one line
that names both versions and the fix, never a traceback."""

from __future__ import annotations

import importlib
import importlib.metadata
from types import ModuleType

from robustpaint.core.errors import RobustPaintError

TESTED_TORCH, TESTED_TORCHVISION = "2.14.1", "0.29.1"  # the pair this project is tested with
MATCHING_RELEASES = "https://github.com/pytorch/vision#installation"  # torchvision's table of torch releases


class LibraryMismatchError(RobustPaintError):
    """torchvision does not import with the installed torch."""


def installed_version(distribution: str) -> str | None:
    """The version pip installed (`2.14.1+cu130`), None when it is not installed; read without importing it."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _release(version: str | None) -> str | None:
    """A version without its local build tag (`2.14.1+cu130` -> `2.14.1`)."""
    return version.split("+")[0] if version else None


def _reason(exc: BaseException) -> str:
    """An exception in a few words: its type and the first line of its message."""
    lines = str(exc).strip().splitlines()
    text = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def _fix(torch: str | None, torchvision: str | None) -> str:
    """The pip command that gives a matching pair: only the tested pair is named; for another torch, torchvision's
    own table of which release goes with which torch."""
    if _release(torch) == TESTED_TORCH:
        if _release(torchvision) == TESTED_TORCHVISION:  # the tested releases, built for other CUDAs (or CPU)
            return (f"reinstall both from one index (both CPU or both the same CUDA): "
                    f"pip install --force-reinstall torch=={TESTED_TORCH} torchvision=={TESTED_TORCHVISION}")
        return f"pip install torchvision=={TESTED_TORCHVISION}"
    return (f"pip install torch=={TESTED_TORCH} torchvision=={TESTED_TORCHVISION} (the pair this project is tested "
            f"with), or the torchvision release made for your torch (see {MATCHING_RELEASES})")


def torchvision_problem(exc: BaseException, needed_for: str) -> str:
    """Why torchvision did not import, in one line: both versions, that they do not match, and the fix."""
    torch, torchvision = installed_version("torch"), installed_version("torchvision")
    if torchvision is None:
        return (f"torchvision is not installed next to torch {torch}, and it is needed for {needed_for}: "
                f"{_fix(torch, torchvision)}")
    return (f"torch {torch} and torchvision {torchvision} do not match ({_reason(exc)}), and torchvision is needed "
            f"for {needed_for}: {_fix(torch, torchvision)}")


def import_torchvision(module: str, needed_for: str) -> ModuleType:
    """`module` (torchvision or one of its modules), or a LibraryMismatchError of one line saying why not;
    `needed_for` names what needs it ("importing the authors' ImageNet checkpoints")."""
    try:
        return importlib.import_module(module)
    except Exception as exc:  # noqa: BLE001 - ImportError, RuntimeError (an operator of another torch), OSError
        # (a CUDA library this machine lacks), AttributeError (an API of another torch): all one mismatch
        raise LibraryMismatchError(torchvision_problem(exc, needed_for)) from None
