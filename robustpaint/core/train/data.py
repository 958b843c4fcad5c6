"""Image-folder data sets decoded once into uint8 tensors, with tensor-side augmentation.

`train/<class>/*` and `test/<class>/*` folders, or a `.tar.gz` holding such a tree, or `cifar10` (torchvision).
The decoded arrays are cached as safetensors in the user cache folder, so no JPEG is decoded per epoch.
"""

from __future__ import annotations

import hashlib
import math
import sys
import tarfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from safetensors.torch import load_file, save_file

from robustpaint.core.atomic import atomic_path
from robustpaint.core.imageio import MAX_PIXELS
from robustpaint.core.errors import RobustPaintError
from robustpaint.core.paths import user_cache_dir

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".ppm", ".tif", ".tiff"}


class DataError(RobustPaintError):
    pass


@dataclass
class ImageSet:
    images: torch.Tensor  # uint8, N x 3 x H x W
    labels: torch.Tensor  # int64, N
    classes: list[str]
    skipped: int = 0


def _find_split_root(root: Path, split: str) -> Path:
    """The folder holding `split/`, also when the tree sits one level down (as in `cifar10/train`)."""
    if (root / split).is_dir():
        return root / split
    children = [c for c in root.iterdir() if c.is_dir()] if root.is_dir() else []
    if len(children) == 1 and (children[0] / split).is_dir():
        return children[0] / split
    raise DataError(f"no '{split}' folder under {root} (expected {split}/<class>/<images>)")


def read_image_folder(split_dir: Path) -> ImageSet:
    classes = sorted(c.name for c in split_dir.iterdir() if c.is_dir())
    if not classes:
        raise DataError(f"{split_dir} has no class folders")
    arrays, labels, skipped, size = [], [], 0, None
    for label, name in enumerate(classes):
        files = sorted(f for f in (split_dir / name).iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise DataError(f"class folder {split_dir / name} holds no images")
        for file in files:
            try:
                with Image.open(file) as img:
                    if img.width * img.height > MAX_PIXELS:  # a decompression bomb: refused before decoding
                        raise ValueError(f"{img.width}x{img.height} pixels, more than the {MAX_PIXELS:,} allowed")
                    array = np.asarray(img.convert("RGB"))
            except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError,
                    Image.DecompressionBombError) as exc:
                warnings.warn(f"skipped unreadable image {file}: {exc}", stacklevel=2)
                skipped += 1
                continue
            if size is None:
                size = array.shape
            elif array.shape != size:
                raise DataError(f"images of mixed sizes: {file} is {array.shape[1]}x{array.shape[0]}, "
                                f"earlier ones {size[1]}x{size[0]}; resize the data set first")
            arrays.append(array)
            labels.append(label)
    if skipped:
        print(f"warning: skipped {skipped} unreadable images in {split_dir}", file=sys.stderr)
    counts = np.bincount(labels, minlength=len(classes))
    if counts.min() * 2 < counts.max():
        print(f"warning: unbalanced classes in {split_dir}: " +
              ", ".join(f"{c}={n}" for c, n in zip(classes, counts)), file=sys.stderr)
    images = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
    return ImageSet(images, torch.tensor(labels, dtype=torch.int64), classes, skipped)


def _cache_key(source: Path, split: str) -> str:
    stat = source.stat()
    return hashlib.sha256(f"{source.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{split}|v1".encode()).hexdigest()[:20]


def load_split(data: str, split: str, cache: bool = True) -> ImageSet:
    """Loads `train` or `test` of a folder, a `.tar.gz` of one, or `cifar10` (torchvision, needs internet)."""
    if data == "cifar10":
        return _torchvision_cifar10(split)
    source = Path(data)
    if not source.exists():
        raise DataError(f"data not found: {data}")
    cache_file = user_cache_dir() / "datasets" / f"{_cache_key(source, split)}.safetensors"
    if cache and cache_file.is_file():
        try:
            tensors = load_file(str(cache_file))
            classes = bytes(tensors["classes"].tolist()).decode().split("\n")
            return ImageSet(tensors["images"], tensors["labels"], classes)
        except Exception:  # noqa: BLE001 - a truncated or damaged cache (a killed run): rebuilt below
            cache_file.unlink(missing_ok=True)
    if source.is_file():
        if not source.name.endswith((".tar.gz", ".tgz", ".tar")):
            raise DataError(f"{data} is neither a folder nor a .tar.gz of one")
        extract_to = user_cache_dir() / "datasets" / f"{_cache_key(source, 'tree')}"
        if not (extract_to / ".complete").exists():
            extract_to.mkdir(parents=True, exist_ok=True)
            try:
                with tarfile.open(source) as archive:
                    archive.extractall(extract_to, filter="data")
            except (tarfile.TarError, OSError, EOFError) as exc:
                first = (str(exc).splitlines() or [type(exc).__name__])[0]  # not tarfile's one line per method
                raise DataError(f"cannot unpack {data}: {first}") from None
            (extract_to / ".complete").touch()
        source_dir = extract_to
    else:
        source_dir = source
    image_set = read_image_folder(_find_split_root(source_dir, split))
    if cache:
        with atomic_path(cache_file) as tmp:
            save_file({"images": image_set.images, "labels": image_set.labels,
                       "classes": torch.tensor(list("\n".join(image_set.classes).encode()), dtype=torch.uint8)},
                      str(tmp))
    return image_set


