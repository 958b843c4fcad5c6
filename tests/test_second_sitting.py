"""#33: what a second sitting (the walkthrough of the same tasks under Xvfb) found, each as a regression test: a
typed class the model does not know, Run again from the sketch with a task that ignores it, a run that looks like it
did nothing, the sketch layer's signs, the export dialog and the palette. The app under pytest-qt (offscreen) with the
tiny model of conftest.py."""

import os

import numpy as np
import pytest

pytest.importorskip("PySide6")
from PySide6.QtCore import QPoint, Qt, QTimer  # noqa: E402
from PySide6.QtGui import QColor  # noqa: E402
from PySide6.QtWidgets import QLineEdit  # noqa: E402

from conftest import TINY_CLASSES  # noqa: E402
from robustpaint.core.errors import RobustPaintError  # noqa: E402
from test_sketch_layer import _drag, _select_task, _sketch_and_run  # noqa: E402  (tests/ is on sys.path under pytest)


def test_a_typed_class_the_model_does_not_know_is_refused_by_name(qtbot, window):
    """Letters typed into the class field ("dogbb") ran as the model's guess, silently."""
    window.controls.live_check.setChecked(False)
    _select_task(window, "sketch")
    window.panel.class_combo.lineEdit().setText("dogbb")
    with pytest.raises(RobustPaintError, match="no class 'dogbb'.*cat, dog, ship, truck"):
        window.make_request()
    window.start_run()
    assert not window.session.running
    assert "no class 'dogbb'" in window.statusBar().currentMessage()
    window.panel.class_combo.lineEdit().setText("dog")
    assert window.make_request().targets == (1,)


def test_picking_a_class_gives_the_keys_back_to_the_canvas(qtbot, window):
    """After a class was picked, H and K went into the field as letters instead of toggling the overlays."""
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    combo = window.panel.class_combo
    combo.setFocus()
    qtbot.waitUntil(combo.hasFocus)
    combo.textActivated.emit("ship")  # what choosing an entry of the list (or of its search) does
    assert window.canvas.hasFocus()
    assert window.overlay_action.isChecked()
    qtbot.keyClick(window.canvas, Qt.Key.Key_H)
    assert not window.overlay_action.isChecked()  # the shortcut, not a letter in the class field
    assert combo.currentText() != "shiph"


def test_run_again_from_the_sketch_refuses_a_task_that_starts_from_a_seed(qtbot, window):
    """With Generate chosen, Ctrl+R put the sketch back and then replaced it with a picture from a seed."""
    _sketch_and_run(qtbot, window)
    result, steps = window.document.image.copy(), window.undo_stack.count()
    _select_task(window, "generate")
    window.editor.run_from_sketch()
    assert not window.session.running
    assert np.array_equal(window.document.image, result) and window.undo_stack.count() == steps
    assert "starts from a seed, not from the sketch" in window.statusBar().currentMessage()


def test_a_run_whose_picture_barely_reads_as_its_class_says_why(qtbot, window, monkeypatch):
    """Inpainting with the defaults finished with the target at 0.1% and no word: it looked like nothing happened."""
    import robustpaint.app.run_session as run_session
    window.controls.live_check.setChecked(False)
    _select_task(window, "inpaint")
    window.document.mask[8:20, 8:20] = 1
    window.panel.class_combo.setCurrentText("ship")
    window.panel.steps_slider.setValue(2)
    monkeypatch.setattr(run_session, "WEAK_TARGET", 1.01)  # every probability counts as weak
    with qtbot.waitSignal(window.session.run_finished, timeout=20000):
        window.start_run()
    message = window.statusBar().currentMessage()
    assert "reads as ship at only" in message and "mask more of it" in message
    name, probability = window.session.figures["target"][0]
    assert name == "ship" and 0 <= probability <= 1
    monkeypatch.setattr(run_session, "WEAK_TARGET", 0.0)  # nothing is weak: no such note
    window.statusBar().clearMessage()
    with qtbot.waitSignal(window.session.run_finished, timeout=20000):
        window.start_run()
    assert "reads as" not in window.statusBar().currentMessage()


