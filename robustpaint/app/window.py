"""The main window: wiring. The parts hold their own state: the editor (the document, its undo stack, strokes), the
tool bar (tools, colours, brush), the task panel (model, task, parameters), the run session (the live run, the worker,
the timeline), the candidate grid, the neuron browser, the files (projects, export, autosave), the menus and the
device menu; they talk by signals."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget, QLabel, QMainWindow, QScrollArea, QVBoxLayout, QWidget

from robustpaint.app.candidate_grid import CandidateGrid
from robustpaint.app.canvas import Canvas, preview_sheet
from robustpaint.app.canvas_readout import CanvasReadout
from robustpaint.app.devices import DeviceMenu
from robustpaint.app.editor import NO_SKETCH, Editor
from robustpaint.app.files import DocumentFiles
from robustpaint.app.menus import build_menus
from robustpaint.app.neuron_browser import NeuronBrowser
from robustpaint.app.run_session import RunControls, RunSession
from robustpaint.app.task_panel import TaskPanel, card_input_size, offered_models
from robustpaint.app.tools import ShortcutsOverNumberFields, ToolBar, default_brush_size
from robustpaint.core.document import Document, canvas_request
from robustpaint.core.project import REGION_SLOTS


GUESSING_TASKS = ("inpaint", "superres")  # their class is the model's reading of the canvas unless one is chosen
FALLBACK_CANVAS_SIDE = 128  # the canvas when no model's size can be read (no model installed, a broken card)


OVERLAY_LAYERS = frozenset({"mask", "regions", "strength"})  # the layers drawn over the image


class MainWindow(QMainWindow):
    def __init__(self, model_name: str | None = None, device: str = "auto"):
        super().__init__()
        from robustpaint.core.catalog import DEFAULT_MODEL
        model_name = model_name or DEFAULT_MODEL
        # The canvas starts at the model's size (read from its card, before the worker has loaded the weights).
        self.editor = Editor(self, Document.blank(card_input_size(model_name, fallback=FALLBACK_CANVAS_SIDE)))
        self.show_overlays = True  # mask, regions and strength drawn over the image (View > Show overlays)
        self.overlays_outlined = False  # drawn as outlines: a run started, its result shows inside the mask (#47)
        self.run_summary = self.run_detail = ""  # what the last run ran, in the panel's words (the status line's start)
        self.previewing = False  # the canvas shows a timeline iterate or the run's start, not the document
        self.sketch_shown = False  # the sketch layer shown (and painted on) instead of the result (View menu)
        self.ask_before_closing = False  # the app turns this on; tests close windows without a dialog

        self.canvas = Canvas()
        self.canvas.stroke_moved.connect(self.editor.on_stroke_moved)
        self.canvas.stroke_finished.connect(self.editor.on_stroke_finished)
        self.setCentralWidget(self.canvas)
        self.tools = ToolBar(self, self.document.size[1])
        self.addToolBar(Qt.ToolBarArea.LeftToolBarArea, self.tools)
        self.tools.outline_changed.connect(self.canvas.set_brush_diameter)
        self.tools.outline_changed.emit(float(self.tools.brush_size.value()))
        for tool in ("mask", "unmask", "regions", "strength"):  # painting an overlay shows it filled again
            if tool in self.tools.actions_by_tool:
                self.tools.actions_by_tool[tool].triggered.connect(lambda _=False: self.outline_overlays(False))
        self.panel = TaskPanel(offered_models(model_name), model_name)
        self.panel.canvas_size = self.document.size
        self.controls = RunControls()
        self.session = RunSession(self.editor, self.controls, self)
        self.candidates = CandidateGrid(self)
        self.editor.attach(self.session, self.tools, self.panel, self.controls, self.candidates)
        self.files = DocumentFiles(self)
        self.neurons = NeuronBrowser(self)
        self._build_docks()
        self._connect()
        self._build_menus(device)
        self.session.set_device.emit(device)
        if self.panel.has_models:
            self.session.load_model.emit(self.panel.model_name)
        self.panel.apply_preset()
        self.document.subscribe(self._on_document_changed)
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
        scroll = QScrollArea()  # the settings scroll instead of forcing the window taller (features, regions)
        scroll.setWidget(self.panel)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(self.panel.sizeHint().width() + 20)
        side = QWidget()  # Run, the progress, the top-5 and the timeline stay in view under the settings
        layout = QVBoxLayout(side)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(scroll, 1)
        layout.addWidget(self.controls)
        dock = QDockWidget("Synthesis", self, objectName="synthesis_dock")  # names: saveState keeps where docks are
        dock.setWidget(side)
        dock.setFeatures(QDockWidget.DockWidgetFeature.NoDockWidgetFeatures)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        for corner, area in ((Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea),
                             (Qt.Corner.BottomLeftCorner, Qt.DockWidgetArea.LeftDockWidgetArea)):
            self.setCorner(corner, area)  # the candidates' row sits under the canvas only, never under the panel
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.candidates)
        self.candidates.hide()
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.neurons)
        self.neurons.hide()
        self.preview_label = QLabel(toolTip="the image at 1:1 and at 2x")  # whatever the canvas's zoom
        self.preview_dock = QDockWidget("Preview 1:1 and 2x", self, objectName="preview_dock")
        self.preview_dock.setWidget(self.preview_label)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.preview_dock)
        self.preview_dock.hide()  # View > Preview shows it; open by default it takes the canvas's room
        self.preview_dock.visibilityChanged.connect(self._on_preview_shown)
        from PySide6.QtCore import QTimer
        self._preview_timer = QTimer(self, singleShot=True, interval=100)
        self._preview_timer.timeout.connect(lambda: self.preview_dock.isVisible() and self.preview_label.setPixmap(
            preview_sheet(self.shown_image)))
        self.status_label, self.zoom_label = QLabel(""), QLabel("")
        self.zoom_label.setToolTip("zoom: screen pixels per image pixel (Ctrl+wheel, Ctrl+0 fits)")
        # a normal widget, not a permanent one: a message ("run stopped ...") hides it for a while instead of being
        # cut off beside it
        self.statusBar().addWidget(self.status_label, 1)
        self.status_label.setMinimumWidth(1)  # a long note is cut off (its tooltip holds it), not a wider window
        # a lasting sign that strokes go to the sketch, not the result (a message goes after a while)
        self.layer_label = QLabel("<b>SKETCH layer</b> (K: result)", toolTip="the canvas shows the sketch under the "
                                  "result and strokes paint on it; K shows the result again")
        self.layer_label.hide()
        self.statusBar().addPermanentWidget(self.layer_label)
        # the same for hidden overlays: a mask painted then is there but not seen
        self.overlays_label = QLabel("<b>overlays hidden</b> (H: show)", toolTip="the mask, class regions and "
                                     "strength are not drawn over the image; they still apply to runs")
        self.overlays_label.hide()
        self.statusBar().addPermanentWidget(self.overlays_label)
        self.statusBar().addPermanentWidget(self.zoom_label)
        self.canvas.view_changed.connect(lambda scale: self.zoom_label.setText(f"zoom {scale * 100:.0f}%"))

    def _connect(self) -> None:
        session, panel, worker = self.session, self.panel, self.session.worker
        editor = self.editor  # it says what it needs of the window by signals
        editor.message.connect(lambda text, ms: self.statusBar().showMessage(text, ms))
        editor.run_requested.connect(lambda keep: self.start_run(keep_drawing_shown=keep))
        editor.drawing_view_requested.connect(self.show_sketch)
        editor.overlays_requested.connect(self.set_overlays)
        editor.picture_replaced.connect(self._on_picture_replaced)
        panel.model_chosen.connect(session.load_model)
        panel.task_combo.currentIndexChanged.connect(self._propose_class)
        panel.changed.connect(self._on_parameter_changed)
        panel.class_picked.connect(self.canvas.setFocus)  # B, H, K ... are tools again, not letters in the field
        self.controls.run_button.clicked.connect(self.toggle_run)
        self.controls.reanchor_check.toggled.connect(self.editor.reset_anchor)
        session.status.connect(lambda text: self.status_label.setText(
            f"{self.run_summary} · {text}" if self.run_summary else text))
        session.status_detail.connect(lambda text: self.status_label.setToolTip(
            f"{self.run_detail}\n{text}" if self.run_summary else text))
        session.message.connect(lambda text: self.statusBar().showMessage(text, 10000))
        session.target_chosen.connect(self._on_target_chosen)
        session.preview.connect(self.refresh_canvas)
        worker.model_ready.connect(self._on_model_ready)
        session.model_failed.connect(panel.show_load_error)
        self.readout = CanvasReadout(self)
        worker.neurons_ready.connect(self.neurons.add_thumbnails)
        self.neurons.attach(worker)  # its previews, and the order the browser wants units in
        self.neurons.wanted.connect(session.request_neurons)
        self.neurons.not_wanted.connect(session.cancel_neurons)
        self.neurons.picked.connect(self.panel.pick_neuron)
        self.neurons.picked.connect(lambda unit: self.statusBar().showMessage(
            f"neuron {unit} picked for feature painting: brush the region with the mask", 5000))
        self.candidates.chosen.connect(self.editor.choose_candidate)
        self.undo_stack.cleanChanged.connect(self.update_title)
        self.undo_stack.indexChanged.connect(self.update_title)

    def _build_menus(self, device: str) -> None:
        run_menu = build_menus(self)
        self.controls.add_drawing_buttons(self.sketch_action, self.run_from_sketch_action)
        self.devices = DeviceMenu(self, run_menu, device)
        self.session.worker.device_ready.connect(self.devices.on_device_ready)
        self.devices.move_to.connect(self.session.set_device.emit)
        self.devices.ready.connect(self._on_device_changed)

    @property
    def document(self):
        return self.editor.document

    @property
    def undo_stack(self):
        return self.editor.undo_stack

    # --- the document ------------------------------------------------------------------------------------

    def refresh_canvas(self, image: np.ndarray | None = None) -> None:
        """Shows the document (or `image`, a preview such as a timeline iterate) whole, with its overlay."""
        self._show(image, None, None)

    def _on_document_changed(self, layers, rect) -> None:
        """The document says what changed: the canvas converts and repaints that rectangle only (a brush move), or
        all of it; the top-5 reads the canvas again a moment later."""
        shown = "sketch" if self.sketch_shown and self.document.sketch is not None else "image"
        if self.overlays_outlined and layers & OVERLAY_LAYERS:
            self.overlays_outlined = False  # the mask or regions are being edited: drawn filled again, whole
            rect = None
        if self.previewing:  # a timeline iterate or the run's start was shown: the document comes back, whole
            self.session.end_preview()
            self._show(None, layers, None)
        elif layers & {shown, *OVERLAY_LAYERS} or (self.sketch_shown and "sketch" in layers):
            self._show(None, layers, rect)

    def _show(self, image, layers, rect) -> None:
        from robustpaint.core.classmap import PALETTE
        doc = self.document
        self.previewing = image is not None
        shown = doc.layer("sketch" if self.sketch_shown else "image") if image is None else image
        overlay_changed = layers is None or bool(layers & OVERLAY_LAYERS)
        self.canvas.show_layers(shown, doc.layers, rect, self.show_overlays, PALETTE[:REGION_SLOTS],
                                overlay_changed, self.overlays_outlined)
        self.shown_image = shown  # what the canvas shows: the top-5 reads it
        if self.preview_dock.isVisible() and rect is None:  # 3 ms a live update at 512 px: only while it is open
            self.preview_label.setPixmap(preview_sheet(shown))
        elif self.preview_dock.isVisible():  # a brush move: 27 ms at 1024 px, so 100 ms after the last one
            self._preview_timer.start()
        self.readout.canvas_changed(rect is not None)

    def _on_preview_shown(self, visible: bool) -> None:
        if visible:
            self.preview_label.setPixmap(preview_sheet(self.shown_image))

    # --- runs --------------------------------------------------------------------------------------------

    def make_request(self):
        """The request of the canvas and the panel as they are now (what Run sends to the worker)."""
        from robustpaint.core.models import bf16_is_faster
        card = self.panel.cards.get(self.panel.model_name, {})
        device_type = (self.devices.device or "cpu").split(":")[0]
        bf16 = self.devices.bf16_action.isChecked() and bf16_is_faster(card.get("arch"), device_type)
        anchor = None if self.controls.reanchor else self.editor.anchor_image
        return canvas_request(self.document, self.panel.parameters(), card.get("classes", []), bf16, anchor,
                              self.panel.model_side())

    def start_run(self, keep_drawing_shown: bool = False) -> None:
        """Runs the panel's task from the canvas; `keep_drawing_shown`: a Live run from a stroke on the drawing,
        which stays in view so that the next stroke refines it too."""
        if not self.panel.has_models:
            self.statusBar().showMessage("no model installed: see 'robustpaint models list'", 5000)
            return
        if why := self.session.load_error(self.panel.model_name):  # nothing to run on: said, not "the run failed"
            self.statusBar().showMessage(f"no model is loaded: {why}", 10000)
            return
        self.editor.cancel_stroke()  # Space or Ctrl+R during a drag: the run starts from the canvas without it
        if self.sketch_shown and not keep_drawing_shown:
            self.show_sketch(False)  # a run starts from the image and shows what it makes
        if not self.controls.reanchor and self.editor.anchor_image is None:
            self.editor.anchor_image = self.document.image.copy()  # the ball stays around the canvas as it is now
        from robustpaint.core.errors import RobustPaintError
        try:
            request = self.make_request()
        except RobustPaintError as exc:  # e.g. a canvas the super-resolution factor does not divide
            self.statusBar().showMessage(str(exc), 10000)
            return
        name = self.panel.model_name
        self.session.start(name, self.panel.cards.get(name, {}).get("weights_sha256", ""), request)
        self.run_summary, self.run_detail = self.panel.summary()  # before each step's figures and the end note
        self.status_label.setText(self.run_summary)
        self.status_label.setToolTip(self.run_detail)
        self.outline_overlays(True)

    def _on_target_chosen(self, chosen: str) -> None:
        """Translate's "(the other class)": the status line names the class the run chose and the reading why."""
        self.run_summary, self.run_detail = self.panel.summary(chosen)
        self.status_label.setText(self.run_summary)
        self.status_label.setToolTip(self.run_detail)

    def outline_overlays(self, outlined: bool) -> None:
        """Draws the mask and regions as outlines (a run shows its result inside them) or filled (painting them)."""
        if outlined != self.overlays_outlined:
            self.overlays_outlined = outlined
            self.refresh_canvas()

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
        if not self.session.running:  # the top-5 read the canvas with the last model: this one reads it again
            self.session.last_top5 = []
            self.controls.show_top5([])
            self.readout.canvas_changed()
        self.neurons.set_model(name, card.get("neuron_classes", []))
        side, (h, w) = card["input_size"], self.document.size
        if min(h, w) < side:
            # The canvas does not depend on the model (a larger one is judged at the model's scale), but one smaller
            # than the model is scaled up to its side: the model reads nothing at a fraction of its scale.
            ratio = side / min(h, w)
            self.files.resize_canvas((round(h * ratio), round(w * ratio)))
            self.tools.brush_size.setValue(default_brush_size(side))
        self.show_model_status()

    def _propose_class(self) -> None:
        """A task whose class is, by default, what the model reads in the canvas (inpainting, super-resolution)
        proposes that reading, not the class the previous task was aimed at (#47 item 6)."""
        top5 = self.session.last_top5
        if self.panel.task in GUESSING_TASKS and top5 and top5[0]:
            self.panel.class_combo.setCurrentText(top5[min(self.session.candidate_index, len(top5) - 1)][0][0])

    def _on_picture_replaced(self) -> None:
        self.panel.set_canvas_size(self.document.size)
        self.show_model_status()

    def _on_device_changed(self, name: str) -> None:
        if self.panel.has_models:
            self.show_model_status(name)

    def show_model_status(self, device: str | None = None) -> None:
        """The status line's resting text, the model and its device; the tooltip goes with it (a finished run's
        note left its own there)."""
        self.status_label.setText(f"{self.panel.model_name} on {device or self.devices.device or 'cpu'}")
        self.status_label.setToolTip("")

    # --- view and closing --------------------------------------------------------------------------------

    def update_title(self) -> None:
        path = self.files.project_path
        name = path.rsplit("/", 1)[-1] if path else "untitled"
        self.setWindowTitle(f"{name}{'' if self.undo_stack.isClean() else ' *'} — RobustPaint")

    def show_sketch(self, shown: bool) -> None:
        """Shows the sketch layer (the user's drawing or photo the last run started from) instead of the result;
        strokes then paint on it, and Run > Run again from the sketch makes a picture of it."""
        if shown and self.document.sketch is None:
            self.statusBar().showMessage(NO_SKETCH, 8000)
            shown = False
        if self.sketch_action.isChecked() != shown:
            self.sketch_action.setChecked(shown)  # its toggled signal calls here again, with the same value
            return
        was_shown, self.sketch_shown = self.sketch_shown, shown
        self.editor.drawing_shown = shown  # strokes go to the layer shown
        self.layer_label.setVisible(shown)
        if shown:
            self.statusBar().showMessage("showing the sketch under the result: strokes paint on it; K shows the "
                                         "result again", 8000)
        elif was_shown:
            self.statusBar().showMessage("showing the result again: strokes paint on it", 5000)
        self.refresh_canvas()

    def set_overlays(self, shown: bool) -> None:
        """Hides or shows what is drawn over the image, e.g. to see an inpainted hole under its red mask."""
        if self.overlay_action.isChecked() != shown:
            self.overlay_action.setChecked(shown)  # its toggled signal calls here again, with the same value
            return
        if shown != self.show_overlays:  # not at start-up, when the menu's action is first checked
            self.statusBar().showMessage("overlays shown" if shown else "overlays hidden: the mask, regions and "
                                         "strength still apply to runs; H shows them again", 5000)
        self.show_overlays = self.editor.overlays_shown = shown
        self.overlays_label.setVisible(not shown)
        self.refresh_canvas()

    def unsaved_work_may_go(self, before: str = "closing") -> bool:
        """Asks Save / Discard / Cancel when there are unsaved changes (closing, New, Open); True to go on."""
        from PySide6.QtWidgets import QMessageBox
        if not self.ask_before_closing or self.undo_stack.isClean():
            return True
        buttons = QMessageBox.StandardButton
        answer = QMessageBox.question(self, "Unsaved changes", f"Save the project before {before}?",
                                      buttons.Save | buttons.Discard | buttons.Cancel)
        if answer == buttons.Cancel:
            return False
        if answer == buttons.Save:
            self.files.save_project_dialog()
            return self.undo_stack.isClean()  # saved, not cancelled in the file dialog
        return True

    def closeEvent(self, event) -> None:
        if not self.unsaved_work_may_go():
            event.ignore()
            return
        self.session.shutdown()
        self.files.closed_cleanly()
        super().closeEvent(event)
