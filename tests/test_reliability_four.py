"""Reliability, round four (#46): output paths from class names, dangling links, exports the readers take, one-pixel
sides, budgets that bound, canvases, empty class lists, an unwritable neuron cache and a bound on strokes."""

import io
import json
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from robustpaint.cli import main
from robustpaint.core.errors import RobustPaintError


def _run(argv, capsys):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _model_with_classes(tiny_arch, path, classes):
    """A tiny model whose card names `classes`, saved at `path` (a `--model FILE.safetensors` with its card)."""
    from robustpaint.core.models import build_classifier
    from robustpaint.core.models.checkpoint import save_model
    torch.manual_seed(0)
    save_model(build_classifier(tiny_arch, classes).eval(), path, {"dataset": "synthetic", "robust": False})
    return path


def _files_under(folder):
    """The files under `folder`, but for the test's private user folders (conftest: user-data, user-cache)."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                  if p.is_file() and not p.relative_to(folder).parts[0].startswith("user-"))


# --- 1. output paths from class names ------------------------------------------------------------------------------

def test_generate_keeps_files_named_from_a_cards_classes_inside_out(tiny_arch, tmp_path, capsys):
    """Classes `../../ESCAPED_airplane` and an absolute path wrote outside --out, status 0."""
    absolute = f"{tmp_path}/RP_ABSOLUTE_automobile"
    model = _model_with_classes(tiny_arch, tmp_path / "models" / "x.safetensors",
                                ["../../ESCAPED_airplane", absolute, "bird", "cat"])
    out = tmp_path / "a" / "b" / "out"
    code, stdout, err = _run(["generate", "--model", model, "--class", "0,1", "--out", out, "--steps", "1",
                              "--quiet"], capsys)
    assert code == 0, err
    written = stdout.strip().split("\n")
    assert sorted(written) == sorted(str(out / name) for name in _files_under(out))
    assert _files_under(out) == ["_ESCAPED_airplane-000.png", f"{'_' + absolute[1:].replace('/', '_')}-000.png"]
    assert _files_under(tmp_path) == sorted(["models/x.json", "models/x.safetensors",
                                             *(f"a/b/out/{name}" for name in _files_under(out))])


def test_classes_that_clean_to_one_name_number_on_instead_of_overwriting(tiny_arch, tmp_path, capsys):
    model = _model_with_classes(tiny_arch, tmp_path / "y.safetensors", ["a b", "a.b", "bird", "cat"])
    code, stdout, err = _run(["generate", "--model", model, "--class", "0,1", "--out", tmp_path / "o", "--steps",
                              "1", "--quiet"], capsys)
    assert code == 0, err
    assert _files_under(tmp_path / "o") == ["a_b-000.png", "a_b-001.png"]


def test_one_cleaning_for_every_writer():
    from robustpaint.core.paths import file_stem
    assert file_stem("../../ESCAPED_airplane") == "_ESCAPED_airplane"
    assert file_stem("/tmp/RP_ABSOLUTE_automobile") == "_tmp_RP_ABSOLUTE_automobile"
    assert file_stem("golf_ball") == "golf_ball" and file_stem("English springer") == "English_springer"
    assert file_stem("..") == "_" and file_stem("") == "_"
    assert len(file_stem("é" * 300).encode()) <= 100  # a name part, not past a file system's 255 bytes


def test_the_apps_export_name_uses_the_same_cleaning(window, tmp_path):
    from robustpaint.core.paths import file_stem
    window.files.last_folder = str(tmp_path)
    card = window.panel.cards["tiny"]
    window.panel.cards["tiny"] = {**card, "classes": ["../../up", *card["classes"][1:]]}
    window.session.last_recipe = {"task": "generate", "targets": [0]}
    assert window.files.export_name() == str(tmp_path / f"{file_stem('generate-../../up')}-001.png")


@pytest.mark.parametrize("name", ["cat\nfish", "tab\there", "bell\x07", "line\u2028separator", "nul\x00"])
def test_a_class_name_that_cannot_be_shown_on_one_line_is_refused_at_card_reading(tiny_arch, tmp_path, capsys,
                                                                                   name):
    from robustpaint.core.catalog import read_card
    from robustpaint.core.errors import ModelError
    model = _model_with_classes(tiny_arch, tmp_path / "z.safetensors", ["bird", name, "dog", "ship"])
    with pytest.raises(ModelError, match="cannot be shown on one line"):
        read_card(model.with_suffix(".json"))
    code, stdout, err = _run(["generate", "--model", model, "--class", "bird", "--out", tmp_path / "o", "--steps",
                              "1", "--quiet"], capsys)
    assert code == 2 and err.count("\n") == 1 and "class 1" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_a_data_set_whose_class_folder_cannot_be_shown_on_one_line_is_refused_before_training(tmp_path):
    """The card a training writes takes the folders' names: it would be refused when read, after the training."""
    from robustpaint.core.train.data import DataError, list_image_folder
    for name in ("dog", "cat\nfish"):
        (tmp_path / "train" / name).mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(tmp_path / "train" / name / "0.png")
    with pytest.raises(DataError, match="cannot be shown on one line"):
        list_image_folder(tmp_path / "train")


