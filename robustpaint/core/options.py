"""The command line's shared pieces (argparse types, the input option, class names): the CLI and the task modules
use them. No torch here, so `robustpaint --version` and `--help` need not load it."""

from __future__ import annotations

import argparse
from pathlib import Path

from robustpaint.core.errors import RobustPaintError

CANVAS_MAX = 1024  # the longest canvas side a photo or a new canvas may have (a step's cost does not grow with it,
# as the model judges a larger canvas at its own scale; memory and the projection do)
CANVAS_MIN = 16  # the shortest canvas side anything opens or makes


def fit_canvas(height: int, width: int, what: str = "the picture") -> tuple[int, int]:
    """(h, w) of a canvas for a picture of `height` x `width`: scaled down, shape kept, so that its longer side is at
    most CANVAS_MAX; a ValueError naming `what` when its shorter side is then under CANVAS_MIN (a 20000 x 12
    panorama is not a 1024 x 1 canvas)."""
    ratio = min(1.0, CANVAS_MAX / max(height, width))
    fitted = (max(1, round(height * ratio)), max(1, round(width * ratio)))
    if min(fitted) < CANVAS_MIN:
        scaled = f" (scaled to fit {CANVAS_MAX} px: {fitted[1]}x{fitted[0]})" if ratio < 1 else ""
        raise ValueError(f"{what} is {width}x{height}{scaled}: too thin for a canvas, whose sides are "
                         f"{CANVAS_MIN} to {CANVAS_MAX} px")
    return fitted


def class_index(classes: list[str], name: str) -> int:
    """A class given by name (any case, spaces or underscores), by a part of its name that only one class has
    ("retriever", "horn"), or by index; else an error that lists what the model knows."""
    name = name.strip()
    if name.isdigit() and int(name) < len(classes):
        return int(name)

    def plain(text: str) -> str:
        return text.lower().replace("_", " ").replace("-", " ")

    lowered = [plain(c) for c in classes]
    if plain(name) in lowered:
        return lowered.index(plain(name))
    partial = [i for i, c in enumerate(lowered) if plain(name) and plain(name) in c]
    if len(partial) == 1:
        return partial[0]
    if partial:
        shown = ", ".join(classes[i] for i in partial[:10]) + (" ..." if len(partial) > 10 else "")
        raise RobustPaintError(f"{name!r} is part of {len(partial)} class names ({shown}); say which")
    shown = ", ".join(classes[:20]) + (" ..." if len(classes) > 20 else "")
    raise RobustPaintError(f"unknown class {name!r}; this model knows: {shown}")


def non_negative(text: str) -> float:
    import math
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, not {text}")
    return value


def positive_int(limit: int, low: int = 1):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= limit:
            raise argparse.ArgumentTypeError(f"must be between {low:,} and {limit:,}, not {value}")
        return value
    return parse


def canvas_side(limit: int = CANVAS_MAX):
    """argparse type of a canvas side (`--size`): CANVAS_MIN to `limit` pixels, what a recipe of the run accepts."""
    return positive_int(limit, CANVAS_MIN)


def add_input_arguments(parser: argparse.ArgumentParser, fit_default: str = "crop", max_side: int | None = None) -> None:
    """The input photo. With `max_side` (the photo tasks, #29) it becomes a canvas of its own size and shape by
    default, `--size` sets the canvas's longer side; without, it meets the model's square input."""
    parser.add_argument("input", help="the picture: any image file Pillow reads (PNG, JPEG, WebP, ...)")
    if max_side is not None:
        parser.add_argument("--fit", choices=("keep", "crop", "scale"), default="keep",
                            help="keep (default): the photo's own shape; crop: its centre square; scale: squeezed "
                                 "to a square (distorts a non-square photo)")
        parser.add_argument("--size", type=canvas_side(max_side), metavar="SIDE",
                            help=f"the canvas's longer side in pixels (default: the photo's own, at most "
                                 f"{max_side}, and at least the model's input side)")
    elif fit_default == "keep":  # super-resolution: the photo's own shape, as `--fit keep` of the photo tasks
        parser.add_argument("--fit", choices=("keep", "crop", "scale"), default="keep",
                            help="keep (default): the input's own shape; crop: its centre square first (scale: an "
                                 "older name of keep, which it means here)")
    else:
        parser.add_argument("--fit", choices=("crop", "scale"), default="crop",
                            help="how a photo of another shape meets the model's square canvas: centre crop "
                                 "(default) or scale (distorts a non-square photo)")


def default_output(args, task: str) -> Path:
    return Path(args.out or f"{Path(args.input).stem}-{task}.png")
