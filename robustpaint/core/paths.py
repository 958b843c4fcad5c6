"""Where things live: shipped resources inside the package, user data and caches in platformdirs' folders."""

from __future__ import annotations

import os
import re
from importlib import resources
from pathlib import Path

import platformdirs

APP = "robustpaint"


def resources_dir() -> Path:
    """Shipped resources: `robustpaint/resources` in an installed wheel, the repository's `resources/` in a checkout."""
    packaged = Path(str(resources.files("robustpaint"))) / "resources"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "resources"


def shipped_models_dir() -> Path:
    return resources_dir() / "models"


def _dir(env: str, default: str) -> Path:
    path = Path(os.environ.get(env) or default)
    return path


def user_data_dir() -> Path:
    """Imported models, autosaves, settings. ROBUSTPAINT_DATA_DIR overrides (tests use it)."""
    return _dir("ROBUSTPAINT_DATA_DIR", platformdirs.user_data_dir(APP))


def user_cache_dir() -> Path:
    """Decoded data sets, neuron thumbnails. ROBUSTPAINT_CACHE_DIR overrides (tests use it)."""
    return _dir("ROBUSTPAINT_CACHE_DIR", platformdirs.user_cache_dir(APP))


def user_models_dir() -> Path:
    return user_data_dir() / "models"


FILE_STEM_BYTES = 100  # the longest name part a writer makes of a text (file systems allow 255 bytes a name)


def file_stem(text: str, limit: int = FILE_STEM_BYTES) -> str:
    """`text` (a class name from anyone's model card, a task's name) as part of a file name, the one cleaning every
    writer uses (#46): letters, digits, `_` and `-` kept, any other run of characters (`/`, `.`, spaces, control
    characters) one `_`, so the name stays in the folder it is written to (`../../x` is `_x`, `/tmp/x` is
    `_tmp_x`); at most `limit` bytes of UTF-8."""
    stem = re.sub(r"[^\w-]+", "_", text).encode("utf-8")[:limit].decode("utf-8", "ignore")
    return stem or "_"
