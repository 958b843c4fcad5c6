"""#33 item 10: the user's sketch kept as its own layer under the result (shown, painted on, run again), and a pen's
pressure in strokes. The app under pytest-qt (offscreen) with the tiny model of conftest.py."""

import numpy as np
import pytest

pytest.importorskip("PySide6")
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt  # noqa: E402
from PySide6.QtGui import QInputDevice, QPointingDevice, QTabletEvent  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from robustpaint.core.document import Brush, Document, checked_stroke  # noqa: E402
from robustpaint.core.project import Project, load_project, save_project  # noqa: E402


def _select_task(win, task):
    win.panel.task_combo.setCurrentIndex(win.panel.task_combo.findData(task))


def _drag(qtbot, canvas, start, end):
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(canvas, pos=(start + end) / 2)
    qtbot.mouseMove(canvas, pos=end)
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=end)


def _run_to_the_end(qtbot, win, steps=3):
    win.panel.steps_spin.setValue(steps)
    with qtbot.waitSignal(win.session.run_finished, timeout=20000):
        win.start_run()


def _sketch_and_run(qtbot, window):
    """A black line drawn on the blank canvas, then a Sketch run of 3 steps from it."""
    window.controls.live_check.setChecked(False)
    _select_task(window, "sketch")
    c = window.canvas.target_rect().center().toPoint()
    _drag(qtbot, window.canvas, c - QPoint(40, 0), c + QPoint(40, 0))
    drawing = window.document.image.copy()
    _run_to_the_end(qtbot, window)
    return drawing


def test_a_run_from_the_canvas_keeps_the_drawing_as_the_sketch_under_the_result(qtbot, window):
    drawing = _sketch_and_run(qtbot, window)
    assert not np.array_equal(window.document.image, drawing)  # the run changed the picture ...
    assert np.array_equal(window.document.sketch, drawing)  # ... and the drawing is kept under it
    result = window.document.image.copy()
    _run_to_the_end(qtbot, window)  # running on from the result: the sketch stays the drawing, not the result
    assert np.array_equal(window.document.sketch, drawing)
    window.undo_stack.undo()
    window.undo_stack.undo()
    assert window.document.sketch is None and np.array_equal(window.document.image, drawing)
    window.undo_stack.redo()
    assert np.array_equal(window.document.image, result) and np.array_equal(window.document.sketch, drawing)


def test_a_generation_keeps_no_sketch_and_an_edited_result_becomes_the_next_one(qtbot, window):
    window.controls.live_check.setChecked(False)
    _run_to_the_end(qtbot, window)  # Generate starts from a seed, not from the canvas
    assert window.document.sketch is None
    _select_task(window, "sketch")
    _run_to_the_end(qtbot, window)  # a run from a run's result continues it: still nothing the user drew
    assert window.document.sketch is None
    c = window.canvas.target_rect().center().toPoint()
    _drag(qtbot, window.canvas, c - QPoint(0, 40), c + QPoint(0, 40))  # painted on: the user's picture now
    edited = window.document.image.copy()
    _run_to_the_end(qtbot, window)
    assert np.array_equal(window.document.sketch, edited)


