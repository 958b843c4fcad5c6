"""What the worker steps, most urgent first: a live run before the neuron browser's thumbnails.

The worker takes one step of one job per turn of its event loop, so a run sent while thumbnails are being drawn starts
within one step, and thumbnails go on by themselves once the run is paused or over, without polling. Plain Python
(no Qt, no torch): the worker owns the timer that turns it."""

from __future__ import annotations

import enum
from typing import Protocol


class Priority(enum.IntEnum):
    RUN = 0  # the user is watching it
    THUMBNAILS = 1  # drawn while nothing more urgent is ready


class Job(Protocol):
    @property
    def ready(self) -> bool:
        """Whether the job has a step to take now (a paused run has none)."""

    def step(self) -> None:
        """Takes one step; the job leaves the queue by `StepQueue.remove` when it is over."""


class StepQueue:
    """Jobs by priority, then by arrival; `next_ready` is the one to step now."""

    def __init__(self):
        self._jobs: list[tuple[Priority, int, Job]] = []
        self._arrivals = 0

    def add(self, priority: Priority, job: Job) -> None:
        """Adds `job`, replacing any job of the same priority (one live run; one browser's thumbnails)."""
        self._arrivals += 1
        self._jobs = sorted([entry for entry in self._jobs if entry[0] is not priority]
                            + [(priority, self._arrivals, job)], key=lambda entry: entry[:2])

    def remove(self, job: Job | None) -> None:
        self._jobs = [entry for entry in self._jobs if entry[2] is not job]

    def job(self, priority: Priority) -> Job | None:
        return next((job for p, _, job in self._jobs if p is priority), None)

    def next_ready(self) -> Job | None:
        return next((job for _, _, job in self._jobs if job.ready), None)

    def __len__(self) -> int:
        return len(self._jobs)
