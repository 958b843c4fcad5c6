"""The task registry: a task declared in one module (here, in this test module alone) reaches the CLI, the app's
panel and the worker; and the worker survives any error a task raises."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from robustpaint.core import objectives as obj  # noqa: E402
from robustpaint.core.imageio import read_recipe  # noqa: E402
from robustpaint.core.tasks import Built, CliJob, Preset, TaskRequest, TaskSpec, register, unregister  # noqa: E402
from robustpaint.core.tasks.base import add_input_arguments, class_index, default_output, read_input  # noqa: E402


class Darken(TaskSpec):
    """Moves the image towards a class while making it darker: a task no module of the package declares."""

    name, label, help = "darken", "Darken towards a class", "darken an image while it moves towards a class"
    preset = photo_preset = Preset(2.0, 0.2, 4, "a test's own preset")
    parameters = ("class", "eps", "step", "steps")

    def build(self, ctx) -> Built:
        image = ctx.image()
        darker = obj.Objective(lambda x, logits, a: x.mean((1, 2, 3)), "brightness")
        return Built(image, obj.class_target(ctx.targets().to(ctx.device)) + darker)

    def add_arguments(self, parser) -> None:
        add_input_arguments(parser)
        parser.add_argument("--class", dest="target", required=True)

    def request_from_args(self, args, model, seeds, note) -> CliJob:
        image, _ = read_input(args, model, note)
        request = TaskRequest(self.name, image=image, targets=(class_index(model.classes, args.target),))
        return CliJob(request, [default_output(args, self.name)], (args.input,))


class Breaks(Darken):
    """A task whose objective raises at the first step (a bug in a task, a driver error)."""

    name, label = "breaks", "Breaks"

    def build(self, ctx) -> Built:
        def broken(x, logits, a):
            raise RuntimeError("a bug in the objective")
        return Built(ctx.image(), obj.Objective(broken, "broken"))


class Diverges(Darken):
    """A task whose loss turns NaN at the first step."""

    name, label = "diverges", "Diverges"

    def build(self, ctx) -> Built:
        return Built(ctx.image(), obj.Objective(lambda x, logits, a: x.sum((1, 2, 3)) * float("nan"), "nan"))


@pytest.fixture
def extra_tasks():
    specs = [register(Darken()), register(Breaks()), register(Diverges())]
    yield specs
    for spec in specs:
        unregister(spec.name)


def test_a_task_declared_in_one_module_runs_through_the_cli_with_a_replayable_recipe(extra_tasks, installed_tiny,
                                                                                     tmp_path):
    from robustpaint.cli import main
    Image.new("RGB", (32, 32), (200, 200, 200)).save(tmp_path / "gray.png")
    out = tmp_path / "dark.png"
    assert main(["darken", str(tmp_path / "gray.png"), "--class", "cat", "--model", "tiny", "--out", str(out),
                 "--quiet"]) == 0
    result = np.asarray(Image.open(out), np.float32)
    assert result.mean() < 199  # darker: the task's own objective ran
    assert read_recipe(out)["task"] == "darken" and read_recipe(out)["steps"] == 4  # its own preset
    assert main(["replay", str(out), "--out", str(tmp_path / "again.png"), "--quiet"]) == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "again.png")), np.asarray(Image.open(out)))


def test_a_registered_task_is_offered_by_the_app_and_runs_in_its_worker(qtbot, extra_tasks, window):
    index = window.panel.task_combo.findData("darken")
    assert index >= 0 and window.panel.task_combo.itemText(index) == "Darken towards a class"
    window.panel.task_combo.setCurrentIndex(index)
    assert window.panel.steps_spin.value() == 4  # the preset it declares
    assert window.panel.rows["class"][1].isVisibleTo(window) and not window.panel.rows["lam"][1].isVisibleTo(window)
    window.document.image[:] = 0.8
    with qtbot.waitSignal(window.session.run_finished, timeout=20000):
        window.start_run()
    assert window.document.image.mean() < 0.8 and window.session.last_recipe["task"] == "darken"


def test_the_worker_reports_any_error_in_a_step_and_stops_its_timer(qtbot, extra_tasks, window):
    """Before: a RuntimeError in a step escaped the slot; the step timer kept firing and the GUI showed "Pause"."""
    window.panel.task_combo.setCurrentIndex(window.panel.task_combo.findData("breaks"))
    with qtbot.waitSignal(window.session.worker.failed, timeout=10000) as failure:
        window.start_run()
    assert "RuntimeError: a bug in the objective" in failure.args[1]
    qtbot.waitUntil(lambda: not window.session.running, timeout=5000)
    assert window.controls.run_button.text() == "Run" and "a bug in the objective" in window.statusBar().currentMessage()
    # The worker goes on serving: the next run of a working task finishes.
    window.panel.task_combo.setCurrentIndex(window.panel.task_combo.findData("darken"))
    with qtbot.waitSignal(window.session.run_finished, timeout=20000):
        window.start_run()


def test_a_worker_timer_is_stopped_when_a_step_fails(qtbot, extra_tasks, installed_tiny):
    from robustpaint.app.worker import SynthesisWorker
    worker = SynthesisWorker()
    failures = []
    worker.failed.connect(lambda job_id, message: failures.append((job_id, message)))
    worker.submit(7, "tiny", TaskRequest("breaks", image=torch.rand(1, 3, 32, 32), targets=(0,)))
    qtbot.waitUntil(lambda: bool(failures), timeout=10000)
    qtbot.wait(200)  # a timer still firing would step (and fail) again
    assert len(failures) == 1 and failures[0][0] == 7 and "RuntimeError" in failures[0][1]
    worker.dispose()


def test_a_diverging_step_stops_with_a_message_and_keeps_the_last_good_image(qtbot, extra_tasks, window):
    window.panel.task_combo.setCurrentIndex(window.panel.task_combo.findData("diverges"))
    before = window.document.image.copy()
    with qtbot.waitSignal(window.session.worker.failed, timeout=10000) as blocker:
        window.start_run()
    assert "diverged" in blocker.args[1]
    qtbot.waitUntil(lambda: not window.session.running, timeout=5000)
    assert np.array_equal(window.document.image, before) and np.isfinite(window.document.image).all()
    assert "diverged" in window.statusBar().currentMessage()