def test_showing_the_sketch_paints_on_it_and_run_again_starts_from_it(qtbot, window):
    drawing = _sketch_and_run(qtbot, window)
    result = window.document.image.copy()
    window.sketch_action.trigger()  # View > Show the sketch (K)
    assert window.sketch_shown
    shown = window.canvas._image.convertToFormat(window.canvas._image.Format.Format_RGB888)
    assert shown.pixelColor(16, 16).lightness() < 60  # the black line of the drawing, not the result
    c = window.canvas.target_rect().center().toPoint()
    _drag(qtbot, window.canvas, c - QPoint(0, 40), c + QPoint(0, 40))  # a stroke on the sketch
    assert np.array_equal(window.document.image, result)  # the result is untouched ...
    assert not np.array_equal(window.document.sketch, drawing)  # ... the sketch has the new line
    assert window.undo_stack.undoText() == "stroke on the sketch"
    assert window.document.strokes[-1]["layer"] == "sketch"
    fixed = window.document.sketch.copy()
    window.panel.steps_spin.setValue(3)
    with qtbot.waitSignal(window.session.run_finished, timeout=20000):
        window.editor.run_from_sketch()  # Run > Run again from the sketch (Ctrl+R)
    assert not window.sketch_shown and not window.sketch_action.isChecked()
    assert np.array_equal(window.session.timeline_start, fixed)  # the run started from the painted sketch
    assert np.array_equal(window.document.sketch, fixed)
    assert not np.array_equal(window.document.image, fixed)  # a new picture of the fixed sketch
    window.undo_stack.undo()  # the run
    assert np.array_equal(window.document.image, fixed)
    window.undo_stack.undo()  # back to the sketch
    assert np.array_equal(window.document.image, result)


def test_show_the_sketch_without_one_says_so_and_stays_off(qtbot, window):
    window.sketch_action.trigger()
    assert not window.sketch_shown and not window.sketch_action.isChecked()
    assert "no sketch yet" in window.statusBar().currentMessage()
    window.editor.run_from_sketch()
    assert not window.session.running and "no sketch yet" in window.statusBar().currentMessage()


def test_a_new_picture_hides_the_sketch(qtbot, window):
    _sketch_and_run(qtbot, window)
    window.sketch_action.trigger()
    window.files.new_document()
    assert not window.sketch_shown and window.document.sketch is None


def test_the_sketch_is_saved_in_the_project_and_resized_with_the_canvas(qtbot, window, tmp_path):
    drawing = _sketch_and_run(qtbot, window)
    path = str(tmp_path / "p.rpaint")
    assert window.files.save_project(path)
    project = load_project(path)
    assert np.allclose(project.sketch, drawing, atol=1e-6)
    window.files.new_document()
    assert window.files.open_project(path)
    assert np.allclose(window.document.sketch, drawing, atol=1e-6)
    window.files.resize_canvas((64, 64))
    assert window.document.sketch.shape == (64, 64, 3)


def test_a_project_without_sketch_or_pen_strokes_is_still_format_1(tmp_path):
    image = np.ones((8, 8, 3), np.float32)
    plain = Project(image=image, mask=np.zeros((8, 8), np.float32),
                    strokes=[{"points": [[1, 1]], "brush": {"size": 2.0}}])
    save_project(plain, tmp_path / "old.rpaint")
    pen = Project(image=image, mask=np.zeros((8, 8), np.float32),
                  strokes=[{"points": [[1, 1, 0.5]], "brush": {"size": 2.0}}])
    save_project(pen, tmp_path / "pen.rpaint")
    import json
    import zipfile
    version = lambda name: json.loads(zipfile.ZipFile(tmp_path / name).read("project.json"))["version"]
    assert version("old.rpaint") == 1 and version("pen.rpaint") == 2
    assert load_project(tmp_path / "pen.rpaint").strokes[0]["points"] == [[1, 1, 0.5]]


def test_a_damaged_sketch_member_is_a_project_error(tmp_path):
    from robustpaint.core.project import ProjectError
    project = Project(image=np.ones((8, 8, 3), np.float32), mask=np.zeros((8, 8), np.float32),
                      sketch=np.ones((6, 8, 3), np.float32))
    save_project(project, tmp_path / "bad.rpaint")
    with pytest.raises(ProjectError, match="sketch"):
        load_project(tmp_path / "bad.rpaint")


@pytest.mark.parametrize("points, message", [([[1, 1, 1.5]], "pressure"), ([[1, 1, -0.1]], "pressure"),
                                             ([[1, 1, 0.5, 2]], "pressure"), ([[1, 1, "hard"]], "pressure")])
