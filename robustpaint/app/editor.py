"""The editor: the document, its undo stack, the ball's anchor and the stroke in progress. Every change to the picture
(a stroke, a run's result, a new or resized canvas, a chosen candidate) goes through here, as one undo step with the
recipe of what the canvas shows; the run session and the files call it. It never calls the window: it works with the
parts it is given (`attach`: the run session, the tool bar, the task panel, the run controls, the candidate grid) and
says what the window should do by signals (a status message, a run, which layer to show, the overlays). The canvas
follows the document's own events."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QColor

from robustpaint.app.run_session import RunState
from robustpaint.app.undo import EditCommand, UndoHistory
from robustpaint.core.document import Document, DocumentEdit
from robustpaint.core.tasks import get_task

OVERLAY_TARGETS = ("mask", "regions", "strength")  # brush targets drawn as overlays, not into the picture
NO_SKETCH = "no sketch yet: a run from the canvas (Sketch, Translate, Inpaint ...) keeps what it started from"


class Editor(QObject):
    message = Signal(str, int)  # a status-bar message and how long it stays (ms)
    run_requested = Signal(bool)  # start a run from the canvas; True: a Live run from the drawing, kept in view
    drawing_view_requested = Signal(bool)  # show the drawing (True) or the result
    overlays_requested = Signal(bool)  # show (True) or hide the mask, regions and strength overlays
    picture_replaced = Signal()  # a new or resized picture: the panel's canvas size and the model's status follow

    def __init__(self, parent, document: Document):
        super().__init__(parent)
        self.document = document
        self.session = self.tools = self.panel = self.controls = self.candidates = None  # see `attach`
        self.drawing_shown = False  # the window's view: the drawing (sketch layer) shown instead of the result
        self.overlays_shown = True  # the window's view: mask, regions and strength drawn over the picture
        # Each step holds the tiles it changed; the history drops its oldest steps past its memory budget.
        self.undo_stack = UndoHistory(self)
        self.undo_stack.trimmed.connect(lambda text: self.message.emit(text, 10000))
        self.anchor_image: np.ndarray | None = None  # the ball's centre while re-anchoring is off
        self._stroke = None  # the stroke being drawn (core.strokes.Stroke)
        self._stroke_stopped_run = False  # the stroke began during a run, which it stopped
        self._stroke_cancelled = False  # the document changed under the drag: the rest of it paints nothing

    def attach(self, session, tools, panel, controls, candidates) -> None:
        """The parts the editor works with, made after it (the run session's host is the editor)."""
        self.session, self.tools, self.panel, self.controls, self.candidates = (session, tools, panel, controls,
                                                                                candidates)
        self.undo_stack.before_step = self._end_run  # Ctrl+Z mid-run: the run ends as a step, then is taken back

    def _end_run(self) -> None:
        """A run going on (or paused) ends as one undo step before an undo or redo moves the document under it
        (a super-resolution run had resized it: an undo then broke the canvas, a review found)."""
        if self.session.state is not RunState.IDLE:
            self.session.halt()

    def apply_edit(self, edit: DocumentEdit, side: int, recipe) -> None:
        """An undo step's side: the document as it was before (0) or after (1) the change, and the recipe of what
        it shows; a step that changed only the hidden sketch says so (the canvas shows no change)."""
        self.cancel_stroke()
        if edit.layer_names() == {"sketch"} and not self.drawing_shown:
            self.message.emit("the change is on the sketch layer, hidden under the result (K shows "
                                                "it)", 8000)
        size = self.document.size
        edit.apply(self.document, side)
        self.session.restore_recipe(recipe)
        if self.document.size != size:  # a resized canvas undone or redone (Canvas size, a super-resolution run)
            self.session.clear()  # the timeline's iterates are of the other size
            self._resized()

    def push_state(self, before, text: str, recipe_before=...) -> None:
        """The document's change since state `before` (and the recipe's since `recipe_before`, by default
        unchanged) becomes one undo step of the tiles that differ; the run session commits runs this way."""
        self.push_edit(DocumentEdit.between(before, self.document), text, recipe_before)
        if before[0].shape[:2] != self.document.size:  # a run that made a canvas of another size (super-resolution)
            self._resized()

    def _resized(self) -> None:
        """The canvas has another size: the ball's anchor is taken again (one of the old size fits no run) and the
        panel's presets follow the canvas's size."""
        self.reset_anchor(self.controls.reanchor)
        self.panel.set_canvas_size(self.document.size)

    def resize_for_run(self, size: tuple[int, int]) -> None:
        """A run makes images of another size (super-resolution: the picture `factor` times larger): the document
        takes that size, every layer scaled as Canvas size scales it, inside the run's undo step (pushed when the run
        ends; the panel's presets follow the new size then, not while the run goes on, where a Live run restarts
        when they change)."""
        self.cancel_stroke()
        self.document.resize(*size)

    def push_edit(self, edit: DocumentEdit, text: str, recipe_before=...) -> None:
        recipe_after = self.session.recipe_state()
        if edit.empty and recipe_after is (recipe_after if recipe_before is ... else recipe_before):
            return  # nothing changed (a stroke off the canvas): no step, and the document stays clean
        recipes = (recipe_after if recipe_before is ... else recipe_before, recipe_after)
        self.undo_stack.push(EditCommand(self, edit, text, recipes))

    def edit(self, change, text: str) -> None:
        """`change(document)` as one undo step (Edit > Invert mask ...)."""
        before = self.document.state()
        change(self.document)
        self.push_state(before, text)

    def replace(self, document: Document, text: str, new_picture: bool = True,
                         recipe: dict | None = None) -> None:
        """A new picture (opened, new; `recipe`: what made it, from a project) or a resized canvas, one undo step;
        the run stops and its readouts go."""
        self.cancel_stroke()
        self.session.halt()
        self.session.clear()
        self.candidates.clear()
        self.drawing_view_requested.emit(False)
        before, recipe_before = self.document.state(), self.session.recipe_state()
        self.document.assign(document)  # the same document object: its listeners stay
        if new_picture:
            self.session.last_recipe = recipe
        else:  # a resized canvas: the run's recipe no longer makes what it shows
            self.session.mark_edited()
        self.push_state(before, text, recipe_before)
        self.reset_anchor(self.controls.reanchor)
        self.picture_replaced.emit()

    def show_result(self, image: np.ndarray) -> None:
        """Puts a worker image on the canvas; a batch of candidates also fills the grid (the chosen one is shown)."""
        self.cancel_stroke()
        if image.ndim == 4:
            self.candidates.show_images(image)
            image = image[self.session.clamp_candidate(len(image))]
        elif self.candidates.images is not None:
            self.candidates.clear()  # a run of one image: the old batch is not what the canvas came from
        if image.shape[:2] != self.document.size:  # (the run session resized the canvas at its start already)
            self.resize_for_run(image.shape[:2])
        self.document.image = image

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

    # --- the sketch layer --------------------------------------------------------------------------------

    @property
    def layer(self) -> str:
        """The colour layer strokes paint on: the sketch while it is shown (View > Show the sketch), else the
        image."""
        return "sketch" if self.drawing_shown and self.document.sketch is not None else "image"

    def run_from_sketch(self, keep_drawing_shown: bool = False) -> None:
        """Run > Run again from the sketch: the sketch back on the canvas (one undo step) and a run from it, with
        the panel's settings as they are now."""
        if self.document.sketch is None:
            self.message.emit(NO_SKETCH, 8000)
            return
        task = get_task(self.panel.task)
        if "image" not in task.reads:  # its run would replace the sketch put back by a seed's picture
            self.message.emit(
                f"{task.label} starts from a seed, not from the sketch: choose Sketch (or another task that starts "
                "from the canvas) to run again from it", 8000)
            return
        self.cancel_stroke()
        self.session.halt()
        before, recipe_before = self.document.state(), self.session.recipe_state()
        picture = self.session.enlarged_from() if task.name == "superres" else None
        if picture is not None and picture.shape[:2] != self.document.size:  # the canvas back to the picture's
            self.document.resize(*picture.shape[:2])  # size, or each run from it would enlarge it again
            self.document.image = picture
        else:
            self.document.image = self.document.sketch.copy()
        self.session.last_recipe = None  # the canvas shows the user's sketch, not a run's result
        self.push_state(before, "back to the sketch", recipe_before)  # (a resized canvas: the presets follow)
        if keep_drawing_shown:  # Live, from a stroke on the drawing: the drawing stays in view for the next stroke
            self.run_requested.emit(True)
            self.message.emit("running again from your drawing: keep drawing, or K to see the "
                                                "result", 6000)
            return
        self.drawing_view_requested.emit(False)
        self.run_requested.emit(False)

    def reset_anchor(self, reanchor: bool) -> None:
        self.anchor_image = None if reanchor else self.document.image.copy()

    # --- strokes ---------------------------------------------------------------------------------------

    def cancel_stroke(self) -> None:
        """The document is about to change under a stroke being drawn (undo, a run's step, another picture, a
        resized canvas): the stroke's pixels go, and the rest of the drag paints nothing."""
        if self._stroke is not None:
            stroke, self._stroke = self._stroke, None
            stroke.cancel()
            self._stroke_cancelled = True

    def on_stroke_moved(self, points) -> None:
        """A mouse or pen move: paints the stroke's new segment only (the line tool draws its one segment again)."""
        if len(points) == 1:  # a press: whatever an earlier drag left (a release a dialog took) ends here
            if self._stroke is not None:
                self.cancel_stroke()
            self._stroke_cancelled = False
        if self._stroke_cancelled:
            return
        tool = self.tools.tool
        if self._stroke is None and tool in ("fill", "picker"):
            return
        if self._stroke is None:
            self._stroke_stopped_run = self.session.state is not RunState.IDLE
            if self._stroke_stopped_run:
                self._stop_run_for_stroke()
            brush = self.tools.brush()
            self._stroke = self.document.begin_stroke(brush, self.layer)
            self._stroke.line = tool == "line"  # the tool stays what it was at the press until the release
            self._stroke.logged_layer = self.layer
            if not self.overlays_shown and brush.target in OVERLAY_TARGETS:
                self.overlays_requested.emit(True)  # a mask painted unseen is a mask the user does not know is there
                self.message.emit(f"overlays shown again to paint the {brush.target} (H hides "
                                                    "them)", 6000)
        if self._stroke.line:
            self._stroke.restart([points[0], points[-1]])
        else:
            self._stroke.extend(points[len(self._stroke.points):])

    def _stop_run_for_stroke(self) -> None:
        """A stroke stops the run going on (no step still in flight may paint over it), and the status bar says so:
        the run's steps so far stay one undo step."""
        session = self.session
        done, total = session.steps_done, session.request.steps if session.request is not None else 0
        session.halt("PGD run")
        self.message.emit(
            f"run stopped at step {done}/{total} by your stroke (its steps so far are kept: Ctrl+Z takes them back)",
            8000)

    def on_stroke_finished(self, points) -> None:
        stroke, self._stroke = self._stroke, None
        if self._stroke_cancelled:
            self._stroke_cancelled = False
            return
        tool = self.tools.tool
        if stroke is None and tool == "picker":
            color = self.document.pick_color(*points[-1][:2], self.layer)
            if color is not None:
                self.tools.set_brush_color(QColor.fromRgbF(*color))
                self.message.emit(f"colour {self.tools.brush_color.name()}", 3000)
            return
        recipe_before = self.session.recipe_state()
        if stroke is None and tool == "fill":
            self._stroke_stopped_run = self.session.state is not RunState.IDLE
            if self._stroke_stopped_run:
                self._stop_run_for_stroke()
                recipe_before = self.session.recipe_state()
            before = self.document.state()
            c = self.tools.brush_color
            self.document.fill(int(points[-1][0]), int(points[-1][1]), (c.redF(), c.greenF(), c.blueF()), self.layer,
                               **self.tools.fill_options())
            edit = DocumentEdit.between(before, self.document)
            layer = "sketch" if self.layer == "sketch" else "image"
        else:
            if stroke is None:
                return
            layer_edit = stroke.finish()
            if layer_edit is None:
                return  # it changed no pixel (off the canvas, or the same paint again): no step, no log entry
            logged = len(self.document.strokes)
            # what was painted: the brush and layer of the press, the line tool's one segment
            self.document.log_stroke([points[0], points[-1]] if stroke.line else points, stroke.brush,
                                     stroke.logged_layer)
            edit = DocumentEdit([layer_edit], ("append", logged, tuple(self.document.strokes[logged:])))
            layer = stroke.layer
        if "image" in edit.layer_names():  # an export now holds more than the run
            self.session.mark_edited()
        live = self.controls.live and self.session.recipe_state() is not None
        task = get_task(self.panel.task)
        if layer == "sketch":
            self.push_edit(edit, "stroke on the sketch", recipe_before)
            if live and "image" in task.reads:  # the drawing changed: Live makes its picture again, from it
                self.run_from_sketch(keep_drawing_shown=True)
                return
            self.message.emit("painted on the sketch: Run > Run again from the sketch (Ctrl+R) "
                                                "makes a picture of it", 8000)
            return  # the image a run would start from has not changed
        self.push_edit(edit, "stroke", recipe_before)
        if not live:
            return
        from_drawing = "image" in task.reads and self.document.sketch is not None and not self._stroke_stopped_run
        if layer == "image" and from_drawing:
            # a touch-up on a finished result: kept. A run from here would paint over it (artefacts piled up run
            # after run); the drawing under it is what Live runs from.
            self.message.emit(
                "touch-up kept on the result: to change the picture, paint on your drawing (K shows it) and it runs "
                "again from there", 8000)
        elif layer in ("mask", "regions", "strength") and from_drawing and (layer in task.reads
                                                                             or layer == "strength"):
            self.run_from_sketch()  # a new hole or region: the run starts again from the drawing, not the result
        elif layer in task.reads or layer == "strength":
            self.run_requested.emit(False)
        elif layer == "image":
            self.message.emit(
                f"{task.label} starts from a seed, not from the canvas, so strokes do not restart it: choose "
                "Sketch (or another task that starts from the canvas) to make your drawing into a picture", 8000)
