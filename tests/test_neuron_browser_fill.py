"""The neuron browser fills a few units at a time, in the order the user sees them (#47 item 11).

The worker's thumbnail steps are held at a gate: the tests let a known number of PGD steps through, so what the browser
shows at each point (a batch done, the next one half-drawn, the work stopped) is decided by steps, not by timing.
"""

from __future__ import annotations

import threading

import pytest
import torch

pytest.importorskip("PySide6")
from PySide6.QtCore import Qt  # noqa: E402

from conftest import TinyNet  # noqa: E402

from robustpaint.app.stepper import Priority  # noqa: E402
from robustpaint.core import neurons as neurons_mod  # noqa: E402
from robustpaint.core.neurons import NeuronCache, ThumbnailRecipe  # noqa: E402

QUICK = ThumbnailRecipe(eps=6.0, step_size=0.5, steps=4)
STEPS = ThumbnailRecipe().steps  # PGD steps of one batch in the app (the tiny models draw at 32 px)
# (getattr: this file also runs against the code before, to see it fail there)
BATCH, LATER_BATCH = getattr(neurons_mod, "FIRST_BATCH", 8), getattr(neurons_mod, "FILL_BATCH", 16)


class Gate:
    """Lets `limit` thumbnail steps through; the worker waits in the next one until the test allows more."""

    def __init__(self):
        self.cond = threading.Condition()
        self.limit = 10 ** 9
        self.steps: list = []  # the model of each thumbnail step taken
        self.waiting = False

    def enter(self, optimizer) -> None:
        with self.cond:
            while len(self.steps) >= self.limit:
                self.waiting = True
                self.cond.wait(0.05)
            self.waiting = False
            self.steps.append(optimizer.model)

    def allow(self, limit: int) -> None:
        with self.cond:
            self.limit = limit
            self.cond.notify_all()


@pytest.fixture
def gate(monkeypatch):
    from robustpaint.app.worker import ThumbnailJob
    from robustpaint.core.pgd import PGDOptimizer
    gate = Gate()
    original = PGDOptimizer.step

    def gated(self):
        if self.objective.name == "one unit per image":
            gate.enter(self)
        return original(self)

    monkeypatch.setattr(PGDOptimizer, "step", gated)
    monkeypatch.setattr(ThumbnailJob, "PREVIEW_EVERY_S", 0.0, raising=False)  # a preview after every step
    yield gate
    gate.allow(10 ** 9)  # before the window's shutdown (fixtures end in reverse order)


class WideNet(TinyNet):
    """The tiny test network with 64 representation units (the tiny one has 16): enough to scroll."""

    def __init__(self, num_classes: int = 4):
        super().__init__(num_classes, units=64)


@pytest.fixture
def installed_wide(monkeypatch, installed_tiny):
    from robustpaint.core.models import ARCHITECTURES, Architecture, build_classifier
    from robustpaint.core.models.checkpoint import save_model
    from robustpaint.core.paths import user_models_dir
    from robustpaint.core.seeds import fit_seeds
    monkeypatch.setitem(ARCHITECTURES, "wide", Architecture("wide", WideNet, 32, "test network, 64 units"))
    torch.manual_seed(0)
    classes = ["cat", "dog", "ship", "truck"]
    model = build_classifier("wide", classes).eval()
    path = user_models_dir() / "wide.safetensors"
    save_model(model, path, {"dataset": "synthetic", "robust": False, "role": "test"})
    g = torch.Generator().manual_seed(1)
    labels = torch.arange(40) % len(classes)
    images = (torch.rand(40, 3, 32, 32, generator=g) + labels.view(-1, 1, 1, 1) * 0.1).clamp(0, 1)
    fit_seeds(images, labels, len(classes), rank=4).save(path.with_name("wide.seeds.safetensors"))
    return path


def _blank(browser, unit) -> bool:
    return browser.slots[unit].icon().cacheKey() == browser._blank.cacheKey()


def _cached_units(model_name: str) -> list[int]:
    from safetensors.torch import load_file

    from robustpaint.core.paths import user_cache_dir
    path = user_cache_dir() / "neurons" / model_name / "thumbnails.safetensors"
    return sorted(load_file(str(path))["units"].tolist()) if path.is_file() else []


# --- the app ---------------------------------------------------------------------------------------------------


