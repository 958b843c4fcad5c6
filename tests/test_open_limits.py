"""#44 items 5 and 6: the canvas's 16-1024 px sides hold for projects and photo fitting, and `robustpaint FILE`
opens an image or a project in the app."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from robustpaint.cli import main
from robustpaint.core.project import Project, save_project


def _png(path, h, w):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(path)
    return str(path)


def test_robustpaint_file_opens_it_in_the_app(tmp_path, monkeypatch):
    import robustpaint.launch
    opened = []
    monkeypatch.setattr(robustpaint.launch, "start_gui", lambda path=None: opened.append(path) or 0)
    photo = _png(tmp_path / "cat photo.png", 40, 60)
    assert main([photo]) == 0 and opened == [photo]


def test_robustpaint_with_a_missing_file_says_so_in_one_line(tmp_path, capsys):
    assert main([str(tmp_path / "gone.jpg")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no such file" in err[0] and "gone.jpg" in err[0]


def test_a_file_given_at_start_opens_at_its_own_size(qtbot, window, tmp_path):
    from robustpaint.app.main import open_at_start
    assert open_at_start(window, _png(tmp_path / "wide.png", 40, 60))
    assert window.document.size == (40, 60)
    image = np.zeros((48, 36, 3), np.float32)
    save_project(Project(image=image, mask=np.zeros((48, 36), np.float32), model="tiny"), tmp_path / "p.rpaint")
    assert open_at_start(window, str(tmp_path / "p.rpaint"))
    assert window.document.size == (48, 36) and window.files.project_path == str(tmp_path / "p.rpaint")


def test_a_project_past_the_canvas_limit_opens_scaled_to_it_and_says_so(qtbot, window, tmp_path):
    """A valid 4096 x 4096 project opened at its size (76 s and 700 MB a stroke); scaled to 1024 px now."""
    image = np.random.default_rng(0).uniform(0, 1, (1500, 1100, 3)).astype(np.float32)
    mask = np.zeros((1500, 1100), np.float32)
    mask[:100] = 1
    save_project(Project(image=image, mask=mask, model="tiny"), tmp_path / "big.rpaint")
    assert window.files.open_project(str(tmp_path / "big.rpaint"))
    assert window.document.size == (1024, 751) and window.document.mask.shape == (1024, 751)
    assert window.document.mask[:60].all() and not window.document.mask[80:].any()
    assert "opened scaled to 751x1024" in window.statusBar().currentMessage()


def test_a_project_too_thin_for_a_canvas_is_refused_in_one_line(qtbot, window, tmp_path, monkeypatch):
    warned = []
    monkeypatch.setattr(window.files, "_warn", lambda title, text: warned.append(text))
    save_project(Project(image=np.zeros((12, 2000, 3), np.float32), mask=np.zeros((12, 2000), np.float32)),
                 tmp_path / "thin.rpaint")
    size = window.document.size
    assert not window.files.open_project(str(tmp_path / "thin.rpaint"))
    assert window.document.size == size and len(warned) == 1 and "too thin" in warned[0]


@pytest.mark.parametrize("fit", ["keep", "crop"])
def test_a_panorama_does_not_become_a_one_pixel_canvas(tmp_path, fit):
    from robustpaint.core.imageio import ImageError, load_photo
    from robustpaint.core.tasks.knobs import CANVAS_MAX
    path = _png(tmp_path / "panorama.png", 12, 2000)
    if fit == "crop":  # the centre square: 12 x 12, scaled up to the model's side
        tensor, _, _ = load_photo(path, None, "crop", CANVAS_MAX, min_side=32)
        assert tuple(tensor.shape[-2:]) == (32, 32)
        return
    with pytest.raises(ImageError, match="too thin"):
        load_photo(path, None, fit, CANVAS_MAX, min_side=32)


def test_while_the_model_loads_the_panel_names_it_and_shows_only_the_tasks_rows(qtbot, installed_tiny):
    """#48 item 3 / #47 item 8: while the model loaded, the panel showed every task's knobs and said "loading..."."""
    from robustpaint.app.window import MainWindow
    from robustpaint.core.tasks import get_task
    window = MainWindow(model_name="tiny")  # the worker has not answered yet: no event has been processed
    qtbot.addWidget(window)
    try:
        panel = window.panel
        assert "tiny" not in panel.cards and panel.card_label.text() == "loading tiny…"
        shown = {key for key, (_, widget) in panel.rows.items() if not widget.isHidden()}
        assert shown and shown <= set(get_task(panel.task).parameters)
    finally:
        window.session.shutdown()


def test_the_top5_reads_the_canvas_again_with_a_newly_chosen_model(qtbot, installed_tiny, tiny_arch):
    """#47 item 5: after switching to the pets model the top-5 still showed Imagenette's classes."""
    import torch

    from robustpaint.app.window import MainWindow
    from robustpaint.core.models import build_classifier
    from robustpaint.core.models.checkpoint import save_model
    torch.manual_seed(3)
    fruit = build_classifier(tiny_arch, ["apple", "pear", "plum", "fig"]).eval()
    save_model(fruit, installed_tiny.with_name("fruit.safetensors"), {"dataset": "synthetic", "robust": False,
                                                                       "role": "test"})
    window = MainWindow(model_name="tiny")
    qtbot.addWidget(window)
    try:
        window.resize(800, 500)
        window.show()
        qtbot.waitUntil(lambda: "tiny" in window.panel.cards, timeout=10000)
        window.document.image = np.random.default_rng(0).uniform(0, 1, (32, 32, 3)).astype(np.float32)
        bar = window.controls.top_bars[0]
        qtbot.waitUntil(lambda: bar.format().split(" ")[0] in ("cat", "dog", "ship", "truck"), timeout=10000)
        assert window.panel.select_model("fruit")
        qtbot.waitUntil(lambda: bar.format().split(" ")[0] in ("apple", "pear", "plum", "fig"), timeout=10000)
    finally:
        window.session.shutdown()


def test_choosing_inpaint_proposes_the_models_reading_not_the_last_tasks_class(qtbot, window):
    """#47 item 6: Inpaint kept the class of the previous task (dog)."""
    window.controls.live_check.setChecked(False)
    window.document.image = np.random.default_rng(0).uniform(0, 1, (32, 32, 3)).astype(np.float32)
    qtbot.waitUntil(lambda: bool(window.session.last_top5), timeout=10000)
    read = window.session.last_top5[0][0][0]
    other = next(c for c in ("cat", "dog", "ship", "truck") if c != read)
    window.panel.task_combo.setCurrentIndex(window.panel.task_combo.findData("sketch"))
    window.panel.class_combo.setCurrentText(other)
    window.panel.task_combo.setCurrentIndex(window.panel.task_combo.findData("inpaint"))
    assert window.panel.class_combo.currentText() == read
