"""The synthesis tasks, one module each, in one registry (`TASKS`, name -> spec, in menu order).

Each task module declares a spec (name, label, presets, the parameters it uses and how it builds a start image, an
objective and a constraint from a `TaskRequest`) and registers it; the app's panel, the CLI's sub-commands, the
recipe reader and the tests read the registry. Every module of this package is imported here, so adding a task is
one new module (and its tests).
"""

import importlib
import pkgutil

from robustpaint.core.tasks.base import (KNOBS, PHOTO_MODEL_SIDE, TASKS, Built, CliJob, Context, Knob, Preset,
                                         TaskRequest, TaskSetup, TaskSpec, build_task, class_index, get_task,
                                         preset_for, preset_values, register, scaled_config, unregister)

for _module in pkgutil.iter_modules(__path__):
    if _module.name not in ("base", "knobs"):
        importlib.import_module(f"{__name__}.{_module.name}")

from robustpaint.core.tasks.inpaint import masked_channel_mean, smooth_fill  # noqa: E402
from robustpaint.core.tasks.superres import agrees_with  # noqa: E402
from robustpaint.core.tasks.translate import KEEP_PHOTO_TRANSLATE, keeps_photo  # noqa: E402

__all__ = ["KNOBS", "PHOTO_MODEL_SIDE", "TASKS", "Built", "CliJob", "Context", "KEEP_PHOTO_TRANSLATE", "keeps_photo",
           "Knob", "Preset", "TaskRequest", "TaskSetup", "TaskSpec", "agrees_with", "build_task", "class_index",
           "get_task", "masked_channel_mean", "preset_for", "preset_values", "register", "scaled_config",
           "smooth_fill", "unregister"]
