"""Where things live: shipped resources inside the package, user data and caches in platformdirs' folders."""

from __future__ import annotations

import os
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
