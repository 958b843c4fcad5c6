"""`models import` and model cards against hostile files, and the CLI's error path with unusable output streams
(#32 items 8 and 9 and their tracebacks): one line and status 2, nothing half-written, nothing wrong kept."""

import json
import os
import subprocess
import sys
import threading
import warnings

import pytest
import torch

from robustpaint.cli import main
from robustpaint.core.errors import ModelError, UntrustedPickleError
from robustpaint.core.models import CIFAR10_CLASSES, build_classifier
from robustpaint.core.paths import user_models_dir

W = "module.model.linear.weight"


def _authors_file(path, tiny_arch, change=None, normaliser=None, seed=0):
    """A robustness-library style checkpoint of the tiny network with CIFAR-10's ten classes."""
    torch.manual_seed(seed)
    net = build_classifier(tiny_arch, CIFAR10_CLASSES).net.state_dict()
    state = {f"module.model.{k}": v.clone() for k, v in net.items()}
    if change:
        change(state)
    if normaliser:
        mean, std = normaliser
        state["module.normalizer.new_mean"] = torch.tensor(mean).view(-1, 1, 1)
        state["module.normalizer.new_std"] = torch.tensor(std).view(-1, 1, 1)
    torch.save({"model": state, "epoch": 1}, path)
    return path


def _import(path, name, capsys):
    code = main(["models", "import", str(path), "--name", name, "--dataset", "cifar10", "--arch", "tiny"])
    out, err = capsys.readouterr()
    return code, out, err


def _models_folder():
    folder = user_models_dir()
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def _set(key, value):
    return lambda state: state.__setitem__(key, value(state[key]))


def _poke(value):
    def change(state):
        state[W] = state[W].clone()
        state[W][0, 0] = value
    return change


