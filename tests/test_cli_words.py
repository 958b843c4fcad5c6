"""The CLI's words (#33 items 11, 12, 15, 16): preset numbers instead of "(default: preset)", the target class's
probability in the progress bar, a photo the model cannot place, and super-resolution that does not push a photo
towards a weak guess. Each failed before its change."""

import numpy as np
import pytest
import torch
from PIL import Image

from robustpaint.cli import _Progress, _unfamiliar_photo_note, build_parser, main
from robustpaint.core.imageio import read_recipe


def _png(path, size=32, seed=0):
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)).save(path)
    return path


def test_the_run_options_name_the_presets_numbers():
    from robustpaint.core.catalog import DEFAULT_MODEL, find_model, read_card
    from robustpaint.core.tasks import preset_values
    side = read_card(find_model(DEFAULT_MODEL).card_path)["input_size"]
    eps, step, steps = preset_values("generate", side, side, model_side=side)
    help_text = " ".join(build_parser()._subparsers._group_actions[0].choices["generate"].format_help().split())
    assert "(default: preset)" not in help_text
    assert f"default: {eps:.3g} for the default model's {side}-px canvas" in help_text
    assert f"default: {steps}, the task's preset" in help_text


def test_a_run_says_the_numbers_it_took_from_the_preset(installed_tiny, tmp_path, capsys):
    assert main(["generate", "--class", "cat", "--model", "tiny", "--steps", "2", "--out", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "tiny on a 32x32 canvas: eps" in err and "2 steps (the preset where not given)" in err


def test_the_progress_bar_shows_the_target_class_probability(installed_tiny, tmp_path, monkeypatch):
    # Before: "loss 0.000" through most of a run.
    shown = []
    monkeypatch.setattr(_Progress, "__call__", lambda self, step, loss, reading=None: shown.append(reading))
    from robustpaint.core.models.bundle import load_model_bundle
    from robustpaint.core.recipes import recipe_from_request, run_recipe
    from robustpaint.core.tasks import TaskRequest
    bundle = load_model_bundle("tiny")
    recipe = recipe_from_request(TaskRequest("generate", targets=(2,), steps=3, eps=1.0, step_size=0.2), "tiny",
                                 bundle.sha256)
    run_recipe(recipe, "cpu", bundle, _Progress(None, 3))
    assert len(shown) == 3 and all(name == "ship" and 0 <= p <= 1 for name, p in shown)


def test_the_progress_line_prints_probability_and_a_small_loss(capsys):
    class Args:
        quiet = False
    with _Progress(Args(), 2) as progress:
        progress(1, 0.000512, ("church", 0.9731))
        assert "church 97.3% · loss 0.000512" in str(progress.bar.postfix)


def test_a_photo_the_model_reads_weakly_names_its_classes(installed_tiny, monkeypatch):
    from robustpaint.cli import tasks as cli
    from robustpaint.core.models.bundle import load_model_bundle
    bundle = load_model_bundle("tiny")
    photo = torch.rand(1, 3, 48, 40, generator=torch.Generator().manual_seed(0))
    monkeypatch.setattr(cli, "UNFAMILIAR", 1.01)  # no reading is that sure: the photo counts as unfamiliar
    note = _unfamiliar_photo_note(bundle, photo)
    assert note.startswith("tiny reads this photo as ")
    assert "it may show none of the 4 classes it knows (cat, dog, ship, truck)" in note
    monkeypatch.setattr(cli, "UNFAMILIAR", 0.0)
    assert _unfamiliar_photo_note(bundle, photo) is None


def test_a_photo_task_says_when_the_model_cannot_place_the_photo(installed_tiny, tmp_path, capsys, monkeypatch):
    from robustpaint.cli import tasks as cli
    monkeypatch.setattr(cli, "UNFAMILIAR", 1.01)
    assert main(["sketch", str(_png(tmp_path / "in.png")), "--class", "cat", "--model", "tiny", "--steps", "1",
                 "--out", str(tmp_path / "out.png")]) == 0
    assert "classes it knows (cat, dog, ship, truck)" in capsys.readouterr().err


def test_superres_does_not_push_a_photo_towards_a_weak_guess(installed_tiny, tmp_path, capsys):
    # Before: every photo went to the model's guess, however weak (a cat and an astronaut both to "golf_ball").
    photo = _png(tmp_path / "in.png", 16)
    out = tmp_path / "out.png"
    assert main(["superres", str(photo), "--factor", "2", "--model", "tiny", "--steps", "3",
                 "--min-confidence", "1.0", "--out", str(out)]) == 0
    assert "not pushed to a class" in capsys.readouterr().err
    recipe = read_recipe(out)
    assert recipe["unsure"] == [True]
    assert main(["replay", str(out), "--out", str(tmp_path / "again.png"), "--quiet"]) == 0
    assert np.array_equal(np.asarray(Image.open(out)), np.asarray(Image.open(tmp_path / "again.png")))
    pushed = tmp_path / "pushed.png"  # the same photo with no floor: pushed, so it differs
    assert main(["superres", str(photo), "--factor", "2", "--model", "tiny", "--steps", "3",
                 "--min-confidence", "0", "--out", str(pushed), "--quiet"]) == 0
    assert not np.array_equal(np.asarray(Image.open(out)), np.asarray(Image.open(pushed)))


def test_an_old_superres_recipe_replays_with_no_floor(installed_tiny):
    from robustpaint.cli.tasks import UNFAMILIAR
    from robustpaint.core.recipes import recipe_from_request, request_from_recipe
    from robustpaint.core.tasks import TaskRequest, get_task
    from robustpaint.core.tasks.knobs import KNOBS
    request = get_task("superres").finalise(TaskRequest("superres", image=torch.rand(1, 3, 8, 8), factor=2), 32)
    recipe = recipe_from_request(request, "tiny", "")
    assert recipe["min_confidence"] == 0.5
    del recipe["min_confidence"]  # a recipe written before the knob existed
    assert request_from_recipe(recipe).knob("min_confidence") == 0.0
    assert UNFAMILIAR == KNOBS["min_confidence"].default


def test_every_command_prints_its_help():
    # `robustpaint superres --help` was a TypeError: argparse %-formats help, and a knob's text said "90% of".
    import argparse
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    for name, sub in commands.items():
        assert sub.format_help(), name
        for nested in (a for a in sub._actions if isinstance(a, argparse._SubParsersAction)):
            for inner in nested.choices.values():
                assert inner.format_help()
