"""Readers never fail with a foreign exception, and atomic writes survive SIGKILL at any moment."""

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from robustpaint.core.errors import RobustPaintError
from robustpaint.core.imageio import load_image, load_mask, read_recipe

ROOT = Path(__file__).resolve().parents[1]


def _png_bytes(mode="RGB", size=(8, 8)):
    buffer = io.BytesIO()
    Image.new(mode, size).save(buffer, format="PNG")
    return buffer.getvalue()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(st.binary(max_size=2000),
                      st.builds(lambda cut, flip: bytearray(_png_bytes())[:cut] + bytes([flip]),
                                st.integers(0, 200), st.integers(0, 255))))
def test_any_bytes_give_an_image_or_our_error(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("fuzz") / "x.png"
    path.write_bytes(bytes(data))
    for reader in (lambda: load_image(path), lambda: load_mask(path, (8, 8)), lambda: read_recipe(path)):
        try:
            reader()
        except RobustPaintError:
            pass


@pytest.mark.parametrize("mode", ["L", "LA", "P", "RGBA", "CMYK", "I;16", "I", "1", "RGB"])
def test_every_image_mode_is_converted_to_rgb(tmp_path, mode):
    path = tmp_path / ("x.tif" if mode in ("CMYK", "I") else "x.png")
    Image.new(mode, (10, 6)).save(path)
    image = load_image(path)
    assert image.shape == (1, 3, 6, 10) and 0 <= image.min() and image.max() <= 1


def test_animated_images_give_their_first_frame(tmp_path):
    frames = [Image.new("RGB", (4, 4), c) for c in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:])
    image = load_image(tmp_path / "a.gif")
    assert image[0, 0].mean() > 0.9 and image[0, 2].mean() < 0.1


def test_huge_images_are_refused_before_decoding(tmp_path):
    from robustpaint.core import imageio
    Image.new("L", (400, 400)).save(tmp_path / "big.png")
    old, imageio.MAX_PIXELS = imageio.MAX_PIXELS, 100_000
    try:
        with pytest.raises(RobustPaintError, match="more than"):
            load_image(tmp_path / "big.png")
    finally:
        imageio.MAX_PIXELS = old


WRITER = """
import sys
from robustpaint.core.atomic import atomic_write_bytes
target, i = sys.argv[1], 0
while True:
    i += 1
    atomic_write_bytes(target, bytes([i % 256]) * 3_000_000)
    if i == 1:
        print("written", flush=True)  # the test kills only a writer that is in its loop
"""


def test_sigkill_during_atomic_writes_never_leaves_a_broken_file(tmp_path):
    target = tmp_path / "file.bin"
    target.write_bytes(bytes([0]) * 3_000_000)
    rng = np.random.default_rng(0)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    seen = set()
    for trial in range(15):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(target)], env=env, stdout=subprocess.PIPE,
                                text=True)
        assert proc.stdout.readline().strip() == "written"  # killed in the write loop, not before it began
        time.sleep(float(rng.random()) * 0.3)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        data = target.read_bytes()
        assert len(data) == 3_000_000 and data == bytes([data[0]]) * 3_000_000, f"trial {trial}: torn file"
        seen.add(data[0])
    assert len(seen) > 1  # the kills fell at different points of the writes (not all before or after one)
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "file.bin"]
    # a killed writer may leave its temporary file behind, never a damaged target
    assert all(name.startswith(".file.bin.") for name in leftovers)


def test_atomic_writes_get_the_permissions_a_plain_open_would(tmp_path):
    """mkstemp makes 0600 files and safetensors replaces the file it writes: both end with the umask's mode."""
    import torch
    from safetensors.torch import save_file

    from robustpaint.core.atomic import atomic_path, atomic_write_bytes
    umask = os.umask(0o022)
    try:
        atomic_write_bytes(tmp_path / "a.bin", b"x")
        with atomic_path(tmp_path / "b.safetensors") as tmp:
            save_file({"t": torch.zeros(2)}, str(tmp))
        for name in ("a.bin", "b.safetensors"):
            assert (tmp_path / name).stat().st_mode & 0o777 == 0o644, name
    finally:
        os.umask(umask)


def _rgba_mask(path, background, square):
    arr = np.zeros((16, 16, 4), np.uint8)
    arr[:] = background
    arr[4:10, 4:10] = square
    Image.fromarray(arr, "RGBA").save(path)
    return path