def _torchvision_cifar10(split: str) -> ImageSet:
    from torchvision.datasets import CIFAR10
    root = user_cache_dir() / "torchvision"
    try:
        ds = CIFAR10(str(root), train=split == "train", download=True)
    except Exception as exc:  # noqa: BLE001 - any network failure becomes one line
        raise DataError(f"cannot download CIFAR-10 ({type(exc).__name__}); without internet, pass --data DIR "
                        f"or a .tar.gz of train/<class>/ and test/<class>/ folders") from None
    images = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()
    return ImageSet(images, torch.tensor(ds.targets, dtype=torch.int64), list(ds.classes))


def augment(batch: torch.Tensor, generator: torch.Generator, pad: int = 4) -> torch.Tensor:
    """Random crop with zero padding and random horizontal flip, on a uint8 or float batch."""
    n, _, h, w = batch.shape
    padded = torch.nn.functional.pad(batch, (pad, pad, pad, pad))
    offsets = torch.randint(0, 2 * pad + 1, (n, 2), generator=generator)
    flips = torch.rand(n, generator=generator) < 0.5
    out = torch.empty_like(batch)
    for i in range(n):
        dy, dx = int(offsets[i, 0]), int(offsets[i, 1])
        crop = padded[i, :, dy:dy + h, dx:dx + w]
        out[i] = crop.flip(-1) if flips[i] else crop
    return out


def random_resized_crop(batch: torch.Tensor, size: int, generator: torch.Generator,
                        scale: tuple[float, float] = (0.25, 1.0), ratio: tuple[float, float] = (3 / 4, 4 / 3)
                        ) -> torch.Tensor:
    """Inception-style augmentation for photos: per image a random box of `scale` of the area and `ratio` aspect,
    resized (bilinear, antialiased) to `size` x `size`, and a random horizontal flip. Returns floats in [0, 255].

    Small photo sets such as Imagenette (under 1,000 images a class) overfit without it."""
    n, _, h, w = batch.shape
    areas = torch.empty(n).uniform_(*scale, generator=generator) * h * w
    log_ratio = torch.empty(n).uniform_(math.log(ratio[0]), math.log(ratio[1]), generator=generator)
    aspects = log_ratio.exp()
    where = torch.rand(n, 2, generator=generator)
    flips = torch.rand(n, generator=generator) < 0.5
    out = torch.empty(n, batch.shape[1], size, size)
    for i in range(n):
        cw = int(round(math.sqrt(float(areas[i] * aspects[i]))))
        ch = int(round(math.sqrt(float(areas[i] / aspects[i]))))
        cw, ch = max(1, min(cw, w)), max(1, min(ch, h))
        top, left = int(where[i, 0] * (h - ch + 1)), int(where[i, 1] * (w - cw + 1))
        crop = batch[i:i + 1, :, top:top + ch, left:left + cw].float()
        crop = torch.nn.functional.interpolate(crop, size=(size, size), mode="bilinear", antialias=True,
                                               align_corners=False)[0]
        out[i] = crop.flip(-1) if flips[i] else crop
    return out.clamp_(0, 255)


def resize_images(images: torch.Tensor, size: int) -> torch.Tensor:
    """A uint8 N x C x H x W set scaled (area-antialiased bilinear) to size x size, for a model trained at `size`;
    unchanged when it already has that size."""
    if tuple(images.shape[-2:]) == (size, size):
        return images
    out = torch.empty(images.shape[0], images.shape[1], size, size, dtype=torch.uint8)
    for start in range(0, len(images), 256):
        chunk = images[start:start + 256].float()
        out[start:start + 256] = torch.nn.functional.interpolate(
            chunk, size=(size, size), mode="bilinear", antialias=True, align_corners=False).round().clamp(0, 255)
    return out
