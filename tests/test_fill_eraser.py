"""#47 item 9, from a painter who knows Krita and GIMP: the fill left pale seams along soft edges (it took only the
seed's exact colour) and had no tolerance, it was a pure-Python flood fill (seconds at 1024 px), and the eraser
painted white where a painter expects the picture underneath back (the drawing or photo the run started from)."""

from __future__ import annotations

import numpy as np
import pytest

from robustpaint.core.document import Brush, Document, DocumentEdit
from robustpaint.core.fill import DEFAULT_TOLERANCE

RED = (1.0, 0.0, 0.0)


def _reference_region(layer: np.ndarray, x: int, y: int, tolerance: float) -> np.ndarray:
    """The plain flood fill the fill must agree with: the 4-connected pixels reached from (x, y) through pixels
    whose every channel is within `tolerance` of the seed's."""
    h, w = layer.shape[:2]
    same = np.abs(layer - layer[y, x]).max(axis=2) <= tolerance + 1e-6
    region = np.zeros((h, w), bool)
    stack = [(y, x)]
    while stack:
        cy, cx = stack.pop()
        if not (0 <= cy < h and 0 <= cx < w) or region[cy, cx] or not same[cy, cx]:
            continue
        region[cy, cx] = True
        stack += [(cy + 1, cx), (cy - 1, cx), (cy, cx + 1), (cy, cx - 1)]
    return region


def _ring(document: Document, centre=64.0, radius=40.0, size=8, hardness=0.3) -> None:
    """A closed soft black circle, as a painter draws an outline to fill."""
    t = np.linspace(0, 2 * np.pi, 97)
    points = np.stack([centre + radius * np.cos(t), centre + radius * np.sin(t)], axis=1)
    document.paint_stroke(points.tolist(), Brush(size=size, color=(0, 0, 0), hardness=hardness))


def _distance(shape, centre=64.0) -> np.ndarray:
    yy, xx = np.mgrid[:shape[0], :shape[1]] + 0.5
    return np.hypot(xx - centre, yy - centre)


# --- the fill ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(8))
def test_the_fills_region_is_the_plain_flood_fills_for_any_picture_and_tolerance(seed):
    from robustpaint.core.fill import fill_region
    rng = np.random.default_rng(seed)
    h, w = rng.integers(1, 40, 2) if seed < 6 else rng.integers(100, 200, 2)
    levels = rng.integers(2, 6)  # few levels: big, winding regions of one colour
    layer = (rng.integers(0, levels, (h, w, 3)) / (levels - 1)).astype(np.float32)
    if seed % 2:
        layer[:, :, 1:] = layer[:, :, :1]  # grey: regions wind through the whole picture
    for tolerance in (0.0, 0.3, 0.6, 1.0):
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        assert np.array_equal(fill_region(layer, x, y, tolerance), _reference_region(layer, x, y, tolerance)), (
            seed, tolerance)


def test_the_fill_follows_a_maze_of_one_pixel_corridors_to_its_end():
    from robustpaint.core.fill import fill_region
    maze = np.zeros((61, 60, 3), np.float32)
    for i, c in enumerate(range(0, 60, 2)):  # corridors joined at the bottom and the top in turn
        maze[1:60, c] = 1
        maze[60 if i % 2 == 0 else 0, c:c + 3] = 1
    region = fill_region(maze, 0, 1, 0.1)
    assert np.array_equal(region, _reference_region(maze, 0, 1, 0.1)) and region[1, 58]


def test_a_fill_inside_a_soft_outline_leaves_no_pale_seam():
    document = Document.blank(128)
    _ring(document)
    drawn = document.image.copy()
    document.fill(64, 64, RED)
    image, distance = document.image, _distance(drawn.shape)
    inside = distance < 40  # up to the middle of the outline
    grey = drawn[..., 0]
    # the outline's soft inner edge went from white to black: it now goes from red to black, no white left in it
    assert image[inside][:, 1:].max() <= 0.02, "pale seam: white left between the fill and the outline"
    rim = inside & (grey < 1 - DEFAULT_TOLERANCE)  # past the tolerance: red by how much of the pixel was white
    assert rim.sum() > 100 and np.abs(image[rim][:, 0] - grey[rim]).max() <= 0.02
    assert (image[inside & ~rim] == np.float32(RED)).all()  # within it: the fill's colour, as GIMP's threshold
    assert np.array_equal(image[distance > 41], drawn[distance > 41])  # the fill stops at the outline
    assert (image[distance < 30] == np.float32(RED)).all()


def test_a_fill_with_soft_edges_off_fills_only_within_the_tolerance():
    document = Document.blank(128)
    _ring(document)
    drawn = document.image.copy()
    document.fill(64, 64, RED, tolerance=0.2, soft_edges=False)
    changed = (document.image != drawn).any(axis=2)
    assert np.array_equal(changed, _reference_region(drawn, 64, 64, 0.2))


