"""The run session: the state of the live PGD run (idle, running, paused), the worker on its thread, job ids, the
timeline of iterates, and the run's recipe; `RunControls` is its view (buttons, progress, top-5, timeline).

The window hands it requests, and the editor (app/editor.py) as the host of the document (`document`,
`push_state(before, text, recipe_before)`, `show_result(image)`); it tells the window what happened by signals."""

from __future__ import annotations

import enum
import time

import numpy as np
from PySide6.QtCore import QObject, QThread, Qt, QTimer, Signal
from PySide6.QtWidgets import QCheckBox, QFormLayout, QHBoxLayout, QLabel, QProgressBar, QPushButton, QSlider, QWidget

from robustpaint.app.worker import SynthesisWorker
from robustpaint.core.tasks.knobs import AT_MODEL_SCALE

TIMELINE_EVERY = 5  # keep every 5th iterate of a run for the timeline, at first
# The timeline's bound: at most this many iterates and this many bytes of them (a 1000-step run at 1024 px kept 200
# full-canvas copies, 2.4 GB). Past it, every other iterate goes and the stride doubles: a long run's timeline
# spans the whole run at a coarser step.
TIMELINE_MAX_ITERATES = 64
TIMELINE_BUDGET_BYTES = 256 * 2**20
PROGRESS_PER_STEP = 100  # the bar counts hundredths of a step, so that a slow step moves it
# The readouts beside the canvas (progress, top 5, status line) change at most this often; the canvas itself shows
# every step. Each QProgressBar.setValue repainted at once, six bars a step; on one thread beside a busy core the live
# run went from 20.3 to 35.3 updates/s with this and set_bar (benchmarks/gui_latency.py --busy --threads 1, session 12).
READOUT_EVERY_S = 0.1
SHUTDOWN_TIMEOUT_S = 10.0  # closing waits this long for the worker's thread at most
_STUCK_THREADS: list = []  # threads that did not stop in time: kept referenced, never destroyed while running


LIVE_LABEL = "Live: run again after each change"


def one_line(message: str, limit: int = 200) -> str:
    """A failure's message as one line (its first) of at most `limit` characters."""
    lines = message.strip().splitlines()
    text = lines[0].strip() if lines else message
    return text if len(text) <= limit else text[:limit - 1] + "…"


class RunState(enum.Enum):
    IDLE = "idle"
    RUNNING = "running"
    PAUSED = "paused"


