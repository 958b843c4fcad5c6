"""The task commands (generate, sketch, inpaint, ...), replay and the neuron browser: a task's spec turns
the options into a request, the request into the recipe that runs and that every output PNG carries."""

from __future__ import annotations

from pathlib import Path
import sys

from robustpaint.cli.common import (UsageError, WRITTEN, _Progress, _bf16, _check_device, _check_output_file,
                                    _check_writable_folder, _device_of_kind, _note)
from robustpaint.core.errors import RobustPaintError


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
        from robustpaint.core.atomic import writable_target
        _check_writable_folder(outputs[0].parent)
        for path in outputs:  # a dangling link planted under a name to come is refused before the run
            writable_target(path)
    else:
        _check_output_file(outputs[0], (*job.inputs, args.strength))
    if job.grid is not None:
        _check_output_file(job.grid, job.inputs)
    before_run = []  # lines about the run, printed at its first step (a request refused stays one line)
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
    if not args.quiet:
        before_run.append(_reading_note(bundle, recipe))
    with _Progress(args, config.steps, before_run) as progress:
        images, recipe = run_recipe(recipe, device, bundle, progress)
    if recipe.get("start") == "data-free":
        _note(args, f"{bundle.entry.name} has no generation seeds (nor does a shipped model of its classes and size): "
                    f"started from smooth noise; 'robustpaint seeds fit --model {bundle.entry.name} --data DIR' "
                    f"fits its own")
    elif bundle.seeds_from and job.request.task in ("generate", "classmap"):
        _note(args, f"generation seeds: those of {bundle.seeds_from} (the same classes and size)")
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
READING_TASKS = (*PHOTO_CLASS_TASKS, "superres")  # tasks whose line about the model's reading comes before the run


UNFAMILIAR = 0.5  # below this, the model's reading of a photo says it shows none of its classes: the knob table's
# min_confidence default (a test keeps them equal; not read from it here, which would import torch for --help):
# 90% of Imagenette test photos read above it, 2 of 6 scikit-image photos of other things below
# (benchmarks/guess_confidence.py)
FAMILIAR = 0.8  # another model's reading this sure names it as the one to use


def canvas_logits(model, image):
    """The model's logits (N x classes, float32 on the CPU) for a canvas (N x 3 x H x W in [0,1]), read as the tasks
    read it when they choose a class (core.tasks.base.Context.reading: a canvas larger than the model at the model's
    scale, as the steps judge it). `classify` and every line about a reading use this, so that they say what the
    task does (#47 item 13; tests/test_one_reading.py holds them equal)."""
    import torch

    from robustpaint.core.views import judged_whole
    with torch.no_grad():
        return model(judged_whole(image.float().to(next(model.parameters()).device), model.input_size)).float().cpu()


def canvas_reading(model, image):
    """The class probabilities of `canvas_logits`."""
    return canvas_logits(model, image).softmax(1)


def _reading_note(bundle, recipe: dict) -> str | None:
    """The one line about what the model reads in the picture a photo task starts from, before its first step: the
    class it chose by that reading (inpaint and super-resolution without --class, translate on a two-class model
    without --to), or, where the class was given, a warning when the model reads the picture as none of its classes.
    The reading is the task's own, of the pixels it starts from (the photo as fitted to the canvas, an inpainting
    hole filled, a super-resolution input upsampled): the task is built here as the run builds it, and what it chose
    is read from its notes. Before, a separate reading of the photo squeezed to the model's square said "church at
    only 29%" above the task's "target: golf_ball, the model's guess at 30%" (#47 item 13)."""
    if recipe["task"] not in READING_TASKS:
        return None
    from robustpaint.core.recipes import check_budget, check_recipe, request_from_recipe
    from robustpaint.core.tasks import build_task
    model = bundle.model
    check_recipe(recipe)  # what the run refuses is refused before this build too
    request = request_from_recipe(recipe)
    check_budget(request, model.input_size)
    setup = build_task(model, request, bundle.seeds)
    notes, classes = setup.notes, model.classes
    if "reads_as" in notes:  # translate on a two-class model, without --to
        read, target = notes["reads_as"][0], notes["target"][0]
        return (f"target: {classes[target]}, the other class (the model reads the picture as {classes[read]} at "
                f"{notes['reads_as_probability'][0]:.0%})")
    if "guessed_probability" in notes:  # no class given: the model's guess
        target, guessed = notes["target"][0], notes["guessed_probability"][0]
        if notes.get("unsure", [False])[0]:
            return (f"not pushed to a class: the model's best guess, {classes[target]}, is only {guessed:.0%} (below "
                    f"--min-confidence {request.knob('min_confidence'):g}); the output is the consistent bicubic "
                    f"upsampling: give --class to choose one")
        line = f"target: {classes[target]}, the model's guess at {guessed:.0%}"
        if recipe["task"] in PHOTO_CLASS_TASKS and guessed < UNFAMILIAR:
            line += f", so low that {_none_of_its_classes(bundle)}{_other_model_hint(bundle, setup.start[:1])}"
        return line
    if recipe["task"] in PHOTO_CLASS_TASKS:
        return _unfamiliar_photo_note(bundle, setup.start[:1])
    return None


def _none_of_its_classes(bundle) -> str:
    classes = bundle.model.classes
    shown = ", ".join(classes[:12]) + (", ..." if len(classes) > 12 else "")
    return f"it may show none of the {len(classes)} classes {bundle.entry.name} knows ({shown})"


def _unfamiliar_photo_note(bundle, image) -> str | None:
    """A line when the model reads the photo (1 x 3 x H x W, the canvas a task starts from) as none of its classes
    with any confidence (a cat for the Imagenette model): its classes, and a shipped model that does read the photo
    surely, if one does. Read as the tasks read it (`canvas_reading`)."""
    model = bundle.model
    p = canvas_reading(model, image)[0]
    name, p = model.classes[int(p.argmax())], float(p.max())
    if p >= UNFAMILIAR:
        return None
    classes = ", ".join(model.classes[:12]) + (", ..." if len(model.classes) > 12 else "")
    line = (f"{bundle.entry.name} reads this photo as {name} at only {p:.0%}: it may show none of the "
            f"{len(model.classes)} classes it knows ({classes})")
    return line + _other_model_hint(bundle, image)


def _other_model_hint(bundle, image) -> str:
    """The end of an unfamiliar-photo line ("; pets_resnet18 reads it as cat at 96%: --model pets_resnet18") where a
    shipped model of other classes reads the same pixels, in the same way, surely; else nothing."""
    from robustpaint.core.catalog import list_models, read_card
    from robustpaint.core.models.bundle import load_model_bundle

    model = bundle.model
    for entry in list_models():
        if entry.origin != "shipped" or entry.name == bundle.entry.name or entry.role == "evaluator":
            continue
        try:  # the card first: only a model of other classes is loaded
            if set(read_card(entry.card_path)["classes"]) <= set(model.classes):
                continue
            other = load_model_bundle(entry.name, "cpu").model
        except (RobustPaintError, OSError):  # a hint only: a model that cannot be read is not offered
            continue
        p = canvas_reading(other, image)[0]
        other_name, other_p = other.classes[int(p.argmax())], float(p.max())
        if other_p >= FAMILIAR and other_name not in model.classes:
            return f"; {entry.name} reads it as {other_name} at {other_p:.0%}: --model {entry.name}"
    return ""


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
