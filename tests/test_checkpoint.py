import json

import pytest
import torch
from torch.nn import functional as F

from robustpaint.core.errors import ModelError, UntrustedPickleError
from robustpaint.core.models import CIFAR10_CLASSES, build_classifier
from robustpaint.core.models.checkpoint import (import_robustness_checkpoint, load_model, read_torch_checkpoint,
                                                save_model)


def test_round_trip_gives_identical_logits(tiny_model, tmp_path):
    path = tmp_path / "m.safetensors"
    card = save_model(tiny_model, path, {"dataset": "synthetic", "recipe": {"epochs": 1}})
    loaded, card2 = load_model(path)
    x = torch.rand(3, 3, 32, 32)
    assert torch.equal(loaded(x), tiny_model(x))
    assert card2 == card and card["weights_sha256"] and card["recipe"] == {"epochs": 1}
    assert json.loads((tmp_path / "m.json").read_text())["classes"] == tiny_model.classes


def test_a_model_built_empty_takes_every_tensor_from_the_file(tiny_model, tmp_path):
    from robustpaint.core.models.checkpoint import load_state_into
    state = tiny_model.net.state_dict()
    empty = build_classifier(tiny_model.arch, tiny_model.classes, empty=True)
    assert all(t.is_meta for t in empty.net.state_dict().values())
    load_state_into(empty, state, "file")
    x = torch.rand(2, 3, 32, 32)
    assert torch.equal(empty.eval()(x), tiny_model.eval()(x))
    left_out = build_classifier(tiny_model.arch, tiny_model.classes, empty=True)
    left_out.net.register_buffer("scale", torch.empty(3, device="meta"), persistent=False)
    with pytest.raises(ModelError, match="scale"):
        load_state_into(left_out, state, "file")


def test_fp16_weights_stay_close(tiny_model, tmp_path):
    save_model(tiny_model, tmp_path / "h.safetensors", {}, half=True)
    loaded, card = load_model(tmp_path / "h.safetensors")
    x = torch.rand(2, 3, 32, 32)
    assert card["weights_dtype"] == "float16"
    assert torch.allclose(loaded(x), tiny_model(x), atol=1e-2)


def test_damaged_weights_are_refused_by_sha256(tiny_model, tmp_path):
    path = tmp_path / "m.safetensors"
    save_model(tiny_model, path, {})
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="damaged"):
        load_model(path)


def test_wrong_keys_are_named(tiny_model, tmp_path):
    from safetensors.torch import save_file
    path = tmp_path / "m.safetensors"
    save_model(tiny_model, path, {})
    state = {k: v for k, v in tiny_model.net.state_dict().items() if k != "linear.bias"}
    state["extra.weight"] = torch.zeros(1)
    save_file(state, str(path))
    with pytest.raises(ModelError, match=r"missing: linear.bias.*unexpected: extra.weight"):
        load_model(path, verify=False)


def _authors_forward(state, mean, std, x):
    """The robustness library's CIFAR ResNet-18 forward, written out independently (fixed 4x4 average pool)."""
    def bn(t, p):
        return F.batch_norm(t, state[p + ".running_mean"], state[p + ".running_var"], state[p + ".weight"],
                            state[p + ".bias"], False, 0.0, 1e-5)

    out = (x - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)
    out = F.relu(bn(F.conv2d(out, state["conv1.weight"], padding=1), "bn1"))
    for layer, stride in zip(range(1, 5), (1, 2, 2, 2)):
        for block in range(2):
            p = f"layer{layer}.{block}"
            s = stride if block == 0 else 1
            y = F.relu(bn(F.conv2d(out, state[p + ".conv1.weight"], stride=s, padding=1), p + ".bn1"))
            y = bn(F.conv2d(y, state[p + ".conv2.weight"], padding=1), p + ".bn2")
            short = out
            if p + ".shortcut.0.weight" in state:
                short = bn(F.conv2d(out, state[p + ".shortcut.0.weight"], stride=s), p + ".shortcut.1")
            out = F.relu(y + short)
    out = F.avg_pool2d(out, 4).flatten(1)
    return F.linear(out, state["linear.weight"], state["linear.bias"])