def test_the_first_units_show_before_the_rest_and_closing_stops_the_work(qtbot, window, gate):
    browser, worker = window.neurons, window.session.worker
    units = len(window.panel.cards["tiny"]["neuron_classes"])
    gate.allow(STEPS + 2)  # the first batch, and two steps of the second
    browser.open()
    # The first batch is shown while the worker is held in the second. Before the fix the first pictures came with
    # all 16 (one batch of 16, then nothing left to draw): this timed out.
    qtbot.waitUntil(lambda: gate.waiting and len(browser.items) == BATCH, timeout=20000)
    assert sorted(browser.items) == list(range(BATCH))
    assert browser.list.count() == units  # every unit is listed, drawn or not
    qtbot.waitUntil(lambda: len(browser.previewed) == units - BATCH, timeout=5000)
    assert all(not _blank(browser, u) for u in range(units))  # the rest show a preview while they are drawn
    assert browser.status.text().startswith(f"{BATCH} of {units} units drawn")
    assert "being drawn" in browser.slots[units - 1].toolTip()
    # A unit not drawn yet can be picked.
    browser.list.scrollToItem(browser.slots[units - 1])
    qtbot.mouseClick(browser.list.viewport(), Qt.MouseButton.LeftButton,
                     pos=browser.list.visualItemRect(browser.slots[units - 1]).center())
    assert window.panel.task == "paint" and window.panel.feature_rows[0][0].value() == units - 1

    browser.close()  # while the worker is inside a step of the second batch
    gate.allow(10 ** 9)
    qtbot.waitUntil(lambda: worker.queue.job(Priority.THUMBNAILS) is None, timeout=10000)
    qtbot.wait(50)  # a step that had already begun finishes
    seen = len(gate.steps)
    qtbot.wait(300)
    assert len(gate.steps) == seen  # stopped
    assert seen < 2 * STEPS  # the second batch was not finished
    assert _cached_units("tiny") == list(range(BATCH))  # the first batch is kept

    browser.open()  # opening it again continues where it stopped: the first batch at once, one batch to draw
    qtbot.waitUntil(lambda: len(browser.items) == units, timeout=20000)
    assert len(gate.steps) - seen == STEPS
    assert browser.status.text() == f"{units} of {units} units drawn"
    assert _cached_units("tiny") == list(range(units))


def test_the_units_in_view_are_drawn_first(qtbot, installed_wide, gate):
    from robustpaint.app.window import MainWindow
    window = MainWindow(model_name="wide")
    qtbot.addWidget(window)
    window.resize(800, 500)
    window.show()
    try:
        qtbot.waitUntil(lambda: "wide" in window.panel.cards, timeout=10000)
        browser = window.neurons
        gate.allow(1)  # the first batch (units 0-7, chosen before the browser could say anything) waits
        browser.open()
        qtbot.waitUntil(lambda: gate.waiting, timeout=10000)
        browser.list.scrollToBottom()
        qtbot.wait(10)
        viewport = browser.list.viewport().rect()
        rows = [browser.list.item(row) for row in range(browser.list.count())]
        in_view = [item.data(Qt.ItemDataRole.UserRole) for item in rows
                   if browser.list.visualItemRect(item).intersects(viewport)]
        assert BATCH <= len(in_view) < 40 and max(in_view) == 63
        with qtbot.waitSignal(browser.order, timeout=5000,
                              check_params_cb=lambda name, order: set(order[:len(in_view)]) == set(in_view)):
            pass
        gate.allow(10 ** 9)
        qtbot.waitUntil(lambda: len(browser.items) >= BATCH + LATER_BATCH, timeout=20000)
        second = set(browser.items) - set(range(BATCH))  # the second batch: those in view first
        assert set(in_view) <= second if len(in_view) <= LATER_BATCH else second <= set(in_view), (second, in_view)
        browser.close()
        qtbot.waitUntil(lambda: window.session.worker.queue.job(Priority.THUMBNAILS) is None, timeout=10000)
    finally:
        gate.allow(10 ** 9)
        window.session.shutdown()
        window.close()


