"""How sure the model is of photos of its classes and of photos of other things: the floor below which a guess does
not steer super-resolution (`min_confidence`) and below which the CLI says a photo may show none of the model's
classes (cli/tasks.py UNFAMILIAR).

    python benchmarks/guess_confidence.py [--data ../shared/data/imagenette-224.tar.gz] [--model imagenette_resnet18]
        [--n 300] [--json benchmarks/results/guess_confidence.json]

The model's top probability on `n` random test photos (seed 1) at its side, and on scikit-image's sample photos of
other things (each squeezed to the model's side), as the CLI's check sees them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from common import save_results

OTHER_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/imagenette-224.tar.gz")
    parser.add_argument("--model", default="imagenette_resnet18")
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--floor", type=float, default=0.5)
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/guess_confidence.json"))
    args = parser.parse_args(argv)
    import skimage.data
    from PIL import Image

    from robustpaint.core.models.bundle import load_model_bundle
    from robustpaint.core.train.data import load_split, resize_images
    model = load_model_bundle(args.model).model.eval()
    side = model.input_size
    test = load_split(args.data, "test")
    pick = torch.randperm(len(test.labels), generator=torch.Generator().manual_seed(1))[:args.n]
    photos = resize_images(test.images[pick], side).float() / 255
    with torch.no_grad():
        probs = torch.cat([model(photos[i:i + 50]).softmax(1) for i in range(0, len(photos), 50)])
    top = probs.max(1).values
    right = probs.argmax(1) == test.labels[pick].long()
    others = {}
    for name in OTHER_PHOTOS:
        image = np.asarray(getattr(skimage.data, name)())
        image = np.repeat(image[..., None], 3, 2) if image.ndim == 2 else image[..., :3]
        x = torch.from_numpy(np.asarray(Image.fromarray(image).resize((side, side), Image.BICUBIC)).copy())
        with torch.no_grad():
            p = model(x.permute(2, 0, 1)[None].float() / 255)[0].softmax(0)
        others[name] = {"class": model.classes[int(p.argmax())], "probability": round(float(p.max()), 3)}
    result = {"model": args.model, "floor": args.floor, "test_photos": args.n,
              "test_share_at_or_above_floor": round(float((top >= args.floor).float().mean()), 3),
              "test_accuracy": round(float(right.float().mean()), 3),
              "test_accuracy_below_floor": round(float(right[top < args.floor].float().mean()), 3),
              "other_photos": others,
              "other_photos_below_floor": sum(o["probability"] < args.floor for o in others.values())}
    print(f"{args.model}: {result['test_share_at_or_above_floor']:.0%} of {args.n} test photos read at >= "
          f"{args.floor} (accuracy {result['test_accuracy']:.0%}; below the floor "
          f"{result['test_accuracy_below_floor']:.0%}); scikit-image photos of other things below it: "
          f"{result['other_photos_below_floor']} of {len(others)}")
    for name, o in others.items():
        print(f"  {name:22s} {o['class']:18s} {o['probability']:.0%}")
    save_results(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
