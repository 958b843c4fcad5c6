"""Beyond the paper: neuron thumbnails and their cache, region class targets, the strength map, in core and CLI."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from robustpaint.cli import main
from robustpaint.core import neurons as neurons_mod
from robustpaint.core.classmap import PALETTE, read_class_map
from robustpaint.core.errors import RobustPaintError
from robustpaint.core.imageio import read_recipe
from robustpaint.core.neurons import NeuronCache, ThumbnailRecipe, activations, visualise
from robustpaint.core.objectives import class_map
from robustpaint.core.tasks import TaskRequest, build_task

QUICK = ThumbnailRecipe(eps=6.0, step_size=0.5, steps=10)


def _run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_a_thumbnail_activates_its_neuron_more_than_gray(tiny_model):
    units = [0, 3, 7, 12]
    thumbs = visualise(tiny_model, units, QUICK)
    acts = activations(tiny_model, thumbs)
    gray = activations(tiny_model, torch.full((1, 3, 32, 32), QUICK.gray))[0]
    for i, u in enumerate(units):
        assert acts[i, u] > gray[u] + 1e-3, f"unit {u}"


def test_the_cache_is_used_the_second_time_and_rebuilt_for_other_weights(tiny_model, tmp_path, monkeypatch):
    calls = []
    real = neurons_mod.visualise
    monkeypatch.setattr(neurons_mod, "visualise", lambda m, units, *a, **k: calls.append(list(units)) or real(m, units, *a, **k))
    first = NeuronCache(tiny_model, "tiny", "a" * 64, QUICK).get([1, 2])
    again = NeuronCache(tiny_model, "tiny", "a" * 64, QUICK)
    assert again.rebuilt_because is None
    second = again.get([1, 2, 5])
    assert calls == [[1, 2], [5]]  # only the new unit was computed
    assert torch.equal(first[1], second[1])
    other = NeuronCache(tiny_model, "tiny", "b" * 64, QUICK)
    assert other.rebuilt_because == "the cache was made from other weights" and not other.thumbnails
    other.path.write_bytes(b"damaged")
    assert NeuronCache(tiny_model, "tiny", "b" * 64, QUICK).rebuilt_because.startswith("damaged cache")


def test_a_neuron_out_of_range_is_a_clear_error(tiny_model):
    with pytest.raises(RobustPaintError, match="out of range"):
        visualise(tiny_model, [16], QUICK)


def _two_class_map(path, size=32):
    arr = np.full((size, size, 3), 255, np.uint8)
    arr[:, :14] = PALETTE[0]
    arr[:, 18:] = PALETTE[1]
    Image.fromarray(arr).save(path)
    return path


def test_a_two_class_map_moves_each_region_towards_its_class(tiny_model, tmp_path):
    regions = read_class_map(_two_class_map(tmp_path / "map.png"), (32, 32), 2)
    assert regions.shape == (2, 32, 32) and regions[0, :, :14].all() and regions[1, :, 18:].all()
    assert not regions[:, :, 14:18].any()  # white: no class
    targets = torch.tensor([0, 1])
    image = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    request = TaskRequest("classmap", image=image, targets=(0, 1), region_masks=regions, eps=3.0, step_size=0.3,
                          steps=5)
    optimizer = build_task(tiny_model, request).optimizer(tiny_model)

    @torch.no_grad()
    def region_losses(x):
        with tiny_model.capture(["pool:in"]) as acts:
            logits = tiny_model(x)
        return [float(class_map(tiny_model.head, regions[i:i + 1], targets[i:i + 1])(x, logits, acts))
                for i in range(2)]

    before = region_losses(image)
    for _ in optimizer.run():
        pass
    after = region_losses(optimizer.x)
    assert after[0] < before[0] and after[1] < before[1]


def test_class_map_colours_that_name_no_class_are_refused(tmp_path):
    path = _two_class_map(tmp_path / "map.png")
    with pytest.raises(RobustPaintError, match="names no class"):
        read_class_map(path, (32, 32), 1)  # green would be class 2, but only one class was named
    arr = np.asarray(Image.open(path)).copy()
    arr[5, 20] = (10, 10, 10)
    Image.fromarray(arr).save(tmp_path / "odd.png")
    with pytest.raises(RobustPaintError, match=r"at \(20, 5\) names no class"):
        read_class_map(tmp_path / "odd.png", (32, 32), 2)


def test_a_zero_strength_leaves_those_pixels_unchanged(tiny_model):
    image = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    strength = torch.ones(1, 1, 32, 32)
    strength[..., :, :16] = 0
    strength[..., :, 16:24] = 0.3
    request = TaskRequest("sketch", image=image, targets=(1,), eps=4.0, step_size=0.5, steps=5,
                          change_mask=strength)
    optimizer = build_task(tiny_model, request).optimizer(tiny_model)
    for _ in optimizer.run():
        pass
    change = (optimizer.x - image).abs()
    assert torch.equal(optimizer.x[..., :16], image[..., :16])
    assert change[..., 24:].mean() > change[..., 16:24].mean() > 0


def test_cli_neurons_writes_thumbnails_and_an_index(installed_tiny, tmp_path, capsys):
    code, out, err = _run(["neurons", "--model", "tiny", "--out", str(tmp_path / "n"), "--first", "3", "--quiet"],
                          capsys)
    assert code == 0, err
    index = json.loads((tmp_path / "n" / "index.json").read_text())
    assert [e["unit"] for e in index["neurons"]] == [0, 1, 2]
    for e in index["neurons"]:
        assert (tmp_path / "n" / e["file"]).is_file() and len(e["strongest_classes"]) == 3
        assert e["activation_thumbnail"] > e["activation_gray"]
    code, _, err = _run(["neurons", "--model", "tiny", "--out", str(tmp_path / "n"), "--units", "99"], capsys)
    assert code == 2 and "out of range" in err and len(err.strip().splitlines()) == 1


def test_cli_generate_with_a_class_map_and_replay(installed_tiny, tmp_path, capsys):
    _two_class_map(tmp_path / "map.png")
    code, out, err = _run(["generate", "--class-map", str(tmp_path / "map.png"), "--classes", "cat,dog",
                           "--model", "tiny", "--steps", "3", "--quiet", "--out", str(tmp_path / "o")], capsys)
    assert code == 0, err
    path = tmp_path / "o" / "classmap-cat-dog.png"
    assert out.strip() == str(path)
    recipe = read_recipe(path)
    assert recipe["task"] == "classmap" and recipe["targets"] == [0, 1] and "class_map" in recipe
    code, _, err = _run(["replay", str(path), "--out", str(tmp_path / "again.png")], capsys)
    assert code == 0, err
    assert np.array_equal(np.asarray(Image.open(path)), np.asarray(Image.open(tmp_path / "again.png")))
    code, _, err = _run(["generate", "--class-map", str(tmp_path / "map.png"), "--classes", "cat",
                         "--model", "tiny", "--out", str(tmp_path / "p")], capsys)
    assert code == 2 and "names no class" in err and not (tmp_path / "p").exists()


def test_cli_strength_map_freezes_the_black_pixels(installed_tiny, tmp_path, capsys):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(tmp_path / "in.png")
    strength = np.full((32, 32), 255, np.uint8)
    strength[:, :16] = 0
    Image.fromarray(strength).save(tmp_path / "strength.png")
    code, _, err = _run(["sketch", str(tmp_path / "in.png"), "--class", "dog", "--strength",
                         str(tmp_path / "strength.png"), "--model", "tiny", "--steps", "4", "--quiet",
                         "--out", str(tmp_path / "out.png")], capsys)
    assert code == 0, err
    before, after = np.asarray(Image.open(tmp_path / "in.png")), np.asarray(Image.open(tmp_path / "out.png"))
    assert np.array_equal(before[:, :16], after[:, :16]) and not np.array_equal(before[:, 16:], after[:, 16:])
    Image.fromarray(strength[:16, :16]).save(tmp_path / "small.png")
    code, _, err = _run(["sketch", str(tmp_path / "in.png"), "--class", "dog", "--strength",
                         str(tmp_path / "small.png"), "--model", "tiny", "--out", str(tmp_path / "x.png")], capsys)
    assert code == 2 and "strength map" in err and not (tmp_path / "x.png").exists()


def test_pure_colours_read_as_the_nearest_palette_colour(tmp_path):
    """Before: pure red (the README's "red = first class") was refused for not being (230, 25, 75)."""
    arr = np.full((32, 32, 3), 255, np.uint8)
    arr[:, :10], arr[:, 12:20], arr[:, 22:] = (255, 0, 0), (0, 255, 0), (0, 0, 255)
    Image.fromarray(arr).save(tmp_path / "pure.png")
    regions = read_class_map(tmp_path / "pure.png", (32, 32), 3)
    assert regions[0][:, :10].all() and regions[1][:, 12:20].all() and regions[2][:, 22:].all()
    assert not regions[:, :, 10:12].any()  # white: no class
