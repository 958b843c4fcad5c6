"""The `robustpaint` command: every task, training and evaluation, headless, on the same core as the app.

A user mistake (bad file, value, class or model) prints one line and exits with status 2; nothing is written.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
from pathlib import Path

from robustpaint import __version__
from robustpaint.core.device import DEVICE_HELP
from robustpaint.core.errors import RobustPaintError
from robustpaint.core.options import add_input_arguments
from robustpaint.core.options import non_negative as _non_negative, positive_int as _positive_int



class UsageError(RobustPaintError):
    pass


WRITTEN: list[str] = []  # the files this command has written so far (for an honest message if it stops half-way)


def _seed(text: str) -> int:
    """A seed torch's generators take: the knob table's seed (0 to 2**63 - 1), for runs and training alike."""
    from robustpaint.core.tasks.knobs import KNOBS
    return KNOBS["seed"].parse(text)


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (the usage text is one `--help` away)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _preset_help(task: str) -> dict[str, str]:
    """What `--eps`, `--step-size` and `--steps` default to, in numbers: the default model's preset at its side
    (a run on another model or canvas says its own in one line)."""
    from robustpaint.core.tasks import preset_values
    from robustpaint.core.tasks.knobs import CANVAS_MAX
    side = _default_model_side()
    if side is None or side > CANVAS_MAX:
        return {name: "default: the task's preset for the model and canvas" for name in ("eps", "step", "steps")}
    eps, step, steps = preset_values(task, side, side, model_side=side)
    where = f"for the default model's {side}-px canvas; scaled with the canvas, and the run says its own"
    return {"eps": f"default: {eps:.3g} {where}", "step": f"default: {step:.3g} {where}",
            "steps": f"default: {steps}, the task's preset"}


def _default_model_side() -> int | None:
    """The default model's input side from its card (no torch import: --help stays fast); None if unreadable."""
    from robustpaint.core.catalog import DEFAULT_MODEL, find_model, read_card
    from robustpaint.core.errors import RobustPaintError
    try:
        side = read_card(find_model(DEFAULT_MODEL).card_path).get("input_size")
    except RobustPaintError:
        return None
    return side if isinstance(side, int) else None


def _add_run_options(p: argparse.ArgumentParser, out_help: str, task: str) -> None:
    p.add_argument("--model", default=None, help="model name or .safetensors path (default: the shipped default)")
    from robustpaint.core.tasks.knobs import KNOBS
    defaults = _preset_help(task)
    for name in ("eps", "step", "steps"):
        knob = KNOBS[name]
        p.add_argument(knob.option, type=knob.parse, help=f"{knob.help} ({defaults[name]})")
    p.add_argument("--norm", choices=("l2", "linf", "none"), default="l2",
                   help="the ball the image stays in: l2 (default, the paper's), linf, or none (unconstrained)")
    p.add_argument("--seed", type=_seed, default=0, help="random seed of the start and of any noise (default 0)")
    p.add_argument("--device", default="auto", help=DEVICE_HELP)
    _add_precision(p)
    p.add_argument("--best", action="store_true", help="keep the lowest-loss iterate instead of the last")
    p.add_argument("--strength", help="gray PNG of the canvas's size: how much each pixel may change "
                                      "(white = fully, black = not at all)")
    p.add_argument("--out", help=out_help)
    p.add_argument("--quiet", action="store_true", help="no progress bar and no notes on stderr")