def test_tolerance_zero_takes_one_colour_and_more_takes_the_colours_near_it():
    ramp = np.repeat(np.repeat((np.arange(101, dtype=np.float32) / 100)[None, :, None], 5, 0), 3, 2)
    for tolerance, columns in ((0.0, 1), (0.2, 21), (0.5, 51), (1.0, 101)):
        document = Document(ramp)
        document.fill(0, 2, RED, tolerance=tolerance, soft_edges=False)
        filled = (document.image == np.float32(RED)).all(axis=2)
        assert filled[:, :columns].all() and not filled[:, columns:].any(), tolerance


def test_the_tolerance_does_not_leak_the_fill_through_an_outline():
    document = Document.blank(128)
    _ring(document)
    drawn = document.image.copy()
    document.fill(64, 64, RED, tolerance=0.6)
    distance = _distance(drawn.shape)
    assert np.array_equal(document.image[distance > 45], drawn[distance > 45])


def test_a_fill_writes_in_place_says_where_and_undoes_exactly():
    document = Document.blank(256)
    _ring(document)
    drawn = document.image.copy()
    events = []
    document.subscribe(lambda layers, rect: events.append((layers, rect)))
    before = document.state()
    document.fill(64, 64, RED)
    filled = document.image.copy()
    assert events and events[-1][0] == {"image"}
    x0, y0, x1, y1 = events[-1][1]
    assert x0 >= 16 and y0 >= 16 and x1 <= 113 and y1 <= 113  # the outline's box, not the canvas
    edit = DocumentEdit.between(before, document)
    assert edit.layer_names() == {"image"}
    edit.apply(document, 0)
    assert np.array_equal(document.image, drawn)
    edit.apply(document, 1)
    assert np.array_equal(document.image, filled)


def test_a_fill_on_the_sketch_changes_the_sketch_only():
    document = Document.blank(64)
    document.keep_sketch()
    result = document.image.copy()
    document.fill(5, 5, RED, layer="sketch")
    assert np.array_equal(document.image, result)
    assert (document.sketch == np.float32(RED)).all()


def test_a_fill_outside_the_canvas_or_in_the_fills_colour_changes_nothing():
    document = Document.blank(32)
    events = []
    document.subscribe(lambda layers, rect: events.append(layers))
    document.fill(-1, 3, RED)
    document.fill(3, 40, RED)
    document.fill(3, 3, (1.0, 1.0, 1.0))
    assert not events and (document.image == 1).all()


# --- the eraser ----------------------------------------------------------------------------------------------------

def _photo(h=96, w=112, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 1, (h, w, 3)).astype(np.float32)


def _result_over_photo() -> Document:
    """A document whose run started from a photo (kept as the sketch) and made another picture."""
    document = Document(_photo())
    document.keep_sketch()
    document.image = _photo(seed=1)
    return document


def test_the_eraser_on_the_result_brings_back_the_photo_under_it():
    document = _result_over_photo()
    result = document.image.copy()
    document.paint_stroke([(20, 40), (80, 40)], Brush(size=12, target="erase"))
    distance = np.abs(np.mgrid[:96, :112][0] + 0.5 - 40)  # from the stroke's line, in rows
    core = distance < 4
    core[:, :20] = core[:, 81:] = False
    assert np.array_equal(document.image[core], document.sketch[core])  # the photo's own pixels
    far = distance > 8
    assert np.array_equal(document.image[far], result[far])


def test_a_soft_half_opaque_eraser_blends_back_towards_the_photo():
    document = _result_over_photo()
    result, photo = document.image.copy(), document.sketch.copy()
    document.paint_stroke([(50, 50)], Brush(size=20, target="erase", opacity=0.5, hardness=0.2))
    assert np.allclose(document.image[50, 50], 0.5 * result[50, 50] + 0.5 * photo[50, 50], atol=1e-6)


def test_the_eraser_with_nothing_underneath_goes_back_to_the_white_canvas():
    document = Document(_photo())
    document.paint_stroke([(50, 50)], Brush(size=10, target="erase"))
    assert (document.image[50, 50] == 1).all()
    sketched = _result_over_photo()  # on the drawing itself there is nothing under it either: the paper
    sketched.paint_stroke([(50, 50)], Brush(size=10, target="erase"), layer="sketch")
    assert (sketched.sketch[50, 50] == 1).all()


def test_an_erase_undoes_and_redoes_exactly():
    document = _result_over_photo()
    result = document.image.copy()
    edit = document.paint_stroke([(10, 10), (100, 80)], Brush(size=9, target="erase", hardness=0.5))
    erased = document.image.copy()
    assert not np.array_equal(erased, result)
    edit.apply(document, 0)
    assert np.array_equal(document.image, result)
    edit.apply(document, 1)
    assert np.array_equal(document.image, erased)


