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


UNFAMILIAR = 0.5  # below this, the model's reading of a photo says it shows none of its classes: the knob table's
# min_confidence default (a test keeps them equal; not read from it here, which would import torch for --help):
# 90% of Imagenette test photos read above it, 2 of 6 scikit-image photos of other things below
# (benchmarks/guess_confidence.py)
FAMILIAR = 0.8  # another model's reading this sure names it as the one to use


def _unfamiliar_photo_note(bundle, image) -> str | None:
    """A line when the model reads the photo as none of its classes with any confidence (a cat for the Imagenette
    model): its classes, and a shipped model that does read the photo surely, if one does."""
    import torch
    from torch.nn import functional as F

    from robustpaint.core.catalog import list_models, read_card
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
        try:  # the card first: only a model of other classes is loaded
            if set(read_card(entry.card_path)["classes"]) <= set(model.classes):
                continue
            other = load_model_bundle(entry.name, "cpu").model
        except (RobustPaintError, OSError):  # a hint only: a model that cannot be read is not offered
            continue
        other_name, other_p = reading(other)
        if other_p >= FAMILIAR and other_name not in model.classes:
            return f"{line}; {entry.name} reads it as {other_name} at {other_p:.0%}: --model {entry.name}"
    return line


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
