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
