import pytest
import torch

from robustpaint.core.models import ARCHITECTURES, CIFAR10_CLASSES, FEATURE_MAP, REPRESENTATION, build_classifier
from robustpaint.core.errors import ModelError


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_every_architecture_runs_on_larger_canvases_and_exposes_layers(arch):
    torch.manual_seed(0)
    model = build_classifier(arch, CIFAR10_CLASSES).eval()
    for size in (32, 64):
        x = torch.rand(2, 3, size, size)
        with model.capture([REPRESENTATION, FEATURE_MAP]) as acts:
            logits = model(x)
        assert logits.shape == (2, 10)
        assert acts[REPRESENTATION].shape == (2, model.representation_size)
        assert acts[FEATURE_MAP].shape[:2] == (2, model.representation_size)
        assert torch.allclose(model.head(acts[REPRESENTATION]), logits, atol=1e-4)


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_capture_hooks_remove_themselves_even_on_error(arch):
    model = build_classifier(arch, CIFAR10_CLASSES)
    with pytest.raises(RuntimeError):
        with model.capture([REPRESENTATION, FEATURE_MAP]):
            raise RuntimeError("boom")
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    with pytest.raises(KeyError):
        with model.capture(["no_such_layer"]):
            pass


# ResNet-9 is the evaluator only (never synthesises): its features are sums of ReLU outputs, so no final ReLU
# switches a unit off and there is nothing for the fake ReLU to pass.
@pytest.mark.parametrize("arch", sorted(set(ARCHITECTURES) - {"resnet9"}))
def test_fake_relu_passes_gradient_to_dead_units(arch):
    torch.manual_seed(0)
    model = build_classifier(arch, CIFAR10_CLASSES).eval()
    x = torch.rand(1, 3, 32, 32, requires_grad=True)

    def grad_of_dead_units(fake: bool):
        with model.fake_relu(fake), model.capture([FEATURE_MAP]) as acts:
            model(x)
        fmap = acts[FEATURE_MAP]
        dead = (fmap == 0).float()  # units the ReLU switched off
        (g,) = torch.autograd.grad((fmap * dead).sum(), x, allow_unused=True)
        return 0.0 if g is None else float(g.abs().sum())

    assert grad_of_dead_units(True) > 0.0
    assert grad_of_dead_units(False) == 0.0
    assert model.net.last_relu.fake is False  # the context restored the real ReLU


def test_fake_relu_forward_equals_relu_and_backward_is_identity():
    from robustpaint.core.models.layers import SwitchableReLU
    relu = SwitchableReLU()
    x = torch.tensor([-1.0, 2.0], requires_grad=True)
    relu.fake = True
    y = relu(x)
    assert y.tolist() == [0.0, 2.0]
    y.sum().backward()
    assert x.grad.tolist() == [1.0, 1.0]


def test_cifar_resnet_keys_follow_the_robustness_library():
    keys = set(build_classifier("resnet18", CIFAR10_CLASSES).net.state_dict())
    for key in ("conv1.weight", "bn1.running_mean", "layer1.0.conv1.weight", "layer2.0.shortcut.0.weight",
                "layer2.0.shortcut.1.running_var", "layer4.1.bn2.weight", "linear.weight", "linear.bias"):
        assert key in keys
    assert "layer1.0.shortcut.0.weight" not in keys  # identity shortcut, as in their code
    keys50 = set(build_classifier("resnet50", CIFAR10_CLASSES).net.state_dict())
    assert "layer1.0.conv3.weight" in keys50 and "layer1.0.shortcut.0.weight" in keys50


def test_unknown_architecture_is_a_clear_error():
    with pytest.raises(ModelError, match="unknown architecture"):
        build_classifier("vgg99", CIFAR10_CLASSES)


