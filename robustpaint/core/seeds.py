"""Class-conditional Gaussian seeds: the start images for generation (the paper's recipe, stored compactly).

Per class: mean and covariance of (optionally average-pooled) training images. We keep the mean, the top `rank`
principal directions scaled by their standard deviations, and a model of what they leave out: mean + factors @ z +
residual. The residual is stationary noise with the leftover's own colour axes and power spectrum (a 3x3 colour
basis and a C x H x (W/2+1) spectrum per class), so it looks like fine image texture instead of the independent
per-pixel colour speckle that one residual standard deviation gives (older seed files have only that, and still
sample that way). With rank 32 and 10 CIFAR classes that is about 2 MB in fp16.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch.nn import functional as F

from robustpaint.core.atomic import atomic_path
from robustpaint.core.errors import ModelError, RobustPaintError


@dataclass
class ClassSeeds:
    mean: torch.Tensor  # K x D
    factors: torch.Tensor  # K x D x r
    residual_std: torch.Tensor  # K
    shape: tuple[int, int, int]  # C, h, w of the (pooled) seed images
    residual_colour: torch.Tensor | None = None  # K x C x C: the leftover's colour axes (columns)
    residual_spectrum: torch.Tensor | None = None  # K x C x h x (w//2+1): its power along each axis, per frequency

    @property
    def num_classes(self) -> int:
        return self.mean.shape[0]

    def sample(self, classes: list[int] | torch.Tensor, size: int | tuple[int, int] | None = None,
               temperature: float = 1.0, generator: torch.Generator | None = None,
               mix: tuple[int, float] | None = None, upsample: str = "nearest") -> torch.Tensor:
        """One seed image per entry of `classes`, in [0,1], upsampled to `size` by pixel repetition ("nearest", the
        paper's) or bicubic interpolation ("bicubic": no block grid for PGD to inherit).

        `mix=(other_class, weight)` blends the two classes' means and factors (weight of the other class).
        """
        classes = torch.as_tensor(classes, dtype=torch.long)
        mean, factors = self.mean[classes].float(), self.factors[classes].float()
        if mix is not None:
            other, weight = mix
            mean = (1 - weight) * mean + weight * self.mean[other].float()
            factors = (1 - weight) * factors + weight * self.factors[other].float()
        n, _, r = factors.shape
        z = torch.randn(n, r, 1, generator=generator)
        e = torch.randn(n, *self.shape, generator=generator)
        residual = self._residual(classes, e)
        if mix is not None:  # the same noise through both classes' residual models, blended like the factors
            residual = (1 - weight) * residual + weight * self._residual(torch.full_like(classes, other), e)
        flat = mean + temperature * ((factors @ z).squeeze(-1) + residual.flatten(1))
        images = flat.view(n, *self.shape).clamp(0, 1)
        if size is not None:
            size = (size, size) if isinstance(size, int) else tuple(size)
            if tuple(images.shape[-2:]) != size:
                images = upsample_seeds(images, size, upsample)
        return images

    def _residual(self, classes: torch.Tensor, white: torch.Tensor) -> torch.Tensor:
        """White noise (n x C x h x w) shaped into each class's residual: filtered by its spectrum along each colour
        axis, then turned from those axes into RGB. Without a spectrum (older files): the white noise times the
        residual standard deviation."""
        if self.residual_spectrum is None or self.residual_colour is None:
            return white * self.residual_std[classes].float()[:, None, None, None]
        h, w = self.shape[1:]
        shaped = torch.fft.irfft2(torch.fft.rfft2(white) * self.residual_spectrum[classes].float().sqrt(), s=(h, w))
        return torch.einsum("nij,njhw->nihw", self.residual_colour[classes].float(), shaped)

    def save(self, path: str | Path) -> None:
        tensors = {"mean": self.mean.half().contiguous(), "factors": self.factors.half().contiguous(),
                   "residual_std": self.residual_std.float().contiguous(),
                   "shape": torch.tensor(self.shape, dtype=torch.int64)}
        if self.residual_spectrum is not None and self.residual_colour is not None:
            tensors["residual_colour"] = self.residual_colour.float().contiguous()
            tensors["residual_spectrum"] = self.residual_spectrum.float().contiguous()
        with atomic_path(path) as tmp:
            save_file(tensors, str(tmp), metadata={"format": "robustpaint-seeds"})

    @classmethod
    def load(cls, path: str | Path) -> "ClassSeeds":
        try:
            t = load_file(str(path))
            return cls(t["mean"], t["factors"], t["residual_std"], tuple(int(v) for v in t["shape"]),
                       t.get("residual_colour"), t.get("residual_spectrum"))
        except (SafetensorError, OSError, KeyError, ValueError) as exc:
            raise ModelError(f"cannot read seeds file {path}: {exc}") from None


def upsample_seeds(images: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    if mode == "nearest":
        return F.interpolate(images, size=size, mode="nearest")
    if mode == "bicubic":
        return F.interpolate(images, size=size, mode="bicubic", align_corners=False).clamp(0, 1)
    raise ValueError(f"upsample must be nearest or bicubic, not {mode!r}")


def fit_seeds(images: torch.Tensor, labels: torch.Tensor, num_classes: int, rank: int = 32,
              pool: int = 1, class_names: list[str] | None = None) -> ClassSeeds:
    """Fits per-class Gaussians to uint8 or [0,1] images (N x C x H x W), average-pooled by `pool` first.

    A class of fewer than 2 images has no spread to fit: refused, by its name in `class_names` where given."""
    x = images.float()
    if images.dtype == torch.uint8:
        x = x / 255
    if pool > 1:
        x = F.avg_pool2d(x, pool)
    shape = tuple(x.shape[1:])
    flat = x.flatten(1)
    d = flat.shape[1]
    rank = min(rank, d)
    means, factors, residuals, colours, spectra = [], [], [], [], []
    for k in range(num_classes):
        members = flat[labels == k]
        if len(members) < 2:
            name = repr(class_names[k]) if class_names else k
            raise RobustPaintError(f"class {name} has {len(members)} image{'s' * (len(members) != 1)}; fitting "
                                   f"seeds needs at least 2 of each class")
        mean = members.mean(0)
        centred = (members - mean) / len(members) ** 0.5  # covariance = centred.T @ centred (divided by N)
        r = min(rank, len(members) - 1, d)
        # Randomised SVD: only the top r directions are kept, and it is ~50x cheaper than a full SVD at 3072-d.
        _, s, v = torch.svd_lowrank(centred, q=min(r + 8, min(centred.shape)), niter=4)
        s, v = s[:r], v[:, :r]
        top = v * s  # D x r
        if r < rank:
            top = torch.cat([top, torch.zeros(d, rank - r)], 1)
        remaining = (centred.pow(2).sum() - s.pow(2).sum()).clamp(min=0)
        residual_var = remaining / max(d - r, 1) + 1e-4  # the paper adds 1e-4 I
        colour, spectrum = _residual_model((members - mean) - (members - mean) @ v @ v.T, shape)
        means.append(mean)
        factors.append(top)
        residuals.append(residual_var.sqrt())
        colours.append(colour)
        spectra.append(spectrum)
    return ClassSeeds(torch.stack(means), torch.stack(factors), torch.stack(residuals), shape,
                      torch.stack(colours), torch.stack(spectra))


def _residual_model(leftover: torch.Tensor, shape: tuple[int, int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Colour axes (C x C, eigenvectors of the leftover's channel covariance) and the mean power spectrum along each
    (C x h x w//2+1, scaled so that filtering unit white noise by its square root restores the leftover's power)."""
    c, h, w = shape
    images = leftover.view(-1, c, h, w)
    pixels = images.transpose(0, 1).reshape(c, -1)
    _, colour = torch.linalg.eigh(pixels @ pixels.T / pixels.shape[1])
    along_axes = torch.einsum("ji,njhw->nihw", colour, images)
    spectrum = torch.fft.rfft2(along_axes).abs().pow(2).mean(0) / (h * w)
    return colour, spectrum + 1e-4  # the paper's 1e-4 I: variance 1e-4 per pixel along each (orthonormal) axis


class DataFreeSeeds:
    """Starts for a model with no seeds of its own or of its data set: smooth low-frequency noise around mid-grey
    (the same for every class), so generation works with any model, only less varied than from fitted seeds."""

    def sample(self, classes, size: int | tuple[int, int] | None = None, temperature: float = 1.0,
               generator: torch.Generator | None = None, mix=None, upsample: str = "bicubic") -> torch.Tensor:
        size = (32, 32) if size is None else ((size, size) if isinstance(size, int) else tuple(size))
        n = len(classes)
        coarse = (max(2, size[0] // 8), max(2, size[1] // 8))
        noise = 0.5 + 0.25 * temperature * torch.randn(n, 3, *coarse, generator=generator)
        return F.interpolate(noise, size=size, mode="bicubic", align_corners=False).clamp(0, 1)
