"""The `robustpaint` command: every task, training and evaluation, headless, on the same core as the app.

A user mistake (bad file, value, class or model) prints one line and exits with status 2; nothing is written.
"""

from __future__ import annotations

import argparse
import sys

from robustpaint import __version__
from robustpaint.cli.common import WRITTEN, UsageError, _Progress
from robustpaint.cli.models import _classify, _models
from robustpaint.cli.parser import build_parser
from robustpaint.cli.tasks import _neurons, _replay, _run_task, _unfamiliar_photo_note
from robustpaint.cli.training import _eval, _seeds, _snapshot, _train
from robustpaint.core.errors import RobustPaintError

# The package: common (shared checks, progress), parser, tasks (the task commands, replay, neurons), models
# (list, import, classify), training (train, eval, seeds); this module dispatches and reports.
__all__ = ["UsageError", "_Progress", "_unfamiliar_photo_note", "build_parser", "main", "run"]


def _doctor(args) -> int:
    from robustpaint.doctor import run_doctor
    return run_doctor(args.gui, args.model, args.screenshot, args.export_dir)


def run() -> None:
    """The `robustpaint` command: main(), its output flushed (a reader that left ends quietly, a full disk is an
    error), then, once torch is loaded, an exit that skips the interpreter's teardown (0.6-0.7 s of freeing torch's
    modules and libraries on a 2-core machine, after every output file is written: benchmarks/startup.py). The app, and anything with Qt or
    child processes, exits the ordinary way."""
    import os
    code = main()
    for stream in (sys.stdout, sys.stderr):
        if stream is None:  # started with it closed
            continue
        try:
            stream.flush()
        except (OSError, ValueError) as exc:
            if stream is sys.stdout and not isinstance(exc, BrokenPipeError) and code == 0:
                _error(f"cannot write the output: {exc}")
                code = 2  # what was left to write is lost, and the status says so
            _to_devnull(stream)  # the interpreter's own last flush must not fail again ("Exception ignored ...")
    children = "multiprocessing" in sys.modules and sys.modules["multiprocessing"].active_children()
    if "torch" not in sys.modules or "PySide6" in sys.modules or children:
        raise SystemExit(code)
    os._exit(code)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    WRITTEN.clear()
    if sys.stderr is None:  # started with stderr closed: notes and errors go nowhere (print's None is stdout)
        import os
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - for the whole process
    if argv == ["--version"]:  # at once: the parser imports the tasks, and with them torch
        print(f"robustpaint {__version__}")
        return 0
    try:
        if argv == ["models", "list"]:  # cards only: no torch, an answer in well under a second
            return _reported(lambda: _models(argparse.Namespace(models_command="list")))
        return _main(argv)
    except KeyboardInterrupt:  # Ctrl-C while the parser imports the tasks (and torch)
        _error("interrupted; nothing was written", prefix="robustpaint: ")
        return 130
    except BrokenPipeError:  # `robustpaint classify --json X | head -c 100`: the reader left; end quietly
        _to_devnull(sys.stdout)  # no second error when Python flushes
        return 0


def _to_devnull(stream) -> None:
    """Points `stream`'s file descriptor at /dev/null, so what is still buffered there goes nowhere, quietly."""
    import os
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
    except (OSError, ValueError):
        pass


OPENABLE = (".rpaint", ".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif")


def _file_to_open(argv: list[str]) -> str | None:
    """`robustpaint FILE` (a desktop file's `%f`, a file manager's Open with): the image or project to open in the
    app, or None when argv is a command."""
    if len(argv) != 1 or argv[0].startswith("-"):
        return None
    from pathlib import Path
    path = Path(argv[0])
    return argv[0] if path.suffix.lower() in OPENABLE else None  # by its name: a file called `doctor` is not


def _main(argv: list[str]) -> int:
    if (path := _file_to_open(argv)) is not None:
        from pathlib import Path
        if not Path(path).is_file():
            _error(f"no such file: {path} (robustpaint FILE opens an image or a .rpaint project in the app)")
            return 2
        from robustpaint.launch import start_gui
        return start_gui(path)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        from robustpaint.launch import start_gui
        return start_gui()

    def command() -> int:
        from robustpaint.core.tasks import TASKS
        if args.command in TASKS:
            return _run_task(args)
        handlers = {"classify": _classify, "neurons": _neurons, "replay": _replay, "models": _models, "train": _train,
                    "seeds": _seeds, "snapshot": _snapshot, "eval": lambda a: _eval(a, argv), "doctor": _doctor}
        return handlers[args.command](args)

    return _reported(command)


def _reported(command) -> int:
    """Runs a command, each failure the user or the machine caused reported as one line with its status."""
    try:
        return command()
    except RobustPaintError as exc:
        _error(f"{exc}{_written_before()}")
        return 2
    except FloatingPointError as exc:
        _error(f"the optimisation diverged ({exc}); try a smaller step size")
        return 2
    except KeyboardInterrupt:
        _error(f"interrupted{_written_before() or '; nothing was written'}", prefix="robustpaint: ")
        return 130
    except BrokenPipeError:
        raise  # a reader that left (`... | head`): main() ends quietly
    except OSError as exc:  # the machine's, not the user's: a full disk, a folder that went away, a lost mount
        where = f" {exc.filename}" if exc.filename else ""
        _error(f"cannot read or write{where}: {exc.strerror or exc}{_written_before()}")
        return 2


def _error(message: str, prefix: str = "robustpaint: error: ") -> None:
    """The one line of a failure, on stderr and nowhere else; a stderr that cannot take it (a full disk) loses the
    line quietly, the status still says what happened."""
    try:
        print(prefix + message, file=sys.stderr, flush=True)
    except (OSError, ValueError):
        _to_devnull(sys.stderr)  # what is buffered there must not fail again at exit ("Exception ignored ...")


def _written_before() -> str:
    """What a run that stopped half-way had already written (its files are whole: each write is atomic)."""
    if not WRITTEN:
        return ""
    shown = WRITTEN if len(WRITTEN) <= 3 else [WRITTEN[0], "...", WRITTEN[-1]]
    return f"; {len(WRITTEN)} file(s) were written before that: {', '.join(shown)}"


if __name__ == "__main__":
    raise SystemExit(main())
