"""The painter's panel (#47 items 1, 3, 10): a few plain controls first, every knob behind Advanced; Freedom and Work
mapped onto the preset's radius and steps (and kept in the recipe); Steps typed, not dragged; the mask drawn as an
outline once a run starts, so its result shows."""

import numpy as np
import pytest

pytest.importorskip("PySide6")
from PySide6.QtWidgets import QSpinBox  # noqa: E402

from robustpaint.core.recipes import recipe_from_request  # noqa: E402
from robustpaint.core.project import TaskParameters  # noqa: E402
from robustpaint.core.tasks import KNOBS, TASKS, TaskRequest, preset_values, scaled_config  # noqa: E402


def _select_task(win, task):
    win.panel.task_combo.setCurrentIndex(win.panel.task_combo.findData(task))


def _inside(widget, ancestor) -> bool:
    while widget is not None:
        if widget is ancestor:
            return True
        widget = widget.parentWidget()
    return False


@pytest.mark.parametrize("task", list(TASKS))
def test_each_task_shows_few_plain_rows_and_keeps_every_other_knob_behind_advanced(qtbot, window, task):
    panel = window.panel
    _select_task(window, task)
    assert not panel.advanced.isExpanded()  # closed by default
    content = panel.advanced.content()
    plain = [key for key in TASKS[task].parameters if key in panel.rows and KNOBS[key].plain]
    for key, (_, widget) in panel.rows.items():
        assert _inside(widget, content) != KNOBS[key].plain, key
    assert {"freedom", "effort"} <= set(plain)
    assert len([k for k in plain if k != "keep"]) <= 6, plain
    assert not {"eps", "step", "steps", "momentum", "schedule"} & set(plain)


def test_steps_is_a_spin_box_not_a_slider(qtbot, window):
    assert isinstance(window.panel.steps_spin, QSpinBox)
    window.panel.steps_spin.setValue(15)
    window.panel.steps_spin.stepUp()
    assert window.panel.steps_spin.value() == 25  # ten a click, not a jump of hundreds


def test_freedom_and_work_scale_the_preset_and_say_changed_once_with_the_new_values(qtbot, window):
    panel = window.panel
    _select_task(window, "sketch")
    eps, step_size, steps = panel.eps_slider.value(), panel.step_slider.value(), panel.steps_spin.value()
    seen = []
    panel.changed.connect(lambda: seen.append((panel.eps_slider.value(), panel.steps_spin.value())))
    panel.knob_widgets["freedom"].slider.setValue(2)  # two notches: twice the radius
    assert seen == [(pytest.approx(2 * eps, abs=0.02), steps)]
    panel.knob_widgets["effort"].setCurrentText("thorough")
    assert panel.steps_spin.value() == 2 * steps
    assert panel.step_slider.value() == pytest.approx(step_size, abs=0.02)  # twice the radius in twice the steps
    assert "change allowed" in panel.mapping_label.text() and "by hand" not in panel.mapping_label.text()
    panel.steps_spin.setValue(7)
    assert "by hand" in panel.mapping_label.text()
    request = window.make_request()
    assert (request.knob("freedom"), request.knob("effort")) == (2.0, "thorough")
    recipe = recipe_from_request(request, "tiny", "0" * 64)
    assert recipe["freedom"] == 2.0 and recipe["effort"] == "thorough"  # the recipe keeps the painter's choice
    panel.reset_to_preset()
    assert panel.knob_widgets["freedom"].value() == 1.0 and panel.effort == "normal"
    assert panel.eps_slider.value() == pytest.approx(eps, abs=0.01) and panel.steps_spin.value() == steps


def test_a_projects_freedom_off_the_notches_is_kept(qtbot, window):
    panel = window.panel
    params = panel.parameters()
    values = {**params.to_dict(), "freedom": 1.5, "effort": "quick"}
    panel.set_parameters(TaskParameters.from_dict(params.task, values))
    again = panel.parameters()
    assert again.knob("freedom") == 1.5 and again.knob("effort") == "quick"


def test_the_cli_and_recipes_map_effort_and_freedom_the_same_way():
    eps, step_size, steps = preset_values("sketch", 128, 128, model_side=128)
    quick = scaled_config(TaskRequest(task="sketch", knobs=(("effort", "quick"), ("freedom", 0.5))), 128, 128, 128)
    assert quick.steps == round(steps / 2)
    assert quick.eps == pytest.approx(eps / 2)
    assert quick.step_size == pytest.approx(step_size / 2 * steps / quick.steps)
    plain = scaled_config(TaskRequest(task="sketch"), 128, 128, 128)
    assert (plain.eps, plain.step_size, plain.steps) == (eps, step_size, steps)  # bit for bit as before


