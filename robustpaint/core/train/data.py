"""Image-folder data sets decoded once into uint8 tensors, with tensor-side augmentation.

`train/<class>/*` and `test/<class>/*` folders, or a `.tar.gz` holding such a tree, or `cifar10` (torchvision).
The decoded arrays are cached as safetensors in the user cache folder, so no JPEG is decoded per epoch; the cache
is keyed on what a split holds (each file's relative path, size and modification time), a `.tar.gz` unpacked whole or
not at all.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import math
import os
import shutil
import sys
import tarfile
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from robustpaint.core.atomic import atomic_path
from robustpaint.core.errors import ImageError
from robustpaint.core.imageio import read_rgb
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


def list_image_folder(split_dir: Path) -> dict[str, list[tuple[Path, os.stat_result | None]]]:
    """What a split holds: each class folder's image-named entries, sorted, with their stat (None for an entry that
    is not a regular file: a pipe, a device or a folder named like an image, which is never opened, since opening a
    pipe blocks for ever)."""
    classes = sorted(c.name for c in split_dir.iterdir() if c.is_dir())
    if not classes:
        raise DataError(f"{split_dir} has no class folders")
    unshown = next((c for c in classes if not c.isprintable()), None)
    if unshown is not None:  # the card a training writes would be refused when read (catalog.check_class_names)
        raise DataError(f"the class folder {unshown!r} in {split_dir} has a name that cannot be shown on one line; "
                        f"rename it")
    listing = {}
    for name in classes:
        with os.scandir(split_dir / name) as entries:
            files = sorted((Path(e.path), e.stat() if e.is_file() else None) for e in entries
                           if os.path.splitext(e.name)[1].lower() in IMAGE_SUFFIXES)
        if not files:
            raise DataError(f"class folder {split_dir / name} holds no images")
        listing[name] = files
    return listing


def read_image_folder(split_dir: Path, listing: dict | None = None) -> ImageSet:
    """Decodes a split's images (`listing`: what `list_image_folder` found, when already listed). Unreadable files
    are skipped with a warning; a class left with no image at all is refused, naming it."""
    listing = list_image_folder(split_dir) if listing is None else listing
    classes = list(listing)
    arrays, labels, skipped, size = [], [], 0, None
    for label, name in enumerate(classes):
        readable, first_problem = 0, None
        for file, stat in listing[name]:
            try:
                if stat is None:
                    raise ValueError("not a regular file (a pipe, device or folder)")
                array = read_rgb(file)  # the photos' decoder: any format failure, any bomb, is one ImageError
            except (ImageError, ValueError) as exc:
                warnings.warn(f"skipped unreadable image {file}: {exc}", stacklevel=2)
                skipped += 1
                first_problem = first_problem or f"{file.name}: {(str(exc).splitlines() or [type(exc).__name__])[0]}"
                continue
            if size is None:
                size = array.shape
            elif array.shape != size:
                raise DataError(f"images of mixed sizes: {file} is {array.shape[1]}x{array.shape[0]}, "
                                f"earlier ones {size[1]}x{size[0]}; resize the data set first")
            arrays.append(array)
            labels.append(label)
            readable += 1
        if not readable:
            raise DataError(f"class {name!r}: none of its {len(listing[name])} files in {split_dir / name} could be "
                            f"read as an image (e.g. {first_problem}); fix or remove them")
    if skipped:
        print(f"warning: skipped {skipped} unreadable images in {split_dir}", file=sys.stderr)
    counts = np.bincount(labels, minlength=len(classes))
    if counts.min() * 2 < counts.max():
        print(f"warning: unbalanced classes in {split_dir}: " +
              ", ".join(f"{c}={n}" for c, n in zip(classes, counts)), file=sys.stderr)
    images = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
    return ImageSet(images, torch.tensor(labels, dtype=torch.int64), classes, skipped)


def _contents_key(listing: dict, split: str) -> str:
    """The decoded cache's key: what the split holds (every class's files by relative path, size and modification
    time), so a class or an image added, removed or rewritten anywhere under it is seen."""
    digest = hashlib.sha256(f"{split}|v2".encode())
    for name, files in listing.items():
        for file, stat in files:
            where = f"{name}/{file.name}"
            digest.update(f"\n{where}|{stat.st_size}|{stat.st_mtime_ns}".encode() if stat else f"\n{where}|-".encode())
    return digest.hexdigest()[:20]


def _archive_key(archive: Path) -> str:
    stat = archive.stat()
    return hashlib.sha256(f"{archive.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|tree|v1".encode()).hexdigest()[:20]


def _io_problem(exc: BaseException, where: Path) -> str:
    """One line for an I/O failure; a full disk said as such, with the folder and what to do."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return f"the disk is full ({where}; free space there or point ROBUSTPAINT_CACHE_DIR elsewhere)"
    return (str(exc).splitlines() or [type(exc).__name__])[0]  # not tarfile's one line per method


