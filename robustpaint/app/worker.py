"""The live PGD worker: a QObject living on its own QThread that takes one step per event-loop turn.

The GUI sends task requests (the same `TaskRequest` the CLI and a replay run) with a job id and a model name by
queued signals, and receives images, losses, class probabilities and the run's figures (rate, threads, device) by
signals; it never touches the worker's tensors or attributes and never waits on torch. The GUI drops results of ids
it has moved past. Its parts: the models on their device (`ModelStore`), the jobs by priority (`StepQueue`: a run
before thumbnails), and one timer that steps the most urgent ready job. Every slot and every step catches at its
boundary: any error ends that job with `failed` and a message, and the worker goes on serving.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal, Slot

from robustpaint.app.model_store import ModelStore
from robustpaint.app.stepper import Priority, StepQueue

SLOW_STEP_SECONDS = 0.1  # steps slower than this report their progress within the step (and can be cancelled in it)


class StepCancelled(Exception):
    """The app is closing: a slow step stops at the next stage of the network instead of running to its end."""


class RunJob:
    """A live run: its optimizer, whether it is paused, and the figures of its rate."""

    def __init__(self, job_id: int, model_name: str, optimizer, candidates: int, classes: list[str], threads,
                 notes: dict | None = None, targets: tuple[int, ...] = ()):
        self.job_id, self.model_name, self.optimizer = job_id, model_name, optimizer
        self.targets = targets  # the class asked for: one for every image, or one per candidate (or none)
        self.notes = notes or {}  # what the task noted for the user (a super-resolution guess too weak to follow)
        self.candidates, self.classes, self.threads = candidates, classes, threads
        self.paused = False
        self.started, self.first_step = time.perf_counter(), 0
        self.last_step_seconds = 0.0

    @property
    def ready(self) -> bool:
        return not self.paused and not self.optimizer.done

    def restart_clock(self) -> None:
        """The rate counts from here (a resume or a single step is not slowed by the pause before it)."""
        self.started, self.first_step = time.perf_counter(), self.optimizer.steps_done

    def image(self) -> np.ndarray:
        images = self.optimizer.x.detach().permute(0, 2, 3, 1).float().cpu().numpy().copy()
        return images if self.candidates > 1 else images[0]

    def step(self, progress: Callable[[float], None]):
        """One PGD step: (image, loss, top-5 of each image, the run's figures). A slow step reports `progress` from
        within (which may raise StepCancelled)."""
        optimizer = self.optimizer
        step_started = time.perf_counter()
        if self.last_step_seconds > SLOW_STEP_SECONDS:  # a step longer than a few frames: show it move
            from robustpaint.core.pgd import step_progress
            with step_progress(optimizer.model, progress):
                result = self.threads.step(optimizer.step)
        else:
            result = self.threads.step(optimizer.step)
        seconds = time.perf_counter() - step_started
        # A probe step at a losing thread count (three times as long beside a busy core) does not make the model
        # slow; a job's first steps are probes, and the fastest of them says how slow it is.
        probed = self.threads.last_step_probed and self.last_step_seconds > 0
        self.last_step_seconds = min(seconds, self.last_step_seconds) if probed else seconds
        probs = result.logits.float().softmax(1)
        top = probs.topk(min(5, probs.shape[1]), dim=1)
        top5 = [[(self.classes[i], p) for p, i in zip(values, indices)]
                for values, indices in zip(top.values.tolist(), top.indices.tolist())]
        targets = self.targets * len(probs) if len(self.targets) == 1 else self.targets
        target_probability = ([(self.classes[t], probs[i, t].item()) for i, t in enumerate(targets)]
                              if len(targets) == len(probs) else None)
        elapsed = time.perf_counter() - self.started
        figures = {"steps_per_second": (optimizer.steps_done - self.first_step) / elapsed if elapsed > 0 else 0.0,
                   "threads": f"{self.threads.chosen} thread{'s' if self.threads.chosen > 1 else ''}",
                   "threads_detail": self.threads.describe(),  # how the count was chosen, with its timings
                   "device": str(next(optimizer.model.parameters()).device),
                   "settled": optimizer.settled,  # done before its step count (early stopping)
                   "unsure": self.notes.get("unsure"), "guessed": self.notes.get("guessed_probability"),
                   "target": target_probability,  # per image: (the class asked for, its probability now)
                   "reads_as": self.reading()}  # translate's "(the other class)": what the start read as
        return self.image(), float(result.loss.mean()), top5, figures

    def reading(self) -> list[tuple[str, float]] | None:
        """Per image, the class the picture read as when translate chose the other class, with its probability."""
        if "reads_as" not in self.notes:
            return None
        return [(self.classes[c], p) for c, p in zip(self.notes["reads_as"], self.notes["reads_as_probability"])]


class ThumbnailJob:
    """The neuron browser's thumbnails of one model (`core.neurons.ThumbnailFill`: a few units at a time, in the
    order the browser asks for), one PGD step per step, with a preview of the units being drawn now and then."""

    PREVIEW_EVERY_S = 0.25  # previews of the batch being drawn at most this often (a GPU takes hundreds of steps/s)

    def __init__(self, model_name: str, cache, todo: list[int]):
        from robustpaint.core.neurons import ThumbnailFill
        self.model_name, self.fill = model_name, ThumbnailFill(cache, todo)
        self.previewed = 0.0  # perf_counter of the last preview sent

    @property
    def ready(self) -> bool:
        return self.fill.ready

    def step(self) -> dict | None:
        """One step of the current batch; the batch's thumbnails {unit: H x W x 3} when it is done, else None."""
        thumbs = self.fill.step()
        return None if thumbs is None else {u: t.permute(1, 2, 0).numpy() for u, t in thumbs.items()}

    def previews(self) -> dict | None:
        """The batch being drawn {unit: H x W x 3}, when a preview is due."""
        now = time.perf_counter()
        if now - self.previewed < self.PREVIEW_EVERY_S:
            return None
        self.previewed = now
        return {u: t.permute(1, 2, 0).numpy() for u, t in self.fill.previews().items()} or None


