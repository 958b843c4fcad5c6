"""The synthesis tasks, one module each, in one registry (`TASKS`, name -> spec, in menu order).

Each task module declares a spec (name, label, presets, the parameters it uses and how it builds a start image, an
objective and a constraint from a `TaskRequest`) and registers it; the app's panel, the CLI's sub-commands, the
recipe reader and the tests read the registry. Adding a task is one new module imported here (and its tests).
"""

from robustpaint.core.tasks.base import (PARAMETERS, PHOTO_MODEL_SIDE, TASKS, Built, CliJob, Context, Parameter,
                                         Preset, TaskRequest, TaskSetup, TaskSpec, build_task, class_index, get_task,
                                         predicted_classes, preset_for, preset_values, register, scaled_config,
                                         unregister)
from robustpaint.core.tasks import generate, sketch, inpaint, translate, superres, paint, classmap  # noqa: F401,E402
from robustpaint.core.tasks.inpaint import masked_channel_mean, smooth_fill  # noqa: E402
from robustpaint.core.tasks.superres import agrees_with  # noqa: E402
from robustpaint.core.tasks.translate import KEEP_PHOTO_TRANSLATE  # noqa: E402

__all__ = ["PARAMETERS", "PHOTO_MODEL_SIDE", "TASKS", "Built", "CliJob", "Context", "KEEP_PHOTO_TRANSLATE",
           "Parameter", "Preset", "TaskRequest", "TaskSetup", "TaskSpec", "agrees_with", "build_task", "class_index",
           "get_task", "masked_channel_mean", "predicted_classes", "preset_for", "preset_values", "register",
           "scaled_config", "smooth_fill", "unregister"]
