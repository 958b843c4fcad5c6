"""Undo: each step holds what it changed (a `DocumentEdit`: the tiles it touched, before and after) and the recipe of
what the canvas shows, in a history bounded by bytes (default 512 MB, Edit > Undo memory) that drops its oldest
steps first and says so once. QUndoStack can only bound a count, and only while it is empty."""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QObject, QSettings, QTimer, Signal
from PySide6.QtGui import QAction

DEFAULT_BUDGET_MB = 512
PACK_SLICE_S = 0.004  # packing a step's tiles runs in slices this long between events (never a stall)
BUDGET_SETTING = "undo/budget_mb"


def budget_bytes() -> int:
    """The undo history's memory budget: the user's setting (in MB), else 512 MB."""
    try:
        megabytes = int(QSettings().value(BUDGET_SETTING, DEFAULT_BUDGET_MB))
    except (TypeError, ValueError):
        megabytes = DEFAULT_BUDGET_MB
    return max(megabytes, 16) * 1024 * 1024


class EditCommand:
    """One undo step: the document's change and the recipe of what it shows, before and after (already applied
    when pushed)."""

    def __init__(self, editor, edit, text: str, recipes: tuple):
        self.editor, self.edit, self.text, self.recipes = editor, edit, text, recipes
        self._nbytes: int | None = None

    @property
    def nbytes(self) -> int:
        """Its bytes (kept: summing the tiles of 1000 steps on every push took 55 ms); again after packing."""
        if self._nbytes is None:
            self._nbytes = self.edit.nbytes + 512  # the log entries and the recipe's request: counted roughly
        return self._nbytes

    def undo(self) -> None:
        self.editor.apply_edit(self.edit, 0, self.recipes[0])

    def redo(self) -> None:
        self.editor.apply_edit(self.edit, 1, self.recipes[1])


