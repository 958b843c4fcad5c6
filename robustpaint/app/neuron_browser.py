"""The neuron browser: a dock of thumbnails of what each representation unit draws, searchable by unit or by a class
it feeds; a click picks the unit for feature painting. The thumbnails are drawn by the worker on first use.

Drawing all of a model's units takes minutes on a CPU, so the browser lists every unit at once (a blank square until
its picture comes; any unit can be picked meanwhile) and the worker draws a few units at a time in the order the
browser asks for: the units in view first, then those after them in the list, then the rest. Scrolling, resizing or
searching sends the new order; the units being drawn show a preview that sharpens until their picture is done.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (QComboBox, QDockWidget, QHBoxLayout, QLabel, QLineEdit, QListView, QListWidget,
                               QListWidgetItem, QVBoxLayout, QWidget)

from robustpaint.app.canvas import array_to_qimage

ICON_SIDE = 48
ORDER_DELAY_MS = 150  # a scroll's new order is sent once it pauses this long (not on every pixel of a drag)


class NeuronBrowser(QDockWidget):
    picked = Signal(int)  # a unit clicked
    wanted = Signal(str)  # the thumbnails of this model are needed (shown)
    not_wanted = Signal()  # hidden: the worker may stop drawing
    order = Signal(str, object)  # model name, the units not drawn yet in the order wanted (those in view first)

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
        self.list.setIconSize(QSize(ICON_SIDE, ICON_SIDE))
        self.list.setResizeMode(QListView.ResizeMode.Adjust)
        self.list.itemClicked.connect(lambda item: self.picked.emit(item.data(Qt.ItemDataRole.UserRole)))
        layout.addWidget(self.list)
        self.status = QLabel("")
        layout.addWidget(self.status)
        self.setWidget(panel)
        blank = QPixmap(ICON_SIDE, ICON_SIDE)
        blank.fill(QColor(200, 200, 200))
        self._blank = QIcon(blank)  # a unit whose picture has not come yet
        self.slots: dict[int, QListWidgetItem] = {}  # every unit listed, drawn or not
        self.items: dict[int, QListWidgetItem] = {}  # the units whose picture is done
        self.previewed: set[int] = set()  # units showing a preview (being drawn), not their picture yet
        self.classes: list[list[str]] = []  # per unit, the classes it feeds most
        self.model = ""  # the model whose thumbnails are shown ("" = none asked for)
        self.current_model = ""  # the model selected in the app
        self._worker: QObject | None = None  # the worker drawing for this browser, once it has answered
        self._order_timer = QTimer(self, singleShot=True, interval=ORDER_DELAY_MS)
        self._order_timer.timeout.connect(self._send_order)
        bar = self.list.verticalScrollBar()
        bar.valueChanged.connect(self._order_changed)
        bar.rangeChanged.connect(self._order_changed)  # resized, or items shown or hidden
        self.visibilityChanged.connect(self._on_visibility)

    # --- the worker ----------------------------------------------------------------------------------------

    def attach(self, worker: QObject) -> None:
        """Talks to `worker` (the app's SynthesisWorker, wired by the window) beyond `wanted`: its previews of the
        units being drawn, and the order the units are wanted in."""
        self._worker = worker
        self.order.connect(worker.prefer_neurons)
        worker.neurons_drawing.connect(self.add_previews)
        self._order_changed()

    # --- the model -----------------------------------------------------------------------------------------

    def set_model(self, name: str, neuron_classes: list[list[str]]) -> None:
        """The app's model changed (or its card arrived): an open browser shows that model's units."""
        self.current_model = name
        if name == self.model:
            self.classes = neuron_classes
            self._list_units(range(len(neuron_classes)))
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
            self.slots, self.items, self.previewed = {}, {}, set()
            self._list_units(range(len(neuron_classes)))
            self._show_status()
            self.wanted.emit(name)

    def _list_units(self, units) -> None:
        """Lists `units` not listed yet, each with a blank square until its picture comes."""
        new = [unit for unit in units if unit not in self.slots]
        classes = self.classes
        for unit in new:
            feeds = ", ".join(classes[unit][:2]) if unit < len(classes) else ""
            item = QListWidgetItem(self._blank, f"{unit}\n{feeds}")
            item.setData(Qt.ItemDataRole.UserRole, unit)
            self.slots[unit] = item
            self._describe(item, unit)
            self.list.addItem(item)
        if new:
            self._filter()

    def _describe(self, item: QListWidgetItem, unit: int) -> None:
        classes = self.classes
        feeds = ', '.join(classes[unit]) if unit < len(classes) else '?'
        state = ("" if unit in self.items else "; being drawn (a preview)" if unit in self.previewed
                 else "; not drawn yet (it can be picked all the same)")
        item.setToolTip(f"unit {unit}; feeds most: {feeds}{state}")

    # --- pictures from the worker --------------------------------------------------------------------------

    def add_thumbnails(self, name: str, thumbnails: dict) -> None:
        """Finished pictures {unit: H x W x 3 uint8} (cached ones at once, then a batch at a time)."""
        if name != self.model:
            return
        self._list_units(sorted(thumbnails))
        for unit, image in thumbnails.items():
            item = self.slots[unit]
            self.items[unit] = item
            if unit in self.previewed:
                self.previewed.discard(unit)
                item.setText(item.text().replace("…\n", "\n", 1))
            item.setIcon(_icon(image))
            self._describe(item, unit)
        self._show_status()
        self._order_changed()  # a new request (reopened), or those in view are done and make way for the next

    def add_previews(self, name: str, previews: dict) -> None:
        """The units being drawn, as they are now: shown until their finished picture comes."""
        if name != self.model:
            return
        self._list_units(sorted(previews))
        for unit, image in previews.items():
            if unit not in self.items:
                item = self.slots[unit]
                if unit not in self.previewed:
                    self.previewed.add(unit)
                    self._describe(item, unit)
                    item.setText(item.text().replace("\n", "…\n", 1))  # "12…": still being drawn
                item.setIcon(_icon(image))

    def _show_status(self) -> None:
        total = len(self.slots)
        if not total:
            self.status.setText("drawing the thumbnails in the background…")
            return
        text = f"{len(self.items)} of {total} units drawn"
        if len(self.items) < total:
            text += "; drawing the rest, those in view first"
        self.status.setText(text)

    # --- the order the units are wanted in -----------------------------------------------------------------

    def _order_changed(self) -> None:
        if self.model and self._worker is not None and len(self.items) < len(self.slots):
            self._order_timer.start()

    def wanted_order(self) -> list[int]:
        """The units not drawn yet, in the order to draw them: those in view, then those after them in the list
        (where a scroll goes next), then those before, then those the search hides."""
        rows = [self.list.item(row) for row in range(self.list.count())]
        shown = [item for item in rows if not item.isHidden()]
        viewport = self.list.viewport().rect()
        in_view = [i for i, item in enumerate(shown) if self.list.visualItemRect(item).intersects(viewport)]
        start, end = (in_view[0], in_view[-1] + 1) if in_view else (0, 0)
        ordered = shown[start:end] + shown[end:] + shown[:start] + [item for item in rows if item.isHidden()]
        units = (item.data(Qt.ItemDataRole.UserRole) for item in ordered)
        return [unit for unit in units if unit not in self.items]

    def _send_order(self) -> None:
        if self.model and self._worker is not None:
            order = self.wanted_order()
            if order:
                self.order.emit(self.model, order)

    # --- search --------------------------------------------------------------------------------------------

    def _filter(self) -> None:
        """Search by unit number or by a class the unit feeds; sort by unit or by how much it feeds that class."""
        text = self.search.text().strip().lower()
        classes = self.classes
        for unit, item in self.slots.items():
            feeds = classes[unit] if unit < len(classes) else []
            item.setHidden(bool(text) and text != str(unit) and not any(text in c.lower() for c in feeds))
        by_class = self.sort.currentIndex() == 1 and text

        def rank(unit):
            feeds = [c.lower() for c in (classes[unit] if unit < len(classes) else [])]
            position = next((i for i, c in enumerate(feeds) if text in c), len(feeds)) if by_class else 0
            return position, unit

        for row, unit in enumerate(sorted(self.slots, key=rank)):
            item = self.slots[unit]
            current = self.list.row(item)
            if current != row:
                self.list.insertItem(row, self.list.takeItem(current))
        self._order_changed()


def _icon(image: np.ndarray) -> QIcon:
    return QIcon(QPixmap.fromImage(array_to_qimage(image.astype(np.float32) / 255)))
