"""Synthesis quality in numbers, scored by the shipped standard evaluator (never by the model that synthesises).

    python benchmarks/quality.py --data ../shared/data/cifar10-jpeg.tar.gz [--n 100] [--per-class 8] [--quick]
                                 [--json benchmarks/results/quality.json] [--inception-weights PATH]
    python benchmarks/quality.py --data ../shared/data/imagenette-224.tar.gz --model imagenette_resnet18 \
                                 --evaluator imagenette-evaluator --json benchmarks/results/quality_imagenette.json

Test images are scaled to the synthesising model's input size, and to the evaluator's for scoring.

Needs the bench extra (`pip install ".[bench]"`: scikit-image for PSNR/SSIM, OpenCV for Telea inpainting).

- super-resolution x2 and x4 of test images (average-pooled down, then up again): PSNR and SSIM against the
  original and the evaluator's accuracy, ours against bicubic;
- inpainting of a random square hole per image: PSNR/SSIM inside the hole and the evaluator's accuracy, ours
  against mean fill (the paper's start) and OpenCV's Telea inpainting;
- translation of each image to the next class: the evaluator's target-class rate, the mean L2 distance moved and
  the SSIM to the source, with the task's preset (the paper's wide ball) and with "keep the photo";
- generation: the evaluator's accuracy on N samples per class, the diversity within each class (mean pairwise
  distance of the evaluator's pooled features) against the same figure for real test images of that class, and an
  Inception-Score-style figure computed with the evaluator's softmax ("evaluator score", not the Inception Score);
  for our preset and for the paper's CIFAR setting (eps 30, step 0.5, 60 steps).
The synthesis never sees the true label: super-resolution and inpainting aim at the synthesising model's own guess,
as in the app. Each figure is computed on the same images for every method, in one run.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from common import save_results
from robustpaint.core.models import REPRESENTATION
from robustpaint.core.models.bundle import load_model_bundle
from robustpaint.core.tasks import TaskRequest, build_task, preset_for, preset_values, smooth_fill
from robustpaint.core.train.data import load_split, resize_images


def _need_bench_extra():
    try:
        import cv2  # noqa: F401
        import skimage  # noqa: F401
    except ImportError as exc:
        sys.exit(f"quality.py needs the bench extra: pip install '.[bench]' ({exc.name} is missing)")


def held_out_arguments(parser: argparse.ArgumentParser, n: int) -> None:
    """The options held_out_setup() reads, for the scripts that sweep a preset on held-out images."""
    parser.add_argument("--data", required=True, help="image folder or .tar.gz with a test/ split")
    parser.add_argument("--model", default="resnet18", help="the synthesising robust model")
    parser.add_argument("--evaluator", default="resnet9-evaluator", help="the standard classifier that scores")
    parser.add_argument("--n", type=int, default=n, help="held-out test images")


def held_out_setup(args) -> tuple:
    """The synthesising model, the evaluator (both in eval mode) and `args.n` held-out test images with labels:
    images 1000 onwards of quality.py's shuffle, so a preset chosen on them is not scored on them."""
    model = load_model_bundle(args.model).model
    evaluator = load_model_bundle(args.evaluator).model
    model.eval()
    evaluator.eval()
    test = load_split(args.data, "test")
    pick = torch.randperm(len(test.labels), generator=torch.Generator().manual_seed(0))[1000:1000 + args.n]
    return model, evaluator, resize_images(test.images[pick], model.input_size).float() / 255, test.labels[pick].long()


def run_task(model, seeds, request: TaskRequest, batch: int) -> torch.Tensor:
    """Runs a task over a batch of inputs in chunks (one PGD run per chunk), returns the final images."""
    out = []
    n = request.candidates if request.task == "generate" else request.image.shape[0]
    for start in range(0, n, batch):
        stop = min(start + batch, n)
        if request.task == "generate":
            chunk = request.replace(candidates=stop - start, targets=request.targets[start:stop],
                                    seed=request.seed + start)
        else:
            mask = None if request.mask is None else request.mask[start:stop]
            chunk = request.replace(image=request.image[start:stop], mask=mask,
                                    candidates=stop - start)
        optimizer = build_task(model, chunk, seeds).optimizer(model)
        for _ in optimizer.run():
            pass
        out.append(optimizer.x.detach().float().contiguous())
    return torch.cat(out)


