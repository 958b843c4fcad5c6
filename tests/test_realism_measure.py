"""benchmarks/realism.py's measure and options (#45 item 1): the KID reads a shifted distribution and not a second
sample of the same one, and --knob takes only the task table's generic knobs, each checked."""

import argparse
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
realism = pytest.importorskip("realism")


def test_kid_is_near_zero_for_two_samples_of_one_distribution_and_grows_with_a_shift():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(200, 16, generator=g), torch.randn(200, 16, generator=g)
    same, shifted = realism.kid(a, b), realism.kid(a, b + 0.5)
    assert abs(same) < 0.01 and shifted > 10 * max(abs(same), 1e-4)
    assert realism.kid(a, b + 1.0) > shifted


def test_knob_option_takes_generic_knobs_checked_against_the_table():
    parser = argparse.ArgumentParser()
    assert realism.parse_knobs(parser, ["jitter=4", "saturation=2", "views=tiles"]) == {
        "jitter": 4, "saturation": 2.0, "views": "tiles"}
    for bad in ("jitter=99", "eps=3", "freedom=2", "jitter", "views=everywhere"):
        with pytest.raises(SystemExit):
            realism.parse_knobs(parser, [bad])


def test_a_knob_is_given_only_to_the_tasks_that_have_it():
    knobs = {"jitter": 4, "saturation": 2.0}
    assert realism.uses_knobs("generate", knobs) == knobs
    assert realism.uses_knobs("inpaint", knobs) == {}  # inpainting has neither: left out there, not an error


def test_one_set_of_pictures_is_scored_by_each_judge_with_its_own_landmarks(installed_tiny, monkeypatch):
    """--second-judge scores the pictures the run made once: every row the first judge gives, in its own features."""
    compared = []  # SSIM is scikit-image's (the bench extra, not a test dependency): only its call is checked here
    monkeypatch.setattr(realism, "psnr_ssim", lambda a, b: compared.append((a, b)) or (30.0, 0.5))
    from robustpaint.core.models.bundle import load_model_bundle
    judge = load_model_bundle("tiny").model.eval()
    g = torch.Generator().manual_seed(0)
    photos = torch.rand(40, 3, 32, 32, generator=g)
    labels = torch.arange(40) % 2
    references = realism.reference_sets(judge, photos, labels, [0, 1])
    targets = torch.tensor([0, 0, 0, 1, 1, 1])
    pictures = realism.Pictures(generated=(torch.rand(6, 3, 32, 32, generator=g), targets, 1.0),
                                sources=photos[:6], source_labels=labels[:6])
    pictures.translated = (photos[:6] * 0.8 + 0.1, (labels[:6] + 1) % 2, 2.0)
    judged = realism.score(judge, references, pictures, "tiny")
    assert set(judged["rows"]) == {"generate", "translate: untouched sources", "translate"}
    translated = judged["rows"]["translate"]
    assert translated["seconds"] == 2.0 and "low_pass_target_rate" in translated and translated["ssim"] == 0.5
    assert len(compared) == 1 and compared[0][1] is pictures.sources  # the translations against their sources
    assert judged["landmarks"]["photos, noise + blur"] > 0
    # the contact sheet: one generation a class, then the sources and their translations
    assert [len(r) for r in pictures.sheet_rows()] == [2, 6, 6]


def test_translate_sweeps_stop_at_hinges_the_class_loss_and_puts_it_back():
    """benchmarks/translate_sweep.py's `stop_at` (docs/quality.md, "Stop pushing at a confidence"): an image the
    model reads as the target at P or more has zero loss (so a zero step); below P the loss is the plain one less
    -log P; outside the sweep the task's objective is the plain one again."""
    import math
    translate_sweep = pytest.importorskip("translate_sweep")
    from robustpaint.core.tasks.base import Context
    plain = Context.class_objective
    context = argparse.Namespace(request=argparse.Namespace(task="translate", knob=lambda key: 1.0), device="cpu")
    logits = torch.tensor([[5.0, 0.0], [0.0, 0.0]])  # image 0 reads as class 0 at 99.3%, image 1 at 50%
    targets = torch.tensor([0, 0])
    with translate_sweep.class_loss_stopped_at(0.9):
        hinged = Context.class_objective(context, targets)(None, logits, {})
    assert Context.class_objective is plain
    before = plain(context, targets)(None, logits, {})
    assert hinged[0] == 0 and hinged[1] == pytest.approx(before[1] - (-math.log(0.9)))
    with pytest.raises(SystemExit):
        with translate_sweep.class_loss_stopped_at(1.0):
            pass
