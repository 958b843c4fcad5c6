import pytest
import torch

from robustpaint.core import objectives as obj
from robustpaint.core.errors import RobustPaintError
from robustpaint.core.pgd import PGDConfig, PGDOptimizer
from robustpaint.core.seeds import fit_seeds
from robustpaint.core.tasks import TASKS, TaskRequest, build_task

CONFIG = PGDConfig(norm="l2", eps=3.0, step_size=0.3, steps=5)


def _image(seed=0, n=1):
    return torch.rand(n, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


def _mask():
    mask = torch.zeros(1, 1, 32, 32)
    mask[..., 8:24, 8:24] = 1
    return mask


def _objectives(model):
    image = _image(1)
    regions = torch.zeros(2, 32, 32)
    regions[0, :, :16], regions[1, :, 16:] = 1, 1
    return {
        "class_target": obj.class_target(torch.tensor([2])),
        "away_from_class": obj.away_from_class(torch.tensor([0])),
        "stay_close": obj.stay_close(image, 1 - _mask()),
        "neuron": obj.neuron(3),
        "neuron_in_region": obj.neuron([1, 5], _mask()),
        "class_map": obj.class_map(model.head, regions, torch.tensor([0, 3])),
        "sum_and_scale": obj.class_target(torch.tensor([1])) + 10 * obj.stay_close(image),
    }


@pytest.mark.parametrize("name", ["class_target", "away_from_class", "stay_close", "neuron", "neuron_in_region",
                                  "class_map", "sum_and_scale"])
def test_five_steps_lower_every_objective(tiny_model, name):
    objective = _objectives(tiny_model)[name]
    opt = PGDOptimizer(tiny_model, objective, _image(0), CONFIG)
    before, _ = opt.evaluate(opt.x)
    for _ in opt.run(5):
        pass
    after, _ = opt.evaluate(opt.x)
    assert after.item() < before.item(), name


def test_objectives_compose_arithmetically(tiny_model):
    a, b = obj.class_target(torch.tensor([1])), obj.stay_close(_image(2))
    x = _image(3)
    logits = tiny_model(x)
    combined = (a + 2 * b - a * 0.5)(x, logits, {})
    assert torch.allclose(combined, 0.5 * a(x, logits, {}) + 2 * b(x, logits, {}))
    assert (a + b).name == "class target + stay close"


def test_class_map_moves_each_region_towards_its_class(tiny_model):
    regions = torch.zeros(2, 32, 32)
    regions[0, :, :16], regions[1, :, 16:] = 1, 1
    targets = torch.tensor([0, 3])
    per_region = [obj.class_map(tiny_model.head, regions[k:k + 1], targets[k:k + 1]) for k in range(2)]
    opt = PGDOptimizer(tiny_model, obj.class_map(tiny_model.head, regions, targets), _image(4), CONFIG)

    def region_losses():
        with tiny_model.capture(["pool:in"]) as acts:
            logits = tiny_model(opt.x)
        return [float(o(opt.x, logits, acts).detach()) for o in per_region]

    before = region_losses()
    for _ in opt.run(5):
        pass
    after = region_losses()
    assert after[0] < before[0] and after[1] < before[1]


def _request(task, model):
    image = _image(5)
    base = dict(steps=5, eps=3.0, step_size=0.3)
    if task == "generate":
        return TaskRequest("generate", targets=(1, 2), candidates=2, **base)
    if task == "sketch" or task == "translate":
        return TaskRequest(task, image=image, targets=(3,), **base)
    if task == "inpaint":
        return TaskRequest(task, image=image, mask=_mask(), targets=(0,), **base)
    if task == "superres":
        # Pushed whatever the guess (the tiny untrained model is never 50% sure: min_confidence would hold it).
        return TaskRequest(task, image=image[..., ::4, ::4].contiguous(), factor=4, **base).with_knobs(
            min_confidence=0.0)
    if task == "paint":
        return TaskRequest(task, image=image, mask=_mask(), neurons=(2, 7), **base)
    regions = torch.zeros(2, 32, 32)
    regions[0, :16], regions[1, 16:] = 1, 1
    return TaskRequest("classmap", image=image, region_masks=regions, targets=(0, 2), **base)


@pytest.fixture
def seeds():
    images = torch.rand(20, 3, 32, 32, generator=torch.Generator().manual_seed(6))
    return fit_seeds(images, torch.arange(20) % 4, 4, rank=3)


@pytest.mark.parametrize("task", list(TASKS))
def test_every_task_builds_and_five_steps_lower_its_loss(tiny_model, seeds, task):
    setup = build_task(tiny_model, _request(task, tiny_model), seeds)
    opt = setup.optimizer(tiny_model)
    before, _ = opt.evaluate(opt.x)
    for _ in opt.run(5):
        pass
    after, _ = opt.evaluate(opt.x)
    assert (after < before).all(), task
    assert opt.x.shape[-2:] == (32, 32)


def test_inpainting_keeps_pixels_outside_the_hole_close(tiny_model):
    request = _request("inpaint", tiny_model).replace(lam=1000.0, steps=20)
    setup = build_task(tiny_model, request, None)
    opt = setup.optimizer(tiny_model)
    for _ in opt.run():
        pass
    hole = _mask()
    outside = ((opt.x - request.image) * (1 - hole)).abs().mean()
    inside = ((opt.x - setup.start) * hole).abs().mean()
    assert outside < inside


def test_super_resolution_output_shrinks_back_to_its_input(tiny_model):
    """Every iterate stays consistent with the low-resolution image (block means), while the detail changes."""
    request = _request("superres", tiny_model).replace(steps=10)
    low = request.image.clamp(0.05, 0.95)  # away from 0 and 1, where clamping may break consistency slightly
    setup = build_task(tiny_model, request.replace(image=low), None)
    opt = setup.optimizer(tiny_model)
    for _ in opt.run():
        pass
    assert torch.nn.functional.avg_pool2d(opt.x, 4) == pytest.approx(low, abs=1e-3)
    assert (opt.x - setup.start).abs().max() > 0.01  # it did move
    bicubic = torch.nn.functional.interpolate(low, scale_factor=4, mode="bicubic", align_corners=False)
    assert (torch.nn.functional.avg_pool2d(bicubic, 4) - low).abs().max() > 1e-3  # bicubic alone is not


def test_smooth_fill_continues_the_border_and_keeps_the_rest():
    from robustpaint.core.tasks import masked_channel_mean, smooth_fill
    ramp = torch.linspace(0, 1, 40).view(1, 1, 1, 40).expand(1, 3, 40, 40).clone()  # a horizontal gradient
    hole = torch.zeros(1, 1, 40, 40)
    hole[..., 8:30, 6:34] = 1
    filled = smooth_fill(ramp, hole)
    assert torch.equal(filled * (1 - hole), ramp * (1 - hole))
    mean_fill = ramp * (1 - hole) + masked_channel_mean(ramp, 1 - hole) * hole
    smooth_error = ((filled - ramp) * hole).abs().max()
    assert smooth_error < 0.05 < ((mean_fill - ramp) * hole).abs().max()
    flat = torch.full((2, 3, 17, 23), 0.3)  # odd sizes, a batch, a constant image: the fill is that constant
    odd_hole = torch.zeros(2, 1, 17, 23)
    odd_hole[0, :, 2:15, 3:20] = 1
    assert smooth_fill(flat, odd_hole) == pytest.approx(flat, abs=1e-6)


def test_recipes_from_before_the_fill_and_consistency_options_replay_as_they_were():
    from robustpaint.core.recipes import recipe_from_request, request_from_recipe
    old = {"recipe_version": 1, "task": "inpaint", "model": "m"}
    assert request_from_recipe(old).fill == "mean" and request_from_recipe(old).consistent is False
    old_superres = {"recipe_version": 1, "task": "superres", "model": "m", "consistent": True}
    assert request_from_recipe(old_superres).consistency_sweeps == 0  # made before the smooth sweeps: none
    new = recipe_from_request(TaskRequest("superres", factor=2), "m", "")
    assert new["consistent"] is True and request_from_recipe(new).consistent is True
    assert request_from_recipe(recipe_from_request(TaskRequest("inpaint"), "m", "")).fill == "smooth"


def test_inpainting_starts_from_the_chosen_fill(tiny_model):
    request = _request("inpaint", tiny_model)
    smooth = build_task(tiny_model, request, None).start
    mean = build_task(tiny_model, request.replace(fill="mean"), None).start
    hole = _mask().bool().expand_as(smooth)
    assert smooth[hole].std() > mean[hole].std()  # the mean fill is one colour per channel
    with pytest.raises(RobustPaintError, match="fill"):
        build_task(tiny_model, request.replace(fill="telea"), None)


def test_presets_scale_with_canvas_size():
    from robustpaint.core.tasks import scaled_config
    small = scaled_config(TaskRequest("sketch"), 32, 32)
    large = scaled_config(TaskRequest("sketch"), 64, 64)
    assert small.eps == TASKS["sketch"].preset.eps and large.eps == pytest.approx(2 * small.eps)


def test_superres_radius_shrinks_with_the_factor():
    from robustpaint.core.tasks import preset_values, scaled_config
    assert preset_values("superres", 32, 32, factor=8)[:2] == (TASKS["superres"].preset.eps, TASKS["superres"].preset.step_size)
    x2, x4 = (scaled_config(TaskRequest("superres", factor=f), 32, 32) for f in (2, 4))
    assert x2.eps == pytest.approx(TASKS["superres"].preset.eps * 3 ** -0.5)
    assert x2.eps < x4.eps < TASKS["superres"].preset.eps and x2.steps == x4.steps == TASKS["superres"].preset.steps
    assert scaled_config(TaskRequest("superres", factor=2, eps=2.0), 32, 32).eps == 2.0  # the user's value wins


@pytest.mark.parametrize("request_changes, message", [
    ({"task": "paint", "neurons": (99,)}, "out of range"),
    ({"task": "sketch", "targets": (9,)}, "out of range"),
    ({"task": "nope"}, "unknown task"),
    ({"task": "inpaint", "mask": torch.zeros(1, 1, 32, 32)}, "empty"),
    ({"task": "inpaint", "mask": torch.ones(1, 1, 16, 16)}, "mask is"),
    ({"task": "superres", "factor": 9}, "factor"),
])
def test_bad_requests_are_clear_errors(tiny_model, request_changes, message):
    fields = {"task": "sketch", "image": _image(), "mask": _mask(), "targets": (1,), "neurons": (1,), "steps": 2}
    request = TaskRequest(**{**fields, **request_changes})
    with pytest.raises(RobustPaintError, match=message):
        build_task(tiny_model, request, None)


def test_generation_without_seeds_starts_from_smooth_noise_and_says_so(tiny_model):
    """Before: "this model ships no generation seeds" (an error); now a data-free start, noted for the user."""
    setup = build_task(tiny_model, TaskRequest("generate", candidates=2, targets=(0, 1)), None)
    assert setup.notes["start"] == "data-free" and setup.start.shape == (2, 3, 32, 32)
    assert not torch.equal(setup.start[0], setup.start[1]) and 0 <= float(setup.start.min())
    assert float((setup.start[:, :, 1:] - setup.start[:, :, :-1]).abs().mean()) < 0.05  # smooth, not pixel noise


def test_a_negative_feature_strength_suppresses_the_neuron(tiny_model):
    from robustpaint.core.neurons import strongest_classes
    from robustpaint.core.objectives import neuron
    x = torch.rand(2, 3, 32, 32)
    with tiny_model.capture(["pool"]) as acts:
        logits = tiny_model(x)
    up = neuron([1, 4], weights=[1.0, 1.0])(x, logits, acts)
    mixed = neuron([1, 4], weights=[1.0, -2.0])(x, logits, acts)
    rep = acts["pool"].float()
    assert torch.allclose(up, -(rep[:, 1] + rep[:, 4]))
    assert torch.allclose(mixed, -(rep[:, 1] - 2 * rep[:, 4]))
    table = strongest_classes(tiny_model.head, tiny_model.classes, k=2)
    assert len(table) == tiny_model.representation_size
    best = tiny_model.head.weight[:, 4].argmax().item()
    assert table[4][0] == tiny_model.classes[best]


def test_within_class_spread_penalises_only_likeness_above_its_threshold_within_a_class():
    from robustpaint.core.models import REPRESENTATION
    rep = torch.tensor([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0], [1.0, 0.05]])  # 0, 1 and 3 nearly alike; 2 apart
    spread = obj.within_class_spread(torch.tensor([0, 0, 0, 1]), weight=2.0, similarity=0.8)
    loss = spread(None, None, {REPRESENTATION: rep})
    sim01 = float(torch.nn.functional.cosine_similarity(rep[0], rep[1], dim=0))
    assert loss[0] == pytest.approx(2.0 * (sim01 - 0.8) / 2)  # two classmates, one of them above the threshold
    assert loss[2] == pytest.approx(0.0)  # unlike its classmates
    assert loss[3] == pytest.approx(0.0)  # alone in its class (image 0 is alike, but of another class)