@torch.no_grad()
def evaluator_outputs(evaluator, images: torch.Tensor, batch: int = 256):
    """The evaluator's softmax and pooled features, on images scaled to the size it was trained at."""
    probs, feats = [], []
    side = evaluator.input_size
    for start in range(0, len(images), batch):
        chunk = images[start:start + batch]
        if tuple(chunk.shape[-2:]) != (side, side):
            chunk = F.interpolate(chunk, size=(side, side), mode="bilinear", antialias=True, align_corners=False)
        with evaluator.capture([REPRESENTATION]) as acts:
            logits = evaluator(chunk)
        probs.append(logits.float().softmax(1))
        feats.append(acts[REPRESENTATION].float().flatten(1))
    return torch.cat(probs), torch.cat(feats)


def accuracy(evaluator, images, labels) -> float:
    probs, _ = evaluator_outputs(evaluator, images)
    return float((probs.argmax(1) == labels).float().mean())


def psnr_ssim(a: torch.Tensor, b: torch.Tensor, region: torch.Tensor | None = None) -> tuple[float, float]:
    """Mean PSNR and SSIM (scikit-image) over images; with `region` (N x H x W in {0,1}) inside it only."""
    from skimage.metrics import structural_similarity
    psnrs, ssims = [], []
    for i in range(len(a)):
        x = a[i].permute(1, 2, 0).numpy().astype(np.float64)
        y = b[i].permute(1, 2, 0).numpy().astype(np.float64)
        _, ssim_map = structural_similarity(x, y, data_range=1.0, channel_axis=2, full=True, win_size=7)
        if region is None:
            keep = np.ones(x.shape[:2], bool)
        else:
            keep = region[i].numpy() > 0.5
        mse = float(((x - y) ** 2)[keep].mean())
        psnrs.append(10 * np.log10(1.0 / max(mse, 1e-12)))
        ssims.append(float(ssim_map[keep].mean()))
    return float(np.mean(psnrs)), float(np.mean(ssims))


def _ceiling(evaluator, images, labels, *similarity: str) -> dict:
    """The row of the untouched originals: no method can expect the evaluator to read more of them correctly."""
    return {**{key: "-" for key in similarity}, "evaluator_accuracy": round(accuracy(evaluator, images, labels), 4)}


def superres(model, evaluator, images, labels, factor: int, batch: int, bf16: bool) -> dict:
    low = F.avg_pool2d(images, factor)
    bicubic = F.interpolate(low, scale_factor=factor, mode="bicubic", align_corners=False).clamp(0, 1)
    request = TaskRequest("superres", image=low, factor=factor, bf16=bf16)
    paper = run_task(model, None, request.replace(consistent=False), batch)
    ours = run_task(model, None, request, batch)
    rows = {"original (the evaluator's ceiling)": _ceiling(evaluator, images, labels, "psnr", "ssim")}
    for name, out in (("bicubic", bicubic), ("PGD as in the paper (from bicubic)", paper),
                      ("ours (PGD kept consistent with the input)", ours)):
        p, s = psnr_ssim(out, images)
        rows[name] = {"psnr": round(p, 2), "ssim": round(s, 4), "evaluator_accuracy": round(accuracy(evaluator, out, labels), 4)}
    return rows


