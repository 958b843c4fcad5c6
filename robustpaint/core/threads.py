"""Torch's intra-op thread count, chosen by timing the run's own steps.

On an idle 2-core machine two threads are fastest; with one core busy (another program, or the app's GUI thread)
one thread is 1.6-1.7x faster (benchmarks/threads.py). Which holds changes while the app runs, so the count is
measured, not assumed: every `recheck_every` steps the next steps try each candidate count in turn and the fastest
is kept. A probe that confirms the count doubles the wait before the next one (up to 8x, and never over
`recheck_seconds`): a losing count's probe steps can take 3-4x as long (two threads beside a busy core). The thread
count does not change the pixels (tests/test_threads.py), so probe steps are real steps and replays stay exact.
`ROBUSTPAINT_THREADS=N` fixes the count instead.
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Callable, TypeVar

import torch

from robustpaint.core.errors import RobustPaintError

ENV = "ROBUSTPAINT_THREADS"
T = TypeVar("T")


def fixed_threads() -> int | None:
    """The count `ROBUSTPAINT_THREADS` asks for (None: unset or "auto"); a bad value is a clear error."""
    value = os.environ.get(ENV, "auto").strip().lower()
    if value in ("", "auto"):
        return None
    most = 4 * (os.cpu_count() or 1)
    try:
        count = int(value) if value.isascii() else 0
    except ValueError:
        count = 0
    if not 1 <= count <= most:
        raise RobustPaintError(f"{ENV}={value!r}: give a whole number of threads from 1 to {most}, or auto")
    return count


def candidate_counts(cores: int | None = None) -> list[int]:
    """Counts worth trying: one thread, all cores but one (the GUI's), all cores."""
    cores = cores or os.cpu_count() or 1
    return sorted({1, max(1, cores - 1), cores})


class ThreadTuner:
    """Runs steps, sets torch's thread count to the fastest candidate measured on those steps."""

    def __init__(self, candidates: list[int] | None = None, probe_steps: int = 2, recheck_every: int = 150,
                 device: str = "cpu", recheck_seconds: float = 30.0):
        fixed = fixed_threads()
        if device != "cpu":  # the GPU does the work; the CPU threads only feed it
            candidates = [torch.get_num_threads()]
        elif fixed is not None:
            candidates = [fixed]
        self.candidates = candidates or candidate_counts()
        self.probe_steps = probe_steps
        self.recheck_every = recheck_every
        self.recheck_seconds = recheck_seconds  # a change in the machine's load is noticed within this, at most
        self._probed_at = time.perf_counter()
        self.chosen = self.candidates[-1] if fixed is None else fixed
        self.measured_ms: dict[int, float] = {}  # the last probe: median step time per count
        self._plan: list[int] = []  # counts of the probe steps still to run
        self._times: dict[int, list[float]] = {}
        self._since_probe = recheck_every  # probe before the first step
        self._interval = recheck_every  # steps from one probe to the next: grows while probes agree
        self.last_step_probed = False  # whether the last step ran at a count under trial (its time says little)
        if len(self.candidates) == 1:
            torch.set_num_threads(self.chosen)

    @property
    def fixed(self) -> bool:
        return len(self.candidates) == 1

    def describe(self) -> str:
        if self.fixed:
            return f"{self.chosen} thread{'s' if self.chosen > 1 else ''}"
        timing = ", ".join(f"{n}: {ms:.0f} ms" for n, ms in sorted(self.measured_ms.items()))
        return f"{self.chosen} thread{'s' if self.chosen > 1 else ''} (auto{'; ' + timing if timing else ''})"

    def measure_again(self) -> None:
        """Probes before the next step (a new job: another model or size makes the last times meaningless)."""
        if not self.fixed:
            self._plan, self._since_probe, self._interval = [], self.recheck_every, self.recheck_every
            self.measured_ms = {}

    def step(self, run_step: Callable[[], T]) -> T:
        """`run_step()` at the count the schedule asks for; after a probe, the fastest count is kept."""
        if self.fixed:
            return run_step()
        if not self._plan and (self._since_probe >= self._interval
                               or time.perf_counter() - self._probed_at >= self.recheck_seconds):
            # one warm-up step per count is dropped: the first step after a switch starts the new threads
            self._plan = [n for n in self.candidates for _ in range(self.probe_steps + 1)]
            self._times = {n: [] for n in self.candidates}
        probing = self.last_step_probed = bool(self._plan)
        count = self._plan.pop(0) if probing else self.chosen
        if torch.get_num_threads() != count:
            torch.set_num_threads(count)
        started = time.perf_counter()
        result = run_step()
        if probing:
            self._times[count].append(time.perf_counter() - started)
            if not self._plan:
                self._finish_probe()
        else:
            self._since_probe += 1
        return result

    def _finish_probe(self) -> None:
        confirmed = bool(self.measured_ms)  # an earlier probe of this job chose...
        self.measured_ms = {n: statistics.median(t[1:] or t) * 1e3 for n, t in self._times.items() if t}
        before, self.chosen = self.chosen, min(self.measured_ms, key=self.measured_ms.get)
        confirmed = confirmed and before == self.chosen  # ...the same count
        self._interval = min(2 * self._interval, 8 * self.recheck_every) if confirmed else self.recheck_every
        self._probed_at = time.perf_counter()
        torch.set_num_threads(self.chosen)
        self._since_probe = 0
