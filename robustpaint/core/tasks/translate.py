"""Image-to-image translation: push a photo of one class towards another (the paper's section 3.3)."""

from __future__ import annotations

import argparse

from robustpaint.core.errors import RobustPaintError
from robustpaint.core.tasks.base import PHOTO_MODEL_SIDE, Built, Context, Preset, class_index, register
from robustpaint.core.tasks.knobs import KNOBS
from robustpaint.core.tasks.sketch import Sketch

# Translation that keeps the source photo's layout: a ball small enough that the photo stays recognisable. A model
# trained at 32 px keeps the first such preset (its priors were measured on photo models only).
KEEP_PHOTO_TRANSLATE_32 = Preset(52.5, 3.5, 20, "a ball of about two thirds of the paper's, covered in 20 steps: on "
                                                 "40 held-out photos pushed to the next class at 128 px "
                                                 "(benchmarks/translate_eps.py), eps 26 / 30 / 34 gave evaluator "
                                                 "target rates 92.5 / 95 / 95% with SSIM to the source 0.557 / "
                                                 "0.553 / 0.553: eps 30 at 128 px (52.5 here) keeps the photo's "
                                                 "layout and reads as the target; the same travel in 20 steps of "
                                                 "3.5 instead of 100 of 0.7 (benchmarks/steps_to_quality.py, 30 "
                                                 "photos): every one reaches the target either way, SSIM 0.554 "
                                                 "against 0.542, in 0.20x the time", side=224)
KEEP_PHOTO_TRANSLATE = Preset(94.5, 6.3, 20, "Focus 0.25 (the class asked of the strongest quarter of the "
                                             "model's last feature map, not all of it), jitter 4 and a coarse start "
                                             "0.5, in the small ball above (eps 30 at 128 px) 1.8x wider (beyond the "
                                             "paper, #45). On 60 held-out photos, against the small ball alone: pets "
                                             "1.00 target rate, 2.27 / 4.29x the untouched sources' distance to "
                                             "real photos of the target by two judges against 3.38 / 5.46, low-pass "
                                             "target rate 0.77 against 0.65, SSIM to the source 0.518 against "
                                             "0.573; Imagenette target 95 / 95% against 100 / 98%, 0.57 / 1.73x the "
                                             "blurred-photo landmark against 1.59 / 2.97, SSIM 0.615 against "
                                             "0.583; by eye one clearer face or object of the target where the "
                                             "photo shows one, not the target's texture over the whole photo "
                                             "(docs/quality.md, 'Like for like')", side=224,
                              knobs=(("focus", 0.25), ("jitter", 4), ("coarse", 0.5)))


def keeps_photo(choice: bool, model_side: int, explicit: bool = False) -> bool:
    """Whether a translation keeps the photo, the one rule the app and the CLI share: "keep the photo" is a preset of
    photo models, so a 32-px model keeps its own preset unless the choice was made explicitly (the CLI's
    --keep-photo); the app offers the choice on photo models only, so its hidden checkbox is never explicit."""
    return bool(choice) and (explicit or model_side >= PHOTO_MODEL_SIDE)


class Translate(Sketch):
    """The same run as sketch to image (start at the image, a ball around it, towards the target class), with the
    paper's wider translation ball and the "keep the photo" preset."""

    name, label = "translate", "Translate"
    order = 40
    help = "push an image towards another class"
    preset = Preset(11.4, 0.1, 200, "paper: eps 80 / 7 = 11.4, 200 its; step 0.5 / 7 raised to 0.1 to reach "
                                    "the target class at 32 px")
    photo_preset = Preset(80.0, 0.5, 200, "paper's translation setting: eps 80, step 0.5, 200 its: free to leave the "
                                          "photo behind; use 'keep the photo' to keep its layout", side=224)
    parameters = ("class", "keep", "eps", "step", "steps", "jitter", "saturation", "fourier", "views",
                  "crops", "schedule", "momentum", "coarse", "settle",
                  "schedule_steps", "freedom", "effort", "reading", "focus")
    target_option = "--to"

    def preset_for(self, model_side: int = 32, keep_photo: bool = False) -> Preset:
        if not keep_photo:
            return super().preset_for(model_side)
        return KEEP_PHOTO_TRANSLATE if model_side >= PHOTO_MODEL_SIDE else KEEP_PHOTO_TRANSLATE_32

    target_required = False

    def build(self, ctx: Context) -> Built:
        """Without a target, a two-class model (cat and dog) translates to the class the photo does not read as,
        the paper's per-pair translation; the model's reading is noted."""
        if ctx.request.targets:
            return super().build(ctx)
        if len(ctx.model.classes) != 2:
            raise RobustPaintError(f"translate needs a target class: this model has {len(ctx.model.classes)} classes")
        image = ctx.image()
        reads_as, probability = ctx.reading(image)
        targets = 1 - reads_as
        ctx.notes.update(reads_as=reads_as.tolist(), reads_as_probability=probability, target=targets.tolist())
        return Built(image, ctx.class_objective(targets), anchor=ctx.anchor(image))

    def add_arguments(self, p) -> None:
        super().add_arguments(p)
        p.add_argument("--keep-photo", action=argparse.BooleanOptionalAction, default=None,
                       help="a small ball that keeps the source's layout (the default on a photo model, as in the "
                            "app); --no-keep-photo: the paper's wide ball, which leaves the photo behind")

    def targets_from_args(self, args, model) -> tuple[int, ...]:
        if args.target is None and len(model.classes) != 2:
            raise RobustPaintError(f"translate needs --to CLASS: this model has {len(model.classes)} classes "
                                   f"({', '.join(model.classes[:10])}{' ...' if len(model.classes) > 10 else ''}); "
                                   f"only a two-class model picks the other class by itself")
        return () if args.target is None else (class_index(model.classes, args.target),)

    def extra_fields(self, args, model) -> dict:
        """Keep the photo unless told: the knob's default, on photo models only, as the app decides it (a 32-px
        model has no keep-the-photo preset of its own); an explicit --keep-photo is honoured on any model."""
        explicit = args.keep_photo is not None
        choice = args.keep_photo if explicit else KNOBS["keep"].default
        return {"keep_photo": keeps_photo(choice, model.input_size, explicit)}


SPEC = register(Translate())
