"""The candidates of a batched generation, as one compact row of thumbnails in a dock under the canvas: a click takes
one to the canvas. It shows only the batch the canvas came from: a new canvas or a run of one image clears it."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSize, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import QDockWidget, QListView, QListWidget, QListWidgetItem

from robustpaint.app.canvas import array_to_qimage


ICON_SIDE = 72
MIN_ICON_SIDE = 32  # below this a thumbnail says nothing: the row scrolls instead
ITEM_PADDING = 12  # a list item's room beyond its icon


class CandidateGrid(QDockWidget):
    chosen = Signal(int, bool)  # index, again (a click on the one already selected)

    def __init__(self, parent=None):
        super().__init__("Candidates", parent)
        self.setObjectName("candidates_dock")  # saveState keeps where it is by this name
        self.list = QListWidget()
        self.list.setViewMode(QListView.ViewMode.IconMode)
        self.list.setIconSize(QSize(ICON_SIDE, ICON_SIDE))
        self.list.setFlow(QListView.Flow.LeftToRight)
        self.list.setWrapping(False)  # one row, scrolled sideways: it never grows taller and squeezes the panel
        self.list.setMovement(QListView.Movement.Static)
        self.list.setFixedHeight(ICON_SIDE + 48)  # the thumbnails, their numbers and a scroll bar
        self.list.currentRowChanged.connect(lambda row: self.chosen.emit(row, False))
        # A click on the candidate already selected takes it again (after New, say): no row change is signalled.
        self.list.itemClicked.connect(lambda item: self.chosen.emit(self.list.row(item), True))
        self.setWidget(self.list)
        self.images: np.ndarray | None = None  # N x H x W x 3 of the last batch

    def show_images(self, images: np.ndarray) -> None:
        self.images = images
        if self.list.count() != len(images):
            self.list.clear()
            for i in range(len(images)):
                self.list.addItem(QListWidgetItem(f"{i + 1}"))
        self.show()
        self._fit_icons()

    def _fit_icons(self) -> None:
        """Thumbnails as large as ICON_SIDE, smaller where that keeps the whole batch in one row in view."""
        if self.images is None:
            return
        room = self.list.viewport().width() // max(len(self.images), 1) - ITEM_PADDING
        side = max(MIN_ICON_SIDE, min(ICON_SIDE, room))
        size = QSize(side, side)
        self.list.setIconSize(size)
        for i, img in enumerate(self.images):
            self.list.item(i).setIcon(QIcon(QPixmap.fromImage(array_to_qimage(img)).scaled(size)))

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit_icons()

    def clear(self) -> None:
        """Forgets the batch (a new canvas, or a run of one image): a click can no longer bring an old one back."""
        self.images = None
        self.list.clear()
        self.hide()