# --- 2. the atomic writer and links ---------------------------------------------------------------------------------

def test_the_atomic_writer_refuses_a_dangling_link_and_makes_no_folder_where_it_points(tmp_path):
    from robustpaint.core.atomic import atomic_write_bytes
    link = tmp_path / "out.png"
    link.symlink_to(tmp_path / "elsewhere" / "deep" / "evil.png")
    with pytest.raises(RobustPaintError, match="dangling"):
        atomic_write_bytes(link, b"data")
    assert not (tmp_path / "elsewhere").exists() and link.is_symlink()
    assert _files_under(tmp_path) == []  # no temporary file left either


def test_a_link_to_an_existing_file_is_written_through_and_stays(tmp_path):
    from robustpaint.core.atomic import atomic_write_bytes
    (tmp_path / "outside").mkdir()
    real = tmp_path / "outside" / "real.png"
    real.write_bytes(b"old")
    link = tmp_path / "link.png"
    link.symlink_to(real)
    atomic_write_bytes(link, b"new")
    assert link.is_symlink() and real.read_bytes() == b"new"


def test_a_folder_of_the_path_that_links_nowhere_is_refused(tmp_path):
    from robustpaint.core.atomic import atomic_write_bytes
    (tmp_path / "out").symlink_to(tmp_path / "nowhere" / "deeper")
    with pytest.raises(RobustPaintError, match="symbolic link"):
        atomic_write_bytes(tmp_path / "out" / "sub" / "x.png", b"data")
    assert not (tmp_path / "nowhere").exists()


def test_generate_refuses_a_dangling_link_planted_under_its_next_name_before_the_run(installed_tiny, tmp_path, capsys,
                                                                                     monkeypatch):
    from robustpaint.core import recipes
    out = tmp_path / "shared"
    out.mkdir()
    (out / "cat-000.png").symlink_to(tmp_path / "elsewhere" / "made" / "stolen.png")
    monkeypatch.setattr(recipes, "build_task", lambda *a, **k: pytest.fail("the run started"))
    code, stdout, err = _run(["generate", "--class", "cat", "--out", out, "--model", "tiny", "--steps", "1",
                              "--quiet"], capsys)
    assert code == 2 and err.count("\n") == 1 and "dangling" in err and stdout == ""
    assert not (tmp_path / "elsewhere").exists()


def test_an_out_file_that_is_a_dangling_link_is_refused_before_the_run(installed_tiny, tmp_path, capsys,
                                                                       monkeypatch):
    from robustpaint.core import recipes
    Image.new("RGB", (32, 32), (90, 120, 30)).save(tmp_path / "p.png")
    (tmp_path / "out.png").symlink_to(tmp_path / "elsewhere" / "x.png")
    monkeypatch.setattr(recipes, "build_task", lambda *a, **k: pytest.fail("the run started"))
    code, _, err = _run(["sketch", tmp_path / "p.png", "--class", "dog", "--out", tmp_path / "out.png", "--model",
                         "tiny", "--steps", "1", "--quiet"], capsys)
    assert code == 2 and err.count("\n") == 1 and "dangling" in err
    assert not (tmp_path / "elsewhere").exists()


# --- 3. exports the readers take ------------------------------------------------------------------------------------

def test_an_8x_png_of_a_1024_canvas_is_refused_at_once_and_7x_is_the_largest(tmp_path):
    from robustpaint.core.imageio import ImageError, largest_readable_scale, save_png
    with pytest.raises(ImageError, match="at most 7x"):
        save_png(torch.zeros(3, 1024, 1024), tmp_path / "big.png", {"task": "none"}, 8, True)
    assert _files_under(tmp_path) == []
    assert largest_readable_scale(1024, 1024) == 7 and largest_readable_scale(1000, 1000) == 8
    assert largest_readable_scale(128, 128) >= 8


