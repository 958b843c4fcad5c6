"""#44 item 4: what a run starts from is explicit. With Live on, a stroke on the drawing runs again from the
drawing, a stroke on a finished result is a touch-up that is kept, and a stroke that stops a run says so."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint

from test_app import _drag, _select_task
from test_sketch_layer import _sketch_and_run


def _drawing_run(qtbot, window):
    """test_sketch_layer's line and 3-step Sketch run from it, then Live on."""
    drawing = _sketch_and_run(qtbot, window)
    window.controls.live_check.setChecked(True)
    return drawing


def test_a_touch_up_on_a_finished_result_is_kept_not_run_over(qtbot, window):
    """With Live on, each touch-up re-ran PGD on the already processed result: artefacts piled up run after run."""
    _drawing_run(qtbot, window)
    c = window.canvas.target_rect().center().toPoint()
    _drag(qtbot, window.canvas, c + QPoint(-30, 40), c + QPoint(30, 40))
    touched = window.document.image.copy()
    qtbot.wait(100)
    assert not window.session.running
    assert np.array_equal(window.document.image, touched)
    assert "touch-up kept" in window.statusBar().currentMessage()


def test_a_stroke_on_the_drawing_runs_again_from_the_drawing(qtbot, window):
    drawing = _drawing_run(qtbot, window)
    window.show_sketch(True)
    c = window.canvas.target_rect().center().toPoint()
    with qtbot.waitSignal(window.session.run_finished, timeout=20000):
        _drag(qtbot, window.canvas, c + QPoint(-30, 40), c + QPoint(30, 40))
    sketch = window.document.sketch
    assert not np.array_equal(sketch, drawing)  # the stroke went on the drawing ...
    started_from = window.session.timeline_start
    assert np.array_equal(started_from, sketch)  # ... and the run started from it, not from the last result


def test_a_stroke_that_stops_a_seed_run_says_why(qtbot, window):
    """A stroke during a Generate run stopped it silently at step 4/15."""
    window.controls.live_check.setChecked(False)
    _select_task(window, "generate")
    window.panel.steps_spin.setValue(1000)
    with qtbot.waitSignal(window.session.image_updated, timeout=10000):
        window.start_run()
    c = window.canvas.target_rect().center().toPoint()
    _drag(qtbot, window.canvas, c - QPoint(20, 0), c + QPoint(20, 0))
    assert not window.session.running
    message = window.statusBar().currentMessage()
    assert "stopped at step" in message and "/1000 by your stroke" in message


def test_the_drawing_button_keeps_its_short_name_and_follows_k(qtbot, window):
    """A tool button took the View action's long text when K toggled it, widening the panel over the canvas."""
    _drawing_run(qtbot, window)
    button = window.controls.drawing_button
    window.sketch_action.trigger()  # K
    assert button.isChecked() and button.text() == "My drawing (K)" and window.sketch_shown
    button.click()
    assert not window.sketch_shown and not button.isChecked() and button.text() == "My drawing (K)"


def test_a_drawing_is_refined_stroke_by_stroke_each_run_from_the_drawing(qtbot, window):
    """#44's painter aim: after a Live stroke on the drawing the view went back to the result, so the next stroke
    was a touch-up and the drawing stopped changing."""
    _drawing_run(qtbot, window)
    window.show_sketch(True)
    c = window.canvas.target_rect().center().toPoint()
    for dy in (30, 50):
        with qtbot.waitSignal(window.session.run_finished, timeout=20000):
            _drag(qtbot, window.canvas, c + QPoint(-30, dy), c + QPoint(30, dy))
        assert window.sketch_shown  # the drawing stays in view for the next stroke
        assert np.array_equal(window.session.timeline_start, window.document.sketch)
    assert window.controls.drawing_button.isChecked()


def test_the_drawing_button_shows_what_the_view_shows_when_there_is_no_drawing(qtbot, window):
    window.controls.drawing_button.click()  # no drawing yet: the status bar says so and the result stays shown
    assert not window.sketch_shown and not window.controls.drawing_button.isChecked()