def _add_knob_option(p: argparse.ArgumentParser, knob) -> None:
    """A generic knob's option, from the table (None when not given: the request keeps the knob's default)."""
    if knob.kind == "bool":
        p.add_argument(knob.option, dest=knob.key, action=argparse.BooleanOptionalAction, default=None,
                       help=f"{knob.help} (default: {'on' if knob.default else 'off'})")
    else:
        p.add_argument(knob.option, dest=knob.key, type=knob.parse if knob.kind in ("int", "float") else None,
                       choices=knob.choices or None, help=f"{knob.help} (default: {knob.default})")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="robustpaint", description="Image synthesis with a single robust "
                                     "classifier. Without a command, starts the desktop app.")
    parser.add_argument("--version", action="version", version=f"robustpaint {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    from robustpaint.core.tasks import TASKS, TaskSpec
    from robustpaint.core.tasks.knobs import generic_knobs
    for spec in TASKS.values():
        if type(spec).request_from_args is TaskSpec.request_from_args:
            continue  # no command of its own (a class map is `generate --class-map`)
        p = sub.add_parser(spec.name, help=spec.help)
        spec.add_arguments(p)
        for knob in generic_knobs(spec.parameters):  # the table's knobs that have no option of the task's own
            _add_knob_option(p, knob)
        _add_run_options(p, spec.out_help, spec.name)

    p = sub.add_parser("classify", help="what the model sees: top classes with probabilities")
    add_input_arguments(p)
    p.add_argument("--model", default=None)
    p.add_argument("--device", default="auto", help=DEVICE_HELP)
    p.add_argument("--top", type=_positive_int(1000), default=5)
    p.add_argument("--json", action="store_true", help="one JSON object with classes, logits, probabilities")

    p = sub.add_parser("neurons", help="neuron browser: what each representation unit draws, the classes it feeds")
    p.add_argument("--model", default=None)
    p.add_argument("--out", required=True, help="folder for unit-NNNN.png thumbnails and index.json")
    p.add_argument("--first", type=_positive_int(100_000), default=64, help="the first N units (default 64)")
    p.add_argument("--units", help="these units instead, comma separated")
    p.add_argument("--scale", type=_positive_int(32), default=4, help="thumbnail upscaling (default 4)")
    _add_precision(p, default="fp32", why=" (fp32, the default: the app's neuron browser draws in fp32, and the "
                                          "two share the cached thumbnails of that precision)")
    p.add_argument("--quiet", action="store_true")

    p = sub.add_parser("replay", help="run the recipe stored in an output PNG again")
    p.add_argument("input", help="a PNG written by robustpaint (the CLI or the app's export)")
    p.add_argument("--out", required=True)
    p.add_argument("--device", help="default: the kind of device the recipe was made on (cpu, cuda or mps), where "
                   "its pixels come back exactly, when this machine has one; else auto. " + DEVICE_HELP)
    p.add_argument("--quiet", action="store_true")

    models = sub.add_parser("models", help="list or import models").add_subparsers(dest="models_command",
                                                                                   metavar="ACTION")
    models.add_parser("list", help="shipped and imported models with their cards")
    p = models.add_parser("import", help="convert an authors' robustness-library .pt into our format")
    p.add_argument("path")
    p.add_argument("--name", required=True)
    p.add_argument("--dataset", help="cifar10, imagenet, restricted_imagenet, horse2zebra, apple2orange, "
                   "summer2winter (default: read from the number of classes the weights output)")
    p.add_argument("--arch", help="architecture (default: read from the checkpoint's keys and shapes)")
    p.add_argument("--trust-pickle", action="store_true",
                   help="allow arbitrary unpickling (runs code from the file: only for files you trust)")

    p = sub.add_parser("train", help="(adversarial) training")
    p.add_argument("--arch", default="resnet18")
    p.add_argument("--data", default="cifar10", help="cifar10, a folder with train/ and test/, or a .tar.gz of one")
    p.add_argument("--out", required=True)
    p.add_argument("--epochs", type=_positive_int(10_000), default=15)
    p.add_argument("--batch-size", type=_positive_int(65_536), default=128)
    p.add_argument("--lr", type=_non_negative, default=0.2)
    p.add_argument("--weight-decay", type=_non_negative, default=5e-4)
    p.add_argument("--schedule", choices=("onecycle", "cosine"), default="onecycle")
    p.add_argument("--norm", choices=("l2", "linf", "none"), default="l2", help="none = standard training")
    p.add_argument("--eps", type=_non_negative, default=0.5)
    p.add_argument("--attack-steps", type=_positive_int(1000), default=1, help="1 = FGSM with random start")
    p.add_argument("--attack-step-size", type=_non_negative)
    p.add_argument("--precision", choices=("auto", "bf16", "fp32"), default="auto")
    p.add_argument("--seed", type=_seed, default=0, help="random seed of the initialisation and the data order "
                                                           "(default 0)")
    p.add_argument("--device", default="auto", help=DEVICE_HELP)
    p.add_argument("--max-batches", type=_positive_int(10**9), help="stop each epoch after this many (smoke runs)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--init", metavar="MODEL",
                   help="start from this model's weights (name or .safetensors path), with a fresh optimizer and "
                        "schedule: fine-tuning; the card records it. On other classes the backbone transfers and the "
                        "classifier head starts afresh")
    p.add_argument("--ema", type=_non_negative, metavar="DECAY",
                   help="write a moving average of the weights (decay per step, e.g. 0.998) instead of the last ones")
    p.add_argument("--fp32-weights", action="store_true", help="store fp32 instead of fp16 weights")
    p.add_argument("--image-size", type=_positive_int(512), metavar="SIDE",
                   help="train on random-resized crops of this side (photo data sets; the model's input size); "
                        "default: the data's own size with pad-and-crop")
    p.add_argument("--crop-scale", type=_non_negative, default=0.25,
                   help="with --image-size: the smallest crop, as a fraction of the photo's area (default 0.25)")

    p = sub.add_parser("eval", help="clean and PGD robust accuracy, written into the model card")
    p.add_argument("--model", default=None)
    p.add_argument("--data", required=True)
    p.add_argument("--split", default="test")
    p.add_argument("--norm", choices=("l2", "linf"), default="l2", help="the attack's norm (default l2)")
    p.add_argument("--eps", type=_non_negative, default=0.5)
    p.add_argument("--steps", type=_positive_int(10_000), default=20)
    p.add_argument("--step-size", type=_non_negative, help="default 2.5 eps / steps")
    p.add_argument("--restarts", type=_positive_int(100), default=1)
    p.add_argument("--limit", type=_positive_int(10**9), help="clean accuracy on all, robust on the first N images")
    p.add_argument("--batch-size", type=_positive_int(65_536), default=250)
    p.add_argument("--device", default="auto", help=DEVICE_HELP)
    p.add_argument("--no-card", action="store_true", help="print only; leave the card unchanged")
    p.add_argument("--update-shipped", action="store_true",
                   help="also rewrite a shipped model's card (the project's recipes do; by default a shipped card "
                        "keeps its measured figures and the result goes to the user data folder)")

    p = sub.add_parser("doctor", help="check the install; --gui also drives the window offscreen")
    p.add_argument("--gui", action="store_true", help="open the main window offscreen and run every task")
    p.add_argument("--screenshot", help="with --gui: generate a picture and save a screenshot of the window here")
    p.add_argument("--export-dir", help="with --gui: keep the PNG exported from each task (and a timeline iterate) "
                                        "here; each is checked to replay pixel-exactly")
    p.add_argument("--model", default=None)

    seeds = sub.add_parser("seeds", help="class-conditional seeds for generation").add_subparsers(
        dest="seeds_command", metavar="ACTION")
    p = seeds.add_parser("fit", help="fit per-class Gaussian seeds on training images, stored next to the weights")
    p.add_argument("--model", default=None)
    p.add_argument("--data", required=True)
    p.add_argument("--rank", type=_positive_int(4096), default=32)
    p.add_argument("--pool", type=_positive_int(64), default=1)
    p.add_argument("--out", help="write the seeds here (.safetensors) instead of next to the model's weights")
    p.add_argument("--update-shipped", action="store_true",
                   help="replace a shipped model's seeds (the project's recipes do); refused otherwise")
    return parser


def _add_precision(parser, default: str = "auto", why: str = " (auto, the default)") -> None:
    parser.add_argument("--precision", choices=("auto", "bf16", "fp32"), default=default,
                        help="auto: bf16 autocast where it is measured faster (CPUs with AMX or AVX512-BF16, CUDA "
                             "GPUs of compute capability 8 and up), else fp32" + why)
    parser.add_argument("--bf16", dest="precision", action="store_const", const="bf16",
                        help=argparse.SUPPRESS)  # the option's old name, for older scripts


def _bf16(args, model, device: str = "cpu") -> bool:
    from robustpaint.core.models import choose_precision
    return choose_precision(args.precision, device, model.arch)


def _check_device(name: str) -> str:
    from robustpaint.core.device import resolve_device
    return resolve_device(name)


def _device_of_kind(kind: str) -> str:
    """A device of this machine of `kind` (cpu, cuda, mps), or auto where it has none."""
    from robustpaint.core.device import available_devices
    return next((d for d in available_devices() if d.split(":")[0] == kind), "auto")


def _check_writable_folder(folder: Path) -> None:
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"output folder {folder} is a file")
    probe = folder if folder.exists() else next((p for p in folder.parents if p.exists()), Path("."))
    import os
    if not probe.is_dir():
        raise UsageError(f"cannot write to {folder}: {probe} is a file, not a folder")
    if not os.access(probe, os.W_OK):
        raise UsageError(f"cannot write to {folder}: permission denied")


