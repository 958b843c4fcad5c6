"""Long-session soak: many PGD steps through the app's real worker with a stroke every so often, watching the
process's resident memory. Growth after warm-up should stay under 5%.

    QT_QPA_PLATFORM=offscreen python benchmarks/soak.py [--steps 10000] [--quick] [--json results/soak.json]

The window is the real MainWindow (offscreen), the model the shipped ResNet-18 unless --model says otherwise; a
stroke lands every --stroke-every steps and, in live mode, restarts the run from the canvas, as a user painting
would. Memory is VmRSS from /proc (Linux) or psutil where installed.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from common import save_results  # noqa: E402
from PySide6.QtCore import QEventLoop, QObject, QTimer, Slot  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from robustpaint.app.window import MainWindow  # noqa: E402


def rss_mib() -> float:
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    import psutil  # not a dependency: only where /proc is missing
    return psutil.Process().memory_info().rss / 2**20


class _Monitor(QObject):
    """Lives on the GUI thread, so the worker's `failed` signal reaches it queued."""

    def __init__(self, loop: QEventLoop):
        super().__init__()
        self.loop = loop

    @Slot(int, str)
    def on_failed(self, _job, message):
        print(f"soak: worker failed: {message}", file=sys.stderr)
        self.loop.quit()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--stroke-every", type=int, default=100)
    parser.add_argument("--model", default=None)
    parser.add_argument("--quick", action="store_true", help="400 steps (the CI form)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    total = 400 if args.quick else args.steps

    app = QApplication.instance() or QApplication([])
    window = MainWindow(model_name=args.model)
    window.show()
    name = window.panel.model_combo.currentText()
    loop = QEventLoop()
    state = {"steps": 0, "strokes": 0, "samples": [], "started": None}
    warmup = max(total // 10, 20)

    def on_step(_step):
        state["steps"] += 1
        n = state["steps"]
        if n == warmup:
            state["started"] = time.perf_counter()
        if n % max(total // 50, 1) == 0:
            state["samples"].append((n, rss_mib()))
        if n >= total:
            loop.quit()
        elif n % args.stroke_every == 0:  # a short stroke somewhere on the canvas, as the user would draw it
            k = state["strokes"] = state["strokes"] + 1
            y = 4 + (k * 7) % 24
            points = [(3.0, float(y)), (12.0 + k % 15, float(y + 2))]
            window.editor.on_stroke_moved(points)
            window.editor.on_stroke_finished(points)
            if not window.session.running:
                window.start_run()

    def on_finished(_job):
        if state["steps"] < total:
            window.start_run()

    window.session.image_updated.connect(on_step)
    window.session.run_finished.connect(on_finished)
    window.panel.task_combo.setCurrentIndex(window.panel.task_combo.findData("sketch"))
    monitor = _Monitor(loop)
    window.session.worker.failed.connect(monitor.on_failed)
    window.session.worker.load_failed.connect(lambda name, why: monitor.on_failed(-1, f"{name}: {why}"))

    def start_when_ready():  # the class list arrives with the model, on the GUI thread
        if name in window.panel.cards:
            poll.stop()
            # long runs, restarted by the strokes: set once the card is in (its preset would put back 15 steps, and
            # a run's end every 15 steps is an undo step each, filling the undo stack rather than testing for leaks)
            window.panel.steps_spin.setValue(1000)
            window.start_run()

    poll = QTimer(interval=50)
    poll.timeout.connect(start_when_ready)
    poll.start()
    watchdog = QTimer(singleShot=True, interval=max(600_000, total * 500))
    watchdog.timeout.connect(loop.quit)
    watchdog.start()
    deadline_missed = False
    loop.exec()
    if state["steps"] < total:
        deadline_missed = True
    seconds = time.perf_counter() - (state["started"] or time.perf_counter())
    window.close()
    app.processEvents()

    samples = [(n, m) for n, m in state["samples"] if n >= warmup]
    base, last = samples[0][1], samples[-1][1]
    peak = max(m for _, m in samples)
    growth = (last - base) / base * 100
    result = {"model": name, "steps": state["steps"], "strokes": state["strokes"], "warmup_steps": warmup,
              "rss_after_warmup_mib": round(base, 1), "rss_end_mib": round(last, 1), "rss_peak_mib": round(peak, 1),
              "growth_percent": round(growth, 2),
              "steps_per_second": round((state["steps"] - warmup) / seconds, 1) if seconds > 0 else None,
              "machine": platform.processor() or platform.machine(), "python": sys.version.split()[0]}
    print(f"soak: {state['steps']} steps of {name} in the app's worker, {state['strokes']} strokes")
    print(f"| RSS after warm-up | RSS at end | peak | growth | steps/s |\n|---|---|---|---|---|\n"
          f"| {base:.1f} MiB | {last:.1f} MiB | {peak:.1f} MiB | {growth:+.2f}% | {result['steps_per_second']} |")
    save_results(args.json, result)
    if deadline_missed:
        print(f"soak: FAILED, only {state['steps']} of {total} steps arrived before the watchdog", file=sys.stderr)
        return 1
    if growth >= 5:
        print(f"soak: FAILED, resident memory grew {growth:.1f}% (limit 5%)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
