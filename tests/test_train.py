"""Training and evaluation on tiny synthetic image folders (no network, no shared data)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from robustpaint.cli import main
from robustpaint.core.errors import RobustPaintError
from robustpaint.core.models.checkpoint import load_model
from robustpaint.core.train.data import DataError, load_split
from robustpaint.core.train.loop import TrainConfig, train

ROOT = Path(__file__).resolve().parents[1]


def make_folder(root: Path, per_class=16, size=8, classes=("dark", "light"), corrupt=False):
    """Two trivially separable classes: dark and light images."""
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for k, name in enumerate(classes):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                base = 40 + 170 * k
                arr = np.clip(rng.normal(base, 20, (size, size, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(arr).save(folder / f"{i:03d}.png")
    if corrupt:
        (root / "train" / classes[0] / "broken.png").write_bytes(b"not a png")
    return root


def test_one_epoch_writes_a_loadable_model_with_card_and_resume_continues(tiny_arch, tmp_path):
    data = make_folder(tmp_path / "data")
    cfg = TrainConfig(arch=tiny_arch, data=str(data), out=str(tmp_path / "run"), epochs=1, batch_size=8,
                      lr=0.05, eps=0.25, precision="fp32")
    train(cfg, log=lambda m: None)
    model, card = load_model(tmp_path / "run" / "model.safetensors")
    assert card["classes"] == ["dark", "light"] and card["recipe"]["epochs"] == 1 and card["robust"]
    assert len(card["recipe"]["history"]) == 1
    state = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert state["epoch"] == 1
    messages = []
    train(TrainConfig(**{**cfg.__dict__, "epochs": 2}), resume=True, log=messages.append)
    assert any("resumed" in m and "after epoch 1" in m for m in messages)
    state = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert state["epoch"] == 2 and [h["epoch"] for h in state["history"]] == [1, 2]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_adversarial_training_and_eval_run_on_cuda(tiny_arch, tmp_path, capsys):
    """The loop's random generator lives on the CPU for every device: the attack's random start must draw from it
    and move the noise to the GPU (it failed with a device mismatch until session 7)."""
    data = make_folder(tmp_path / "data")
    cfg = TrainConfig(arch=tiny_arch, data=str(data), out=str(tmp_path / "run"), epochs=1, batch_size=8,
                      lr=0.05, eps=0.25, device="cuda", ema=0.9)
    train(cfg, log=lambda m: None)
    weights = tmp_path / "run" / "model.safetensors"
    _, card = load_model(weights)
    assert card["recipe"]["precision_used"] == "bf16" and len(card["recipe"]["history"]) == 1
    assert main(["eval", "--model", str(weights), "--data", str(data), "--eps", "0.25", "--steps", "2",
                 "--device", "cuda", "--no-card"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["robust_accuracy"] <= result["clean_accuracy"]


def test_init_starts_from_a_models_weights_and_the_card_records_it(tiny_arch, tmp_path):
    data = make_folder(tmp_path / "data")
    first = TrainConfig(arch=tiny_arch, data=str(data), out=str(tmp_path / "first"), epochs=1, batch_size=8,
                        lr=0.05, eps=0.25, precision="fp32", half_weights=False)
    train(first, log=lambda m: None)
    source, source_card = load_model(tmp_path / "first" / "model.safetensors")
    # lr 0: the weights stay exactly the source's (only BatchNorm's running statistics move)
    messages = []
    train(TrainConfig(**{**first.__dict__, "out": str(tmp_path / "second"), "lr": 0.0,
                         "init_from": str(tmp_path / "first" / "model.safetensors")}), log=messages.append)
    assert any("starting from the weights of" in m for m in messages)
    tuned, card = load_model(tmp_path / "second" / "model.safetensors")
    weights = {k: v for k, v in tuned.net.state_dict().items() if k.endswith("weight")}
    assert weights and all(torch.equal(v, source.net.state_dict()[k]) for k, v in weights.items())
    assert card["recipe"]["init_from"]["weights_sha256"] == source_card["weights_sha256"]
    assert card["recipe"]["init_from"]["recipe"]["epochs"] == 1
    # a fresh model (no --init) differs from the source
    fresh = TrainConfig(**{**first.__dict__, "out": str(tmp_path / "fresh"), "lr": 0.0, "seed": 1})
    train(fresh, log=lambda m: None)
    other, _ = load_model(tmp_path / "fresh" / "model.safetensors")
    assert not all(torch.equal(v, other.net.state_dict()[k]) for k, v in weights.items())


def test_ema_writes_the_average_and_resumes_it_exactly(tiny_arch, tmp_path, monkeypatch):
    data = make_folder(tmp_path / "data")
    first = TrainConfig(arch=tiny_arch, data=str(data), out=str(tmp_path / "first"), epochs=1, batch_size=8,
                        lr=0.05, eps=0.25, precision="fp32", half_weights=False)
    train(first, log=lambda m: None)
    source, _ = load_model(tmp_path / "first" / "model.safetensors")
    tuned = {**first.__dict__, "init_from": str(tmp_path / "first" / "model.safetensors"), "lr": 0.2}
    messages = []

    def run(name, decay, epochs=2, resume=False):
        train(TrainConfig(**{**tuned, "out": str(tmp_path / name), "ema": decay, "epochs": epochs}), resume=resume,
              log=messages.append)
        raw = torch.load(tmp_path / name / "checkpoint.pt", weights_only=True)["model"]
        model, card = load_model(tmp_path / name / "model.safetensors")
        assert card["recipe"]["ema"] == decay
        return model.net.state_dict(), raw

    # decay 1 never moves from the starting weights, although training moved the raw ones
    kept, raw = run("decay1", 1.0)
    assert all(torch.equal(v, source.net.state_dict()[k]) for k, v in kept.items() if v.is_floating_point())
    assert not all(torch.equal(v, raw[k]) for k, v in kept.items() if v.is_floating_point())
    # decay 0 is the last weights (and BatchNorm statistics) themselves
    last, raw = run("decay0", 0.0)
    assert all(torch.equal(v, raw[k]) for k, v in last.items() if v.is_floating_point())
    # in between, the average differs from both, and resuming after epoch 1 gives the same average as one go
    mixed, raw = run("mixed", 0.5)
    assert not all(torch.equal(v, raw[k]) for k, v in mixed.items() if v.is_floating_point())
    assert not all(torch.equal(v, source.net.state_dict()[k]) for k, v in mixed.items() if v.is_floating_point())
    from robustpaint.core.train import loop
    batches = []

    def augment_until_epoch_2(*args):  # the run dies on the first batch of epoch 2, after epoch 1's checkpoint
        batches.append(1)
        if len(batches) > 32 // 8:
            raise KeyboardInterrupt
        return augment(*args)

    augment = loop.augment
    monkeypatch.setattr(loop, "augment", augment_until_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        run("halves", 0.5)
    monkeypatch.setattr(loop, "augment", augment)
    resumed, _ = run("halves", 0.5, resume=True)
    assert any("resumed" in m and "after epoch 1" in m for m in messages)
    assert all(torch.allclose(v.float(), resumed[k].float(), atol=1e-6) for k, v in mixed.items())
    with pytest.raises(RobustPaintError, match="made with --ema"):
        train(TrainConfig(**{**tuned, "out": str(tmp_path / "halves"), "epochs": 3}), resume=True, log=lambda m: None)


def test_init_on_other_classes_transfers_the_backbone_with_a_fresh_head(tiny_arch, tmp_path):
    """The pets model starts from the robust Imagenette backbone: same architecture, other classes."""
    first = TrainConfig(arch=tiny_arch, data=str(make_folder(tmp_path / "data")), out=str(tmp_path / "first"),
                        epochs=1, batch_size=8, lr=0.05, eps=0.25, precision="fp32", half_weights=False)
    train(first, log=lambda m: None)
    source, source_card = load_model(tmp_path / "first" / "model.safetensors")
    three = make_folder(tmp_path / "three", classes=("a", "b", "c"))
    train(TrainConfig(**{**first.__dict__, "data": str(three), "out": str(tmp_path / "second"), "lr": 0.0,
                         "init_from": str(tmp_path / "first" / "model.safetensors")}), log=lambda m: None)
    tuned, card = load_model(tmp_path / "second" / "model.safetensors")
    head = card["recipe"]["init_from"]["fresh_head"]
    assert head and card["classes"] == ["a", "b", "c"]
    assert card["recipe"]["init_from"]["classes"] == source_card["classes"]
    target, before = tuned.net.state_dict(), source.net.state_dict()
    assert all(target[k].shape[0] == 3 for k in head)
    backbone = [k for k in target if k.endswith("weight") and k not in head]
    assert backbone and all(torch.equal(target[k], before[k]) for k in backbone)


def test_init_from_another_architecture_is_refused(tiny_arch, tmp_path):
    data = make_folder(tmp_path / "data")
    cfg = TrainConfig(arch=tiny_arch, data=str(data), out=str(tmp_path / "run"), epochs=1, batch_size=8,
                      max_batches=1, precision="fp32")
    train(cfg, log=lambda m: None)
    with pytest.raises(RobustPaintError, match="--init .* is tiny"):
        train(TrainConfig(**{**cfg.__dict__, "arch": "resnet18", "out": str(tmp_path / "r18"),
                             "init_from": str(tmp_path / "run" / "model.safetensors")}), log=lambda m: None)


def test_resume_from_another_architecture_is_refused(tiny_arch, tmp_path):
    data = make_folder(tmp_path / "data")
    cfg = TrainConfig(arch=tiny_arch, data=str(data), out=str(tmp_path / "run"), epochs=1, batch_size=8,
                      max_batches=1, precision="fp32")
    train(cfg, log=lambda m: None)
    with pytest.raises(RobustPaintError, match="was made for tiny"):
        train(TrainConfig(**{**cfg.__dict__, "arch": "resnet18"}), resume=True, log=lambda m: None)


def test_eval_on_a_separable_set_gives_high_clean_and_lower_robust_accuracy(tiny_arch, tmp_path, capsys):
    data = make_folder(tmp_path / "data", per_class=32)
    cfg = TrainConfig(arch=tiny_arch, data=str(data), out=str(tmp_path / "run"), epochs=6, batch_size=8,
                      lr=0.05, norm="none", precision="fp32")
    train(cfg, log=lambda m: None)
    weights = tmp_path / "run" / "model.safetensors"
    code = main(["eval", "--model", str(weights), "--data", str(data), "--eps", "2.0", "--steps", "5"])
    out = capsys.readouterr().out
    assert code == 0
    result = json.loads(out)
    assert result["clean_accuracy"] >= 0.9
    assert result["robust_accuracy"] <= result["clean_accuracy"]
    card = json.loads(weights.with_suffix(".json").read_text())
    assert card["accuracy"]["clean"] == result["clean_accuracy"]
    assert card["evaluations"][-1]["command"].startswith("robustpaint eval --model")


def test_corrupt_images_are_skipped_and_counted(tmp_path, capsys):
    data = make_folder(tmp_path / "data", corrupt=True)
    with pytest.warns(UserWarning, match="skipped unreadable image"):
        image_set = load_split(str(data), "train", cache=False)
    assert image_set.skipped == 1 and len(image_set.labels) == 32


@pytest.mark.parametrize("problem, message", [("empty_class", "holds no images"), ("mixed", "mixed sizes"),
                                              ("no_train", "no 'train' folder")])
def test_bad_data_folders_are_clear_errors(tmp_path, problem, message):
    data = make_folder(tmp_path / "data")
    if problem == "empty_class":
        (data / "train" / "empty").mkdir()
    elif problem == "mixed":
        Image.new("RGB", (9, 9)).save(data / "train" / "dark" / "odd.png")
    else:
        (data / "train").rename(data / "training")
    with pytest.raises(DataError, match=message):
        load_split(str(data), "train", cache=False)


def test_tar_gz_data_is_unpacked_and_cached(tmp_path):
    import tarfile
    data = make_folder(tmp_path / "tree" / "set")
    archive = tmp_path / "set.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(data, arcname="set")
    first = load_split(str(archive), "test")
    second = load_split(str(archive), "test")  # from the cache
    assert torch.equal(first.images, second.images) and first.classes == ["dark", "light"]


def test_two_process_torchrun_on_cpu(tmp_path):
    data = make_folder(tmp_path / "data", size=8)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "ROBUSTPAINT_CACHE_DIR": str(tmp_path / "cache")}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29531",
               "-m", "robustpaint", "train", "--arch", "resnet18", "--data", str(data), "--out",
               str(tmp_path / "run"), "--epochs", "1", "--batch-size", "4", "--max-batches", "2",
               "--precision", "fp32"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "2 process(es)" in done.stdout
    _, card = load_model(tmp_path / "run" / "model.safetensors")
    assert card["recipe"]["processes"] == 2


def test_auto_precision_follows_the_architecture(monkeypatch):
    """bf16 where the CPU has it, except for MobileNetV2, measured to train faster in fp32; explicit choices win."""
    from robustpaint.core import device
    from robustpaint.core.models import choose_precision
    monkeypatch.setattr(device, "cpu_supports_bf16", lambda: True)
    cpu = torch.device("cpu")
    assert choose_precision("auto", cpu, "resnet18") is True
    assert choose_precision("auto", cpu, "mobilenet_v2") is False
    assert choose_precision("bf16", cpu, "mobilenet_v2") is True
    monkeypatch.setattr(device, "cpu_supports_bf16", lambda: False)
    assert choose_precision("auto", cpu, "resnet18") is False
    assert choose_precision("auto", "cpu", "resnet18") is False  # a device name works as well


def test_robust_accuracy_subset_is_drawn_from_every_class(tiny_model, monkeypatch):
    """A split sorted by class must not give a robust figure measured on its first class only."""
    from robustpaint.core.train import evaluate as evaluation
    from robustpaint.core.train.data import ImageSet
    seen = []

    def record(model, x, y, *args):
        seen.extend(y.tolist())
        return torch.ones(len(y), dtype=torch.bool)

    monkeypatch.setattr(evaluation, "robust_predictions", record)
    labels = torch.arange(4).repeat_interleave(50)  # sorted: 50 of class 0, then 50 of class 1, ...
    data = ImageSet(torch.randint(0, 256, (200, 3, 32, 32), dtype=torch.uint8), labels, ["a", "b", "c", "d"])
    result = evaluation.evaluate(tiny_model, data, "l2", 0.5, 2, 0.1, limit=40, batch_size=16)
    assert len(seen) == 40 and set(seen) == {0, 1, 2, 3}
    assert result["robust_images"] == 40 and result["clean_images"] == 200


@pytest.mark.parametrize("damage", ["truncated", "pickled", "foreign"])
def test_resume_from_a_damaged_checkpoint_is_one_clear_error(tiny_arch, tmp_path, damage):
    data = make_folder(tmp_path / "data")
    cfg = TrainConfig(arch=tiny_arch, data=str(data), out=str(tmp_path / "run"), epochs=1, batch_size=8,
                      max_batches=1, precision="fp32")
    train(cfg, log=lambda m: None)
    checkpoint = tmp_path / "run" / "checkpoint.pt"
    if damage == "truncated":
        checkpoint.write_bytes(checkpoint.read_bytes()[:1000])
    elif damage == "pickled":
        import pickle
        checkpoint.write_bytes(pickle.dumps({"config": Path("x")}, protocol=2))  # would need more than tensors
    else:
        torch.save({"something": torch.zeros(2)}, checkpoint)
    with pytest.raises(RobustPaintError):
        train(TrainConfig(**{**cfg.__dict__, "epochs": 2}), resume=True, log=lambda m: None)


def test_a_truncated_data_set_cache_is_rebuilt(tmp_path):
    from robustpaint.core.paths import user_cache_dir
    data = make_folder(tmp_path / "data")
    first = load_split(str(data), "train")
    caches = list((user_cache_dir() / "datasets").glob("*.safetensors"))
    assert caches
    for cache in caches:  # a run killed while writing it, or a disk that filled up
        cache.write_bytes(cache.read_bytes()[:100])
    again = load_split(str(data), "train")
    assert torch.equal(again.images, first.images) and again.classes == first.classes


def test_a_decompression_bomb_in_a_training_folder_is_skipped_with_a_warning(tmp_path):
    data = make_folder(tmp_path / "data", per_class=4)
    bomb = Image.new("1", (9000, 9000))  # 81 megapixels of zeros: a few kB on disk
    bomb.save(tmp_path / "data" / "train" / "dark" / "bomb.png")
    with pytest.warns(UserWarning, match="bomb.png"):
        images = load_split(str(data), "train", cache=False)
    assert len(images.labels) == 8


def test_a_folder_smaller_than_one_batch_trains_with_one_smaller_batch_and_says_so(tiny_arch, tmp_path):
    """Before: "8 training images are fewer than one batch" and nothing trained."""
    data = make_folder(tmp_path / "data", per_class=4)
    messages = []
    cfg = TrainConfig(arch=tiny_arch, data=str(data), out=str(tmp_path / "run"), epochs=1, batch_size=32,
                      precision="fp32")
    train(cfg, log=messages.append)
    assert any("fewer than one batch of 32" in m and "batches of 8" in m for m in messages)
    card = json.loads((tmp_path / "run" / "model.json").read_text())
    assert card["recipe"]["batch_size"] == 8


def test_under_torchrun_only_the_first_process_writes_and_reports(tmp_path):
    data = make_folder(tmp_path / "data", per_class=8, size=16)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
                          "29517", "-m", "robustpaint", "train", "--arch", "resnet9", "--data", str(data), "--out",
                          str(tmp_path / "run"), "--epochs", "1", "--batch-size", "4", "--max-batches", "1",
                          "--precision", "fp32"], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.count("and its card") == 1, run.stdout
    assert (tmp_path / "run" / "model.safetensors").is_file()


def _train_cli(arch, data, out, *extra):
    return main(["train", "--arch", arch, "--data", str(data), "--out", str(out), "--epochs", "3", "--batch-size", "8",
                 "--max-batches", "1", "--precision", "fp32", *extra])


def _error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("robustpaint:")]


def _damaged_checkpoints(state: dict) -> dict:
    """Readable checkpoints (plain tensors and lists, loadable with weights_only) that do not fit the run."""
    model, optimizer = state["model"], state["optimizer"]
    first = next(iter(model))
    group = optimizer["param_groups"][0]
    param_id = group["params"][0]
    return {
        "model empty": {"model": {}}, "optimizer empty": {"optimizer": {}},
        "model a string": {"model": "abc"}, "optimizer a string": {"optimizer": "abc"},
        "model of another shape": {"model": {**model, first: torch.zeros(1)}},
        "model of a wrong type": {"model": {**model, first: [1, 2]}},
        "momentum of another shape": {"optimizer": {**optimizer,
                                                    "state": {param_id: {"momentum_buffer": torch.zeros(3)}}}},
        "momentum a string": {"optimizer": {**optimizer, "state": {param_id: {"momentum_buffer": "abc"}}}},
        "momentum hyperparameter a string": {"optimizer": {**optimizer,
                                                           "param_groups": [{**group, "momentum": "abc"}]}},
        "optimizer of fewer parameters": {"optimizer": {**optimizer, "param_groups": [{**group, "params": [0]}]}},
        "epoch negative": {"epoch": -5}, "epoch a string": {"epoch": "1"}, "epoch a bool": {"epoch": True},
        "epoch past --epochs": {"epoch": 50, "history": state["history"] * 50},
        "history an int": {"history": 5}, "history of tensors": {"history": [torch.zeros(1)]},
        "history shorter than the epochs": {"history": []},
        "classes a tensor": {"classes": torch.zeros(2)}, "config a list": {"config": [1]},
        "ema where none was asked": {"ema": {"n_averaged": torch.tensor(1)}},
        "weights not finite": {"model": {k: v * float("nan") if v.is_floating_point() else v
                                         for k, v in model.items()}},
    }


@pytest.fixture
def one_epoch_checkpoint(tiny_arch, tmp_path):
    data = make_folder(tmp_path / "data", per_class=4)
    assert _train_cli(tiny_arch, data, tmp_path / "first", "--epochs", "1") == 0
    return data, torch.load(tmp_path / "first" / "checkpoint.pt", weights_only=True)


DAMAGES = list(_damaged_checkpoints({"model": {"w": torch.zeros(1)}, "optimizer": {"param_groups": [{"params": [0]}]},
                                     "history": []}))


@pytest.mark.parametrize("damage", DAMAGES)
def test_resume_from_a_readable_checkpoint_that_does_not_fit_is_one_line(tiny_arch, tmp_path, capsys,
                                                                          one_epoch_checkpoint, damage):
    """Before: RuntimeError, KeyError, TypeError, AttributeError or IndexError tracebacks (at load or at the first
    step), or silently wrong: an epoch of -5 trained 8 epochs, NaN weights trained on as NaN."""
    data, state = one_epoch_checkpoint
    out = tmp_path / "run"
    out.mkdir()
    torch.save({**state, **_damaged_checkpoints(state)[damage]}, out / "checkpoint.pt")
    before = (out / "checkpoint.pt").read_bytes()
    capsys.readouterr()
    code = _train_cli(tiny_arch, data, out, "--resume")
    captured = capsys.readouterr()
    lines = _error_lines(captured.err)
    assert code == 2 and len(lines) == 1 and "checkpoint.pt" in lines[0], captured.err
    assert '"epoch"' not in captured.out  # no epoch trained
    assert (out / "checkpoint.pt").read_bytes() == before and not (out / "model.safetensors").exists()


@pytest.mark.parametrize("content", ["random bytes", "pickled object", "zip of other things"])
def test_resume_from_a_file_that_is_no_checkpoint_says_what_it_is(tiny_arch, tmp_path, capsys, content):
    """Before: random bytes were "pickled code" with a --trust-pickle hint, an option train does not take."""
    import pickle
    import zipfile
    data = make_folder(tmp_path / "data", per_class=4)
    out = tmp_path / "run"
    out.mkdir()
    checkpoint = out / "checkpoint.pt"
    if content == "random bytes":
        checkpoint.write_bytes(np.random.default_rng(0).bytes(5000))
        said = "neither"
    elif content == "pickled object":
        checkpoint.write_bytes(pickle.dumps({"config": Path("x")}, protocol=2))
        said = "pickled code"
    else:
        with zipfile.ZipFile(checkpoint, "w") as archive:
            archive.writestr("notes.txt", "hello")
        said = "cannot read"
    code = _train_cli(tiny_arch, data, out, "--resume")
    lines = _error_lines(capsys.readouterr().err)
    assert code == 2 and len(lines) == 1 and said in lines[0] and "--trust-pickle" not in lines[0], lines


def test_a_full_disk_when_writing_the_checkpoint_is_one_line_and_leaves_no_partial_file(tiny_arch, tmp_path, capsys,
                                                                                       monkeypatch):
    """Before: torch.save's RuntimeError ("unexpected pos ...") as a traceback."""
    import errno
    import shutil
    from robustpaint.core.train import loop
    data = make_folder(tmp_path / "data", per_class=4)
    save = torch.save

    def fill_up(obj, path, *args, **kwargs):
        Path(path).write_bytes(b"PK\x03\x04 half a checkpoint")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(loop.torch, "save", fill_up)
    code = _train_cli(tiny_arch, data, tmp_path / "run")
    lines = _error_lines(capsys.readouterr().err)
    assert code == 2 and len(lines) == 1 and "disk is full" in lines[0] and "checkpoint.pt" in lines[0], lines
    assert list((tmp_path / "run").iterdir()) == []
    # torch's own writer reports a full disk as "unexpected pos": told by the free space left
    monkeypatch.setattr(loop.torch, "save", lambda obj, path, *a, **k: (
        Path(path).write_bytes(b"PK"), (_ for _ in ()).throw(RuntimeError("[enforce fail at inline_container.cc:672]"
                                                                          " . unexpected pos 704 vs 598"))))
    monkeypatch.setattr(shutil, "disk_usage", lambda p: type("Usage", (), {"free": 1000})())
    code = _train_cli(tiny_arch, data, tmp_path / "run")
    lines = _error_lines(capsys.readouterr().err)
    assert code == 2 and len(lines) == 1 and "disk is full" in lines[0], lines
    assert list((tmp_path / "run").iterdir()) == []
    # and the model itself, after the last checkpoint
    monkeypatch.setattr(loop.torch, "save", save)
    from safetensors import SafetensorError
    monkeypatch.setattr(loop, "save_model", lambda *a, **k: (_ for _ in ()).throw(SafetensorError(
        "Error while serializing: I/O error: No space left on device (os error 28)")))
    code = _train_cli(tiny_arch, data, tmp_path / "run", "--epochs", "1")
    lines = _error_lines(capsys.readouterr().err)
    assert code == 2 and len(lines) == 1 and "disk is full" in lines[0] and "model.safetensors" in lines[0], lines
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["checkpoint.pt"]


