"""Live updates/s and GUI-thread stalls in the real app (offscreen) while the worker runs, per shipped model.

    QT_QPA_PLATFORM=offscreen python benchmarks/gui_latency.py [--steps 200] [--quick] [--json PATH]
                                  [--models imagenette_resnet18] [--sides 128,224] [--precisions fp32,bf16]

A heartbeat timer on the GUI thread fires every 5 ms when the event loop is free; how late each beat comes is how
long the GUI thread was busy (a stall). p50/p99/max of those delays are reported with the canvas updates per second
of a sketch run. Aims: >= 30 updates/s at 32 px and >= 10 at 128 px, stalls <= 16 ms. By default each model runs on
its own canvas size in the app's default precision; --sides and --precisions add rows (a canvas of another side
is the blank document resized to it, as the app does when a model of that size is chosen). `--busy` keeps one
core busy with a second process (another program, as on a shared machine) and `--threads 2,auto` compares torch's
default of a thread per core with the app's measured choice (ROBUSTPAINT_THREADS per row). `--readout-every 0,0.1`
compares the progress, top-5 and status readouts refreshed on every step with the app's at most every 0.1 s.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
from common import save_results  # noqa: E402
from PySide6.QtCore import QEventLoop, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from robustpaint.app import run_session  # noqa: E402
from robustpaint.app.window import MainWindow  # noqa: E402
from robustpaint.core.catalog import list_models  # noqa: E402


HEARTBEAT_MS = 5


def measure(app, name: str, steps: int, side: int | None = None, bf16: bool | None = None) -> dict:
    window = MainWindow(model_name=name)
    window.resize(900, 600)
    window.show()
    loop = QEventLoop()
    poll = QTimer(interval=20)
    poll.timeout.connect(lambda: name in window.panel.cards and loop.quit())
    poll.start()
    loop.exec()
    poll.stop()
    if side is not None:
        window.document.resize(side)
        window.refresh_canvas()
    if bf16 is not None:
        window.devices.bf16_action.setChecked(bf16)
    bf16_used = window.devices.bf16_action.isChecked()
    window.panel.task_combo.setCurrentIndex(window.panel.task_combo.findData("sketch"))
    window.controls.live_check.setChecked(False)
    window.panel.steps_spin.setValue(steps)
    gaps: list[float] = []
    last = [time.perf_counter()]

    def beat():
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    # A timer every HEARTBEAT_MS: a free GUI thread fires it on time, so a gap beyond that is a stall. (A 0 ms
    # timer would spin the GUI thread and take a core from the worker on a 2-core machine.)
    heartbeat = QTimer(interval=HEARTBEAT_MS)
    heartbeat.timeout.connect(beat)
    updates = [0]
    window.session.image_updated.connect(lambda _step: updates.__setitem__(0, updates[0] + 1))
    done = QEventLoop()
    window.session.run_finished.connect(lambda _job: done.quit())
    window.start_run()
    started = time.perf_counter()
    last[0] = started
    heartbeat.start()
    done.exec()
    seconds = time.perf_counter() - started
    heartbeat.stop()
    threads_text = window.session.figures["threads_detail"]  # what the tuner chose (and measured) by the end
    window.close()
    app.processEvents()
    ms = np.maximum(np.array(gaps) * 1e3 - HEARTBEAT_MS, 0.0)  # the delay beyond the timer's own interval
    return {"model": name, "side": window.document.size[0], "precision": "bf16" if bf16_used else "fp32",
            "steps": steps, "updates_per_second": round(updates[0] / seconds, 1),
            "stall_p50_ms": round(float(np.percentile(ms, 50)), 2), "stall_p99_ms": round(float(np.percentile(ms, 99)), 2),
            "stall_max_ms": round(float(ms.max()), 2), "beats": len(ms),
            "threads_at_end": threads_text}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="30 steps of the first model (the CI form)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--models", help="comma separated (default: every shipped synthesis model)")
    parser.add_argument("--sides", help="canvas sides, comma separated (default: each model's own)")
    parser.add_argument("--precisions", help="fp32, bf16 or both (default: the app's choice for this CPU)")
    parser.add_argument("--busy", action="store_true", help="a second process spins on one core meanwhile")
    parser.add_argument("--threads", default="auto", help="ROBUSTPAINT_THREADS values, comma separated (rows)")
    parser.add_argument("--readout-every", default=str(run_session.READOUT_EVERY_S),
                        help="seconds between readout refreshes, comma separated (rows; 0: every step)")
    args = parser.parse_args(argv)
    app = QApplication.instance() or QApplication([])
    models = [e.name for e in list_models() if e.origin == "shipped" and e.role != "evaluator"]
    if args.models:
        models = args.models.split(",")
    if args.quick:
        models, args.steps = models[:1], 30
    sides = [int(s) for s in args.sides.split(",")] if args.sides else [None]
    precisions = [p == "bf16" for p in args.precisions.split(",")] if args.precisions else [None]
    spinner, stop = None, None
    if args.busy:
        import multiprocessing

        from threads import _spin
        stop = multiprocessing.Event()
        spinner = multiprocessing.Process(target=_spin, args=(stop,), daemon=True)
        spinner.start()
    rows = []
    try:
        for name in models:
            for side in sides:
                for bf16 in precisions:
                    for threads in args.threads.split(","):  # interleaved rows, so the load hits each alike
                        for every in args.readout_every.split(","):
                            os.environ["ROBUSTPAINT_THREADS"] = threads
                            run_session.READOUT_EVERY_S = float(every)
                            rows.append({**measure(app, name, args.steps, side, bf16), "threads": threads,
                                         "readout_every_s": float(every),
                                         "load": "one core busy" if args.busy else "idle"})
    finally:
        os.environ.pop("ROBUSTPAINT_THREADS", None)
        if spinner is not None:
            stop.set()
            spinner.join()
    print("| model | canvas | precision | load | threads | readouts every | threads at the end | live updates/s | "
          "GUI stall p50 | p99 | max |\n|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['side']} px | {r['precision']} | {r['load']} | {r['threads']} | "
              f"{r['readout_every_s']} s | {r['threads_at_end']} | "
              f"{r['updates_per_second']} | {r['stall_p50_ms']} ms | {r['stall_p99_ms']} ms | {r['stall_max_ms']} ms |")
    save_results(args.json, {"benchmark": "gui_latency", "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
