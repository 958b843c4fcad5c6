"""A model or a library that does not load says so in one line (#47 item 8): a torchvision built for another torch
(`operator torchvision::nms does not exist`) in the two places that need torchvision and in `robustpaint doctor`,
and in the app a model whose weights cannot be loaded, which the panel and Run name instead of "loading…" and "the
run failed"."""

from __future__ import annotations

import importlib.abc
import sys

import pytest
import torch

from robustpaint.cli import main
from robustpaint.core.errors import RobustPaintError

NMS = "operator torchvision::nms does not exist"


class _Failing(importlib.abc.MetaPathFinder):
    """Makes every import of torchvision raise what a torchvision built for another torch (or CUDA) raises."""

    def __init__(self, error: Exception):
        self.error = error

    def find_spec(self, name, path=None, target=None):
        if name == "torchvision" or name.startswith("torchvision."):
            raise self.error
        return None


@pytest.fixture(params=["nms", "cuda", "absent"])
def broken_torchvision(request, monkeypatch):
    """torchvision as a mismatched install leaves it: its import raises RuntimeError (an operator of another
    torch), OSError (a CUDA library this machine lacks) or ImportError; the real one comes back afterwards."""
    for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
        monkeypatch.delitem(sys.modules, name)
    if request.param == "absent":
        monkeypatch.setitem(sys.modules, "torchvision", None)
    else:
        error = RuntimeError(NMS) if request.param == "nms" else OSError(
            "libcudart.so.13: cannot open shared object file: No such file or directory")
        monkeypatch.setattr(sys, "meta_path", [_Failing(error), *sys.meta_path])
    return request.param


def _one_line_naming_the_versions(text: str) -> None:
    import importlib.metadata
    assert "\n" not in text.strip() and "Traceback" not in text
    assert f"torch {importlib.metadata.version('torch')}" in text
    assert f"torchvision {importlib.metadata.version('torchvision')}" in text
    assert "pip install" in text


def test_importing_an_imagenet_checkpoint_with_a_broken_torchvision_is_one_line(broken_torchvision):
    from robustpaint.core.models.checkpoint import imagenet_classes
    with pytest.raises(RobustPaintError) as caught:
        imagenet_classes()
    message = str(caught.value)
    _one_line_naming_the_versions(message)
    assert "ImageNet" in message and "do not match" in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__  # no chained traceback


def test_the_import_command_says_it_in_one_line(broken_torchvision, tmp_path, capsys):
    path = tmp_path / "theirs.pt"  # a 1000-output head: ImageNet, whose class names come from torchvision
    torch.save({"model": {"module.model.fc.weight": torch.zeros(1000, 8)}}, path)
    code = main(["models", "import", str(path), "--name", "theirs"])
    out, err = capsys.readouterr()
    assert code == 2
    _one_line_naming_the_versions(err)


def test_training_on_cifar10_with_a_broken_torchvision_is_one_line(broken_torchvision):
    from robustpaint.core.train.data import load_split
    with pytest.raises(RobustPaintError) as caught:
        load_split("cifar10", "train")
    message = str(caught.value)
    _one_line_naming_the_versions(message)
    assert "cifar10" in message and "do not match" in message and "--data" in message


def test_the_fix_is_the_tested_pair_or_the_release_made_for_this_torch(monkeypatch):
    """The fix names only the pair this project is tested with; for another torch, torchvision's own table."""
    from robustpaint.core import versions
    versions_of = {"torch": "2.13.0", "torchvision": "0.29.1+cu130"}
    monkeypatch.setattr(versions, "installed_version", versions_of.get)
    text = versions.torchvision_problem(RuntimeError(NMS), "training on cifar10")
    assert "torch 2.13.0" in text and "torchvision 0.29.1+cu130" in text and "do not match" in text
    assert "pip install torch==2.14.1 torchvision==0.29.1" in text
    assert "https://github.com/pytorch/vision#installation" in text and NMS in text
    versions_of.update(torch="2.14.1+cpu", torchvision="0.28.0")  # the tested torch: only torchvision to change
    text = versions.torchvision_problem(RuntimeError(NMS), "training on cifar10")
    assert "pip install torchvision==0.29.1" in text and "torch==" not in text
    versions_of.update(torchvision=None)
    text = versions.torchvision_problem(ImportError("No module named 'torchvision'"), "training on cifar10")
    assert "torchvision is not installed" in text and "pip install torchvision==0.29.1" in text
    versions_of.update(torchvision="0.29.1+cu130")  # the tested pair, but built for another CUDA
    text = versions.torchvision_problem(OSError("libcudart.so.13: cannot open shared object file\nmore"), "x")
    assert "--force-reinstall torch==2.14.1 torchvision==0.29.1" in text and "\n" not in text


