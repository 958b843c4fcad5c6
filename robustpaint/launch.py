"""Starting the desktop app (kept apart from the CLI so that CLI commands never import Qt)."""

from __future__ import annotations

import sys


def start_gui(path: str | None = None) -> int:
    """The app's window; with `path`, that image or project opened in it."""
    try:
        from robustpaint.app.main import run_app
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("robustpaint.app"):
            print("robustpaint: the desktop app is missing from this install; use the commands "
                  "('robustpaint --help'), e.g. 'robustpaint generate --class cat --out out/'", file=sys.stderr)
            return 2
        print(f"robustpaint: cannot start the desktop app: {exc}. Run 'robustpaint --help' for the command line.",
              file=sys.stderr)
        return 2
    return run_app(path=path)
