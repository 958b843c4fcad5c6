"""Adversarial attacks (maximise cross-entropy) for robust training and robust-accuracy evaluation."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from robustpaint.core.pgd import project, random_start, step_direction


def pgd_attack(model, images: torch.Tensor, labels: torch.Tensor, norm: str, eps: float, steps: int,
               step_size: float, rand_init: bool = True, bf16: bool = False,
               generator: torch.Generator | None = None) -> torch.Tensor:
    """Untargeted PGD-k inside the eps-ball (steps=1 with step 1.25 eps and a random start is 'fast' FGSM-RS)."""
    x = random_start(images, norm, eps, generator) if rand_init else images.clone()
    for _ in range(steps):
        x.requires_grad_(True)
        with torch.autocast(images.device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(model(x).float(), labels)
        (grad,) = torch.autograd.grad(loss, x)
        x = project(x.detach() + step_size * step_direction(grad, norm), images, norm, eps)
    return x.detach()


def nfgsm_attack(model, images: torch.Tensor, labels: torch.Tensor, norm: str, eps: float, noise_factor: float = 2.0,
                 bf16: bool = False, generator: torch.Generator | None = None) -> torch.Tensor:
    """N-FGSM (de Jorge et al., 2022): one gradient step of size eps from a random start in a ball of
    `noise_factor` x eps, not projected back to the eps-ball. Why: FGSM-RS overfits catastrophically at large radii
    (robustness to PGD collapses within an epoch); the stronger noise and no clipping avoid it at FGSM's cost."""
    x = random_start(images, norm, noise_factor * eps, generator).clamp_(0, 1)
    x.requires_grad_(True)
    with torch.autocast(images.device.type, dtype=torch.bfloat16, enabled=bf16):
        loss = F.cross_entropy(model(x).float(), labels)
    (grad,) = torch.autograd.grad(loss, x)
    return (x.detach() + eps * step_direction(grad, norm)).clamp_(0, 1)


def robust_predictions(model, images, labels, norm, eps, steps, step_size, restarts=1, bf16=False,
                       generator=None) -> torch.Tensor:
    """True where the model stays correct under every restart of the attack."""
    correct = torch.ones_like(labels, dtype=torch.bool)
    for r in range(restarts):
        adv = pgd_attack(model, images, labels, norm, eps, steps, step_size, rand_init=r > 0, bf16=bf16,
                         generator=generator)
        with torch.no_grad(), torch.autocast(images.device.type, dtype=torch.bfloat16, enabled=bf16):
            correct &= model(adv).argmax(1) == labels
    return correct
