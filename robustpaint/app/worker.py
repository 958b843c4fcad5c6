"""The live PGD worker: a QObject living on its own QThread that runs one step per event-loop turn.

The GUI sends task requests (the same `TaskRequest` the CLI and a replay run) with a job id and a model name by
queued signals, and receives images, losses and class probabilities by signals; it never touches the worker's
tensors and never waits on torch. The GUI drops results of ids it has moved past. Every slot catches at its boundary:
any error ends the job with `failed` and a message, and the worker goes on serving.
"""

from __future__ import annotations

import time

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal, Slot

SLOW_STEP_SECONDS = 0.1  # steps slower than this report their progress within the step


class SynthesisWorker(QObject):
    # job id, image (H x W x 3, or N x H x W x 3 for candidates), loss, step, total, top-5 of each image
    stepped = Signal(int, object, float, int, int, object)
    finished = Signal(int, object)  # job id, final image
    failed = Signal(int, str)  # job id, message (the GUI keeps its last good image)
    model_ready = Signal(str, object)  # model name, card (with the model's input_size, and "neuron_classes":
    # the strongest classes of each unit)
    neurons_ready = Signal(str, object)  # model name, {unit: H x W x 3 uint8 thumbnail} (a chunk at a time)
    classified = Signal(int, object)  # request id, top-5 [(class, probability), ...] of the image sent
    step_progress = Signal(int, float)  # job id, share of the step going on that is done (slow steps only)
    device_ready = Signal(object, str, bool)  # the devices this machine has, the one the models run on, and whether
    # bf16 autocast is the faster choice there

    def __init__(self):
        super().__init__()
        self._bundles: dict = {}  # model name -> ModelBundle
        self._infos: dict = {}  # model name -> card plus "neuron_classes", as sent with model_ready
        self._job_id = -1
        self._model_name = ""
        self._candidates = 1
        self._optimizer = None
        self._paused = False
        self._timer: QTimer | None = None
        self._started = 0.0
        self._first_step = 0
        self._neuron_cache = None
        self._neuron_model = ""
        self._neuron_run = None
        self._neuron_units: list[int] = []
        self._neuron_todo: list[int] = []
        self.steps_per_second = 0.0
        self._last_step_seconds = 0.0
        self.device = ""  # chosen by set_device (the window sends its setting first), or auto at the first model
        self.threads_text = ""  # the thread count the steps run on, for the status bar
        self._threads = None  # ThreadTuner, made in this thread by the first run (it imports torch)

    def _fail(self, job_id: int, exc: Exception) -> None:
        """Ends the job with a message: ours as it is, anything else named (the GUI keeps its last good image)."""
        from robustpaint.core.errors import RobustPaintError
        if job_id != -1 and job_id == self._job_id:  # -1: a model or the neuron browser; a run goes on
            if self._timer is not None:
                self._timer.stop()
            self._optimizer = None
        if isinstance(exc, RobustPaintError):
            message = str(exc)
        elif isinstance(exc, FloatingPointError):
            message = f"the optimisation diverged ({exc}); the last good image is kept"
        else:
            message = f"the run failed: {type(exc).__name__}: {exc}"
        self.failed.emit(job_id, message)

    @Slot(str)
    def request_neurons(self, name: str) -> None:
        """Starts computing the neuron browser's thumbnails for model `name` (cached ones arrive at once).

        One PGD step of a chunk of units is taken per event-loop turn, and none while a run goes on, so a run sent
        meanwhile starts within one step; `cancel_neurons` (the browser closed) drops the rest."""
        from robustpaint.core.neurons import NeuronCache
        try:
            bundle = self.bundle(name)
            self._neuron_cache = NeuronCache(bundle.model, bundle.entry.name, bundle.sha256)
        except Exception as exc:  # noqa: BLE001 - the slot's boundary: reported, never raised into Qt
            self._fail(-1, exc)
            return
        model = bundle.model
        self._neuron_model, self._neuron_run, self._neuron_units = name, None, []
        self._neuron_todo = [u for u in range(model.representation_size) if u not in self._neuron_cache.thumbnails]
        done = {u: t.permute(1, 2, 0).numpy() for u, t in self._neuron_cache.thumbnails.items()}
        if done:
            self.neurons_ready.emit(name, done)
        if self._neuron_todo:
            QTimer.singleShot(0, self._neuron_chunk)

    NEURON_CHUNK = 16  # units drawn together (one batch); one PGD step of them per event-loop turn

    def _neuron_chunk(self) -> None:
        if not self._neuron_todo and self._neuron_run is None:
            return
        if self._optimizer is not None and not self._paused:
            QTimer.singleShot(50, self._neuron_chunk)  # a run is going on: it goes first
            return
        from robustpaint.core.neurons import thumbnail_optimizer
        try:
            if self._neuron_run is None:
                self._neuron_units = self._neuron_todo[:self.NEURON_CHUNK]
                self._neuron_todo = self._neuron_todo[self.NEURON_CHUNK:]
                self._neuron_run = thumbnail_optimizer(self._neuron_cache.model, self._neuron_units,
                                                       self._neuron_cache.recipe)
            self._neuron_run.step()
            if self._neuron_run.done:
                thumbs = self._neuron_cache.add(self._neuron_units, self._neuron_run.x)
                self._neuron_run = None
                self.neurons_ready.emit(self._neuron_model,
                                        {u: t.permute(1, 2, 0).numpy() for u, t in thumbs.items()})
        except Exception as exc:  # noqa: BLE001 - the slot's boundary
            self._neuron_todo, self._neuron_run = [], None
            self._fail(-1, exc)
            return
        QTimer.singleShot(0, self._neuron_chunk)

    @Slot(int, str, object)
    def classify(self, request_id: int, name: str, image: np.ndarray) -> None:
        """What the model sees in `image` (H x W x 3): one forward pass, no run; the top-5 comes back by signal."""
        import torch

        try:
            model = self.bundle(name).model
            x = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None].float()
            with torch.no_grad():
                probs = model(x.to(next(model.parameters()).device))[0].float().softmax(0).cpu()
        except Exception:  # noqa: BLE001 - a readout only: load_model reports a broken model
            return
        top = probs.topk(min(5, len(probs)))
        self.classified.emit(request_id, [(model.classes[i], p) for p, i in zip(top.values.tolist(),
                                                                               top.indices.tolist())])

    @Slot()
    def cancel_neurons(self) -> None:
        """Drops the thumbnails not drawn yet (the browser was closed); those drawn stay cached."""
        self._neuron_todo, self._neuron_run = [], None

    def _ensure_timer(self) -> QTimer:
        if self._timer is None:  # created in the worker's thread, on first use
            self._timer = QTimer(self)
            self._timer.setInterval(0)
            self._timer.timeout.connect(self._tick)
        return self._timer

    def bundle(self, name: str):
        """The model `name` as a ModelBundle, loaded once (in the worker's thread; the GUI asks by `load_model`)."""
        if name not in self._bundles:
            from robustpaint.core.models.bundle import load_model_bundle
            from robustpaint.core.neurons import strongest_classes
            if not self.device:
                self.set_device("auto")
            bundle = load_model_bundle(name, self.device)
            self._bundles[name] = bundle
            self._infos[name] = {**bundle.card, "input_size": bundle.model.input_size,  # also for cards without one
                                 "neuron_classes": strongest_classes(bundle.model.head, bundle.model.classes)}
            self.model_ready.emit(name, self._infos[name])
        return self._bundles[name]

    @Slot(str)
    def set_device(self, name: str) -> None:
        """Runs every model on `name` from now on ("auto": a GPU when there is one); a run going on ends (the GUI
        halted it). A device this machine lacks (a setting from another machine) is refused with a message and the
        models stay where they are, or go to auto's choice at start-up."""
        from robustpaint.core.device import available_devices, bf16_pays_off, resolve_device
        if self._timer is not None:
            self._timer.stop()
        self._optimizer = None  # a run (paused or not) keeps its tensors on the old device: the GUI halted it
        self.cancel_neurons()
        try:
            device = resolve_device(name)
        except Exception as exc:  # noqa: BLE001 - the slot's boundary
            self._fail(-1, exc)
            device = self.device or resolve_device("auto")  # a setting from another machine: auto instead
        try:
            for bundle in self._bundles.values():
                bundle.model.to(device)
        except Exception as exc:  # noqa: BLE001 - e.g. out of GPU memory: everything goes back to where it was
            self._fail(-1, exc)
            device = self.device or "cpu"
            for bundle in self._bundles.values():
                bundle.model.to(device)
        self._threads = None  # measured again for the new device
        self.device = device
        self.device_ready.emit(available_devices(), device, bf16_pays_off(device))

    @Slot(str)
    def load_model(self, name: str) -> None:
        """Loads `name` once; every call (switching back to a model loaded before) says it is ready again, so the
        window resizes its canvas and refreshes its classes and presets for it."""
        try:
            loaded_before = name in self._bundles
            self.bundle(name)
        except Exception as exc:  # noqa: BLE001 - the slot's boundary
            self._fail(-1, exc)
            return
        if loaded_before:
            self.model_ready.emit(name, self._infos[name])

    @Slot(int, str, object)
    def submit(self, job_id: int, model_name: str, request) -> None:
        """Starts `request` (a TaskRequest) on model `model_name`, replacing whatever ran before (within one step)."""
        from robustpaint.core.recipes import check_budget
        from robustpaint.core.tasks import build_task
        self._optimizer, self._job_id, self._model_name = None, job_id, model_name
        self._candidates = request.candidates
        try:
            bundle = self.bundle(model_name)
            check_budget(request, bundle.model.input_size)  # what replay would refuse, the app does not run
            if self._threads is None:
                from robustpaint.core.threads import ThreadTuner
                self._threads = ThreadTuner(device=next(bundle.model.parameters()).device.type)
            self._threads.measure_again()  # another model or size: the last probe's times do not carry over
            self._optimizer = build_task(bundle.model, request, bundle.seeds).optimizer(bundle.model)
        except Exception as exc:  # noqa: BLE001 - the slot's boundary
            self._fail(job_id, exc)
            return
        self._started, self._paused = time.perf_counter(), False
        self._first_step, self._last_step_seconds = 0, 0.0
        self._ensure_timer().start()

    @Slot()
    def pause(self) -> None:
        self._paused = True
        if self._timer is not None:
            self._timer.stop()

    @Slot()
    def resume(self) -> None:
        if self._optimizer is not None and not self._optimizer.done:
            self._paused = False
            self._started, self._first_step = time.perf_counter(), self._optimizer.steps_done
            self._ensure_timer().start()

    @Slot()
    def single_step(self) -> None:
        if self._optimizer is not None and not self._optimizer.done:
            self._paused = True
            if self._timer is not None:
                self._timer.stop()
            self._started, self._first_step = time.perf_counter(), self._optimizer.steps_done  # its own rate, not
            self._do_step()  # one step over the whole pause before it

    @Slot()
    def stop(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        if self._optimizer is not None:
            self.finished.emit(self._job_id, self._image())
        self._optimizer = None

    @Slot()
    def dispose(self) -> None:
        """Destroys the step timer in this thread (a QTimer must die in the thread that owns it)."""
        self.cancel_neurons()
        if self._timer is not None:
            self._timer.stop()
            self._timer.setParent(None)
            self._timer = None
        self._optimizer = None

    def _image(self) -> np.ndarray:
        images = self._optimizer.x.detach().permute(0, 2, 3, 1).float().cpu().numpy().copy()
        return images if self._candidates > 1 else images[0]

    def _tick(self) -> None:
        if self._optimizer is None or self._paused:
            self._timer.stop()
            return
        self._do_step()

    def _do_step(self) -> None:
        optimizer, job_id = self._optimizer, self._job_id
        try:
            step_started = time.perf_counter()
            if self._last_step_seconds > SLOW_STEP_SECONDS:  # a step longer than a few frames: show it move
                from robustpaint.core.pgd import step_progress
                with step_progress(optimizer.model, lambda done: self.step_progress.emit(job_id, done)):
                    result = self._threads.step(optimizer.step)
            else:
                result = self._threads.step(optimizer.step)
            seconds = time.perf_counter() - step_started
            # A probe step at a losing thread count (three times as long beside a busy core) does not make the
            # model slow; a job's first steps are probes, and the fastest of them says how slow it is.
            probed = self._threads.last_step_probed and self._last_step_seconds > 0
            self._last_step_seconds = min(seconds, self._last_step_seconds) if probed else seconds
            classes = self._bundles[self._model_name].model.classes
            probs = result.logits.float().softmax(1)
            top = probs.topk(min(5, probs.shape[1]), dim=1)
            top5 = [[(classes[i], p) for p, i in zip(values, indices)]
                    for values, indices in zip(top.values.tolist(), top.indices.tolist())]
            image = self._image()
        except Exception as exc:  # noqa: BLE001 - the slot's boundary: the timer stops, the GUI hears why
            self._fail(job_id, exc)
            return
        elapsed = time.perf_counter() - self._started
        done_here = optimizer.steps_done - self._first_step
        self.steps_per_second = done_here / elapsed if elapsed > 0 else 0.0
        self.threads_text = self._threads.describe()
        self.stepped.emit(job_id, image, float(result.loss.mean()), optimizer.steps_done,
                          optimizer.config.steps, top5)
        if optimizer.done:
            if self._timer is not None:
                self._timer.stop()
            self._optimizer = None
            self.finished.emit(job_id, image)