class RunControls(QWidget):
    """Run / Step / Stop, the progress, the live top-5, the timeline, and the live and re-anchoring options."""

    def __init__(self):
        super().__init__()
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        self.live_check = QCheckBox(LIVE_LABEL)
        self.live_check.setToolTip("on: the run starts again after every change of a setting, and after every "
                                   "stroke on what the task starts from (Generate starts from a seed, so strokes "
                                   "do not restart it)")
        self.live_check.setChecked(True)
        form.addRow(self.live_check)
        self.reanchor_check = QCheckBox("Changes count from the canvas as it is now")
        self.reanchor_check.setToolTip("re-centre the ball after each stroke. On: each run may change the canvas as "
                                       "it is now by up to 'Change allowed' (epsilon). Off: every run stays that "
                                       "close to the picture as it was when you turned this off")
        self.reanchor_check.setChecked(True)
        form.addRow(self.reanchor_check)
        buttons = QHBoxLayout()
        self.run_button, self.step_button, self.stop_button = QPushButton("Run"), QPushButton("Step"), QPushButton("Stop")
        for b in (self.run_button, self.step_button, self.stop_button):
            buttons.addWidget(b)
        form.addRow(buttons)
        self.progress = QProgressBar()
        form.addRow(self.progress)
        readout = QWidget()
        readout_layout = QFormLayout(readout)
        readout_layout.setContentsMargins(0, 0, 0, 0)
        self.top_bars = []
        for _ in range(5):
            bar = QProgressBar(maximum=1000, textVisible=True)
            bar.setFormat("")
            bar.setMaximumHeight(18)  # compact: five of them must fit under the settings at 1024x700
            readout_layout.addRow(bar)
            self.top_bars.append(bar)
        form.addRow("Top 5", readout)
        timeline = QHBoxLayout()
        self.timeline_slider = QSlider(Qt.Orientation.Horizontal)
        self.timeline_slider.setRange(0, 0)
        self.timeline_slider.setToolTip(f"scrub through the last run's iterates (every {TIMELINE_EVERY}th step)")
        self.compare_check = QCheckBox("Start", toolTip="show the image the run started from")
        self.timeline_label = QLabel("")
        self.timeline_label.setMinimumWidth(64)
        self.commit_button = QPushButton("Commit", toolTip="put the iterate shown on the canvas (one undo step)")
        timeline.addWidget(self.timeline_label, 1)
        timeline.addWidget(self.compare_check)
        timeline.addWidget(self.commit_button)
        form.addRow("Timeline", self.timeline_slider)  # a row of its own: beside its buttons it was ~80 px long
        form.addRow("", timeline)

    def add_drawing_buttons(self, show_drawing, run_from_drawing) -> None:
        """The drawing under the result, in plain view beside Run: a button that shows it (K; strokes then paint on
        it, and Live runs from it) and one that runs again from it (Ctrl+R). Plain buttons kept in step with the
        menu's actions (a tool button takes its action's long menu text whenever the action changes)."""
        row = QHBoxLayout()
        self.drawing_button = QPushButton("My drawing (K)", checkable=True, toolTip=show_drawing.text())
        self.drawing_button.toggled.connect(lambda on: show_drawing.isChecked() != on and show_drawing.setChecked(on))
        show_drawing.toggled.connect(lambda _=None: self._show_drawing_state(show_drawing.isChecked()))
        self.run_from_drawing_button = QPushButton("Run from my drawing", toolTip="Ctrl+R: the drawing back on the "
                                                   "canvas, and a run from it")
        self.run_from_drawing_button.clicked.connect(run_from_drawing.trigger)
        row.addWidget(self.drawing_button)
        row.addWidget(self.run_from_drawing_button)
        self.layout().insertRow(3, row)

    def _show_drawing_state(self, shown: bool) -> None:
        self.drawing_button.blockSignals(True)
        self.drawing_button.setChecked(shown)
        self.drawing_button.blockSignals(False)

    @property
    def live(self) -> bool:
        return self.live_check.isChecked()

    @property
    def reanchor(self) -> bool:
        return self.reanchor_check.isChecked()

    def show_top5(self, top5) -> None:
        rows = [(int(p * 1000), f"{name} {p * 100:.1f}%") for name, p in top5[:len(self.top_bars)]]
        for bar, (value, text) in zip(self.top_bars, rows + [(0, "")] * (len(self.top_bars) - len(rows))):
            set_bar(bar, value, text)


def set_bar(bar: QProgressBar, value: int, text: str | None = None) -> None:
    """Sets a bar to be painted with the next frame: QProgressBar.setValue repaints at once otherwise (the top-5
    bars took about 1 ms of the GUI thread per step offscreen, several under load)."""
    bar.setUpdatesEnabled(False)
    bar.setValue(value)
    if text is not None:
        bar.setFormat(text)
    bar.setUpdatesEnabled(True)  # schedules one ordinary update


def stuck_threads() -> bool:
    """Whether a worker thread did not stop in time at shutdown (the app then exits without the teardown)."""
    return bool(_STUCK_THREADS)


def first_steps(request, steps: int):
    """The request of a run's first `steps` steps (a stop, a timeline commit, a settled run): a step schedule or a
    coarse start that follows the run's planned length keeps it, so the recipe replays the same pixels."""
    from robustpaint.core.tasks import get_task
    planned = request.steps
    follows_length = request.knob("schedule") != "constant" or request.knob("coarse") > 0
    if (planned is not None and steps < planned and follows_length and request.knob("schedule_steps") is None
            and "schedule_steps" in get_task(request.task).parameters):
        request = request.with_knobs(schedule_steps=planned)
    return request.replace(steps=steps)


WEAK_TARGET = 0.1  # a finished run whose picture reads as its class below this says why it may look unchanged