def _check_output_file(path: Path, inputs: tuple = ()) -> None:
    """Refuses, before any compute, an output that is a folder or a special file, or that is one of the inputs."""
    import os
    if path.is_dir():
        raise UsageError(f"--out {path} is a folder; give a file name such as {path / 'out.png'}")
    if path.exists() and not path.is_file():
        raise UsageError(f"--out {path} is not a regular file (a device or a pipe); refusing to replace it")
    for given in inputs:
        if given and os.path.exists(given) and os.path.exists(path) and os.path.samefile(given, path):
            raise UsageError(f"--out {path} is the input {given}; writing it would destroy the input: "
                             f"choose another --out")
    _check_writable_folder(path.parent)


class _Progress:
    """A tqdm bar made on the first step, so that a request refused before any step prints one line only."""

    def __init__(self, args, total: int, notes=()):
        self.disabled, self.total, self.bar = getattr(args, "quiet", False), total, None
        self.notes = [line for line in notes if line]  # said at the first step, above the bar

    def __call__(self, step: int, loss: float, reading: tuple[str, float] | None = None) -> None:
        """`reading`: the target class of the first image and its probability (None for tasks without one)."""
        if self.disabled:
            return
        if self.bar is None:
            from tqdm import tqdm
            for line in self.notes:
                print(line, file=sys.stderr)
            self.bar = tqdm(total=self.total, file=sys.stderr, unit="step", leave=False)
        self.bar.update(1)
        # The probability says how far the picture is; a loss near 0 printed as "0.000" said nothing.
        shown = f"{reading[0]} {reading[1]:.1%} · " if reading else ""
        self.bar.set_postfix_str(f"{shown}loss {loss:.3g}")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.close()