def test_every_shipped_model_loads_and_its_card_says_how_it_was_made_and_measured():
    """What ships in resources/models: weights that match their card, a recipe and the eval command that measured
    them; synthesis models carry generation seeds, evaluators are marked as such and are not robust."""
    import json

    from robustpaint.core.catalog import list_models
    from robustpaint.core.models.bundle import load_model_bundle
    shipped = [e for e in list_models() if e.origin == "shipped"]
    assert "resnet18" in {e.name for e in shipped}
    for entry in shipped:
        card = json.loads(entry.card_path.read_text())
        bundle = load_model_bundle(entry.name)
        model, loaded_card, seeds = bundle.model, bundle.card, bundle.seeds  # checks the weights' sha256 against the card
        assert loaded_card["weights_sha256"] == card["weights_sha256"]
        evaluation = card["evaluations"][-1]
        assert evaluation["command"].startswith(f"robustpaint eval --model {entry.name} ")
        assert 0 <= evaluation["robust_accuracy"] <= evaluation["clean_accuracy"] <= 1
        assert card["recipe"]["epochs"] >= 1 and card["recipe_script"].startswith("recipes/")
        if entry.role == "evaluator":
            assert card["robust"] is False
        else:
            assert card["robust"] is True and seeds is not None and seeds.num_classes == len(model.classes)


@pytest.mark.parametrize("arch", ["resnet18", "resnet9", "resnet50", "mobilenet_v2", "imagenet_resnet18",
                                  "imagenet_resnet50"])
def test_folding_batchnorm_keeps_the_function_and_the_representation(arch):
    from robustpaint.core.models import REPRESENTATION, CIFAR10_CLASSES, build_classifier
    from robustpaint.core.models.folding import fold_batchnorm
    torch.manual_seed(0)
    model = build_classifier(arch, CIFAR10_CLASSES).eval()
    for m in model.modules():  # running statistics that are not the identity, as after training
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    folded = fold_batchnorm(model)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad(), model.capture({REPRESENTATION}) as a, folded.capture({REPRESENTATION}) as b:
        logits, folded_logits = model(x), folded(x)
    def relative(u, v):
        return float((u - v).abs().max() / v.abs().max().clamp(min=1e-12))

    assert relative(folded_logits, logits) < 1e-5  # float rounding only (the order of two multiplications)
    assert relative(b[REPRESENTATION], a[REPRESENTATION]) < 1e-5
    gx = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(model(gx)[:, 0].sum(), gx)
    (folded_grad,) = torch.autograd.grad(folded(gx)[:, 0].sum(), gx)
    assert relative(folded_grad, grad) < 1e-4


@pytest.mark.parametrize("ours, theirs", [
    ("ImageNetResNet18", "resnet18"), ("ImageNetResNet50", "resnet50"), ("CifarMobileNetV2", "mobilenet_v2")])
def test_the_layouts_are_torchvisions_keys_initialisation_and_outputs(ours, theirs):
    """#48: the layouts are the project's own modules (importing torchvision.models cost 1.4 s of every command's
    start); they must stay torchvision's bit for bit, so the shipped weights and every picture are unchanged."""
    import torchvision.models as tvm

    from robustpaint.core.models import torchvision_nets
    torch.manual_seed(0)
    mine = getattr(torchvision_nets, ours)(num_classes=7)
    torch.manual_seed(0)
    if theirs == "mobilenet_v2":
        reference = tvm.MobileNetV2(num_classes=7, inverted_residual_setting=torchvision_nets._CIFAR_MOBILENET_SETTING)
        reference.features[0][0].stride = (1, 1)
    else:
        reference = getattr(tvm, theirs)(num_classes=7)
    mine_state, their_state = mine.state_dict(), reference.state_dict()
    assert list(mine_state) == [k for k in their_state if not k.startswith("avgpool")]
    assert all(torch.equal(mine_state[k], their_state[k]) for k in mine_state)  # the same initialisation, in order
    for model in (mine, reference):
        with torch.no_grad():  # non-trivial BatchNorm statistics, the same in both
            for name, buffer in model.named_buffers():
                if name.endswith("running_mean"):
                    buffer.copy_(torch.linspace(-0.1, 0.1, buffer.numel()))
        model.eval()
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(mine(x), reference(x))


def test_building_a_model_does_not_import_torchvision():
    import subprocess
    import sys
    code = ("import sys; from robustpaint.core.models import build_classifier; "
            "[build_classifier(a, ['a', 'b']) for a in ('imagenet_resnet18', 'imagenet_resnet50', 'mobilenet_v2')]; "
            "print('torchvision' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.stdout.strip() == "False", out.stderr