def test_nfgsm_steps_eps_from_wider_noise_without_clipping_to_the_ball(tiny_model):
    from robustpaint.core.attacks import nfgsm_attack
    torch.manual_seed(0)
    images = torch.rand(16, 3, 8, 8) * 0.5 + 0.25
    labels = torch.randint(0, 2, (16,))
    eps = 0.5
    adv = nfgsm_attack(tiny_model.eval(), images, labels, "l2", eps, generator=torch.Generator().manual_seed(1))
    distance = (adv - images).flatten(1).norm(dim=1)
    assert adv.min() >= 0 and adv.max() <= 1
    assert distance.max() <= 3 * eps + 1e-5  # noise of 2 eps plus one step of eps
    assert distance.max() > eps  # not projected back to the eps-ball, as PGD and FGSM-RS are


def test_nfgsm_training_logs_a_pgd10_check_each_epoch(tiny_arch, tmp_path, capsys):
    data = make_folder(tmp_path / "data")
    assert _train_cli(tiny_arch, data, tmp_path / "run", "--attack", "nfgsm", "--eps", "1.0",
                      "--check-robust", "8") == 0
    _, card = load_model(tmp_path / "run" / "model.safetensors")
    assert card["recipe"]["attack"] == "nfgsm"
    history = card["recipe"]["history"]
    assert len(history) == 3 and all(0 <= h["check_pgd10"] <= h["check_clean"] <= 1 for h in history)
    assert "N-FGSM" in capsys.readouterr().out


