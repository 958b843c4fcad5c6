"""The editor: the document, its undo stack, the ball's anchor and the stroke in progress. Every change to the picture
(a stroke, a run's result, a new or resized canvas, a chosen candidate) goes through here, as one undo step with the
recipe of what the canvas shows; the run session and the files call it, the window wires it to the canvas."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject
from PySide6.QtGui import QColor, QUndoStack

from robustpaint.app.undo import StateCommand
from robustpaint.core.document import Document
from robustpaint.core.tasks import get_task

OVERLAY_TARGETS = ("mask", "regions", "strength")  # brush targets drawn as overlays, not into the picture
NO_SKETCH = "no sketch yet: a run from the canvas (Sketch, Translate, Inpaint ...) keeps what it started from"


class Editor(QObject):
    def __init__(self, window, document: Document):
        super().__init__(window)
        self.window = window
        self.document = document
        self.undo_stack = QUndoStack(self)
        # Bounded memory in long sessions: each step holds two states (about 0.7 MB at 128 px, 2.1 MB at 224; with
        # a sketch layer 1.1 and 3.3 MB).
        self.undo_stack.setUndoLimit(200)
        self.anchor_image: np.ndarray | None = None  # the ball's centre while re-anchoring is off
        self._stroke_before = None

    def restore(self, state, recipe) -> None:
        """An undo step's side: the document's state and the recipe of what it shows; a step that changed only the
        hidden sketch says so (the canvas shows no change)."""
        image_before, sketch_before = self.document.image, self.document.sketch
        self.document.restore(state)
        sketch = self.document.sketch
        sketch_changed = (sketch_before is None) != (sketch is None) or (
            sketch is not None and not np.array_equal(sketch_before, sketch))
        if sketch_changed and not self.window.sketch_shown and np.array_equal(image_before, self.document.image):
            self.window.statusBar().showMessage("the change is on the sketch layer, hidden under the result (K shows "
                                                "it)", 8000)
        self.window.session.restore_recipe(recipe)
        self.window.refresh_canvas()

    def push_state(self, before, text: str, recipe_before=...) -> None:
        """The document's change since `before` (and the recipe's since `recipe_before`, by default unchanged)
        becomes one undo step; the run session commits runs this way."""
        recipe_after = self.window.session.recipe_state()
        recipes = (recipe_after if recipe_before is ... else recipe_before, recipe_after)
        self.undo_stack.push(StateCommand(self, before, self.document.state(), text, recipes))

    def edit(self, change, text: str) -> None:
        """`change(document)` as one undo step (Edit > Invert mask ...)."""
        before = self.document.state()
        change(self.document)
        self.push_state(before, text)
        self.window.refresh_canvas()

    def replace(self, document: Document, text: str, new_picture: bool = True,
                         recipe: dict | None = None) -> None:
        """A new picture (opened, new; `recipe`: what made it, from a project) or a resized canvas, one undo step;
        the run stops and its readouts go."""
        self.window.session.halt()
        self.window.session.clear()
        self.window.candidates.clear()
        self.window.show_sketch(False)
        before, recipe_before = self.document.state(), self.window.session.recipe_state()
        self.document = document
        if new_picture:
            self.window.session.last_recipe = recipe
        else:  # a resized canvas: the run's recipe no longer makes what it shows
            self.window.session.mark_edited()
        self.push_state(before, text, recipe_before)
        self.reset_anchor(self.window.controls.reanchor)
        self.window.panel.set_canvas_size(document.size)
        self.window.show_model_status()
        self.window.refresh_canvas()

    def show_result(self, image: np.ndarray) -> None:
        """Puts a worker image on the canvas; a batch of candidates also fills the grid (the chosen one is shown)."""
        if image.ndim == 4:
            self.window.candidates.show_images(image)
            image = image[self.window.session.clamp_candidate(len(image))]
        elif self.window.candidates.images is not None:
            self.window.candidates.clear()  # a run of one image: the old batch is not what the canvas came from
        self.document.image = image
        self.window.refresh_canvas()

    def choose_candidate(self, index: int, again: bool = False) -> None:
        """Takes candidate `index` to the canvas (one undo step when no run is going on); `again`: a click on the
        selected one, which only acts when the canvas no longer shows it."""
        images = self.window.candidates.images
        if images is None or not 0 <= index < len(images):
            return
        if again and np.array_equal(self.document.image, images[index]):
            return
        self.window.session.choose_candidate(index)
        top5 = self.window.session.last_top5
        if top5:
            self.window.controls.show_top5(top5[min(index, len(top5) - 1)])
        if not self.window.session.running:  # else the next live update shows it
            before = self.document.state()
            self.document.image = images[index].copy()
            self.push_state(before, f"take candidate {index + 1}")
            self.window.refresh_canvas()

    # --- the sketch layer --------------------------------------------------------------------------------

    @property
    def layer(self) -> str:
        """The colour layer strokes paint on: the sketch while it is shown (View > Show the sketch), else the
        image."""
        return "sketch" if self.window.sketch_shown and self.document.sketch is not None else "image"

    def run_from_sketch(self) -> None:
        """Run > Run again from the sketch: the sketch back on the canvas (one undo step) and a run from it, with
        the panel's settings as they are now."""
        if self.document.sketch is None:
            self.window.statusBar().showMessage(NO_SKETCH, 8000)
            return
        task = get_task(self.window.panel.task)
        if "image" not in task.reads:  # its run would replace the sketch put back by a seed's picture
            self.window.statusBar().showMessage(
                f"{task.label} starts from a seed, not from the sketch: choose Sketch (or another task that starts "
                "from the canvas) to run again from it", 8000)
            return
        self.window.session.halt()
        before, recipe_before = self.document.state(), self.window.session.recipe_state()
        self.document.image = self.document.sketch.copy()
        self.window.session.last_recipe = None  # the canvas shows the user's sketch, not a run's result
        self.push_state(before, "back to the sketch", recipe_before)
        self.window.show_sketch(False)
        self.window.start_run()

    def reset_anchor(self, reanchor: bool) -> None:
        self.anchor_image = None if reanchor else self.document.image.copy()

    # --- strokes ---------------------------------------------------------------------------------------

    def on_stroke_moved(self, points) -> None:
        if self.window.session.running:
            self.window.session.halt("PGD run")  # no step still in flight may paint over the stroke
        if self._stroke_before is None:
            self._stroke_before = self.document.state()
            if not self.window.show_overlays and self.window.tools.brush().target in OVERLAY_TARGETS:
                self.window.set_overlays(True)  # a mask painted unseen is a mask the user does not know is there
                self.window.statusBar().showMessage(f"overlays shown again to paint the "
                                                    f"{self.window.tools.brush().target} (H hides them)", 6000)
        self.document.restore(self._stroke_before)
        if self.window.tools.tool in ("fill", "picker"):
            return
        self.document.paint_stroke(self._stroke_points(points), self.window.tools.brush(), self.layer)
        self.window.refresh_canvas()

    def _stroke_points(self, points):
        """The line tool draws the straight segment from where the drag began to where it is now."""
        return [points[0], points[-1]] if self.window.tools.tool == "line" else points

    def on_stroke_finished(self, points) -> None:
        before = self._stroke_before or self.document.state()
        self._stroke_before = None
        tool = self.window.tools.tool
        if tool == "picker":
            color = self.document.pick_color(*points[-1][:2], self.layer)
            if color is not None:
                self.window.tools.set_brush_color(QColor.fromRgbF(*color))
                self.window.statusBar().showMessage(f"colour {self.window.tools.brush_color.name()}", 3000)
            return
        if tool == "fill":
            c = self.window.tools.brush_color
            self.document.fill(int(points[-1][0]), int(points[-1][1]), (c.redF(), c.greenF(), c.blueF()), self.layer)
            self.window.refresh_canvas()
        else:
            self.document.log_stroke(self._stroke_points(points), self.window.tools.brush(), self.layer)
        recipe_before = self.window.session.recipe_state()
        if not np.array_equal(before[0], self.document.image):  # an export now holds more than the run
            self.window.session.mark_edited()
        target = "image" if tool == "fill" else self.window.tools.brush().target
        layer = {"erase": "image"}.get(target, target)  # what the stroke changed
        if layer == "image" and self.layer == "sketch":
            self.push_state(before, "stroke on the sketch", recipe_before)
            self.window.statusBar().showMessage("painted on the sketch: Run > Run again from the sketch (Ctrl+R) "
                                                "makes a picture of it", 8000)
            return  # the image a run would start from has not changed
        self.push_state(before, "stroke", recipe_before)
        reads = get_task(self.window.panel.task).reads
        if not self.window.controls.live or self.window.session.recipe_state() is None:
            return
        if layer in reads or layer == "strength":
            self.window.start_run()
        elif layer == "image":
            task = get_task(self.window.panel.task)
            self.window.statusBar().showMessage(
                f"{task.label} starts from a seed, not from the canvas, so strokes do not restart it: choose "
                "Sketch (or another task that starts from the canvas) to make your drawing into a picture", 8000)
