"""What every benchmark script shares: a description of the machine and an atomic JSON writer."""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path


def machine() -> str:
    """Processor, cores, torch and Python: enough to tell which machine a figure came from."""
    import torch
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch "
            f"threads, torch {torch.__version__}, Python {sys.version.split()[0]}")


def save_results(path: Path | None, result: dict) -> None:
    """Writes `result` (with the machine added) as JSON, atomically, so report.py never reads half a file."""
    if path is None:
        return
    from robustpaint.core.atomic import atomic_write_text
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps({**result, "machine": machine()}, indent=2) + "\n")
    print(f"wrote {path}")