@pytest.mark.parametrize("ema", [None, "0.5"])
def test_a_snapshot_of_a_run_is_the_model_the_run_writes(tiny_arch, tmp_path, capsys, ema):
    data = make_folder(tmp_path / "data", per_class=4)
    extra = ("--ema", ema) if ema else ()
    assert _train_cli(tiny_arch, data, tmp_path / "run", "--epochs", "2", *extra) == 0
    assert main(["snapshot", str(tmp_path / "run")]) == 0
    said = capsys.readouterr().out
    assert "snapshot-epoch-02.safetensors" in said and "the run has finished: its model.safetensors is this" in said
    written, card = load_model(tmp_path / "run" / "model.safetensors")
    taken, snap_card = load_model(tmp_path / "run" / "snapshot-epoch-02.safetensors")
    assert snap_card["snapshot"] == {"after_epoch": 2, "of_epochs": 2}
    assert snap_card["input_size"] == card["input_size"] and snap_card["recipe"]["history"] == card["recipe"]["history"]
    diff = [k for k, v in written.net.state_dict().items() if not torch.equal(v, taken.net.state_dict()[k])]
    assert diff == []  # the same tensors, the average where --ema
    # a checkpoint written before checkpoints recorded the input size: the data's own size, as training used
    # (and neither its precision, process count nor starting model: the card leaves out what was not recorded)
    state = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    for key in ("input_size", "precision_used", "processes", "init_record"):
        del state[key]
    torch.save(state, tmp_path / "run" / "checkpoint.pt")
    assert main(["snapshot", str(tmp_path / "run"), "--to", str(tmp_path / "old.safetensors")]) == 0
    old_card = load_model(tmp_path / "old.safetensors")[1]
    assert old_card["input_size"] == card["input_size"] and card["recipe"]["precision_used"] == "fp32"
    assert "precision_used" not in old_card["recipe"] and "processes" not in old_card["recipe"]


