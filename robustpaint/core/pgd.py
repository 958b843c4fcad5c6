"""Projected gradient descent on images: step rules, projections, and an incremental optimiser.

Every task minimises a per-sample loss over pixels in [0,1]. A step moves against the gradient (normalised by the
norm's rule), then the change from the anchor image is masked, projected onto the eps-ball and the image clamped to
[0,1]. `PGDOptimizer` does one step per call, so a GUI worker can step, pause and resume it.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch

from robustpaint.core.errors import RobustPaintError
from robustpaint.core.views import VIEW_FRAME, View

NormName = Literal["l2", "linf", "none"]
NORMS: tuple[str, ...] = ("l2", "linf", "none")
_TINY = 1e-12


def _per_sample_l2(t: torch.Tensor) -> torch.Tensor:
    return t.flatten(1).norm(dim=1).view(-1, *([1] * (t.dim() - 1)))


def step_direction(grad: torch.Tensor, norm: str) -> torch.Tensor:
    """The steepest-ascent direction of unit size in the given norm (L2: g/||g||; Linf: sign g; none: as L2)."""
    if norm == "linf":
        return grad.sign()
    return grad / (_per_sample_l2(grad) + _TINY)


def project(x: torch.Tensor, anchor: torch.Tensor, norm: str, eps: float,
            change_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Nearest image to `x` whose change from `anchor` is masked, inside the eps-ball, and inside [0,1].

    `change_mask` (broadcastable to x, values in [0,1]) scales how much each pixel may move: 0 keeps it at the anchor.
    """
    delta = x - anchor
    if change_mask is not None:
        delta = delta * change_mask
    if norm == "l2":
        delta = delta * torch.clamp(eps / (_per_sample_l2(delta) + _TINY), max=1.0)
    elif norm == "linf":
        limit = eps if change_mask is None else eps * change_mask
        delta = torch.maximum(torch.minimum(delta, torch.as_tensor(limit)), -torch.as_tensor(limit))
    return torch.clamp(anchor + delta, 0.0, 1.0)


def random_start(anchor: torch.Tensor, norm: str, eps: float, generator: torch.Generator | None,
                 change_mask: torch.Tensor | None = None) -> torch.Tensor:
    """A uniformly random point of the ball (L2: random direction, radius eps * U^(1/d)); used by attacks.
    Drawn on the generator's device (training passes a CPU generator for every device) and moved to the anchor's."""
    rng_device = generator.device if generator is not None else anchor.device

    def draw(sample, shape):
        return sample(shape, generator=generator, device=rng_device, dtype=anchor.dtype).to(anchor.device)

    noise = draw(torch.randn, anchor.shape)
    if norm == "linf":
        delta = (draw(torch.rand, anchor.shape) * 2 - 1) * eps
    else:
        d = noise[0].numel()
        radius = draw(torch.rand, (anchor.shape[0],) + (1,) * (anchor.dim() - 1)) ** (1.0 / d)
        delta = noise / (_per_sample_l2(noise) + _TINY) * eps * radius
    return project(anchor + delta, anchor, norm, eps, change_mask)


# lucid's colour correlation of ImageNet photos (the square root of their RGB covariance, from its SVD)
COLOUR_CORRELATION_SQRT = ((0.26, 0.09, 0.02), (0.27, 0.00, -0.05), (0.27, -0.09, 0.03))


def precondition(grad: torch.Tensor, decay: float) -> torch.Tensor:
    """The gradient as a step on lucid's and lucent's photo parametrisation would move the pixels (beyond the
    paper): weighted by 1/frequency^(2 decay) in the Fourier domain and by the photos' colour correlation. Why: plain
    PGD moves every frequency and colour axis alike, so its steps carry fine speckle and colour noise; descending in
    decorrelated, frequency-scaled coordinates x = M F^-1(w z) is the pixel step M M^T F^-1(w^2 F g)."""
    h, w = grad.shape[-2:]
    fy = torch.fft.fftfreq(h, device=grad.device)[:, None]
    fx = torch.fft.rfftfreq(w, device=grad.device)[None, :]
    weight = (fy ** 2 + fx ** 2).sqrt().clamp(min=1.0 / max(h, w)) ** (-2.0 * decay)
    smooth = torch.fft.irfft2(torch.fft.rfft2(grad.float()) * weight, s=(h, w))
    colour = torch.tensor(COLOUR_CORRELATION_SQRT, device=grad.device)
    colour = colour / colour.norm(dim=0).max()
    return torch.einsum("ij,bjhw->bihw", colour @ colour.T, smooth).contiguous()


