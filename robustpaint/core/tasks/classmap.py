"""Class map: each painted region reads as its own class (regions from the app's class-regions brush, or a picture
of palette colours given to `robustpaint generate --class-map`)."""

from __future__ import annotations

from pathlib import Path

from robustpaint.core import objectives as obj
from robustpaint.core.errors import RobustPaintError
from robustpaint.core.tasks.base import Built, CliJob, Context, Preset, TaskRequest, TaskSpec, register


class ClassMap(TaskSpec):
    name, label = "classmap", "Class map (regions)"
    order = 70
    help = "each painted region reads as its own class"
    preset = Preset(10.0, 0.14, 100, "like feature painting: a wide ball, the objective shapes each region")
    photo_preset = Preset(70.0, 1.0, 100, "like feature painting: a wide ball, the objective shapes each region",
                          side=224)
    anchored = True
    parameters = ("regions", "eps", "step", "steps", "views", "crops", "freedom", "effort")
    reads = frozenset({"image", "regions"})

    def build(self, ctx: Context) -> Built:
        request = ctx.request
        if request.region_masks is None or not request.targets:
            raise RobustPaintError("a class map needs regions and one class per region: paint regions with the "
                                   "class-regions brush (R) first")
        if request.region_masks.shape[0] != len(request.targets):
            raise RobustPaintError(f"{request.region_masks.shape[0]} regions but {len(request.targets)} classes")
        targets = ctx.targets(len(request.targets))
        if request.image is None:  # no picture: each region starts from its class's seed, the rest from their mean
            from robustpaint.core.classmap import seeded_start
            start = seeded_start(ctx.seeds_or_data_free(), request.region_masks.float(), targets.tolist(),
                                 ctx.generator, request.temperature)
            image = start.expand(ctx.n, -1, -1, -1).clone()
        else:
            image = ctx.image()
        objective = obj.class_map(ctx.model.head, request.region_masks.to(ctx.device), targets.to(ctx.device))
        return Built(image, objective, anchor=ctx.anchor(image))

    def output_shape(self, request: TaskRequest, model_side: int) -> tuple[int, int]:
        if request.image is None and request.region_masks is not None:
            return tuple(request.region_masks.shape[-2:])
        return super().output_shape(request, model_side)

    def add_arguments(self, p) -> None:
        pass  # on the command line a class map is `generate --class-map` (the regions come from a picture)


def request_from_class_map(args, model, targets: list[int], out_dir: Path, note=None) -> CliJob:
    """`generate --class-map PNG --class A,B`: regions from the picture, started from the classes' seeds. The
    picture is the canvas-to-be, fitted as a photo is (`read_input`): its own shape, `--size` on its longer
    side, at most CANVAS_MAX and raised to the model's side when smaller."""
    from robustpaint.core.classmap import read_class_map
    from robustpaint.core.tasks.knobs import CANVAS_MAX
    regions = read_class_map(args.class_map, None, len(targets), long_side=args.size, min_side=model.input_size,
                             max_side=CANVAS_MAX, note=note)
    h, w = regions.shape[-2:]
    request = TaskRequest("classmap", region_masks=regions, targets=tuple(targets),
                          temperature=args.temperature, size=h, width=w if w != h else None)
    from robustpaint.core.paths import file_stem
    names = file_stem("-".join(model.classes[t] for t in targets))  # a name in out_dir, whatever the card says
    return CliJob(request, [out_dir / f"classmap-{names}.png"], (args.class_map,), into_folder=True,
                  grid=Path(args.grid) if args.grid else None)


SPEC = register(ClassMap())
