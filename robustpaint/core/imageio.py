"""Reading images and masks safely, and writing PNGs that carry their recipe."""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import stat
import sys
import tempfile
import threading
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, PngImagePlugin, UnidentifiedImageError

from robustpaint.core.atomic import atomic_path
from robustpaint.core.errors import ImageError

MAX_PIXELS = 64_000_000  # refuse larger images before decoding them (decompression-bomb guard)
MAX_FILE_BYTES = 256 * 2**20  # refuse larger files before reading them
RECIPE_KEY = "robustpaint:recipe"


# Formats Pillow identifies but that this reader refuses, and why: EPS is drawn by running the file's PostScript in
# Ghostscript, a program no image from anywhere should get to run.
REFUSED_FORMATS = {"EPS": "PostScript, which only Ghostscript can draw, by running the file as a program"}
_PREMULTIPLIED = {"La": "LA", "RGBa": "RGBA"}  # TIFF's associated alpha; Pillow converts these to little else


def _open(path: str | Path, upright: bool = True) -> Image.Image:
    """The file's (first) image, decoded, in a mode the converters below take, turned upright by its EXIF
    orientation (`upright`, as every viewer shows it; photos, masks and class maps all come through here). Any
    failure to decode is one ImageError naming the file."""
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ImageError(f"file not found: {path}") from None
    except OSError as exc:  # a symbolic link loop, a permission problem
        raise ImageError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        raise ImageError(f"not a file: {path}")
    if info.st_size > MAX_FILE_BYTES:  # refused before a byte is read into memory
        raise ImageError(f"{path} is {info.st_size / 2**20:,.0f} MB, more than the {MAX_FILE_BYTES // 2**20} MB an "
                         f"image may have")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not data:
        raise ImageError(f"{path} is empty (0 bytes)")
    native: list[str] = []
    try:
        with _DECODING, _native_stderr_to(native):
            # Pillow's warnings (a damaged EXIF tag, its own bomb heuristic under our limit) are not the user's
            # business; what cannot be decoded raises.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return _decode(data, path, upright)
    except ImageError:
        raise
    except UnidentifiedImageError:
        said = f"; {_one_line(native[0])}" if native and native[0] else ""
        raise ImageError(f"{path} is not a readable image (not an image format Pillow knows, or damaged{said})") \
            from None
    except Image.DecompressionBombError as exc:
        raise ImageError(f"{path} is too large to decode safely ({_one_line(exc)})") from None
    except Exception as exc:  # noqa: BLE001 - any decoder's failure is a bad file: DDS's NotImplementedError,
        # BLPFormatError, SPIDER's AttributeError, AVIF's RuntimeError, a MemoryError from a lying header...
        raise ImageError(f"{path} is not a readable image ({_one_line(exc)})") from None


# One decode at a time: the warning filter and file descriptor 2 that a decode borrows are the whole process's.
_DECODING = threading.Lock()


@contextlib.contextmanager
def _native_stderr_to(sink: list[str]):
    """What C libraries under Pillow write straight to file descriptor 2 (libtiff: "More samples per pixel than
    can be decoded") kept in `sink` instead of reaching the terminal beside the one line that reports the file."""
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all: nothing to keep clean
        saved = None
    if saved is None:
        yield
        return
    with tempfile.TemporaryFile() as capture:
        with contextlib.suppress(AttributeError, OSError, ValueError):  # None, full or closed: nothing is waiting
            sys.stderr.flush()
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            sink.append(capture.read(2000).decode("utf-8", "replace"))


def _decode(data: bytes, path: Path, upright: bool) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    if img.format in REFUSED_FORMATS:
        raise ImageError(f"{path} is {img.format}, which is not read: {REFUSED_FORMATS[img.format]}")
    _check_pixels(img, path)  # from the header, before decoding
    img.load()  # an animated image opens at its first frame (and a SPIDER file cannot even seek to it)
    frame = img
    _check_pixels(frame, path)  # some decoders choose their size when they load (icons, scalable formats)
    if frame.mode in _PREMULTIPLIED:
        frame = frame.convert(_PREMULTIPLIED[frame.mode])
    if upright:
        frame = ImageOps.exif_transpose(frame)
    return frame


