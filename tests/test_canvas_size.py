"""A canvas larger than the model (#29): views at the model's scale, photos at their own size (CLI and app), the
canvas size in New and Canvas size, smooth export. The tiny model is 32 px, so a 96-px canvas is "larger"."""

import numpy as np
import pytest
import torch
from PIL import Image

from robustpaint.cli import main
from robustpaint.core import objectives as obj
from robustpaint.core.imageio import read_recipe
from robustpaint.core.recipes import recipe_from_request, request_from_recipe
from robustpaint.core.tasks import TaskRequest, build_task, get_task
from robustpaint.core.views import ModelScaleViews
from test_high_resolution import installed_photo_model  # noqa: F401 - the 64-px photo model fixture


def _result(model, request):
    """The pixels a run of `request` ends with."""
    optimizer = build_task(model, request).optimizer(model)
    for _ in optimizer.run():
        pass
    return optimizer.result()


def test_a_canvas_no_larger_than_the_model_is_shown_as_it_is():
    x = torch.rand(2, 3, 32, 48)
    (view,) = ModelScaleViews(32, crops=3, seed=0)(x)
    assert view.image is x


def test_a_larger_canvas_is_shown_whole_at_the_models_scale_and_in_crops_whose_frames_follow_it():
    x = torch.rand(1, 3, 96, 160)
    views = ModelScaleViews(32, crops=3, seed=5)(x)
    assert len(views) == 4
    assert tuple(views[0].image.shape[-2:]) == (32, 53)  # the whole canvas, its shorter side at the model's
    assert all(tuple(v.image.shape[-2:]) == (32, 32) for v in views[1:])
    for view in views:  # a canvas-aligned map lands where the view shows the canvas
        assert torch.allclose(view.frame(x), view.image)
    again = ModelScaleViews(32, crops=3, seed=5)(x)
    assert all(torch.equal(a.image, b.image) for a, b in zip(views, again))  # drawn from the seed: replays


def test_tiles_are_cut_at_the_canvass_own_resolution_and_the_views_knob_chooses_them():
    """`views` tiles (#45 item 5): the crops are pixels of the canvas as they are, a model side square, not a larger
    square scaled down, so the model judges detail at its own scale; the whole view stays as with `model`."""
    from robustpaint.core.tasks.base import views_of
    x = torch.rand(1, 3, 96, 160)
    views = ModelScaleViews(32, crops=4, seed=3, native=True)(x)
    assert tuple(views[0].image.shape[-2:]) == (32, 53)
    for view in views[1:]:
        tile = view.image[0, 0]
        hits = [(top, left) for top in range(96 - 31) for left in range(160 - 31)
                if torch.equal(x[0, 0, top:top + 32, left:left + 32], tile)]
        assert len(hits) == 1  # the tile is a piece of the canvas, unresized
    uses = set(get_task("generate").parameters)
    for choice, native in (("tiles", True), ("model", False)):
        request = TaskRequest("generate", targets=(0,), knobs=(("views", choice),))
        assert views_of(request, uses, (96, 96), 32).native is native
    assert views_of(TaskRequest("generate", targets=(0,), knobs=(("views", "canvas"),)), uses, (96, 96), 32) is None


def test_the_gradient_of_several_views_reaches_the_whole_canvas(tiny_model):
    from robustpaint.core.pgd import PGDConfig, PGDOptimizer
    x = torch.rand(1, 3, 96, 96, generator=torch.Generator().manual_seed(0))
    opt = PGDOptimizer(tiny_model, obj.class_target(torch.tensor([1])), x, PGDConfig(eps=50, step_size=2, steps=1),
                       view=ModelScaleViews(32, crops=2, seed=0))
    opt.step()
    changed = (opt.x - x).abs().sum(1)[0] > 0
    assert changed.float().mean() > 0.99  # the scaled-down view touches every pixel


