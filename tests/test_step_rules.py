"""Fewer, better steps (#34): the step-size schedule, normalised momentum, coarse-to-fine and early stopping, each a
recipe knob whose default (and whose value in recipes from before it) is the paper's plain fixed schedule."""

import pytest
import torch

from robustpaint.core import objectives as obj
from robustpaint.core.errors import RobustPaintError
from robustpaint.core.pgd import SETTLE_WINDOW, PGDConfig, PGDOptimizer


def _optimizer(model, **config):
    torch.manual_seed(0)
    start = torch.rand(2, 3, 32, 32)
    return PGDOptimizer(model, obj.class_target(torch.tensor([0, 1])), start,
                        PGDConfig(eps=3.0, step_size=0.3, steps=10, **config))


def _run(optimizer):
    for _ in optimizer.run():
        pass
    return optimizer.x


def test_the_paper_schedule_is_unchanged_by_the_new_fields_at_their_defaults(tiny_model):
    plain = _run(_optimizer(tiny_model))
    explicit = _run(_optimizer(tiny_model, schedule="constant", momentum=0.0, coarse=0.0, settle=0.0))
    assert torch.equal(plain, explicit)


def test_the_cosine_schedule_steps_boldly_first_and_finely_last_and_averages_the_step():
    config = PGDConfig(step_size=1.0, steps=20, schedule="cosine")
    sizes = [config.step_size_at(t) for t in range(20)]
    assert sizes[0] == pytest.approx(1.9) and sizes[-1] == pytest.approx(0.1)
    assert all(a >= b for a, b in zip(sizes, sizes[1:]))
    assert sum(sizes) / 20 == pytest.approx(1.0, abs=0.01)
    assert PGDConfig(step_size=0.5, steps=7).step_size_at(3) == 0.5


def test_each_rule_changes_the_run_and_stays_in_the_ball(tiny_model):
    plain = _run(_optimizer(tiny_model))
    for rule in ({"schedule": "cosine"}, {"momentum": 0.8}, {"coarse": 0.5}):
        optimizer = _optimizer(tiny_model, **rule)
        x = _run(optimizer)
        assert not torch.equal(x, plain), rule
        assert ((x - optimizer.anchor).flatten(1).norm(dim=1) <= 3.0 + 1e-4).all(), rule


def test_coarse_steps_show_the_model_the_canvas_at_half_its_side(tiny_model):
    seen = []
    handle = tiny_model.net.conv1.register_forward_pre_hook(lambda _m, inputs: seen.append(inputs[0].shape[-1]))
    try:
        _run(_optimizer(tiny_model, coarse=0.3))
    finally:
        handle.remove()
    assert seen == [16] * 3 + [32] * 7


def test_a_settled_run_is_done_before_its_step_count(tiny_model):
    # Zero step size: the loss cannot change, so the run settles once it has seen SETTLE_WINDOW + 1 losses.
    torch.manual_seed(0)
    optimizer = PGDOptimizer(tiny_model, obj.class_target(torch.tensor([0])), torch.rand(1, 3, 32, 32),
                             PGDConfig(eps=3.0, step_size=0.0, steps=100, settle=1e-3))
    steps = sum(1 for _ in optimizer.run())
    assert optimizer.settled and steps == SETTLE_WINDOW + 1
    moving = _optimizer(tiny_model, settle=1e-9)  # a loss still falling does not settle
    assert sum(1 for _ in moving.run()) == 10 and not moving.settled


@pytest.mark.parametrize("changes", [{"schedule": "sometimes"}, {"momentum": 1.0}, {"momentum": -0.1},
                                     {"coarse": 1.0}, {"settle": float("nan")}, {"settle": -1.0}])
def test_bad_step_rules_are_refused(changes):
    with pytest.raises(RobustPaintError):
        PGDConfig(**changes).validate()


def test_the_knobs_reach_the_run_and_old_recipes_replay_the_paper_schedule(tiny_model):
    from robustpaint.core.recipes import request_from_recipe
    from robustpaint.core.tasks import TaskRequest, build_task
    request = TaskRequest("sketch", image=torch.rand(1, 3, 32, 32), targets=(0,), steps=4)
    request = request.with_knobs(schedule="cosine", momentum=0.5, coarse=0.25, settle=0.01)
    config = build_task(tiny_model, request).config
    assert (config.schedule, config.momentum, config.coarse, config.settle) == ("cosine", 0.5, 0.25, 0.01)
    old = request_from_recipe({"task": "sketch", "targets": [0]})
    assert [old.knob(k) for k in ("schedule", "momentum", "coarse", "settle")] == ["constant", 0.0, 0.0, 0.0]


@pytest.mark.parametrize("rule", [{"schedule": "cosine"}, {"coarse": 0.5}])
def test_a_run_stopped_early_replays_with_its_planned_length(tiny_model, rule):
    # Review: a timeline commit or a stop records steps=k, and the cosine schedule and the coarse share were then
    # planned over k steps on replay, not over the run's own length: other pixels.
    from robustpaint.app.run_session import first_steps
    from robustpaint.core.tasks import TaskRequest, build_task
    request = TaskRequest("sketch", image=torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(3)),
                          targets=(1,), steps=20, eps=3.0, step_size=0.3).with_knobs(**rule)
    live = build_task(tiny_model, request).optimizer(tiny_model)
    for _ in live.run(7):
        pass
    cut = first_steps(request, 7)
    assert cut.steps == 7 and cut.knob("schedule_steps") == 20
    replayed = build_task(tiny_model, cut).optimizer(tiny_model)
    for _ in replayed.run():
        pass
    assert torch.equal(live.x, replayed.x)
    naive = build_task(tiny_model, request.replace(steps=7)).optimizer(tiny_model)
    for _ in naive.run():
        pass
    assert not torch.equal(live.x, naive.x)  # what the recipe said before the fix
    plain = TaskRequest("sketch", image=request.image, targets=(1,), steps=20)
    assert first_steps(plain, 7).knob("schedule_steps") is None  # the paper's schedule: the recipe as before


def test_the_default_step_is_the_papers_plain_pgd_step(tiny_model):
    # The new fields at their defaults against a hand-written L2 PGD step: x - step * g/||g||, projected.
    torch.manual_seed(0)
    start = torch.rand(2, 3, 32, 32)
    optimizer = PGDOptimizer(tiny_model, obj.class_target(torch.tensor([0, 1])), start,
                             PGDConfig(eps=3.0, step_size=0.3, steps=3))
    x = start.clone()
    for _ in range(3):
        x.requires_grad_(True)
        loss = torch.nn.functional.cross_entropy(tiny_model(x), torch.tensor([0, 1]), reduction="none")
        (grad,) = torch.autograd.grad(loss.sum(), x)
        with torch.no_grad():
            moved = x - 0.3 * grad / (grad.flatten(1).norm(dim=1).view(-1, 1, 1, 1) + 1e-12)
            delta = moved - start
            delta = delta * torch.clamp(3.0 / (delta.flatten(1).norm(dim=1).view(-1, 1, 1, 1) + 1e-12), max=1.0)
            x = (start + delta).clamp(0, 1)
        optimizer.step()
    assert torch.allclose(optimizer.x, x, atol=1e-6)
