"""The argument parser: each task's options from its spec and the knob table, and the other commands'."""

from __future__ import annotations

import argparse

from robustpaint import __version__
from robustpaint.core.device import DEVICE_HELP
from robustpaint.core.errors import RobustPaintError
from robustpaint.core.options import CANVAS_MAX, add_input_arguments
from robustpaint.core.options import non_negative as _non_negative, positive_int as _positive_int


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
        p.add_argument(knob.option, type=knob.parse, help=_help(f"{knob.help} ({defaults[name]})"))
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


def _help(text: str) -> str:
    """A table's text as argparse help: argparse %-formats help, so a "90%" in a knob's text must be "90%%"."""
    return text.replace("%", "%%")


def _add_knob_option(p: argparse.ArgumentParser, knob, spec=None) -> None:
    """A generic knob's option, from the table (None when not given: the request keeps the knob's default, or the
    value the task's preset gives it, which the help then says: generate's photo preset sets saturation to 1)."""
    said = (lambda v: "on" if v else "off") if knob.kind == "bool" else str
    default = f"default: {said(knob.default)}"
    if spec is not None:
        from robustpaint.core.tasks import PHOTO_MODEL_SIDE
        presets = {"photo models' preset": dict(spec.photo_preset.knobs),
                   "32-px models' preset": dict(spec.preset.knobs)}
        kept = spec.preset_for(PHOTO_MODEL_SIDE, keep_photo=True)  # translate's own preset when it keeps the photo
        if kept is not spec.photo_preset:
            presets["the keep-the-photo preset"] = dict(kept.knobs)
        other = [f"{said(values[knob.key])} with {which}" for which, values in presets.items()
                 if knob.key in values and values[knob.key] != knob.default]
        if other:
            default = f"{default}; {', '.join(other)}"
    if knob.kind == "bool":
        p.add_argument(knob.option, dest=knob.key, action=argparse.BooleanOptionalAction, default=None,
                       help=_help(f"{knob.help} ({default})"))
    else:
        p.add_argument(knob.option, dest=knob.key, type=knob.parse if knob.kind in ("int", "float") else None,
                       choices=knob.choices or None, help=_help(f"{knob.help} ({default})"))


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
            _add_knob_option(p, knob, spec)
        _add_run_options(p, spec.out_help, spec.name)

    p = sub.add_parser("classify", help="what the model reads in a photo, taken as sketch, translate and inpaint take "
                                        "it (the whole photo by default): top classes with probabilities")
    add_input_arguments(p, max_side=CANVAS_MAX)  # the photo tasks' canvas: one reading of the same pixels (#47)
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
    p = models.add_parser("import", help="convert an authors' robustness-library .pt into our format, or add a "
                                            ".safetensors model of ours (one you trained) under a name")
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
    p.add_argument("--attack", choices=("pgd", "nfgsm"), default="pgd",
                   help="pgd: PGD-k (FGSM with random start at 1 step); nfgsm: N-FGSM, one step of eps from noise of "
                        "2 eps without clipping to the ball, which does not overfit catastrophically at large eps")
    p.add_argument("--check-robust", type=_positive_int(100_000), default=0, metavar="N",
                   help="after each epoch, clean and PGD-10 accuracy on N test images (logged in the card's history)")
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

    p = sub.add_parser("snapshot", help="the model of a training run so far (after its last finished epoch), to try "
                                        "and measure while it trains on")
    p.add_argument("run", metavar="OUT", help="the run's --out folder (it holds checkpoint.pt)")
    p.add_argument("--to", metavar="PATH", help="where to write it (default OUT/snapshot-epoch-NN.safetensors)")

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