def test_a_run_says_in_one_line_what_it_runs(qtbot, window):
    window.controls.live_check.setChecked(False)
    _select_task(window, "sketch")
    window.panel.steps_spin.setValue(3)
    with qtbot.waitSignal(window.session.image_updated, timeout=20000):
        window.start_run()
    line, detail = window.status_label.text(), window.status_label.toolTip()
    assert line.startswith("Sketch to image → ") and "freedom 1x · normal work · " in line and "step " in line
    assert "3 steps of" in detail and "tiny" in detail
    qtbot.waitUntil(lambda: not window.session.running, timeout=20000)
    assert window.status_label.text().startswith("Sketch to image → ")  # the end says what ran too


def _masked(y0, y1, x0, x1):
    """A document change that masks a rectangle (assigning the layer announces it)."""
    def change(doc):
        mask = doc.mask.copy()
        mask[y0:y1, x0:x1] = 1
        doc.mask = mask
    return change


def _overlay_alpha(window, x, y) -> int:
    return window.canvas._overlay.pixelColor(x, y).alpha()


def test_the_mask_is_an_outline_once_a_run_starts_and_filled_again_when_painted(qtbot, window):
    window.controls.live_check.setChecked(False)
    _select_task(window, "inpaint")
    window.panel.steps_spin.setValue(2)
    window.editor.edit(_masked(8, 24, 8, 24), "mask")
    assert _overlay_alpha(window, 16, 16) > 0 and _overlay_alpha(window, 8, 16) > 0  # filled while masking
    with qtbot.waitSignal(window.session.run_finished, timeout=20000):
        window.start_run()
    assert _overlay_alpha(window, 16, 16) == 0  # the result shows inside the mask
    assert _overlay_alpha(window, 8, 16) > 200 and _overlay_alpha(window, 23, 16) > 200  # its border stays
    assert window.canvas.has_overlay
    window.tools.actions_by_tool["mask"].trigger()  # back to painting the mask: filled again
    assert _overlay_alpha(window, 16, 16) > 0
    window.outline_overlays(True)
    window.editor.edit(_masked(0, 4, 0, 4), "mask")
    assert _overlay_alpha(window, 16, 16) > 0  # an edit of the mask shows it filled too


def test_an_outline_updated_in_a_rectangle_equals_one_drawn_whole():
    from PySide6.QtGui import QImage

    from robustpaint.app.canvas import write_overlay
    mask = np.zeros((40, 50), np.float32)
    regions = np.full((40, 50), -1, np.int8)
    strength = np.ones((40, 50), np.float32)
    mask[5:30, 10:45] = 1
    whole, parts = (QImage(50, 40, QImage.Format.Format_ARGB32_Premultiplied) for _ in range(2))
    write_overlay(whole, mask, regions, strength, [], (0, 0, 50, 40), outline=2)
    write_overlay(parts, mask, regions, strength, [], (0, 0, 50, 40), outline=0)
    for rect in ((0, 0, 25, 20), (25, 0, 50, 20), (0, 20, 25, 40), (25, 20, 50, 40)):  # tiles meet at the edges
        write_overlay(parts, mask, regions, strength, [], rect, outline=2)
    assert whole == parts


def test_a_new_canvas_size_moves_the_radius_and_keeps_the_painters_other_values(qtbot, window):
    """Undo or redo across a resized canvas (or Canvas size) put every Advanced value back to the preset: a
    momentum or a lambda typed by hand was lost (a review found). The radius and step follow the size, as before."""
    panel = window.panel
    _select_task(window, "sketch")
    panel.knob_widgets["momentum"].setValue(0.5)
    panel.lam_slider.setValue(33.0)
    panel.steps_spin.setValue(77)
    eps = panel.eps_slider.value()
    panel.set_canvas_size((64, 64))  # from 32 x 32
    assert panel.eps_slider.value() == pytest.approx(2 * eps, abs=0.02)
    assert panel.knob_widgets["momentum"].value() == 0.5 and panel.lam_slider.value() == 33.0
    assert panel.steps_spin.value() == 77
