"""The tool bar: painting tools, brush colour (foreground / background, a palette, recent colours), size ([ and ]),
opacity, the class region, the strength level and the fill's tolerance; `brush()` is the brush the current tool
paints with, `fill_options()` what the fill takes, and `outline_changed` tells the canvas the size of the brush
outline that follows the pointer."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QColor, QIcon, QKeySequence, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (QCheckBox, QColorDialog, QComboBox, QGridLayout, QHBoxLayout, QLabel, QPushButton,
                               QSpinBox, QToolBar, QVBoxLayout, QWidget)

from robustpaint.core.classmap import PALETTE, PALETTE_NAMES
from robustpaint.core.document import Brush
from robustpaint.core.fill import DEFAULT_TOLERANCE
from robustpaint.core.project import REGION_SLOTS

TOOLS = (("brush", "B"), ("eraser", "E"), ("line", "L"), ("mask", "M"), ("unmask", "Shift+M"), ("fill", "F"),
         ("picker", "I"), ("regions", "R"), ("strength", "S"))
TOOL_LABELS = {"picker": "Colour picker", "regions": "Class regions", "strength": "Strength"}
# What each tool does, after its name and key in the tooltip, and in the status bar while the pointer is on it.
TOOL_TIPS = {
    "brush": "paints the brush colour",
    "eraser": "brings back the drawing or photo under the result (the one the run started from, K shows it); "
              "white where there is none, and on the drawing itself",
    "line": "a straight line from press to release",
    "mask": "marks the part a run may repaint (Inpaint)",
    "unmask": "takes the mask away",
    "fill": "fills the area of colours near the one clicked (Tolerance), and the soft edges of the lines around it",
    "picker": "takes the colour under the pointer as the brush colour",
    "regions": "paints where a class should appear (Class map)",
    "strength": "paints how much a run may change the pixels",
}
BRUSH_TARGETS = {"brush": "image", "eraser": "erase", "mask": "mask", "unmask": "mask", "regions": "regions",
                 "strength": "strength"}
RECENT_COLORS = 8
# A painter's palette, one click each: grays, then the hues of a basic set, then earth and skin tones.
SWATCHES = ("#000000", "#555555", "#aaaaaa", "#ffffff", "#e03030", "#f08020", "#f0d020", "#40b040",
            "#208080", "#3070e0", "#8040c0", "#e060a0", "#704020", "#b08050", "#e8c0a0", "#a0d0f0")
SIZE_STEP = 1.25  # [ and ] shrink and grow the brush by this factor (at least one pixel)


def default_brush_size(side: int) -> int:
    """A brush of about 1/16 of the canvas side (2 px at 32, 8 px at 128): a stroke reads at any size."""
    return max(2, round(side / 16))


def tool_icon(name: str) -> QIcon:
    """A small drawn icon per tool (no icon theme is needed on any platform)."""
    pixmap = QPixmap(24, 24)
    pixmap.fill(Qt.GlobalColor.transparent)
    p = QPainter(pixmap)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setPen(QPen(QColor(40, 40, 40), 2))
    if name == "brush":
        p.setBrush(QColor(40, 40, 40))
        p.drawEllipse(QPointF(12, 12), 6, 6)
    elif name == "eraser":
        p.setBrush(QColor(250, 250, 250))
        p.drawRect(QRectF(5, 7, 14, 10))
    elif name == "line":
        p.drawLine(QPointF(4, 20), QPointF(20, 4))
    elif name in ("mask", "unmask"):
        p.setBrush(QColor(230, 40, 40, 200) if name == "mask" else Qt.BrushStyle.NoBrush)
        p.setPen(QPen(QColor(200, 30, 30), 2))
        p.drawRect(QRectF(5, 5, 14, 14))
    elif name == "fill":
        p.setBrush(QColor(60, 120, 220))
        p.drawPolygon([QPointF(4, 12), QPointF(12, 4), QPointF(20, 12), QPointF(12, 20)])
    elif name == "picker":
        p.drawEllipse(QPointF(12, 12), 6, 6)
        p.drawLine(QPointF(12, 2), QPointF(12, 22))
        p.drawLine(QPointF(2, 12), QPointF(22, 12))
    elif name == "regions":
        for i, (x, y) in enumerate(((4, 4), (12, 4), (4, 12), (12, 12))):
            p.fillRect(QRectF(x, y, 8, 8), QColor(*PALETTE[i]))
    elif name == "strength":
        for i in range(16):
            p.fillRect(QRectF(4 + i, 6, 1, 12), QColor(16 * i, 16 * i, 16 * i))
    p.end()
    return QIcon(pixmap)


# a palette or recent colour's button
SMALL_SWATCH = "background-color: {}; min-width: 12px; max-width: 12px; min-height: 12px; max-height: 12px;"


class ToolBar(QToolBar):
    outline_changed = Signal(float)  # the brush's diameter in image pixels, 0 for tools that do not paint

    def __init__(self, parent, side: int):
        super().__init__("Tools", parent)
        self.setObjectName("tools_toolbar")  # saveState keeps where it is by this name
        self.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        group = QActionGroup(self)
        self.actions_by_tool: dict[str, QAction] = {}
        for name, key in TOOLS:
            label = TOOL_LABELS.get(name, name.capitalize())
            action = QAction(tool_icon(name), label, self, checkable=True, shortcut=QKeySequence(key))
            action.setToolTip(f"{label} ({key}): {TOOL_TIPS[name]}")
            action.setStatusTip(f"{label}: {TOOL_TIPS[name]}")
            group.addAction(action)
            self.addAction(action)
            self.actions_by_tool[name] = action
        self.actions_by_tool["brush"].setChecked(True)
        # Foreground / background swatches (X swaps them) and the last colours used, one click each.
        self.brush_color, self.background_color = QColor(0, 0, 0), QColor(255, 255, 255)
        self.recent_colors: list[QColor] = []
        self.fg_button = QPushButton(toolTip="brush colour (click to choose)")
        self.fg_button.clicked.connect(self._choose_color)
        self.bg_button = QPushButton(toolTip="background colour (X swaps the two)")
        self.bg_button.clicked.connect(self.swap_colors)
        swatches = QWidget()
        swatch_row = QHBoxLayout(swatches)
        swatch_row.setContentsMargins(0, 0, 0, 0)
        swatch_row.addWidget(self.fg_button)
        swatch_row.addWidget(self.bg_button)
        self.addWidget(swatches)
        swap = QAction("Swap colours", self, shortcut=QKeySequence("X"))
        swap.triggered.connect(self.swap_colors)
        parent.addAction(swap)
        self.recent_row = QWidget()
        self.recent_layout = QHBoxLayout(self.recent_row)
        self.recent_layout.setContentsMargins(0, 0, 0, 0)
        self.recent_layout.setSpacing(2)
        probe = QPushButton()
        probe.setStyleSheet(SMALL_SWATCH.format("white"))
        self.recent_row.setFixedHeight(probe.sizeHint().height())  # room kept: the first pick moves nothing below
        self.recent_row.setToolTip("recent colours")
        self.addWidget(self.recent_row)
        palette = QWidget()
        grid = QGridLayout(palette)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(2)
        self.swatches = []
        for i, name in enumerate(SWATCHES):
            button = QPushButton(toolTip=name)
            button.setStyleSheet(SMALL_SWATCH.format(name))
            button.clicked.connect(lambda _=False, c=QColor(name): self.set_brush_color(c))
            grid.addWidget(button, i // 8, i % 8)
            self.swatches.append(button)
        self.addWidget(palette)
        self.addWidget(QLabel("Size"))
        self.brush_size = QSpinBox(minimum=1, maximum=128, value=default_brush_size(side),
                                   toolTip="brush size in image pixels")
        self.addWidget(self.brush_size)
        for key, factor in (("[", 1 / SIZE_STEP), ("]", SIZE_STEP)):
            action = QAction(f"{'Smaller' if key == '[' else 'Larger'} brush", self, shortcut=QKeySequence(key))
            action.triggered.connect(lambda _=False, f=factor: self.scale_brush(f))
            parent.addAction(action)
        self.addWidget(QLabel("Hardness"))
        self.brush_hardness = QSpinBox(minimum=0, maximum=100, value=100, suffix="%",
                                       toolTip="the brush's edge: 100% hard, lower fades it out over more of its "
                                               "radius")
        self.addWidget(self.brush_hardness)
        self.addWidget(QLabel("Opacity"))
        self.brush_opacity = QSpinBox(minimum=5, maximum=100, value=100, suffix="%", toolTip="brush opacity")
        self.addWidget(self.brush_opacity)
        self.region_slot = QComboBox(toolTip="the class-regions brush paints this region (its class is set in the "
                                             "panel)")
        for i in range(REGION_SLOTS):
            self.region_slot.addItem(f"region {i + 1} ({PALETTE_NAMES[i]})", i)
            self.region_slot.setItemData(i, QColor(*PALETTE[i]), Qt.ItemDataRole.DecorationRole)
        self.region_slot.addItem("no class (erase regions)", -1)
        self.strength_level = QSpinBox(minimum=0, maximum=100, value=0, suffix="%",
                                       toolTip="the strength brush sets how much the pixels may change: 0% protects "
                                               "them, 100% frees them")
        # The fill's options, as GIMP's threshold and Krita's "fill soft edges" (core/fill.py).
        self.fill_tolerance = QSpinBox(
            minimum=0, maximum=100, value=round(DEFAULT_TOLERANCE * 100), suffix="%",
            toolTip="how far a colour may be from the one clicked and still be filled (the largest difference in "
                    "any of red, green and blue): 0% takes only that colour, 100% everything")
        self.fill_soft_edges = QCheckBox(
            "Soft edges", checked=True,
            toolTip="also fills under the soft edge of the lines around the area, by how much of each pixel is the "
                    "colour clicked, so no pale seam stays between a soft stroke and the fill")
        fill_options = QWidget()
        fill_row = QHBoxLayout(fill_options)
        fill_row.setContentsMargins(0, 0, 0, 0)
        fill_row.addWidget(self.fill_tolerance)
        fill_row.addWidget(self.fill_soft_edges)
        # Each tool's own setting shows, labelled, only while that tool is chosen.
        self.tool_settings = {"regions": self.addWidget(_labelled("Region", self.region_slot)),
                              "strength": self.addWidget(_labelled("Free to change", self.strength_level)),
                              "fill": self.addWidget(_labelled("Tolerance", fill_options))}
        for action in self.actions_by_tool.values():
            action.toggled.connect(self._show_tool_settings)
        self.brush_size.valueChanged.connect(self._tell_outline)
        self._show_tool_settings()
        self._show_colors()

    def _show_tool_settings(self) -> None:
        for tool, action in self.tool_settings.items():
            action.setVisible(self.tool == tool)
        self._tell_outline()

    def _tell_outline(self) -> None:
        self.outline_changed.emit(0.0 if self.tool in ("fill", "picker") else float(self.brush_size.value()))

    def scale_brush(self, factor: float) -> None:
        """[ and ]: a size step that feels the same at 2 px and at 100 (at least one pixel either way)."""
        size = self.brush_size.value()
        new = round(size * factor)
        self.brush_size.setValue(new if new != size else size + (1 if factor > 1 else -1))

    @property
    def tool(self) -> str:
        return next(name for name, a in self.actions_by_tool.items() if a.isChecked())

    def brush(self) -> Brush:
        tool = self.tool
        color = (self.brush_color.redF(), self.brush_color.greenF(), self.brush_color.blueF())
        value = 1.0
        if tool == "regions":
            value = float(self.region_slot.currentData())
        elif tool == "strength":
            value = self.strength_level.value() / 100
        return Brush(size=self.brush_size.value(), color=color, opacity=self.brush_opacity.value() / 100,
                     hardness=self.brush_hardness.value() / 100,
                     target=BRUSH_TARGETS.get(tool, "image"),
                     clear=tool == "unmask" or (tool == "regions" and value < 0), value=value)

    def fill_options(self) -> dict:
        """The fill tool's settings, as `Document.fill` takes them."""
        return {"tolerance": self.fill_tolerance.value() / 100, "soft_edges": self.fill_soft_edges.isChecked()}

    def _choose_color(self) -> None:
        color = QColorDialog.getColor(self.brush_color, self)
        if color.isValid():
            self.set_brush_color(color)

    def set_brush_color(self, color: QColor) -> None:
        """The brush colour, remembered among the recent ones (newest first) that the toolbar offers."""
        self.brush_color = QColor(color)
        self.recent_colors = [c for c in self.recent_colors if c.rgb() != color.rgb()]
        self.recent_colors.insert(0, QColor(color))
        del self.recent_colors[RECENT_COLORS:]
        self._show_colors()

    def swap_colors(self) -> None:
        self.brush_color, self.background_color = self.background_color, self.brush_color
        self._show_colors()

    def _show_colors(self) -> None:
        for button, color in ((self.fg_button, self.brush_color), (self.bg_button, self.background_color)):
            button.setStyleSheet(f"background-color: {color.name()}; min-width: 22px; max-width: 22px;")
        while self.recent_layout.count():
            self.recent_layout.takeAt(0).widget().deleteLater()
        for color in self.recent_colors:
            button = QPushButton(toolTip=color.name())
            button.setStyleSheet(SMALL_SWATCH.format(color.name()))
            button.clicked.connect(lambda _=False, c=color: self.set_brush_color(c))
            self.recent_layout.addWidget(button)


def _labelled(label: str, field: QWidget) -> QWidget:
    """`field` under its label, as one tool-bar item."""
    box = QWidget()
    column = QVBoxLayout(box)
    column.setContentsMargins(0, 0, 0, 0)
    column.addWidget(QLabel(label))
    column.addWidget(field)
    return box


class ShortcutsOverNumberFields(QObject):
    """Lets the tool and run shortcuts through a focused number field (a spin box takes only digits, so a letter,
    Space or Ctrl+Z typed there is meant for the app): without it, clicking the brush size kills B/E/M, Space and
    undo until the canvas is clicked."""

    def eventFilter(self, watched, event) -> bool:
        if event.type() != QEvent.Type.ShortcutOverride:
            return False
        key, mods = event.key(), event.modifiers()
        letter = Qt.Key.Key_A <= key <= Qt.Key.Key_Z and not mods & (Qt.KeyboardModifier.ControlModifier
                                                                    | Qt.KeyboardModifier.AltModifier)
        undo = key == Qt.Key.Key_Z and mods & Qt.KeyboardModifier.ControlModifier
        if letter or undo or key == Qt.Key.Key_Space:
            event.ignore()  # not taken by the field: the shortcut map handles the key
            return True
        return False