def telea(images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """OpenCV's Telea inpainting of each image's hole (N x 1 x H x W masks), the classical baseline."""
    import cv2
    out = []
    for image, mask in zip(images, masks):
        img = (image.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
        m = (mask[0].numpy() * 255).astype(np.uint8)
        out.append(torch.from_numpy(cv2.inpaint(img, m, 3, cv2.INPAINT_TELEA)).permute(2, 0, 1).float() / 255)
    return torch.stack(out)


def inpaint(model, evaluator, images, labels, hole: int, batch: int, bf16: bool, seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    n, _, h, w = images.shape
    masks = torch.zeros(n, 1, h, w)
    for i in range(n):
        y, x = torch.randint(0, h - hole + 1, (2,), generator=g).tolist()
        masks[i, :, y:y + hole, x:x + hole] = 1
    keep = 1 - masks
    mean = (images * keep).sum((2, 3), keepdim=True) / keep.sum((2, 3), keepdim=True)
    mean_fill = images * keep + mean * masks
    telea_fill = telea(images, masks)
    request = TaskRequest("inpaint", image=images, mask=masks, bf16=bf16)
    scale = h / 224  # the paper's 224-px setting (eps 21.6), its step raised to reach the ball in 200 steps
    everywhere = torch.ones(1, 1, h, w)  # the paper's run may change the whole image (photo presets change the hole)
    paper = run_task(model, None, request.replace(fill="mean", eps=21.6 * scale, step_size=0.35 * scale, steps=200,
                                                  change_mask=everywhere), batch)
    ours = run_task(model, None, request, batch)
    rows = {"original (the evaluator's ceiling)": _ceiling(evaluator, images, labels, "psnr_hole", "ssim_hole")}
    for name, out in (("mean fill", mean_fill), ("OpenCV Telea", telea_fill),
                      ("smooth fill (our start)", smooth_fill(images, masks)),
                      ("PGD as in the paper (from the mean fill)", paper), ("ours (PGD from the smooth fill)", ours)):
        p, s = psnr_ssim(out, images, masks[:, 0])
        rows[name] = {"psnr_hole": round(p, 2), "ssim_hole": round(s, 4),
                      "evaluator_accuracy": round(accuracy(evaluator, out, labels), 4)}
    return rows


def translate(model, evaluator, images, labels, batch: int, bf16: bool) -> dict:
    """Each image pushed to the next class (label + 1): how often the evaluator then reads the target class, how
    far (L2, pixels in [0,1]) the image moved and its SSIM to the source; with the preset and with "keep the photo"."""
    targets = (labels + 1) % len(model.classes)
    rows = {}
    outs = {"start (no change)": images}
    for name, keep_photo in (("ours", False), ("ours, keep the photo", True)):
        chunks = []
        for start in range(0, len(images), batch):
            chunk_targets = targets[start:start + batch]
            for t in chunk_targets.unique().tolist():  # one request per target class (a request has one target)
                pick = (chunk_targets == t).nonzero().flatten() + start
                request = TaskRequest("translate", image=images[pick], targets=(int(t),), bf16=bf16,
                                      keep_photo=keep_photo)
                chunks.append((pick, run_task(model, None, request, batch)))
        out = images.clone()
        for pick, result in chunks:
            out[pick] = result
        eps, _, steps = preset_values("translate", *images.shape[-2:], model_side=model.input_size,
                                      keep_photo=keep_photo)
        outs[f"{name} (eps {eps:.3g}, {steps} steps)"] = out
    for name, out in outs.items():
        probs, _ = evaluator_outputs(evaluator, out)
        rows[name] = {"evaluator_target_rate": round(float((probs.argmax(1) == targets).float().mean()), 4),
                      "mean_l2_moved": round(float((out - images).flatten(1).norm(dim=1).mean()), 3),
                      "ssim_to_source": round(psnr_ssim(out, images)[1], 4)}
    return rows


def _diversity(features: torch.Tensor) -> float:
    d = torch.cdist(features, features)
    n = len(features)
    return float(d.sum() / (n * (n - 1))) if n > 1 else 0.0


def evaluator_score(probs: torch.Tensor) -> float:
    """exp(E_x KL(p(y|x) || p(y))) with the evaluator's softmax: the Inception Score's formula, not its network."""
    marginal = probs.mean(0, keepdim=True)
    kl = (probs * (probs.clamp(min=1e-12).log() - marginal.clamp(min=1e-12).log())).sum(1)
    return float(kl.mean().exp())


def generation(model, seeds, evaluator, test_images, test_labels, per_class: int, batch: int, bf16: bool,
               settings: dict) -> dict:
    classes = len(model.classes)
    targets = torch.arange(classes).repeat_interleave(per_class)
    real_div = []
    for c in range(classes):
        _, feats = evaluator_outputs(evaluator, test_images[test_labels == c][:per_class])
        real_div.append(_diversity(feats))
    rows = {"real test images": {"evaluator_accuracy": round(accuracy(evaluator, test_images, test_labels), 4),
                                 "diversity": round(float(np.mean(real_div)), 3), "diversity_vs_real": 1.0,
                                 "evaluator_score": round(evaluator_score(evaluator_outputs(evaluator, test_images)[0]), 3)}}
    for name, (eps, step, steps, *more) in settings.items():  # (eps, step, steps[, seed temperature[, spread]])
        request = TaskRequest("generate", targets=tuple(targets.tolist()), candidates=len(targets), eps=eps,
                              step_size=step, steps=steps, bf16=bf16, seed=0,
                              temperature=more[0] if more else 1.0, spread=more[1] if len(more) > 1 else None)
        images = run_task(model, seeds, request, batch)
        rows.setdefault("_images", {})[name] = images
        probs, feats = evaluator_outputs(evaluator, images)
        div = [_diversity(feats[targets == c]) for c in range(classes)]
        rows[name] = {"evaluator_accuracy": round(float((probs.argmax(1) == targets).float().mean()), 4),
                      "diversity": round(float(np.mean(div)), 3),
                      "diversity_vs_real": round(float(np.mean(div)) / float(np.mean(real_div)), 3),
                      "evaluator_score": round(evaluator_score(probs), 3)}
    return rows


class _Uint8Images(torch.utils.data.Dataset):
    """Images as torch-fidelity reads them: 3 x H x W uint8."""

    def __init__(self, images: torch.Tensor):
        self.images = (images.clamp(0, 1) * 255).round().to(torch.uint8)

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.images[i]


def inception_metrics(weights: Path | None, generated: torch.Tensor, real: torch.Tensor) -> dict | str:
    """True Inception Score and FID through torch-fidelity, with Inception weights the user supplies (nothing is
    downloaded); a line saying why not otherwise."""
    if weights is None:
        return ("true Inception Score and FID: not computed (no Inception weights given; pass --inception-weights "
                "PATH to torch-fidelity's pt_inception-2015-12-05 weights)")
    if not weights.is_file():
        return f"true Inception Score and FID: not computed ({weights} is not a file)"
    try:
        import torch_fidelity
    except ImportError:
        return "true Inception Score and FID: not computed (torch-fidelity is missing: pip install '.[bench]')"
    metrics = torch_fidelity.calculate_metrics(
        input1=_Uint8Images(generated), input2=_Uint8Images(real), cuda=torch.cuda.is_available(), isc=True,
        fid=True, feature_extractor_weights_path=str(weights), verbose=False)
    return {"inception_score": round(float(metrics["inception_score_mean"]), 3),
            "fid": round(float(metrics["frechet_inception_distance"]), 2)}


def table(title: str, rows: dict) -> str:
    keys = list(next(iter(rows.values())))
    lines = [f"### {title}", "| method | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for name, row in rows.items():
        lines.append(f"| {name} | " + " | ".join(str(row[k]) for k in keys) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="image folder or .tar.gz with a test/ split")
    parser.add_argument("--model", default="resnet18", help="the synthesising robust model")
    parser.add_argument("--evaluator", default="resnet9-evaluator", help="the standard classifier that scores")
    # The defaults keep a run under 10 minutes on a 2-core CPU (about 7); raise both for tighter figures.
    parser.add_argument("--n", type=int, default=100, help="test images for super-resolution and inpainting")
    parser.add_argument("--per-class", type=int, default=8, help="generated samples per class")
    parser.add_argument("--hole", type=int, help="side of the square inpainting hole, pixels (default: 10 at "
                                                 "32 px, a quarter of the side for photo models)")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--fp32", action="store_true", help="run PGD in fp32 (default: bf16 autocast)")
    parser.add_argument("--quick", action="store_true", help="40 images, 4 per class")
    parser.add_argument("--inception-weights", type=Path)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    _need_bench_extra()
    if args.quick:
        args.n, args.per_class = 40, 4
    torch.manual_seed(0)
    bundle, evaluator_bundle = load_model_bundle(args.model), load_model_bundle(args.evaluator)
    model, card, seeds = bundle.model, bundle.card, bundle.seeds
    evaluator, ev_card = evaluator_bundle.model, evaluator_bundle.card
    if ev_card.get("role") != "evaluator":
        sys.exit(f"{args.evaluator} is not marked as an evaluator in its card (role: {ev_card.get('role')!r})")
    model.eval()
    evaluator.eval()
    test = load_split(args.data, "test")
    test.images = resize_images(test.images, model.input_size)
    if args.hole is None:
        args.hole = 10 if model.input_size == 32 else model.input_size // 4
    g = torch.Generator().manual_seed(0)
    pick = torch.randperm(len(test.labels), generator=g)[:args.n]
    images, labels = test.images[pick].float() / 255, test.labels[pick].long()
    bf16 = not args.fp32
    started = time.perf_counter()
    results = {"model": args.model, "model_sha256": card.get("weights_sha256"), "evaluator": args.evaluator,
               "evaluator_clean_accuracy": ev_card.get("accuracy", {}).get("clean"), "n": args.n,
               "per_class": args.per_class, "hole": args.hole, "precision": "bf16" if bf16 else "fp32"}
    for factor in (2, 4):
        results[f"superres_x{factor}"] = superres(model, evaluator, images, labels, factor, args.batch, bf16)
        print(table(f"Super-resolution x{factor} ({args.n} test images)", results[f"superres_x{factor}"]), flush=True)
    results["inpaint"] = inpaint(model, evaluator, images, labels, args.hole, args.batch, bf16, seed=1)
    print(table(f"Inpainting a {args.hole}x{args.hole} hole ({args.n} test images; PSNR/SSIM inside the hole)",
                results["inpaint"]), flush=True)
    results["translate"] = translate(model, evaluator, images, labels, args.batch, bf16)
    print(table(f"Translation to the next class ({args.n} test images)", results["translate"]), flush=True)
    side = model.input_size
    eps, step, steps = preset_values("generate", side, side, model_side=side)
    spread = preset_for("generate", side).spread
    settings = {f"ours (eps {eps:.3g}, step {step:.3g}, {steps} steps"
                + (f", spread {spread:g})" if spread else ")"): (eps, step, steps, 1.0, spread)}
    if spread:
        settings["the same without spread (the paper's independent samples)"] = (eps, step, steps, 1.0, 0.0)
    if side == 32:
        settings["paper CIFAR (eps 30, step 0.5, 60 steps)"] = (30.0, 0.5, 60)
    all_test = test.images.float() / 255
    results["generation"] = generation(model, seeds, evaluator, all_test, test.labels.long(), args.per_class,
                                       args.batch, bf16, settings)
    generated = results["generation"].pop("_images")  # before printing: the table lists only the figures
    print(table(f"Generation ({args.per_class} per class; diversity = mean pairwise distance of evaluator features)",
                results["generation"]), flush=True)
    results["inception"] = {name: inception_metrics(args.inception_weights, images, all_test)
                            for name, images in generated.items()}
    for name, figures in results["inception"].items():
        print(f"{name}: {figures}")
    results["seconds"] = round(time.perf_counter() - started, 1)
    print(f"({results['seconds']} s)")
    save_results(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