def _run_task(args) -> int:
    """A task's sub-command: its spec turns the options into a request; the request becomes the recipe that runs and
    that every output PNG carries."""
    from robustpaint.core.imageio import save_png
    from robustpaint.core.models.bundle import load_model_bundle
    from robustpaint.core.recipes import recipe_from_request, run_recipe
    from robustpaint.core.tasks import get_task, scaled_config

    device = _check_device(args.device)
    bundle = load_model_bundle(args.model, device)
    model = bundle.model
    job = get_task(args.command).request_from_args(args, model, bundle.seeds, lambda line: _note(args, line))
    spec = get_task(job.request.task)
    outputs = job.outputs
    if job.into_folder:
        _check_writable_folder(outputs[0].parent)
    else:
        _check_output_file(outputs[0], (*job.inputs, args.strength))
    if job.grid is not None:
        _check_output_file(job.grid, job.inputs)
    before_run = []  # lines about the run, printed at its first step (a request refused stays one line)
    if job.request.image is not None and job.request.task in PHOTO_CLASS_TASKS and not args.quiet:
        before_run.append(_unfamiliar_photo_note(bundle, job.request.image))
    request = job.request.replace(eps=args.eps, step_size=args.step_size, steps=args.steps, norm=args.norm,
                                  seed=args.seed, bf16=_bf16(args, model, device), track_best=args.best)
    from robustpaint.core.tasks.knobs import generic_knobs
    given = {k.key: getattr(args, k.key) for k in generic_knobs(spec.parameters) if getattr(args, k.key, None) is not None}
    request = request.with_knobs(**given)
    if args.strength:
        request = request.replace(change_mask=_strength_map(args.strength,
                                                            spec.output_shape(request, model.input_size)))
    # The recipe holds the preset's values, not "the preset": a later version with other presets replays it alike.
    config = scaled_config(request, *spec.output_shape(request, model.input_size), model.input_size)
    if None in (args.eps, args.step_size, args.steps):
        h, w = spec.output_shape(request, model.input_size)
        before_run.append(f"{bundle.entry.name} on a {w}x{h} canvas: eps {config.eps:.3g}, step size "
                          f"{config.step_size:.3g}, {config.steps} steps (the preset where not given)")
    request = request.replace(eps=config.eps, step_size=config.step_size, steps=config.steps)
    request = spec.finalise(request, model.input_size)
    recipe = recipe_from_request(request, bundle.entry.name, bundle.sha256, device=device.split(":")[0])
    with _Progress(args, config.steps, before_run) as progress:
        images, recipe = run_recipe(recipe, device, bundle, progress)
    if recipe.get("start") == "data-free":
        _note(args, f"{bundle.entry.name} has no generation seeds (nor does a shipped model of its classes and size): "
                    f"started from smooth noise; 'robustpaint seeds fit --model {bundle.entry.name} --data DIR' "
                    f"fits its own")
    elif bundle.seeds_from and job.request.task in ("generate", "classmap"):
        _note(args, f"generation seeds: those of {bundle.seeds_from} (the same classes and size)")
    if "reads_as" in recipe:  # translate on a two-class model, without --to
        read, target = recipe["reads_as"][0], recipe["target"][0]
        _note(args, f"target: {model.classes[target]}, the other class (the model reads the picture as "
                    f"{model.classes[read]} at {recipe['reads_as_probability'][0]:.0%})")
    if "guessed_probability" in recipe:
        target, guessed = recipe["target"][0], recipe["guessed_probability"][0]
        if recipe.get("unsure", [False])[0]:
            _note(args, f"not pushed to a class: the model's best guess, {model.classes[target]}, is only "
                        f"{guessed:.0%} (below --min-confidence {recipe.get('min_confidence', 0.5):g}); the output is "
                        f"the consistent bicubic upsampling: give --class to choose one")
        else:
            _note(args, f"target: {model.classes[target]}, the model's guess at {guessed:.0%}")
    for i, path in enumerate(outputs):
        # Each file replays its own image: the recipe names the batch and this image's index in it.
        save_png(images[i], path, {**recipe, "index": i} if len(outputs) > 1 else recipe)
        WRITTEN.append(str(path))  # an interruption or a full disk after this says what is already there
    if job.grid is not None:
        from robustpaint.core.imageio import save_grid
        # small pictures shown twice their size (pixels as blocks), a canvas of 256 px or more at its own
        save_grid(images, job.grid, columns=job.grid_columns, recipe=recipe,
                  scale=2 if max(images.shape[-2:]) < 256 else 1)
        WRITTEN.append(str(job.grid))
    print("\n".join(WRITTEN))
    return 0


