"""Makes docs/imagenette/: a generation grid per class and a before/after pair for every task, on the 128-px model.

    python docs/make_imagenette_examples.py --data ../shared/data/imagenette-224.tar.gz [--model imagenette_resnet18]

Inputs: Imagenette test photos (scaled to the model's size), scikit-image's sample photos, and rough sketches drawn
here with a few shapes. Every picture uses the task's preset (the app's and the CLI's defaults), bf16 where the CPU
has it. Each pair is one PNG: the input on the left, the result on the right (a third panel shows the mask where the
task uses one).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from robustpaint.core.device import cpu_supports_bf16
from robustpaint.core.imageio import save_png
from robustpaint.core.models.bundle import load_model_bundle
from robustpaint.core.tasks import TaskRequest, build_task
from robustpaint.core.train.data import load_split, resize_images

OUT = Path(__file__).resolve().parent / "imagenette"


def run(model, seeds, request: TaskRequest) -> torch.Tensor:
    optimizer = build_task(model, request, seeds).optimizer(model)
    for _ in optimizer.run():
        pass
    return optimizer.result().float().cpu()


def strip(*images: torch.Tensor, gap: int = 4) -> torch.Tensor:
    """Images (1 x C x H x W, C 1 or 3) side by side with a white gap."""
    tiles = [im[0].expand(3, -1, -1) for im in images]
    h = tiles[0].shape[1]
    sheet = torch.ones(3, h, sum(t.shape[2] for t in tiles) + gap * (len(tiles) - 1))
    x = 0
    for t in tiles:
        sheet[:, :, x:x + t.shape[2]] = t
        x += t.shape[2] + gap
    return sheet


def sketch(kind: str, side: int) -> torch.Tensor:
    """A rough drawing such as a user makes in a minute: flat colours, a few shapes."""
    s = side / 128
    img = Image.new("RGB", (side, side), (150, 200, 240))
    d = ImageDraw.Draw(img)
    if kind == "church":
        d.rectangle([0, 100 * s, side, side], fill=(90, 150, 70))
        d.rectangle([30 * s, 60 * s, 98 * s, 108 * s], fill=(200, 190, 170))
        d.polygon([(24 * s, 62 * s), (64 * s, 36 * s), (104 * s, 62 * s)], fill=(120, 60, 50))
        d.rectangle([56 * s, 22 * s, 72 * s, 60 * s], fill=(200, 190, 170))
        d.polygon([(54 * s, 24 * s), (64 * s, 6 * s), (74 * s, 24 * s)], fill=(120, 60, 50))
        d.rectangle([58 * s, 80 * s, 70 * s, 108 * s], fill=(80, 50, 30))
    elif kind == "golf_ball":
        d.rectangle([0, 70 * s, side, side], fill=(70, 160, 60))
        d.ellipse([44 * s, 50 * s, 84 * s, 90 * s], fill=(245, 245, 245))
    elif kind == "parachute":
        d.pieslice([24 * s, 20 * s, 104 * s, 90 * s], 180, 360, fill=(230, 60, 40))
        for x in (26, 64, 102):
            d.line([(x * s, 55 * s), (64 * s, 100 * s)], fill=(40, 40, 40), width=max(1, int(s)))
        d.rectangle([60 * s, 98 * s, 68 * s, 112 * s], fill=(40, 40, 60))
    return torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1).float().div(255)[None]


def skimage_photo(name: str, side: int) -> torch.Tensor:
    from skimage import data
    img = Image.fromarray(getattr(data, name)()).convert("RGB")
    short = min(img.size)
    left, top = (img.width - short) // 2, (img.height - short) // 2
    img = img.crop((left, top, left + short, top + short)).resize((side, side), Image.Resampling.BICUBIC,
                                                                    reducing_gap=3.0)
    return torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1).float().div(255)[None]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--model", default="imagenette_resnet18")
    parser.add_argument("--per-class", type=int, default=8)
    parser.add_argument("--generation-only", action="store_true", help="only the two generation grids")
    args = parser.parse_args(argv)
    bundle = load_model_bundle(args.model)
    model, card, seeds, entry = bundle.model, bundle.card, bundle.seeds, bundle.entry
    side, classes = model.input_size, model.classes
    bf16 = cpu_supports_bf16()
    OUT.mkdir(exist_ok=True)
    test = load_split(args.data, "test")
    photos = resize_images(test.images, side).float() / 255
    labels = test.labels
    pick = {c: int((labels == c).nonzero()[3]) for c in range(len(classes))}  # the 4th test photo of each class

    def photo(name: str) -> torch.Tensor:
        return photos[pick[classes.index(name)]][None]

    # Generation: a row per class, two classes per run (so a class's candidates share a run, as in the app), with
    # the preset's spread and without it.
    from robustpaint.core.imageio import save_grid
    targets = tuple(c for c in range(len(classes)) for _ in range(args.per_class))
    chunk = 2 * args.per_class
    for name, spread in (("generate.png", None), ("generate-no-spread.png", 0.0)):
        generated = torch.cat([run(model, seeds, TaskRequest("generate", targets=targets[i:i + chunk], candidates=len(
            targets[i:i + chunk]), seed=i, bf16=bf16, spread=spread)) for i in range(0, len(targets), chunk)])
        save_grid(generated, OUT / name, columns=args.per_class, scale=1)
        print(name, flush=True)
    if args.generation_only:
        return 0

    def pair(name: str, *images: torch.Tensor) -> None:
        save_png(strip(*images), OUT / f"{name}.png")
        print(f"{name}.png", flush=True)

    # Sketch to image.
    for kind in ("church", "golf_ball", "parachute"):
        drawing = sketch(kind, side)
        pair(f"sketch-{kind}", drawing,
             run(model, seeds, TaskRequest("sketch", image=drawing, targets=(classes.index(kind),), bf16=bf16)))

    # Inpainting: a hole of a quarter of the side in a photo, filled as the model's guess of the photo's class.
    hole = torch.zeros(1, 1, side, side)
    q = side // 4
    hole[..., side // 2 - q // 2: side // 2 + q // 2 + q % 2, side // 2 - q // 2: side // 2 + q // 2 + q % 2] = 1
    for name in ("church", "garbage_truck"):
        image = photo(name)
        holed = image * (1 - hole) + hole * torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1)
        pair(f"inpaint-{name}", holed, run(model, seeds, TaskRequest("inpaint", image=image, mask=hole, bf16=bf16)),
             image)

    # Translation: keep the photo (the default in the app) and the paper's wide ball.
    for source, target in (("church", "parachute"), ("golf_ball", "tench")):
        image = photo(source)
        request = TaskRequest("translate", image=image, targets=(classes.index(target),), bf16=bf16)
        pair(f"translate-{source}-to-{target}", image, run(model, seeds, request.replace(keep_photo=True)),
             run(model, seeds, request))

    # Super-resolution x4: the photo averaged down to a quarter of the side, then up again (left: bicubic).
    for name in ("french_horn", "gas_pump"):
        image = photo(name)
        low = torch.nn.functional.avg_pool2d(image, 4)
        bicubic = torch.nn.functional.interpolate(low, scale_factor=4, mode="bicubic", align_corners=False).clamp(0, 1)
        pair(f"superres-{name}", torch.nn.functional.interpolate(low, scale_factor=4, mode="nearest"), bicubic,
             run(model, seeds, TaskRequest("superres", image=low, factor=4, bf16=bf16)), image)

    # Feature painting: the unit that feeds a class most, brushed onto part of a photo.
    region = torch.zeros(1, 1, side, side)
    region[..., side // 8: side // 2, side // 2: side - side // 8] = 1
    for name, feature_class in (("church", "parachute"), ("chelsea", "english_springer")):
        image = skimage_photo(name, side) if name == "chelsea" else photo(name)
        unit = int(model.head.weight[classes.index(feature_class)].argmax())
        painted = run(model, seeds, TaskRequest("paint", image=image, mask=region, neurons=(unit,), bf16=bf16))
        pair(f"paint-{name}-unit{unit}-{feature_class}", image, painted, region)

    # Class map: left half church, right half golf ball, from a blank grey canvas.
    regions = torch.zeros(2, side, side)
    regions[0, :, : side // 2], regions[1, :, side // 2:] = 1, 1
    grey = torch.full((1, 3, side, side), 0.5)
    pair("classmap-church-golf_ball", grey, run(model, seeds, TaskRequest(
        "classmap", image=grey, region_masks=regions, targets=(classes.index("church"), classes.index("golf_ball")),
        bf16=bf16)))

    # The two defaults side by side at the same display size: the 32-px CIFAR-10 ResNet-18 (upscaled x4, smooth, as
    # the app shows it) and this model, 4 samples of 4 classes each with each model's own generation preset.
    small_bundle = load_model_bundle("resnet18")
    small, small_seeds = small_bundle.model, small_bundle.seeds
    picks = {"resnet18": ["airplane", "horse", "ship", "truck"],
             args.model: ["church", "golf_ball", "parachute", "garbage_truck"]}
    rows = []
    for name, (net, net_seeds) in (("resnet18", (small, small_seeds)), (args.model, (model, seeds))):
        wanted = tuple(net.classes.index(c) for c in picks[name] for _ in range(4))
        images = run(net, net_seeds, TaskRequest("generate", targets=wanted, candidates=len(wanted), seed=0,
                                                 bf16=bf16))
        if images.shape[-1] != side:
            images = torch.nn.functional.interpolate(images, size=(side, side), mode="bilinear", align_corners=False)
        rows.append(images)
    save_grid(torch.cat(rows), OUT / "compare-resnet18-32px-vs-128px.png", columns=16, scale=1)
    print("compare-resnet18-32px-vs-128px.png", flush=True)

    # scikit-image's photos (not Imagenette classes): a cat photo sketched towards a church, and the coffee cup
    # translated to a French horn with the photo kept.
    cat = skimage_photo("chelsea", side)
    pair("translate-skimage-chelsea-to-church", cat, run(model, seeds, TaskRequest(
        "translate", image=cat, targets=(classes.index("church"),), keep_photo=True, bf16=bf16)))
    coffee = skimage_photo("coffee", side)
    pair("translate-skimage-coffee-to-french_horn", coffee, run(model, seeds, TaskRequest(
        "translate", image=coffee, targets=(classes.index("french_horn"),), keep_photo=True, bf16=bf16)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