def _authors_checkpoint(tmp_path, wrap="model"):
    torch.manual_seed(3)
    reference = build_classifier("resnet18", CIFAR10_CLASSES)
    with torch.no_grad():
        for m in reference.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.8, 1.2)
    state = reference.net.state_dict()
    mean, std = torch.tensor([0.5, 0.4, 0.3]), torch.tensor([0.2, 0.25, 0.3])
    layout = {f"module.model.{k}": v for k, v in state.items()}
    layout.update({f"module.attacker.model.{k}": v.clone() for k, v in state.items()})
    layout.update({"module.normalizer.new_mean": mean.view(3, 1, 1), "module.normalizer.new_std": std.view(3, 1, 1),
                   "module.attacker.normalize.new_mean": mean.view(3, 1, 1),
                   "module.attacker.normalize.new_std": std.view(3, 1, 1)})
    path = tmp_path / "cifar_l2_0_5.pt"
    torch.save({wrap: layout, "optimizer": {"state": {}, "param_groups": []}, "epoch": 150}, path)
    return path, state, mean, std


@pytest.mark.parametrize("wrap", ["model", "state_dict"])
def test_authors_checkpoint_gives_their_logits(tmp_path, wrap):
    path, state, mean, std = _authors_checkpoint(tmp_path, wrap)
    model, card = import_robustness_checkpoint(path, "cifar10", arch="resnet18")
    x = torch.rand(4, 3, 32, 32)
    with torch.no_grad():
        ours = model(x)
        theirs = _authors_forward(state, mean, std, x)
    assert torch.allclose(ours, theirs, atol=1e-4)
    assert card["dataset"] == "cifar10" and model.classes == CIFAR10_CLASSES


def test_translation_and_restricted_imagenet_datasets_set_their_classes(tmp_path):
    from robustpaint.core.models.checkpoint import ROBUSTNESS_DATASETS
    assert ROBUSTNESS_DATASETS["horse2zebra"][0] == ["horse", "zebra"]
    assert len(ROBUSTNESS_DATASETS["restricted_imagenet"][0]) == 9
    net = build_classifier("imagenet_resnet50", ["horse", "zebra"]).net.state_dict()
    path = tmp_path / "h2z.pt"
    torch.save({"model": {f"module.model.{k}": v for k, v in net.items()}}, path)
    model, _ = import_robustness_checkpoint(path, "horse2zebra")
    assert model.classes == ["horse", "zebra"] and model.arch == "imagenet_resnet50"


class _Payload:
    def __reduce__(self):
        import os
        return (os.system, ("touch PAYLOAD_RAN",))


def test_pickle_that_runs_code_is_refused_and_never_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pt"
    torch.save({"model": {"w": torch.zeros(1)}, "args": _Payload()}, path)
    with pytest.raises(UntrustedPickleError, match="--trust-pickle"):
        read_torch_checkpoint(path, trust_hint="If you trust its source, pass --trust-pickle.")
    assert not (tmp_path / "PAYLOAD_RAN").exists()


def test_truncated_checkpoint_is_a_clear_error(tmp_path):
    path, *_ = _authors_checkpoint(tmp_path)
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ModelError, match="cannot read checkpoint"):
        import_robustness_checkpoint(path, "cifar10", arch="resnet18")


@pytest.mark.parametrize("arch", ["resnet18", "resnet9", "resnet50", "mobilenet_v2", "imagenet_resnet18",
                                  "imagenet_resnet50"])
