"""The worker of small parts (#31 step 3): its step queue, its errors, its shutdown, and the rule that the GUI reads
nothing of the worker but its signals (each test failed on the worker before the split)."""

import ast
import os
import threading
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from robustpaint.app.stepper import Priority, StepQueue  # noqa: E402
from robustpaint.app.worker import SynthesisWorker  # noqa: E402

APP = Path(__file__).resolve().parents[1] / "robustpaint" / "app"


class FakeJob:
    def __init__(self, ready=True):
        self.ready = ready

    def step(self):
        pass


def test_the_queue_steps_a_ready_run_before_thumbnails_and_thumbnails_while_the_run_is_paused():
    queue, run, thumbnails = StepQueue(), FakeJob(), FakeJob()
    queue.add(Priority.THUMBNAILS, thumbnails)
    assert queue.next_ready() is thumbnails
    queue.add(Priority.RUN, run)
    assert queue.next_ready() is run
    run.ready = False  # paused
    assert queue.next_ready() is thumbnails
    newer = FakeJob()
    queue.add(Priority.RUN, newer)  # a new run replaces the old one
    assert len(queue) == 2 and queue.job(Priority.RUN) is newer
    queue.remove(newer)
    queue.remove(thumbnails)
    assert queue.next_ready() is None and len(queue) == 0


def _worker_members_read_by_the_gui() -> set[str]:
    """Every `worker.NAME` / `self.worker.NAME` the app's GUI-side modules use."""
    names = set()
    for path in APP.glob("*.py"):
        if path.name in ("worker.py", "model_store.py", "stepper.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute):
                owner = node.value
                if (isinstance(owner, ast.Attribute) and owner.attr == "worker") or (
                        isinstance(owner, ast.Name) and owner.id == "worker"):
                    names.add(node.attr)
    return names


def test_the_gui_reads_no_worker_attribute_only_its_signals_and_slots():
    # Before: run_session read worker.device, worker.steps_per_second and worker.threads_text, which the worker's
    # thread writes (a device change could race the status line and the recipe's device).
    from PySide6.QtCore import Signal
    allowed = {name for name, value in vars(SynthesisWorker).items()
               if isinstance(value, Signal) or hasattr(value, "_slots")}  # connected, never read
    allowed |= {"moveToThread", "deleteLater", "cancel"}  # cancel: a threading.Event, made to be set across threads
    read = _worker_members_read_by_the_gui()
    assert {"submit", "stepped"} <= read, "the scan no longer sees the app's use of the worker"
    assert read - allowed == set()


def test_the_run_figures_travel_with_each_step(qtbot, window):
    window.controls.live_check.setChecked(False)
    window.panel.task_combo.setCurrentIndex(window.panel.task_combo.findData("sketch"))
    window.panel.steps_spin.setValue(3)
    with qtbot.waitSignal(window.session.run_finished, timeout=20000):
        window.start_run()
    figures = window.session.figures
    assert figures["device"] == "cpu" and figures["steps_per_second"] > 0 and "thread" in figures["threads"]
    assert window.session.run_device == "cpu"
    assert "tiny on cpu" in window.status_label.text()


def test_a_failing_class_readout_says_why(qtbot, window):
    # Before: classify swallowed every error, so a broken model showed as an empty readout with no word.
    with qtbot.waitSignal(window.session.message, timeout=10000) as blocker:
        window.session.classify("no-such-model", window.document.image)
    assert "no-such-model" in blocker.args[0]


def test_shutdown_is_bounded_when_the_worker_is_stuck(qtbot, window):
    # Before: shutdown waited on the thread with no limit, so a step stuck in native code hung the app's close.
    from PySide6.QtCore import QObject, Signal, Slot

    release = threading.Event()

    class Stuck(QObject):
        go = Signal()

        @Slot()
        def block(self):
            release.wait(20)

    stuck = Stuck()
    stuck.moveToThread(window.session.thread)
    stuck.go.connect(stuck.block)
    stuck.go.emit()  # queued: the worker's thread is blocked in it from now on
    time.sleep(0.2)
    started = time.perf_counter()
    assert window.session.shutdown(timeout_s=0.5) is False
    assert time.perf_counter() - started < 5
    release.set()
    assert window.session.thread.wait(10000)


def test_closing_during_a_slow_step_cancels_it_within_the_step(qtbot, window, monkeypatch):
    """A slow step (ResNet-50 at a large size) reports its progress from inside; on close it stops there."""
    from robustpaint.app import worker as worker_module
    monkeypatch.setattr(worker_module, "SLOW_STEP_SECONDS", 0.0)  # every step after the first is "slow"
    slow = {"on": False}

    def crawl(_module, _inputs, _output):
        if slow["on"]:
            time.sleep(0.6)  # each stage of the network takes 0.6 s: a step takes seconds

    bundle = window.session.worker.models.bundles["tiny"]
    handles = [m.register_forward_hook(crawl) for m in bundle.model.net.children()]
    window.controls.live_check.setChecked(False)
    window.panel.task_combo.setCurrentIndex(window.panel.task_combo.findData("sketch"))
    window.panel.steps_spin.setValue(100)
    window.start_run()
    qtbot.waitUntil(lambda: window.session.steps_done >= 2, timeout=20000)
    slow["on"] = True
    time.sleep(0.3)  # a slow step is under way
    started = time.perf_counter()
    assert window.session.shutdown(timeout_s=8)
    assert time.perf_counter() - started < 3  # not the whole step (stages x 0.6 s, forward and backward)
    for handle in handles:
        handle.remove()


def test_a_run_that_settles_early_says_done(qtbot, window):
    # #34: early stopping is shown as "done", not as a run cut short of its step count.
    from robustpaint.app.stepper import Priority
    window.controls.live_check.setChecked(False)
    window.panel.task_combo.setCurrentIndex(window.panel.task_combo.findData("sketch"))
    window.panel.steps_spin.setValue(500)
    request = window.make_request().with_knobs(settle=10.0)  # any loss change below 10 counts as settled
    with qtbot.waitSignal(window.session.run_finished, timeout=20000):
        window.session.start("tiny", "", request)
    assert window.session.steps_done == 6 and window.session.figures["settled"]
    assert window.statusBar().currentMessage().startswith("done: settled at step 6")
    assert window.controls.progress.value() == window.controls.progress.maximum()
    assert window.session.worker.queue.job(Priority.RUN) is None


def test_app_superres_says_when_a_weak_guess_kept_the_smooth_upsampling(qtbot, window):
    # Review: the app's superres (no class to pick) silently ran steps that changed nothing below min_confidence.
    window.controls.live_check.setChecked(False)
    window.panel.task_combo.setCurrentIndex(window.panel.task_combo.findData("superres"))
    window.panel.steps_spin.setValue(2)
    request = window.make_request().with_knobs(min_confidence=1.0)  # no guess is that sure
    with qtbot.waitSignal(window.session.run_finished, timeout=20000):
        window.session.start("tiny", "", request)
    assert window.statusBar().currentMessage().startswith("super-resolution kept the smooth upsampling")
