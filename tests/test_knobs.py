"""The knob table: a knob is one entry, and the CLI, recipes, projects and the app's panel all read it."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from robustpaint.core import objectives as obj  # noqa: E402
from robustpaint.core.errors import RobustPaintError  # noqa: E402
from robustpaint.core.imageio import read_recipe  # noqa: E402
from robustpaint.core.project import ProjectError, TaskParameters  # noqa: E402
from robustpaint.core.tasks import KNOBS, Built, Knob, register, unregister  # noqa: E402
from test_task_registry import Darken  # noqa: E402 - its command line and preset


class Dim(Darken):
    """Moves the image towards a class and makes it darker by the weight of a knob that only this test declares."""

    name, label, help = "dim", "Dim towards a class", "darken an image by a knob's weight"
    parameters = ("class", "eps", "step", "steps", "darkness")

    def build(self, ctx) -> Built:
        weight = ctx.request.knob("darkness")  # the one line of task code the knob needs
        darker = obj.Objective(lambda x, logits, a: weight * x.mean((1, 2, 3)), "brightness")
        return Built(ctx.image(), obj.class_target(ctx.targets().to(ctx.device)) + darker)


@pytest.fixture
def darkness_knob(monkeypatch):
    """The one table entry: nothing else in the package names "darkness"."""
    monkeypatch.setitem(KNOBS, "darkness", Knob("darkness", "Darkness", "float", 1.0, 0.0, 5.0,
                                                 "how hard the run darkens the image", generic=True, before=0.0))
    register(Dim())
    yield KNOBS["darkness"]
    unregister("dim")


def _run(main, tmp_path, *extra):
    out = tmp_path / f"dim{len(extra)}.png"
    code = main(["dim", str(tmp_path / "gray.png"), "--class", "cat", "--model", "tiny", "--out", str(out),
                 "--quiet", *extra])
    return code, out


def test_a_knob_added_to_the_table_reaches_the_cli_and_the_recipe_and_replays(darkness_knob, installed_tiny,
                                                                               tmp_path, capsys):
    from robustpaint.cli import main
    Image.new("RGB", (32, 32), (200, 200, 200)).save(tmp_path / "gray.png")
    code, light = _run(main, tmp_path)
    assert code == 0 and read_recipe(light)["darkness"] == 1.0  # the table's default, written into the recipe
    code, dark = _run(main, tmp_path, "--darkness", "5")
    assert code == 0 and read_recipe(dark)["darkness"] == 5.0
    assert np.asarray(Image.open(dark), np.float32).mean() < np.asarray(Image.open(light), np.float32).mean()
    assert main(["replay", str(dark), "--out", str(tmp_path / "again.png"), "--quiet"]) == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "again.png")), np.asarray(Image.open(dark)))
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        _run(main, tmp_path, "--darkness", "9")
    assert exit_.value.code == 2 and "--darkness: must be between 0 and 5" in capsys.readouterr().err


def test_recipes_check_a_new_knob_and_older_recipes_replay_with_its_before_value(darkness_knob):
    from robustpaint.core.recipes import check_recipe, request_from_recipe
    with pytest.raises(RobustPaintError, match="recipe's darkness must lie in 0..5"):
        check_recipe({"task": "dim", "darkness": 9.0})
    with pytest.raises(RobustPaintError, match="darkness must be a number"):
        check_recipe({"task": "dim", "darkness": "dark"})
    assert request_from_recipe({"task": "dim", "darkness": 2.5}).knob("darkness") == 2.5
    assert request_from_recipe({"task": "dim"}).knob("darkness") == 0.0  # written before the knob existed


def test_projects_keep_a_new_knob_and_refuse_it_out_of_range(darkness_knob):
    params = TaskParameters.from_dict("dim", {"darkness": 2.5})
    assert params.knob("darkness") == 2.5
    assert TaskParameters.from_dict("dim", params.to_dict()) == params
    assert TaskParameters.from_dict("dim", {}).knob("darkness") == 1.0
    with pytest.raises(ProjectError, match="darkness must lie in 0..5"):
        TaskParameters.from_dict("dim", {"darkness": 7})


def test_the_panel_makes_a_row_for_a_new_knob_and_the_canvas_request_carries_it(qtbot, darkness_knob, window):
    """Before: the panel looked up a widget per knob by name and raised KeyError for a knob it did not know."""
    panel = window.panel
    panel.task_combo.setCurrentIndex(panel.task_combo.findData("dim"))
    slider = panel.rows["darkness"][1]
    assert slider.isVisibleTo(window) and panel.row_labels["darkness"].text() == "Darkness"
    with qtbot.waitSignal(panel.changed, timeout=2000):
        slider.setValue(3.0)
    assert panel.parameters().knob("darkness") == pytest.approx(3.0)
    assert window.make_request().knob("darkness") == pytest.approx(3.0)
    panel.task_combo.setCurrentIndex(panel.task_combo.findData("sketch"))
    assert not slider.isVisibleTo(window)  # a task that does not read it hides the row
    assert "darkness" not in dict(window.make_request().knobs)


def test_every_reader_takes_the_same_range(qtbot, window):
    """Before: eps was 0..120 in projects and the panel, 0..1e4 in recipes and the CLI; the seed 0..2**31-1 in
    projects and 0..2**63-1 in recipes. A recipe's values now open as a project, and the panel shows them."""
    from robustpaint.core.recipes import check_recipe
    values = {"eps": 500.0, "seed": 2**40, "steps": 5000, "lam": 1000.0}
    check_recipe({"task": "sketch", **values})
    params = TaskParameters.from_dict("sketch", values)
    window.panel.set_parameters(params)
    shown = window.panel.parameters()
    assert (shown.eps, shown.seed, shown.steps, shown.lam) == (500.0, 2**40, 5000, 1000.0)
    for key in ("eps", "seed", "steps"):
        too_big = KNOBS[key].high * 2
        with pytest.raises(ProjectError):
            TaskParameters.from_dict("sketch", {key: too_big})
        with pytest.raises(RobustPaintError):
            check_recipe({"task": "sketch", key: too_big if key == "eps" else int(too_big)})


def test_translate_offers_focus_in_the_panel_and_the_cli_and_sketch_does_not(qtbot, window):
    panel = window.panel
    panel.advanced.expand(animate=False)
    panel.task_combo.setCurrentIndex(panel.task_combo.findData("translate"))
    slider = panel.rows["focus"][1]
    assert slider.isVisibleTo(window) and panel.row_labels["focus"].text() == "Focus"
    assert panel.parameters().knob("focus") == pytest.approx(1.0)  # a 32-px model's preset asks the whole picture
    slider.setValue(0.25)
    assert window.make_request().knob("focus") == pytest.approx(0.25)
    panel.task_combo.setCurrentIndex(panel.task_combo.findData("sketch"))
    assert not slider.isVisibleTo(window)
    from robustpaint.cli.parser import build_parser
    assert "--focus" in build_parser()._subparsers._group_actions[0].choices["translate"].format_help()
