"""The main window: canvas, tools, task and parameter panels, live class readout, and the worker bridge."""

from __future__ import annotations

import time

import numpy as np
from PySide6.QtCore import QEvent, QObject, QThread, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QActionGroup, QColor, QKeySequence, QUndoCommand, QUndoStack
from PySide6.QtWidgets import (QCheckBox, QColorDialog, QComboBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel,
                               QMainWindow, QMessageBox, QProgressBar, QPushButton, QSpinBox, QToolBar, QVBoxLayout,
                               QWidget)
from superqt import QLabeledDoubleSlider, QLabeledSlider, QSearchableComboBox

from robustpaint.app.canvas import Canvas, array_to_qimage, overlay_rgba
from robustpaint.app.worker import Job, SynthesisWorker
from robustpaint.core.document import Brush, Document
from robustpaint.core.models.checkpoint import accuracy_summary
from robustpaint.core.tasks import PHOTO_MODEL_SIDE, preset_values

TASK_LABELS = {"generate": "Generate", "sketch": "Sketch to image", "inpaint": "Inpaint",
               "translate": "Translate", "superres": "Super-resolve", "paint": "Feature paint",
               "classmap": "Class map (regions)"}
FEATURE_SLIDERS = 3
TASK_PARAMETERS = {  # which parameter rows each task shows
    "generate": {"class", "eps", "step", "steps", "seed", "candidates", "temperature", "mix"},
    "sketch": {"class", "eps", "step", "steps"},
    "inpaint": {"class", "eps", "step", "steps", "lam"},
    "translate": {"class", "keep", "eps", "step", "steps"},
    "superres": {"eps", "step", "steps", "factor"},
    "paint": {"neuron", "eps", "step", "steps", "lam"},
    "classmap": {"regions", "eps", "step", "steps"},
}
# A stroke with Live on restarts the run only when the selected task reads what the stroke changed.
STROKE_TARGETS_READ = {"image": {"sketch", "inpaint", "translate", "superres", "paint", "classmap"},
                       "erase": {"sketch", "inpaint", "translate", "superres", "paint", "classmap"},
                       "mask": {"inpaint", "paint"}, "regions": {"classmap"}, "strength": set(TASK_PARAMETERS)}
REGION_SLOTS = 4  # classes a class map can hold in the app (the palette's first colours)
TIMELINE_EVERY = 5  # keep every 5th iterate of a run for the timeline


def _card_input_size(model_name: str) -> int:
    """The input side a model's card gives (32 when the model or its card cannot be read: loading it reports why)."""
    import json

    from robustpaint.core.errors import RobustPaintError
    from robustpaint.core.models.store import find_model
    try:
        size = json.loads(find_model(model_name).card_path.read_text("utf-8")).get("input_size", 32)
    except (RobustPaintError, OSError, ValueError, AttributeError):
        return 32
    return size if isinstance(size, int) and 8 <= size <= 1024 else 32


ARCH_WORDS = {"resnet18": "ResNet-18", "resnet50": "ResNet-50", "resnet9": "ResNet-9", "mobilenet_v2": "MobileNetV2",
              "imagenet_resnet18": "ResNet-18", "imagenet_resnet50": "ResNet-50"}


def card_in_words(card: dict) -> str:
    """The model card as a sentence ("robust ResNet-18 trained on Imagenette at 128 px; 84% of test images right,
    57% under attack"); the technical line goes in the tooltip."""
    kind = "robust" if card.get("robust") else "standard"
    dataset = str(card.get("dataset", "?")).split(" ")[0].removesuffix(".tar.gz")
    dataset = {"imagenette": "Imagenette", "cifar10": "CIFAR-10"}.get(dataset, dataset)
    text = (f"{kind} {ARCH_WORDS.get(card.get('arch'), card.get('arch'))} trained on {dataset} at "
            f"{card.get('input_size', 32)} px")
    evaluation = (card.get("evaluations") or [{}])[-1]
    if isinstance(evaluation.get("clean_accuracy"), (int, float)):
        text += f"; {evaluation['clean_accuracy']:.0%} of test images right"
        if isinstance(evaluation.get("robust_accuracy"), (int, float)):
            text += f", {evaluation['robust_accuracy']:.0%} under attack"
    return text


def default_brush_size(side: int) -> int:
    """A brush of about 1/16 of the canvas side (2 px at 32, 8 px at 128): a stroke reads at any size."""
    return max(2, round(side / 16))


def _tool_icon(name: str):
    """A small drawn icon per tool (no icon theme is needed on any platform)."""
    from PySide6.QtCore import QPointF, QRectF
    from PySide6.QtGui import QIcon, QPainter, QPen, QPixmap
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
        from robustpaint.core.classmap import PALETTE
        for i, (x, y) in enumerate(((4, 4), (12, 4), (4, 12), (12, 12))):
            p.fillRect(QRectF(x, y, 8, 8), QColor(*PALETTE[i]))
    elif name == "strength":
        for i in range(16):
            p.fillRect(QRectF(4 + i, 6, 1, 12), QColor(16 * i, 16 * i, 16 * i))
    p.end()
    return QIcon(pixmap)


class _ShortcutsOverNumberFields(QObject):
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


class _StateCommand(QUndoCommand):
    """One undo step: the document's state before and after a stroke or a run (already applied when pushed)."""

    def __init__(self, window: "MainWindow", before, after, text: str):
        super().__init__(text)
        self.window, self.before, self.after, self._first = window, before, after, True

    def redo(self) -> None:
        if self._first:
            self._first = False
            return
        self.window.document.restore(self.after)
        self.window.refresh_canvas()

    def undo(self) -> None:
        self.window.document.restore(self.before)
        self.window.refresh_canvas()


