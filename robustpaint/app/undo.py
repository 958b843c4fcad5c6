"""Undo steps: the document's state and the recipe of what it shows, before and after a change."""

from __future__ import annotations

from PySide6.QtGui import QUndoCommand


class StateCommand(QUndoCommand):
    """One undo step: the document's state and the recipe of what it shows, before and after a stroke or a run
    (already applied when pushed)."""

    def __init__(self, editor, before, after, text: str, recipes: tuple):
        super().__init__(text)
        self.editor, self.before, self.after, self.recipes, self._first = editor, before, after, recipes, True

    def redo(self) -> None:
        if self._first:
            self._first = False
            return
        self._show(self.after, self.recipes[1])

    def undo(self) -> None:
        self._show(self.before, self.recipes[0])

    def _show(self, state, recipe) -> None:
        self.editor.restore(state, recipe)