def test_a_region_objective_pools_the_same_place_in_every_view(tiny_model):
    """The paint region is in canvas pixels: a crop away from it sees none of it (its loss is 0), the whole view
    sees it. Without the frame every view would pool its own top-left corner."""
    region = torch.zeros(1, 1, 96, 96)
    region[..., :32, :32] = 1
    objective = obj.neuron([0], region=region)
    x = torch.rand(1, 3, 96, 96)
    views = ModelScaleViews(32, crops=8, seed=1)(x)
    from robustpaint.core.models import FEATURE_MAP
    from robustpaint.core.views import VIEW_FRAME
    for view in views:
        with tiny_model.fake_relu(), tiny_model.capture([FEATURE_MAP]) as acts:
            logits = tiny_model(view.image)
            loss = objective(x, logits, {**acts, VIEW_FRAME: view.frame}).detach()
        sees_region = view.frame(region).sum() > 0
        assert (float(loss) != 0) == bool(sees_region)


def test_generate_on_a_larger_canvas_judges_at_the_models_scale_and_old_recipes_see_the_canvas(tiny_model):
    spec = get_task("generate")
    request = spec.finalise(TaskRequest("generate", targets=(1,), size=96, steps=3), 32)
    assert request.knob("views") == "model" and request.knob("crops") == 1
    setup = build_task(tiny_model, request)
    assert isinstance(setup.view, ModelScaleViews)
    old = request_from_recipe({k: v for k, v in recipe_from_request(request, "tiny", "").items()
                               if k not in ("views", "crops")})
    assert old.knob("views") == "canvas" and build_task(tiny_model, old).view is None

    def run(req):
        return _result(tiny_model, req)
    new_pixels = run(request)
    assert torch.equal(new_pixels, run(request_from_recipe(recipe_from_request(request, "tiny", ""))))
    assert not torch.equal(new_pixels, run(old))


def test_a_tiles_run_reads_costs_and_replays_as_its_recipe_says(tiny_model):
    """`views` tiles end to end: the task's reading is at the model's scale (as with `model`), the cost line names
    tiles, and the recipe replays the run pixel for pixel, unlike the same run with `model`."""
    from robustpaint.core.recipes import run_cost
    from robustpaint.core.tasks.base import Context
    spec = get_task("generate")
    request = spec.finalise(TaskRequest("generate", targets=(1,), size=96, steps=3).with_knobs(views="tiles",
                                                                                                 crops=2), 32)
    setup = build_task(tiny_model, request)
    assert setup.view.native and setup.view.crops == 2
    assert "2 tiles of 32 px" in run_cost(request, 32)[1]
    x = torch.rand(1, 3, 96, 96, generator=torch.Generator().manual_seed(1))
    context = Context(tiny_model, request, None)
    from robustpaint.core.views import judged_whole
    with torch.no_grad():
        whole, canvas = (round(float(tiny_model(v).softmax(1).max()), 4) for v in (judged_whole(x, 32), x))
    assert whole != canvas and context.reading(x)[1] == [whole]

    def run(req):
        return _result(tiny_model, req)
    pixels = run(request)
    assert torch.equal(pixels, run(request_from_recipe(recipe_from_request(request, "tiny", ""))))
    assert not torch.equal(pixels, run(request.with_knobs(views="model")))


def test_a_non_square_canvas_generates_at_its_own_shape(tiny_model):
    request = TaskRequest("generate", targets=(0,), size=48, width=80, steps=1)
    assert get_task("generate").output_shape(request, 32) == (48, 80)
    assert tuple(build_task(tiny_model, request).start.shape[-2:]) == (48, 80)


def _photo(path, w, h):
    g = np.random.default_rng(0)
    Image.fromarray((g.random((h, w, 3)) * 255).astype(np.uint8)).save(path)
    return path


def test_the_photo_tasks_return_a_224x160_photo_at_its_size_and_inpaint_changes_only_the_hole(
        installed_photo_model, tmp_path):
    """Regression (#29): photos came back as centre crops at the model's side (here 64x64)."""
    photo = _photo(tmp_path / "photo.png", 224, 160)
    mask = np.zeros((160, 224), np.uint8)
    mask[40:90, 60:140] = 255
    Image.fromarray(mask).save(tmp_path / "hole.png")
    for task, extra in (("inpaint", ["--mask", str(tmp_path / "hole.png"), "--class", "church"]),
                        ("translate", ["--to", "church"]),
                        ("paint", ["--mask", str(tmp_path / "hole.png"), "--neuron", "3"])):
        out = tmp_path / f"{task}.png"
        assert main([task, str(photo), *extra, "--model", "photo", "--steps", "3", "--out", str(out), "--quiet"]) == 0
        assert Image.open(out).size == (224, 160), task
        assert read_recipe(out)["views"] == "model"
    source = np.asarray(Image.open(photo))
    result = np.asarray(Image.open(tmp_path / "inpaint.png"))
    outside = mask == 0
    assert np.array_equal(result[outside], source[outside])
    assert not np.array_equal(result[~outside], source[~outside])


