"""What every command shares: the user-error type, device and output checks, the progress bar, notes."""

from __future__ import annotations

from pathlib import Path
import sys

from robustpaint.core.errors import RobustPaintError


class UsageError(RobustPaintError):
    pass


WRITTEN: list[str] = []  # the files this command has written so far (for an honest message if it stops half-way)


def _bf16(args, model, device: str = "cpu") -> bool:
    from robustpaint.core.models import choose_precision
    return choose_precision(args.precision, device, model.arch)


def _check_device(name: str) -> str:
    from robustpaint.core.device import resolve_device
    return resolve_device(name)


def _device_of_kind(kind: str) -> str:
    """A device of this machine of `kind` (cpu, cuda, mps), or auto where it has none."""
    from robustpaint.core.device import available_devices
    return next((d for d in available_devices() if d.split(":")[0] == kind), "auto")


def _check_writable_folder(folder: Path) -> None:
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"output folder {folder} is a file")
    probe = folder if folder.exists() else next((p for p in folder.parents if p.exists()), Path("."))
    import os
    if not probe.is_dir():
        raise UsageError(f"cannot write to {folder}: {probe} is a file, not a folder")
    if not os.access(probe, os.W_OK):
        raise UsageError(f"cannot write to {folder}: permission denied")


def _check_output_file(path: Path, inputs: tuple = ()) -> None:
    """Refuses, before any compute, an output that is a folder or a special file, a dangling link, or one of the
    inputs."""
    import os

    from robustpaint.core.atomic import writable_target
    if path.is_dir():
        raise UsageError(f"--out {path} is a folder; give a file name such as {path / 'out.png'}")
    if path.exists() and not path.is_file():
        raise UsageError(f"--out {path} is not a regular file (a device or a pipe); refusing to replace it")
    for given in inputs:
        if given and os.path.exists(given) and os.path.exists(path) and os.path.samefile(given, path):
            raise UsageError(f"--out {path} is the input {given}; writing it would destroy the input: "
                             f"choose another --out")
    writable_target(path)  # what the write would refuse (a dangling link), refused before the run
    _check_writable_folder(path.parent)


class _Progress:
    """A tqdm bar made on the first step, so that a request refused before any step prints one line only."""

    def __init__(self, args, total: int, notes=()):
        self.disabled, self.total, self.bar = getattr(args, "quiet", False), total, None
        self.notes = [line for line in notes if line]  # said at the first step, above the bar

    def __call__(self, step: int, loss: float, reading: tuple[str, float] | None = None) -> None:
        """`reading`: the target class of the first image and its probability (None for tasks without one)."""
        if self.disabled:
            return
        if self.bar is None:
            from tqdm import tqdm
            for line in self.notes:
                print(line, file=sys.stderr)
            self.bar = tqdm(total=self.total, file=sys.stderr, unit="step", leave=False)
        self.bar.update(1)
        # The probability says how far the picture is; a loss near 0 printed as "0.000" said nothing.
        shown = f"{reading[0]} {reading[1]:.1%} · " if reading else ""
        self.bar.set_postfix_str(f"{shown}loss {loss:.3g}")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.close()


def _note(args, line: str | None) -> None:
    """One line on stderr about what was done for the user (a fitted photo, a chosen class), unless --quiet."""
    if line and not getattr(args, "quiet", False):
        print(line, file=sys.stderr)