SCHEDULES = ("constant", "cosine")
SETTLE_WINDOW = 5  # steps over which a settled run's loss has stopped changing


@dataclass(frozen=True)
class PGDConfig:
    norm: str = "l2"
    eps: float = 1.0
    step_size: float = 0.1
    steps: int = 20
    track_best: bool = False
    bf16: bool = False
    precondition: float = 0.0  # > 0: the Fourier and colour preconditioning of each step, with this decay
    # Fewer, better steps (#34, beyond the paper; the defaults are the paper's plain fixed schedule):
    schedule: str = "constant"  # the step size over the run: constant, or "cosine" (large, then small)
    momentum: float = 0.0  # normalised momentum: the step follows a running sum of unit gradients (0 = none)
    coarse: float = 0.0  # this share of the first steps sees the canvas at half its side (a quarter of the cost)
    settle: float = 0.0  # > 0: done once the loss has changed by less than this over the last SETTLE_WINDOW steps
    schedule_steps: int | None = None  # the run's planned length, which the schedule and the coarse share follow
    # (None: `steps`); a recipe of a run stopped early (a timeline commit, a settled run) keeps it, so it replays

    def validate(self) -> "PGDConfig":
        if self.norm not in NORMS:
            raise RobustPaintError(f"norm must be one of {', '.join(NORMS)}, not {self.norm!r}")
        for name in ("eps", "step_size"):
            value = getattr(self, name)
            if not (value == value) or value < 0 or value == float("inf"):  # NaN, negative, infinite
                raise RobustPaintError(f"{name.replace('_', ' ')} must be a finite number >= 0, not {value}")
        if self.steps < 1:
            raise RobustPaintError(f"steps must be at least 1, not {self.steps}")
        if self.schedule not in SCHEDULES:
            raise RobustPaintError(f"schedule must be one of {', '.join(SCHEDULES)}, not {self.schedule!r}")
        for name, high in (("momentum", 1.0), ("coarse", 1.0)):
            value = getattr(self, name)
            if not 0 <= value < high:
                raise RobustPaintError(f"{name} must be at least 0 and below {high:g}, not {value}")
        if self.schedule_steps is not None and self.schedule_steps < self.steps:
            raise RobustPaintError(f"schedule steps ({self.schedule_steps}) must be at least steps ({self.steps})")
        if not 0 <= self.settle < float("inf"):
            raise RobustPaintError(f"settle must be a finite number >= 0, not {self.settle}")
        return self

    def step_size_at(self, step: int) -> float:
        """The step size of step `step` (0-based): cosine goes from 1.9x to 0.1x the step size over the planned
        length, about 1x on average for runs of more than a few steps, so a run moves about as far, boldly at first
        and finely at the end."""
        if self.schedule == "cosine":
            planned = self.schedule_steps or self.steps
            return self.step_size * (0.1 + 1.8 * 0.5 * (1 + math.cos(math.pi * step / max(planned - 1, 1))))
        return self.step_size

    @property
    def coarse_steps(self) -> int:
        return int(round(self.coarse * (self.schedule_steps or self.steps)))


@dataclass
class StepResult:
    step: int  # number of steps done so far
    loss: torch.Tensor  # per-sample loss at the image before this step
    logits: torch.Tensor  # per-sample logits at the image before this step (float32, detached)


