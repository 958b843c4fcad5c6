import pytest
import torch

from robustpaint.core.errors import ModelError
from robustpaint.core.seeds import ClassSeeds, fit_seeds


def _data():
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(60) % 3
    images = (torch.rand(60, 3, 8, 8, generator=g) * 0.3 + labels.view(-1, 1, 1, 1) * 0.3).clamp(0, 1)
    return images, labels


def test_seeds_round_trip_and_sample(tmp_path):
    images, labels = _data()
    seeds = fit_seeds(images, labels, 3, rank=4)
    seeds.save(tmp_path / "s.safetensors")
    loaded = ClassSeeds.load(tmp_path / "s.safetensors")
    assert loaded.shape == (3, 8, 8)
    assert torch.allclose(loaded.mean.float(), seeds.mean, atol=1e-3)
    sample = loaded.sample([0, 2], size=32, generator=torch.Generator().manual_seed(1))
    assert sample.shape == (2, 3, 32, 32) and sample.min() >= 0 and sample.max() <= 1
    # class means differ, and samples land near their class's mean
    assert sample[0].mean() < sample[1].mean()


def test_temperature_zero_gives_the_class_mean():
    images, labels = _data()
    seeds = fit_seeds(images, labels, 3, rank=4)
    sample = seeds.sample([1], temperature=0.0)
    assert torch.allclose(sample[0].flatten(), seeds.mean[1].clamp(0, 1), atol=1e-6)


def test_mixing_two_classes_lands_between_them():
    images, labels = _data()
    seeds = fit_seeds(images, labels, 3, rank=4)
    mixed = seeds.sample([0], temperature=0.0, mix=(2, 0.5))
    assert torch.allclose(mixed.flatten(), (0.5 * seeds.mean[0] + 0.5 * seeds.mean[2]).clamp(0, 1), atol=1e-6)


def test_pooled_seeds_are_upsampled_by_pixel_repetition():
    images, labels = _data()
    seeds = fit_seeds(images, labels, 3, rank=2, pool=4)
    assert seeds.shape == (3, 2, 2)
    sample = seeds.sample([0], size=8)
    assert torch.equal(sample[..., 0:4, 0:4], sample[..., 0:1, 0:1].expand(-1, -1, 4, 4))


def test_damaged_seed_file_is_a_clear_error(tmp_path):
    (tmp_path / "bad.safetensors").write_bytes(b"garbage")
    with pytest.raises(ModelError, match="seeds"):
        ClassSeeds.load(tmp_path / "bad.safetensors")


def _textured_data(n=400, size=16):
    """Grey (equal-channel) images of spatially smooth noise around a class mean: the leftover that rank-2 factors
    cannot hold is correlated between neighbouring pixels and between channels."""
    g = torch.Generator().manual_seed(0)
    noise = torch.randn(n, 1, size, size, generator=g)
    kernel = torch.ones(1, 1, 3, 3) / 3  # sum of 9 cells / 3: unit-ish variance, strong neighbour correlation
    smooth = torch.nn.functional.conv2d(torch.nn.functional.pad(noise, (1, 1, 1, 1), mode="circular"), kernel)
    images = (0.5 + 0.1 * smooth).expand(-1, 3, -1, -1).clamp(0, 1)
    return images, torch.zeros(n, dtype=torch.long)


def _neighbour_and_colour_correlation(images, mean):
    x = images - mean.view(1, *images.shape[1:])
    right = torch.corrcoef(torch.stack([x[..., :, :-1].flatten(), x[..., :, 1:].flatten()]))[0, 1]
    colour = torch.corrcoef(torch.stack([x[:, 0].flatten(), x[:, 1].flatten()]))[0, 1]
    return float(right), float(colour), float(x.pow(2).mean())


def test_seed_residual_keeps_the_datas_texture_and_colour_correlation(tmp_path):
    images, labels = _textured_data()
    seeds = fit_seeds(images, labels, 1, rank=2)
    seeds.save(tmp_path / "s.safetensors")
    seeds = ClassSeeds.load(tmp_path / "s.safetensors")
    samples = seeds.sample([0] * 400, generator=torch.Generator().manual_seed(1))
    data_right, _, data_power = _neighbour_and_colour_correlation(images, seeds.mean[0].float())
    right, colour, power = _neighbour_and_colour_correlation(samples, seeds.mean[0].float())
    assert data_right > 0.5 and abs(right - data_right) < 0.1  # white per-pixel noise would give about 0
    assert colour > 0.95  # grey data stays grey: no colour speckle
    assert abs(power / data_power - 1) < 0.15


def test_seed_files_without_a_residual_spectrum_sample_white_residuals(tmp_path):
    images, labels = _textured_data()
    fitted = fit_seeds(images, labels, 1, rank=2)
    old = ClassSeeds(fitted.mean, fitted.factors, fitted.residual_std, fitted.shape)  # an older file's content
    old.save(tmp_path / "old.safetensors")
    loaded = ClassSeeds.load(tmp_path / "old.safetensors")
    assert loaded.residual_spectrum is None
    samples = loaded.sample([0] * 200, generator=torch.Generator().manual_seed(1))
    right, colour, _ = _neighbour_and_colour_correlation(samples, loaded.mean[0].float())
    assert abs(right) < 0.15 and abs(colour) < 0.15
