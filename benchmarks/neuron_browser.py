"""The neuron browser's fill (#47 item 11): how soon the first units show, in the real app (offscreen, real Qt events).

    QT_QPA_PLATFORM=offscreen python benchmarks/neuron_browser.py [--old DIR] [--model NAME] [--units 8]
                                                                 [--then 24] [--rounds 1] [--limit 900] [--json PATH]

Each round opens a fresh app process (an empty thumbnail cache, the model loaded before the browser opens), opens
View > Neuron browser and polls it every 20 ms from the GUI thread:
- listed: the units listed right after `open()` returns;
- first shown / N shown: the first unit, and N units, with a picture on screen (a preview of a unit being drawn counts;
  the blank square of a unit not drawn yet does not);
- N drawn: N units with their finished picture; M drawn (`--then`): M of them, for the rate the fill goes on at;
- stall: the longest gap between two 20-ms polls while it fills (the GUI thread never waits on torch);
- stop: closing the browser, until the worker has dropped the work (the step in flight ends first);
- reopen: opening it again, until N units show (from the cache the first opening left).
`--old DIR` runs the same measurement on a checkout of the code before (`git worktree add /tmp/old HEAD~1`),
alternating with this checkout, round by round: the machine is shared and busy, so compare within a round.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from common import save_results

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys, time
from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication
from robustpaint.app.stepper import Priority
from robustpaint.app.window import MainWindow

model, wanted, then, limit = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
app = QApplication([])
window = MainWindow(model_name=model)
window.resize(1200, 800)
window.show()


def wait(condition, seconds, tick=None):
    # Spins the event loop (20-ms polls) until condition() or `seconds` pass; returns the longest gap between polls.
    loop, longest, last = QEventLoop(), [0.0], [time.perf_counter()]

    def poll():
        now = time.perf_counter()
        longest[0] = max(longest[0], now - last[0])
        last[0] = now
        if tick is not None:
            tick(now)
        if condition() or now - start > seconds:
            loop.quit()

    start = time.perf_counter()
    timer = QTimer(interval=20)
    timer.timeout.connect(poll)
    timer.start()
    loop.exec()
    timer.stop()
    return longest[0]


wait(lambda: model in window.panel.cards, 300)
browser, worker = window.neurons, window.session.worker
blank = getattr(browser, "_blank", None)


def shown():
    count = 0
    for row in range(browser.list.count()):
        icon = browser.list.item(row).icon()
        count += not icon.isNull() and (blank is None or icon.cacheKey() != blank.cacheKey())
    return count


figures = {}
started = time.perf_counter()
browser.open()
figures["open_s"] = time.perf_counter() - started
figures["listed"] = browser.list.count()


def note(now):
    n, done = shown(), len(browser.items)
    if n >= 1 and "first_shown_s" not in figures:
        figures["first_shown_s"] = now - started
    if n >= wanted and "shown_s" not in figures:
        figures["shown_s"] = now - started
    if done >= wanted and "drawn_s" not in figures:
        figures["drawn_s"] = now - started
    if done >= then and "then_s" not in figures:
        figures["then_s"] = now - started


figures["stall_s"] = wait(lambda: "drawn_s" in figures and "then_s" in figures, limit, note)
figures["units"] = len(browser.classes)
stopping = time.perf_counter()
browser.close()
wait(lambda: worker.queue.job(Priority.THUMBNAILS) is None, 60)  # read across threads: a benchmark's liberty
figures["stop_s"] = time.perf_counter() - stopping
reopened = time.perf_counter()
browser.open()
wait(lambda: shown() >= wanted, 60)
figures["reopen_s"] = time.perf_counter() - reopened
figures["reopen_drawn"] = len(browser.items)
browser.close()
window.session.shutdown()
print("FIGURES " + json.dumps(figures), flush=True)
sys.stdout.flush()
import os
os._exit(0)
"""


def measure(code: Path, model: str, units: int, then: int, limit: float) -> dict:
    with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as data:
        env = {**os.environ, "PYTHONPATH": str(code), "QT_QPA_PLATFORM": "offscreen",
               "ROBUSTPAINT_CACHE_DIR": cache, "ROBUSTPAINT_DATA_DIR": data}
        done = subprocess.run([sys.executable, "-c", CHILD, model, str(units), str(then), str(limit)], cwd=code,
                              env=env, capture_output=True, text=True, timeout=limit + 600)
    line = next((line for line in done.stdout.splitlines() if line.startswith("FIGURES ")), None)
    if done.returncode != 0 or line is None:
        raise SystemExit(f"the app at {code} failed (status {done.returncode}): {done.stderr[-1500:]}")
    return json.loads(line[len("FIGURES "):])


def _s(value) -> str:
    return "-" if value is None else f"{value:.1f}"


def main() -> None:
    from robustpaint.core.catalog import DEFAULT_MODEL
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--old", type=Path, help="a checkout of the code before, measured alternately")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--units", type=int, default=8, help="the N of 'N shown' and 'N drawn'")
    parser.add_argument("--then", type=int, default=24, help="the M of 'M drawn'")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--limit", type=float, default=900, help="seconds to wait for N drawn")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    versions = ([("before", args.old.resolve())] if args.old else []) + [("after", ROOT)]
    rows = []
    n, m = args.units, args.then
    print(f"model {args.model}; N = {n}; seconds from View > Neuron browser (the model already loaded); an empty "
          f"cache")
    header = (f"{'code':7} {'round':>5} {'listed':>7} {'1st shown':>9} {f'{n} shown':>8} {f'{n} drawn':>8} "
              f"{f'{m} drawn':>8} {'stall':>6} {'stop':>5} {'reopen':>6}")
    print(header)
    for round_ in range(args.rounds):
        for label, code in versions:
            f = measure(code, args.model, n, m, args.limit)
            rows.append({"code": label, "round": round_, **f})
            print(f"{label:7} {round_:>5} {f['listed']:>4}/{f['units']:<3}{_s(f.get('first_shown_s')):>8} "
                  f"{_s(f.get('shown_s')):>8} {_s(f.get('drawn_s')):>8} {_s(f.get('then_s')):>8} "
                  f"{f['stall_s']:>6.2f} {f['stop_s']:>5.1f} {f['reopen_s']:>6.2f}", flush=True)
    save_results(args.json, {"model": args.model, "units": n, "then": m, "rows": rows})


if __name__ == "__main__":
    main()