PHOTO_CLASS_TASKS = ("sketch", "translate", "inpaint")  # tasks that move the user's photo towards a class
UNFAMILIAR = 0.5  # below this, the model's reading of a photo says it shows none of its classes (as superres's
# --min-confidence: 90% of Imagenette test photos read above it, half of scikit-image's other photos below)
FAMILIAR = 0.8  # another model's reading this sure names it as the one to use


def _unfamiliar_photo_note(bundle, image) -> str | None:
    """A line when the model reads the photo as none of its classes with any confidence (a cat for the Imagenette
    model): its classes, and a shipped model that does read the photo surely, if one does."""
    import torch
    from torch.nn import functional as F

    from robustpaint.core.catalog import list_models
    from robustpaint.core.errors import RobustPaintError
    from robustpaint.core.models.bundle import load_model_bundle

    def reading(model):
        side = model.input_size
        x = F.interpolate(image.float(), size=(side, side), mode="bilinear", antialias=True, align_corners=False)
        with torch.no_grad():
            p = model(x.to(next(model.parameters()).device))[0].float().softmax(0)
        return model.classes[int(p.argmax())], float(p.max())

    model = bundle.model
    name, p = reading(model)
    if p >= UNFAMILIAR:
        return None
    classes = ", ".join(model.classes[:12]) + (", ..." if len(model.classes) > 12 else "")
    line = (f"{bundle.entry.name} reads this photo as {name} at only {p:.0%}: it may show none of the "
            f"{len(model.classes)} classes it knows ({classes})")
    for entry in list_models():
        if entry.origin != "shipped" or entry.name == bundle.entry.name or entry.role == "evaluator":
            continue
        try:
            other = load_model_bundle(entry.name, "cpu").model
        except RobustPaintError:
            continue
        if set(other.classes) == set(model.classes):
            continue
        other_name, other_p = reading(other)
        if other_p >= FAMILIAR and other_name not in model.classes:
            return f"{line}; {entry.name} reads it as {other_name} at {other_p:.0%}: --model {entry.name}"
    return line