def test_replay_refuses_an_export_scale_the_readers_would_refuse_before_the_run(installed_tiny, tmp_path, capsys,
                                                                                monkeypatch):
    from robustpaint.core import recipes
    from robustpaint.core.imageio import save_png
    recipe = {"recipe_version": 1, "task": "generate", "model": "tiny", "targets": [0], "candidates": 1, "steps": 1,
              "size": 1024, "export_scale": 8, "export_resample": "smooth"}
    save_png(torch.zeros(1, 3, 8, 8), tmp_path / "in.png", recipe)
    monkeypatch.setattr(recipes, "build_task", lambda *a, **k: pytest.fail("the run started"))
    code, _, err = _run(["replay", tmp_path / "in.png", "--out", tmp_path / "out.png", "--quiet"], capsys)
    assert code == 2 and err.count("\n") == 1 and "reads back" in err
    assert not (tmp_path / "out.png").exists()


def _canvas(window, side):
    from robustpaint.core.document import Document
    window.editor.replace(Document(np.full((side, side, 3), 0.5, np.float32)), "test canvas")


def test_the_app_offers_only_export_sizes_its_readers_take(window, tmp_path, monkeypatch):
    from robustpaint.app.files import EXPORT_SIZES
    from robustpaint.core.imageio import read_recipe
    assert window.files.export_sizes() == list(EXPORT_SIZES)  # a small canvas: every size
    _canvas(window, 1024)
    assert "8x, smooth" not in window.files.export_sizes() and "4x, smooth" in window.files.export_sizes()
    warnings = []
    monkeypatch.setattr(window.files, "_warn", lambda title, text: warnings.append(text))
    assert not window.files.export_png(str(tmp_path / "8x.png"), 8, True)
    assert "reads back" in warnings[0] and not (tmp_path / "8x.png").exists()
    assert window.files.export_png(str(tmp_path / "4x.png"), 4, False)
    assert read_recipe(tmp_path / "4x.png")["export_scale"] == 4  # read back by the readers' own limit


def test_an_export_runs_off_the_gui_thread_and_the_window_keeps_its_events(window, tmp_path, monkeypatch, qtbot):
    import threading
    import time

    from PySide6.QtCore import QTimer
    from robustpaint.core import imageio
    threads, fired = [], []
    real = imageio.save_png

    def slow(*args, **kwargs):
        threads.append(threading.current_thread() is threading.main_thread())
        time.sleep(0.5)
        return real(*args, **kwargs)

    monkeypatch.setattr(imageio, "save_png", slow)
    QTimer.singleShot(100, lambda: fired.append(True))
    assert window.files.export_png(str(tmp_path / "slow.png"), 2, True)
    assert threads == [False] and fired == [True] and (tmp_path / "slow.png").is_file()


# --- 4. a one-pixel side, every task at every allowed shape ---------------------------------------------------------

def test_a_coarse_step_of_a_one_pixel_side_runs(tiny_model):
    from robustpaint.core import objectives as obj
    from robustpaint.core.pgd import PGDConfig, PGDOptimizer
    for shape in ((1, 40), (40, 1), (1, 1)):
        x = torch.rand(1, 3, *shape, generator=torch.Generator().manual_seed(0))
        opt = PGDOptimizer(tiny_model, obj.class_target(torch.tensor([1])), x,
                           PGDConfig(eps=5, step_size=0.5, steps=2, coarse=0.5))
        for _ in opt.run():
            pass
        assert opt.x.shape == x.shape and torch.isfinite(opt.x).all()


