"""How the inpainting radius was chosen: evaluator accuracy and PSNR in the hole for a few eps, on held-out test
images (quality.py scores the first 200 of the same shuffle; these are images 1000 onwards, so the preset is not
tuned on the images it is scored on).

    python benchmarks/inpaint_eps.py --data ../shared/data/cifar10-jpeg.tar.gz [--n 60] [--eps 0.5,1,2]
    python benchmarks/inpaint_eps.py --data ../shared/data/imagenette-224.tar.gz --model imagenette_resnet18 \
        --evaluator imagenette-evaluator --hole 32 --eps 1,2,4 --step 0.2 --n 40
"""

from __future__ import annotations

import argparse

import torch

from quality import accuracy, held_out_arguments, held_out_setup, psnr_ssim, run_task
from robustpaint.core.tasks import TaskRequest, smooth_fill


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    held_out_arguments(parser, n=60)
    parser.add_argument("--hole", type=int, default=10)
    parser.add_argument("--eps", default="0.5,1,2")
    parser.add_argument("--step", type=float, default=0.1)
    parser.add_argument("--steps", type=int, default=100)
    args = parser.parse_args(argv)
    model, evaluator, images, labels = held_out_setup(args)
    g = torch.Generator().manual_seed(5)
    masks = torch.zeros(len(images), 1, *images.shape[-2:])
    for i in range(len(images)):
        y, x = torch.randint(0, images.shape[-1] - args.hole + 1, (2,), generator=g).tolist()
        masks[i, :, y:y + args.hole, x:x + args.hole] = 1
    print("| start | eps | PSNR in the hole | evaluator accuracy |\n|---|---|---|---|")
    filled = smooth_fill(images, masks)
    print(f"| smooth fill alone | - | {psnr_ssim(filled, images, masks[:, 0])[0]:.2f} | "
          f"{accuracy(evaluator, filled, labels):.3f} |", flush=True)
    from quality import telea
    done = telea(images, masks)
    print(f"| OpenCV Telea | - | {psnr_ssim(done, images, masks[:, 0])[0]:.2f} | "
          f"{accuracy(evaluator, done, labels):.3f} |", flush=True)
    for eps in (float(e) for e in args.eps.split(",")):
        request = TaskRequest("inpaint", image=images, mask=masks, bf16=True, eps=eps, step_size=args.step,
                              steps=args.steps)
        out = run_task(model, None, request, len(images))
        print(f"| smooth fill + PGD | {eps:g} | {psnr_ssim(out, images, masks[:, 0])[0]:.2f} | "
              f"{accuracy(evaluator, out, labels):.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
