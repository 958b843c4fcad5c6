"""The canvas: shows the working image scaled up, turns mouse and pen drags into strokes in image coordinates."""

from __future__ import annotations

import sys

import numpy as np
from PySide6.QtCore import QEvent, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import QWidget


def array_to_qimage(image: np.ndarray) -> QImage:
    """H x W x 3 float [0,1] as an RGB32 QImage (a copy, so the array may change afterwards)."""
    qimage = QImage(image.shape[1], image.shape[0], QImage.Format.Format_RGB32)
    write_rgb(qimage, image, (0, 0, image.shape[1], image.shape[0]))
    return qimage


def _bytes_view(qimage: QImage) -> np.ndarray:
    """The QImage's own pixels as an H x W x 4 uint8 array (B, G, R, A on little-endian machines)."""
    h, w = qimage.height(), qimage.width()
    buffer = np.frombuffer(qimage.bits(), np.uint8, count=qimage.sizeInBytes())
    return np.lib.stride_tricks.as_strided(buffer, (h, w, 4), (qimage.bytesPerLine(), 4, 1))


_BGRA = (2, 1, 0, 3) if sys.byteorder == "little" else (1, 2, 3, 0)  # where R, G, B, A sit in a 32-bit pixel


_SCRATCH: dict = {}  # shape -> the float buffer of the last large conversion, kept for the next live update


def write_rgb(qimage: QImage, image: np.ndarray, rect) -> None:
    """Writes `rect` (x0, y0, x1, y1) of an H x W x 3 float [0,1] array into an RGB32 QImage of its size (rounded
    to the nearest byte, as before). Only the rectangle is converted: a brush move at 1024 px touches a few
    thousand pixels, not a million."""
    x0, y0, x1, y1 = rect
    view = _bytes_view(qimage)[y0:y1, x0:x1]
    source = image[y0:y1, x0:x1]
    if source.size < 1 << 16:  # a brush move's rectangle: small temporaries are cheap
        part = np.clip(source, 0, 1) * 255 + 0.5
    else:  # a whole canvas every live step: fresh image-sized temporaries page-fault (12-26 ms at 512 px, #34)
        part = _SCRATCH.get(source.shape)
        if part is None:
            _SCRATCH.clear()
            part = _SCRATCH[source.shape] = np.empty(source.shape, np.float32)
        np.clip(source, 0, 1, out=part)
        np.multiply(part, 255, out=part)
        np.add(part, 0.5, out=part)
    for channel in range(3):
        view[..., _BGRA[channel]] = part[..., channel]  # truncation: the + 0.5 rounds
    view[..., _BGRA[3]] = 255


def _premultiplied(colour, alpha: int) -> np.ndarray:
    """One overlay pixel as the QImage holds it: premultiplied, in its byte order."""
    pixel = np.zeros(4, np.uint8)
    for channel, value in enumerate((*(int(c * alpha / 255) for c in colour), alpha)):
        pixel[_BGRA[channel]] = value
    return pixel


def outline_width(h: int, w: int) -> int:
    """Image pixels of an overlay's outline: about one screen pixel thick when a large canvas is fitted."""
    return max(1, round(max(h, w) / 400))


def _edge(inside: np.ndarray, width: int) -> np.ndarray:
    """The pixels of `inside` within `width` pixels of its border (4-neighbour erosion, the array's edge counting
    as inside so that a mask reaching the border is not outlined there)."""
    core = inside.copy()
    for _ in range(width):
        padded = np.pad(core, 1, mode="edge")
        core &= padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    return inside & ~core


