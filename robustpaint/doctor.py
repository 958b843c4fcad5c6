"""`robustpaint doctor`: checks the install and says what it found; with `--gui`, drives the real window offscreen.

Exit status 0 only if every check passed.
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
from pathlib import Path


def _line(ok: bool, text: str) -> bool:
    print(f"[{'ok' if ok else 'FAIL'}] {text}")
    return ok


def check_libraries() -> bool:
    """torch's and torchvision's versions, one line each, and whether torchvision imports with this torch. Painting
    does not need torchvision, so one that does not import is a warning that names what needs it and the fix, not a
    failed check (and never a traceback)."""
    import torch

    from robustpaint.core.versions import LibraryMismatchError, import_torchvision, installed_version
    build = f"built for CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU build"
    _line(True, f"torch {installed_version('torch') or torch.__version__} ({build})")
    needs = "importing the authors' ImageNet checkpoints and training on cifar10"
    try:
        import_torchvision("torchvision", f"{needs} (painting does not need it)")
    except LibraryMismatchError as exc:
        print(f"[warn] {exc}")
        return True
    return _line(True, f"torchvision {installed_version('torchvision')} imports ({needs} need it; painting does not)")


def check_install() -> bool:
    import torch

    from robustpaint import __version__
    from robustpaint.core.errors import RobustPaintError
    from robustpaint.core.models.checkpoint import accuracy_summary, load_model
    from robustpaint.core.catalog import list_models
    from robustpaint.core.paths import resources_dir, user_data_dir

    ok = _line(True, f"robustpaint {__version__}, Python {platform.python_version()}, torch {torch.__version__}, "
                     f"{torch.get_num_threads()} CPU threads, CUDA {'yes' if torch.cuda.is_available() else 'no'}")
    ok &= check_libraries()
    from robustpaint.core.device import available_devices, bf16_pays_off, resolve_device
    auto = resolve_device("auto")
    _line(True, f"devices: {', '.join(available_devices())}; runs use {auto} unless told (--device, Run > Device), "
                f"{'bf16' if bf16_pays_off(auto) else 'fp32'} is the faster precision there")
    ok &= _line(resources_dir().is_dir(), f"resources: {resources_dir()}")
    _line(True, f"user data: {user_data_dir()}")
    entries = list_models()
    ok &= _line(bool(entries), f"{len(entries)} model(s) installed")
    for entry in entries:
        try:
            _, card = load_model(entry.weights)
        except RobustPaintError as exc:
            ok &= _line(False, f"model {entry.name}: {exc}")
            continue
        figures = accuracy_summary(card)
        _line(True, f"model {entry.name} ({entry.origin}): {card['arch']}, {card.get('dataset', '?')}, "
                    f"sha256 verified, {figures}, seeds {'yes' if entry.seeds_path.is_file() else 'no'}")
    return ok


def check_threads(model: str | None) -> bool:
    """Times the engine's steps on the model at each candidate thread count, as every run does, and says which won."""
    import torch

    from robustpaint.core import objectives as obj
    from robustpaint.core.errors import RobustPaintError
    from robustpaint.core.models.bundle import load_model_bundle
    from robustpaint.core.pgd import PGDConfig, PGDOptimizer
    from robustpaint.core.threads import ENV, ThreadTuner

    try:
        tuner = ThreadTuner()
        bundle = load_model_bundle(model)
    except RobustPaintError as exc:
        return _line(False, f"threads: {exc}")
    side = bundle.model.input_size
    engine = PGDOptimizer(bundle.model, obj.class_target(torch.tensor([0])), torch.rand(1, 3, side, side),
                          PGDConfig(norm="l2", eps=1.0, step_size=0.1, steps=10**6))
    for _ in range(len(tuner.candidates) * (tuner.probe_steps + 1)):
        tuner.step(engine.step)
    return _line(True, f"threads: {tuner.describe()} for a {side}-px step of {bundle.entry.name}; every run measures "
                       f"again as it goes ({ENV}=N fixes the count)")


def replays_exactly(path: Path, device: str = "cpu") -> tuple[bool, str]:
    """Whether the recipe in an exported PNG makes the same pixels again on `device` (what `robustpaint replay`
    does; the app's device, since pixels are exact only on the kind of device that made them)."""
    import numpy as np
    from PIL import Image

    from robustpaint.core.imageio import read_recipe, tensor_to_image
    from robustpaint.core.recipes import run_recipe
    recipe = read_recipe(path)
    images, recipe = run_recipe(recipe, device)
    replayed = np.asarray(tensor_to_image(images[int(recipe.get("index", 0))]))
    exported = np.asarray(Image.open(path).convert("RGB"))
    if replayed.shape != exported.shape:
        return False, f"sizes differ: {replayed.shape} vs {exported.shape}"
    differ = int((replayed != exported).any(axis=2).sum())
    return differ == 0, "pixel-exact" if differ == 0 else f"{differ} pixels differ"