def _note(args, line: str | None) -> None:
    """One line on stderr about what was done for the user (a fitted photo, a chosen class), unless --quiet."""
    if line and not getattr(args, "quiet", False):
        print(line, file=sys.stderr)


def _neurons(args) -> int:
    from robustpaint.core.imageio import save_png
    from robustpaint.core.neurons import NeuronCache, check_units, neuron_index, write_index
    from robustpaint.core.models.bundle import load_model_bundle

    bundle = load_model_bundle(args.model)
    model, card, entry = bundle.model, bundle.card, bundle.entry
    if args.units:
        try:
            units = [int(u) for u in args.units.split(",")]
        except ValueError:
            raise UsageError(f"--units takes unit numbers, comma separated, not {args.units!r}") from None
    else:
        units = list(range(min(args.first, model.representation_size)))
    units = check_units(model, units)
    out = Path(args.out)
    _check_writable_folder(out)
    cache = NeuronCache(model, entry.name, card.get("weights_sha256", ""), bf16=_bf16(args, model))
    if cache.rebuilt_because and not args.quiet:
        print(f"robustpaint: rebuilding the neuron cache: {cache.rebuilt_because}", file=sys.stderr)
    progress = None if args.quiet else (lambda done, total: print(f"  {done}/{total} thumbnails", file=sys.stderr))
    thumbs = cache.get(units, progress)
    entries = neuron_index(model, units, thumbs)
    for e in entries:
        e["file"] = f"unit-{e['unit']:04d}.png"
        save_png(thumbs[e["unit"]].float() / 255, out / e["file"], {"task": "neuron thumbnail", "model": entry.name,
                                                                     "unit": e["unit"]}, args.scale)
    write_index(out / "index.json", entries, entry.name, card.get("weights_sha256", ""), cache.recipe.key())
    print(f"{len(entries)} thumbnails and index.json in {out}")
    return 0


def _strength_map(path: str, canvas: tuple[int, int]):
    """A gray picture as a 1 x 1 x H x W strength map in [0,1]: how much each pixel may change."""
    from robustpaint.core.imageio import load_image
    image = load_image(path)
    if tuple(image.shape[-2:]) != tuple(canvas):
        raise UsageError(f"the strength map {path} is {image.shape[-1]}x{image.shape[-2]}, "
                         f"but the canvas is {canvas[1]}x{canvas[0]}")
    return image.mean(1, keepdim=True)


def _classify(args) -> int:
    import torch

    from robustpaint.core.imageio import load_photo
    from robustpaint.core.models.bundle import load_model_bundle

    model = load_model_bundle(args.model, _check_device(args.device)).model
    image, note, _ = load_photo(args.input, (model.input_size,) * 2, args.fit)
    if not args.json:
        _note(args, note)
    image = image.to(next(model.parameters()).device)
    with torch.no_grad():
        logits = model(image)[0].float().cpu()
    probabilities = logits.softmax(0)
    if args.json:
        print(json.dumps({"classes": model.classes, "logits": logits.tolist(),
                          "probabilities": probabilities.tolist()}))
    else:
        top = probabilities.topk(min(args.top, len(model.classes)))
        for p, i in zip(top.values.tolist(), top.indices.tolist()):
            print(f"{model.classes[i]:>16s}  {p * 100:5.1f}%")
    return 0


def _replay(args) -> int:
    from robustpaint.core.imageio import read_recipe, save_png
    from robustpaint.core.recipes import run_recipe

    recipe = read_recipe(args.input)
    _check_output_file(Path(args.out), (args.input,))
    steps = recipe.get("steps")
    if isinstance(recipe.get("candidates"), int) and recipe["candidates"] > 1:
        _note(args, f"image {recipe.get('index', 0)} of a batch of {recipe['candidates']}: the whole batch runs "
                    f"again (its images share each step)")
    made_on = recipe.get("device", "cpu")  # recipes from before devices were recorded were all made on a CPU
    device = _check_device(args.device or _device_of_kind(made_on))
    if device.split(":")[0] != made_on:
        _note(args, f"note: the recipe was made on {made_on}, this replay runs on {device}: pixels may differ slightly")
    with _Progress(args, steps or 0) as progress:
        images, recipe = run_recipe(recipe, device, progress=progress)
    index = recipe.get("index", 0)
    if index >= len(images):
        raise UsageError(f"the recipe's index {index} names no image of its run ({len(images)} made)")
    if recipe.get("edited_after_run"):
        _note(args, "note: the exported image was painted on after this run; the replay makes the run's result, "
                    "without those edits")
    save_png(images[index], args.out, recipe, recipe.get("export_scale", 1),  # an app export's 2x or 4x too
             recipe.get("export_resample") == "smooth")
    print(args.out)
    return 0