def write_overlay(qimage: QImage, mask: np.ndarray, regions: np.ndarray, strength: np.ndarray, palette, rect,
                  outline: int = 0) -> bool:
    """Writes `rect` of the layers drawn over the image into an ARGB32-premultiplied QImage: the mask in
    translucent red, class regions in their palette colour, protected pixels darkened. True when anything in the
    rectangle shows. `outline` > 0: only a border that many pixels wide, nearly opaque, so a run's result shows
    inside the mask (#47). Integer pixels throughout (a float RGBA canvas took 50 ms at 1024 px)."""
    x0, y0, x1, y1 = rect
    full_h, full_w = mask.shape[:2]
    # an outline depends on the neighbours: the layers are read `outline` pixels around the rectangle
    gx0, gy0, gx1, gy1 = max(0, x0 - outline), max(0, y0 - outline), min(full_w, x1 + outline), min(full_h, y1 + outline)
    inner = (slice(y0 - gy0, y1 - gy0), slice(x0 - gx0, x1 - gx0))
    mask, regions, strength = mask[gy0:gy1, gx0:gx1], regions[gy0:gy1, gx0:gx1], strength[gy0:gy1, gx0:gx1]

    def drawn(where):  # the pixels of a layer's region that show: all of it, or its border
        return (_edge(where, outline) if outline else where)[inner]

    view = _bytes_view(qimage)[y0:y1, x0:x1]
    view[...] = 0
    shown = False
    alpha = 230 if outline else 110
    protected = strength < 1
    if protected.any():  # black, the more opaque the less the pixel may change
        if outline:
            view[drawn(protected)] = _premultiplied((0, 0, 0), 200)
        else:
            view[..., _BGRA[3]] = ((1 - strength[inner]) * 140).astype(np.uint8)
        shown = True
    if (regions >= 0).any():
        for slot, colour in enumerate(palette):
            view[drawn(regions == slot)] = _premultiplied(colour, alpha)
        shown = True
    masked = mask > 0.5
    if masked.any():
        view[drawn(masked)] = _premultiplied((255, 40, 40), alpha)
        shown = True
    return shown


def preview_sheet(image: np.ndarray):
    """The image at 1:1 and at 2x side by side (the preview dock), whatever the canvas's zoom."""
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
    return sheet