@pytest.mark.parametrize("background, square", [
    ((0, 0, 0, 255), (255, 255, 255, 255)),  # opaque black with a white hole (issue #20: read as all hole before)
    ((0, 0, 0, 0), (255, 255, 255, 255)),  # transparent with a white hole
    ((255, 255, 255, 0), (255, 255, 255, 255)),  # transparent white (as many editors save it) with a white hole
])
def test_an_rgba_mask_is_white_where_the_hole_is_whatever_its_background(tmp_path, background, square):
    mask = load_mask(_rgba_mask(tmp_path / "m.png", background, square), (16, 16))
    expected = np.zeros((16, 16), np.float32)
    expected[4:10, 4:10] = 1
    assert np.array_equal(mask[0, 0].numpy(), expected)


def test_an_rgba_mask_that_marks_the_hole_only_by_opacity_in_black_is_refused(tmp_path):
    with pytest.raises(RobustPaintError, match="white where the hole is"):
        load_mask(_rgba_mask(tmp_path / "m.png", (0, 0, 0, 0), (0, 0, 0, 255)), (16, 16))


# --- issue #20: a recipe from anyone passes the command line's checks and a budget before any tensor is made ------

def _recipe_png(path, recipe):
    from robustpaint.core.imageio import save_png
    import torch
    save_png(torch.zeros(1, 3, 8, 8), path, recipe)
    return path