def _check_pixels(img: Image.Image, path: Path) -> None:
    if img.width * img.height > MAX_PIXELS:
        raise ImageError(f"{path} is {img.width}x{img.height} pixels, more than the {MAX_PIXELS:,} allowed")


def _one_line(said: Exception | str) -> str:
    """What Pillow (or a library under it) said, as one short line."""
    text = " ".join(str(said).split())
    if len(text) > 160:
        text = text[:157] + "..."
    if isinstance(said, str):
        return text
    return f"{type(said).__name__}: {text}" if text else type(said).__name__


def _to_rgb_array(img: Image.Image) -> np.ndarray:
    """Any mode (palette, alpha, CMYK, grayscale, 16-bit) as 8-bit RGB; alpha is composited on white."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        scale = 65535.0 if arr.max() > 255 else 255.0
        arr = np.clip(arr / scale * 255.0, 0, 255).astype(np.uint8)
        return np.repeat(arr[..., None], 3, axis=2)
    if img.mode == "F":
        arr = np.clip(np.asarray(img, dtype=np.float64) * (255.0 if np.asarray(img).max() <= 1 else 1.0), 0, 255)
        return np.repeat(arr.astype(np.uint8)[..., None], 3, axis=2)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(background, rgba).convert("RGB"))
    return np.asarray(img.convert("RGB"))


def read_rgb(path: str | Path) -> np.ndarray:
    """The file as H x W x 3 uint8 RGB, upright: the one decoder for data sets too (a DDS, BLP or SPIDER file in a
    training folder is one ImageError, as it is given as a photo)."""
    return _to_rgb_array(_open(path))


FITS = ("keep", "crop", "scale")


def _fit(img: Image.Image, size: tuple[int, int] | None, fit: str, max_side: int | None,
         resample=Image.Resampling.BICUBIC, long_side: int | None = None, min_side: int | None = None) -> Image.Image:
    """`img` centre-cropped to a square (`fit="crop"`, when it is not square) and scaled to `size` (h, w). With no
    size its shape is kept: scaled so that its longer side is `long_side`, else kept unless its longer side exceeds
    `max_side` or its shorter side falls below `min_side` (then scaled to the nearer limit, `max_side` winning)."""
    if fit not in FITS:
        raise ImageError(f"fit must be one of {', '.join(FITS)}, not {fit!r}")
    if fit == "crop" and img.width != img.height and (size is None or size[0] == size[1]):
        side = min(img.size)
        left, top = (img.width - side) // 2, (img.height - side) // 2
        img = img.crop((left, top, left + side, top + side))
    if size is None:
        longer, shorter = max(img.size), min(img.size)
        ratio = 1.0
        if long_side is not None:
            ratio = long_side / longer
        elif max_side is not None and longer > max_side:
            ratio = max_side / longer
        elif min_side is not None and shorter < min_side:
            ratio = min(min_side / shorter, (max_side or float("inf")) / longer)
        if ratio != 1.0:
            size = (max(1, round(img.height * ratio)), max(1, round(img.width * ratio)))
        if max_side is not None:  # a canvas is made of it: its sides must be ones a canvas can have
            from robustpaint.core.options import CANVAS_MIN
            fitted = size or (img.height, img.width)
            if min(fitted) < CANVAS_MIN:
                raise ImageError(f"the photo is {img.width}x{img.height}, which becomes a {fitted[1]}x{fitted[0]} "
                                 f"canvas: too thin (a canvas side is at least {CANVAS_MIN} px); crop it first, or "
                                 f"use --fit crop")
    if size is not None and img.size != (size[1], size[0]):
        # Shrinking a photo several times over: reduce first (box filter), so the bicubic pass does not alias.
        img = img.resize((size[1], size[0]), resample, reducing_gap=3.0 if resample != Image.Resampling.NEAREST else None)
    return img


def load_image(path: str | Path, size: tuple[int, int] | None = None, fit: str = "scale",
               max_side: int | None = None) -> torch.Tensor:
    """A 1 x 3 x H x W float tensor in [0,1]; with `size` (h, w), scaled (`fit="scale"`) or centre-cropped then
    scaled (`fit="crop"`) to it; see `load_photo` for `max_side`."""
    return load_photo(path, size, fit, max_side)[0]


def load_photo(path: str | Path, size: tuple[int, int] | None = None, fit: str = "crop",
               max_side: int | None = None, long_side: int | None = None,
               min_side: int | None = None,
               resample=Image.Resampling.BICUBIC) -> tuple[torch.Tensor, str | None, tuple[int, int]]:
    """`load_image` plus one line saying what happened to the input ("cat.jpg 451x300 -> 128x128, centre crop"),
    or None when it was used as it is, and the input's own (h, w) (a mask drawn at that size is fitted alike). The
    image is cropped and scaled before any tensor is made, so a large photo costs only its decoding; see `_fit` for
    `long_side` and `min_side`. A picture whose colours are labels (a class map) is resampled NEAREST."""
    original = Image.fromarray(_to_rgb_array(_open(path)))
    img = _fit(original, size, fit, max_side, resample, long_side=long_side, min_side=min_side)
    note = None
    if img.size != original.size:
        how = "centre crop" if fit == "crop" and original.width != original.height else "scaled"
        if how == "scaled" and size is None and long_side is None:
            if max_side is not None and max(img.size) >= max_side:
                how = f"scaled down to the {max_side}-pixel limit"
            elif min_side is not None and min(img.size) >= min_side > min(original.size):
                how = f"scaled up to the model's {min_side}-pixel side"
        note = f"{Path(path).name} {original.width}x{original.height} -> {img.width}x{img.height}, {how}"
    tensor = torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1).float().div(255).unsqueeze(0)
    return tensor, note, (original.height, original.width)


def load_mask(path: str | Path, size: tuple[int, int], source_size: tuple[int, int] | None = None,
              fit: str = "keep") -> torch.Tensor:
    """A 1 x 1 x H x W mask in {0,1}: white = 1 in every mode, transparent = 0 (a mask with alpha is read as if laid
    on black, so white strokes on a transparent or an opaque black background both mark the hole). Its size must
    match the image's (h, w), or the size the image had before it was fitted (`source_size`), in which case it is
    cropped and scaled the same way."""
    img = _open(path)
    if source_size is not None and (img.height, img.width) == tuple(source_size) != tuple(size):
        img = _fit(img, size, fit, None, Image.Resampling.NEAREST)
    if (img.height, img.width) != tuple(size):
        if source_size is not None and tuple(source_size) != tuple(size):  # name the user's photo, not the canvas
            raise ImageError(f"mask {path} is {img.width}x{img.height}, but the photo is "
                             f"{source_size[1]}x{source_size[0]}: draw the mask at the photo's size")
        raise ImageError(f"mask {path} is {img.width}x{img.height}, but the image is {size[1]}x{size[0]}")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = np.asarray(img.convert("RGBA"), dtype=np.float64)
        alpha = rgba[..., 3] / 255
        arr = rgba[..., :3].mean(axis=2) * alpha  # laid on black: transparent reads as "no hole"
        if not (arr >= 128).any() and (alpha >= 0.5).any() and (alpha < 0.5).any():
            raise ImageError(f"mask {path} marks its region with transparency but paints it dark; a mask is white "
                             f"where the hole is: paint the region white (or save it without transparency)")
    else:
        arr = _to_rgb_array(img).mean(axis=2)
    return torch.from_numpy((arr >= 128).astype(np.float32))[None, None]


def tensor_to_image(image: torch.Tensor) -> Image.Image:
    """A 3 x H x W (or 1 x 3 x H x W) tensor in [0,1] as an 8-bit RGB PIL image."""
    if image.dim() == 4:
        image = image[0]
    arr = (image.detach().float().clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy())
    return Image.fromarray(arr, "RGB")


def largest_readable_scale(height: int, width: int) -> int:
    """The largest whole scale at which a picture of `height` x `width` pixels, written larger, is still one that
    the readers take (MAX_PIXELS): 7 for a 1024 x 1024 canvas, 8 up to 1000 x 1000; 0 when not even 1x is."""
    return math.isqrt(MAX_PIXELS // max(height * width, 1))


def check_export_size(height: int, width: int, scale: int = 1) -> None:
    """Refuses to write a PNG that our own readers would refuse (#46): an 8x export of a 1024-px canvas is 8192 x
    8192, 67 M pixels, past MAX_PIXELS, and `replay` and `classify` could not open the file that promises to replay.
    Why not a higher limit for our own recipe-carrying PNGs instead: the limit is checked from the header, before a
    byte is decoded, and a header that says "RobustPaint" is anyone's to write; one limit keeps the guard whole."""
    if height * scale * width * scale > MAX_PIXELS:
        fits = largest_readable_scale(height, width)
        hint = f"; at most {fits}x for this picture" if fits >= 1 else ""
        raise ImageError(f"a {scale}x PNG of a {width}x{height} picture would be {width * scale}x{height * scale} "
                         f"pixels, more than the {MAX_PIXELS:,} that RobustPaint reads back{hint}")


def save_png(image: torch.Tensor, path: str | Path, recipe: dict | None = None, scale: int = 1,
             smooth: bool = False) -> None:
    """Writes a PNG atomically, upscaled by `scale` (smoothly, Lanczos, or by pixel repetition), with `recipe` as
    JSON in its text metadata; never one larger than the readers take (`check_export_size`)."""
    check_export_size(image.shape[-2], image.shape[-1], scale)
    img = tensor_to_image(image)
    if scale > 1:
        resample = Image.Resampling.LANCZOS if smooth else Image.Resampling.NEAREST
        img = img.resize((img.width * scale, img.height * scale), resample)
    info = PngImagePlugin.PngInfo()
    if recipe is not None:
        info.add_text(RECIPE_KEY, json.dumps(recipe, sort_keys=True))
    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            img.save(tmp, format="PNG", pnginfo=info)
    except OSError as exc:
        raise ImageError(f"cannot write {path}: {exc.strerror or exc}") from None


def save_grid(images: torch.Tensor, path: str | Path, columns: int, scale: int = 2, gap: int = 2,
              recipe: dict | None = None) -> None:
    """N x 3 x H x W images as one PNG, `columns` per row, nearest-upscaled, with a white gap between."""
    n, _, h, w = images.shape
    rows = (n + columns - 1) // columns
    sheet = torch.ones(3, rows * (h + gap) - gap, columns * (w + gap) - gap)
    for i, img in enumerate(images):
        r, c = divmod(i, columns)
        sheet[:, r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = img
    save_png(sheet, path, recipe, scale)


def read_recipe(path: str | Path) -> dict:
    """The recipe stored in a PNG by `save_png`."""
    img = _open(path, upright=False)
    text = getattr(img, "text", {}) or img.info
    raw = text.get(RECIPE_KEY)
    if raw is None:
        raise ImageError(f"{path} carries no RobustPaint recipe")
    try:
        recipe = json.loads(raw)
    except (json.JSONDecodeError, RecursionError):  # RecursionError: JSON nested thousands deep
        raise ImageError(f"{path} has a damaged recipe") from None
    if not isinstance(recipe, dict):
        raise ImageError(f"{path} has a damaged recipe")
    return recipe
