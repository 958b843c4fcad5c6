import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from robustpaint.core import objectives as obj
from robustpaint.core.errors import RobustPaintError
from robustpaint.core.pgd import PGDConfig, PGDOptimizer, project, random_start

shapes = st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 6), st.integers(1, 6))


@settings(max_examples=60, deadline=None)
@given(shape=shapes, eps=st.floats(0, 5), seed=st.integers(0, 2**31 - 1), norm=st.sampled_from(["l2", "linf"]),
       masked=st.booleans())
def test_projection_stays_in_ball_in_range_and_keeps_masked_pixels(shape, eps, seed, norm, masked):
    g = torch.Generator().manual_seed(seed)
    anchor = torch.rand(shape, generator=g)
    x = anchor + torch.randn(shape, generator=g) * 3
    mask = (torch.rand(shape[0], 1, *shape[2:], generator=g) > 0.5).float() if masked else None
    out = project(x, anchor, norm, eps, mask)
    delta = out - anchor
    assert out.min() >= 0 and out.max() <= 1
    if norm == "l2":
        assert (delta.flatten(1).norm(dim=1) <= eps + 1e-5).all()
    else:
        assert delta.abs().max() <= eps + 1e-6
    if mask is not None:
        assert torch.equal(out * (1 - mask), anchor * (1 - mask))


@settings(max_examples=30, deadline=None)
@given(shape=shapes, eps=st.floats(0, 3), seed=st.integers(0, 1000), norm=st.sampled_from(["l2", "linf"]))
def test_random_start_is_inside_the_ball(shape, eps, seed, norm):
    anchor = torch.rand(shape, generator=torch.Generator().manual_seed(seed))
    out = random_start(anchor, norm, eps, torch.Generator().manual_seed(seed))
    delta = (out - anchor).flatten(1)
    bound = delta.norm(dim=1) if norm == "l2" else delta.abs().amax(1)
    assert (bound <= eps + 1e-5).all() and out.min() >= 0 and out.max() <= 1


def _optimizer(model, x, **config):
    targets = torch.arange(x.shape[0]) % 4
    cfg = PGDConfig(**{"norm": "l2", "eps": 2.0, "step_size": 0.2, "steps": 6, **config})
    return PGDOptimizer(model, obj.class_target(targets), x, cfg)


@pytest.mark.parametrize("norm", ["l2", "linf", "none"])
def test_steps_lower_the_loss_and_respect_the_constraint(tiny_model, norm):
    x = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    opt = _optimizer(tiny_model, x, norm=norm, step_size=0.05 if norm == "linf" else 0.5, eps=0.1 if norm == "linf" else 2.0)
    first = opt.step().loss
    for _ in opt.run(4):
        pass
    last, _ = opt.evaluate(opt.x)
    assert (last < first).all()
    delta = (opt.x - x).flatten(1)
    if norm == "l2":
        assert (delta.norm(dim=1) <= 2.0 + 1e-5).all()
    elif norm == "linf":
        assert delta.abs().max() <= 0.1 + 1e-6


def test_steps_are_deterministic_and_a_shorter_run_is_the_start_of_a_longer_one(tiny_model):
    """A timeline iterate committed at step k replays as a run of k steps: the first k steps of a run do not depend
    on how many steps it was asked for."""
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    a = _optimizer(tiny_model, x)
    iterates = [r for r in a.run()]
    assert a.done and len(iterates) == a.config.steps
    b = _optimizer(tiny_model, x, steps=3)
    for _ in b.run():
        pass
    c = _optimizer(tiny_model, x)
    for _ in c.run(3):
        pass
    assert torch.equal(b.x, c.x) and b.done and not torch.equal(b.x, a.x)
    d = _optimizer(tiny_model, x)
    for _ in d.run():
        pass
    assert torch.equal(d.x, a.x)


def test_batched_candidates_match_single_runs(tiny_model):
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    batch = _optimizer(tiny_model, x)
    for _ in batch.run():
        pass
    for i in range(2):
        targets = torch.tensor([i % 4])
        single = PGDOptimizer(tiny_model, obj.class_target(targets), x[i:i + 1], batch.config)
        for _ in single.run():
            pass
        assert torch.allclose(single.x, batch.x[i:i + 1], atol=1e-5)


def test_best_iterate_has_the_lowest_loss(tiny_model):
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    opt = _optimizer(tiny_model, x, track_best=True, step_size=3.0, eps=10.0)  # big steps overshoot
    losses = []
    for r in opt.run():
        losses.append(r.loss)
    best_loss, _ = opt.evaluate(opt.result())
    final_loss, _ = opt.evaluate(opt.x)
    assert (best_loss <= torch.stack(losses).min(0).values + 1e-5).all()
    assert (best_loss <= final_loss + 1e-5).all()


def test_bf16_autocast_runs_and_agrees_roughly(tiny_model):
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(4))
    plain, fast = _optimizer(tiny_model, x), _optimizer(tiny_model, x, bf16=True)
    for _ in plain.run():
        pass
    for _ in fast.run():
        pass
    assert (plain.x - fast.x).abs().mean() < 0.05


def test_non_finite_loss_stops_with_floating_point_error(tiny_model):
    bad = obj.Objective(lambda x, logits, a: logits.sum(1) * float("nan"), "nan")
    opt = PGDOptimizer(tiny_model, bad, torch.rand(1, 3, 32, 32), PGDConfig())
    before = opt.x.clone()
    with pytest.raises(FloatingPointError):
        opt.step()
    assert torch.equal(opt.x, before)


@pytest.mark.parametrize("changes", [{"eps": -1.0}, {"eps": float("nan")}, {"steps": 0}, {"norm": "l3"},
                                     {"step_size": float("inf")}])
def test_invalid_configs_are_refused(changes):
    with pytest.raises(RobustPaintError):
        PGDConfig(**changes).validate()


def test_an_fp32_run_after_a_bf16_run_on_the_same_model_makes_the_same_pixels(tiny_model):
    """A bf16 run turns the shared model channels_last; an fp32 run after it must still match a fresh model's (what
    a replay computes), not take the other layout's kernels."""
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(5))

    def fp32_run():
        engine = _optimizer(tiny_model, x)
        for _ in engine.run():
            pass
        return engine.x.clone()

    first = fp32_run()
    bf16 = _optimizer(tiny_model, x, bf16=True)
    for _ in bf16.run():
        pass
    assert torch.equal(fp32_run(), first)