class SynthesisWorker(QObject):
    # job id, image (H x W x 3, or N x H x W x 3 for candidates), loss, step, total, top-5 of each image, and the
    # run's figures {"steps_per_second", "threads" ("2 threads"), "threads_detail" (how the count was chosen),
    # "device" (where the step ran), "settled" (the run stopped early: its loss stopped changing), "target" (per
    # image, the class asked for and its probability, or None)}
    stepped = Signal(int, object, float, int, int, object, object)
    finished = Signal(int, object)  # job id, final image
    failed = Signal(int, str)  # job id, message (the GUI keeps its last good image)
    load_failed = Signal(str, str)  # a model that could not be loaded, and why (one line, nothing ran)
    model_ready = Signal(str, object)  # model name, card (with the model's input_size, and "neuron_classes":
    # the strongest classes of each unit)
    neurons_ready = Signal(str, object)  # model name, {unit: H x W x 3 uint8 thumbnail} (a chunk at a time)
    neurons_drawing = Signal(str, object)  # model name, {unit: H x W x 3 uint8 preview} of the units being drawn
    classified = Signal(int, object)  # request id, top-5 [(class, probability), ...] of the image sent
    step_progress = Signal(int, float)  # job id, share of the step going on that is done (slow steps only)
    device_ready = Signal(object, str, bool)  # the devices this machine has, the one the models run on, and whether
    # bf16 autocast is the faster choice there

    def __init__(self):
        super().__init__()
        self.models = ModelStore()
        self.queue = StepQueue()
        self.cancel = threading.Event()  # set by the GUI thread on close: a slow step stops within itself
        self._timer: QTimer | None = None
        self._threads = None  # ThreadTuner, made in this thread by the first run (it imports torch)

    # --- the parts -----------------------------------------------------------------------------------------

    @property
    def _run(self) -> RunJob | None:
        return self.queue.job(Priority.RUN)

    def _model(self, name: str):
        """(bundle, info, loaded now) of model `name`, loaded once in this thread; the first model goes to auto's
        device choice unless the window sent its setting first."""
        if not self.models.device:
            self.set_device("auto")
        return self.models.get(name)

    def bundle(self, name: str):
        """The model `name` as a ModelBundle, loaded once (in the worker's thread; the GUI asks by `load_model`)."""
        bundle, info, loaded = self._model(name)
        if loaded:
            self.model_ready.emit(name, info)
        return bundle

    def _fail(self, job_id: int, exc: Exception) -> None:
        """Ends the job with a message: ours as it is, anything else named (the GUI keeps its last good image)."""
        from robustpaint.core.errors import RobustPaintError
        run = self._run
        if job_id != -1 and run is not None and job_id == run.job_id:  # -1: a model or the browser; a run goes on
            self.queue.remove(run)
        if isinstance(exc, RobustPaintError):
            message = str(exc)
        elif isinstance(exc, FloatingPointError):
            message = f"the optimisation diverged ({exc}); the last good image is kept"
        else:
            message = f"the run failed: {type(exc).__name__}: {exc}"
        self.failed.emit(job_id, message)

    def _wake(self) -> None:
        """Starts the step timer when there is a job ready (created in the worker's thread, on first use)."""
        if self._timer is None:
            self._timer = QTimer(self)
            self._timer.setInterval(0)
            self._timer.timeout.connect(self._tick)
        if self.queue.next_ready() is not None and not self._timer.isActive():
            self._timer.start()

    def _tick(self) -> None:
        """One step of the most urgent ready job; the timer stops when none is ready."""
        job = self.queue.next_ready()
        if job is None:
            self._timer.stop()
        elif isinstance(job, RunJob):
            self._step_run(job)
        else:
            self._step_thumbnails(job)

    def _step_run(self, run: RunJob) -> None:
        def progress(done: float) -> None:
            if self.cancel.is_set():
                raise StepCancelled
            self.step_progress.emit(run.job_id, done)

        try:
            image, loss, top5, figures = run.step(progress)
        except StepCancelled:
            self.queue.remove(run)
            return
        except Exception as exc:  # noqa: BLE001 - the step's boundary: the run ends, the GUI hears why
            self._fail(run.job_id, exc)
            return
        optimizer = run.optimizer
        self.stepped.emit(run.job_id, image, loss, optimizer.steps_done, optimizer.config.steps, top5, figures)
        if optimizer.done:
            self.queue.remove(run)
            self.finished.emit(run.job_id, image)

    def _step_thumbnails(self, job: ThumbnailJob) -> None:
        try:
            thumbs = job.step()
        except Exception as exc:  # noqa: BLE001 - the step's boundary
            self.queue.remove(job)
            self._fail(-1, exc)
            return
        if thumbs is not None:
            self.neurons_ready.emit(job.model_name, thumbs)
        elif (previews := job.previews()) is not None:
            self.neurons_drawing.emit(job.model_name, previews)
        if not job.ready:
            self.queue.remove(job)

    # --- the neuron browser and the canvas's readout -------------------------------------------------------

    @Slot(str)
    def request_neurons(self, name: str) -> None:
        """Starts drawing the neuron browser's thumbnails for model `name` (cached ones arrive at once: always one
        message, empty when none are, so the browser knows its worker and sends `prefer_neurons`). They are
        stepped only while no run is ready, so a run sent meanwhile starts within one step; `cancel_neurons` (the
        browser closed) drops the rest."""
        from robustpaint.core.neurons import NeuronCache
        self.cancel_neurons()
        try:
            bundle = self.bundle(name)
            cache = NeuronCache(bundle.model, bundle.entry.name, bundle.sha256)
            job = ThumbnailJob(name, cache, list(range(bundle.model.representation_size)))
        except Exception as exc:  # noqa: BLE001 - the slot's boundary: reported, never raised into Qt
            self._fail(-1, exc)
            return
        self.neurons_ready.emit(name, {u: t.permute(1, 2, 0).numpy() for u, t in cache.thumbnails.items()})
        if job.ready:
            self.queue.add(Priority.THUMBNAILS, job)
            self._wake()

    @Slot(str, object)
    def prefer_neurons(self, name: str, units) -> None:
        """The browser's units in view (then the rest, in its order): drawn first, from the next batch on."""
        job = self.queue.job(Priority.THUMBNAILS)
        if job is not None and job.model_name == name:
            job.fill.prefer(units)

    @Slot()
    def cancel_neurons(self) -> None:
        """Drops the thumbnails not drawn yet (the browser was closed); those drawn stay cached."""
        self.queue.remove(self.queue.job(Priority.THUMBNAILS))

    @Slot(int, str, object, bool)
    def classify(self, request_id: int, name: str, image: np.ndarray, at_model_scale: bool = True) -> None:
        """What the model sees in `image` (H x W x 3): one forward pass, no run; the top-5 comes back by signal,
        and a failure as a message (a broken model says so here too, not by an empty readout)."""
        import torch

        try:
            model = self.bundle(name).model
            from robustpaint.core.views import judged_whole
            x = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None].float()
            x = x.to(next(model.parameters()).device)
            if at_model_scale:  # as the steps judge it (Judged at: model or tiles)
                x = judged_whole(x, model.input_size)
            with torch.no_grad():
                probs = model(x)[0].float().softmax(0).cpu()
        except Exception as exc:  # noqa: BLE001 - the slot's boundary
            from robustpaint.core.errors import RobustPaintError
            self._fail(-1, exc if isinstance(exc, RobustPaintError) else
                       RobustPaintError(f"the class readout failed: {type(exc).__name__}: {exc}"))
            return
        top = probs.topk(min(5, len(probs)))
        self.classified.emit(request_id, [(model.classes[i], p) for p, i in zip(top.values.tolist(),
                                                                               top.indices.tolist())])

    # --- models and devices --------------------------------------------------------------------------------

    @Slot(str)
    def set_device(self, name: str) -> None:
        """Runs every model on `name` from now on ("auto": a GPU when there is one); a run going on ends (the GUI
        halted it), and thumbnails not drawn yet are dropped. A device this machine lacks (a setting from another
        machine) is refused with a message and the models stay where they are, or go to auto's choice at
        start-up."""
        from robustpaint.core.device import available_devices, bf16_pays_off, resolve_device
        self.queue.remove(self._run)  # a run (paused or not) keeps its tensors on the old device
        self.cancel_neurons()
        try:
            device = resolve_device(name)
        except Exception as exc:  # noqa: BLE001 - the slot's boundary
            self._fail(-1, exc)
            device = self.models.device or resolve_device("auto")  # a setting from another machine: auto instead
        try:
            self.models.move_to(device)
        except Exception as exc:  # noqa: BLE001 - e.g. out of GPU memory: every model went back where it was
            self._fail(-1, exc)
            self.models.device = self.models.device or "cpu"
        self._threads = None  # measured again for the new device
        self.device_ready.emit(available_devices(), self.models.device, bf16_pays_off(self.models.device))

    @Slot(str)
    def load_model(self, name: str) -> None:
        """Loads `name` once; every call (switching back to a model loaded before) says it is ready again, so the
        window resizes its canvas and refreshes its classes and presets for it."""
        try:
            _, info, _ = self._model(name)
        except Exception as exc:  # noqa: BLE001 - the slot's boundary
            from robustpaint.core.errors import RobustPaintError
            self.load_failed.emit(name, str(exc) if isinstance(exc, RobustPaintError) else
                                  f"{type(exc).__name__}: {exc}")
            return
        self.model_ready.emit(name, info)

    # --- runs ----------------------------------------------------------------------------------------------

    @Slot(int, str, object)
    def submit(self, job_id: int, model_name: str, request) -> None:
        """Starts `request` (a TaskRequest) on model `model_name`, replacing whatever ran before (within one step)."""
        from robustpaint.core.recipes import check_budget
        from robustpaint.core.tasks import build_task
        self.queue.remove(self._run)
        try:
            bundle = self.bundle(model_name)
            check_budget(request, bundle.model.input_size)  # what replay would refuse, the app does not run
            if self._threads is None:
                from robustpaint.core.threads import ThreadTuner
                self._threads = ThreadTuner(device=next(bundle.model.parameters()).device.type)
            self._threads.measure_again()  # another model or size: the last probe's times do not carry over
            setup = build_task(bundle.model, request, bundle.seeds)
            optimizer = setup.optimizer(bundle.model)
        except Exception as exc:  # noqa: BLE001 - the slot's boundary
            self._fail(job_id, exc)
            return
        self.queue.add(Priority.RUN, RunJob(job_id, model_name, optimizer, request.candidates,
                                            bundle.model.classes, self._threads, setup.notes,
                                            request.targets or tuple(setup.notes.get("target", ()))))  # or guessed
        self._wake()

    @Slot()
    def pause(self) -> None:
        if (run := self._run) is not None:
            run.paused = True

    @Slot()
    def resume(self) -> None:
        if (run := self._run) is not None and not run.optimizer.done:
            run.paused = False
            run.restart_clock()
            self._wake()

    @Slot()
    def single_step(self) -> None:
        if (run := self._run) is not None and not run.optimizer.done:
            run.paused = True
            run.restart_clock()  # its own rate, not one step over the whole pause before it
            self._step_run(run)
            self._wake()  # thumbnails go on while the run is paused

    @Slot()
    def stop(self) -> None:
        if (run := self._run) is not None:
            self.queue.remove(run)
            self.finished.emit(run.job_id, run.image())
        self._wake()

    @Slot()
    def dispose(self) -> None:
        """Drops every job and destroys the step timer in this thread (a QTimer must die in the thread that owns
        it)."""
        self.queue = StepQueue()
        if self._timer is not None:
            self._timer.stop()
            self._timer.setParent(None)
            self._timer = None
