"""Super-resolve in the app makes the larger canvas itself (#47 item 4): a run takes the picture at its size and
makes a canvas `factor` times larger (at most CANVAS_MAX a side, said so), as one undoable step; the confidence it
reports is the model's reading of the pixels the top-5 reads, so the two do not contradict. Each test failed before:
the canvas was shrunk by the factor and super-resolved back to its own size, and the guess was the model run on the
whole upsampled canvas (a 128-px model's church read at 4x its scale: "only 37% sure" beside "church 100%")."""

import re

import numpy as np
import pytest
import torch

pytest.importorskip("PySide6")

from robustpaint.core.document import Document  # noqa: E402
from robustpaint.core.options import CANVAS_MAX  # noqa: E402


def _picture(h, w, seed=0):
    """A smooth picture (a few blobs): what super-resolution is for, not noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    image = np.zeros((h, w, 3), np.float32)
    for _ in range(4):
        cy, cx, r = rng.random(3) * [1, 1, 0.3] + [0, 0, 0.1]
        image += rng.random(3).astype(np.float32) * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / r ** 2)[..., None]
    return (image / image.max()).clip(0, 1).astype(np.float32)


def _superres(window, factor, steps=2, picture=None):
    """The user's way: a picture on the canvas, Super-resolve, the factor, Run (Live off)."""
    window.controls.live_check.setChecked(False)
    if picture is not None:
        window.editor.replace(Document(picture), "paint")
    window.panel.task_combo.setCurrentIndex(window.panel.task_combo.findData("superres"))
    window.panel.factor_combo.setCurrentText(str(factor))
    _steps_field(window.panel).setValue(steps)


def _steps_field(panel):
    return panel.steps_spin


def _run(qtbot, window, request=None):
    with qtbot.waitSignal(window.session.run_finished, timeout=60000):
        if request is None:
            window.start_run()
        else:
            window.session.start("tiny", "", request)


def test_superres_makes_a_canvas_factor_times_larger_as_one_undo_step(qtbot, window):
    picture = _picture(32, 48)
    _superres(window, 4, picture=picture)
    window.document.mask[:8, :8] = 1  # a layer of the old size goes with the picture
    steps_before = window.undo_stack.count()
    _run(qtbot, window)
    doc = window.document
    assert doc.size == (128, 192)
    assert doc.mask.shape == doc.regions.shape == doc.strength.shape == (128, 192)
    assert doc.sketch is None or doc.sketch.shape == (128, 192, 3)
    assert doc.mask[:32, :32].all() and not doc.mask[40:, 40:].any()
    # The picture at its own size was the input: the result's 4 x 4 block means are its pixels (consistency), not a
    # blur of a quarter-size copy of it.
    blocks = doc.image.reshape(32, 4, 48, 4, 3).mean((1, 3))
    assert np.abs(blocks - picture).max() < 0.02
    assert window.panel.canvas_size == (128, 192)  # the next run's preset follows the new canvas
    assert window.undo_stack.count() == steps_before + 1
    window.undo_stack.undo()
    assert doc.size == (32, 48) and np.array_equal(doc.image, picture) and doc.mask.shape == (32, 48)
    assert window.panel.canvas_size == (32, 48)
    window.undo_stack.redo()
    assert doc.size == (128, 192)


def test_superres_past_the_canvas_limit_is_capped_and_says_so(qtbot, window):
    _superres(window, 4, steps=1, picture=_picture(200, 300))
    window.start_run()
    said = window.statusBar().currentMessage()
    assert str(CANVAS_MAX) in said and "300x200" in said and "1024x680" in said, said
    with qtbot.waitSignal(window.session.run_finished, timeout=120000):
        pass
    assert window.document.size == (680, 1024)


def test_superres_says_what_it_measured_and_agrees_with_the_top5(qtbot, window):
    """The run's note on a guess too weak to follow gives the probability the top-5 shows for the same pixels."""
    _superres(window, 4, steps=2, picture=_picture(32, 32, seed=3))
    request = window.make_request().with_knobs(min_confidence=1.0)  # no guess is that sure: the note is shown
    _run(qtbot, window, request)
    note = window.statusBar().currentMessage()
    assert note.startswith("super-resolution kept the smooth upsampling"), note
    name, shown = window.session.last_top5[0][0]  # what the top-5 shows now
    said = re.search(r"as (\S+) at only (\d+)%", note)
    assert said is not None, note
    assert said.group(1) == name and int(said.group(2)) == round(shown * 100), (note, name, shown)
    assert "scale" in note  # it says how the model judged the picture