@pytest.mark.parametrize("changes, message", [
    ({"steps": 10**12}, "steps must lie in"),
    ({"eps": "5"}, "eps must be a number"),
    ({"model": 123}, "model must be a name"),
    ({"targets": "abc"}, "targets must be a list"),
    ({"recipe_version": "2"}, "recipe_version must be a whole number"),
    ({"mix": [999, 2.0]}, "mix weight must lie in"),
    ({"seed": 2**64}, "seed must lie in"),
    ({"norm": "l7"}, "norm must be one of"),
    ({"bf16": "yes"}, "bf16 must be true or false"),
    ({"candidates": 10**7}, "candidates must lie in"),
    ({"size": 100000}, "size must lie in"),
    ({"size": 1024, "candidates": 1024, "steps": 5}, "more than one run may hold"),
    ({"size": 512, "candidates": 8, "steps": 100_000}, "more than one run may take"),
])
def test_replay_refuses_a_recipe_the_command_line_would_refuse(installed_tiny, tmp_path, capsys, changes, message,
                                                               monkeypatch):
    from robustpaint.cli import main
    from robustpaint.core import recipes
    monkeypatch.setattr(recipes, "build_task", lambda *a, **k: pytest.fail("a tensor was made"))
    recipe = {"recipe_version": 1, "task": "generate", "model": "tiny", "targets": [0], "candidates": 1, "steps": 2,
              **changes}
    path = _recipe_png(tmp_path / "evil.png", recipe)
    code = main(["replay", str(path), "--out", str(tmp_path / "out.png"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "out.png").exists()


def test_a_recipe_nested_thousands_deep_is_a_damaged_recipe(tmp_path):
    from robustpaint.core.imageio import save_png
    import torch
    from PIL import PngImagePlugin
    info = PngImagePlugin.PngInfo()
    info.add_text("robustpaint:recipe", "[" * 100_000 + "]" * 100_000)
    Image.new("RGB", (4, 4)).save(tmp_path / "deep.png", pnginfo=info)
    with pytest.raises(RobustPaintError, match="damaged recipe"):
        read_recipe(tmp_path / "deep.png")


_RECIPE_VALUE = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                             lambda inner: st.lists(inner, max_size=3), max_leaves=8)


@settings(max_examples=300, deadline=None)
@given(fields=st.dictionaries(st.sampled_from(["task", "recipe_version", "model", "eps", "step_size", "steps", "lam",
                                               "factor", "temperature", "candidates", "size", "seed", "targets",
                                               "neurons", "neuron_weights", "mix", "norm", "fill", "bf16", "index",
                                               "export_scale", "consistency_sweeps", "keep_photo", "image", "mask"]),
                              _RECIPE_VALUE, max_size=8),
       task=st.sampled_from(["sketch", "generate", "superres", "paint", "nope", "none"]))
def test_any_recipe_json_gives_a_request_or_our_error(fields, task):
    """What a PNG from anyone may carry: a request (then the budget check) or one of our errors, nothing else."""
    from robustpaint.core.errors import RobustPaintError
    from robustpaint.core.recipes import check_budget, request_from_recipe
    try:
        request = request_from_recipe({"task": task, **fields})
        check_budget(request, 32)
    except RobustPaintError:
        pass


def _cli(args, capsys):
    from robustpaint.cli import main
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.err


def test_a_text_file_imported_as_a_checkpoint_is_one_line(tmp_path, capsys):
    (tmp_path / "notes.pt").write_text("hello, not a checkpoint\n")
    code, err = _cli(["models", "import", str(tmp_path / "notes.pt"), "--name", "x"], capsys)
    assert code == 2 and err.count("\n") == 1 and "not a PyTorch checkpoint" in err


def test_a_compressed_checkpoint_that_would_inflate_is_refused_before_loading(tmp_path, capsys):
    import zipfile
    with zipfile.ZipFile(tmp_path / "bomb.pt", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("archive/data/0", b"\0" * (50 * 2**20))  # 50 MB of zeros in a few kB
    code, err = _cli(["models", "import", str(tmp_path / "bomb.pt"), "--name", "x"], capsys)
    assert code == 2 and "would inflate" in err and err.count("\n") == 1


def test_image_errors_name_the_problem_not_python_objects(tmp_path):
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(RobustPaintError) as info:
        load_image(tmp_path / "text.png")
    assert "0x" not in str(info.value) and "not an image format" in str(info.value)
    os.symlink(tmp_path / "b", tmp_path / "a")
    os.symlink(tmp_path / "a", tmp_path / "b")
    with pytest.raises(RobustPaintError, match="symbolic links"):
        load_image(tmp_path / "a")


def test_a_huge_file_is_refused_before_it_is_read(tmp_path, monkeypatch):
    import robustpaint.core.imageio as imageio
    Image.new("RGB", (8, 8)).save(tmp_path / "small.png")
    with open(tmp_path / "small.png", "ab") as f:  # sparse: 300 MB claimed, nothing written
        f.truncate(300 * 2**20)
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail("read a file larger than the limit"))
    with pytest.raises(RobustPaintError, match="MB, more than"):
        imageio.load_image(tmp_path / "small.png")


def test_a_broken_tar_gz_is_one_line(tmp_path, capsys):
    (tmp_path / "data.tar.gz").write_bytes(b"garbage, not gzip")
    code, err = _cli(["seeds", "fit", "--data", str(tmp_path / "data.tar.gz"), "--out", str(tmp_path / "s.safetensors")],
                     capsys)
    assert code == 2 and err.count("\n") == 1 and "cannot unpack" in err


def test_a_killed_writers_temporary_file_is_removed_by_the_next_write(tmp_path):
    from robustpaint.core.atomic import STALE_SECONDS, atomic_write_bytes
    stale = tmp_path / ".out.png.abcd1234.tmp"
    young = tmp_path / ".out.png.efgh5678.tmp"  # a writer still at work
    other = tmp_path / ".other.png.abcd1234.tmp"
    for path in (stale, young, other):
        path.write_bytes(b"half a file")
    old = time.time() - STALE_SECONDS - 60
    os.utime(stale, (old, old))
    os.utime(other, (old, old))
    atomic_write_bytes(tmp_path / "out.png", b"new")
    assert not stale.exists() and young.exists() and other.exists()
    assert (tmp_path / "out.png").read_bytes() == b"new"


def test_a_full_disk_while_importing_a_model_is_one_line_and_leaves_nothing(tmp_path, capsys, monkeypatch):
    import errno

    import torch

    from robustpaint.core.models import CIFAR10_CLASSES, build_classifier
    from robustpaint.core.paths import user_models_dir
    net = build_classifier("resnet18", CIFAR10_CLASSES).net.state_dict()
    torch.save({"model": {f"module.model.{k}": v for k, v in net.items()}}, tmp_path / "ckpt.pt")

    def disk_full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    code, err = _cli(["models", "import", str(tmp_path / "ckpt.pt"), "--name", "full", "--arch", "resnet18"], capsys)
    assert code == 2 and err.count("\n") == 1 and "No space left on device" in err, err
    assert not list(user_models_dir().glob("full*")) and not list(user_models_dir().glob(".*tmp"))