@pytest.mark.parametrize("brush", [Brush(size=9, target="erase"),
                                   Brush(size=14, target="erase", opacity=0.5, hardness=0.3)])
@pytest.mark.parametrize("pressure", [False, True])
def test_an_erase_drawn_move_by_move_is_pixel_exact_with_one_drawn_at_once(brush, pressure):
    t = np.linspace(0, 1, 40)
    points = np.stack([8 + 95 * t, 50 + 30 * np.sin(7 * t)], axis=1)
    if pressure:
        points = np.concatenate([points, (0.2 + 0.8 * t)[:, None]], axis=1)
    at_once, by_moves = _result_over_photo(), _result_over_photo()
    at_once.paint_stroke(points.tolist(), brush)
    stroke = by_moves.begin_stroke(brush)
    for point in points.tolist():
        stroke.extend([point])
    stroke.finish()
    assert np.array_equal(at_once.image, by_moves.image)
    assert not np.array_equal(at_once.image, _result_over_photo().image)


# --- in the app ----------------------------------------------------------------------------------------------------

def _canvas_point(window, x, y):
    from PySide6.QtCore import QPoint
    rect = window.canvas.target_rect()
    h, w = window.document.size
    return QPoint(int(rect.x() + (x + 0.5) * rect.width() / w), int(rect.y() + (y + 0.5) * rect.height() / h))


def test_the_fill_tool_has_its_tolerance_beside_the_brush_settings_and_fills_with_it(qtbot, window):
    from PySide6.QtCore import Qt
    window.controls.live_check.setChecked(False)
    h, w = window.document.size
    ramp = np.repeat(np.repeat((np.arange(w, dtype=np.float32) / (w - 1))[None, :, None], h, 0), 3, 2)
    window.document.image = ramp
    tools = window.tools
    assert not tools.tool_settings["fill"].isVisible()
    tools.actions_by_tool["fill"].trigger()
    assert tools.tool_settings["fill"].isVisible()
    assert 10 <= tools.fill_tolerance.value() <= 25  # a default that closes a soft brush's seams
    tools.fill_tolerance.setValue(10)
    tools.fill_soft_edges.setChecked(False)
    tools.set_brush_color(Qt.GlobalColor.red)
    qtbot.mouseClick(window.canvas, Qt.MouseButton.LeftButton, pos=_canvas_point(window, 0, h // 2))
    filled = (window.document.image == np.float32(RED)).all(axis=2)
    columns = int((np.arange(w) / (w - 1) <= 0.1 + 1e-6).sum())
    assert filled[:, :columns].all() and not filled[:, columns:].any()
    window.undo_stack.undo()
    assert np.array_equal(window.document.image, ramp)


def test_the_eraser_on_the_result_brings_back_the_drawing_in_the_app(qtbot, window):
    from PySide6.QtCore import Qt
    window.controls.live_check.setChecked(False)
    h, w = window.document.size
    drawing, result = _photo(h, w, 2), _photo(h, w, 3)
    window.document.sketch = drawing
    window.document.image = result
    tools = window.tools
    tools.actions_by_tool["eraser"].trigger()
    assert "drawing" in tools.actions_by_tool["eraser"].toolTip()
    tools.brush_size.setValue(4)
    qtbot.mouseClick(window.canvas, Qt.MouseButton.LeftButton, pos=_canvas_point(window, w // 2, h // 2))
    assert np.array_equal(window.document.image[h // 2, w // 2], drawing[h // 2, w // 2])
    assert np.array_equal(window.document.sketch, drawing)
    window.undo_stack.undo()
    assert np.array_equal(window.document.image, result)


def test_a_soft_edge_fill_does_not_bleed_far_into_a_photos_gradient():
    """A smooth ramp (a sky, a vignette) is no soft line: the rim stopped only 64 px past the area within the
    tolerance, tinting the gradient all that way (a review found: the tolerance ended at column 78, pixels changed up
    to column 141)."""
    from robustpaint.core.fill import SOFT_REACH, fill_region
    ramp = np.ones((40, 200, 3), np.float32)
    ramp[:, 60:] = np.linspace(1, 0, 140, dtype=np.float32)[None, :, None]
    document = Document(ramp.copy())
    document.fill(5, 5, (255, 0, 0))
    changed = np.flatnonzero((np.abs(document.image - ramp).max(2) > 1e-6).any(0))
    within = np.flatnonzero(fill_region(ramp, 5, 5).any(0))
    assert changed.max() <= within.max() + SOFT_REACH <= within.max() + 16
