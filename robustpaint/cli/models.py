"""`models list/import` and `classify`: what is installed, bringing a checkpoint in, what a model sees."""

from __future__ import annotations

import json
from pathlib import Path

from robustpaint.cli.common import UsageError, _check_device, _note
from robustpaint.core.errors import RobustPaintError


def _classify(args) -> int:
    """What the model reads in a photo: the canvas the photo tasks (sketch, translate, inpaint) make of it, with the
    same --fit and --size (by default the whole photo at its own size), read as those tasks read it when they choose
    a class (`canvas_logits`); it says which pixels it read. Before, it read the photo's centre square at the model's
    side while translate read the whole photo: the same cat was 59% dog to one and 65% cat to the other (#47 item
    13)."""
    from robustpaint.cli.tasks import canvas_logits
    from robustpaint.core.models.bundle import load_model_bundle
    from robustpaint.core.tasks.base import read_input

    bundle = load_model_bundle(args.model, _check_device(args.device))
    model = bundle.model
    fitted: list[str] = []
    image, source = read_input(args, model, lambda line: fitted.append(line) if line else None)
    logits = canvas_logits(model, image)[0]
    probabilities = logits.softmax(0)
    h, w = image.shape[-2:]
    read = {"input": str(args.input), "fit": args.fit, "width": w, "height": h, "input_width": source[1],
            "input_height": source[0]}
    if args.json:
        print(json.dumps({"classes": model.classes, "logits": logits.tolist(),
                          "probabilities": probabilities.tolist(), "read": read}))
        return 0
    from pathlib import Path
    pixels = fitted[0] if fitted else f"{Path(args.input).name} {w}x{h}, the whole photo"
    _note(args, f"{bundle.entry.name} read {pixels}, as sketch, translate and inpaint take it (--fit {args.fit})")
    top = probabilities.topk(min(args.top, len(model.classes)))
    for p, i in zip(top.values.tolist(), top.indices.tolist()):
        print(f"{model.classes[i]:>16s}  {p * 100:5.1f}%")
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
    target = user_models_dir() / f"{args.name}.safetensors"
    if Path(args.path).suffix.lower() == ".safetensors":
        return _import_own(args, target)
    model, card = import_robustness_checkpoint(args.path, args.dataset, args.arch, args.trust_pickle)
    card["accuracy_note"] = "not measured here; run 'robustpaint eval' on a test split to add figures"
    how = "read from its weights" if card.pop("arch_inferred") else "as asked"  # said here, not kept in the card
    data_how = "read from its weights" if card.pop("dataset_inferred") else "as asked"
    add_model(model, target, card)  # refused if another import took the name meanwhile
    print(f"imported {args.path} as {args.name!r} ({model.arch}, {how}; {card['dataset']}, {data_how}; "
          f"{len(model.classes)} classes) into {target}")
    return 0


# what a card's writer fills in from the weights and the file name: the new name's card gets them afresh
_WRITTEN_FROM_WEIGHTS = ("card_version", "name", "arch", "classes", "mean", "std", "input_size", "weights_dtype",
                         "weights_file", "weights_sha256")


def _import_own(args, target: Path) -> int:
    """A model in our format (one `robustpaint train` or `snapshot` wrote, its card beside it) copied under a name
    into the user models folder, where the app's Model list and `--model NAME` find it; its seeds come along. All is
    checked before anything is added (weights finite, seeds readable and of the model's classes), and a failure
    while adding takes back what was added: all or nothing, as for the authors' files."""
    import shutil
    from robustpaint.core.atomic import atomic_path
    from robustpaint.core.catalog import ModelEntry
    from robustpaint.core.models.checkpoint import add_model, load_model, load_state_into
    from robustpaint.core.seeds import ClassSeeds

    if args.dataset or args.arch or args.trust_pickle:
        raise UsageError("--dataset, --arch and --trust-pickle are for the authors' .pt checkpoints: a .safetensors "
                         "model carries its own card")
    source = ModelEntry(Path(args.path).stem, Path(args.path), "file")
    if not source.weights.is_file():
        raise UsageError(f"{source.weights}: no such file")
    if not source.card_path.is_file():
        raise UsageError(f"{source.weights} has no card beside it ({source.card_path.name}): models import "
                         f"takes a .safetensors model that robustpaint train or snapshot wrote, or an authors' .pt")
    model, card = load_model(source.weights)  # its card read and its sha256 checked: a damaged file is refused here
    # the sha256 says the file is whole, not that its numbers are: a run that diverged wrote NaN weights whole
    load_state_into(model, model.net.state_dict(), str(source.weights), finite=True)
    seeds = source.seeds_path if source.seeds_path.is_file() else None
    if seeds is not None and ClassSeeds.load(seeds).num_classes != len(model.classes):
        raise UsageError(f"{seeds} holds seeds of another number of classes than the model's {len(model.classes)}")
    kept = {k: v for k, v in card.items() if k not in _WRITTEN_FROM_WEIGHTS}
    kept["source"] = f"imported from {source.weights.name} (sha256 {str(card.get('weights_sha256'))[:12]}...)"
    add_model(model, target, kept, half=card.get("weights_dtype") == "float16")
    if seeds is not None:
        added = ModelEntry(target.stem, target, "imported")
        try:
            with atomic_path(added.seeds_path) as tmp:
                shutil.copyfile(seeds, tmp)
        except BaseException:  # the model without its seeds would block the same import again: take it back
            target.unlink(missing_ok=True)
            added.card_path.unlink(missing_ok=True)
            raise
    print(f"imported {source.weights} as {args.name!r} ({model.arch}, {len(model.classes)} classes"
          f"{', with its seeds' if seeds else ''}) into {target}: the app's Model list shows it")
    return 0
