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
    window.panel.steps_spin.setValue(2)
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


def test_the_note_of_a_weak_run_stays_after_the_message_goes(qtbot, window, monkeypatch):
    """The note went with the status bar's message after 10 s, like every message: a user who looked later saw
    only "step 2/2", and no word that the picture barely reads as its class."""
    import robustpaint.app.run_session as run_session
    window.controls.live_check.setChecked(False)
    _select_task(window, "inpaint")
    window.document.mask[8:20, 8:20] = 1
    window.panel.class_combo.setCurrentText("ship")
    window.panel.steps_spin.setValue(2)
    monkeypatch.setattr(run_session, "WEAK_TARGET", 1.01)
    narrowest = window.statusBar().minimumSizeHint().width()
    with qtbot.waitSignal(window.session.run_finished, timeout=20000):
        window.start_run()
    window.statusBar().clearMessage()  # what the message's timeout does
    assert "reads as ship at only" in window.status_label.text()
    assert "reads as ship at only" in window.status_label.toolTip()  # whole, where the bar cuts it off
    assert len(window.status_label.text()) > 100
    assert window.statusBar().minimumSizeHint().width() <= narrowest  # a long note does not widen the window
    window.files.new_document((32, 32))  # the status line rests again: its tooltip with it, not the old note
    assert "reads as" not in window.status_label.text() and "reads as" not in window.status_label.toolTip()


def test_a_readout_still_on_its_timer_does_not_replace_the_finished_runs_note(qtbot, window, monkeypatch):
    """A run that stops early (settled) has its last readout waiting on the 100-ms timer; it came after the note
    and put "step k/total" in its place."""
    import robustpaint.app.run_session as run_session
    window.controls.live_check.setChecked(False)
    _select_task(window, "inpaint")
    window.document.mask[8:20, 8:20] = 1
    window.panel.steps_spin.setValue(2)
    monkeypatch.setattr(run_session, "WEAK_TARGET", 1.01)
    session = window.session
    with qtbot.waitSignal(session.run_finished, timeout=20000):
        window.start_run()
    # the same end again, as the GUI thread sees an early stop: the last step's readout waits on its timer when the
    # worker's "finished" arrives
    session._readout = (session.job_id, 1, 2, 0.5, session.last_top5)
    session._readout_timer.start()
    session._on_finished(session.job_id, window.document.image)
    qtbot.wait(300)  # past the readout timer
    assert "reads as" in window.status_label.text()


def test_no_overlays_message_at_start_up(qtbot, window):
    """Checking the View menu's action while the menus were built showed "overlays shown" at every start."""
    assert "overlays" not in window.statusBar().currentMessage()


def test_hidden_overlays_are_shown_while_hidden_and_come_back_for_a_mask_stroke(qtbot, window):
    """With overlays hidden (H), mask strokes left no mark and H said nothing: the user painted a mask unseen."""
    window.show()
    window.controls.live_check.setChecked(False)
    assert not window.overlays_label.isVisible()
    window.overlay_action.trigger()  # H
    assert window.overlays_label.isVisible() and "hidden" in window.statusBar().currentMessage()
    window.tools.actions_by_tool["mask"].setChecked(True)
    c = window.canvas.target_rect().center().toPoint()
    _drag(qtbot, window.canvas, c - QPoint(20, 0), c + QPoint(20, 0))
    assert window.document.mask.any()
    assert window.overlay_action.isChecked() and window.canvas.has_overlay  # the stroke is seen as it is painted
    assert not window.overlays_label.isVisible() and "overlays shown again" in window.statusBar().currentMessage()
    window.overlay_action.trigger()
    window.tools.actions_by_tool["brush"].setChecked(True)
    _drag(qtbot, window.canvas, c - QPoint(20, 10), c + QPoint(20, 10))
    assert not window.overlay_action.isChecked()  # a colour stroke is seen anyway: the overlays stay hidden


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
    monkeypatch.setattr(window.session, "classify", lambda name, image, at_model_scale=True: sent.append(image))
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
    window.panel.steps_spin.setValue(10)
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


def test_the_top5_reads_the_iterate_or_start_the_timeline_shows(qtbot, window):
    """150 ms after scrubbing, the readout classified the document's picture again (the last step's), so the top-5
    went back to "church 100%" beside step 5's picture; "Start" showed the last step's top-5 beside the start."""
    window.controls.live_check.setChecked(False)
    _select_task(window, "sketch")
    c = window.canvas.target_rect().center().toPoint()
    _drag(qtbot, window.canvas, c - QPoint(30, 0), c + QPoint(30, 0))
    window.panel.steps_spin.setValue(10)
    with qtbot.waitSignal(window.session.run_finished, timeout=20000):
        window.start_run()
    asked = []
    window.session.request_classify.connect(lambda request_id, name, image, at_model_scale: asked.append(image))
    window.controls.timeline_slider.setValue(0)
    qtbot.waitUntil(lambda: len(asked) == 1, timeout=3000)
    assert np.array_equal(asked[0], window.session.timeline[0][1])  # the iterate shown, not the document
    window.controls.compare_check.setChecked(True)  # "Start"
    qtbot.waitUntil(lambda: len(asked) == 2, timeout=3000)
    assert np.array_equal(asked[1], window.session.timeline_start)
    assert not np.array_equal(asked[1], window.document.image)


def test_the_timeline_slider_has_room_to_scrub(qtbot, window):
    """Beside its label and buttons the scrubber was about 80 px long."""
    qtbot.waitUntil(lambda: window.controls.width() > 0)
    assert window.controls.timeline_slider.width() > 0.5 * window.controls.width()


def test_the_task_and_class_lists_drop_down_below_their_boxes(qtbot, window):
    """Task's list (no search field) opened over its box at the current entry, Class's below its box."""
    from PySide6.QtWidgets import QApplication

    from robustpaint.app.main import install_style
    app = QApplication.instance()
    base = app.style().name() or "fusion"  # a proxy's name is empty; the app deletes the style it replaces
    install_style(app)
    installed = app.style()
    install_style(app)
    assert app.style() is installed  # twice is once
    try:
        window.show()
        qtbot.waitExposed(window)
        for combo in (window.panel.task_combo, window.panel.class_combo):
            combo.setCurrentIndex(combo.count() - 1)  # an entry low in the list
            combo.showPopup()
            popup = combo.view().window()
            qtbot.waitUntil(popup.isVisible)
            below = combo.mapToGlobal(combo.rect().bottomLeft()).y()
            assert popup.geometry().top() >= below - 2, combo.objectName()
            combo.hidePopup()
    finally:
        app.setStyle(base)


def test_the_export_dialogs_size_and_type_columns_show_whole(qtbot, window, tmp_path):
    """At Qt's default widths the detail view's Size and Type columns were cut off ("285...KiB", "PN...ge")."""
    from PySide6.QtWidgets import QHeaderView, QTreeView

    from robustpaint.app.files import ExportDialog
    dialog = ExportDialog(window, str(tmp_path / "robustpaint.png"), "1x")
    qtbot.addWidget(dialog)
    header = dialog.findChild(QTreeView).header()
    assert dialog.width() >= 820
    assert header.sectionResizeMode(0) == QHeaderView.ResizeMode.Stretch
    assert all(header.sectionResizeMode(c) == QHeaderView.ResizeMode.ResizeToContents
               for c in range(1, header.count()))
