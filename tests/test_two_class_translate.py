"""Translation on a two-class model (#30, the paper's per-pair translation): without a target it goes to the class
the picture does not read as, in the CLI and the app; a model of more classes asks for one in one line."""

import numpy as np
import pytest
import torch
from PIL import Image

from robustpaint.cli import main
from robustpaint.core.imageio import read_recipe


@pytest.fixture
def installed_pair(tiny_arch):
    """A tiny cat-and-dog model, installed as the user's model 'pair'."""
    from robustpaint.core.models import build_classifier
    from robustpaint.core.models.checkpoint import save_model
    from robustpaint.core.paths import user_models_dir
    torch.manual_seed(3)
    model = build_classifier(tiny_arch, ["cat", "dog"]).eval()
    save_model(model, user_models_dir() / "pair.safetensors", {"dataset": "synthetic", "robust": False})
    return model


def _photo(path):
    Image.fromarray((np.random.default_rng(0).random((40, 48, 3)) * 255).astype(np.uint8)).save(path)
    return path


def test_translate_on_a_two_class_model_goes_to_the_other_class_and_says_so(installed_pair, tmp_path, capsys):
    photo = _photo(tmp_path / "pet.png")
    out = tmp_path / "out.png"
    assert main(["translate", str(photo), "--model", "pair", "--steps", "2", "--out", str(out)]) == 0
    recipe = read_recipe(out)
    with torch.no_grad():
        reads_as = int(installed_pair(torch.from_numpy(np.asarray(Image.open(photo).resize((48, 40))).copy())
                                      .permute(2, 0, 1)[None].float().div(255)).argmax())
    assert recipe["reads_as"] == [reads_as] and recipe["target"] == [1 - reads_as]
    names = ["cat", "dog"]
    assert f"target: {names[1 - reads_as]}, the other class (the model reads the picture as {names[reads_as]}" \
        in capsys.readouterr().err
    again = tmp_path / "again.png"
    assert main(["replay", str(out), "--out", str(again), "--quiet"]) == 0
    assert np.array_equal(np.asarray(Image.open(out)), np.asarray(Image.open(again)))


def test_translate_without_a_target_on_a_model_of_more_classes_is_one_line(installed_tiny, tmp_path, capsys):
    photo = _photo(tmp_path / "pet.png")
    assert main(["translate", str(photo), "--model", "tiny", "--out", str(tmp_path / "o.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "needs --to CLASS" in err and "cat, dog, ship, truck" in err
    assert not (tmp_path / "o.png").exists()
    assert main(["translate", str(photo), "--model", "tiny", "--to", "horse", "--out", str(tmp_path / "o.png")]) == 2
    assert "unknown class 'horse'; this model knows: cat, dog, ship, truck" in capsys.readouterr().err


def test_the_apps_translate_on_a_two_class_model_offers_the_other_class_first(qtbot, installed_pair):
    from robustpaint.app.task_panel import OTHER_CLASS
    from robustpaint.app.window import MainWindow
    win = MainWindow(model_name="pair")
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: "pair" in win.panel.cards, timeout=10000)
    try:
        panel = win.panel
        panel.task_combo.setCurrentIndex(panel.task_combo.findData("translate"))
        assert panel.class_combo.currentText() == OTHER_CLASS
        assert win.make_request().targets == ()  # the task picks the other class
        panel.class_combo.setCurrentText("dog")
        assert win.make_request().targets == (1,)
        panel.task_combo.setCurrentIndex(panel.task_combo.findData("sketch"))
        assert panel.class_combo.findText(OTHER_CLASS) < 0  # only translation has it
    finally:
        win.session.shutdown()


def test_the_app_and_the_cli_decide_keep_the_photo_by_one_rule():
    """The canvas's request and the CLI's both ask `keeps_photo` (one rule, #45's note): a photo model keeps the
    photo when it is chosen, a 32-px model only when the choice was made explicitly (the CLI's --keep-photo)."""
    import argparse

    import numpy as np

    from robustpaint.core.document import Document, canvas_request
    from robustpaint.core.project import TaskParameters
    from robustpaint.core.tasks import PHOTO_MODEL_SIDE, get_task, keeps_photo
    assert keeps_photo(True, PHOTO_MODEL_SIDE) and not keeps_photo(True, 32) and keeps_photo(True, 32, explicit=True)
    assert not keeps_photo(False, PHOTO_MODEL_SIDE, explicit=True)
    classes = ["cat", "dog"]
    for side in (32, PHOTO_MODEL_SIDE):
        model = argparse.Namespace(input_size=side)
        for checked, flag in ((True, None), (False, False)):  # the app's box as it comes, and unticked
            params = TaskParameters(task="translate", class_name="dog", keep_photo=checked)
            request = canvas_request(Document(np.full((side, side, 3), 0.5, np.float32)), params, classes, False,
                                     None, side)
            cli = get_task("translate").extra_fields(argparse.Namespace(keep_photo=flag), model)["keep_photo"]
            assert request.keep_photo is cli is keeps_photo(checked, side, explicit=flag is not None), (side, checked)


def test_the_apps_status_line_names_the_class_the_other_class_chose(qtbot, installed_pair):
    """With "(the other class)" the run picks the class the picture does not read as; the status line said only
    "→ the other class", so a cat the model read as a dog went to cat, stayed a cat, and the user was not told why
    (#45's note). It now names the class and the model's reading, as the CLI prints it."""
    from robustpaint.app.task_panel import OTHER_CLASS
    from robustpaint.app.window import MainWindow
    win = MainWindow(model_name="pair")
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: "pair" in win.panel.cards, timeout=10000)
    try:
        win.controls.live_check.setChecked(False)
        panel = win.panel
        panel.task_combo.setCurrentIndex(panel.task_combo.findData("translate"))
        assert panel.class_combo.currentText() == OTHER_CLASS
        panel.steps_spin.setValue(2)
        with qtbot.waitSignal(win.session.run_finished, timeout=20000):
            win.start_run()
        target = win.session.figures["target"][0][0]  # the class the run pushed towards
        reads_as = {"cat": "dog", "dog": "cat"}[target]
        status = win.status_label.text()
        assert f"→ {target}, the other class (the model read the picture as {reads_as} at " in status, status
        assert "→ the other class" not in status
    finally:
        win.session.shutdown()