def test_import_reads_the_architecture_from_the_checkpoint(tmp_path, arch):
    """Before: without --arch every CIFAR-10 checkpoint was taken for a ResNet-50 ("does not fit resnet50")."""
    from robustpaint.core.models import CIFAR10_MEAN, CIFAR10_STD
    torch.manual_seed(0)
    theirs = build_classifier(arch, CIFAR10_CLASSES, CIFAR10_MEAN, CIFAR10_STD)  # the data set's normalisation
    path = tmp_path / "theirs.pt"
    torch.save({"model": {f"module.model.{k}": v for k, v in theirs.net.state_dict().items()}}, path)
    model, card = import_robustness_checkpoint(path, "cifar10")
    assert model.arch == arch and card["arch_inferred"] is True
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(model(x), theirs.eval()(x), atol=1e-5)


def test_a_checkpoint_that_fits_no_architecture_names_the_closest(tmp_path):
    state = build_classifier("resnet18", CIFAR10_CLASSES).net.state_dict()
    state.pop("layer4.1.conv2.weight")  # one layer short of a ResNet-18
    path = tmp_path / "odd.pt"
    torch.save({"model": {f"module.model.{k}": v for k, v in state.items()}}, path)
    with pytest.raises(ModelError, match=r"fits no registered architecture .* closest: resnet18 \(9\d% of the keys\)"):
        import_robustness_checkpoint(path, "cifar10")


def test_imagenet_checkpoints_get_imagenets_class_names(tmp_path):
    from robustpaint.core.models.checkpoint import imagenet_classes
    names = imagenet_classes()
    assert len(names) == 1000 and names[0] == "tench" and names[207] == "golden retriever"


def test_the_weights_hash_is_computed_once_per_change_of_the_file(tiny_model, tmp_path, monkeypatch):
    import robustpaint.core.models.checkpoint as checkpoint
    save_model(tiny_model, tmp_path / "m.safetensors", {"dataset": "synthetic"})
    hashed = []
    real = checkpoint.sha256_of
    monkeypatch.setattr(checkpoint, "sha256_of", lambda path: hashed.append(path) or real(path))
    load_model(tmp_path / "m.safetensors")
    load_model(tmp_path / "m.safetensors")
    assert len(hashed) == 1  # the second load trusts the cached hash of the unchanged file
    raw = bytearray((tmp_path / "m.safetensors").read_bytes())
    raw[-1] ^= 0xFF  # the same size, other bytes, a new modification time
    (tmp_path / "m.safetensors").write_bytes(bytes(raw))
    with pytest.raises(ModelError, match="damaged"):
        load_model(tmp_path / "m.safetensors")
    assert len(hashed) == 2


@pytest.mark.parametrize("outputs, dataset", [(1000, "imagenet"), (9, "restricted_imagenet"), (10, "cifar10")])
def test_the_data_set_is_read_from_the_number_of_classes(tmp_path, outputs, dataset):
    from robustpaint.core.models.checkpoint import ROBUSTNESS_DATASETS, imagenet_classes
    classes = ROBUSTNESS_DATASETS[dataset][0] or imagenet_classes()
    net = build_classifier("imagenet_resnet18", classes).net.state_dict()
    path = tmp_path / "theirs.pt"
    torch.save({"model": {f"module.model.{k}": v for k, v in net.items()}}, path)
    model, card = import_robustness_checkpoint(path)
    assert card["dataset"] == dataset and card["dataset_inferred"] and model.classes == classes
    assert model.arch == "imagenet_resnet18"


def test_a_two_class_checkpoint_must_name_its_translation_pair(tmp_path):
    net = build_classifier("imagenet_resnet18", ["a", "b"]).net.state_dict()
    path = tmp_path / "pair.pt"
    torch.save({"model": {f"module.model.{k}": v for k, v in net.items()}}, path)
    with pytest.raises(ModelError, match="horse2zebra, apple2orange, summer2winter; choose one with --dataset"):
        import_robustness_checkpoint(path)
    model, _ = import_robustness_checkpoint(path, "apple2orange")
    assert model.classes == ["apple", "orange"]
