"""The GUI thread's time per mouse move while painting in the real app, and the process's memory over a session.

    QT_QPA_PLATFORM=offscreen python benchmarks/paint_latency.py [--sides 128,512,1024] [--strokes 10] [--moves 40]
                                    [--size 32] [--tool brush] [--json PATH] [--quick]

The app's window (offscreen) opens scikit-image's chelsea photo scaled to a SIDE x SIDE canvas (as
`robustpaint PHOTO` does), then paints strokes
of MOVES mouse moves each as real QMouseEvents sent to the canvas (press, moves along a wavy line across the
picture, release). Each move is timed from the event's delivery until the event loop has drawn what it changed
(`processEvents` after it, which runs the canvas's paint): the GUI thread's time per move. The top-5's reading
(a forward pass in the worker 150 ms after the last change) goes on as in the app. Memory is the process's resident
size after each stroke; the last figure is the growth over the session. Aims (#44): p99 <= 8 ms per move at
1024 px on a 2-core CPU, whatever the stroke's length; <= 1.5 GB growth over 200 strokes at 1024 px.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
from common import save_results  # noqa: E402
from PySide6.QtCore import QEvent, QEventLoop, QObject, QPointF, Qt, QTimer  # noqa: E402
from PySide6.QtGui import QMouseEvent  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from robustpaint.app.window import MainWindow  # noqa: E402
from robustpaint.core.document import Document  # noqa: E402


def resident_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def photo(side: int) -> np.ndarray:
    """chelsea (scikit-image's cat photo) scaled to side x side; a synthetic gradient where it is not installed."""
    try:
        from skimage import data
        from PIL import Image
        image = Image.fromarray(data.chelsea()).resize((side, side), Image.Resampling.BICUBIC)
        return np.asarray(image, np.float32) / 255
    except ImportError:
        y, x = np.mgrid[0:side, 0:side] / side
        return np.stack([x, y, 0.5 * (x + y)], axis=-1).astype(np.float32)


def wait_for_model(window) -> None:
    loop = QEventLoop()
    poll = QTimer(interval=20)
    poll.timeout.connect(lambda: window.panel.model_name in window.panel.cards and loop.quit())
    poll.start()
    loop.exec()
    poll.stop()


def send(canvas, kind, position: QPointF) -> None:
    button = Qt.MouseButton.LeftButton
    buttons = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseButtonRelease else button
    event = QMouseEvent(kind, position, canvas.mapToGlobal(position), button, buttons,
                        Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(canvas, event)


def stroke(app, canvas, index: int, moves: int) -> list[float]:
    """One stroke across the canvas; the time of each move (ms) until its paint is done."""
    rect = canvas.target_rect()
    row = 0.15 + 0.7 * ((index * 0.37) % 1.0)
    def at(t):
        return QPointF(rect.x() + rect.width() * (0.1 + 0.8 * t),
                       rect.y() + rect.height() * (row + 0.05 * math.sin(6 * t + index)))
    send(canvas, QEvent.Type.MouseButtonPress, at(0))
    app.processEvents()
    times = []
    for m in range(1, moves + 1):
        started = time.perf_counter()
        send(canvas, QEvent.Type.MouseMove, at(m / moves))
        app.processEvents()
        times.append((time.perf_counter() - started) * 1e3)
    send(canvas, QEvent.Type.MouseButtonRelease, at(1))
    app.processEvents()
    return times


class PaintCounter(QObject):
    """Counts the canvas's paint events: a figure that drew nothing would measure nothing."""

    def __init__(self):
        super().__init__()
        self.paints = 0

    def eventFilter(self, watched, event) -> bool:
        if event.type() == QEvent.Type.Paint:
            self.paints += 1
        return False


def measure(app, side: int, strokes: int, moves: int, size: int, tool: str) -> dict:
    window = MainWindow()
    window.resize(1280, 900)
    window.show()
    wait_for_model(window)
    try:  # as `robustpaint PHOTO` opens it (#44); before that command existed, as File > Open's document
        import tempfile

        from PIL import Image

        from robustpaint.app.main import open_at_start
        path = Path(tempfile.mkdtemp()) / f"chelsea-{side}.png"
        Image.fromarray((photo(side) * 255 + 0.5).astype(np.uint8)).save(path)
        open_at_start(window, str(path))
    except ImportError:
        window.editor.replace(Document(photo(side)), "open photo")
    window.controls.live_check.setChecked(False)  # strokes alone: no run restarts
    window.tools.actions_by_tool[tool].setChecked(True)
    window.tools.brush_size.setValue(size)
    app.processEvents()
    counter = PaintCounter()
    window.canvas.installEventFilter(counter)
    layer = "image" if tool in ("brush", "eraser") else tool
    before = getattr(window.document, layer).copy()
    started_mb = resident_mb()
    times, memory, release_ms = [], [], []
    for s in range(strokes):
        times += stroke(app, window.canvas, s, moves)
        memory.append(resident_mb())
    ordered = sorted(times)
    changed = not np.array_equal(before, getattr(window.document, layer))
    undo_mb = getattr(window.undo_stack, "nbytes", 0) / 1e6  # 0: a QUndoStack (before #44) does not say
    window.close()
    if not changed or counter.paints < strokes * moves:
        raise SystemExit(f"the strokes painted nothing ({counter.paints} paints of {strokes * moves} moves)")
    return {"side": side, "strokes": strokes, "moves": moves, "brush": size, "tool": tool,
            "move_ms_p50": round(ordered[len(ordered) // 2], 2),
            "move_ms_p99": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 2),
            "move_ms_max": round(ordered[-1], 2),
            "last_stroke_move_ms_p50": round(float(np.median(times[-moves:])), 2),
            "paints": counter.paints, "undo_mb": round(undo_mb, 1),
            "memory_start_mb": round(started_mb), "memory_growth_mb": round(memory[-1] - started_mb)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sides", default="128,512,1024")
    parser.add_argument("--strokes", type=int, default=10)
    parser.add_argument("--moves", type=int, default=40)
    parser.add_argument("--size", type=int, default=32, help="brush size in image pixels")
    parser.add_argument("--tool", default="brush", choices=("brush", "mask", "regions", "strength", "eraser"))
    parser.add_argument("--quick", action="store_true", help="one 512-px canvas, 3 strokes")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.quick:
        args.sides, args.strokes = "512", 3
    app = QApplication.instance() or QApplication([])
    rows = []
    for side in (int(s) for s in args.sides.split(",")):
        row = measure(app, side, args.strokes, args.moves, args.size, args.tool)
        rows.append(row)
        print(f"{side:5d} px  move p50 {row['move_ms_p50']:7.2f} ms  p99 {row['move_ms_p99']:7.2f} ms  "
              f"max {row['move_ms_max']:7.2f} ms  (last stroke p50 {row['last_stroke_move_ms_p50']:.2f} ms)  "
              f"memory +{row['memory_growth_mb']} MB over {row['strokes']} strokes (undo {row['undo_mb']} MB), "
              f"{row['paints']} paints", flush=True)
    save_results(args.json, {"benchmark": "paint_latency", "rows": rows})


if __name__ == "__main__":
    main()
