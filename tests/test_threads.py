"""The thread tuner: probes each count on real steps, keeps the fastest, and never changes the pixels."""

import pytest
import torch

from robustpaint.core import objectives as obj
from robustpaint.core.errors import RobustPaintError
from robustpaint.core.models import CIFAR10_CLASSES, build_classifier
from robustpaint.core.pgd import PGDConfig, PGDOptimizer
from robustpaint.core.threads import ThreadTuner, candidate_counts


@pytest.fixture(autouse=True)
def _restore_threads(monkeypatch):
    monkeypatch.delenv("ROBUSTPAINT_THREADS", raising=False)
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_candidates_are_one_all_but_one_and_all_cores():
    assert candidate_counts(1) == [1]
    assert candidate_counts(2) == [1, 2]
    assert candidate_counts(8) == [1, 7, 8]


def test_the_tuner_keeps_the_count_whose_steps_were_fastest(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr("robustpaint.core.threads.time.perf_counter", lambda: clock[0])
    seen = []

    def fake_step():  # two threads are three times slower here, as on a machine with one core busy
        seen.append(torch.get_num_threads())
        clock[0] += 0.03 if torch.get_num_threads() == 2 else 0.01
        return len(seen)

    tuner = ThreadTuner(candidates=[1, 2], probe_steps=2, recheck_every=5)
    for _ in range(6):  # the probe: 3 steps per count (the first of each dropped)
        tuner.step(fake_step)
    assert seen == [1, 1, 1, 2, 2, 2]
    assert tuner.chosen == 1 and tuner.measured_ms == pytest.approx({1: 10.0, 2: 30.0})
    for _ in range(5):
        tuner.step(fake_step)
    assert seen[6:] == [1] * 5 and torch.get_num_threads() == 1
    tuner.step(fake_step)  # after recheck_every steps it measures again
    assert seen[-1] == 1 and len(tuner._plan) == 5
    assert "1 thread (auto; 1: 10 ms, 2: 30 ms)" == tuner.describe()
    for _ in range(5):  # the rest of the second probe, which confirms one thread
        tuner.step(fake_step)
    seen.clear()
    for _ in range(11):  # so the next probe waits twice as long
        tuner.step(fake_step)
    assert seen[:10] == [1] * 10 and len(tuner._plan) == 5
    tuner.measure_again()  # a new job probes before its first step
    seen.clear()
    for _ in range(6):
        tuner.step(fake_step)
    assert seen == [1, 1, 1, 2, 2, 2]


def test_the_setting_fixes_the_count(monkeypatch):
    monkeypatch.setenv("ROBUSTPAINT_THREADS", "1")
    tuner = ThreadTuner(candidates=[1, 2])
    assert tuner.fixed and tuner.chosen == 1 and torch.get_num_threads() == 1
    assert tuner.step(lambda: 7) == 7
    for bad in ("many", "0", "²", "1" + "0" * 30, "-2"):  # "²" passes str.isdigit; 10**30 overflowed torch
        monkeypatch.setenv("ROBUSTPAINT_THREADS", bad)
        with pytest.raises(RobustPaintError, match="ROBUSTPAINT_THREADS"):
            ThreadTuner()


@pytest.mark.parametrize("bf16", [False, True])
def test_the_thread_count_does_not_change_the_pixels(bf16):
    """What lets the tuner probe on real steps: a replay on another count (or machine load) gives the same image."""
    torch.manual_seed(0)
    model = build_classifier("resnet18", CIFAR10_CLASSES).eval()
    start = torch.rand(2, 3, 32, 32)
    results = []
    for threads in (1, 2):
        torch.set_num_threads(threads)
        engine = PGDOptimizer(model, obj.class_target(torch.tensor([3, 5])), start,
                              PGDConfig(norm="l2", eps=5.0, step_size=0.5, steps=4, bf16=bf16))
        for _ in engine.run():
            pass
        results.append(engine.result())
    assert torch.equal(results[0], results[1])


def test_a_long_wait_between_probes_is_capped_in_seconds(monkeypatch):
    """Backed off to 1,200 steps, a ResNet-50 at a second a step would notice a busy core after 20 minutes."""
    clock = [0.0]
    monkeypatch.setattr("robustpaint.core.threads.time.perf_counter", lambda: clock[0])

    def slow_step():
        clock[0] += 1.0
        return torch.get_num_threads()

    tuner = ThreadTuner(candidates=[1, 2], probe_steps=2, recheck_every=1000, recheck_seconds=30.0)
    for _ in range(6):
        tuner.step(slow_step)
    assert not tuner._plan and tuner.measured_ms
    for _ in range(30):  # 30 s of steps: the next one starts a probe, long before 1,000 steps
        tuner.step(slow_step)
    tuner.step(slow_step)
    assert len(tuner._plan) == 5
