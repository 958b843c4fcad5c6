"""The neuron browser: a dock of thumbnails of what each representation unit draws, searchable by unit or by a class
it feeds; a click picks the unit for feature painting. The thumbnails are drawn by the worker on first use."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (QComboBox, QDockWidget, QHBoxLayout, QLabel, QLineEdit, QListView, QListWidget,
                               QListWidgetItem, QVBoxLayout, QWidget)

from robustpaint.app.canvas import array_to_qimage


class NeuronBrowser(QDockWidget):
    picked = Signal(int)  # a unit clicked
    wanted = Signal(str)  # the thumbnails of this model are needed (shown)
    not_wanted = Signal()  # hidden: the worker may stop drawing

    def __init__(self, parent=None):
        super().__init__("Neurons", parent)
        self.setObjectName("neurons_dock")  # saveState keeps where it is by this name
        panel = QWidget()
        layout = QVBoxLayout(panel)
        controls = QHBoxLayout()
        self.search = QLineEdit(placeholderText="unit number or class, e.g. 'cat'")
        self.search.textChanged.connect(self._filter)
        self.sort = QComboBox()
        self.sort.addItems(["by unit", "by the class searched for"])
        self.sort.currentIndexChanged.connect(self._filter)
        controls.addWidget(self.search, 1)
        controls.addWidget(self.sort)
        layout.addLayout(controls)
        self.list = QListWidget()
        self.list.setViewMode(QListView.ViewMode.IconMode)
        self.list.setIconSize(QSize(48, 48))
        self.list.setResizeMode(QListView.ResizeMode.Adjust)
        self.list.itemClicked.connect(lambda item: self.picked.emit(item.data(Qt.ItemDataRole.UserRole)))
        layout.addWidget(self.list)
        self.status = QLabel("")
        layout.addWidget(self.status)
        self.setWidget(panel)
        self.items: dict[int, QListWidgetItem] = {}
        self.classes: list[list[str]] = []  # per unit, the classes it feeds most
        self.model = ""  # the model whose thumbnails are shown ("" = none asked for)
        self.current_model = ""  # the model selected in the app
        self.visibilityChanged.connect(self._on_visibility)

    def set_model(self, name: str, neuron_classes: list[list[str]]) -> None:
        """The app's model changed (or its card arrived): an open browser shows that model's units."""
        self.current_model = name
        if name == self.model:
            self.classes = neuron_classes
        elif self.isVisible():
            self._ask(name, neuron_classes)
        else:
            self.classes = neuron_classes

    def open(self) -> None:
        self.show()
        self._ask(self.current_model, self.classes)

    def _on_visibility(self, visible: bool) -> None:
        """Hiding the browser (closed, minimised, tabbed away) stops its background work; showing it again continues
        from the cache."""
        if visible:
            self._ask(self.current_model, self.classes)
        elif self.model:
            self.not_wanted.emit()
            self.model = ""  # the next showing asks again (drawn thumbnails come from the cache)

    def _ask(self, name: str, neuron_classes: list[list[str]]) -> None:
        if name and name != self.model:
            self.model, self.classes = name, neuron_classes
            self.list.clear()
            self.items = {}
            self.status.setText("drawing the thumbnails in the background…")
            self.wanted.emit(name)

    def add_thumbnails(self, name: str, thumbnails: dict) -> None:
        if name != self.model:
            return
        classes = self.classes
        for unit, image in thumbnails.items():
            item = self.items.get(unit)
            if item is None:
                feeds = ", ".join(classes[unit][:2]) if unit < len(classes) else ""
                item = QListWidgetItem(f"{unit}\n{feeds}")
                item.setData(Qt.ItemDataRole.UserRole, unit)
                item.setToolTip(f"unit {unit}; feeds most: {', '.join(classes[unit]) if unit < len(classes) else '?'}")
                self.items[unit] = item
                self.list.addItem(item)
            item.setIcon(QIcon(QPixmap.fromImage(array_to_qimage(image.astype(np.float32) / 255))))
        total = len(classes) or len(self.items)
        self.status.setText(f"{len(self.items)} of {total} units drawn")
        self._filter()

    def _filter(self) -> None:
        """Search by unit number or by a class the unit feeds; sort by unit or by how much it feeds that class."""
        text = self.search.text().strip().lower()
        classes = self.classes
        for unit, item in self.items.items():
            feeds = classes[unit] if unit < len(classes) else []
            item.setHidden(bool(text) and text != str(unit) and not any(text in c.lower() for c in feeds))
        by_class = self.sort.currentIndex() == 1 and text

        def rank(unit):
            feeds = [c.lower() for c in (classes[unit] if unit < len(classes) else [])]
            position = next((i for i, c in enumerate(feeds) if text in c), len(feeds)) if by_class else 0
            return position, unit

        for row, unit in enumerate(sorted(self.items, key=rank)):
            item = self.items[unit]
            current = self.list.row(item)
            if current != row:
                self.list.insertItem(row, self.list.takeItem(current))