def test_hiding_the_sketch_says_so_and_the_layer_shows_while_it_is_shown(qtbot, window):
    """The status bar kept 'showing the sketch' after K hid it, and nothing lasting said which layer was shown."""
    _sketch_and_run(qtbot, window)
    window.sketch_action.trigger()
    assert window.layer_label.isVisible()
    window.sketch_action.trigger()
    assert not window.layer_label.isVisible()
    assert "showing the result again" in window.statusBar().currentMessage()


def test_undoing_a_stroke_on_the_hidden_sketch_says_where_the_change_is(qtbot, window):
    _sketch_and_run(qtbot, window)
    window.sketch_action.trigger()
    c = window.canvas.target_rect().center().toPoint()
    _drag(qtbot, window.canvas, c - QPoint(0, 30), c + QPoint(0, 30))
    window.sketch_action.trigger()  # back to the result, then undo the stroke made on the sketch
    window.statusBar().clearMessage()
    window.undo_stack.undo()
    assert "sketch layer" in window.statusBar().currentMessage()
    window.statusBar().clearMessage()
    window.undo_stack.undo()  # the run: the canvas changes, no such note
    assert "sketch layer" not in window.statusBar().currentMessage()


def test_the_top5_reads_the_sketch_while_it_is_shown(qtbot, window, monkeypatch):
    _sketch_and_run(qtbot, window)
    sent = []
    monkeypatch.setattr(window.session, "classify", lambda name, image: sent.append(image))
    window.sketch_action.trigger()
    qtbot.waitUntil(lambda: bool(sent), timeout=3000)
    assert np.array_equal(sent[-1], window.document.sketch)


def test_export_dialog_adds_png_and_exports_at_the_size_chosen_there(qtbot, window, tmp_path, monkeypatch):
    """A name typed without .png was saved without it, and the scale hid in "Files of type" and reset to 1x."""
    window.files.last_folder = str(tmp_path)
    exported = []
    monkeypatch.setattr(window.files, "export_png", lambda path, scale, smooth: exported.append((path, scale, smooth)))

    def answer(size):
        from robustpaint.app.files import ExportDialog
        dialog = next(w for w in window.findChildren(ExportDialog) if w.isVisible())
        if size:
            dialog.size_combo.setCurrentText(size)
        dialog.findChild(QLineEdit, "fileNameEdit").setText("mine")
        dialog.accept()

    QTimer.singleShot(200, lambda: answer("2x, smooth"))
    window.files.export_dialog()
    assert exported[-1] == (os.path.join(str(tmp_path), "mine.png"), 2, True)
    QTimer.singleShot(200, lambda: answer(None))  # the next export offers the size chosen last
    window.files.export_dialog()
    assert exported[-1][1:] == (2, True)


def test_the_first_colour_picked_moves_nothing_in_the_tool_bar(qtbot, window):
    """The recent-colours row appeared on the first pick and pushed the palette and the size ~20 px down."""
    tools = window.tools
    before = tools.swatches[0].mapTo(tools, QPoint(0, 0))
    tools.set_brush_color(QColor("red"))
    qtbot.wait(50)  # the layout settles
    assert tools.swatches[0].mapTo(tools, QPoint(0, 0)) == before


def test_the_top5_follows_the_timeline_scrubber(qtbot, window):
    """Scrubbing to step 5 showed that step's picture beside the last step's top-5."""
    window.controls.live_check.setChecked(False)
    _select_task(window, "sketch")
    window.panel.steps_slider.setValue(10)
    window.panel.step_slider.setValue(window.panel.step_slider.maximum())  # large steps: the readout moves
    with qtbot.waitSignal(window.session.run_finished, timeout=20000):
        window.start_run()
    (_, _, _, _, first), (_, _, _, _, last) = window.session.timeline
    bars = window.controls.top_bars
    shown = lambda: [bar.format() for bar in bars][:len(TINY_CLASSES)]  # noqa: E731 (4 classes, 5 bars)
    expected = lambda top5: [f"{name} {p * 100:.1f}%" for name, p in top5[0]]  # noqa: E731
    assert shown() == expected(last) and expected(first) != expected(last)
    window.controls.timeline_slider.setValue(0)
    assert shown() == expected(first)


def test_the_timeline_slider_has_room_to_scrub(qtbot, window):
    """Beside its label and buttons the scrubber was about 80 px long."""
    qtbot.waitUntil(lambda: window.controls.width() > 0)
    assert window.controls.timeline_slider.width() > 0.5 * window.controls.width()