HOSTILE = {
    "nan": (dict(change=_poke(float("nan"))), "NaN or infinite"),
    "inf": (dict(change=_poke(float("inf"))), "NaN or infinite"),
    "int64": (dict(change=_set(W, lambda t: (t * 100).long())), "int64 values"),
    "complex": (dict(change=_set(W, lambda t: t.to(torch.complex64) + 1j)), "complex64 values"),
    "sparse": (dict(change=_set(W, lambda t: t.to_sparse())), "sparse_coo tensor"),
    "std 0": (dict(normaliser=([0.5, 0.5, 0.5], [0.0, 0.2, 0.2])), "std should be 3 finite numbers above 0"),
    "std nan": (dict(normaliser=([0.5, 0.5, 0.5], [float("nan"), 0.2, 0.2])), "std should be"),
    "mean inf": (dict(normaliser=([float("inf"), 0.5, 0.5], [0.2, 0.2, 0.2])), "mean should be 3 finite"),
    "5 channels": (dict(normaliser=([0.5] * 5, [0.2] * 5)), "one per RGB channel"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_weights_that_cannot_work_are_refused_at_import_in_one_line(tiny_arch, tmp_path, capsys, case):
    """Before: imported with status 0; `classify` then printed "nan%" with status 0 or was a traceback, the complex
    weights lost their imaginary parts with a torch warning, the sparse one was save_file's RuntimeError."""
    options, message = HOSTILE[case]
    path = _authors_file(tmp_path / "theirs.pt", tiny_arch, **options)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code, out, err = _import(path, "hostile", capsys)
    assert not [w for w in caught if "imaginary part" in str(w.message)]  # dropped by a cast, with a warning
    assert code == 2 and message in err, err
    assert err.startswith("robustpaint: error:") and len(err.strip().splitlines()) == 1 and out == ""
    assert _models_folder() == []  # nothing half-written, nothing listed


def test_a_sound_checkpoint_still_imports_and_whole_number_buffers_stay_allowed(tiny_arch, tmp_path, capsys):
    path = _authors_file(tmp_path / "theirs.pt", tiny_arch, normaliser=([0.5, 0.4, 0.3], [0.2, 0.25, 0.3]))
    code, out, err = _import(path, "sound", capsys)
    assert code == 0 and "imported" in out, err
    card = json.loads((user_models_dir() / "sound.json").read_text())
    assert card["std"] == pytest.approx([0.2, 0.25, 0.3])  # num_batches_tracked (int64) loaded as it is


def test_two_imports_under_one_name_at_once_leave_one_whole_model(tiny_arch, tmp_path, capsys):
    """Before: both said "imported", one replaced the other, and the card could describe one import while its
    sha256 matched the other's weights. Now the first to create the card wins, the other is refused."""
    from robustpaint.core.models.checkpoint import add_model, load_model, sha256_of
    models = [build_classifier(tiny_arch, CIFAR10_CLASSES) for _ in range(2)]
    target = user_models_dir() / "same.safetensors"
    start, results = threading.Barrier(2), [None, None]

    def add(i):
        start.wait()
        try:
            add_model(models[i], target, {"dataset": f"import {i}"})
            results[i] = "added"
        except ModelError as exc:
            results[i] = str(exc)

    threads = [threading.Thread(target=add, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r == "added" for r in results) == [False, True], results
    assert "exists already" in next(r for r in results if r != "added")
    winner = results.index("added")
    card = json.loads(target.with_suffix(".json").read_text())
    assert card["dataset"] == f"import {winner}" and card["weights_sha256"] == sha256_of(target)
    loaded, _ = load_model(target)
    assert torch.equal(loaded.net.linear.weight, models[winner].net.linear.weight)
    assert _models_folder() == ["same.json", "same.safetensors"]  # no temporary file left


def test_an_import_that_finishes_while_another_converts_is_not_replaced(tiny_arch, tmp_path, capsys, monkeypatch):
    """The CLI checks the name before the long conversion; another import of the name that ends in between must
    still win (before: the second replaced its weights and card and said "imported" too)."""
    import robustpaint.core.models.checkpoint as checkpoint
    first = _authors_file(tmp_path / "first.pt", tiny_arch, seed=1)
    second = _authors_file(tmp_path / "second.pt", tiny_arch, seed=2)
    real = checkpoint.import_robustness_checkpoint

    def meanwhile_another_import(*args, **kwargs):
        result = real(*args, **kwargs)
        monkeypatch.setattr(checkpoint, "import_robustness_checkpoint", real)
        assert _import(first, "same", capsys)[0] == 0
        return result

    monkeypatch.setattr(checkpoint, "import_robustness_checkpoint", meanwhile_another_import)
    code, out, err = _import(second, "same", capsys)
    assert code == 2 and "exists already" in err and "imported" not in out, (out, err)
    card = json.loads((user_models_dir() / "same.json").read_text())
    assert "first.pt" in card["source"]
    code, _, err = _import(second, "same", capsys)  # and the ordinary refusal, before any conversion
    assert code == 2 and "exists already" in err
    assert main(["classify", str(_png(tmp_path)), "--model", "same"]) == 0, capsys.readouterr().err


def test_seeds_left_under_a_name_are_not_taken_by_a_new_import(tiny_arch, tmp_path, capsys):
    """A model's seeds are part of it: left over from a removed model, a new import would generate from them."""
    user_models_dir().mkdir(parents=True)
    (user_models_dir() / "old.seeds.safetensors").write_bytes(b"seeds of another model")
    code, _, err = _import(_authors_file(tmp_path / "t.pt", tiny_arch), "old", capsys)
    assert code == 2 and "old.seeds.safetensors" in err
    assert _models_folder() == ["old.seeds.safetensors"]


def _png(folder):
    from PIL import Image
    Image.new("RGB", (32, 32), (200, 30, 30)).save(folder / "red.png")
    return folder / "red.png"


@pytest.mark.parametrize("field, value, message", [
    ("classes", 10, "invalid classes 10"),
    ("classes", ["cat", "cat", "ship", "truck"], "distinct class names"),
    ("mean", "abc", "mean should be 3 finite numbers"),
    ("std", [0.2, 0.0, 0.2], "std should be 3 finite numbers above 0"),
    ("arch", ["tiny"], "invalid arch"),
    ("input_size", True, "invalid input_size"),
    ("dataset", 5, "invalid dataset"),
    ("accuracy", [0.9], "invalid accuracy"),
    ("card_version", "one", "invalid card_version"),
])
def test_a_card_field_of_the_wrong_type_is_one_line_wherever_the_card_is_read(installed_tiny, tmp_path, capsys,
                                                                              field, value, message):
    """Before: TypeError tracebacks (`classes: 10`, `mean: "abc"`, `arch: [...]`) from classify, and from
    `models list` for a dataset or accuracy of the wrong type."""
    card = json.loads(installed_tiny.with_suffix(".json").read_text())
    card[field] = value
    installed_tiny.with_suffix(".json").write_text(json.dumps(card))
    code = main(["classify", str(_png(tmp_path)), "--model", "tiny"])
    out, err = capsys.readouterr()
    assert code == 2 and message in err and out == "", err
    assert len(err.strip().splitlines()) == 1
    code = main(["models", "list"])
    out, err = capsys.readouterr()
    assert code == 0 and f"card problem: model card {installed_tiny.with_suffix('.json')}" in out, (out, err)
    assert message in out and err == ""


# --- checkpoints that are not what they seem -----------------------------------------------------------------

class _Payload:
    def __reduce__(self):
        return (os.system, ("touch PAYLOAD_RAN",))


def test_random_bytes_are_not_taken_for_pickled_code(tmp_path):
    """Before: "holds more than plain tensors (it would run pickled code to load) ... pass --trust-pickle"."""
    from robustpaint.core.models.checkpoint import import_robustness_checkpoint, read_torch_checkpoint
    junk = tmp_path / "random.bin"
    junk.write_bytes(bytes(range(7, 256)) * 20)
    for read in (read_torch_checkpoint, import_robustness_checkpoint):
        with pytest.raises(ModelError, match="not a PyTorch checkpoint: neither a zip archive") as caught:
            read(junk)
        assert not isinstance(caught.value, UntrustedPickleError) and "--trust-pickle" not in str(caught.value)
    damaged = tmp_path / "damaged.pt"  # a pickle's first bytes, then noise
    damaged.write_bytes(b"\x80\x02" + bytes(range(7, 256)) * 20)
    with pytest.raises(ModelError, match="damaged") as caught:
        import_robustness_checkpoint(damaged)
    assert not isinstance(caught.value, UntrustedPickleError) and "--trust-pickle" not in str(caught.value)


@pytest.mark.parametrize("legacy", [False, True])
def test_only_a_whole_pickle_that_imports_code_gets_the_trust_pickle_hint(tmp_path, monkeypatch, legacy):
    from robustpaint.core.models.checkpoint import import_robustness_checkpoint, read_torch_checkpoint
    monkeypatch.chdir(tmp_path)
    evil = tmp_path / "evil.pt"
    torch.save({"model": {"w": torch.zeros(1)}, "args": _Payload()}, evil, _use_new_zipfile_serialization=not legacy)
    with pytest.raises(UntrustedPickleError, match=r"system.*If you trust its source, pass --trust-pickle"):
        import_robustness_checkpoint(evil)
    with pytest.raises(UntrustedPickleError) as caught:  # `train --resume` has no such option: no hint there
        read_torch_checkpoint(evil)
    assert "--trust-pickle" not in str(caught.value)
    assert not (tmp_path / "PAYLOAD_RAN").exists()


# --- the CLI's output streams ---------------------------------------------------------------------------------

def _cli(args, tmp_path, **kwargs):
    env = {**os.environ, "ROBUSTPAINT_DATA_DIR": str(tmp_path / "data"), "ROBUSTPAINT_CACHE_DIR": str(tmp_path / "c")}
    env.pop("PYTHONUNBUFFERED", None)
    return subprocess.run([sys.executable, "-m", "robustpaint", *args], env=env, **kwargs)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_models_list_into_a_full_disk_is_one_line_and_status_2(tmp_path):
    """Before: OSError ENOSPC traceback from print, status 1, once the listing outgrows stdout's buffer."""
    folder = tmp_path / "data" / "models"
    folder.mkdir(parents=True)
    card = {"arch": "resnet18", "classes": [f"class number {i}" for i in range(12)], "dataset": "synthetic"}
    for i in range(40):  # the listing reads cards only: empty weights files do
        (folder / f"imported{i:02d}.safetensors").write_bytes(b"")
        (folder / f"imported{i:02d}.json").write_text(json.dumps(card))
    with open("/dev/full", "w") as full:
        done = _cli(["models", "list"], tmp_path, stdout=full, stderr=subprocess.PIPE, text=True)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("robustpaint: error:") and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "No space left on device" in done.stderr


@pytest.mark.parametrize("stderr", ["closed", "full"])
def test_an_error_with_stderr_unusable_still_exits_2_and_never_writes_to_stdout(tmp_path, stderr):
    """Before: with stderr closed the error line went to stdout (print's file=None); with stderr on /dev/full the
    failed write was a traceback and status 1."""
    if stderr == "full" and not os.path.exists("/dev/full"):
        pytest.skip("needs /dev/full")
    args = ["models", "import", str(tmp_path / "missing.pt"), "--name", "x"]
    if stderr == "closed":
        done = _cli(args, tmp_path, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                    preexec_fn=lambda: os.close(2))
    else:
        with open("/dev/full", "w") as full:
            done = _cli(args, tmp_path, stdout=subprocess.PIPE, stderr=full, text=True)
    assert done.returncode == 2 and done.stdout == "", done.stdout
