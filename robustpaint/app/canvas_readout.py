"""The top-5 beside the canvas between runs: what the model reads in the canvas, one forward pass in the worker
150 ms after the last change; an empty canvas has no reading (a blank page read as "golf_ball 85%" told a newcomer
nothing), and shows what to do instead."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, QTimer

from robustpaint.core.tasks.knobs import AT_MODEL_SCALE

EMPTY_CANVAS_HINT = ("Draw here with the brush (B), or open a photo (Ctrl+O);\n"
                     "then pick a task on the right and press Run (Space)")


def is_blank(document, image: np.ndarray | None = None) -> bool:
    """A canvas of one colour (the document's image, or `image` shown instead) with nothing masked or painted as
    regions: nothing for the model to read yet."""
    image = document.image if image is None else image
    return bool((image == image.flat[0]).all() and not document.mask.any() and (document.regions < 0).all())


class CanvasReadout(QObject):
    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.timer = QTimer(self, singleShot=True, interval=150)
        self.timer.timeout.connect(self._classify)
        window.session.worker.classified.connect(self._on_classified)

    def canvas_changed(self, painted: bool = False) -> None:
        """The canvas shows something new: the hint and the readout follow (after every change, not only runs).
        `painted`: a brush move changed a rectangle; the whole-canvas blank check waits for the reading's timer
        (at 1024 px it cost milliseconds on every move)."""
        window = self.window
        if window.session.running:  # a run's steps show its own readout; the canvas is not blank then
            window.canvas.set_hint("")
            return
        if painted:
            window.canvas.set_hint("")
            self.timer.start()
            return
        blank = is_blank(window.document, window.shown_image)
        window.canvas.set_hint(EMPTY_CANVAS_HINT if blank else "")
        if blank:
            self.timer.stop()
            window.session.classify_id += 1  # a reading still on its way is of an older canvas
            window.session.last_top5 = []
            window.controls.show_top5([])
        else:
            self.timer.start()

    def _classify(self) -> None:
        window = self.window
        shown = window.shown_image  # the layer shown, or a timeline iterate or the run's start in its place
        if is_blank(window.document, shown) and not window.session.running:  # painted back to one colour
            self.canvas_changed()
            return
        if not window.session.running and window.panel.has_models:
            # read as the panel's task judges the canvas (Judged at: the model's scale, or all its pixels)
            window.session.classify(window.panel.model_name, np.array(shown),
                                    window.panel.parameters().knob("views") in AT_MODEL_SCALE)

    def _on_classified(self, request_id: int, top5) -> None:
        session = self.window.session
        if request_id == session.classify_id and not session.running:
            session.last_top5 = [top5]  # an older canvas, or a run's own readout, is dropped above
            self.window.controls.show_top5(top5)