def test_a_stroke_point_with_a_bad_pressure_is_refused(points, message):
    with pytest.raises(ValueError, match=message):
        checked_stroke({"points": points, "brush": {"size": 2.0}})
    with pytest.raises(ValueError, match="layer"):
        checked_stroke({"points": [[1, 1]], "brush": {"size": 2.0}, "layer": "mask"})


def test_pressure_scales_the_brush_along_the_stroke():
    light_to_firm = Document.blank(64)
    light_to_firm.paint_stroke([(8, 32, 0.1), (56, 32, 1.0)], Brush(size=20))
    dark = light_to_firm.image[..., 0] < 0.5
    width = dark.sum(axis=0)  # painted pixels per column
    assert width[10] <= 4 and width[54] >= 17  # thin where the pen was light, the full size where firm
    assert (np.diff(width[10:54]) >= 0).all()  # widening along the stroke
    without = Document.blank(64)
    without.paint_stroke([(8, 32), (56, 32)], Brush(size=20))
    full = Document.blank(64)
    full.paint_stroke([(8, 32, 1.0), (56, 32, 1.0)], Brush(size=20))
    assert np.array_equal(without.image, full.image)  # full pressure is the mouse's stroke


def test_strokes_with_pressure_are_logged_and_resized_with_it():
    document = Document.blank(32)
    document.log_stroke([(4, 4, 0.25), (8, 8, 0.75)], Brush(size=4))
    document.log_stroke([(4, 4), (8, 8)], Brush(size=4))
    document.resize(64)
    assert document.strokes[0]["points"] == [[8, 8, 0.25], [16, 16, 0.75]]
    assert document.strokes[1]["points"] == [[8, 8], [16, 16]]
    assert all(checked_stroke(s) == s for s in document.strokes)


_PENS = []  # the device outlives its events (Qt keeps a pointer to it, not a copy)


def _pen_event(kind, position, pressure, button=Qt.MouseButton.LeftButton):
    if not _PENS:
        _PENS.append(QPointingDevice("test pen", 4242, QInputDevice.DeviceType.Stylus, QPointingDevice.PointerType.Pen,
                                     QInputDevice.Capability.Position | QInputDevice.Capability.Pressure, 1, 3))
    pen = _PENS[0]
    buttons = Qt.MouseButton.NoButton if kind == QEvent.Type.TabletRelease else button
    return QTabletEvent(kind, pen, QPointF(position), QPointF(position), pressure, 0.0, 0.0, 0.0, 0.0, 0.0,
                        Qt.KeyboardModifier.NoModifier, button, buttons)


def test_a_pen_stroke_paints_with_its_pressure(qtbot, window):
    window.controls.live_check.setChecked(False)
    window.tools.brush_size.setValue(8)
    rect = window.canvas.target_rect()
    y = rect.center().y()
    left, right = QPointF(rect.left() + rect.width() * 0.2, y), QPointF(rect.right() - rect.width() * 0.2, y)
    events = [_pen_event(QEvent.Type.TabletPress, left, 0.1), _pen_event(QEvent.Type.TabletMove, right, 1.0),
              _pen_event(QEvent.Type.TabletRelease, right, 1.0)]
    for event in events:
        QApplication.sendEvent(window.canvas, event)
        assert event.isAccepted()  # Qt makes no mouse events of them as well
    stroke = window.document.strokes[-1]
    assert len(stroke["points"]) == 2 and stroke["points"][0][2] == pytest.approx(0.1)  # press and move
    assert stroke["points"][1][2] == pytest.approx(1.0)
    dark = (window.document.image[..., 0] < 0.5).sum(axis=0)
    assert dark[7] < dark[24]  # thin at the light start, wider at the firm end
    assert window.undo_stack.count() == 1
    barrel = _pen_event(QEvent.Type.TabletPress, left, 0.5, Qt.MouseButton.RightButton)
    QApplication.sendEvent(window.canvas, barrel)
    assert not barrel.isAccepted()  # left to Qt's mouse events (pan)