def _request(task, h, w):
    from robustpaint.core.tasks import TaskRequest
    g = torch.Generator().manual_seed(3)
    image = torch.rand(1, 3, h, w, generator=g)
    mask = torch.zeros(1, 1, h, w)
    mask[..., h // 4:h - h // 4, w // 4:w - w // 4] = 1
    common = dict(steps=2, eps=2.0, step_size=0.3)
    if task == "generate":
        return TaskRequest("generate", targets=(1,), size=h, width=w if w != h else None, **common)
    if task in ("sketch", "translate"):
        return TaskRequest(task, image=image, targets=(2,), **common)
    if task == "inpaint":
        return TaskRequest(task, image=image, mask=mask, targets=(0,), **common)
    if task == "paint":
        return TaskRequest(task, image=image, mask=mask, neurons=(3,), **common)
    if task == "superres":
        return TaskRequest(task, image=image[..., ::2, ::2].contiguous(), factor=2, targets=(1,), **common)
    regions = torch.zeros(2, h, w)
    regions[0, :, : w // 2], regions[1, :, w // 2:] = 1, 1
    return TaskRequest("classmap", region_masks=regions, targets=(0, 2), size=h, width=w if w != h else None,
                       **common)


SHAPES = [(16, 16), (16, 1024), (1024, 16), (48, 1000), (1024, 1024)]


@pytest.mark.parametrize("shape", SHAPES)
def test_every_task_runs_at_every_allowed_shape_with_a_coarse_start(installed_tiny, shape):
    """Each task, at the smallest, thinnest and largest canvases the app and the CLI make, with a coarse start
    (half the side) and crops: it runs two steps and makes an image of the canvas's shape, or says why."""
    from robustpaint.core.models.bundle import load_model_bundle
    from robustpaint.core.recipes import recipe_from_request, run_recipe
    from robustpaint.core.tasks import TASKS
    bundle = load_model_bundle("tiny")
    for task in TASKS:
        request = _request(task, *shape).with_knobs(**{k: v for k, v in (("coarse", 0.5), ("crops", 2))
                                                       if k in TASKS[task].parameters})
        recipe = recipe_from_request(TASKS[task].finalise(request, 32), "tiny", bundle.sha256)
        images, _ = run_recipe(recipe, "cpu", bundle)
        assert tuple(images.shape[-2:]) == shape, task


# --- 5. budgets that bound ------------------------------------------------------------------------------------------

def test_the_step_budget_counts_every_model_pass_and_says_its_figure():
    from robustpaint.core.recipes import MAX_PASSES, check_budget
    from robustpaint.core.tasks import TaskRequest
    with pytest.raises(RobustPaintError, match=f"more than one run may take \\({MAX_PASSES:,}"):
        check_budget(TaskRequest("generate", targets=(0,), size=128, steps=100_000), 128)  # 2.5 h on 2 cores
    crops = TaskRequest("generate", targets=(0,), size=1024, steps=2000).with_knobs(views="model", crops=16)
    with pytest.raises(RobustPaintError, match="16 crops"):
        check_budget(crops, 128)  # 80 min; the crops were not counted
    check_budget(crops.with_knobs(crops=1), 128)  # one crop: 6,000 passes
    check_budget(TaskRequest("generate", targets=(0,), size=128, steps=1000, candidates=16), 128)
    fewer = TaskRequest("generate", targets=(0,), size=1024, steps=1500).with_knobs(views="model", crops=16)
    with pytest.raises(RobustPaintError):
        check_budget(fewer.replace(candidates=2), 128)  # the candidates multiply the passes


def test_a_projects_100000_steps_are_bounded_when_the_panel_runs_them(tmp_path):
    """The panel takes a project's steps up to the knob's 100,000; the request it makes is checked by the worker
    with the same budget as a recipe (app/worker.py's submit calls check_budget)."""
    from robustpaint.core.document import Document, canvas_request
    from robustpaint.core.project import Project, load_project, save_project
    from robustpaint.core.recipes import check_budget
    image = np.full((128, 128, 3), 0.5, np.float32)
    save_project(Project(image=image, mask=np.zeros((128, 128), np.float32), model="imagenette_resnet18",
                         task="generate", parameters={"steps": 100_000, "class": "church"}),
                 tmp_path / "p.rpaint")
    project = load_project(tmp_path / "p.rpaint")
    assert project.task_parameters.steps == 100_000
    classes = ["cassette_player", "chain_saw", "church"]
    request = canvas_request(Document(project.image), project.task_parameters, classes, False, None, 128)
    with pytest.raises(RobustPaintError, match="more than one run may take"):
        check_budget(request, 128)


# --- 6. canvases, class lists, the neuron cache, strokes ------------------------------------------------------------

def _recipe_png(path, recipe):
    from robustpaint.core.imageio import save_png
    save_png(torch.zeros(1, 3, 8, 8), path, recipe)
    return path


def _image_text(h, w):
    from robustpaint.core.recipes import encode_image
    return encode_image(torch.full((1, 3, h, w), 0.5))


@pytest.mark.parametrize("changes, message", [
    ({"task": "generate", "targets": [0], "size": 1}, "size must lie in 16..1024"),
    ({"task": "generate", "targets": [0], "size": 16, "width": 2048}, "width must lie in 16..1024"),
    ({"task": "sketch", "targets": [0], "image": "1x1"}, "sides are 16 to 1,024"),
    ({"task": "sketch", "targets": [0], "image": "2048x16"}, "sides are 16 to 1,024"),
    ({"task": "generate", "targets": []}, "needs at least one class"),
    ({"task": "generate"}, "needs at least one class"),
])
def test_replay_refuses_canvases_outside_16_to_1024_and_an_empty_class_list(installed_tiny, tmp_path, capsys,
                                                                           monkeypatch, changes, message):
    from robustpaint.core import recipes
    if "image" in changes:
        h, w = changes["image"].split("x")
        changes = {**changes, "image": _image_text(int(w), int(h))}
    real = recipes.build_task

    def no_pixels(model, request, seeds=None):
        setup = real(model, request, seeds)
        pytest.fail(f"a {request.task} run was built")
        return setup

    monkeypatch.setattr(recipes, "build_task", no_pixels)
    recipe = {"recipe_version": 1, "model": "tiny", "candidates": 1, "steps": 1, **changes}
    path = _recipe_png(tmp_path / "in.png", recipe)
    code, _, err = _run(["replay", path, "--out", tmp_path / "out.png", "--quiet"], capsys)
    assert code == 2 and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "out.png").exists()


def test_a_cli_size_outside_16_to_1024_is_refused_by_its_option(installed_tiny, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["generate", "--class", "cat", "--size", "8", "--model", "tiny", "--out", str(tmp_path)])
    assert "between 16 and 1,024" in capsys.readouterr().err


def test_an_unwritable_neuron_cache_fails_neurons_before_any_thumbnail_is_drawn(installed_tiny, tmp_path, capsys,
                                                                               monkeypatch):
    from robustpaint.core import neurons
    blocker = tmp_path / "cache-is-a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("ROBUSTPAINT_CACHE_DIR", str(blocker))
    monkeypatch.setattr(neurons, "visualise", lambda *a, **k: pytest.fail("thumbnails were drawn"))
    code, _, err = _run(["neurons", "--model", "tiny", "--first", "2", "--out", tmp_path / "n"], capsys)
    assert code == 2 and err.count("\n") == 1 and "cannot write the neuron cache" in err
    assert not (tmp_path / "n").exists() or not any((tmp_path / "n").iterdir())


GOOD_STROKE = {"points": [[1.0, 2.0]], "brush": {"size": 3, "target": "image"}}


def _project_with_strokes(path, count):
    """A saved project whose project.json logs `count` strokes (written directly: save_project keeps at most
    MAX_STROKES)."""
    from robustpaint.core.project import Project, save_project
    save_project(Project(image=np.zeros((16, 16, 3), np.float32), mask=np.zeros((16, 16), np.float32)), path)
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    meta = json.loads(members["project.json"])
    meta["strokes"] = [GOOD_STROKE] * count
    members["project.json"] = json.dumps(meta).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    path.write_bytes(buffer.getvalue())
    return path


def test_a_project_of_more_strokes_than_the_bound_is_one_line(tmp_path, monkeypatch):
    import time

    from robustpaint.core import document
    from robustpaint.core.project import MAX_STROKES, ProjectError, load_project
    assert MAX_STROKES == 100_000
    path = _project_with_strokes(tmp_path / "many.rpaint", MAX_STROKES + 1)
    monkeypatch.setattr(document, "checked_stroke", lambda stroke: pytest.fail("a stroke was checked"))
    started = time.perf_counter()
    with pytest.raises(ProjectError, match="100,001 strokes, more than the 100,000"):
        load_project(path)
    assert time.perf_counter() - started < 10


def test_a_project_saved_with_too_many_strokes_keeps_the_newest_and_opens(tmp_path, monkeypatch):
    from robustpaint.core import project as project_module
    from robustpaint.core.project import Project, load_project, save_project
    monkeypatch.setattr(project_module, "MAX_STROKES", 3)
    strokes = [{**GOOD_STROKE, "points": [[float(i), 2.0]]} for i in range(5)]
    save_project(Project(image=np.zeros((16, 16, 3), np.float32), mask=np.zeros((16, 16), np.float32),
                         strokes=strokes), tmp_path / "p.rpaint")
    assert [s["points"][0][0] for s in load_project(tmp_path / "p.rpaint").strokes] == [2.0, 3.0, 4.0]


def test_a_project_at_the_bound_opens(tmp_path, monkeypatch):
    from robustpaint.core import project as project_module
    from robustpaint.core.project import load_project
    monkeypatch.setattr(project_module, "MAX_STROKES", 50)
    assert len(load_project(_project_with_strokes(tmp_path / "p.rpaint", 50)).strokes) == 50
