"""How the "keep the photo" translation radius was chosen: the evaluator's target-class rate and the SSIM to the
source for a few eps, on held-out test images (images 1000 onwards of quality.py's shuffle), each pushed to the
next class.

    python benchmarks/translate_eps.py --data ../shared/data/imagenette-224.tar.gz --model imagenette_resnet18 \
        --evaluator imagenette-evaluator --eps 4,7,10 [--n 40]

Aim (issue #17): >= 90% target-class rate with SSIM to the source >= 0.5.
"""

from __future__ import annotations

import argparse

import torch

from quality import evaluator_outputs, held_out_arguments, held_out_setup, psnr_ssim, run_task
from robustpaint.core.models import bf16_is_faster
from robustpaint.core.tasks import TaskRequest, preset_values


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    held_out_arguments(parser, n=40)
    parser.add_argument("--eps", default="4,7,10", help="radii at the model's size")
    parser.add_argument("--step", type=float, help="step size at the model's size (default: the preset's)")
    args = parser.parse_args(argv)
    model, evaluator, images, labels = held_out_setup(args)
    targets = (labels + 1) % len(model.classes)  # the next class (a two-class model: the other one)
    bf16 = bf16_is_faster(model.arch, "cpu")  # measured per CPU: bf16 autocast is slower without bf16 units
    _, step, steps = preset_values("translate", *images.shape[-2:], model_side=model.input_size, keep_photo=True)
    step = args.step or step
    print(f"step {step:.3g}, {steps} steps\n| eps | target rate | SSIM to the source |\n|---|---|---|")
    for eps in (float(e) for e in args.eps.split(",")):
        out = images.clone()
        for t in targets.unique().tolist():
            pick = (targets == t).nonzero().flatten()
            request = TaskRequest("translate", image=images[pick], targets=(int(t),), bf16=bf16, eps=eps,
                                  step_size=step, steps=steps)
            out[pick] = run_task(model, None, request, len(pick))
        rate = float((evaluator_outputs(evaluator, out)[0].argmax(1) == targets).float().mean())
        print(f"| {eps:g} | {rate:.3f} | {psnr_ssim(out, images)[1]:.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
