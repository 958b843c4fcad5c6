"""The live PGD worker: a QObject living on its own QThread that runs one step per event-loop turn.

The GUI sends immutable `Job`s (numpy arrays and plain values) by queued signals and receives images, losses and
class probabilities by signals; it never touches the worker's tensors and never waits on torch. Every job has an
id, and the GUI drops results of ids it has moved past.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal, Slot


@dataclass(frozen=True)
class Job:
    job_id: int
    model: str
    task: str
    image: np.ndarray  # H x W x 3 float32 in [0,1]
    mask: np.ndarray  # H x W float32
    targets: tuple[int, ...] = ()
    neurons: tuple[int, ...] = ()
    neuron_weights: tuple[float, ...] = ()  # the feature sliders, one per neuron
    candidates: int = 1  # generate: N samples at once (batched); images then come as N x H x W x 3
    eps: float | None = None
    step_size: float | None = None
    steps: int | None = None
    lam: float | None = None
    seed: int = 0
    factor: int = 2
    temperature: float = 1.0
    mix: tuple[int, float] | None = None  # generate: (other class, weight)
    region_masks: np.ndarray | None = None  # classmap: K x H x W, one per entry of targets
    strength: np.ndarray | None = None  # H x W in [0,1]; None = every pixel free
    anchor: np.ndarray | None = None  # H x W x 3: keep the ball around this image (re-anchoring off)
    bf16: bool = False  # bf16 autocast steps (faster where the CPU has bf16 units)
    extra: dict = field(default_factory=dict)


def _tensor(array: np.ndarray | None):
    import torch
    return None if array is None else torch.from_numpy(np.ascontiguousarray(array)).float()


class SynthesisWorker(QObject):
    # job id, image (H x W x 3, or N x H x W x 3 for candidates), loss, step, total, top-5 of each image
    stepped = Signal(int, object, float, int, int, object)
    finished = Signal(int, object)  # job id, final image
    failed = Signal(int, str)  # job id, message (the GUI keeps its last good image)
    model_ready = Signal(str, object)  # model name, card (plus "neuron_classes": strongest classes per unit)
    neurons_ready = Signal(str, object)  # model name, {unit: H x W x 3 uint8 thumbnail} (a chunk at a time)
    classified = Signal(int, object)  # request id, top-5 [(class, probability), ...] of the image sent

    def __init__(self):
        super().__init__()
        self._bundles: dict = {}
        self._infos: dict = {}  # model name -> card plus "neuron_classes", as sent with model_ready
        self._job: Job | None = None
        self._optimizer = None
        self._paused = False
        self._timer: QTimer | None = None
        self.steps_per_second = 0.0

    @Slot(str)
    def request_neurons(self, name: str) -> None:
        """Starts computing the neuron browser's thumbnails for model `name` (cached ones arrive at once).

        One PGD step of a chunk of units is taken per event-loop turn, and none while a run goes on, so a run sent
        meanwhile starts within one step; `cancel_neurons` (the browser closed) drops the rest."""
        from robustpaint.core.errors import RobustPaintError
        from robustpaint.core.neurons import NeuronCache
        try:
            model, card, _, entry = self._bundle(name)
        except RobustPaintError as exc:
            self.failed.emit(-1, str(exc))
            return
        self._neuron_cache = NeuronCache(model, entry.name, card.get("weights_sha256", ""))
        self._neuron_model, self._neuron_run, self._neuron_units = name, None, []
        self._neuron_todo = [u for u in range(model.representation_size) if u not in self._neuron_cache.thumbnails]
        done = {u: t.permute(1, 2, 0).numpy() for u, t in self._neuron_cache.thumbnails.items()}
        if done:
            self.neurons_ready.emit(name, done)
        if self._neuron_todo:
            QTimer.singleShot(0, self._neuron_chunk)

    NEURON_CHUNK = 16  # units drawn together (one batch); one PGD step of them per event-loop turn

    def _neuron_chunk(self) -> None:
        if not getattr(self, "_neuron_todo", None) and getattr(self, "_neuron_run", None) is None:
            return
        if self._optimizer is not None and not self._paused:
            QTimer.singleShot(50, self._neuron_chunk)  # a run is going on: it goes first
            return
        from robustpaint.core.neurons import thumbnail_optimizer
        if self._neuron_run is None:
            self._neuron_units = self._neuron_todo[:self.NEURON_CHUNK]
            self._neuron_todo = self._neuron_todo[self.NEURON_CHUNK:]
            self._neuron_run = thumbnail_optimizer(self._neuron_cache.model, self._neuron_units,
                                                   self._neuron_cache.recipe)
        self._neuron_run.step()
        if self._neuron_run.done:
            thumbs = self._neuron_cache.add(self._neuron_units, self._neuron_run.x)
            self._neuron_run = None
            self.neurons_ready.emit(self._neuron_model, {u: t.permute(1, 2, 0).numpy() for u, t in thumbs.items()})
        QTimer.singleShot(0, self._neuron_chunk)

    @Slot(int, str, object)
    def classify(self, request_id: int, name: str, image: np.ndarray) -> None:
        """What the model sees in `image` (H x W x 3): one forward pass, no run; the top-5 comes back by signal."""
        import torch

        from robustpaint.core.errors import RobustPaintError
        try:
            model = self._bundle(name)[0]
        except RobustPaintError:
            return  # load_model reports a broken model
        x = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None].float()
        with torch.no_grad():
            probs = model(x.to(next(model.parameters()).device))[0].float().softmax(0).cpu()
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

    def _bundle(self, name: str):
        if name not in self._bundles:
            from robustpaint.core.recipes import load_model_bundle
            from robustpaint.core.objectives import strongest_classes
            self._bundles[name] = load_model_bundle(name)
            model, card = self._bundles[name][0], self._bundles[name][1]
            self._infos[name] = {**card, "neuron_classes": strongest_classes(model.head, model.classes)}
            self.model_ready.emit(name, self._infos[name])
        return self._bundles[name]

    @Slot(str)
    def load_model(self, name: str) -> None:
        """Loads `name` once; every call (switching back to a model loaded before) says it is ready again, so the
        window resizes its canvas and refreshes its classes and presets for it."""
        from robustpaint.core.errors import RobustPaintError
        try:
            loaded_before = name in self._bundles
            self._bundle(name)
        except RobustPaintError as exc:
            self.failed.emit(-1, str(exc))
            return
        if loaded_before:
            self.model_ready.emit(name, self._infos[name])

    @Slot(object)
    def submit(self, job: Job) -> None:
        """Starts `job` from its own image, replacing whatever ran before (within one step)."""
        import torch

        from robustpaint.core.errors import RobustPaintError
        from robustpaint.core.models import bf16_is_faster
        from robustpaint.core.tasks import TaskRequest, build_task

        self._optimizer, self._job = None, job
        try:
            model, _card, seeds, _ = self._bundle(job.model)
            image = torch.from_numpy(np.ascontiguousarray(job.image.transpose(2, 0, 1)))[None].float()
            mask = torch.from_numpy(np.ascontiguousarray(job.mask))[None, None].float()
            if job.task == "superres":
                if job.image.shape[0] % job.factor or job.image.shape[1] % job.factor:
                    raise RobustPaintError(f"the canvas size is not a multiple of the factor {job.factor}")
                image = torch.nn.functional.avg_pool2d(image, job.factor)
            free = job.strength is None or bool((job.strength >= 1).all())
            request = TaskRequest(job.task, image=image, mask=mask if float(mask.sum()) > 0 else None,
                                  region_masks=_tensor(job.region_masks), mix=job.mix,
                                  change_mask=None if free else _tensor(job.strength)[None, None],
                                  anchor=None if job.anchor is None else _tensor(job.anchor.transpose(2, 0, 1))[None],
                                  targets=job.targets, neurons=job.neurons,
                                  neuron_weights=job.neuron_weights, candidates=job.candidates,
                                  bf16=job.bf16 and bf16_is_faster(model.arch, next(model.parameters()).device.type),
                                  eps=job.eps, step_size=job.step_size,
                                  steps=job.steps, lam=job.lam, seed=job.seed, factor=job.factor,
                                  temperature=job.temperature, size=job.image.shape[0])
            self._optimizer = build_task(model, request, seeds).optimizer(model)
        except RobustPaintError as exc:
            self.failed.emit(job.job_id, str(exc))
            return
        self._started, self._paused = time.perf_counter(), False
        self._first_step = 0
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
            self._do_step()

    @Slot()
    def stop(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        if self._optimizer is not None and self._job is not None:
            self.finished.emit(self._job.job_id, self._image())
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
        return images if self._job.candidates > 1 else images[0]

    def _tick(self) -> None:
        if self._optimizer is None or self._paused:
            self._timer.stop()
            return
        self._do_step()

    def _do_step(self) -> None:
        optimizer, job = self._optimizer, self._job
        try:
            result = optimizer.step()
        except FloatingPointError as exc:
            self._timer and self._timer.stop()
            self._optimizer = None
            self.failed.emit(job.job_id, f"the optimisation diverged ({exc}); the last good image is kept")
            return
        model = self._bundles[job.model][0]
        probs = result.logits.float().softmax(1)
        top = probs.topk(min(5, probs.shape[1]), dim=1)
        top5 = [[(model.classes[i], p) for p, i in zip(values, indices)]
                for values, indices in zip(top.values.tolist(), top.indices.tolist())]
        elapsed = time.perf_counter() - self._started
        done_here = optimizer.steps_done - self._first_step
        self.steps_per_second = done_here / elapsed if elapsed > 0 else 0.0
        image = self._image()
        self.stepped.emit(job.job_id, image, float(result.loss.mean()), optimizer.steps_done,
                          optimizer.config.steps, top5)
        if optimizer.done:
            if self._timer is not None:
                self._timer.stop()
            self._optimizer = None
            self.finished.emit(job.job_id, image)