def test_changing_the_model_stops_the_old_models_work(qtbot, window, installed_wide, gate):
    browser, worker = window.neurons, window.session.worker
    window.session.load_model.emit("wide")  # loaded beforehand: the worker waits in a step below
    qtbot.waitUntil(lambda: "wide" in window.panel.cards, timeout=10000)
    gate.allow(3)
    browser.open()
    qtbot.waitUntil(lambda: gate.waiting, timeout=10000)
    tiny = gate.steps[0]
    browser.set_model("wide", window.panel.cards["wide"]["neuron_classes"])  # as the window does on a model change
    assert browser.list.count() == 64
    gate.allow(10 ** 9)
    qtbot.waitUntil(lambda: len(browser.items) >= BATCH, timeout=20000)
    switched = next(i for i, model in enumerate(gate.steps) if model is not tiny)
    assert all(model is not tiny for model in gate.steps[switched:])  # the tiny model's batch was dropped
    assert switched <= 5  # the step in flight and at most one queued before the request
    browser.close()
    qtbot.waitUntil(lambda: worker.queue.job(Priority.THUMBNAILS) is None, timeout=10000)


def test_the_browser_renders_offscreen_half_filled(qtbot, window, gate, tmp_path):
    """Not an assertion of looks: a picture of the half-filled browser to look at (saved under the test's tmp_path,
    or ROBUSTPAINT_SHOT when set)."""
    import os
    browser = window.neurons
    gate.allow(STEPS + 3)
    browser.open()
    qtbot.waitUntil(lambda: gate.waiting and len(browser.items) == BATCH, timeout=20000)
    qtbot.waitUntil(lambda: len(browser.previewed) == len(browser.slots) - BATCH, timeout=5000)
    browser.resize(300, 400)
    path = os.environ.get("ROBUSTPAINT_SHOT") or str(tmp_path / "neurons.png")
    assert browser.grab().save(path)
    browser.close()


# --- the core --------------------------------------------------------------------------------------------------


def test_a_fill_draws_small_batches_in_the_order_asked_and_saves_each(tiny_model, tmp_path):
    cache = NeuronCache(tiny_model, "tiny", "a" * 64, QUICK, folder=tmp_path)
    fill = neurons_mod.ThumbnailFill(cache, batch=4, first_batch=2)
    fill.step()  # the first batch: units 0 and 1
    assert fill.units == [0, 1] and set(fill.previews()) == {0, 1}
    fill.prefer([14, 1, 9, 14])  # 1 is being drawn already
    while (thumbs := fill.step()) is None:
        pass
    assert sorted(thumbs) == [0, 1]
    assert sorted(NeuronCache(tiny_model, "tiny", "a" * 64, QUICK, folder=tmp_path).thumbnails) == [0, 1]  # saved
    while (thumbs := fill.step()) is None:
        pass
    assert list(thumbs) == [14, 9, 2, 3]  # those asked for first, then the rest in order, 4 at a time from now on
    again = neurons_mod.ThumbnailFill(NeuronCache(tiny_model, "tiny", "a" * 64, QUICK, folder=tmp_path))
    assert again.todo == [u for u in range(16) if u not in {0, 1, 14, 9, 2, 3}]  # a stopped fill goes on


def test_a_preview_stretches_a_small_change_to_the_radius_and_keeps_a_finished_one():
    gray = torch.full((2, 3, 8, 8), QUICK.gray)
    direction = torch.randn(2, 3, 8, 8) * 0.01
    small = neurons_mod.preview(gray + direction, QUICK, eps=1.0).float() / 255
    assert torch.allclose((small - QUICK.gray).flatten(1).norm(dim=1), torch.ones(2), atol=0.05)
    finished = gray + direction / direction.flatten(1).norm(dim=1).view(-1, 1, 1, 1) * 1.0
    assert torch.equal(neurons_mod.preview(finished, QUICK, eps=0.5), neurons_mod.to_uint8(finished))


def test_a_shipped_cache_serves_its_units_and_one_of_other_weights_is_passed_over(tiny_model, tmp_path):
    shipped = tmp_path / "shipped"
    maker = NeuronCache(tiny_model, "tiny", "a" * 64, QUICK, folder=shipped)
    maker.get([0, 1, 2])
    user = tmp_path / "user"
    cache = NeuronCache(tiny_model, "tiny", "a" * 64, QUICK, folder=user, shipped=shipped)
    assert sorted(cache.thumbnails) == [0, 1, 2] and cache.rebuilt_because is None
    assert neurons_mod.ThumbnailFill(cache).todo == list(range(3, 16))
    other = NeuronCache(tiny_model, "tiny", "b" * 64, QUICK, folder=user, shipped=shipped)
    assert not other.thumbnails and other.rebuilt_because is None  # the user's cache is not blamed for it
