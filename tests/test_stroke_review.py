"""A review of #44's painting engine found these: each test failed before its fix."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, Qt

from test_app import _drag, _select_task
from test_sketch_layer import _run_to_the_end


def _centre(window):
    return window.canvas.target_rect().center().toPoint()


def test_a_touch_up_does_not_paint_into_the_timeline_or_the_candidates(qtbot, window):
    """Strokes paint in place now: the run's last image was also the timeline's last iterate and a candidate."""
    window.controls.live_check.setChecked(False)
    _select_task(window, "sketch")
    _run_to_the_end(qtbot, window)
    iterate = window.session.timeline[-1][1]
    kept = iterate.copy()
    _drag(qtbot, window.canvas, _centre(window) - QPoint(40, 0), _centre(window) + QPoint(40, 0))
    assert not np.array_equal(window.document.image, kept)
    assert np.array_equal(window.session.timeline[-1][1], kept)


def test_undo_during_a_drag_cancels_the_stroke_and_the_rest_of_the_drag_paints_nothing(qtbot, window):
    window.controls.live_check.setChecked(False)
    c = _centre(window)
    _drag(qtbot, window.canvas, c - QPoint(40, 20), c + QPoint(40, 20))
    first = window.document.image.copy()
    qtbot.mousePress(window.canvas, Qt.MouseButton.LeftButton, pos=c - QPoint(40, -20))
    qtbot.mouseMove(window.canvas, pos=c)
    window.undo_stack.undo()  # Ctrl+Z with the button held
    qtbot.mouseMove(window.canvas, pos=c + QPoint(40, -20))
    qtbot.mouseRelease(window.canvas, Qt.MouseButton.LeftButton, pos=c + QPoint(40, -20))
    assert (window.document.image == 1).all()  # the first stroke undone, the second never painted
    assert window.undo_stack.index() == 0 and window.undo_stack.canRedo()
    window.undo_stack.redo()
    assert np.array_equal(window.document.image, first)


def test_a_canvas_resized_during_a_drag_raises_nothing_and_undoes_whole(qtbot, window):
    window.controls.live_check.setChecked(False)
    c = _centre(window)
    qtbot.mousePress(window.canvas, Qt.MouseButton.LeftButton, pos=c)
    qtbot.mouseMove(window.canvas, pos=c + QPoint(10, 0))
    window.files.resize_canvas((64, 64))  # as a newly loaded larger model does
    qtbot.mouseMove(window.canvas, pos=c + QPoint(30, 0))
    qtbot.mouseRelease(window.canvas, Qt.MouseButton.LeftButton, pos=c + QPoint(30, 0))
    assert window.document.size == (64, 64) and (window.document.image == 1).all()
    window.undo_stack.undo()
    assert window.document.size == (32, 32)


def test_a_stroke_while_an_iterate_is_previewed_shows_the_document_whole(qtbot, window):
    window.controls.live_check.setChecked(False)
    _select_task(window, "sketch")
    _drag(qtbot, window.canvas, _centre(window) - QPoint(40, 0), _centre(window) + QPoint(40, 0))
    _run_to_the_end(qtbot, window, steps=10)
    window.controls.compare_check.setChecked(True)  # the run's start is shown, not the document
    _drag(qtbot, window.canvas, _centre(window) - QPoint(0, 40), _centre(window) + QPoint(0, 40))
    assert not window.controls.compare_check.isChecked()
    shown = window.canvas._image.convertToFormat(window.canvas._image.Format.Format_RGB888)
    pixels = np.frombuffer(shown.constBits(), np.uint8).reshape(32, shown.bytesPerLine())[:, :96].reshape(32, 32, 3)
    assert np.array_equal(pixels, (np.clip(window.document.image, 0, 1) * 255 + 0.5).astype(np.uint8))


def test_a_stroke_that_stops_a_live_run_keeps_the_drawing_under_it(qtbot, window):
    """Live restarted from the touched-up result and kept it as the drawing: the drawing was lost."""
    window.controls.live_check.setChecked(False)
    _select_task(window, "sketch")
    _drag(qtbot, window.canvas, _centre(window) - QPoint(40, 0), _centre(window) + QPoint(40, 0))
    drawing = window.document.image.copy()
    _run_to_the_end(qtbot, window)
    window.controls.live_check.setChecked(True)
    window.panel.steps_spin.setValue(1000)
    with qtbot.waitSignal(window.session.image_updated, timeout=10000):
        window.start_run()
    _drag(qtbot, window.canvas, _centre(window) - QPoint(0, 40), _centre(window) + QPoint(0, 40))
    assert window.session.running  # Live runs again (from the canvas, with the stroke) ...
    assert np.array_equal(window.document.sketch, drawing)  # ... and the drawing is still the drawing
    window.session.stop()


def test_a_stroke_during_a_paused_run_stops_it_and_survives(qtbot, window):
    window.controls.live_check.setChecked(False)
    window.panel.steps_spin.setValue(1000)
    with qtbot.waitSignal(window.session.image_updated, timeout=10000):
        window.start_run()
    window.session.toggle()  # paused
    _drag(qtbot, window.canvas, _centre(window) - QPoint(40, 0), _centre(window) + QPoint(40, 0))
    painted = window.document.image.copy()
    window.session.toggle()  # Run: a new run (the paused one was stopped by the stroke), not a resume over it
    qtbot.wait(300)
    window.session.stop()
    assert window.undo_stack.undoText() in ("PGD run", "PGD run (stopped)", "stroke")
    while window.undo_stack.undoText() != "stroke":
        window.undo_stack.undo()
    assert np.array_equal(window.document.image, painted)


def test_switching_tool_during_a_drag_still_makes_the_stroke_one_undo_step(qtbot, window):
    window.controls.live_check.setChecked(False)
    c = _centre(window)
    qtbot.mousePress(window.canvas, Qt.MouseButton.LeftButton, pos=c - QPoint(30, 0))
    qtbot.mouseMove(window.canvas, pos=c)
    window.tools.actions_by_tool["picker"].setChecked(True)  # I pressed with the button held
    qtbot.mouseMove(window.canvas, pos=c + QPoint(30, 0))
    qtbot.mouseRelease(window.canvas, Qt.MouseButton.LeftButton, pos=c + QPoint(30, 0))
    assert window.undo_stack.undoText() == "stroke" and len(window.document.strokes) == 1
    assert window.document.strokes[0]["brush"]["target"] == "image"


def test_a_stroke_wholly_off_the_canvas_is_no_undo_step(qtbot, window):
    window.controls.live_check.setChecked(False)
    window.canvas.set_zoom(None)
    rect = window.canvas.target_rect().toAlignedRect()
    depth = window.undo_stack.count()
    outside = QPoint(rect.right() + 60, rect.top() + 5)
    _drag(qtbot, window.canvas, outside, outside + QPoint(0, 30))
    assert window.undo_stack.count() == depth and not window.document.strokes


def test_autosave_goes_on_once_the_undo_history_is_full(qtbot, window):
    """The autosave compared the undo index, which stops moving when each push drops the oldest step."""
    window.controls.live_check.setChecked(False)
    window.undo_stack.setUndoLimit(3)
    c = _centre(window)
    for i in range(3):
        _drag(qtbot, window.canvas, c + QPoint(-40, 10 * i - 15), c + QPoint(40, 10 * i - 15))
    assert window.files.autosave()
    _drag(qtbot, window.canvas, c + QPoint(-10, -40), c + QPoint(-10, 40))
    assert window.undo_stack.index() == 3
    assert window.files.autosave()  # a new change, though the index is where it was


def test_a_press_after_a_lost_release_paints_a_new_stroke(qtbot, window):
    """A release taken by a dialog left the drag's state behind: the next stroke painted nothing."""
    window.controls.live_check.setChecked(False)
    c = _centre(window)
    qtbot.mousePress(window.canvas, Qt.MouseButton.LeftButton, pos=c - QPoint(30, 20))
    qtbot.mouseMove(window.canvas, pos=c)
    window.undo_stack.undo()  # cancels the stroke; its release never comes
    window.canvas._points = []  # as if a modal dialog had taken the release
    _drag(qtbot, window.canvas, c + QPoint(-30, 20), c + QPoint(30, 20))
    assert not (window.document.image == 1).all() and window.undo_stack.undoText() == "stroke"


def test_new_and_open_ask_before_replacing_unsaved_work(qtbot, window, monkeypatch):
    """#47 item 7: New and Open replaced unsaved work without asking (Quit did ask)."""
    from PySide6.QtWidgets import QFileDialog, QMessageBox
    window.controls.live_check.setChecked(False)
    window.ask_before_closing = True
    _drag(qtbot, window.canvas, _centre(window) - QPoint(30, 0), _centre(window) + QPoint(30, 0))
    painted = window.document.image.copy()
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a[2]) or QMessageBox.StandardButton.Cancel)
    opened = []
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: opened.append(1) or ("", ""))
    window.files.new_dialog()
    window.files.open_dialog()
    assert len(asked) == 2 and not opened and np.array_equal(window.document.image, painted)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Discard)
    window.files.open_dialog()
    assert opened == [1]  # discarding goes on to the file dialog
    window.ask_before_closing = False
