"""`train`, `eval` and `seeds fit`: the project's own robust models, measured and given their seeds."""

from __future__ import annotations

from pathlib import Path
import json
import shlex
import sys

from robustpaint.cli.common import UsageError, _check_device, _check_output_file, _check_writable_folder


def _train(args) -> int:
    from robustpaint.core.train.loop import TrainConfig, train

    device = _check_device(args.device)
    if args.device == "auto" and device.startswith("cuda"):
        device = "cuda"  # under torchrun each process takes the GPU of its LOCAL_RANK
    _check_writable_folder(Path(args.out))  # before decoding the data and a whole epoch, not after
    cfg = TrainConfig(arch=args.arch, data=args.data, out=args.out, epochs=args.epochs, batch_size=args.batch_size,
                      lr=args.lr, weight_decay=args.weight_decay, schedule=args.schedule, norm=args.norm,
                      eps=args.eps, attack_steps=args.attack_steps, attack_step_size=args.attack_step_size,
                      attack=args.attack, check_robust=args.check_robust,
                      precision=args.precision, seed=args.seed, device=device, max_batches=args.max_batches,
                      half_weights=not args.fp32_weights, init_from=args.init,
                      ema=args.ema, image_size=args.image_size, crop_scale=args.crop_scale)
    import os
    rank = int(os.environ.get("RANK", "0"))  # under torchrun, process 0 alone writes and reports
    train(cfg, resume=args.resume, log=lambda m: print(m, flush=True) if rank == 0 else None)
    if rank == 0:
        print(f"wrote {Path(args.out) / 'model.safetensors'} and its card")
    return 0


def _snapshot(args) -> int:
    from robustpaint.core.train.loop import snapshot
    to = Path(args.to) if args.to else None
    if to is not None:
        if to.suffix != ".safetensors":
            raise UsageError(f"--to {args.to}: a model is written as NAME.safetensors (its card beside it)")
        _check_writable_folder(to.parent)
    path = snapshot(Path(args.run), to)
    from robustpaint.core.models.checkpoint import card_path, read_card
    taken = read_card(card_path(path))["snapshot"]
    done = taken["after_epoch"] == taken["of_epochs"]
    print(f"wrote {path} and its card: the model after epoch {taken['after_epoch']} of {taken['of_epochs']}"
          + (" (the run has finished: its model.safetensors is this model)" if done else "")
          + f"; use it with --model {path}, or add it to the app with 'robustpaint models import {path} --name NAME'")
    return 0


def _eval(args, argv: list[str]) -> int:
    from robustpaint.core.models.checkpoint import read_card, write_card
    from robustpaint.core.models.bundle import load_model_bundle
    from robustpaint.core.train.evaluate import evaluate
    from robustpaint.core.train.data import load_split

    device = _check_device(args.device)
    bundle = load_model_bundle(args.model, device)
    model, card, entry = bundle.model, bundle.card, bundle.entry
    data = _at_model_size(load_split(args.data, args.split), card)
    if data.classes != model.classes:
        raise UsageError(f"the data's classes {data.classes[:5]}... differ from the model's {model.classes[:5]}...")
    step_size = args.step_size if args.step_size is not None else 2.5 * args.eps / args.steps
    result = evaluate(model, data, args.norm, args.eps, args.steps, step_size, args.restarts, args.limit,
                      args.batch_size, device)
    result["command"] = "robustpaint " + " ".join(shlex.quote(a) for a in argv)
    print(json.dumps(result, indent=2))
    if not args.no_card and entry.origin == "shipped" and not args.update_shipped:
        from robustpaint.core.atomic import atomic_write_text
        from robustpaint.core.paths import user_data_dir
        saved = user_data_dir() / "evaluations" / f"{entry.name}-{result['attack']}.json"
        atomic_write_text(saved, json.dumps(result, indent=2) + "\n")
        print(f"robustpaint: {entry.name} is a shipped model: its card keeps its measured figures; the result is "
              f"in {saved} (--update-shipped rewrites the card)", file=sys.stderr)
    elif not args.no_card:
        card = read_card(entry.card_path)
        card.setdefault("evaluations", [])
        card["evaluations"] = [e for e in card["evaluations"] if e.get("attack") != result["attack"]] + [result]
        card["accuracy"] = {"clean": result["clean_accuracy"], f"robust_{result['attack']}": result["robust_accuracy"]}
        write_card(entry.weights, card)
    return 0


def _at_model_size(data, card: dict):
    """The data set's images scaled to the model's input size (photos are stored larger than a 128-px model sees)."""
    from robustpaint.core.train.data import resize_images
    size = int(card.get("input_size", data.images.shape[-1]))
    if tuple(data.images.shape[-2:]) != (size, size):
        print(f"scaling {len(data.labels)} images from {data.images.shape[-1]}x{data.images.shape[-2]} to the "
              f"model's {size}x{size}", file=sys.stderr)
        data.images = resize_images(data.images, size)
    return data


def _seeds(args) -> int:
    from robustpaint.core.models.bundle import load_model_bundle
    from robustpaint.core.seeds import fit_seeds
    from robustpaint.core.train.data import load_split

    if args.seeds_command != "fit":
        raise UsageError("use 'robustpaint seeds fit --model NAME --data DIR'")
    bundle = load_model_bundle(args.model)
    model, card, entry = bundle.model, bundle.card, bundle.entry
    target = Path(args.out) if args.out else entry.seeds_path
    if args.out and target.suffix != ".safetensors":
        raise UsageError(f"--out {target} should end in .safetensors")
    if not args.out and entry.origin == "shipped" and not args.update_shipped:
        raise UsageError(f"{entry.name} is a shipped model: its seeds are kept; write yours elsewhere with "
                         f"--out FILE.safetensors (or --update-shipped, as the project's recipes do)")
    _check_output_file(target)
    data = _at_model_size(load_split(args.data, "train"), card)
    if data.classes != model.classes:
        raise UsageError("the data's classes differ from the model's")
    seeds = fit_seeds(data.images, data.labels, len(data.classes), args.rank, args.pool, data.classes)
    seeds.save(target)
    from robustpaint.core.atomic import atomic_write_text
    atomic_write_text(target.with_suffix(".json"), json.dumps({
        "what": ("class-conditional Gaussian seeds for generation: per-class mean, low-rank factor, and the "
                 "residual's colour axes and power spectrum"),
        "model": entry.name, "rank": args.rank, "pool": args.pool, "data": str(args.data),
        "images": len(data.labels), "command": "robustpaint " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
    }, indent=2) + "\n")
    print(f"wrote {target} ({target.stat().st_size / 1e6:.1f} MB) and its card")
    return 0