def test_spread_makes_a_class_s_candidates_less_alike_and_still_its_class(tiny_model, seeds):
    from torch.nn import functional as F

    from robustpaint.core.models import REPRESENTATION
    request = TaskRequest("generate", targets=(1, 1, 1, 1), candidates=4, eps=6.0, step_size=0.5, steps=15)

    def likeness_and_class(spread):
        optimizer = build_task(tiny_model, request.replace(spread=spread), seeds).optimizer(tiny_model)
        for _ in optimizer.run():
            pass
        acts = {}
        with tiny_model.capture([REPRESENTATION]) as acts, torch.no_grad():
            logits = tiny_model(optimizer.x)
        z = F.normalize(acts[REPRESENTATION].float().flatten(1), dim=1)
        return float(((z @ z.T).sum() - 4) / 12), logits.argmax(1)

    alike_without, classes_without = likeness_and_class(0.0)
    alike_with, classes_with = likeness_and_class(0.2)
    assert alike_with < alike_without - 0.01
    assert (classes_with == 1).float().mean() >= (classes_without == 1).float().mean() - 0.25


def test_recipes_from_before_spread_replay_without_it_and_new_ones_keep_it():
    from robustpaint.core.recipes import recipe_from_request, request_from_recipe
    assert request_from_recipe({"recipe_version": 1, "task": "generate", "model": "m"}).spread == 0.0
    recipe = recipe_from_request(TaskRequest("generate", spread=0.3), "m", "")
    assert recipe["spread"] == 0.3 and request_from_recipe(recipe).spread == 0.3