class MainWindow(QMainWindow):
    submit_job = Signal(object)
    pause_worker = Signal()
    resume_worker = Signal()
    step_worker = Signal()
    stop_worker = Signal()
    dispose_worker = Signal()
    load_model = Signal(str)
    request_neurons = Signal(str)
    cancel_neurons = Signal()
    request_classify = Signal(int, str, object)  # request id, model name, image
    run_finished = Signal(int)  # emitted on the GUI thread once a run's last image is on the canvas
    image_updated = Signal(int)  # step number, emitted on the GUI thread after each live update

    def __init__(self, model_name: str | None = None):
        super().__init__()
        from robustpaint.core.models.store import DEFAULT_MODEL, list_models

        self.setWindowTitle("RobustPaint")
        # The canvas starts at the model's size (read from its card, before the worker has loaded the weights).
        self.document = Document.blank(_card_input_size(model_name or DEFAULT_MODEL))
        self.undo_stack = QUndoStack(self)
        # Bounded memory in long sessions: each step holds two states (about 0.7 MB at 128 px, 2.1 MB at 224).
        self.undo_stack.setUndoLimit(200)
        self.brush_color = QColor(0, 0, 0)
        self.job_id = 0
        self.running = False
        self.run_before = None
        self.last_recipe: dict | None = None
        self.cards: dict[str, dict] = {}
        self.longest_stall_ms = 0.0
        self.updates = 0
        self._stroke_before = None

        self.canvas = Canvas()
        self.canvas.stroke_moved.connect(self._on_stroke_moved)
        self.canvas.stroke_finished.connect(self._on_stroke_finished)
        self.setCentralWidget(self.canvas)
        self._build_tools()
        self._show_colors()
        # Evaluators are standard classifiers kept for scoring: their gradients paint noise, so they are not offered.
        names = [e.name for e in list_models() if e.role != "evaluator" or e.name == model_name]
        self._build_panel(names, model_name or DEFAULT_MODEL)
        self._build_menus()

        self.thread = QThread(self)
        self.worker = SynthesisWorker()
        self.worker.moveToThread(self.thread)
        self.thread.finished.connect(self.worker.deleteLater)
        self.submit_job.connect(self.worker.submit)
        self.pause_worker.connect(self.worker.pause)
        self.resume_worker.connect(self.worker.resume)
        self.step_worker.connect(self.worker.single_step)
        self.stop_worker.connect(self.worker.stop)
        self.dispose_worker.connect(self.worker.dispose)
        self.load_model.connect(self.worker.load_model)
        self.worker.stepped.connect(self._on_stepped)
        self.worker.finished.connect(self._on_finished)
        self.worker.failed.connect(self._on_failed)
        self.worker.model_ready.connect(self._on_model_ready)
        self.worker.neurons_ready.connect(self._on_neurons_ready)
        self.request_neurons.connect(self.worker.request_neurons)
        self.cancel_neurons.connect(self.worker.cancel_neurons)
        self.request_classify.connect(self.worker.classify)
        self.worker.classified.connect(self._on_classified)
        self.thread.start()
        if self.model_combo.count():
            self.load_model.emit(self.model_combo.currentText())
        self._on_task_changed()
        self.refresh_canvas()
        from PySide6.QtWidgets import QAbstractSpinBox
        self._shortcut_filter = _ShortcutsOverNumberFields(self)
        for field in self.findChildren(QAbstractSpinBox):
            field.installEventFilter(self._shortcut_filter)
            if field.lineEdit() is not None:
                field.lineEdit().installEventFilter(self._shortcut_filter)
        self.canvas.setFocus()  # the canvas, not the first spin box, takes the keys at start
        self.project_path: str | None = None
        self.last_folder = ""  # where the file dialogs open (the app keeps it between sessions)
        self.recent_files: list[str] = []  # newest first (the app keeps them between sessions)
        self.ask_before_closing = False  # the app turns this on; tests close windows without a dialog
        self._autosaved_index = 0
        self.undo_stack.cleanChanged.connect(self._update_title)
        self.undo_stack.indexChanged.connect(self._update_title)
        self._update_title()
        self.autosave_timer = QTimer(self)
        self.autosave_timer.setInterval(30_000)
        self.autosave_timer.timeout.connect(self.autosave)
        self.autosave_timer.start()

    # --- building the window -------------------------------------------------------------------------------

    def _build_tools(self) -> None:
        bar = QToolBar("Tools", self)
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.addToolBar(Qt.ToolBarArea.LeftToolBarArea, bar)
        group = QActionGroup(self)
        self.tool_actions = {}
        for name, key in (("brush", "B"), ("eraser", "E"), ("line", "L"), ("mask", "M"), ("unmask", "Shift+M"),
                          ("fill", "F"), ("picker", "I"), ("regions", "R"), ("strength", "S")):
            label = {"picker": "Colour picker", "regions": "Class regions", "strength": "Strength"}.get(
                name, name.capitalize())
            action = QAction(_tool_icon(name), label, self, checkable=True, shortcut=QKeySequence(key))
            action.setToolTip(f"{label} ({key})")
            group.addAction(action)
            bar.addAction(action)
            self.tool_actions[name] = action
        self.tool_actions["brush"].setChecked(True)
        # Foreground / background swatches (X swaps them) and the last colours used, one click each.
        self.background_color = QColor(255, 255, 255)
        self.recent_colors: list[QColor] = []
        self.fg_button = QPushButton()
        self.fg_button.setToolTip("brush colour (click to choose)")
        self.fg_button.clicked.connect(self._choose_color)
        self.bg_button = QPushButton()
        self.bg_button.setToolTip("background colour (X swaps the two)")
        self.bg_button.clicked.connect(self.swap_colors)
        swatches = QWidget()
        swatch_row = QHBoxLayout(swatches)
        swatch_row.setContentsMargins(0, 0, 0, 0)
        swatch_row.addWidget(self.fg_button)
        swatch_row.addWidget(self.bg_button)
        bar.addWidget(swatches)
        swap = QAction("Swap colours", self, shortcut=QKeySequence("X"))
        swap.triggered.connect(self.swap_colors)
        self.addAction(swap)
        self.recent_row = QWidget()
        self.recent_layout = QHBoxLayout(self.recent_row)
        self.recent_layout.setContentsMargins(0, 0, 0, 0)
        self.recent_layout.setSpacing(2)
        bar.addWidget(self.recent_row)
        bar.addWidget(QLabel("Size"))
        self.brush_size = QSpinBox(minimum=1, maximum=128, value=default_brush_size(self.document.size[1]))
        self.brush_size.setToolTip("brush size in image pixels")
        bar.addWidget(self.brush_size)
        bar.addWidget(QLabel("Opacity"))
        self.brush_opacity = QSpinBox(minimum=5, maximum=100, value=100, suffix="%")
        self.brush_opacity.setToolTip("brush opacity")
        bar.addWidget(self.brush_opacity)
        from robustpaint.core.classmap import PALETTE, PALETTE_NAMES
        self.region_slot = QComboBox()
        for i in range(REGION_SLOTS):
            self.region_slot.addItem(f"region {i + 1} ({PALETTE_NAMES[i]})", i)
            self.region_slot.setItemData(i, QColor(*PALETTE[i]), Qt.ItemDataRole.DecorationRole)
        self.region_slot.addItem("no class (erase regions)", -1)
        self.region_slot.setToolTip("the class-regions brush paints this region (its class is set in the panel)")
        bar.addWidget(self.region_slot)
        self.strength_level = QSpinBox(minimum=0, maximum=100, value=0, suffix="% free")
        self.strength_level.setToolTip("the strength brush sets how much the pixels may change: 0% protects them, "
                                       "100% frees them")
        bar.addWidget(self.strength_level)

    def _build_panel(self, models: list[str], model_name: str) -> None:
        from PySide6.QtWidgets import QDockWidget

        panel = QWidget()
        form = QFormLayout(panel)
        self.model_combo = QComboBox()
        self.model_combo.addItems(models)
        if model_name in models:
            self.model_combo.setCurrentText(model_name)
        self.model_combo.currentTextChanged.connect(lambda name: self.load_model.emit(name))
        form.addRow("Model", self.model_combo)
        self.card_label = QLabel("no model" if not models else "loading…")
        self.card_label.setWordWrap(True)
        form.addRow(self.card_label)
        self.task_combo = QComboBox()
        for key, label in TASK_LABELS.items():
            self.task_combo.addItem(label, key)
        self.task_combo.currentIndexChanged.connect(self._on_task_changed)
        form.addRow("Task", self.task_combo)
        self.class_combo = QSearchableComboBox()  # type to search (1000 classes for ImageNet models)
        features = QWidget()  # the feature sliders: up to three neurons, each with a strength (negative suppresses)
        features_layout = QVBoxLayout(features)
        features_layout.setContentsMargins(0, 0, 0, 0)
        self.feature_rows = []
        for i in range(FEATURE_SLIDERS):
            spin = QSpinBox(minimum=0, maximum=4095, value=i)
            spin.setToolTip("representation unit (see the strongest classes it feeds on the right)")
            strength = QLabeledDoubleSlider(Qt.Orientation.Horizontal)
            strength.setRange(-2.0, 2.0)
            strength.setValue(1.0 if i == 0 else 0.0)
            strength.setToolTip("strength: > 0 adds the feature, < 0 suppresses it, 0 leaves this neuron out")
            label = QLabel("")
            row = QHBoxLayout()
            row.addWidget(spin)
            row.addWidget(strength, 1)
            features_layout.addLayout(row)
            features_layout.addWidget(label)
            spin.valueChanged.connect(self._update_neuron_labels)
            spin.valueChanged.connect(self._on_parameter_changed)
            strength.valueChanged.connect(self._on_parameter_changed)
            self.feature_rows.append((spin, strength, label))
        self.neuron_spin = self.feature_rows[0][0]
        regions = QWidget()  # the class of each region colour
        regions_layout = QFormLayout(regions)
        regions_layout.setContentsMargins(0, 0, 0, 0)
        self.region_class_combos = []
        from robustpaint.core.classmap import PALETTE_NAMES
        for i in range(REGION_SLOTS):
            combo = QSearchableComboBox()
            regions_layout.addRow(PALETTE_NAMES[i], combo)
            combo.currentIndexChanged.connect(self._on_parameter_changed)
            self.region_class_combos.append(combo)
        self.temperature_slider = QLabeledDoubleSlider(Qt.Orientation.Horizontal)
        self.temperature_slider.setRange(0.0, 2.0)
        self.temperature_slider.setValue(1.0)
        self.temperature_slider.setToolTip("seed temperature: 0 = the class mean, 1 = as varied as the data")
        mix = QWidget()
        mix_layout = QHBoxLayout(mix)
        mix_layout.setContentsMargins(0, 0, 0, 0)
        self.mix_combo = QSearchableComboBox()
        self.mix_weight = QLabeledDoubleSlider(Qt.Orientation.Horizontal)
        self.mix_weight.setRange(0.0, 1.0)
        self.mix_weight.setValue(0.5)
        self.mix_combo.setToolTip("blend the seed with another class's (e.g. half cat, half dog)")
        mix_layout.addWidget(self.mix_combo)
        mix_layout.addWidget(self.mix_weight, 1)
        self.candidates_spin = QSpinBox(minimum=1, maximum=16, value=1)
        self.candidates_spin.setToolTip("generate this many samples at once (batched) and pick one from the grid")
        self.eps_slider = QLabeledDoubleSlider(Qt.Orientation.Horizontal)
        self.eps_slider.setRange(0.0, 120.0)
        self.step_slider = QLabeledDoubleSlider(Qt.Orientation.Horizontal)
        self.step_slider.setRange(0.01, 2.0)
        self.steps_slider = QLabeledSlider(Qt.Orientation.Horizontal)
        self.steps_slider.setRange(1, 1000)
        self.lam_slider = QLabeledDoubleSlider(Qt.Orientation.Horizontal)
        self.lam_slider.setRange(0.0, 200.0)
        self.seed_spin = QSpinBox(minimum=0, maximum=2**31 - 1)
        self.keep_photo_check = QCheckBox("Keep the photo's layout")
        self.keep_photo_check.setToolTip("a small ball: the result keeps the source photo and still reads as the "
                                         "target class (off: the paper's wide ball, free to leave the photo behind)")
        self.keep_photo_check.setChecked(True)
        self.keep_photo_check.toggled.connect(self.apply_preset)
        self.factor_combo = QComboBox()  # factors that divide the canvas (32 and 128 pixels both)
        self.factor_combo.addItems(["2", "4", "8"])
        self.factor_combo.currentIndexChanged.connect(self.apply_preset)  # the radius depends on the factor
        self.rows = {"class": ("Class", self.class_combo), "neuron": ("Features", features),
                     "candidates": ("Candidates", self.candidates_spin), "regions": ("Region classes", regions),
                     "temperature": ("Temperature", self.temperature_slider), "mix": ("Mix with", mix),
                     "eps": ("Epsilon", self.eps_slider), "step": ("Step size", self.step_slider),
                     "steps": ("Steps", self.steps_slider), "lam": ("Lambda", self.lam_slider),
                     "seed": ("Seed", self.seed_spin), "factor": ("Factor", self.factor_combo),
                     "keep": ("", self.keep_photo_check)}
        self.row_labels = {}
        for key, (label, widget) in self.rows.items():
            self.row_labels[key] = QLabel(label)
            form.addRow(self.row_labels[key], widget)
        for widget in (self.eps_slider, self.step_slider, self.steps_slider, self.lam_slider,
                       self.temperature_slider, self.mix_weight):
            widget.valueChanged.connect(self._on_parameter_changed)
        preset = QPushButton("Paper preset")
        preset.clicked.connect(self.apply_preset)
        form.addRow(preset)
        self.live_check = QCheckBox("Live: restart on every stroke or change")
        self.live_check.setChecked(True)
        form.addRow(self.live_check)
        self.reanchor_check = QCheckBox("Re-centre the ball on the canvas after each stroke")
        self.reanchor_check.setToolTip("off: every run stays within epsilon of the image as it was when you turned "
                                       "this off; on: each run may move epsilon from the current canvas")
        self.reanchor_check.setChecked(True)
        self.reanchor_check.toggled.connect(self._on_reanchor_toggled)
        form.addRow(self.reanchor_check)
        buttons = QHBoxLayout()
        self.run_button = QPushButton("Run")
        self.run_button.clicked.connect(self.toggle_run)
        step_button = QPushButton("Step")
        step_button.clicked.connect(self.single_step)
        stop_button = QPushButton("Stop")
        stop_button.clicked.connect(self.stop)
        for b in (self.run_button, step_button, stop_button):
            buttons.addWidget(b)
        form.addRow(buttons)
        self.progress = QProgressBar()
        form.addRow(self.progress)
        readout = QVBoxLayout()
        self.top_bars = []
        for _ in range(5):
            bar = QProgressBar(maximum=1000, textVisible=True)
            bar.setFormat("")
            readout.addWidget(bar)
            self.top_bars.append(bar)
        form.addRow("Top 5", readout)
        from PySide6.QtWidgets import QSlider
        timeline = QHBoxLayout()
        self.timeline_slider = QSlider(Qt.Orientation.Horizontal)
        self.timeline_slider.setRange(0, 0)
        self.timeline_slider.setToolTip("scrub through the last run's iterates (every 5th step)")
        self.timeline_slider.valueChanged.connect(self._show_timeline)
        self.compare_check = QCheckBox("Start")
        self.compare_check.setToolTip("show the image the run started from")
        self.compare_check.toggled.connect(self._show_timeline)
        self.timeline_label = QLabel("")
        self.timeline_label.setMinimumWidth(64)
        commit = QPushButton("Commit")
        commit.setToolTip("put the iterate shown on the canvas (one undo step)")
        commit.clicked.connect(self.commit_timeline)
        timeline.addWidget(self.timeline_slider, 1)
        timeline.addWidget(self.timeline_label)
        timeline.addWidget(self.compare_check)
        timeline.addWidget(commit)
        form.addRow("Timeline", timeline)
        self.timeline: list[tuple[int, np.ndarray]] = []
        self.timeline_start: np.ndarray | None = None
        self.anchor_image: np.ndarray | None = None
        from PySide6.QtWidgets import QScrollArea
        scroll = QScrollArea()  # the panel scrolls instead of forcing the window taller (feature sliders, regions)
        scroll.setWidget(panel)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(panel.sizeHint().width() + 20)
        dock = QDockWidget("Synthesis", self)
        dock.setWidget(scroll)
        dock.setFeatures(QDockWidget.DockWidgetFeature.NoDockWidgetFeatures)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        self.status_label = QLabel("")
        self.statusBar().addPermanentWidget(self.status_label)
        self.zoom_label = QLabel("")
        self.zoom_label.setToolTip("zoom: screen pixels per image pixel (Ctrl+wheel, Ctrl+0 fits)")
        self.statusBar().addPermanentWidget(self.zoom_label)
        self.canvas.view_changed.connect(lambda scale: self.zoom_label.setText(f"zoom {scale * 100:.0f}%"))
        from PySide6.QtCore import QSize
        from PySide6.QtWidgets import QListView, QListWidget
        self.candidate_list = QListWidget()
        self.candidate_list.setViewMode(QListView.ViewMode.IconMode)
        self.candidate_list.setIconSize(QSize(128, 128))
        self.candidate_list.setResizeMode(QListView.ResizeMode.Adjust)
        self.candidate_list.currentRowChanged.connect(self.choose_candidate)
        # A click on the candidate already selected takes it again (after New, say): no row change is signalled.
        self.candidate_list.itemClicked.connect(
            lambda item: self.choose_candidate(self.candidate_list.row(item), again=True))
        self.candidate_images: np.ndarray | None = None
        self.selected_candidate = 0
        self.show_overlays = True  # mask, regions and strength drawn over the image (View > Show overlays)
        self.classify_id = 0
        self.classify_timer = QTimer(self)  # one forward pass 150 ms after the last change, in the worker
        self.classify_timer.setSingleShot(True)
        self.classify_timer.setInterval(150)
        self.classify_timer.timeout.connect(self._classify_canvas)
        self.last_top5: list = []  # per image of the last step: [(class, probability), ...] best first
        self.candidate_dock = QDockWidget("Candidates", self)
        self.candidate_dock.setWidget(self.candidate_list)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.candidate_dock)
        self.candidate_dock.hide()
        self.preview_label = QLabel()  # the image as it is, at 1:1 and 2x, whatever the canvas's zoom
        self.preview_label.setToolTip("the image at 1:1 and at 2x")
        self.preview_dock = QDockWidget("Preview 1:1 and 2x", self)
        self.preview_dock.setWidget(self.preview_label)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.preview_dock)
        self.preview_dock.hide()  # View > Preview shows it; open by default it takes the canvas's room
        self._build_neuron_browser()

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        for text, key, slot in (("&New", QKeySequence.StandardKey.New, self.new_document),
                                ("&Open image or project…", QKeySequence.StandardKey.Open, self.open_dialog),
                                ("&Save project", QKeySequence.StandardKey.Save, self.save_project_dialog),
                                ("Save project &as…", QKeySequence("Ctrl+Shift+S"),
                                 lambda: self.save_project_dialog(ask=True)),
                                ("&Export PNG…", QKeySequence("Ctrl+E"), self.export_dialog),
                                ("&Quit", QKeySequence.StandardKey.Quit, self.close)):
            action = QAction(text, self, shortcut=QKeySequence(key))
            action.triggered.connect(slot)
            file_menu.addAction(action)
            if text.startswith("&Open"):
                self.recent_menu = file_menu.addMenu("Open &recent")
                self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        view = self.menuBar().addMenu("&View")
        for text, key, slot in (("Zoom &in", QKeySequence.StandardKey.ZoomIn, lambda: self.canvas.zoom_by(1.5)),
                                ("Zoom &out", QKeySequence.StandardKey.ZoomOut, lambda: self.canvas.zoom_by(1 / 1.5)),
                                ("&Fit to window", QKeySequence("Ctrl+0"), lambda: self.canvas.set_zoom(None))):
            action = QAction(text, self, shortcut=QKeySequence(key))
            action.triggered.connect(slot)
            view.addAction(action)
        neurons = QAction("&Neuron browser", self, shortcut=QKeySequence("Ctrl+Shift+N"))
        neurons.triggered.connect(self.show_neuron_browser)
        view.addAction(neurons)
        preview = self.preview_dock.toggleViewAction()
        preview.setText("&Preview 1:1 and 2x")
        preview.setShortcut(QKeySequence("Ctrl+Shift+P"))
        view.addAction(preview)
        smooth = QAction("&Smooth scaling", self, checkable=True)
        smooth.toggled.connect(self._set_smooth)
        smooth.setChecked(True)  # a photo reads as a photo; off shows the pixels as blocks
        view.addAction(smooth)
        self.overlay_action = QAction("Show &overlays (mask, regions, strength)", self, checkable=True,
                                      shortcut=QKeySequence("H"))
        self.overlay_action.setChecked(True)
        self.overlay_action.toggled.connect(self._set_overlays)
        view.addAction(self.overlay_action)
        edit = self.menuBar().addMenu("&Edit")
        undo = self.undo_stack.createUndoAction(self, "&Undo")
        undo.setShortcut(QKeySequence("Ctrl+Z"))
        redo = self.undo_stack.createRedoAction(self, "&Redo")
        redo.setShortcut(QKeySequence("Ctrl+Shift+Z"))
        edit.addActions([undo, redo])
        for text, slot in (("&Invert mask", self.document_invert_mask), ("&Clear mask", self.document_clear_mask),
                           ("Clear class &regions", self.document_clear_regions)):
            action = QAction(text, self)
            action.triggered.connect(slot)
            edit.addAction(action)
        run = self.menuBar().addMenu("&Run")
        toggle = QAction("Run / pause", self, shortcut=QKeySequence("Space"))
        toggle.triggered.connect(self.toggle_run)
        run.addAction(toggle)
        from robustpaint.core.device import cpu_supports_bf16
        self.bf16_action = QAction("Fast &bf16 steps", self, checkable=True)
        self.bf16_action.setToolTip("bf16 autocast where it is faster (CPUs with bf16 units, except for MobileNetV2), "
                                    "slightly different pixels")
        self.bf16_action.setChecked(cpu_supports_bf16())
        run.addAction(self.bf16_action)

    # --- document edits ------------------------------------------------------------------------------------

    def refresh_canvas(self, image: np.ndarray | None = None) -> None:
        """Shows the document (or `image`, a preview such as a timeline iterate) with its overlay."""
        from robustpaint.core.classmap import PALETTE
        doc = self.document
        overlay = (overlay_rgba(doc.mask, doc.regions, doc.strength, PALETTE[:REGION_SLOTS])
                   if self.show_overlays else None)
        shown = doc.image if image is None else image
        self.canvas.set_content(shown, overlay)
        self._update_preview(shown)
        if not self.running and hasattr(self, "classify_timer"):
            self.classify_timer.start()  # the top-5 follows the canvas after every change, not only during runs

    def _update_preview(self, image: np.ndarray) -> None:
        from PySide6.QtGui import QPainter, QPixmap
        one = QPixmap.fromImage(array_to_qimage(image))
        two = one.scaled(one.width() * 2, one.height() * 2, Qt.AspectRatioMode.IgnoreAspectRatio,
                         Qt.TransformationMode.SmoothTransformation)
        sheet = QPixmap(one.width() + two.width() + 8, two.height())
        sheet.fill(Qt.GlobalColor.transparent)
        painter = QPainter(sheet)
        painter.drawPixmap(0, 0, one)
        painter.drawPixmap(one.width() + 8, 0, two)
        painter.end()
        self.preview_label.setPixmap(sheet)

    # --- timeline and anchoring ---------------------------------------------------------------------------

    def _show_timeline(self) -> None:
        """Previews the chosen iterate (or the start image) without touching the document."""
        if self.running:
            return
        if self.compare_check.isChecked() and self.timeline_start is not None:
            self.refresh_canvas(self.timeline_start)
            self.timeline_label.setText("start")
        elif self.timeline:
            step, image = self.timeline[self.timeline_slider.value()]
            self.refresh_canvas(image)
            self.timeline_label.setText(f"step {step}")

    def commit_timeline(self) -> None:
        """Puts the iterate shown by the scrubber on the canvas as one undo step."""
        if not self.timeline or self.running:
            return
        step, image = self.timeline[self.timeline_slider.value()]
        before = self.document.state()
        self.document.image = image.copy()
        self.undo_stack.push(_StateCommand(self, before, self.document.state(), f"iterate of step {step}"))
        self.compare_check.setChecked(False)
        self.refresh_canvas()

    def _on_reanchor_toggled(self, on: bool) -> None:
        self.anchor_image = None if on else self.document.image.copy()

    @property
    def tool(self) -> str:
        return next(name for name, a in self.tool_actions.items() if a.isChecked())

    def _current_brush(self) -> Brush:
        tool = self.tool
        color = (self.brush_color.redF(), self.brush_color.greenF(), self.brush_color.blueF())
        target = {"brush": "image", "eraser": "erase", "mask": "mask", "unmask": "mask", "regions": "regions",
                  "strength": "strength"}.get(tool, "image")
        value = 1.0
        if tool == "regions":
            value = float(self.region_slot.currentData())
        elif tool == "strength":
            value = self.strength_level.value() / 100
        return Brush(size=self.brush_size.value(), color=color, opacity=self.brush_opacity.value() / 100,
                     target=target, clear=tool == "unmask" or (tool == "regions" and value < 0), value=value)

    def _on_stroke_moved(self, points) -> None:
        if self.running:
            self.job_id += 1  # drop any step still in flight, so it cannot paint over the stroke
            self.stop_worker.emit()
            self.running = False
            self.run_button.setText("Run")
            self._commit_run("PGD run")
        if self._stroke_before is None:
            self._stroke_before = self.document.state()
        self.document.restore(self._stroke_before)
        if self.tool in ("fill", "picker"):
            return
        self.document.paint_stroke(self._stroke_points(points), self._current_brush())
        self.refresh_canvas()

    def _stroke_points(self, points):
        """The line tool draws the straight segment from where the drag began to where it is now."""
        return [points[0], points[-1]] if self.tool == "line" else points

    def _on_stroke_finished(self, points) -> None:
        before = self._stroke_before or self.document.state()
        self._stroke_before = None
        if self.tool == "picker":
            color = self.document.pick_color(*points[-1])
            if color is not None:
                self.set_brush_color(QColor.fromRgbF(*color))
                self.statusBar().showMessage(f"colour {self.brush_color.name()}", 3000)
            return
        if self.tool == "fill":
            x, y = points[-1]
            color = (self.brush_color.redF(), self.brush_color.greenF(), self.brush_color.blueF())
            self.document.fill(int(x), int(y), color)
            self.refresh_canvas()
        else:
            self.document.log_stroke(self._stroke_points(points), self._current_brush())
        self.undo_stack.push(_StateCommand(self, before, self.document.state(), "stroke"))
        target = "image" if self.tool == "fill" else self._current_brush().target
        if (self.live_check.isChecked() and self.last_recipe is not None
                and self.task in STROKE_TARGETS_READ[target]):
            self.start_run()

    def document_clear_regions(self) -> None:
        before = self.document.state()
        self.document.regions[:] = -1
        self.undo_stack.push(_StateCommand(self, before, self.document.state(), "clear class regions"))
        self.refresh_canvas()

    def document_invert_mask(self) -> None:
        before = self.document.state()
        self.document.invert_mask()
        self.undo_stack.push(_StateCommand(self, before, self.document.state(), "invert mask"))
        self.refresh_canvas()

    def document_clear_mask(self) -> None:
        before = self.document.state()
        self.document.clear_mask()
        self.undo_stack.push(_StateCommand(self, before, self.document.state(), "clear mask"))
        self.refresh_canvas()

    def _choose_color(self) -> None:
        color = QColorDialog.getColor(self.brush_color, self)
        if color.isValid():
            self.set_brush_color(color)

    RECENT_COLORS = 8

    def set_brush_color(self, color: QColor) -> None:
        """The brush colour, remembered among the recent ones (newest first) that the toolbar offers."""
        self.brush_color = QColor(color)
        self.recent_colors = [c for c in self.recent_colors if c.rgb() != color.rgb()]
        self.recent_colors.insert(0, QColor(color))
        del self.recent_colors[self.RECENT_COLORS:]
        self._show_colors()

    def swap_colors(self) -> None:
        self.brush_color, self.background_color = self.background_color, self.brush_color
        self._show_colors()

    def _show_colors(self) -> None:
        for button, color in ((self.fg_button, self.brush_color), (self.bg_button, self.background_color)):
            button.setStyleSheet(f"background-color: {color.name()}; min-width: 22px; max-width: 22px;")
        while self.recent_layout.count():
            item = self.recent_layout.takeAt(0)
            item.widget().deleteLater()
        for color in self.recent_colors:
            button = QPushButton()
            button.setToolTip(color.name())
            button.setStyleSheet(f"background-color: {color.name()}; min-width: 12px; max-width: 12px;")
            button.clicked.connect(lambda _=False, c=color: self.set_brush_color(c))
            self.recent_layout.addWidget(button)

    # --- parameters --------------------------------------------------------------------------------------

    @property
    def task(self) -> str:
        return self.task_combo.currentData()

    def _model_side(self) -> int:
        return self.cards.get(self.model_combo.currentText(), {}).get("input_size", self.document.size[1])

    def _on_task_changed(self) -> None:
        visible = set(TASK_PARAMETERS[self.task])
        if self._model_side() < PHOTO_MODEL_SIDE:
            visible.discard("keep")  # "keep the photo" is a preset of photo models
        for key, (_, widget) in self.rows.items():
            widget.setVisible(key in visible)
            self.row_labels[key].setVisible(key in visible)
        self.apply_preset()

    def apply_preset(self) -> None:
        model_side = self._model_side()
        keep_photo = self.keep_photo_check.isChecked() and model_side >= PHOTO_MODEL_SIDE
        eps, step_size, steps = preset_values(self.task, *self.document.size,
                                              factor=int(self.factor_combo.currentText()), model_side=model_side,
                                              keep_photo=keep_photo)
        for widget, value in ((self.eps_slider, eps), (self.step_slider, step_size), (self.steps_slider, steps)):
            widget.blockSignals(True)
            widget.setValue(value)
            widget.blockSignals(False)
        self.lam_slider.blockSignals(True)
        self.lam_slider.setValue(90.0 if self.task == "paint" else 10.0)
        self.lam_slider.blockSignals(False)

    def _on_parameter_changed(self) -> None:
        if self.running and self.live_check.isChecked():
            self.start_run()  # restart from the current canvas with the new values

    def _on_model_ready(self, name: str, card: dict) -> None:
        self.cards[name] = card
        if name != self.model_combo.currentText():
            return
        classes = card["classes"]
        for i, combo in enumerate([self.class_combo, *self.region_class_combos]):
            current = combo.currentText()
            combo.blockSignals(True)
            combo.clear()
            combo.addItems(classes)
            combo.setCurrentText(current if current in classes else classes[min(i, len(classes) - 1)])
            combo.blockSignals(False)
        self.mix_combo.clear()
        self.mix_combo.addItems(["(no mix)", *classes])
        units = len(card.get("neuron_classes", [])) or 4096
        for spin, _, _ in self.feature_rows:
            spin.setMaximum(units - 1)
        self._update_neuron_labels()
        self._fit_canvas_to_model(name, card.get("input_size", 32))
        self._on_task_changed()  # rows (keep the photo) and presets follow the model
        figures = accuracy_summary(card)
        self.card_label.setText(card_in_words(card))
        self.card_label.setToolTip(f"{card['arch']} on {card.get('dataset', '?')}; "
                                   f"{'robust' if card.get('robust') else 'not robust'}; {figures}")
        self.status_label.setText(f"{name} on cpu")

    def _fit_canvas_to_model(self, name: str, side: int) -> None:
        """A model trained at another size gets the canvas resized to its side (one undo step, with a message):
        it paints best at the size it saw in training."""
        if self.document.size == (side, side):
            return
        self._halt_for_new_document()
        before = self.document.state()
        old = self.document.size
        self.document.resize(side)
        self.undo_stack.push(_StateCommand(self, before, self.document.state(), f"canvas to {side}x{side}"))
        self.brush_size.setValue(default_brush_size(side))
        self.anchor_image = None
        self._on_reanchor_toggled(self.reanchor_check.isChecked())
        self.apply_preset()
        self.refresh_canvas()
        self.statusBar().showMessage(f"canvas resized from {old[1]}x{old[0]} to {side}x{side}, the size {name} "
                                     f"was trained at", 10000)

    def make_job(self) -> Job:
        self.job_id += 1
        name = self.model_combo.currentText()
        classes = self.cards.get(name, {}).get("classes", [])
        target = self.class_combo.currentText()
        targets = (classes.index(target),) if target in classes else ()
        visible = TASK_PARAMETERS[self.task]
        chosen = [(spin.value(), strength.value()) for spin, strength, _ in self.feature_rows if strength.value() != 0]
        region_masks = None
        if self.task == "classmap":  # the regions painted, each with the class chosen for its colour
            used = [i for i in range(REGION_SLOTS) if (self.document.regions == i).any()]
            names = [self.region_class_combos[i].currentText() for i in used]
            targets = tuple(classes.index(n) for n in names if n in classes)
            region_masks = self.document.region_masks(REGION_SLOTS)[used] if len(targets) == len(used) else None
        mix = None
        if "mix" in visible and self.mix_combo.currentText() in classes:
            mix = (classes.index(self.mix_combo.currentText()), self.mix_weight.value())
        return Job(self.job_id, name, self.task, self.document.image.copy(), self.document.mask.copy(),
                   targets=targets if "class" in visible or self.task == "classmap" else (),
                   neurons=tuple(n for n, _ in chosen),
                   neuron_weights=tuple(w for _, w in chosen),
                   candidates=self.candidates_spin.value() if "candidates" in visible else 1,
                   temperature=self.temperature_slider.value(), mix=mix, region_masks=region_masks,
                   strength=self.document.strength.copy(), bf16=self.bf16_action.isChecked(),
                   anchor=None if self.reanchor_check.isChecked() else self.anchor_image,
                   eps=self.eps_slider.value(), step_size=self.step_slider.value(), steps=self.steps_slider.value(),
                   lam=self.lam_slider.value() if "lam" in visible else None, seed=self.seed_spin.value(),
                   factor=int(self.factor_combo.currentText()))

    # --- running -----------------------------------------------------------------------------------------

    def start_run(self) -> None:
        if not self.model_combo.count():
            self.statusBar().showMessage("no model installed: see 'robustpaint models list'", 5000)
            return
        if self.run_before is None:
            self.run_before = self.document.state()
            self.timeline, self.timeline_start = [], self.document.image.copy()
            self.timeline_slider.setRange(0, 0)
        if not self.reanchor_check.isChecked() and self.anchor_image is None:
            self.anchor_image = self.document.image.copy()  # the ball stays around the canvas as it is now
        job = self.make_job()
        self.current_job = job
        self.running = True
        self.run_button.setText("Pause")
        self._last_update = time.perf_counter()
        self.submit_job.emit(job)

    def toggle_run(self) -> None:
        if self.running:
            self.running = False
            self.run_button.setText("Resume")
            self.pause_worker.emit()
        elif self.run_button.text() == "Resume":
            self.running = True
            self.run_button.setText("Pause")
            self.resume_worker.emit()
        else:
            self.start_run()

    def single_step(self) -> None:
        if self.run_button.text() in ("Resume", "Pause"):
            self.running = False
            self.run_button.setText("Resume")
            self.step_worker.emit()

    def stop(self) -> None:
        self.running = False
        self.run_button.setText("Run")
        self.stop_worker.emit()

    def _halt_for_new_document(self) -> None:
        """Stops the run and drops any step still in flight, so it cannot paint the old run over a new document; what
        the run had made so far stays one undo step; the readouts of the old run are cleared."""
        self.job_id += 1
        self.stop()
        if self.run_before is not None:
            self._commit_run("PGD run (stopped)")
        self.progress.reset()
        self.last_top5 = []
        for bar in self.top_bars:
            bar.setValue(0)
            bar.setFormat("")
        self.timeline, self.timeline_start = [], None
        self.timeline_slider.setRange(0, 0)
        self.timeline_label.setText("")
        self.status_label.setText(f"{self.model_combo.currentText()} on cpu")

    @Slot(int, object, float, int, int, object)
    def _on_stepped(self, job_id, image, loss, step, total, top5) -> None:
        if job_id != self.job_id:
            return  # a result of a job we have moved past
        started = time.perf_counter()
        self._show_result(image)
        if step % TIMELINE_EVERY == 0 or step == total:
            self.timeline.append((step, self.document.image))  # arrays from the worker are never modified
            self.timeline_slider.blockSignals(True)
            self.timeline_slider.setRange(0, len(self.timeline) - 1)
            self.timeline_slider.setValue(len(self.timeline) - 1)
            self.timeline_slider.blockSignals(False)
            self.timeline_label.setText(f"step {step}")
        self.progress.setMaximum(total)
        self.progress.setValue(step)
        self.last_top5 = top5
        self._show_top5()
        self.updates += 1
        self.image_updated.emit(step)
        self.status_label.setText(f"{self.model_combo.currentText()} on cpu · step {step}/{total} · loss {loss:.3f}"
                                  f" · {self.worker.steps_per_second:.1f} steps/s")
        self.longest_stall_ms = max(self.longest_stall_ms, (time.perf_counter() - started) * 1e3)

    def _classify_canvas(self) -> None:
        if self.running or not self.model_combo.count():
            return
        self.classify_id += 1
        self.request_classify.emit(self.classify_id, self.model_combo.currentText(), self.document.image.copy())

    @Slot(int, object)
    def _on_classified(self, request_id: int, top5) -> None:
        if request_id != self.classify_id or self.running:
            return  # an older canvas, or a run's own readout takes over
        self.last_top5 = [top5]
        self._show_top5()

    def _show_top5(self) -> None:
        """The live top-5 of the image on the canvas: with candidates, the selected one's."""
        if not self.last_top5:
            return
        top5 = self.last_top5[min(self.selected_candidate, len(self.last_top5) - 1)]
        for bar, (name, p) in zip(self.top_bars, top5):
            bar.setValue(int(p * 1000))
            bar.setFormat(f"{name} {p * 100:.1f}%")

    @Slot(int, object)
    def _on_finished(self, job_id, image) -> None:
        if job_id != self.job_id:
            return
        self._show_result(image)
        self.running = False
        self.run_button.setText("Run")
        self._commit_run("PGD run")
        self.run_finished.emit(job_id)

    def _show_result(self, image: np.ndarray) -> None:
        """Puts a worker image on the canvas; a batch of candidates also fills the grid (the chosen one is shown)."""
        if image.ndim == 4:
            self.candidate_images = image
            self.selected_candidate = min(self.selected_candidate, len(image) - 1)
            self._fill_candidate_grid()
            image = image[self.selected_candidate]
        self.document.image = image
        self.refresh_canvas()

    def _fill_candidate_grid(self) -> None:
        from PySide6.QtGui import QIcon, QPixmap
        from PySide6.QtWidgets import QListWidgetItem
        images = self.candidate_images
        if self.candidate_list.count() != len(images):
            self.candidate_list.clear()
            for i in range(len(images)):
                self.candidate_list.addItem(QListWidgetItem(f"{i + 1}"))
        size = self.candidate_list.iconSize()
        for i, img in enumerate(images):
            pixmap = QPixmap.fromImage(array_to_qimage(img)).scaled(size)
            self.candidate_list.item(i).setIcon(QIcon(pixmap))
        self.candidate_dock.show()

    def choose_candidate(self, index: int, again: bool = False) -> None:
        """Takes candidate `index` to the canvas (one undo step when no run is going on); `again`: a click on the
        selected one, which only acts when the canvas no longer shows it."""
        if self.candidate_images is None or not 0 <= index < len(self.candidate_images):
            return
        if again and np.array_equal(self.document.image, self.candidate_images[index]):
            return
        self.selected_candidate = index
        self._show_top5()
        if self.running:
            return  # the next live update shows it
        before = self.document.state()
        self.document.image = self.candidate_images[index].copy()
        self.undo_stack.push(_StateCommand(self, before, self.document.state(), f"take candidate {index + 1}"))
        self.refresh_canvas()

    # --- neuron browser ------------------------------------------------------------------------------------

    def _build_neuron_browser(self) -> None:
        from PySide6.QtCore import QSize
        from PySide6.QtWidgets import QDockWidget, QLineEdit, QListView, QListWidget
        panel = QWidget()
        layout = QVBoxLayout(panel)
        controls = QHBoxLayout()
        self.neuron_search = QLineEdit(placeholderText="unit number or class, e.g. 'cat'")
        self.neuron_search.textChanged.connect(self._filter_neurons)
        self.neuron_sort = QComboBox()
        self.neuron_sort.addItems(["by unit", "by the class searched for"])
        self.neuron_sort.currentIndexChanged.connect(self._filter_neurons)
        controls.addWidget(self.neuron_search, 1)
        controls.addWidget(self.neuron_sort)
        layout.addLayout(controls)
        self.neuron_list = QListWidget()
        self.neuron_list.setViewMode(QListView.ViewMode.IconMode)
        self.neuron_list.setIconSize(QSize(48, 48))
        self.neuron_list.setResizeMode(QListView.ResizeMode.Adjust)
        self.neuron_list.itemClicked.connect(self._pick_neuron)
        layout.addWidget(self.neuron_list)
        self.neuron_status = QLabel("")
        layout.addWidget(self.neuron_status)
        self.neuron_dock = QDockWidget("Neurons", self)
        self.neuron_dock.setWidget(panel)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.neuron_dock)
        self.neuron_dock.hide()
        self.neuron_items: dict[int, object] = {}
        self._neurons_model: str | None = None
        self.neuron_dock.visibilityChanged.connect(self._on_neuron_browser_visibility)

    def _on_neuron_browser_visibility(self, visible: bool) -> None:
        """Hiding the browser (closed, minimised, tabbed away) stops its background work; showing it again continues
        from the cache."""
        if visible:
            self._request_neurons()
        elif self._neurons_model is not None:
            self.cancel_neurons.emit()
            self._neurons_model = None  # the next showing asks again (drawn thumbnails come from the cache)

    def show_neuron_browser(self) -> None:
        """Shows the browser; the thumbnails of the current model are computed in the worker on first use."""
        self.neuron_dock.show()
        self._request_neurons()

    def _request_neurons(self) -> None:
        name = self.model_combo.currentText()
        if name and name != self._neurons_model:
            self._neurons_model = name
            self.neuron_list.clear()
            self.neuron_items = {}
            self.neuron_status.setText("drawing the thumbnails in the background…")
            self.request_neurons.emit(name)

    @Slot(str, object)
    def _on_neurons_ready(self, name: str, thumbnails: dict) -> None:
        from PySide6.QtGui import QIcon, QPixmap
        from PySide6.QtWidgets import QListWidgetItem
        if name != self._neurons_model:
            return
        classes = self.cards.get(name, {}).get("neuron_classes", [])
        for unit, image in thumbnails.items():
            item = self.neuron_items.get(unit)
            if item is None:
                feeds = ", ".join(classes[unit][:2]) if unit < len(classes) else ""
                item = QListWidgetItem(f"{unit}\n{feeds}")
                item.setData(Qt.ItemDataRole.UserRole, unit)
                item.setToolTip(f"unit {unit}; feeds most: {', '.join(classes[unit]) if unit < len(classes) else '?'}")
                self.neuron_items[unit] = item
                self.neuron_list.addItem(item)
            item.setIcon(QIcon(QPixmap.fromImage(array_to_qimage(image.astype(np.float32) / 255))))
        total = len(classes) or len(self.neuron_items)
        self.neuron_status.setText(f"{len(self.neuron_items)} of {total} units drawn")
        self._filter_neurons()

    def _filter_neurons(self) -> None:
        """Search by unit number or by a class the unit feeds; sort by unit or by how much it feeds that class."""
        text = self.neuron_search.text().strip().lower()
        classes = self.cards.get(self._neurons_model or "", {}).get("neuron_classes", [])
        for unit, item in self.neuron_items.items():
            feeds = classes[unit] if unit < len(classes) else []
            item.setHidden(bool(text) and text != str(unit) and not any(text in c.lower() for c in feeds))
        by_class = self.neuron_sort.currentIndex() == 1 and text

        def rank(unit):
            feeds = [c.lower() for c in (classes[unit] if unit < len(classes) else [])]
            position = next((i for i, c in enumerate(feeds) if text in c), len(feeds)) if by_class else 0
            return position, unit

        for row, unit in enumerate(sorted(self.neuron_items, key=rank)):
            item = self.neuron_items[unit]
            current = self.neuron_list.row(item)
            if current != row:
                self.neuron_list.insertItem(row, self.neuron_list.takeItem(current))

    def _pick_neuron(self, item) -> None:
        """A click picks the neuron for feature painting (the first feature slider) and switches to that task."""
        unit = item.data(Qt.ItemDataRole.UserRole)
        self.feature_rows[0][0].setValue(unit)
        if self.feature_rows[0][1].value() == 0:
            self.feature_rows[0][1].setValue(1.0)
        self.task_combo.setCurrentIndex(self.task_combo.findData("paint"))
        self.statusBar().showMessage(f"neuron {unit} picked for feature painting: brush the region with the mask", 5000)

    def _update_neuron_labels(self) -> None:
        classes = self.cards.get(self.model_combo.currentText(), {}).get("neuron_classes", [])
        for spin, _, label in self.feature_rows:
            unit = spin.value()
            label.setText(f"unit {unit} feeds: {', '.join(classes[unit])}" if unit < len(classes) else "")

    def _commit_run(self, text: str) -> None:
        from robustpaint.core.recipes import make_recipe
        if self.run_before is None:
            return
        job = self.current_job
        card = self.cards.get(job.model, {})
        extra = {"neurons": list(job.neurons), "neuron_weights": list(job.neuron_weights)} if job.task == "paint" else {}
        self.last_recipe = make_recipe(job.task, job.model, card.get("weights_sha256", ""), targets=list(job.targets),
                                       eps=job.eps, step_size=job.step_size, steps=job.steps, seed=job.seed,
                                       lam=job.lam, candidates=job.candidates, bf16=job.bf16, **extra)
        self.undo_stack.push(_StateCommand(self, self.run_before, self.document.state(), text))
        self.run_before = None

    @Slot(int, str)
    def _on_failed(self, job_id, message) -> None:
        if job_id not in (-1, self.job_id):
            return  # a job we have moved past
        if self.run_before is not None and not np.array_equal(self.run_before[0], self.document.image):
            self._commit_run("PGD run (stopped)")  # the steps before the failure stay, as one undo step
        self.run_before = None
        self.running = False
        self.run_button.setText("Run")
        self.statusBar().showMessage(message, 10000)

    # --- files -------------------------------------------------------------------------------------------

    def open_image(self, path: str, fit: str = "crop") -> bool:
        from robustpaint.core.errors import RobustPaintError
        from robustpaint.core.imageio import load_image
        try:
            tensor = load_image(path, size=self.document.size, fit=fit)
        except RobustPaintError as exc:
            QMessageBox.warning(self, "Cannot open image", str(exc))
            return False
        self._halt_for_new_document()
        before = self.document.state()
        # A new picture starts clean: the old mask, class regions and strength map belonged to the old one.
        self.document = Document(tensor[0].permute(1, 2, 0).numpy().astype(np.float32))
        self.undo_stack.push(_StateCommand(self, before, self.document.state(), "open image"))
        self._on_reanchor_toggled(self.reanchor_check.isChecked())
        self.refresh_canvas()
        self._remember_file(path)
        return True

    def export_png(self, path: str, scale: int = 1) -> bool:
        import torch

        from robustpaint.core.errors import RobustPaintError
        from robustpaint.core.imageio import save_png
        recipe = dict(self.last_recipe or {"task": "none", "note": "hand-drawn, no PGD run"})
        recipe["export_scale"] = scale
        try:
            save_png(torch.from_numpy(self.document.image).permute(2, 0, 1), path, recipe, scale)
        except RobustPaintError as exc:
            QMessageBox.warning(self, "Cannot export", str(exc))
            return False
        self.statusBar().showMessage(f"exported {path}", 5000)
        return True

    def export_dialog(self) -> None:
        path, chosen = QFileDialog.getSaveFileName(self, "Export PNG", self._in_last_folder("robustpaint.png"),
                                                   "PNG 1x (*.png);;PNG 4x (*.png);;PNG 8x (*.png)")
        if path:
            self._remember_folder(path)
            self.export_png(path, {"PNG 4x (*.png)": 4, "PNG 8x (*.png)": 8}.get(chosen, 1))

    # --- projects and autosave ------------------------------------------------------------------------------

    def to_project(self):
        from robustpaint.core.project import Project
        name = self.model_combo.currentText()
        parameters = {"class": self.class_combo.currentText(), "neuron": self.neuron_spin.value(),
                      "eps": self.eps_slider.value(), "step_size": self.step_slider.value(),
                      "steps": self.steps_slider.value(), "lam": self.lam_slider.value(),
                      "seed": self.seed_spin.value(), "factor": int(self.factor_combo.currentText()),
                      "temperature": self.temperature_slider.value(),
                      "region_classes": [c.currentText() for c in self.region_class_combos],
                      "features": [[spin.value(), strength.value()] for spin, strength, _ in self.feature_rows]}
        return Project(image=self.document.image, mask=self.document.mask, regions=self.document.regions,
                       strength=self.document.strength, model=name,
                       model_sha256=self.cards.get(name, {}).get("weights_sha256", ""), task=self.task,
                       parameters=parameters, strokes=list(self.document.strokes), last_recipe=self.last_recipe)

    def save_project(self, path: str) -> bool:
        from robustpaint.core.errors import RobustPaintError
        from robustpaint.core.project import save_project
        try:
            save_project(self.to_project(), path)
        except RobustPaintError as exc:
            QMessageBox.warning(self, "Cannot save project", str(exc))
            return False
        self.project_path = path
        self.undo_stack.setClean()
        self.statusBar().showMessage(f"saved {path}", 5000)
        self._remember_file(path)
        return True

    def save_project_dialog(self, ask: bool = False) -> None:
        path = self.project_path
        if ask or not path:
            path, _ = QFileDialog.getSaveFileName(self, "Save project", path or self._in_last_folder("untitled.rpaint"),
                                                  "RobustPaint project (*.rpaint)")
            if path:
                self._remember_folder(path)
            if path and not path.endswith(".rpaint"):
                path += ".rpaint"
        if path:
            self.save_project(path)

    def open_project(self, path: str, *, recovered: bool = False) -> bool:
        """Replaces the document with a saved project (one undo step); a damaged file changes nothing."""
        from robustpaint.core.errors import RobustPaintError
        from robustpaint.core.project import load_project
        try:
            project = load_project(path)
        except RobustPaintError as exc:
            QMessageBox.warning(self, "Cannot open project", str(exc))
            return False
        self._halt_for_new_document()
        before = self.document.state()
        self.document = Document(project.image)
        self.document.mask = project.mask
        self.document.strokes = list(project.strokes)
        if project.regions is not None:
            self.document.regions = project.regions
        if project.strength is not None:
            self.document.strength = project.strength
        self.anchor_image = None if self.reanchor_check.isChecked() else self.document.image.copy()
        self.undo_stack.push(_StateCommand(self, before, self.document.state(), "open project"))
        index = self.task_combo.findData(project.task)
        if index >= 0:
            self.task_combo.setCurrentIndex(index)
        if project.model and self.model_combo.findText(project.model) >= 0:
            self.model_combo.setCurrentText(project.model)
        elif project.model:
            self.statusBar().showMessage(f"the project used model {project.model!r}, which is not installed", 10000)
        p = project.parameters
        for widget, key, kind in ((self.eps_slider, "eps", float), (self.step_slider, "step_size", float),
                                  (self.steps_slider, "steps", int), (self.lam_slider, "lam", float),
                                  (self.seed_spin, "seed", int), (self.neuron_spin, "neuron", int)):
            if isinstance(p.get(key), (int, float)):
                widget.blockSignals(True)
                widget.setValue(kind(p[key]))
                widget.blockSignals(False)
        if isinstance(p.get("class"), str) and p["class"]:
            self.class_combo.setCurrentText(p["class"])
        if isinstance(p.get("temperature"), (int, float)):
            self.temperature_slider.setValue(float(p["temperature"]))
        for combo, name in zip(self.region_class_combos, p.get("region_classes") or []):
            if isinstance(name, str):
                combo.setCurrentText(name)
        for (spin, strength, _), feature in zip(self.feature_rows, p.get("features") or []):
            if isinstance(feature, list) and len(feature) == 2 and all(isinstance(v, (int, float)) for v in feature):
                spin.setValue(int(feature[0]))
                strength.setValue(float(feature[1]))
        self._update_neuron_labels()  # values set with signals blocked above leave the labels behind otherwise
        self.last_recipe = project.last_recipe
        self.project_path = None if recovered else path
        if not recovered:
            self._remember_file(path)
        if not recovered:
            self.undo_stack.setClean()
        self.refresh_canvas()
        return True

    def new_document(self) -> None:
        """A blank white canvas of the same size (one undo step; the project becomes untitled)."""
        self._halt_for_new_document()
        before = self.document.state()
        h, w = self.document.size
        self.document = Document(np.ones((h, w, 3), np.float32))
        self.undo_stack.push(_StateCommand(self, before, self.document.state(), "new"))
        self.project_path = None
        self.last_recipe = None
        self._on_reanchor_toggled(self.reanchor_check.isChecked())
        self._update_title()
        self.refresh_canvas()

    RECENT_FILES = 10

    def _remember_file(self, path: str) -> None:
        """Puts an opened or saved file first in File > Open recent (the app keeps the list between sessions)."""
        import os
        path = os.path.abspath(path)
        self.recent_files = [path] + [p for p in self.recent_files if p != path][:self.RECENT_FILES - 1]

    def _fill_recent_menu(self) -> None:
        import os
        self.recent_menu.clear()
        for path in self.recent_files:
            action = self.recent_menu.addAction(os.path.basename(path))
            action.setToolTip(path)
            action.setEnabled(os.path.isfile(path))
            action.triggered.connect(lambda _=False, p=path: self.open_path(p))
        if not self.recent_files:
            self.recent_menu.addAction("(none yet)").setEnabled(False)

    def open_path(self, path: str) -> bool:
        """Opens a project (.rpaint) or an image, asking how to fit a non-square image."""
        if path.endswith(".rpaint"):
            return self.open_project(path)
        return self.open_image(path, fit=self._ask_fit(path))

    def _in_last_folder(self, name: str) -> str:
        from pathlib import Path
        return str(Path(self.last_folder) / name) if self.last_folder else name

    def _remember_folder(self, path: str) -> None:
        from pathlib import Path
        self.last_folder = str(Path(path).parent)

    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open", self.last_folder,
            "Images and projects (*.png *.jpg *.jpeg *.bmp *.webp *.gif *.tif *.tiff *.rpaint)")
        if not path:
            return
        self._remember_folder(path)
        self.open_path(path)

    def _ask_fit(self, path: str) -> str:
        """For a non-square image, asks whether to scale it (distorting) or centre-crop it to the canvas."""
        from PIL import Image
        try:
            with Image.open(path) as img:
                square = img.width == img.height
        except Exception:  # open_image reports unreadable files with its own message
            return "scale"
        if square:
            return "scale"
        box = QMessageBox(QMessageBox.Icon.Question, "Fit image", "The image is not square. Fit it to the canvas by:",
                          parent=self)
        crop = box.addButton("Centre crop", QMessageBox.ButtonRole.AcceptRole)
        box.addButton("Scale", QMessageBox.ButtonRole.RejectRole)
        box.exec()
        return "crop" if box.clickedButton() is crop else "scale"

    @staticmethod
    def autosave_path():
        from robustpaint.core.paths import user_data_dir
        return user_data_dir() / "autosave.rpaint"

    def autosave(self) -> bool:
        """Writes the autosave file when there are unsaved changes (every 30 s); the previous one stays intact."""
        from robustpaint.core.errors import RobustPaintError
        from robustpaint.core.project import save_project
        if self.undo_stack.isClean() and not self.autosave_path().exists():
            return False
        if self.undo_stack.index() == self._autosaved_index:
            return False
        try:
            save_project(self.to_project(), self.autosave_path())
        except RobustPaintError as exc:
            self.statusBar().showMessage(f"autosave failed: {exc}", 10000)
            return False
        self._autosaved_index = self.undo_stack.index()
        return True

    def recover_autosave(self) -> bool:
        """Opens the autosave left by a session that did not close cleanly, as unsaved changes."""
        path = self.autosave_path()
        return path.exists() and self.open_project(str(path), recovered=True)

    def _update_title(self) -> None:
        name = self.project_path.rsplit("/", 1)[-1] if self.project_path else "untitled"
        self.setWindowTitle(f"{name}{'' if self.undo_stack.isClean() else ' *'} — RobustPaint")

    def _set_overlays(self, shown: bool) -> None:
        """Hides or shows what is drawn over the image, e.g. to see an inpainted hole under its red mask."""
        self.show_overlays = shown
        self.refresh_canvas()

    def _set_smooth(self, smooth: bool) -> None:
        self.canvas.smooth = smooth
        self.canvas.update()

    def shutdown(self) -> None:
        """Stops the worker and its thread (also on close, mid-run)."""
        if self.thread.isRunning():
            self.stop_worker.emit()
            self.dispose_worker.emit()
            self.thread.quit()
            self.thread.wait()

    def closeEvent(self, event) -> None:
        if self.ask_before_closing and not self.undo_stack.isClean():
            answer = QMessageBox.question(
                self, "Unsaved changes", "Save the project before closing?",
                QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
                | QMessageBox.StandardButton.Cancel)
            if answer == QMessageBox.StandardButton.Cancel:
                event.ignore()
                return
            if answer == QMessageBox.StandardButton.Save:
                self.save_project_dialog()
                if not self.undo_stack.isClean():
                    event.ignore()
                    return
        self.shutdown()
        self.autosave_timer.stop()
        self.autosave_path().unlink(missing_ok=True)  # a clean close: nothing to recover next time
        super().closeEvent(event)