def test_size_sets_the_canvas_longer_side_and_crop_takes_the_centre_square(installed_tiny, tmp_path):
    photo = _photo(tmp_path / "photo.png", 300, 200)
    for options, expected in ((["--size", "150"], (150, 100)), (["--fit", "crop"], (200, 200)),
                              (["--fit", "crop", "--size", "64"], (64, 64)), (["--fit", "scale"], (32, 32))):
        out = tmp_path / "out.png"
        assert main(["sketch", str(photo), "--class", "cat", "--model", "tiny", "--steps", "1", "--out", str(out),
                     "--quiet", *options]) == 0
        assert Image.open(out).size == expected, options


def test_a_size_over_the_budget_is_one_line(installed_tiny, tmp_path, capsys):
    photo = _photo(tmp_path / "photo.png", 40, 40)
    with pytest.raises(SystemExit):
        main(["sketch", str(photo), "--class", "cat", "--model", "tiny", "--size", "5000"])
    assert "between 16 and 1,024" in capsys.readouterr().err


def test_the_app_opens_a_photo_at_its_own_size_and_new_and_canvas_size_set_it(window, tmp_path, monkeypatch):
    photo = _photo(tmp_path / "wide.png", 120, 80)
    assert window.files.open_image(str(photo))
    assert window.document.size == (80, 120)
    window.files.resize_canvas((64, 100))
    assert window.document.size == (64, 100) and window.document.mask.shape == (64, 100)
    window.undo_stack.undo()
    assert window.document.size == (80, 120)
    monkeypatch.setattr("robustpaint.app.files.ask_canvas_size", lambda *a: (48, 72))
    window.files.new_dialog()
    assert window.document.size == (48, 72) and float(window.document.image.min()) == 1.0


def test_the_app_asks_generate_for_its_non_square_canvas(window, tiny_model):
    window.files.new_document((48, 80))
    window.panel.task_combo.setCurrentIndex(window.panel.task_combo.findData("generate"))
    request = window.make_request()
    assert (request.size, request.width) == (48, 80) and request.knob("views") == "model"
    assert tuple(build_task(tiny_model, request).start.shape[-2:]) == (48, 80)


def test_export_larger_is_smooth_not_pixel_repetition(window, tmp_path):
    window.files.open_image(str(_photo(tmp_path / "p.png", 64, 64)))
    assert window.files.export_png(str(tmp_path / "smooth.png"), 4, smooth=True)
    assert window.files.export_png(str(tmp_path / "blocks.png"), 4, smooth=False)
    smooth = np.asarray(Image.open(tmp_path / "smooth.png")).astype(float)
    blocks = np.asarray(Image.open(tmp_path / "blocks.png")).astype(float)
    assert smooth.shape == blocks.shape == (256, 256, 3)

    def step_share(a):  # luminance steps across 4-px block borders against those inside blocks
        d = np.abs(np.diff(a.mean(2), axis=1))
        return d[:, 3::4].mean() / (d.mean() + 1e-9)
    assert step_share(blocks) > 3.5 and step_share(smooth) < 1.5
    assert read_recipe(tmp_path / "smooth.png")["export_resample"] == "smooth"


def test_export_is_named_after_the_task_and_class_and_opens_in_the_pictures_folder(window, tmp_path, monkeypatch):
    """#33: every export was called robustpaint.png, in the folder the app was started from."""
    from PySide6.QtCore import QStandardPaths
    pictures = tmp_path / "Pictures"
    pictures.mkdir()
    monkeypatch.setattr(QStandardPaths, "writableLocation", lambda where: str(pictures))
    window.files.last_folder = ""
    assert window.files.export_name() == str(pictures / "drawing-001.png")
    window.session.last_recipe = {"task": "generate", "targets": [2]}
    (pictures / "generate-ship-001.png").write_bytes(b"")
    assert window.files.export_name() == str(pictures / "generate-ship-002.png")
