"""How the super-resolution radius per factor was chosen: PSNR, SSIM and evaluator accuracy for a few eps (step
eps / 8, the preset's ratio, 40 steps), against bicubic, on held-out test images (quality.py scores the first 100 of
the same shuffle; these are images 1000 onwards, so the preset is not tuned on the images it is scored on).

    python benchmarks/superres_eps.py --data ../shared/data/cifar10-jpeg.tar.gz [--n 100] [--factor 2 --factor 4]
                                      [--eps 0,0.3,0.6,0.9,1.14]
"""

from __future__ import annotations

import argparse

from torch.nn import functional as F

from quality import accuracy, held_out_arguments, held_out_setup, psnr_ssim, run_task
from robustpaint.core.tasks import TaskRequest, preset_values


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    held_out_arguments(parser, n=100)
    parser.add_argument("--factor", type=int, action="append", help="repeatable (default: 2 and 4)")
    parser.add_argument("--eps", default="0,0.3,0.6,0.9,1.14,1.6")
    parser.add_argument("--exact-too", action="store_true",
                        help="also the preset with the exact projection alone (no smooth back-projection sweeps)")
    args = parser.parse_args(argv)
    model, evaluator, images, labels = held_out_setup(args)
    print("| factor | method | eps | PSNR | SSIM | evaluator accuracy |\n|---|---|---|---|---|---|")
    for factor in args.factor or [2, 4]:
        low = F.avg_pool2d(images, factor)
        bicubic = F.interpolate(low, scale_factor=factor, mode="bicubic", align_corners=False).clamp(0, 1)
        p, s = psnr_ssim(bicubic, images)
        print(f"| x{factor} | bicubic | - | {p:.2f} | {s:.4f} | {accuracy(evaluator, bicubic, labels):.3f} |", flush=True)
        preset = preset_values("superres", *images.shape[-2:], factor=factor, model_side=model.input_size)[0]
        for eps in sorted({float(e) for e in args.eps.split(",")} | {round(preset, 2)}):
            # eps 0 is the consistent bicubic start itself (a step of 0 never moves it)
            request = TaskRequest("superres", image=low, factor=factor, bf16=True, eps=eps, step_size=eps / 8, steps=40)
            out = run_task(model, None, request, len(images))
            p, s = psnr_ssim(out, images)
            name = "ours (preset)" if eps == round(preset, 2) else "ours"
            print(f"| x{factor} | {name} | {eps:g} | {p:.2f} | {s:.4f} | {accuracy(evaluator, out, labels):.3f} |",
                  flush=True)
            if args.exact_too and name == "ours (preset)":
                out = run_task(model, None, request.replace(consistency_sweeps=0), len(images))
                p, s = psnr_ssim(out, images)
                print(f"| x{factor} | ours (preset), exact projection only | {eps:g} | {p:.2f} | {s:.4f} | "
                      f"{accuracy(evaluator, out, labels):.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