class RunSession(QObject):
    # to the worker (queued: it lives on its own thread)
    submit_job = Signal(int, str, object)  # job id, model name, TaskRequest
    pause_worker = Signal()
    resume_worker = Signal()
    step_worker = Signal()
    stop_worker = Signal()
    dispose_worker = Signal()
    load_model = Signal(str)
    set_device = Signal(str)  # "auto", "cpu", "cuda:0", "mps"
    request_neurons = Signal(str)
    cancel_neurons = Signal()
    request_classify = Signal(int, str, object, bool)  # request id, model name, image, at the model's scale
    # to the window
    run_finished = Signal(int)  # a run's last image is on the canvas
    image_updated = Signal(int)  # step number, after each live update
    status = Signal(str)  # the status line: model, step, loss, rate
    status_detail = Signal(str)  # the status line's tooltip (how the thread count was chosen)
    message = Signal(str)  # a message for the status bar (a failed run says why)
    target_chosen = Signal(str)  # "dog, the other class (the model read the picture as cat at 58%)", once a run
    model_failed = Signal(str, str)  # a model that could not be loaded, and "could not load NAME: why" (one line)
    preview = Signal(object)  # an image to show without touching the document (timeline scrubbing), None = document

    def __init__(self, host, controls: RunControls, parent=None):
        super().__init__(parent)
        self.host, self.controls = host, controls
        self.state = RunState.IDLE
        self.job_id = 0
        self.model_name = ""
        self.sha256 = ""
        self.request = None  # the request of the job going on (or last run)
        self.run_before = None  # the document's state before the run: the run is one undo step
        self.recipe_before = None  # the recipe as it was then (undoing the run brings it back)
        # The recipe of what the canvas shows: a dict (read from a project), or (request, model, sha256, extra) of
        # the run that made it, encoded only when asked for (an export or a save), never per stroke or step.
        self._recipe: dict | tuple | None = None
        self._encoded: dict | None = None
        # (step, image, the request that made it, the candidate shown, the step's top-5) every TIMELINE_EVERY steps
        self.timeline: list[tuple[int, np.ndarray, object, int, list]] = []
        self.timeline_start: np.ndarray | None = None
        self.timeline_every = TIMELINE_EVERY  # doubles each time the timeline is thinned
        self.candidate_index = 0
        self.last_top5: list = []  # per image of the last step: [(class, probability), ...] best first
        self.steps_done = 0
        self.run_device = "cpu"  # the device kind the last step ran on (its recipe says where its pixels were made)
        self.figures: dict = {}  # the last step's {"steps_per_second", "threads", "device", ...} as the worker sent
        self.updates, self.longest_stall_ms = 0, 0.0
        self._readout_at = 0.0  # perf_counter of the last readout update
        self._readout: tuple | None = None  # (job id, step, total, loss, top 5) not shown yet
        self._readout_timer = QTimer(self, singleShot=True, interval=int(READOUT_EVERY_S * 1000))
        self._readout_timer.timeout.connect(self._show_readout)  # the last step's readout, however the run ends
        self.classify_id = 0
        self.load_errors: dict[str, str] = {}  # model name -> why it could not be loaded, until it is asked again
        self.thread = QThread(self)
        self.worker = SynthesisWorker()
        self.worker.moveToThread(self.thread)
        self.thread.finished.connect(self.worker.deleteLater)
        self.load_model.connect(self._forget_load_error)
        for signal, slot in ((self.submit_job, self.worker.submit), (self.pause_worker, self.worker.pause),
                             (self.resume_worker, self.worker.resume), (self.step_worker, self.worker.single_step),
                             (self.stop_worker, self.worker.stop), (self.dispose_worker, self.worker.dispose),
                             (self.load_model, self.worker.load_model), (self.set_device, self.worker.set_device),
                             (self.request_neurons, self.worker.request_neurons),
                             (self.cancel_neurons, self.worker.cancel_neurons),
                             (self.request_classify, self.worker.classify),
                             (self.worker.stepped, self._on_stepped), (self.worker.finished, self._on_finished),
                             (self.worker.failed, self._on_failed), (self.worker.load_failed, self._on_load_failed),
                             (self.worker.step_progress, self._on_step_progress)):
            signal.connect(slot)
        controls.timeline_slider.valueChanged.connect(self.show_timeline)
        controls.compare_check.toggled.connect(self.show_timeline)
        controls.commit_button.clicked.connect(self.commit_timeline)
        controls.step_button.clicked.connect(self.single_step)
        controls.stop_button.clicked.connect(self.stop)
        self.thread.start()

    @property
    def last_recipe(self) -> dict | None:
        """The recipe that replays the canvas (None: no run made it)."""
        if isinstance(self._recipe, tuple):
            if self._encoded is None:
                from robustpaint.core.recipes import recipe_from_request
                request, model, sha256, extra = self._recipe
                self._encoded = recipe_from_request(request, model, sha256, **extra)
            return self._encoded
        return self._recipe

    def export_recipe(self) -> dict | None:
        """The recipe of the canvas as it is now: during a run (going on or paused), that run's request with the
        steps shown so far; else the last run's (or None)."""
        if self.state is not RunState.IDLE and self.request is not None and self.steps_done:
            from robustpaint.core.recipes import recipe_from_request
            request = first_steps(self.request, self.steps_done)
            return recipe_from_request(request, self.model_name, self.sha256, **self._extra(request,
                                                                                            self.candidate_index))
        return self.last_recipe

    @last_recipe.setter
    def last_recipe(self, recipe: dict | None) -> None:
        self._recipe, self._encoded = recipe, None

    def enlarged_from(self) -> np.ndarray | None:
        """The picture (H x W x 3) a super-resolution run made the canvas from, where the canvas shows that run's
        result: running again from the drawing starts from it, not from the drawing enlarged with the canvas."""
        recipe = self._recipe
        if isinstance(recipe, tuple):
            request = recipe[0]
            if request.task == "superres" and request.image is not None:
                return request.image[0].permute(1, 2, 0).float().numpy().copy()
        elif isinstance(recipe, dict) and recipe.get("task") == "superres" and recipe.get("image"):
            from robustpaint.core.recipes import decode_image
            return decode_image(recipe["image"])[0].permute(1, 2, 0).float().numpy().copy()
        return None

    def recipe_state(self):
        """What undo keeps of the recipe (cheap: the request, not its encoding)."""
        return self._recipe

    def restore_recipe(self, state) -> None:
        self._recipe, self._encoded = state, None

    def mark_edited(self) -> None:
        """The canvas was painted on after the run: an export's recipe says so."""
        if isinstance(self._recipe, tuple):
            request, model, sha256, extra = self._recipe
            self.restore_recipe((request, model, sha256, {**extra, "edited_after_run": True}))
        elif self._recipe is not None:
            self.restore_recipe({**self._recipe, "edited_after_run": True})

    def shows_run_output(self) -> bool:
        """Whether the canvas shows what a run made, not painted on since (a run from it continues that run, so
        the sketch under it stays the one it came from)."""
        recipe = self._recipe
        extra = recipe[3] if isinstance(recipe, tuple) else recipe
        return extra is not None and not extra.get("edited_after_run")

    @property
    def running(self) -> bool:
        return self.state is RunState.RUNNING

    def _set_state(self, state: RunState) -> None:
        self.state = state
        self.controls.run_button.setText({RunState.IDLE: "Run", RunState.RUNNING: "Pause",
                                          RunState.PAUSED: "Resume"}[state])
        if state is not RunState.RUNNING and self.controls.progress.maximum() == 0:
            self.controls.progress.setRange(0, PROGRESS_PER_STEP)  # stopped before its first step: not busy

    # --- starting and steering ---------------------------------------------------------------------------

    def start(self, model_name: str, sha256: str, request) -> None:
        """Runs `request` from the canvas as it is (a live restart keeps the run one undo step). A run that makes a
        canvas of another size (super-resolution) resizes the document first, inside the run's undo step."""
        from robustpaint.core.tasks import get_task
        document = self.host.document
        first = self.run_before is None
        if first:
            self.run_before, self.recipe_before = document.state(), self.recipe_state()
            self.timeline = []
            self.timeline_every = TIMELINE_EVERY
            self.controls.timeline_slider.setRange(0, 0)
            # what the user drew or opened stays under the result; a touched-up result does not replace a drawing
            # kept already (Live ran over it and lost the drawing)
            if "image" in get_task(request.task).reads and not self.shows_run_output() and (
                    document.sketch is None or not self._made_from_drawing()):
                document.keep_sketch()
        else:
            request = self._from_the_runs_picture(request)
        self._fit_canvas(request, first)
        if first:  # the start as the canvas shows it (at the size of the run's images, for the timeline's Start)
            self.timeline_start = document.image.copy()
        self.job_id += 1
        self.model_name, self.sha256, self.request, self.steps_done = model_name, sha256, request, 0
        self.figures = {}
        self.controls.progress.setRange(0, 0)  # busy until the first step says how many there are
        self._set_state(RunState.RUNNING)
        self.submit_job.emit(self.job_id, model_name, request)

    @staticmethod
    def _output_shape(request) -> tuple[int, int] | None:
        """The (h, w) of the images a run from the canvas makes (None: no picture read, the canvas's own size)."""
        if request.image is None:
            return None
        from robustpaint.core.tasks import get_task
        return tuple(get_task(request.task).output_shape(request, 0))  # (the model's side sizes no picture)

    def _from_the_runs_picture(self, request):
        """A live restart of a run that resized the canvas: the request was made from the canvas, which now shows
        the run's iterate at the new size, so its picture is taken again from the canvas the run started from (else
        each restart super-resolved the enlarged iterate again)."""
        picture = self.run_before[0]
        if request.image is None or self._output_shape(request) == tuple(request.image.shape[-2:]) \
                or picture.shape[:2] == self.host.document.size:
            return request
        import torch

        from robustpaint.core.tasks import get_task
        image = get_task(request.task).canvas_input(picture, request.factor)
        return request.replace(image=torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1),
                                                                         np.float32))[None])

    def _fit_canvas(self, request, first: bool) -> None:
        """Resizes the document to the size of the images the run makes, when that differs (super-resolution: the
        picture `factor` times larger, at most CANVAS_MAX a side), and says so; a picture scaled down first to stay
        within CANVAS_MAX is said too."""
        shape = self._output_shape(request)
        if shape is None:
            return
        from robustpaint.core.options import CANVAS_MAX
        from robustpaint.core.tasks import get_task
        document = self.host.document
        resized = shape != document.size
        if resized:
            self.host.resize_for_run(shape)
        (sh, sw), (ih, iw) = self.run_before[0].shape[:2], request.image.shape[-2:]
        scaled = (ih, iw) != (sh, sw)
        if not resized and not (first and scaled):
            return
        label, (h, w) = get_task(request.task).label, shape
        text = f"{label}: the {sw}x{sh} canvas becomes {w}x{h} (Ctrl+Z takes it back)"
        if scaled:
            factor = w / iw
            text = (f"{label}: {sw * factor:.0f}x{sh * factor:.0f} would pass the {CANVAS_MAX}-px limit of a canvas, "
                    f"so the {sw}x{sh} picture was scaled to {iw}x{ih} first and the canvas becomes {w}x{h}")
        self.message.emit(text)

    def toggle(self) -> bool:
        """Pauses a running run or resumes a paused one; False when there is none (the caller starts one)."""
        if self.state is RunState.RUNNING:
            self._set_state(RunState.PAUSED)
            self.pause_worker.emit()
        elif self.state is RunState.PAUSED:
            self._set_state(RunState.RUNNING)
            self.resume_worker.emit()
        else:
            return False
        return True

    def single_step(self) -> None:
        if self.state is not RunState.IDLE:
            self._set_state(RunState.PAUSED)
            self.step_worker.emit()

    def stop(self) -> None:
        self._set_state(RunState.IDLE)
        self.stop_worker.emit()

    def halt(self, text: str = "PGD run (stopped)") -> None:
        """Stops the run and drops any step still in flight, so it cannot paint over what comes next (a stroke, a
        new document); what the run had made so far stays one undo step."""
        self._show_readout()  # the readout of the last step that reached the canvas, before its job is left behind
        self.job_id += 1
        self.stop()
        self.commit(text)

    def clear(self) -> None:
        """Forgets the readouts of the last run (a new document)."""
        self._readout = None
        self.controls.progress.reset()
        self.controls.show_top5([])
        self.timeline, self.timeline_start = [], None
        self.controls.timeline_slider.setRange(0, 0)
        self.controls.timeline_label.setText("")

    def commit(self, text: str) -> None:
        """The run so far becomes one undo step, with its recipe (the steps it made, the candidate shown); a run
        stopped before its first step leaves the recipe as it was."""
        if self.run_before is None:
            return
        if self.request is not None and self.steps_done:
            self._set_recipe(first_steps(self.request, self.steps_done), self.candidate_index)
        self.host.push_state(self.run_before, text, self.recipe_before)
        self.run_before = None

    def _extra(self, request, index: int) -> dict:
        """What a recipe of this run records besides its request: the image shown of a batch, the device kind."""
        extra = {"index": min(index, request.candidates - 1)} if request.candidates > 1 else {}
        return {**extra, "device": self.run_device}

    def _set_recipe(self, request, index: int) -> None:
        self.restore_recipe((request, self.model_name, self.sha256, self._extra(request, index)))

    def choose_candidate(self, index: int) -> None:
        self.candidate_index = index
        if isinstance(self._recipe, tuple) and self._recipe[0].candidates > 1:
            self._set_recipe(self._recipe[0], index)

    def clamp_candidate(self, count: int) -> int:
        """A batch of `count` images arrived: the candidate shown is one of them."""
        self.candidate_index = min(self.candidate_index, count - 1)
        return self.candidate_index

    # --- what the worker says ----------------------------------------------------------------------------

    def _on_stepped(self, job_id, image, loss, step, total, top5, figures) -> None:
        if job_id != self.job_id:
            return  # a result of a job we have moved past
        started = time.perf_counter()
        if figures.get("reads_as") and not self.figures.get("reads_as"):  # the run's first step: say what it chose
            self.target_chosen.emit(self.chosen_target(figures))
        self.steps_done, self.figures = step, figures
        self.run_device = figures["device"].split(":")[0]
        self.host.show_result(image)
        self.last_top5 = top5
        if step % self.timeline_every == 0 or step == total:
            self._add_to_timeline(step, image)
        self._readout = (job_id, step, total, loss, top5)
        if step == total or started - self._readout_at >= READOUT_EVERY_S:
            self._show_readout()
        elif not self._readout_timer.isActive():
            self._readout_timer.start()
        self.updates += 1
        self.image_updated.emit(step)
        self.longest_stall_ms = max(self.longest_stall_ms, (time.perf_counter() - started) * 1e3)

    def _show_readout(self) -> None:
        if self._readout is None or self._readout[0] != self.job_id:
            return  # nothing new, or a job we have moved past
        (_, step, total, loss, top5), self._readout = self._readout, None
        self._readout_at = time.perf_counter()
        self.controls.progress.setMaximum(total * PROGRESS_PER_STEP)
        set_bar(self.controls.progress, step * PROGRESS_PER_STEP)
        self.controls.show_top5(top5[min(self.candidate_index, len(top5) - 1)])
        figures = self.figures
        self.status.emit(f"{self.model_name} on {figures['device']} · step {step}/{total} · loss {loss:.3g}"
                         f" · {figures['steps_per_second']:.1f} steps/s · {figures['threads']}")
        self.status_detail.emit(f"{figures['threads_detail']}: the thread count the steps run on, chosen by timing "
                                "a few steps at each")

    def _on_step_progress(self, job_id: int, done: float) -> None:
        """Moves the bar within a slow step (ResNet-50 at 224 px takes about a second a step on 2 cores)."""
        if job_id == self.job_id and self.running:
            set_bar(self.controls.progress, int((self.steps_done + done) * PROGRESS_PER_STEP))

    def _add_to_timeline(self, step: int, image: np.ndarray) -> None:
        index = 0 if image.ndim == 3 else self.clamp_candidate(len(image))
        shown = image if image.ndim == 3 else image[index].copy()  # not a view that keeps the whole batch
        # arrays from the worker are never modified; the top-5 of the step goes with its iterate
        self.timeline.append((step, shown, self.request, index, self.last_top5))
        cap = max(4, min(TIMELINE_MAX_ITERATES, TIMELINE_BUDGET_BYTES // max(shown.nbytes, 1)))
        while len(self.timeline) > cap:  # thinned: the stride doubles, the iterates off it go (the newest stays)
            self.timeline_every *= 2
            self.timeline = [e for e in self.timeline[:-1] if e[0] % self.timeline_every == 0] + self.timeline[-1:]
        slider = self.controls.timeline_slider
        slider.blockSignals(True)
        slider.setRange(0, len(self.timeline) - 1)
        slider.setValue(len(self.timeline) - 1)
        slider.blockSignals(False)
        self.controls.timeline_label.setText(f"step {step}")

    def _on_finished(self, job_id, image) -> None:
        if job_id != self.job_id:
            return
        if self.steps_done and (not self.timeline or self.timeline[-1][0] != self.steps_done):
            self._add_to_timeline(self.steps_done, image)  # a stopped run's last iterate, between the every-5th
        self.host.show_result(image)
        self._show_readout()  # a readout still waiting on its timer would replace the note below
        self._set_state(RunState.IDLE)
        self.commit("PGD run")
        if self.figures.get("unsure") and all(self.figures["unsure"]):
            self._end_note(self.unsure_note())
        elif (weak := self.weak_target_note()) is not None:
            self._end_note(weak)
        elif self.figures.get("settled"):
            self.controls.progress.setValue(self.controls.progress.maximum())
            self._end_note(f"done: settled at step {self.steps_done} (its loss stopped changing; Stop when "
                           "settled)")
        self.run_finished.emit(job_id)

    def chosen_target(self, figures: dict) -> str:
        """The class "(the other class)" went to and why, for the candidate shown (the CLI prints the same)."""
        index = self.candidate_index
        read, probability = figures["reads_as"][min(index, len(figures["reads_as"]) - 1)]
        targets = figures.get("target") or []
        target = targets[min(index, len(targets) - 1)][0] if targets else "the class it does not read as"
        return f"{target}, the other class (the model read the picture as {read} at {probability:.0%})"

    def unsure_note(self) -> str:
        """Why super-resolution kept the smooth upsampling: the model's guess, read as the top-5 reads the same
        pixels (the start as each step shows it to the model), was below the confidence it needs (#47 item 4: the
        guess was read on the whole large canvas, "only 42% sure" beside a top-5 of church 100%)."""
        index = self.candidate_index
        guessed = self.figures["guessed"][min(index, len(self.figures["guessed"]) - 1)]
        targets = self.figures.get("target") or []  # the class the task guessed (the top-5 of the last step may
        name = targets[min(index, len(targets) - 1)][0] if targets else "its best guess"  # name another)
        judged = ("at the model's scale, as the top-5 reads it" if self.request.knob("views") in AT_MODEL_SCALE
                  else "on all its pixels, as the top-5 reads it")
        return (f"super-resolution kept the smooth upsampling: the model reads the picture as {name} at only "
                f"{guessed:.0%} ({judged}), under the {self.request.knob('min_confidence'):.0%} it needs to paint a "
                f"class's detail in")

    def _end_note(self, text: str) -> None:
        """What a finished run has to say: shown at once, then kept as the status line (a message goes after a
        few seconds, and a note like "reads as tench at only 3%" must still be there when the user looks)."""
        self.message.emit(text)
        self.status.emit(text)
        self.status_detail.emit(text)

    def weak_target_note(self) -> str | None:
        """Why a finished run may look like it did nothing: the picture shown still reads as its class at under
        WEAK_TARGET (a hole inpainted in a photo of something else, too few steps), with what to try."""
        targets = self.figures.get("target") or []
        if not targets or self.request.task == "classmap":  # there each region has its class, not the picture
            return None
        name, probability = targets[min(self.candidate_index, len(targets) - 1)]
        if probability >= WEAK_TARGET:
            return None
        hint = {"inpaint": "the picture around the hole reads as something else: mask more of it, or raise Steps",
                "translate": "raise Steps or Change allowed (how far the picture may move)"}.get(
            self.request.task, "raise Steps or the Step size")
        return (f"done after {self.steps_done} steps, but the picture reads as {name} at only {probability:.0%}: "
                f"{hint}")

    def _forget_load_error(self, model_name: str) -> None:
        """A model asked for again is loaded again (its file may have been put right)."""
        self.load_errors.pop(model_name, None)

    def load_error(self, model_name: str) -> str | None:
        """Why `model_name` could not be loaded ("could not load NAME: why"), None when it loaded or is loading."""
        why = self.load_errors.get(model_name)
        return None if why is None else f"could not load {model_name}: {why}"

    def _on_load_failed(self, model_name: str, why: str) -> None:
        """A model that did not load: nothing ran, and the panel says so instead of "loading…"."""
        self.load_errors[model_name] = one_line(why)
        message = self.load_error(model_name)
        self.model_failed.emit(model_name, message)
        self._on_failed(-1, message)

    def _on_failed(self, job_id, message) -> None:
        if job_id not in (-1, self.job_id):
            return  # a job we have moved past
        if job_id != -1 and (why := self.load_error(self.model_name)):  # Run before the load failed: it ran nothing
            message = f"no model is loaded: {why}"
        if job_id != -1:
            document = self.host.document
            if self.run_before is not None and self.run_before[0].shape[:2] != document.size and (
                    self.timeline_start is None or np.array_equal(self.timeline_start, document.image)):
                document.restore(self.run_before)  # refused before its first step: the canvas it resized goes back
                self.timeline, self.timeline_start = [], None  # with the run's start, at the size it no longer has
            elif self.run_before is not None and not np.array_equal(self.run_before[0], document.image):
                self.commit("PGD run (stopped)")  # the steps before the failure stay, as one undo step
            self.run_before = None
            self._set_state(RunState.IDLE)
        self.message.emit(message)

    # --- the timeline ------------------------------------------------------------------------------------

    def show_timeline(self) -> None:
        """Previews the chosen iterate (or the start image) without touching the document."""
        if self.running:
            return
        if self.controls.compare_check.isChecked() and self.timeline_start is not None:
            self.preview.emit(self.timeline_start)
            self.controls.timeline_label.setText("start")
        elif self.timeline:
            step, image, _, index, top5 = self.timeline[self.controls.timeline_slider.value()]
            self.preview.emit(image)
            self.controls.timeline_label.setText(f"step {step}")
            if top5:  # the readout follows the scrubber: what the model read at that step
                self.controls.show_top5(top5[min(index, len(top5) - 1)])

    def _made_from_drawing(self) -> bool:
        """Whether the canvas is the result of a run that started from the canvas (so the drawing kept under it is
        what it was made from), not of a seed's generation or of no run at all."""
        recipe = self._recipe
        task = recipe[0].task if isinstance(recipe, tuple) else (recipe or {}).get("task")
        from robustpaint.core.tasks import TASKS
        return task in TASKS and "image" in TASKS[task].reads

    def end_preview(self) -> None:
        """The document changed while an iterate or the start was previewed: the canvas shows the document again
        (the caller repaints it), and Start is unticked."""
        self.controls.compare_check.blockSignals(True)
        self.controls.compare_check.setChecked(False)
        self.controls.compare_check.blockSignals(False)

    def commit_timeline(self) -> None:
        """Puts the iterate shown by the scrubber on the canvas as one undo step; its recipe says how many steps
        made it."""
        if not self.timeline or self.running:
            return
        step, image, request, index, _ = self.timeline[self.controls.timeline_slider.value()]
        before, recipe_before = self.host.document.state(), self.recipe_state()
        self.host.document.image = image.copy()
        self._set_recipe(first_steps(request, step), index)
        self.host.push_state(before, f"iterate of step {step}", recipe_before)
        self.controls.compare_check.setChecked(False)
        self.preview.emit(None)

    # --- the canvas's class readout ----------------------------------------------------------------------

    def classify(self, model_name: str, image: np.ndarray, at_model_scale: bool = True) -> int:
        """Asks the worker for the top-5 of `image` (one forward pass; a canvas larger than the model read at the
        model's scale, as the steps judge it, unless the panel judges at the canvas's); the answer comes with this
        id. A model that could not be loaded is not asked (it would fail again at every stroke)."""
        self.classify_id += 1
        if model_name not in self.load_errors:
            self.request_classify.emit(self.classify_id, model_name, image, at_model_scale)
        return self.classify_id

    def shutdown(self, timeout_s: float = SHUTDOWN_TIMEOUT_S) -> bool:
        """Stops the worker and its thread (also on close, mid-run): a slow step in flight stops at its next stage,
        and the wait is bounded. False: the thread did not end in time (a step stuck in native code); it is then
        left to end with the process rather than destroyed while it runs (which aborts)."""
        if not self.thread.isRunning():
            return True
        self.worker.cancel.set()
        self.stop_worker.emit()
        self.dispose_worker.emit()
        self.thread.quit()
        if self.thread.wait(int(timeout_s * 1000)):
            return True
        import sys
        print(f"robustpaint: the synthesis thread did not stop within {timeout_s:g} s; leaving it to the process's "
              "exit", file=sys.stderr)
        self.thread.setParent(None)
        _STUCK_THREADS.append(self.thread)
        return False