class Canvas(QWidget):
    """Draws `image` and its overlay (mask, regions, strength) scaled to fit or zoomed; emits strokes as image points.

    Zoom: Ctrl+wheel (around the cursor) or `set_zoom`; `zoom = None` fits the widget. Pan: drag with the middle
    button (or with the right button). Strokes are always reported in image pixels, whatever the view.
    """

    stroke_moved = Signal(object)  # list of (x, y), or (x, y, pressure) from a pen, so far, for live drawing
    stroke_finished = Signal(object)  # the whole stroke
    view_changed = Signal(float)  # screen pixels per image pixel, after a zoom, a pan or a resize
    VISIBLE_MARGIN = 48  # screen pixels of the image that stay in view however far it is panned

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setMinimumSize(256, 256)
        self.setMouseTracking(True)  # the brush outline follows the pointer, not only while painting
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # takes the keyboard when clicked, so shortcuts reach the app
        self._image = QImage()  # the layer shown, RGB32, updated rectangle by rectangle
        self._mask = QImage()  # the overlay, ARGB32 premultiplied; null when nothing is drawn over the image
        self._overlay = QImage()  # the overlay's pixels, kept (and updated in rectangles) while overlays are shown
        self._outlined = False  # the overlay drawn as outlines (a run's result shows inside the mask)
        self._image_size = (1, 1)  # until the first content
        self._points: list[tuple[float, float]] = []
        self._pan_from: QPointF | None = None
        self.smooth = True  # smooth scaling by default (View menu)
        self.zoom: float | None = None  # screen pixels per image pixel; None = fit the widget
        self.offset = QPointF(0, 0)  # pan, in screen pixels, of the zoomed image from the centred position
        self.hint = ""  # what to do, written over an empty canvas
        self.brush_diameter = 0.0  # image pixels; > 0: an outline of the brush follows the pointer
        self.pointer: QPointF | None = None  # where the pointer is over the canvas (None: elsewhere)

    def show_layers(self, image: np.ndarray, layers=None, rect=None, overlays_shown: bool = True,
                    palette=(), overlay_changed: bool = True, outline: bool = False) -> None:
        """Shows `image` and, while `overlays_shown`, the overlay of the document's `layers` (mask, regions and
        strength; `outline`: their borders only), converting and repainting only `rect` (x0, y0, x1, y1 in image
        pixels; None: all of it)."""
        h, w = image.shape[:2]
        sized = not self._image.isNull() and (self._image.height(), self._image.width()) == (h, w)
        whole = rect is None or not sized
        if whole:
            rect = (0, 0, w, h)
        if not sized:  # else the image's own buffer is kept: fresh ones page-fault on every live update
            self._image = QImage(w, h, QImage.Format.Format_RGB32)
        write_rgb(self._image, image, rect)
        if outline != self._outlined:  # filled and outlined overlays differ everywhere
            self._outlined, overlay_changed, whole, rect = outline, True, True, (0, 0, w, h)
        if overlays_shown and layers is not None and not overlay_changed and not self._overlay.isNull() \
                and (self._overlay.height(), self._overlay.width()) == (h, w):
            pass  # only the picture changed (a run's step): the overlay stays as it is
        elif overlays_shown and layers is not None:
            if whole or self._overlay.isNull():
                rect_overlay = (0, 0, w, h)
                self._overlay = QImage(w, h, QImage.Format.Format_ARGB32_Premultiplied)
                self._overlay_seen = False
            else:
                rect_overlay = rect
            seen = write_overlay(self._overlay, layers["mask"], layers["regions"], layers["strength"], palette,
                                 rect_overlay, outline_width(h, w) if outline else 0)
            # drawn once anything showed (a rectangle unmasked again leaves transparent pixels, cheap to draw)
            self._overlay_seen = seen or (self._overlay_seen and not whole and rect_overlay != (0, 0, w, h))
            self._mask = self._overlay if self._overlay_seen else QImage()
        else:
            self._overlay, self._mask = QImage(), QImage()
        if self._sized((h, w)) or whole:
            self.update()
        else:
            self.update(self._screen_rect(rect))

    def _sized(self, size) -> bool:
        """Takes the content's size; True when it changed (another canvas: the fitted zoom changes, and the status
        bar says so)."""
        resized = tuple(size) != tuple(self._image_size)
        self._image_size = tuple(size)
        if resized:
            self._view_moved()
        return resized

    def _screen_rect(self, rect):
        """The widget rectangle that shows image rectangle `rect`, with a pixel to spare for smooth scaling."""
        target, (h, w) = self.target_rect(), self._image_size
        sx, sy = target.width() / w, target.height() / h
        x0, y0, x1, y1 = rect
        return QRectF(target.x() + (x0 - 1) * sx, target.y() + (y0 - 1) * sy, (x1 - x0 + 2) * sx,
                      (y1 - y0 + 2) * sy).toAlignedRect().adjusted(-1, -1, 1, 1)

    def set_hint(self, hint: str) -> None:
        if hint != self.hint:
            self.hint = hint
            self.update()

    def set_smooth(self, smooth: bool) -> None:
        """Smooth scaling (a photo reads as a photo) or pixels as blocks."""
        self.smooth = smooth
        self.update()

    @property
    def has_overlay(self) -> bool:
        """Whether a mask, regions or strength overlay is drawn over the image."""
        return not self._mask.isNull()

    def fit_scale(self) -> float:
        h, w = self._image_size
        return min(self.width() / w, self.height() / h)

    def scale(self) -> float:
        return self.fit_scale() if self.zoom is None else self.zoom

    def set_zoom(self, zoom: float | None, anchor: QPointF | None = None) -> None:
        """Zooms to `zoom` screen pixels per image pixel (None: fit), keeping the image point under `anchor`."""
        if zoom is not None:
            zoom = float(min(max(zoom, 1.0), 256.0))
        if anchor is not None and zoom is not None:
            x, y = self.to_image(anchor)
            self.zoom = zoom
            rect = self.target_rect()
            h, w = self._image_size
            self.offset += anchor - QPointF(rect.x() + x / w * rect.width(), rect.y() + y / h * rect.height())
        else:
            self.zoom = zoom
            if zoom is None:
                self.offset = QPointF(0, 0)
        self._view_moved()

    def _view_moved(self) -> None:
        """Keeps part of the image on screen (it cannot be panned away entirely), repaints, reports the zoom."""
        if self.zoom is not None:
            rect = self.target_rect()
            margin_x = min(self.VISIBLE_MARGIN, rect.width(), self.width())
            margin_y = min(self.VISIBLE_MARGIN, rect.height(), self.height())
            dx = max(0.0, margin_x - rect.right()) - max(0.0, rect.left() - (self.width() - margin_x))
            dy = max(0.0, margin_y - rect.bottom()) - max(0.0, rect.top() - (self.height() - margin_y))
            self.offset += QPointF(dx, dy)
        self.update()
        self.view_changed.emit(self.scale())

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._view_moved()

    def zoom_by(self, factor: float, anchor: QPointF | None = None) -> None:
        self.set_zoom(self.scale() * factor, anchor)

    def target_rect(self) -> QRectF:
        h, w = self._image_size
        scale = self.scale()
        offset = QPointF(0, 0) if self.zoom is None else self.offset
        return QRectF((self.width() - w * scale) / 2 + offset.x(), (self.height() - h * scale) / 2 + offset.y(),
                      w * scale, h * scale)

    def to_image(self, pos: QPointF) -> tuple[float, float]:
        rect = self.target_rect()
        h, w = self._image_size
        return ((pos.x() - rect.x()) / rect.width() * w, (pos.y() - rect.y()) / rect.height() * h)

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(60, 60, 60))
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, self.smooth)
        if not self._image.isNull():
            painter.drawImage(self.target_rect(), self._image)
        if not self._mask.isNull():
            painter.drawImage(self.target_rect(), self._mask)
        if self.brush_diameter > 0 and self.pointer is not None and self._pan_from is None:
            radius = self.brush_diameter * self.scale() / 2
            for color, width in ((QColor(255, 255, 255, 200), 3), (QColor(0, 0, 0, 220), 1)):  # seen on any colour
                painter.setPen(QPen(color, width))
                painter.drawEllipse(self.pointer, radius, radius)
        if self.hint:
            painter.setPen(QColor(110, 110, 110))
            painter.drawText(self.target_rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.hint)
        painter.end()

    def wheelEvent(self, event) -> None:
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier and event.angleDelta().y():
            self.zoom_by(1.25 if event.angleDelta().y() > 0 else 0.8, event.position())
        elif self.zoom is not None:  # plain wheel scrolls a zoomed image
            self.offset += QPointF(event.angleDelta().x(), event.angleDelta().y()) / 4
            self._view_moved()

    def mousePressEvent(self, event) -> None:
        if event.button() in (Qt.MouseButton.MiddleButton, Qt.MouseButton.RightButton):
            self._pan_from = event.position()
            if self.zoom is None:
                self.zoom = self.fit_scale()
                self.offset = QPointF(0, 0)
        elif event.button() == Qt.MouseButton.LeftButton:
            self._points = [self.to_image(event.position())]
            self.stroke_moved.emit(list(self._points))

    def set_brush_diameter(self, diameter: float) -> None:
        """The brush's size in image pixels (0: no outline, for tools that do not paint)."""
        if diameter != self.brush_diameter:
            self.brush_diameter = diameter
            self.update()

    def leaveEvent(self, event) -> None:
        self.pointer = None
        self.update()
        super().leaveEvent(event)

    def _outline_rect(self):
        """The screen rectangle the brush outline covers (its pens included)."""
        r = self.brush_diameter * self.scale() / 2 + 3
        return QRectF(self.pointer.x() - r, self.pointer.y() - r, 2 * r, 2 * r).toAlignedRect()

    def mouseMoveEvent(self, event) -> None:
        self._pointer_moved(event.position())

    def _pointer_moved(self, position: QPointF, pressure: float | None = None) -> None:
        """The outline follows the pointer; a drag pans or extends the stroke (with the pen's pressure, if any)."""
        if self.brush_diameter > 0 and self.pointer is not None:
            self.update(self._outline_rect())  # only where the outline was and now is, not the whole canvas
        self.pointer = position
        if self.brush_diameter > 0:
            self.update(self._outline_rect())
        if self._pan_from is not None:
            self.offset += position - self._pan_from
            self._pan_from = position
            self._view_moved()
        elif self._points:
            self._points.append(self._stroke_point(position, pressure))
            self.stroke_moved.emit(list(self._points))

    def _stroke_point(self, position: QPointF, pressure: float | None) -> tuple:
        """(x, y) in image pixels, or (x, y, pressure) for a pen."""
        x, y = self.to_image(position)
        return (x, y) if pressure is None else (x, y, min(max(float(pressure), 0.0), 1.0))

    def tabletEvent(self, event) -> None:
        """A pen paints like the mouse, and its pressure scales the brush at each point of the stroke. Its other
        buttons are left to Qt, which turns them into mouse events (the barrel button pans)."""
        kind, pressure = event.type(), event.pressure()
        if kind == QEvent.Type.TabletPress and event.button() == Qt.MouseButton.LeftButton:
            self._points = [self._stroke_point(event.position(), pressure)]
            self.stroke_moved.emit(list(self._points))
        elif kind == QEvent.Type.TabletMove and self._pan_from is None:
            self._pointer_moved(event.position(), pressure)
        elif kind == QEvent.Type.TabletRelease and event.button() == Qt.MouseButton.LeftButton and self._points:
            points, self._points = self._points, []
            self.stroke_finished.emit(points)
        else:
            event.ignore()
            return
        event.accept()

    def mouseReleaseEvent(self, event) -> None:
        if event.button() in (Qt.MouseButton.MiddleButton, Qt.MouseButton.RightButton):
            self._pan_from = None
        elif event.button() == Qt.MouseButton.LeftButton and self._points:
            points, self._points = self._points, []
            self.stroke_finished.emit(points)