def _models(args) -> int:
    from robustpaint.core.catalog import accuracy_summary, list_models, read_card

    if args.models_command == "import":
        return _import(args)
    if args.models_command != "list":
        raise UsageError("use 'robustpaint models list' or 'robustpaint models import PATH --name NAME'")
    entries = list_models()
    if not entries:
        print("no models installed: train one with 'robustpaint train' or import one with "
              "'robustpaint models import PATH --name NAME'")
        return 0
    for entry in entries:
        try:
            card = read_card(entry.card_path)
        except RobustPaintError as exc:
            print(f"{entry.name:20s} {entry.origin:9s} card problem: {exc}")
            continue
        figures = accuracy_summary(card)
        print(f"{entry.name:20s} {entry.origin:9s} {card['arch']:18s} {card.get('dataset', '?'):10s} "
              f"{card.get('role', 'synthesis'):9s} {figures}")
        classes = card.get("classes") or []
        shown = ", ".join(classes[:12]) + (f", ... ({len(classes)} in all)" if len(classes) > 12 else "")
        print(f"{'':20s} classes: {shown}")  # what --class takes (any unique part of a name works too)
    return 0


def _import(args) -> int:
    from robustpaint.core.models.checkpoint import add_model, import_robustness_checkpoint
    from robustpaint.core.catalog import list_models
    from robustpaint.core.paths import user_models_dir

    if not args.name.replace("-", "").replace("_", "").isalnum():
        raise UsageError("--name may hold letters, digits, '-' and '_' only")
    if len(args.name) > 64:
        raise UsageError(f"--name may be at most 64 characters, not {len(args.name)}")
    if any(e.name == args.name for e in list_models()):
        raise UsageError(f"a model named {args.name!r} exists already; choose another --name")
    model, card = import_robustness_checkpoint(args.path, args.dataset, args.arch, args.trust_pickle)
    target = user_models_dir() / f"{args.name}.safetensors"
    card["accuracy_note"] = "not measured here; run 'robustpaint eval' on a test split to add figures"
    how = "read from its weights" if card.pop("arch_inferred") else "as asked"  # said here, not kept in the card
    data_how = "read from its weights" if card.pop("dataset_inferred") else "as asked"
    add_model(model, target, card)  # refused if another import took the name meanwhile
    print(f"imported {args.path} as {args.name!r} ({model.arch}, {how}; {card['dataset']}, {data_how}; "
          f"{len(model.classes)} classes) into {target}")
    return 0


def _train(args) -> int:
    from robustpaint.core.train.loop import TrainConfig, train

    device = _check_device(args.device)
    if args.device == "auto" and device.startswith("cuda"):
        device = "cuda"  # under torchrun each process takes the GPU of its LOCAL_RANK
    _check_writable_folder(Path(args.out))  # before decoding the data and a whole epoch, not after
    cfg = TrainConfig(arch=args.arch, data=args.data, out=args.out, epochs=args.epochs, batch_size=args.batch_size,
                      lr=args.lr, weight_decay=args.weight_decay, schedule=args.schedule, norm=args.norm,
                      eps=args.eps, attack_steps=args.attack_steps, attack_step_size=args.attack_step_size,
                      precision=args.precision, seed=args.seed, device=device, max_batches=args.max_batches,
                      half_weights=not args.fp32_weights, init_from=args.init,
                      ema=args.ema, image_size=args.image_size, crop_scale=args.crop_scale)
    import os
    rank = int(os.environ.get("RANK", "0"))  # under torchrun, process 0 alone writes and reports
    train(cfg, resume=args.resume, log=lambda m: print(m, flush=True) if rank == 0 else None)
    if rank == 0:
        print(f"wrote {Path(args.out) / 'model.safetensors'} and its card")
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


def _doctor(args) -> int:
    from robustpaint.doctor import run_doctor
    return run_doctor(args.gui, args.model, args.screenshot, args.export_dir)