def test_doctor_reports_a_broken_torchvision_in_one_line_and_painting_still_passes(broken_torchvision, capsys):
    from robustpaint.doctor import check_libraries
    assert check_libraries()  # painting does not need torchvision: not a failed check
    out, err = capsys.readouterr()
    lines = out.strip().splitlines()
    assert "Traceback" not in out + err and len(lines) == 2, out
    assert lines[0].startswith("[ok] torch ")
    assert lines[1].startswith("[warn] ") and "ImageNet checkpoints" in lines[1] and "cifar10" in lines[1]
    assert "painting does not" in lines[1]
    _one_line_naming_the_versions(lines[1])


def test_doctor_says_when_torchvision_imports(capsys):
    import importlib.metadata

    from robustpaint.doctor import check_libraries
    assert check_libraries()
    lines = capsys.readouterr().out.strip().splitlines()
    build = f"built for CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU build"
    assert lines == [f"[ok] torch {importlib.metadata.version('torch')} ({build})",
                     f"[ok] torchvision {importlib.metadata.version('torchvision')} imports (importing the authors' "
                     f"ImageNet checkpoints and training on cifar10 need it; painting does not)"]


# --- the app ----------------------------------------------------------------------------------------------


def _damage(weights):
    raw = bytearray(weights.read_bytes())
    raw[-1] ^= 0xFF
    weights.write_bytes(bytes(raw))


def _raise_mismatch(*args, **kwargs):
    raise RuntimeError(NMS)  # what loading raised while a model's layout came from torchvision


@pytest.fixture(params=["damaged weights", "library"])
def unloadable(request, installed_tiny, monkeypatch):
    """The tiny model, installed but not loadable: its weights damaged, or a library raising as it loads."""
    if request.param == "damaged weights":
        _damage(installed_tiny)
        return "is damaged"
    import robustpaint.core.models.bundle as bundle
    monkeypatch.setattr(bundle, "load_model_bundle", _raise_mismatch)
    return NMS


@pytest.fixture
def broken_window(qtbot, unloadable):
    from robustpaint.app.window import MainWindow
    win = MainWindow(model_name="tiny")
    qtbot.addWidget(win)
    win.resize(800, 500)
    win.show()
    yield win
    win.session.shutdown()


def test_a_model_that_does_not_load_is_named_not_left_loading(qtbot, broken_window, unloadable):
    label = broken_window.panel.card_label
    qtbot.waitUntil(lambda: "loading" not in label.text(), timeout=10000)
    assert label.text().startswith("could not load tiny: ") and unloadable in label.text()
    assert "\n" not in label.text() and "the run failed" not in label.text()
    assert "tiny" not in broken_window.panel.cards
    # the weights' path and sha256 wrap in the panel instead of widening it past the window's edge
    assert label.minimumSizeHint().width() <= 300


def test_run_without_a_loaded_model_says_so_and_runs_nothing(qtbot, broken_window, unloadable):
    qtbot.waitUntil(lambda: "could not load" in broken_window.panel.card_label.text(), timeout=10000)
    submitted = []
    broken_window.session.submit_job.connect(lambda *a: submitted.append(a))
    broken_window.statusBar().clearMessage()
    broken_window.start_run()
    message = broken_window.statusBar().currentMessage()
    assert message.startswith("no model is loaded: could not load tiny: ") and unloadable in message
    assert "the run failed" not in message and "\n" not in message
    assert not submitted and not broken_window.session.running
    assert broken_window.controls.run_button.text() == "Run"
    qtbot.wait(300)  # nothing arrives later to say otherwise
    assert "the run failed" not in broken_window.statusBar().currentMessage()


def test_a_failure_that_is_not_a_load_leaves_the_loaded_models_card(qtbot, window):
    """Another failure the worker reports without a job (a device this machine lacks) is not the model's."""
    window.session.set_device.emit("cuda:9")
    qtbot.waitUntil(lambda: bool(window.statusBar().currentMessage()), timeout=10000)
    qtbot.wait(100)
    assert "could not load" not in window.panel.card_label.text()
    assert window.panel.card_label.text().startswith("standard")


def test_doctor_says_at_once_that_the_screenshot_folder_is_missing(tmp_path, capsys):
    """`doctor --gui --screenshot` into a folder that does not exist ran its checks for minutes, then said only
    '[FAIL] screenshot' (a review found)."""
    from robustpaint.cli import main
    assert main(["doctor", "--gui", "--screenshot", str(tmp_path / "no-such" / "shot.png")]) == 2
    err = capsys.readouterr().err
    assert "no such folder" in err and str(tmp_path / "no-such") in err and "Traceback" not in err


def test_the_tested_pair_is_the_one_ci_and_the_readme_install():
    """The fix a mismatch message gives names the pair CI tests: it is written in .ci/run, the README and
    core/versions.py, and nothing else ties them (a review found)."""
    import re
    from pathlib import Path

    from robustpaint.core.versions import TESTED_TORCH, TESTED_TORCHVISION
    root = Path(__file__).resolve().parents[1]
    for name in (".ci/run", "README.md"):
        pins = set(re.findall(r"torch==([\w.]+) torchvision==([\w.]+)", (root / name).read_text()))
        assert pins == {(TESTED_TORCH, TESTED_TORCHVISION)}, (name, pins)
