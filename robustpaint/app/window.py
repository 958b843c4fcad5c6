"""The main window: wiring and menus. The parts hold their own state: the tool bar (tools, colours, brush), the task
panel (model, task, parameters), the run session (the live run, the worker, the timeline), the candidate grid, the
neuron browser and the files (projects, export, autosave); they talk by signals."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QColor, QUndoStack
from PySide6.QtWidgets import QDockWidget, QLabel, QMainWindow, QScrollArea, QVBoxLayout, QWidget

from robustpaint.app.candidate_grid import CandidateGrid
from robustpaint.app.canvas import Canvas, overlay_rgba, preview_sheet
from robustpaint.app.devices import DeviceMenu
from robustpaint.app.files import DocumentFiles
from robustpaint.app.menus import build_menus
from robustpaint.app.neuron_browser import NeuronBrowser
from robustpaint.app.run_session import RunControls, RunSession
from robustpaint.app.task_panel import TaskPanel, card_input_size
from robustpaint.app.tools import ShortcutsOverNumberFields, ToolBar, default_brush_size
from robustpaint.app.undo import StateCommand
from robustpaint.core.document import Document, canvas_request
from robustpaint.core.project import REGION_SLOTS
from robustpaint.core.tasks import get_task


FALLBACK_CANVAS_SIDE = 128  # the canvas when no model's size can be read (no model installed, a broken card)


class MainWindow(QMainWindow):
    def __init__(self, model_name: str | None = None, device: str = "auto"):
        super().__init__()
        from robustpaint.core.catalog import DEFAULT_MODEL, list_models
        model_name = model_name or DEFAULT_MODEL
        # The canvas starts at the model's size (read from its card, before the worker has loaded the weights).
        self.document = Document.blank(card_input_size(model_name, fallback=FALLBACK_CANVAS_SIDE))
        self.undo_stack = QUndoStack(self)
        # Bounded memory in long sessions: each step holds two states (about 0.7 MB at 128 px, 2.1 MB at 224).
        self.undo_stack.setUndoLimit(200)
        self.anchor_image: np.ndarray | None = None  # the ball's centre while re-anchoring is off
        self.show_overlays = True  # mask, regions and strength drawn over the image (View > Show overlays)
        self._stroke_before = None
        self.ask_before_closing = False  # the app turns this on; tests close windows without a dialog

        self.canvas = Canvas()
        self.canvas.stroke_moved.connect(self._on_stroke_moved)
        self.canvas.stroke_finished.connect(self._on_stroke_finished)
        self.setCentralWidget(self.canvas)
        self.tools = ToolBar(self, self.document.size[1])
        self.addToolBar(Qt.ToolBarArea.LeftToolBarArea, self.tools)
        # Evaluators are standard classifiers kept for scoring: their gradients paint noise, so they are not offered.
        names = [e.name for e in list_models() if e.role != "evaluator" or e.name == model_name]
        self.panel = TaskPanel(names, model_name)
        self.panel.canvas_size = self.document.size
        self.controls = RunControls()
        self.session = RunSession(self, self.controls, self)
        self.files = DocumentFiles(self)
        self.candidates = CandidateGrid(self)
        self.neurons = NeuronBrowser(self)
        self._build_docks()
        self._connect()
        self._build_menus(device)
        self.session.set_device.emit(device)
        if self.panel.has_models:
            self.session.load_model.emit(self.panel.model_name)
        self.panel.apply_preset()
        self.refresh_canvas()
        self._shortcut_filter = ShortcutsOverNumberFields(self)
        from PySide6.QtWidgets import QAbstractSpinBox
        for field in self.findChildren(QAbstractSpinBox):
            field.installEventFilter(self._shortcut_filter)
            if field.lineEdit() is not None:
                field.lineEdit().installEventFilter(self._shortcut_filter)
        self.canvas.setFocus()  # the canvas, not the first spin box, takes the keys at start
        self.update_title()

    def _build_docks(self) -> None:
        side = QWidget()
        layout = QVBoxLayout(side)
        layout.addWidget(self.panel)
        layout.addWidget(self.controls)
        layout.addStretch(1)
        scroll = QScrollArea()  # the panel scrolls instead of forcing the window taller (feature sliders, regions)
        scroll.setWidget(side)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(side.sizeHint().width() + 20)
        dock = QDockWidget("Synthesis", self, objectName="synthesis_dock")  # names: saveState keeps where docks are
        dock.setWidget(scroll)
        dock.setFeatures(QDockWidget.DockWidgetFeature.NoDockWidgetFeatures)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.candidates)
        self.candidates.hide()
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.neurons)
        self.neurons.hide()
        self.preview_label = QLabel(toolTip="the image at 1:1 and at 2x")  # whatever the canvas's zoom
        self.preview_dock = QDockWidget("Preview 1:1 and 2x", self, objectName="preview_dock")
        self.preview_dock.setWidget(self.preview_label)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.preview_dock)
        self.preview_dock.hide()  # View > Preview shows it; open by default it takes the canvas's room
        self.status_label, self.zoom_label = QLabel(""), QLabel("")
        self.zoom_label.setToolTip("zoom: screen pixels per image pixel (Ctrl+wheel, Ctrl+0 fits)")
        # a normal widget, not a permanent one: a message ("run stopped ...") hides it for a while instead of being
        # cut off beside it
        self.statusBar().addWidget(self.status_label, 1)
        self.statusBar().addPermanentWidget(self.zoom_label)
        self.canvas.view_changed.connect(lambda scale: self.zoom_label.setText(f"zoom {scale * 100:.0f}%"))
        self.classify_timer = QTimer(self)  # one forward pass 150 ms after the last change, in the worker
        self.classify_timer.setSingleShot(True)
        self.classify_timer.setInterval(150)
        self.classify_timer.timeout.connect(self._classify_canvas)

    def _connect(self) -> None:
        session, panel, worker = self.session, self.panel, self.session.worker
        panel.model_chosen.connect(session.load_model)
        panel.changed.connect(self._on_parameter_changed)
        self.controls.run_button.clicked.connect(self.toggle_run)
        self.controls.reanchor_check.toggled.connect(self._reset_anchor)
        session.status.connect(self.status_label.setText)
        session.message.connect(lambda text: self.statusBar().showMessage(text, 10000))
        session.preview.connect(self.refresh_canvas)
        worker.model_ready.connect(self._on_model_ready)
        worker.classified.connect(self._on_classified)
        worker.neurons_ready.connect(self.neurons.add_thumbnails)
        self.neurons.wanted.connect(session.request_neurons)
        self.neurons.not_wanted.connect(session.cancel_neurons)
        self.neurons.picked.connect(self.panel.pick_neuron)
        self.neurons.picked.connect(lambda unit: self.statusBar().showMessage(
            f"neuron {unit} picked for feature painting: brush the region with the mask", 5000))
        self.candidates.chosen.connect(self.choose_candidate)
        self.undo_stack.cleanChanged.connect(self.update_title)
        self.undo_stack.indexChanged.connect(self.update_title)

    def _build_menus(self, device: str) -> None:
        run_menu = build_menus(self)
        self.devices = DeviceMenu(self, run_menu, device)
        self.session.worker.device_ready.connect(self.devices.on_device_ready)
        self.devices.move_to.connect(self.session.set_device.emit)
        self.devices.ready.connect(self._on_device_changed)

    # --- the document ------------------------------------------------------------------------------------

    def refresh_canvas(self, image: np.ndarray | None = None) -> None:
        """Shows the document (or `image`, a preview such as a timeline iterate) with its overlay."""
        from robustpaint.core.classmap import PALETTE
        doc = self.document
        overlay = (overlay_rgba(doc.mask, doc.regions, doc.strength, PALETTE[:REGION_SLOTS])
                   if self.show_overlays else None)
        shown = doc.image if image is None else image
        self.canvas.set_content(shown, overlay)
        self.preview_label.setPixmap(preview_sheet(shown))
        if not self.session.running:
            self.classify_timer.start()  # the top-5 follows the canvas after every change, not only during runs

    def push_state(self, before, text: str, recipe_before=...) -> None:
        """The document's change since `before` (and the recipe's since `recipe_before`, by default unchanged)
        becomes one undo step; the run session commits runs this way."""
        recipe_after = self.session.recipe_state()
        recipes = (recipe_after if recipe_before is ... else recipe_before, recipe_after)
        self.undo_stack.push(StateCommand(self, before, self.document.state(), text, recipes))

    def edit_document(self, change, text: str) -> None:
        before = self.document.state()
        change(self.document)
        self.push_state(before, text)
        self.refresh_canvas()

    def replace_document(self, document: Document, text: str, new_picture: bool = True,
                         recipe: dict | None = None) -> None:
        """A new picture (opened, new; `recipe`: what made it, from a project) or a resized canvas, one undo step;
        the run stops and its readouts go."""
        self.session.halt()
        self.session.clear()
        before, recipe_before = self.document.state(), self.session.recipe_state()
        self.document = document
        if new_picture:
            self.session.last_recipe = recipe
        else:  # a resized canvas: the run's recipe no longer makes what it shows
            self.session.mark_edited()
        self.push_state(before, text, recipe_before)
        self._reset_anchor(self.controls.reanchor)
        self.panel.set_canvas_size(document.size)
        self.status_label.setText(f"{self.panel.model_name} on cpu")
        self.refresh_canvas()

    def show_result(self, image: np.ndarray) -> None:
        """Puts a worker image on the canvas; a batch of candidates also fills the grid (the chosen one is shown)."""
        if image.ndim == 4:
            self.candidates.show_images(image)
            image = image[self.session.clamp_candidate(len(image))]
        self.document.image = image
        self.refresh_canvas()

    def choose_candidate(self, index: int, again: bool = False) -> None:
        """Takes candidate `index` to the canvas (one undo step when no run is going on); `again`: a click on the
        selected one, which only acts when the canvas no longer shows it."""
        images = self.candidates.images
        if images is None or not 0 <= index < len(images):
            return
        if again and np.array_equal(self.document.image, images[index]):
            return
        self.session.choose_candidate(index)
        top5 = self.session.last_top5
        if top5:
            self.controls.show_top5(top5[min(index, len(top5) - 1)])
        if not self.session.running:  # else the next live update shows it
            before = self.document.state()
            self.document.image = images[index].copy()
            self.push_state(before, f"take candidate {index + 1}")
            self.refresh_canvas()

    def _reset_anchor(self, reanchor: bool) -> None:
        self.anchor_image = None if reanchor else self.document.image.copy()

    # --- strokes -----------------------------------------------------------------------------------------

    def _on_stroke_moved(self, points) -> None:
        if self.session.running:
            self.session.halt("PGD run")  # no step still in flight may paint over the stroke
        if self._stroke_before is None:
            self._stroke_before = self.document.state()
        self.document.restore(self._stroke_before)
        if self.tools.tool in ("fill", "picker"):
            return
        self.document.paint_stroke(self._stroke_points(points), self.tools.brush())
        self.refresh_canvas()

    def _stroke_points(self, points):
        """The line tool draws the straight segment from where the drag began to where it is now."""
        return [points[0], points[-1]] if self.tools.tool == "line" else points

    def _on_stroke_finished(self, points) -> None:
        before = self._stroke_before or self.document.state()
        self._stroke_before = None
        tool = self.tools.tool
        if tool == "picker":
            color = self.document.pick_color(*points[-1])
            if color is not None:
                self.tools.set_brush_color(QColor.fromRgbF(*color))
                self.statusBar().showMessage(f"colour {self.tools.brush_color.name()}", 3000)
            return
        if tool == "fill":
            c = self.tools.brush_color
            self.document.fill(int(points[-1][0]), int(points[-1][1]), (c.redF(), c.greenF(), c.blueF()))
            self.refresh_canvas()
        else:
            self.document.log_stroke(self._stroke_points(points), self.tools.brush())
        recipe_before = self.session.recipe_state()
        if not np.array_equal(before[0], self.document.image):  # an export now holds more than the run
            self.session.mark_edited()
        self.push_state(before, "stroke", recipe_before)
        target = "image" if tool == "fill" else self.tools.brush().target
        reads = get_task(self.panel.task).reads
        layer = {"erase": "image"}.get(target, target)
        if (self.controls.live and self.session.recipe_state() is not None
                and (layer in reads or layer == "strength")):
            self.start_run()

    # --- runs --------------------------------------------------------------------------------------------

    def make_request(self):
        """The request of the canvas and the panel as they are now (what Run sends to the worker)."""
        from robustpaint.core.models import bf16_is_faster
        card = self.panel.cards.get(self.panel.model_name, {})
        device_type = (self.devices.device or "cpu").split(":")[0]
        bf16 = self.devices.bf16_action.isChecked() and bf16_is_faster(card.get("arch"), device_type)
        anchor = None if self.controls.reanchor else self.anchor_image
        return canvas_request(self.document, self.panel.parameters(), card.get("classes", []), bf16, anchor,
                              self.panel.model_side())

    def start_run(self) -> None:
        if not self.panel.has_models:
            self.statusBar().showMessage("no model installed: see 'robustpaint models list'", 5000)
            return
        if not self.controls.reanchor and self.anchor_image is None:
            self.anchor_image = self.document.image.copy()  # the ball stays around the canvas as it is now
        from robustpaint.core.errors import RobustPaintError
        try:
            request = self.make_request()
        except RobustPaintError as exc:  # e.g. a canvas the super-resolution factor does not divide
            self.statusBar().showMessage(str(exc), 10000)
            return
        name = self.panel.model_name
        self.session.start(name, self.panel.cards.get(name, {}).get("weights_sha256", ""), request)

    def toggle_run(self) -> None:
        if not self.session.toggle():
            self.start_run()

    def _on_parameter_changed(self) -> None:
        if self.session.running and self.controls.live:
            self.start_run()  # restart from the current canvas with the new values

    def _on_model_ready(self, name: str, card: dict) -> None:
        self.panel.set_model_card(name, card)
        if name != self.panel.model_name:
            return
        self.neurons.set_model(name, card.get("neuron_classes", []))
        side, (h, w) = card["input_size"], self.document.size
        if min(h, w) < side:
            # The canvas does not depend on the model (a larger one is judged at the model's scale), but one smaller
            # than the model is scaled up to its side: the model reads nothing at a fraction of its scale.
            ratio = side / min(h, w)
            self.files.resize_canvas((round(h * ratio), round(w * ratio)))
            self.tools.brush_size.setValue(default_brush_size(side))
        self.status_label.setText(f"{name} on {self.devices.device or 'cpu'}")

    def _on_device_changed(self, name: str) -> None:
        if self.panel.has_models:
            self.status_label.setText(f"{self.panel.model_name} on {name}")

    def _classify_canvas(self) -> None:
        if not self.session.running and self.panel.has_models:
            self.session.classify(self.panel.model_name, self.document.image.copy())

    def _on_classified(self, request_id: int, top5) -> None:
        if request_id == self.session.classify_id and not self.session.running:
            self.session.last_top5 = [top5]  # an older canvas, or a run's own readout, is dropped above
            self.controls.show_top5(top5)

    # --- view and closing --------------------------------------------------------------------------------

    def update_title(self) -> None:
        path = self.files.project_path
        name = path.rsplit("/", 1)[-1] if path else "untitled"
        self.setWindowTitle(f"{name}{'' if self.undo_stack.isClean() else ' *'} — RobustPaint")

    def set_overlays(self, shown: bool) -> None:
        """Hides or shows what is drawn over the image, e.g. to see an inpainted hole under its red mask."""
        self.show_overlays = shown
        self.refresh_canvas()

    def closeEvent(self, event) -> None:
        from PySide6.QtWidgets import QMessageBox
        if self.ask_before_closing and not self.undo_stack.isClean():
            buttons = QMessageBox.StandardButton
            answer = QMessageBox.question(self, "Unsaved changes", "Save the project before closing?",
                                          buttons.Save | buttons.Discard | buttons.Cancel)
            if answer == buttons.Cancel:
                event.ignore()
                return
            if answer == buttons.Save:
                self.files.save_project_dialog()
                if not self.undo_stack.isClean():
                    event.ignore()
                    return
        self.session.shutdown()
        self.files.closed_cleanly()
        super().closeEvent(event)