STALE_UNPACK_SECONDS = 3600  # a partial tree not touched this long belongs to an unpack that was killed


def _unpack(archive: Path, target: Path) -> None:
    """Unpacks into a temporary folder beside `target`, renamed into place once whole: `target` is complete or
    absent. On any error (a full disk, a damaged archive, Ctrl-C) the partial tree is removed, since it would keep
    the disk full; one a killed unpack left (touched as it goes) is removed by the next unpack once stale."""
    for partial in target.parent.glob(f".{target.name}.*.partial"):
        with contextlib.suppress(OSError):
            if time.time() - partial.stat().st_mtime > STALE_UNPACK_SECONDS:
                shutil.rmtree(partial)
    if target.exists() and not (target / ".complete").exists():  # an older version's, perhaps half unpacked
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{target.name}.{os.getpid()}.", suffix=".partial", dir=target.parent))

    def members(tar):
        for count, member in enumerate(tar):
            if count % 200 == 0:
                os.utime(partial)  # still in progress: not stale
            yield member

    try:
        with tarfile.open(archive) as tar:
            tar.extractall(partial, members=members(tar), filter="data")
        (partial / ".complete").touch()
        try:
            os.rename(partial, target)
        except OSError:
            if not (target / ".complete").exists():
                raise
            # another process unpacked the same archive first: its tree is as good as ours
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DataError(f"cannot unpack {archive}: {_io_problem(exc, target.parent)}") from None
    finally:
        shutil.rmtree(partial, ignore_errors=True)  # gone already when renamed


def load_split(data: str, split: str, cache: bool = True) -> ImageSet:
    """Loads `train` or `test` of a folder, a `.tar.gz` of one, or `cifar10` (torchvision, needs internet)."""
    if data == "cifar10":
        return _torchvision_cifar10(split)
    source = Path(data)
    if not source.exists():
        raise DataError(f"data not found: {data}")
    if source.is_file():
        if not source.name.endswith((".tar.gz", ".tgz", ".tar")):
            raise DataError(f"{data} is neither a folder nor a .tar.gz of one")
        extract_to = user_cache_dir() / "datasets" / _archive_key(source)
        if not (extract_to / ".complete").exists():
            _unpack(source, extract_to)
        source_dir = extract_to
    else:
        source_dir = source
    split_dir = _find_split_root(source_dir, split)
    listing = list_image_folder(split_dir)
    cache_file = user_cache_dir() / "datasets" / f"{_contents_key(listing, split)}.safetensors"
    if cache and cache_file.is_file():
        try:
            tensors = load_file(str(cache_file))
            classes = bytes(tensors["classes"].tolist()).decode().split("\n")
            return ImageSet(tensors["images"], tensors["labels"], classes)
        except Exception:  # noqa: BLE001 - a truncated or damaged cache (a killed run): rebuilt below
            cache_file.unlink(missing_ok=True)
    image_set = read_image_folder(split_dir, listing)
    if cache:
        try:
            with atomic_path(cache_file) as tmp:
                save_file({"images": image_set.images, "labels": image_set.labels,
                           "classes": torch.tensor(list("\n".join(image_set.classes).encode()), dtype=torch.uint8)},
                          str(tmp))
        except (OSError, SafetensorError) as exc:  # only a cache: the set is decoded again next time
            print(f"warning: the decoded set is not cached: {_io_problem(exc, cache_file.parent)}", file=sys.stderr)
    return image_set


def _torchvision_cifar10(split: str) -> ImageSet:
    from robustpaint.core.versions import LibraryMismatchError, import_torchvision
    try:
        datasets = import_torchvision("torchvision.datasets", "training on cifar10 (torchvision downloads it)")
    except LibraryMismatchError as exc:
        raise DataError(f"{exc}; or pass --data DIR or a .tar.gz of train/<class>/ and test/<class>/ folders, "
                        f"which needs no torchvision") from None
    root = user_cache_dir() / "torchvision"
    try:
        ds = datasets.CIFAR10(str(root), train=split == "train", download=True)
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
