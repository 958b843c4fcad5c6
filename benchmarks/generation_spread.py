"""How the photo models' generation preset was chosen: quality.py's generation figures (the evaluator's accuracy on 8
samples per class and the within-class spread of its features against real photos') for several radii and seed
temperatures, in one run on the same seeds.

    python benchmarks/generation_spread.py --data ../shared/data/imagenette-224.tar.gz --model imagenette_resnet18 \
        --evaluator imagenette-evaluator --settings 22.9:0.571:60:1.0,16:0.4:60:1.3

Each setting is EPS:STEP:STEPS:TEMPERATURE[:SPREAD] at the model's size (SPREAD: the within-class spread weight;
left out, the preset's). Aim (issue #17): >= 90% recognised, spread >= 0.8.
"""

from __future__ import annotations

import argparse

import torch

from quality import generation, table
from robustpaint.core.models.bundle import load_model_bundle
from robustpaint.core.seeds import ClassSeeds
from robustpaint.core.train.data import load_split, resize_images


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--model", default="imagenette_resnet18")
    parser.add_argument("--evaluator", default="imagenette-evaluator")
    parser.add_argument("--per-class", type=int, default=8)
    parser.add_argument("--batch", type=int, default=40)
    parser.add_argument("--seeds", action="append", default=[],
                        help="also these seed files (.safetensors, e.g. from `seeds fit --out`), each with every setting")
    parser.add_argument("--similarity", type=float, help="the spread's threshold (objectives.SPREAD_SIMILARITY, "
                        "0.8; -1: a plain repulsion without threshold)")
    parser.add_argument("--settings", required=True, help="EPS:STEP:STEPS:TEMPERATURE[:SPREAD], comma separated")
    args = parser.parse_args(argv)
    if args.similarity is not None:
        from robustpaint.core import objectives
        objectives.SPREAD_SIMILARITY = args.similarity
    torch.manual_seed(0)
    bundle, evaluator = load_model_bundle(args.model), load_model_bundle(args.evaluator).model
    test = load_split(args.data, "test")
    test.images = resize_images(test.images, bundle.model.input_size)
    settings = {}
    for text in args.settings.split(","):
        eps, step, steps, temperature, *spread = text.split(":")
        settings[f"eps {eps}, step {step}, {steps} steps, temperature {temperature}"
                 + (f", spread {spread[0]}" if spread else "")] = (
            float(eps), float(step), int(steps), float(temperature), *(float(s) for s in spread))
    for label, seeds in [("shipped seeds", bundle.seeds)] + [(path, ClassSeeds.load(path)) for path in args.seeds]:
        rows = generation(bundle.model, seeds, evaluator.eval(), test.images.float() / 255, test.labels.long(),
                          args.per_class, args.batch, True, settings)
        rows.pop("_images")
        print(table(f"Generation ({args.per_class} per class), {args.model}, {label}", rows), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