def test_the_guess_is_read_as_the_run_judges_the_canvas(tiny_model):
    """The guess is the model's reading of the start as each step's first view shows it (at the model's scale for
    a canvas larger than the model), the view whose logits the top-5 reads."""
    from robustpaint.core.tasks import TaskRequest, get_task
    from robustpaint.core.tasks.base import build_task
    from robustpaint.core.views import resize
    low = torch.from_numpy(_picture(32, 32, seed=5)).permute(2, 0, 1)[None]
    request = get_task("superres").finalise(TaskRequest("superres", image=low, factor=4, steps=1), 32)
    setup = build_task(tiny_model, request)
    with torch.no_grad():
        probabilities = tiny_model(resize(setup.start, (32, 32))).softmax(1)[0]
    assert setup.notes["guessed_probability"][0] == pytest.approx(float(probabilities.max()), abs=1e-4)
    assert setup.notes["target"] == [int(probabilities.argmax())]


def test_a_live_restart_during_superres_starts_from_the_picture_not_the_enlarged_iterate(qtbot, window):
    """A setting changed mid-run (Live) runs again: from the picture the run started from, so the canvas is still
    `factor` times that picture, not `factor` times the enlarged iterate."""
    _superres(window, 2, steps=400, picture=_picture(32, 32))
    window.controls.live_check.setChecked(True)
    window.start_run()
    qtbot.waitUntil(lambda: window.session.steps_done >= 1, timeout=60000)
    assert window.document.size == (64, 64)
    with qtbot.waitSignal(window.session.run_finished, timeout=120000):
        _steps_field(window.panel).setValue(3)  # Live: the run starts again with 3 steps
    assert window.document.size == (64, 64)
    window.undo_stack.undo()  # the run and its restart are one step
    assert window.document.size == (32, 32)


def test_the_change_mask_follows_the_picture_to_the_larger_canvas(qtbot, window, tiny_model):
    """A strength map painted on the canvas applies to the larger output (it was a size mismatch), and protects
    its pixels against the consistency projection too (it moved them as much as the others: a review's finding)."""
    from robustpaint.core.tasks.base import build_task
    _superres(window, 2, steps=2, picture=_picture(32, 32))
    window.document.strength[:, :16] = 0  # the left half may not change
    request = window.make_request().with_knobs(min_confidence=0.0)  # the tiny model's guess steers the picture
    start = build_task(tiny_model, request).start[0].permute(1, 2, 0).numpy()
    _run(qtbot, window, request)
    assert window.session.steps_done == 2 and window.document.size == (64, 64)
    assert window.document.strength.shape == (64, 64) and (window.document.strength[:, :32] == 0).all()
    assert np.allclose(window.document.image[:, :32], start[:, :32], atol=1e-6)  # the protected half kept
    assert not np.allclose(window.document.image[:, 32:], start[:, 32:], atol=1e-6)  # the rest moved


@pytest.mark.parametrize("task", ["superres", "sketch"])
def test_undo_during_a_run_ends_the_run_and_takes_it_back(qtbot, window, task):
    """Ctrl+Z while a run goes on: the run ends as an undo step and that step is undone (a super-resolution run had
    resized the canvas, so the undo of an older step raised 'could not broadcast (32,32) into (64,64)')."""
    picture = _picture(32, 32)
    if task == "superres":
        _superres(window, 2, steps=400, picture=picture)
    else:
        window.editor.replace(Document(picture), "paint")
        window.controls.live_check.setChecked(False)
        window.panel.task_combo.setCurrentIndex(window.panel.task_combo.findData(task))
        _steps_field(window.panel).setValue(400)
    window.editor.edit(lambda doc: setattr(doc, "mask", np.ones_like(doc.mask)), "mask")  # an older step
    before = window.document.image.copy()
    window.start_run()
    qtbot.waitUntil(lambda: window.session.steps_done >= 1, timeout=60000)
    window.undo_stack.undo()
    assert not window.session.running
    assert window.document.size == (32, 32) and np.array_equal(window.document.image, before)
    assert window.document.mask.all()  # the older step is still there
    window.undo_stack.undo()
    assert not window.document.mask.any()
    window.undo_stack.redo()
    window.undo_stack.redo()  # the run again, at its size
    assert window.document.size == ((64, 64) if task == "superres" else (32, 32))


def test_running_again_from_the_drawing_after_superres_enlarges_the_picture_once(qtbot, window):
    """Run from my drawing after a super-resolution: the drawing had been enlarged with the canvas, so each run from
    it enlarged it again (32 -> 128 -> 512, a review found). It starts from the picture the run started from."""
    picture = _picture(32, 32)
    _superres(window, 4, steps=2, picture=picture)
    _run(qtbot, window)
    assert window.document.size == (128, 128)
    with qtbot.waitSignal(window.session.run_finished, timeout=60000):
        window.editor.run_from_sketch()
    assert window.document.size == (128, 128)
    window.undo_stack.undo()  # the second run: the picture it started from, at its own size and pixels
    assert window.document.size == (32, 32)
    assert np.allclose(window.document.image, picture, atol=1 / 255)