class PGDOptimizer:
    """Incremental PGD: `step()` does one step.

    `objective(x, logits, activations)` returns a per-sample loss to minimise (see `core.objectives`). The images
    are optimised as a batch, so several candidates run at once.
    """

    def __init__(self, model, objective, start: torch.Tensor, config: PGDConfig, anchor: torch.Tensor | None = None,
                 change_mask: torch.Tensor | None = None,
                 constraint: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 view: Callable[[torch.Tensor], list[View]] | None = None):
        self.model = model
        self.view = view  # what the model sees of x at each step (core.views), the objective still gets x itself
        self.constraint = constraint  # a second projection after the ball's (super-resolution: agree with the input)
        self.objective = objective
        self.config = config.validate()
        self.x = start.detach().clone().float()
        self.anchor = (start if anchor is None else anchor).detach().clone().float().to(self.x.device)
        if config.bf16 and self.x.dim() == 4:
            # bf16 kernels are fastest on channels_last tensors (2-3x on AMX/AVX512-BF16 CPUs); values are unchanged.
            # The anchor follows, so that the projection's result stays channels_last too.
            self.model = model.to(memory_format=torch.channels_last)
            self.x = self.x.contiguous(memory_format=torch.channels_last)
            self.anchor = self.anchor.contiguous(memory_format=torch.channels_last)
        elif self.x.dim() == 4:
            # fp32 on the default layout, whatever an earlier bf16 run left in the shared model: the two layouts take
            # different kernels, whose sums round differently, and a replay (a fresh model) must make the same pixels.
            self.model = model.to(memory_format=torch.contiguous_format)
            # The images too: an app canvas arrives with channels-last strides (a transposed H x W x 3 array), its
            # replay as a contiguous tensor, and the two layouts take kernels that round differently.
            self.x = self.x.contiguous()
            self.anchor = self.anchor.contiguous()
        self.change_mask = None if change_mask is None else change_mask.float().to(self.x.device)
        self.steps_done = 0
        self.best_x = self.x.clone() if config.track_best else None
        self.best_loss = torch.full((self.x.shape[0],), float("inf"), device=self.x.device)
        self.last_loss: torch.Tensor | None = None
        self._device_type = self.x.device.type
        self._layers = sorted(getattr(objective, "layers", ()))
        self._fake_relu = bool(getattr(objective, "fake_relu", False))
        self._velocity: torch.Tensor | None = None  # momentum's running sum of unit steps
        self._recent_losses: list[torch.Tensor] = []  # the last SETTLE_WINDOW + 1 losses, when settling is on
        self.settled = False  # done before the step count: the loss stopped changing

    def evaluate(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-sample loss and logits of `x`, differentiable with respect to `x`. With several views (core.views)
        the loss is their mean and the logits are the first view's (the whole canvas)."""
        autocast = torch.autocast(self._device_type, dtype=torch.bfloat16, enabled=self.config.bf16)
        fake = self.model.fake_relu() if self._fake_relu else contextlib.nullcontext()
        with autocast, fake:
            if self.view is None:
                with self.model.capture(self._layers) as activations:
                    logits = self.model(x)
                    loss = self.objective(x, logits, activations)
                return loss.float(), logits.float()
            views = self.view(x)
            if len(views) == 1:
                with self.model.capture(self._layers) as activations:
                    logits = self.model(views[0].image)
                    loss = self.objective(x, logits, {**activations, VIEW_FRAME: views[0].frame})
                return loss.float(), logits.float()
            return self._evaluate_views(x, views)

    def _evaluate_views(self, x: torch.Tensor, views: list[View]) -> tuple[torch.Tensor, torch.Tensor]:
        """Views of one shape go through the model as one batch; the objective is called on each view's share."""
        n = x.shape[0]
        by_shape: dict[tuple, list[int]] = {}
        for i, view in enumerate(views):
            by_shape.setdefault(tuple(view.image.shape[-2:]), []).append(i)
        seen: list = [None] * len(views)
        for indices in by_shape.values():
            with self.model.capture(self._layers) as activations:
                logits = self.model(torch.cat([views[i].image for i in indices]))
                captured = dict(activations)
            for j, i in enumerate(indices):
                share = slice(j * n, (j + 1) * n)
                seen[i] = (logits[share], {**{k: v[share] for k, v in captured.items()}, VIEW_FRAME: views[i].frame})
        loss = sum(self.objective(x, logits, acts).float() for logits, acts in seen) / len(views)
        return loss, seen[0][0].float()

    def _coarse(self, view):
        """What the model sees in a coarse step: the canvas (or its first view, the whole canvas at the model's
        scale) at half its side. Early steps of a coarse-to-fine run cost about a quarter and move the picture's
        large shapes first."""
        import torch.nn.functional as F

        def half_view(x: torch.Tensor) -> list[View]:
            whole = view(x)[0].image if view is not None else x
            if min(whole.shape[-2:]) < 2:  # a side of 1 would halve to 0 pixels (#46): that side stays 1 pixel
                # (sides of 2 and more keep scale_factor's sampling, so recipes made before replay alike)
                h, w = whole.shape[-2:]
                return [View(F.interpolate(whole, size=(max(1, h // 2), max(1, w // 2)), mode="bilinear",
                                           antialias=True, align_corners=False))]
            return [View(F.interpolate(whole, scale_factor=0.5, mode="bilinear", antialias=True,
                                       align_corners=False))]
        return half_view

    def step(self) -> StepResult:
        x = self.x.requires_grad_(True)
        coarse = self.steps_done < self.config.coarse_steps
        if coarse:
            fine, self.view = self.view, self._coarse(self.view)
            try:
                loss, logits = self.evaluate(x)
            finally:
                self.view = fine
        else:
            loss, logits = self.evaluate(x)
        (grad,) = torch.autograd.grad(loss.sum(), x)
        with torch.no_grad():
            if not torch.isfinite(loss).all() or not torch.isfinite(grad).all():
                raise FloatingPointError(f"non-finite loss or gradient at step {self.steps_done + 1}")
            if self.best_x is not None and not coarse:  # a coarse step's loss is not comparable with a full one's
                better = loss < self.best_loss
                self.best_loss = torch.where(better, loss, self.best_loss)
                self.best_x[better] = x.detach()[better]
            if self.config.precondition > 0:
                grad = precondition(grad, self.config.precondition)
            direction = step_direction(grad, self.config.norm)
            if self.config.momentum > 0:
                velocity = direction if self._velocity is None else self.config.momentum * self._velocity + direction
                self._velocity = velocity
                direction = step_direction(velocity, self.config.norm)
            if self.change_mask is not None:
                direction = direction * self.change_mask
            moved = x.detach() - self.config.step_size_at(self.steps_done) * direction
            if self.config.norm == "none":
                self.x = torch.clamp(moved if self.change_mask is None
                                     else self.anchor + (moved - self.anchor) * self.change_mask, 0.0, 1.0)
            else:
                self.x = project(moved, self.anchor, self.config.norm, self.config.eps, self.change_mask)
            if self.constraint is not None:
                self.x = self.constraint(self.x)
                if self.change_mask is not None:  # a protected pixel stays, whatever the constraint moved
                    self.x = self.anchor + (self.x - self.anchor) * self.change_mask
        self.steps_done += 1
        self.last_loss = loss.detach()
        if self.config.settle > 0 and not coarse:
            self._recent_losses = [*self._recent_losses[-SETTLE_WINDOW:], self.last_loss]
            if len(self._recent_losses) > SETTLE_WINDOW:
                window = torch.stack(self._recent_losses)
                self.settled = bool(((window.amax(0) - window.amin(0)) < self.config.settle).all())
        return StepResult(self.steps_done, self.last_loss, logits.detach())

    @property
    def done(self) -> bool:
        return self.settled or self.steps_done >= self.config.steps

    def run(self, steps: int | None = None):
        """Yields a StepResult after each step until `steps` (default: the config's count) are done."""
        target = self.config.steps if steps is None else self.steps_done + steps
        while self.steps_done < target and not self.settled:
            yield self.step()

    def result(self) -> torch.Tensor:
        """The best iterate when tracked (with the final image scored too), else the current image."""
        if self.best_x is None:
            return self.x.detach().clone()
        with torch.no_grad():
            loss, _ = self.evaluate(self.x)
        final_better = loss < self.best_loss
        out = self.best_x.clone()
        out[final_better] = self.x.detach()[final_better]
        return out


def _stages(net: torch.nn.Module) -> list[torch.nn.Module]:
    """The network's top-level stages in order (a long Sequential, as MobileNetV2's `features`, by its blocks)."""
    stages = []
    for child in net.children():
        if isinstance(child, torch.nn.Sequential) and len(child) >= 6:
            stages.extend(child.children())
        else:
            stages.append(child)
    return stages


@contextlib.contextmanager
def step_progress(model: torch.nn.Module, report: Callable[[float], None], forward_share: float = 1 / 3):
    """Calls `report(fraction of the step done)` as the forward pass leaves each stage of `model.net` and as the
    backward pass gets back through it: where one step takes longer than a frame (ResNet-50 at 224 px on a CPU), the
    app shows that the step moves. The hooks live only inside the `with`."""
    stages = _stages(getattr(model, "net", model))
    count = max(len(stages), 1)
    handles, passed = [], {"forward": 0, "backward": 0}  # stages each pass has gone through, in the order run

    def backward_hook(_grad):
        passed["backward"] += 1
        report(min(1.0, forward_share + (1 - forward_share) * passed["backward"] / count))

    def forward_hook(_module, _inputs, output):
        passed["forward"] += 1
        report(min(forward_share, forward_share * passed["forward"] / count))
        if isinstance(output, torch.Tensor) and output.requires_grad:
            output.register_hook(backward_hook)

    for stage in stages:
        handles.append(stage.register_forward_hook(forward_hook))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
