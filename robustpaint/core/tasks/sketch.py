"""Sketch to image: move the user's rough drawing towards a class (the paper's section 3.4)."""

from __future__ import annotations

from robustpaint.core.tasks.base import (Built, CliJob, Context, Preset, TaskRequest, TaskSpec, add_photo_arguments,
                                         class_index, default_output, read_input, register)


class Sketch(TaskSpec):
    name, label = "sketch", "Sketch to image"
    order = 20
    help = "move a drawing towards a class"
    preset = Preset(5.7, 0.15, 60, "paper's RestrictedImageNet sketch setting (eps 40, step 1, 60 its) / 7")
    photo_preset = Preset(40.0, 4.0, 15, "paper's RestrictedImageNet sketch-to-image setting, eps 40 at 224 px, in "
                                         "15 steps of 4 instead of its 60 of 1 (the same distance; beyond the paper, "
                                         "#34: on 30 flat-colour drawings every one still reads as its class, a "
                                         "little more of the drawing kept, in 0.27x the time, "
                                         "benchmarks/steps_to_quality.py)", side=224)
    anchored = True
    parameters = ("class", "eps", "step", "steps", "jitter", "saturation", "fourier", "views",
                  "crops", "schedule", "momentum", "coarse", "settle",
                  "schedule_steps", "freedom", "effort")
    target_option = "--class"
    target_required = True  # translate: a two-class model picks the other class

    def build(self, ctx: Context) -> Built:
        image = ctx.image()
        return Built(image, ctx.class_objective(ctx.targets()), anchor=ctx.anchor(image))

    def add_arguments(self, p) -> None:
        add_photo_arguments(p)
        p.add_argument(self.target_option, dest="target", required=self.target_required,
                       help="target class" + ("" if self.target_required else
                                              " (a two-class model: by default the class the photo does not read as)"))

    def targets_from_args(self, args, model) -> tuple[int, ...]:
        return (class_index(model.classes, args.target),)

    def request_from_args(self, args, model, seeds, note) -> CliJob:
        targets = self.targets_from_args(args, model)  # a wrong class is one line before the photo is read
        image, _ = read_input(args, model, note)
        request = TaskRequest(self.name, image=image, targets=targets, **self.extra_fields(args, model))
        return CliJob(request, [default_output(args, self.name)], (args.input,))

    def extra_fields(self, args, model) -> dict:
        return {}


SPEC = register(Sketch())
