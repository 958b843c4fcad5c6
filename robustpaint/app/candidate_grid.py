"""The candidates of a batched generation, as a grid of thumbnails in a dock: a click takes one to the canvas."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSize, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import QDockWidget, QListView, QListWidget, QListWidgetItem

from robustpaint.app.canvas import array_to_qimage


class CandidateGrid(QDockWidget):
    chosen = Signal(int, bool)  # index, again (a click on the one already selected)

    def __init__(self, parent=None):
        super().__init__("Candidates", parent)
        self.setObjectName("candidates_dock")  # saveState keeps where it is by this name
        self.list = QListWidget()
        self.list.setViewMode(QListView.ViewMode.IconMode)
        self.list.setIconSize(QSize(128, 128))
        self.list.setResizeMode(QListView.ResizeMode.Adjust)
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
        size = self.list.iconSize()
        for i, img in enumerate(images):
            self.list.item(i).setIcon(QIcon(QPixmap.fromImage(array_to_qimage(img)).scaled(size)))
        self.show()