def test_the_photo_preset_spreads_and_the_32_px_preset_does_not():
    spec = TASKS["generate"]
    assert spec.spread_of(TaskRequest("generate"), 128) == 0.05 and spec.spread_of(TaskRequest("generate"), 32) == 0
    assert spec.spread_of(TaskRequest("generate", spread=0.2), 32) == 0.2


def _loss(model, objective, x):
    with model.capture(objective.layers) as acts:
        logits = model(x)
    return objective(x, logits, acts)


def test_focus_one_is_the_plain_class_target_and_below_one_reads_only_the_strongest_locations(tiny_model):
    x, targets = _image(3).expand(3, -1, -1, -1).clone(), torch.tensor([0, 1, 3])
    plain = _loss(tiny_model, obj.class_target(targets), x)
    whole = _loss(tiny_model, obj.focused_class_target(tiny_model.head, targets, 1.0), x)
    assert torch.allclose(plain, whole, atol=1e-5)  # the logits are the mean of the per-location logits
    focused = obj.focused_class_target(tiny_model.head, targets, 0.25)
    assert (_loss(tiny_model, focused, x) < plain).all()  # the strongest locations read more as the class
    # on a map of 4 locations, focus 0.5 reads the 2 that read most as the class: a change at another leaves it
    head = torch.nn.Linear(2, 2)
    with torch.no_grad():
        head.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
        head.bias.zero_()
    fmap = torch.tensor([[[3.0, 2.0, 0.0, 0.0], [0.0, 0.0, 1.0, 2.0]]]).view(1, 2, 2, 2)  # class 0 at the top row
    half = obj.focused_class_target(head, torch.tensor([0]), 0.5)
    loss = half(None, None, {"pool:in": fmap})
    assert torch.allclose(loss, torch.nn.functional.cross_entropy(torch.tensor([[2.5, 0.0]]), torch.tensor([0])))
    weaker = fmap.clone()
    weaker[0, 1, 1, :] += 5.0  # the bottom row reads even more as class 1: not the locations read
    assert torch.allclose(half(None, None, {"pool:in": weaker}), loss)
    assert _loss(tiny_model, focused, x).shape == (3,)


def test_translate_with_focus_reads_the_strongest_locations_and_recipes_from_before_replay_as_the_whole(tiny_model):
    from robustpaint.core.tasks import KNOBS
    request = TaskRequest("translate", image=_image(5), targets=(3,), steps=3, eps=3.0, step_size=0.3)
    assert KNOBS["focus"].before == 1.0  # a recipe made before the knob replays as the paper's objective
    plain = build_task(tiny_model, request)
    focused = build_task(tiny_model, request.with_knobs(focus=0.25))
    assert plain.objective.name == "class target" and "strongest 0.25" in focused.objective.name
    assert build_task(tiny_model, request.with_knobs(focus=1.0)).objective.name == "class target"
    with pytest.raises(RobustPaintError):
        request.with_knobs(focus=0.0)