def test_a_snapshot_without_a_checkpoint_or_to_a_wrong_name_is_one_line(tmp_path, capsys):
    assert main(["snapshot", str(tmp_path)]) == 2
    assert _error_lines(capsys.readouterr().err) == [
        f"robustpaint: error: {tmp_path / 'checkpoint.pt'} does not exist: snapshot takes a training run's --out "
        f"folder after its first epoch"]
    assert main(["snapshot", str(tmp_path), "--to", str(tmp_path / "model.pt")]) == 2
    assert "NAME.safetensors" in capsys.readouterr().err


def test_a_model_of_ours_is_imported_under_a_name_with_its_card_and_seeds(tiny_arch, tmp_path, capsys,
                                                                          monkeypatch):
    from robustpaint.core.catalog import find_model
    from robustpaint.core.seeds import ClassSeeds, fit_seeds
    data = make_folder(tmp_path / "data", per_class=4)
    assert _train_cli(tiny_arch, data, tmp_path / "run", "--epochs", "2", "--ema", "0.5") == 0
    assert main(["snapshot", str(tmp_path / "run")]) == 0
    snap = tmp_path / "run" / "snapshot-epoch-02.safetensors"
    seeds = snap.with_name("snapshot-epoch-02.seeds.safetensors")
    images = torch.rand(8, 3, 8, 8)
    fit_seeds(images, torch.tensor([0, 1] * 4), 2, rank=2).save(seeds)
    capsys.readouterr()
    assert main(["models", "import", str(snap), "--name", "mine-e2"]) == 0
    assert "with its seeds" in capsys.readouterr().out
    entry = find_model("mine-e2")
    assert entry.origin == "imported" and entry.seeds_path.read_bytes() == seeds.read_bytes()
    assert ClassSeeds.load(entry.seeds_path).num_classes == 2
    source, source_card = load_model(snap)
    model, card = load_model(entry.weights)
    assert card["name"] == "mine-e2" and card["snapshot"] == {"after_epoch": 2, "of_epochs": 2}
    assert card["recipe"] == source_card["recipe"] and card["weights_dtype"] == "float16"
    assert card["source"].startswith("imported from snapshot-epoch-02.safetensors")
    assert all(torch.equal(v, model.net.state_dict()[k]) for k, v in source.net.state_dict().items())
    assert main(["models", "list"]) == 0 and "mine-e2" in capsys.readouterr().out
    # a seeds copy that fails takes the model back: the same import then works
    import shutil
    copy = shutil.copyfile
    monkeypatch.setattr(shutil, "copyfile", lambda *a: (_ for _ in ()).throw(OSError(28, "No space left on device")))
    assert main(["models", "import", str(snap), "--name", "again"]) != 0
    assert not list(entry.weights.parent.glob("again*"))
    monkeypatch.setattr(shutil, "copyfile", copy)
    assert main(["models", "import", str(snap), "--name", "again"]) == 0
    capsys.readouterr()
    # a name taken, options for the authors' files, seeds of other classes or none at all, NaN weights whole on
    # disk (a run that diverged), a damaged file: one line each, nothing added
    assert main(["models", "import", str(snap), "--name", "mine-e2"]) == 2
    assert main(["models", "import", str(snap), "--name", "other", "--arch", "resnet18"]) == 2
    fit_seeds(torch.rand(9, 3, 8, 8), torch.tensor([0, 1, 2] * 3), 3, rank=2).save(seeds)
    assert main(["models", "import", str(snap), "--name", "other"]) == 2
    seeds.write_bytes(b"not seeds")
    assert main(["models", "import", str(snap), "--name", "other"]) == 2
    seeds.unlink()
    from robustpaint.core.models.checkpoint import save_model
    next(source.net.parameters()).data.fill_(float("nan"))
    save_model(source, tmp_path / "nan.safetensors", {"robust": True})
    assert main(["models", "import", str(tmp_path / "nan.safetensors"), "--name", "other"]) == 2
    snap.write_bytes(snap.read_bytes()[:-8] + b"damaged!")
    assert main(["models", "import", str(snap), "--name", "other"]) == 2
    errors = _error_lines(capsys.readouterr().err)
    assert len(errors) == 6 and "exists already" in errors[0] and "carries its own card" in errors[1]
    assert "another number of classes" in errors[2] and "cannot read seeds" in errors[3]
    assert "NaN" in errors[4], errors[4]
    assert "damaged" in errors[5]
    assert not list(entry.weights.parent.glob("other*"))


