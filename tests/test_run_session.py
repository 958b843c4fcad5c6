"""The run session's recipe always describes what the canvas shows, so that an export replays it: regressions found
in review of the window split (each failed before its fix)."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from robustpaint.cli import main  # noqa: E402
from robustpaint.core.imageio import read_recipe  # noqa: E402


@pytest.fixture(autouse=True)
def live_off(window):
    window.controls.live_check.setChecked(False)  # runs start only when a test starts them


def _run(qtbot, window, task, steps, candidates=1):
    window.panel.task_combo.setCurrentIndex(window.panel.task_combo.findData(task))
    window.panel.candidates_spin.setValue(candidates)
    window.panel.steps_spin.setValue(steps)
    with qtbot.waitSignal(window.session.run_finished, timeout=20000):
        window.start_run()


def _replays(window, tmp_path, name="out.png", scale=1) -> bool:
    exported, replayed = tmp_path / name, tmp_path / f"replayed-{name}"
    assert window.files.export_png(str(exported), scale=scale)
    assert main(["replay", str(exported), "--out", str(replayed), "--quiet"]) == 0
    return np.array_equal(np.asarray(Image.open(exported)), np.asarray(Image.open(replayed)))


def test_a_model_that_fails_to_load_does_not_stop_the_run_going_on(qtbot, window):
    window.panel.task_combo.setCurrentIndex(window.panel.task_combo.findData("sketch"))
    window.panel.steps_spin.setValue(40)
    with qtbot.waitSignal(window.session.run_finished, timeout=30000):
        window.start_run()
        window.session.load_model.emit("no-such-model")  # reported with job id -1
    assert window.controls.run_button.text() == "Run" and window.controls.progress.value() // 100 == 40


def test_a_candidate_chosen_in_a_larger_batch_does_not_break_the_next_export(qtbot, window, tmp_path):
    _run(qtbot, window, "generate", 2, candidates=4)
    window.editor.choose_candidate(3)
    _run(qtbot, window, "generate", 2, candidates=2)
    assert _replays(window, tmp_path)
    assert read_recipe(tmp_path / "out.png")["index"] == 1  # the last of the two, where the choice of 4 was clamped


def test_opening_an_image_or_undoing_a_run_leaves_no_stale_recipe(qtbot, window, tmp_path):
    _run(qtbot, window, "sketch", 2)
    Image.new("RGB", (32, 32), (20, 200, 40)).save(tmp_path / "green.png")
    assert window.files.open_image(str(tmp_path / "green.png"))
    assert window.files.export_png(str(tmp_path / "opened.png"))
    assert read_recipe(tmp_path / "opened.png")["task"] == "none"
    window.undo_stack.undo()  # back to the canvas the run made: its recipe comes back
    assert window.session.last_recipe["task"] == "sketch" and _replays(window, tmp_path, "undone-open.png")
    window.undo_stack.undo()  # before the run: nothing made it
    assert window.session.last_recipe is None
    window.undo_stack.redo()
    assert _replays(window, tmp_path, "redone.png")


def test_a_timeline_iterate_keeps_the_candidate_it_showed(qtbot, window, tmp_path):
    _run(qtbot, window, "generate", 10, candidates=2)
    window.editor.choose_candidate(1)  # after the run: the timeline's iterates showed candidate 0
    window.controls.timeline_slider.setValue(0)
    window.session.commit_timeline()
    assert window.session.last_recipe["index"] == 0 and window.session.last_recipe["steps"] == 5
    assert _replays(window, tmp_path)


def test_a_run_stopped_before_its_first_step_records_no_recipe(qtbot, window):
    window.panel.task_combo.setCurrentIndex(window.panel.task_combo.findData("inpaint"))
    window.document.mask[8:20, 8:20] = 1
    window.start_run()
    window.session.halt()  # before any event: no step has arrived
    assert window.session.last_recipe is None


def test_a_run_over_the_budget_is_refused_in_the_app_as_replay_would(qtbot, window, monkeypatch):
    monkeypatch.setattr("robustpaint.core.recipes.MAX_BATCH_PIXELS", 1000)
    window.panel.task_combo.setCurrentIndex(window.panel.task_combo.findData("generate"))
    window.panel.candidates_spin.setValue(2)  # 2 x 32 x 32 pixels > 1000
    with qtbot.waitSignal(window.session.worker.failed, timeout=10000) as failure:
        window.start_run()
    assert "more than one run may hold" in failure.args[1]
    qtbot.waitUntil(lambda: not window.session.running, timeout=5000)


def test_only_a_stroke_that_changes_the_image_marks_the_export_as_edited(qtbot, window, tmp_path):
    _run(qtbot, window, "sketch", 2)
    window.tools.actions_by_tool["mask"].setChecked(True)
    rect = window.canvas.target_rect()
    from PySide6.QtCore import QPoint, Qt
    centre = rect.center().toPoint()
    qtbot.mousePress(window.canvas, Qt.MouseButton.LeftButton, pos=centre)
    qtbot.mouseRelease(window.canvas, Qt.MouseButton.LeftButton, pos=centre + QPoint(5, 0))
    assert window.document.mask.any() and "edited_after_run" not in window.session.last_recipe
    window.tools.actions_by_tool["brush"].setChecked(True)
    qtbot.mousePress(window.canvas, Qt.MouseButton.LeftButton, pos=centre)
    qtbot.mouseRelease(window.canvas, Qt.MouseButton.LeftButton, pos=centre + QPoint(5, 0))
    assert window.session.last_recipe["edited_after_run"] is True


def test_a_4x_export_replays_to_the_same_4x_file(qtbot, window, tmp_path):
    _run(qtbot, window, "sketch", 2)
    assert _replays(window, tmp_path, scale=4)
    assert Image.open(tmp_path / "replayed-out.png").size == (128, 128)


def test_version_does_not_load_torch():
    import subprocess
    import sys
    code = "import sys; from robustpaint.cli import main; main(['--version']); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == "robustpaint" and out[-1] == "False"


def test_an_export_during_a_paused_run_replays_the_iterate_shown(qtbot, window, tmp_path):
    """Before: the export carried the previous run's recipe (or none), so a paused run's picture did not replay."""
    window.panel.task_combo.setCurrentIndex(window.panel.task_combo.findData("sketch"))
    window.panel.steps_spin.setValue(1000)
    window.start_run()
    qtbot.waitUntil(lambda: window.session.steps_done >= 3, timeout=20000)
    window.toggle_run()  # pause
    qtbot.wait(200)  # a step already in flight still arrives, with its image
    assert window.controls.run_button.text() == "Resume"
    assert _replays(window, tmp_path)
    assert read_recipe(tmp_path / "out.png")["steps"] == window.session.steps_done
    window.session.stop()


def test_a_slow_step_moves_the_progress_bar_within_the_step(qtbot, window, monkeypatch):
    """ResNet-50 at 224 px takes about a second a step on 2 cores: the bar shows each stage of the step go by."""
    from robustpaint.app import worker as worker_module
    monkeypatch.setattr(worker_module, "SLOW_STEP_SECONDS", 0.0)  # every step of the tiny model counts as slow
    seen = []
    window.session.worker.step_progress.connect(lambda job, done: seen.append((job, done)))
    _run(qtbot, window, "generate", 3)
    qtbot.waitUntil(lambda: len(seen) > 0, timeout=5000)
    shares = [done for _, done in seen]
    assert 0 < min(shares) and max(shares) == pytest.approx(1.0) and len(shares) > 4
    bar = window.controls.progress
    assert bar.maximum() == 3 * 100 and bar.value() == 300


def test_a_slow_probe_step_of_the_thread_tuner_does_not_make_the_model_slow(qtbot, window, monkeypatch):
    """Two threads beside a busy core take 3-4x as long: those probe steps must not switch on the within-step
    progress (its hooks and signals slowed the live run they came from)."""
    import time

    import torch

    from robustpaint.app import worker as worker_module
    from robustpaint.core.threads import ThreadTuner
    monkeypatch.setattr(worker_module, "SLOW_STEP_SECONDS", 0.25)  # far above a tiny model's steps, even under load
    real_step = ThreadTuner.step

    def step(self, run_step):
        def timed_step():
            result = run_step()
            if torch.get_num_threads() == 2:
                time.sleep(0.4)  # the losing count, as beside a busy core
            return result
        return real_step(self, timed_step)

    monkeypatch.setattr(ThreadTuner, "step", step)
    monkeypatch.setenv("ROBUSTPAINT_THREADS", "auto")
    monkeypatch.setattr("robustpaint.core.threads.candidate_counts", lambda cores=None: [1, 2])
    seen = []
    window.session.worker.step_progress.connect(lambda job, done: seen.append(done))
    _run(qtbot, window, "generate", 10)  # 6 probe steps (3 per count), then 4 at the chosen count
    assert window.session.figures["threads_detail"].startswith("1 thread (auto")
    assert seen == []


def test_a_run_stopped_before_its_first_step_leaves_no_busy_bar(qtbot, window):
    window.panel.steps_spin.setValue(50)
    window.start_run()
    assert window.controls.progress.maximum() == 0  # busy until the first step says how many there are
    window.session.halt()
    assert window.controls.progress.maximum() > 0