def run() -> None:
    """The `robustpaint` command: main(), its output flushed (a reader that left ends quietly, a full disk is an
    error), then, once torch is loaded, an exit that skips the interpreter's teardown (0.6-0.7 s of freeing torch's
    modules and libraries on a 2-core machine, after every output file is written: benchmarks/startup.py). The app, and anything with Qt or
    child processes, exits the ordinary way."""
    import os
    code = main()
    for stream in (sys.stdout, sys.stderr):
        if stream is None:  # started with it closed
            continue
        try:
            stream.flush()
        except (OSError, ValueError) as exc:
            if stream is sys.stdout and not isinstance(exc, BrokenPipeError) and code == 0:
                _error(f"cannot write the output: {exc}")
                code = 2  # what was left to write is lost, and the status says so
            _to_devnull(stream)  # the interpreter's own last flush must not fail again ("Exception ignored ...")
    children = "multiprocessing" in sys.modules and sys.modules["multiprocessing"].active_children()
    if "torch" not in sys.modules or "PySide6" in sys.modules or children:
        raise SystemExit(code)
    os._exit(code)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    WRITTEN.clear()
    if sys.stderr is None:  # started with stderr closed: notes and errors go nowhere (print's None is stdout)
        import os
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - for the whole process
    if argv == ["--version"]:  # at once: the parser imports the tasks, and with them torch
        print(f"robustpaint {__version__}")
        return 0
    try:
        if argv == ["models", "list"]:  # cards only: no torch, an answer in well under a second
            return _reported(lambda: _models(argparse.Namespace(models_command="list")))
        return _main(argv)
    except KeyboardInterrupt:  # Ctrl-C while the parser imports the tasks (and torch)
        _error("interrupted; nothing was written", prefix="robustpaint: ")
        return 130
    except BrokenPipeError:  # `robustpaint classify --json X | head -c 100`: the reader left; end quietly
        _to_devnull(sys.stdout)  # no second error when Python flushes
        return 0


def _to_devnull(stream) -> None:
    """Points `stream`'s file descriptor at /dev/null, so what is still buffered there goes nowhere, quietly."""
    import os
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
    except (OSError, ValueError):
        pass


def _main(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        from robustpaint.launch import start_gui
        return start_gui()

    def command() -> int:
        from robustpaint.core.tasks import TASKS
        if args.command in TASKS:
            return _run_task(args)
        handlers = {"classify": _classify, "neurons": _neurons, "replay": _replay, "models": _models, "train": _train,
                    "seeds": _seeds, "eval": lambda a: _eval(a, argv), "doctor": _doctor}
        return handlers[args.command](args)

    return _reported(command)


def _reported(command) -> int:
    """Runs a command, each failure the user or the machine caused reported as one line with its status."""
    try:
        return command()
    except RobustPaintError as exc:
        _error(f"{exc}{_written_before()}")
        return 2
    except FloatingPointError as exc:
        _error(f"the optimisation diverged ({exc}); try a smaller step size")
        return 2
    except KeyboardInterrupt:
        _error(f"interrupted{_written_before() or '; nothing was written'}", prefix="robustpaint: ")
        return 130
    except BrokenPipeError:
        raise  # a reader that left (`... | head`): main() ends quietly
    except OSError as exc:  # the machine's, not the user's: a full disk, a folder that went away, a lost mount
        where = f" {exc.filename}" if exc.filename else ""
        _error(f"cannot read or write{where}: {exc.strerror or exc}{_written_before()}")
        return 2


def _error(message: str, prefix: str = "robustpaint: error: ") -> None:
    """The one line of a failure, on stderr and nowhere else; a stderr that cannot take it (a full disk) loses the
    line quietly, the status still says what happened."""
    try:
        print(prefix + message, file=sys.stderr, flush=True)
    except (OSError, ValueError):
        _to_devnull(sys.stderr)  # what is buffered there must not fail again at exit ("Exception ignored ...")


def _written_before() -> str:
    """What a run that stopped half-way had already written (its files are whole: each write is atomic)."""
    if not WRITTEN:
        return ""
    shown = WRITTEN if len(WRITTEN) <= 3 else [WRITTEN[0], "...", WRITTEN[-1]]
    return f"; {len(WRITTEN)} file(s) were written before that: {', '.join(shown)}"


if __name__ == "__main__":
    raise SystemExit(main())
