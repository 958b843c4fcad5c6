"""Clean and PGD robust accuracy on a test split."""

from __future__ import annotations

import sys

import torch
from tqdm import tqdm

from robustpaint.core.attacks import robust_predictions
from robustpaint.core.train.data import ImageSet


def evaluate(model, data: ImageSet, norm: str, eps: float, steps: int, step_size: float, restarts: int = 1,
             limit: int | None = None, batch_size: int = 250, device: str = "cpu", bf16: bool = False) -> dict:
    """Clean accuracy on every image and robust accuracy on `limit` of them (all by default), in fp32.

    The images are visited in a fixed shuffled order (seed 0) and the robust subset is the first `limit` of that
    order: an image-folder split is sorted by class, so its first images would all be airplanes.
    """
    model = model.to(device).eval()
    n = len(data.labels)
    n_robust = n if limit is None else min(limit, n)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(0))
    generator = torch.Generator(device=device).manual_seed(0)
    clean = robust = 0
    for start in tqdm(range(0, n, batch_size), desc="eval", file=sys.stderr, mininterval=5):
        batch = order[start:start + batch_size]
        x = data.images[batch].to(device).float().div(255)
        y = data.labels[batch].to(device)
        with torch.no_grad(), torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
            clean += int((model(x).argmax(1) == y).sum())
        if start < n_robust:
            take = min(len(y), n_robust - start)
            robust += int(robust_predictions(model, x[:take], y[:take], norm, eps, steps, step_size, restarts,
                                             bf16, generator).sum())
    return {"attack": f"{norm}_eps{eps:g}_pgd{steps}", "clean_accuracy": round(clean / n, 4), "clean_images": n,
            "robust_accuracy": round(robust / n_robust, 4), "robust_images": n_robust, "restarts": restarts,
            "step_size": step_size, "precision": "bf16" if bf16 else "fp32",
            "robust_subset": "all" if n_robust == n else f"{n_robust} images drawn at random (seed 0)"}