SNAPSHOT_DAMAGES = {**{k: v for k, v in _damaged_checkpoints(
    {"model": {"w": torch.zeros(1)}, "optimizer": {"param_groups": [{"params": [0]}]}, "history": []}).items()},
    "classes a number": {"classes": 3}, "arch unknown": {"config": {"arch": "nonet"}},
    "learning rate a string": {"config": {"lr": "fast"}}, "ema decay a string": {"config": {"ema": "0.5"}},
    "moving average lacking a tensor": "drop an ema key", "moving average not finite": "nan ema"}


@pytest.mark.parametrize("damage", list(SNAPSHOT_DAMAGES))
def test_a_snapshot_of_a_damaged_checkpoint_is_one_line_and_writes_nothing(tiny_arch, tmp_path, capsys, damage):
    """Before: TypeError, RuntimeError, ValueError and KeyError tracebacks, and a moving average of NaN written as
    a model: snapshot read the checkpoint without the checks --resume makes."""
    data = make_folder(tmp_path / "data", per_class=4)
    assert _train_cli(tiny_arch, data, tmp_path / "first", "--epochs", "1", "--ema", "0.5") == 0
    state = torch.load(tmp_path / "first" / "checkpoint.pt", weights_only=True)
    change = SNAPSHOT_DAMAGES[damage]
    if change == "drop an ema key":
        change = {"ema": {k: v for i, (k, v) in enumerate(state["ema"].items()) if i != 1}}
    elif change == "nan ema":
        change = {"ema": {k: v * float("nan") if v.is_floating_point() else v for k, v in state["ema"].items()}}
    elif isinstance(change.get("config"), dict):
        change = {"config": {**state["config"], **change["config"]}}
    elif "model" in change or "optimizer" in change:  # the damages made for the training's own state
        change = _damaged_checkpoints(state)[damage]
    elif "epoch" in change and damage == "epoch past --epochs":
        change = {"epoch": 50, "history": state["history"] * 50}
    out = tmp_path / "run"
    out.mkdir()
    torch.save({**state, **change}, out / "checkpoint.pt")
    capsys.readouterr()
    code = main(["snapshot", str(out)])
    captured = capsys.readouterr()
    lines = _error_lines(captured.err)
    assert code == 2 and len(lines) == 1 and "checkpoint.pt" in lines[0] and "Traceback" not in captured.err
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt"]


def test_a_snapshot_never_replaces_a_model_that_is_not_a_snapshot(tiny_arch, tmp_path, capsys):
    data = make_folder(tmp_path / "data", per_class=4)
    assert _train_cli(tiny_arch, data, tmp_path / "run", "--epochs", "1") == 0
    model = tmp_path / "run" / "model.safetensors"
    before = model.read_bytes(), model.with_suffix(".json").read_bytes()
    capsys.readouterr()
    assert main(["snapshot", str(tmp_path / "run"), "--to", str(model)]) == 2
    assert "exists and is not a snapshot" in capsys.readouterr().err
    assert (model.read_bytes(), model.with_suffix(".json").read_bytes()) == before
    assert main(["snapshot", str(tmp_path / "run")]) == 0 and main(["snapshot", str(tmp_path / "run")]) == 0  # again