def check_gui(model: str | None, steps: int = 5, screenshot: str | None = None, export_dir: str | None = None) -> bool:
    """Opens the main window offscreen, draws a stroke, runs every task through the real worker, exports a PNG of
    each (and of an iterate committed from the timeline) and checks that each replays pixel-exactly."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import numpy as np
    from PySide6.QtCore import QEventLoop, QPoint, Qt, QTimer
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from robustpaint.app.main import install_style
    from robustpaint.app.run_session import PROGRESS_PER_STEP
    from robustpaint.app.window import MainWindow
    from robustpaint.core.tasks import TASKS

    app = QApplication.instance() or QApplication([])
    install_style(app)
    window = MainWindow(model_name=model)
    window.resize(900, 600)
    window.show()
    ok = True

    def wait_for(condition, timeout_s: float) -> bool:
        deadline = time.perf_counter() + timeout_s
        while not condition() and time.perf_counter() < deadline:
            loop = QEventLoop()
            QTimer.singleShot(5, loop.quit)
            loop.exec()
        return condition()

    name = window.panel.model_combo.currentText()
    loaded = _line(wait_for(lambda: bool(name) and name in window.panel.cards, 60),
                   f"main window opened offscreen, model {name!r} loaded")
    if not loaded:
        window.close()
        return False
    window.controls.live_check.setChecked(False)
    before = window.document.image.copy()
    rect = window.canvas.target_rect()
    y = int(rect.center().y())
    QTest.mousePress(window.canvas, Qt.MouseButton.LeftButton, pos=QPoint(int(rect.left() + 10), y))
    QTest.mouseMove(window.canvas, QPoint(int(rect.right() - 10), y))
    QTest.mouseRelease(window.canvas, Qt.MouseButton.LeftButton, pos=QPoint(int(rect.right() - 10), y))
    ok &= _line(not np.array_equal(before, window.document.image), "a brush stroke changed the canvas")
    window.document.mask[8:20, 8:20] = 1
    window.document.regions[:, :14] = 0  # two class regions for the class map
    window.document.regions[:, 18:] = 1
    window.document.changed({"mask", "regions"})  # written in place: the document says so, as a stroke does
    temporary = None if export_dir else tempfile.TemporaryDirectory(prefix="robustpaint-doctor-")
    folder = Path(export_dir or temporary.name)
    folder.mkdir(parents=True, exist_ok=True)
    exports = []

    def run_task(task: str, count: int) -> bool:
        window.panel.task_combo.setCurrentIndex(window.panel.task_combo.findData(task))
        window.panel.steps_spin.setValue(count)
        finished = []
        window.session.run_finished.connect(finished.append)
        window.statusBar().clearMessage()
        started = time.perf_counter()
        window.start_run()
        wait_for(lambda: bool(finished) or not window.session.running, 120)
        window.session.run_finished.disconnect(finished.append)
        problem = "" if finished else f" ({window.statusBar().currentMessage() or 'no result'})"
        return _line(bool(finished) and window.controls.progress.value() == count * PROGRESS_PER_STEP,
                     f"{task}: {count} steps through the worker in {time.perf_counter() - started:.2f} s, "
                     f"{window.session.figures['steps_per_second']:.1f} steps/s, top class "
                     f"{window.controls.top_bars[0].format()!r}{problem}")

    for task in TASKS:
        ok &= run_task(task, steps)
        path = folder / f"{task}.png"
        ok &= _line(window.files.export_png(str(path)), f"exported {path.name} with its recipe")
        exports.append(path)
    ok &= run_task("sketch", 2 * steps)  # a longer run, then its iterate of step `steps` committed from the timeline
    window.controls.timeline_slider.setValue(0)
    window.session.commit_timeline()
    path = folder / "sketch-iterate.png"
    ok &= _line(window.files.export_png(str(path)), f"exported {path.name}, the iterate of step {steps}")
    exports.append(path)
    for path in exports:
        same, detail = replays_exactly(path, window.devices.device or "cpu")
        ok &= _line(same, f"robustpaint replay {path.name}: {detail}")
    if temporary is not None:
        temporary.cleanup()
    # Live rate and GUI stalls over a longer run of the first task.
    window.panel.task_combo.setCurrentIndex(window.panel.task_combo.findData("sketch"))
    window.panel.steps_spin.setValue(60)
    finished = []
    window.session.run_finished.connect(finished.append)
    window.session.longest_stall_ms, window.session.updates = 0.0, 0
    started = time.perf_counter()
    window.start_run()
    wait_for(lambda: bool(finished), 300)
    elapsed = time.perf_counter() - started
    _line(True, f"live: {window.session.updates / elapsed:.1f} canvas updates/s over {window.session.updates} steps; longest GUI-thread "
                f"slot {window.session.longest_stall_ms:.1f} ms")
    if screenshot:
        window.panel.task_combo.setCurrentIndex(window.panel.task_combo.findData("generate"))
        classes = window.panel.cards[name]["classes"]  # a class the model paints best (the church)
        window.panel.class_combo.setCurrentText(next((c for c in ("horse", "church") if c in classes), classes[0]))
        finished.clear()
        window.document.mask[:] = 0
        window.document.regions[:] = -1
        window.document.changed({"mask", "regions"})
        window.panel.candidates_spin.setValue(8)  # the candidate grid shows in the picture too
        window.resize(1280, 860)
        window.panel.steps_spin.setValue(60)
        window.start_run()
        wait_for(lambda: bool(finished), 300)
        ok &= _line(window.grab().save(screenshot), f"screenshot of the main window: {screenshot}")
    window.close()
    ok &= _line(not window.session.thread.isRunning(), "closing the window stopped the worker thread")
    app.processEvents()
    return ok


def run_doctor(gui: bool, model: str | None, screenshot: str | None = None, export_dir: str | None = None) -> int:
    if screenshot:  # said at once, not as a bare [FAIL] after minutes of checks
        from pathlib import Path

        from robustpaint.core.errors import RobustPaintError
        folder = Path(screenshot).expanduser().resolve().parent
        if not folder.is_dir():
            raise RobustPaintError(f"cannot save the screenshot in {folder}: no such folder")
        if not gui:
            raise RobustPaintError("--screenshot needs --gui (the screenshot is of the app's window)")
    ok = check_install()
    ok &= check_threads(model)
    if gui:
        ok &= check_gui(model, screenshot=screenshot, export_dir=export_dir)
    print("all checks passed" if ok else "some checks FAILED", file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1