class UndoHistory(QObject):
    """The subset of QUndoStack the app uses (push, undo, redo, index, count, clean state, actions), bounded by
    bytes as well as by count."""

    indexChanged = Signal(int)
    cleanChanged = Signal(bool)
    trimmed = Signal(str)  # the first time old steps are dropped: what happened, for the status bar

    def __init__(self, parent=None, budget: int | None = None, limit: int = 1000):
        super().__init__(parent)
        self.commands: list[EditCommand] = []
        self._index = 0
        self._clean: int | None = 0  # the index that matches the saved file (None: unreachable)
        self.budget = budget_bytes() if budget is None else budget
        self.limit = limit
        self.dropped = 0
        self.changes = 0  # every push, undo, redo and clear: autosave compares it (the index stops moving when full)
        self.before_step: Callable[[], None] | None = None  # called before an undo or redo (the editor ends a run)
        self._actions: list = []
        self._packing: list = []  # (step, generator packing its tiles: DocumentEdit.pack_steps) of recent steps
        self._pack_timer = QTimer(self, interval=0)
        self._pack_timer.timeout.connect(self._pack_some)

    # --- QUndoStack's API --------------------------------------------------------------------------------

    def count(self) -> int:
        return len(self.commands)

    def index(self) -> int:
        return self._index

    def isClean(self) -> bool:
        return self._clean == self._index

    def setClean(self) -> None:
        was = self.isClean()
        self._clean = self._index
        self._changed(was)

    def set_budget(self, budget: int) -> None:
        self.budget = budget
        self._trim()

    def setUndoLimit(self, limit: int) -> None:
        self.limit = limit
        self._trim()

    def canUndo(self) -> bool:
        return self._index > 0

    def canRedo(self) -> bool:
        return self._index < len(self.commands)

    def undoText(self) -> str:
        return self.commands[self._index - 1].text if self.canUndo() else ""

    def redoText(self) -> str:
        return self.commands[self._index].text if self.canRedo() else ""

    def push(self, command: EditCommand) -> None:
        was = self.isClean()
        self.changes += 1
        redo_branch = {id(c) for c in self.commands[self._index:]}
        self._packing = [(c, steps) for c, steps in self._packing if id(c) not in redo_branch]
        del self.commands[self._index:]
        if self._clean is not None and self._clean > self._index:
            self._clean = None
        self.commands.append(command)
        self._index += 1
        self._trim()
        self._changed(was)
        if hasattr(command.edit, "pack_steps"):  # pushed with raw tiles: packed while the GUI is idle
            self._packing.append((command, command.edit.pack_steps()))
            self._pack_timer.start()

    def _pack_some(self) -> None:
        """Packs raw tiles for a few milliseconds, then gives the event loop back; trims once all are packed."""
        started = time.perf_counter()
        while self._packing and time.perf_counter() - started < PACK_SLICE_S:
            if next(self._packing[0][1], StopIteration) is StopIteration:
                self._packing.pop(0)[0]._nbytes = None  # packed: counted again
        if not self._packing:
            self._pack_timer.stop()
            self._trim()

    def pack_now(self) -> None:
        """Packs everything still raw (tests, and before measuring the history's bytes)."""
        for command, steps in self._packing:
            for _ in steps:
                pass
            command._nbytes = None
        self._packing = []
        self._pack_timer.stop()
        self._trim()

    def undo(self) -> None:
        if self.before_step is not None:
            self.before_step()  # a run going on ends first, as an undo step of its own (which this then takes back)
        if self.canUndo():
            was = self.isClean()
            self.commands[self._index - 1].undo()  # the index moves once the step is applied
            self._index -= 1
            self.changes += 1
            self._changed(was)

    def redo(self) -> None:
        if self.before_step is not None:
            self.before_step()
        if self.canRedo():
            was = self.isClean()
            self.commands[self._index].redo()
            self._index += 1
            self.changes += 1
            self._changed(was)

    def clear(self) -> None:
        was = self.isClean()
        self.commands, self._index, self._clean, self._packing = [], 0, 0, []
        self.changes += 1
        self._changed(was)

    def createUndoAction(self, parent, prefix: str = "&Undo") -> QAction:
        return self._action(parent, prefix, self.undo, lambda: (self.canUndo(), self.undoText()))

    def createRedoAction(self, parent, prefix: str = "&Redo") -> QAction:
        return self._action(parent, prefix, self.redo, lambda: (self.canRedo(), self.redoText()))

    # --- the budget --------------------------------------------------------------------------------------

    @property
    def nbytes(self) -> int:
        return sum(c.nbytes for c in self.commands)

    def _trim(self) -> None:
        """Drops the oldest steps (never the newest) while the history is over its budget or its count limit."""
        total, drop = self.nbytes, 0
        while len(self.commands) - drop > 1 and (total > self.budget or len(self.commands) - drop > self.limit) \
                and drop < self._index:
            total -= self.commands[drop].nbytes
            drop += 1
        if not drop:
            return
        dropped = {id(c) for c in self.commands[:drop]}
        del self.commands[:drop]
        self._index -= drop
        self._packing = [(c, steps) for c, steps in self._packing if id(c) not in dropped]
        if self._clean is not None:
            self._clean = self._clean - drop if self._clean >= drop else None
        if not self.dropped:
            self.trimmed.emit(f"undo keeps the last {len(self.commands)} steps: older ones were dropped to stay "
                              f"within {self.budget / 2**20:.0f} MB (Edit > Undo memory)")
        self.dropped += drop

    # --- signals and actions -----------------------------------------------------------------------------

    def _changed(self, was_clean: bool) -> None:
        self.indexChanged.emit(self._index)
        if was_clean != self.isClean():
            self.cleanChanged.emit(self.isClean())
        for action, prefix, state in self._actions:
            enabled, text = state()
            action.setEnabled(enabled)
            action.setText(f"{prefix} {text}".strip())

    def _action(self, parent, prefix: str, slot, state) -> QAction:
        action = QAction(prefix, parent)
        action.triggered.connect(slot)
        action.setEnabled(False)
        self._actions.append((action, prefix, state))
        return action
