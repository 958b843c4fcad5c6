"""Device choice: auto picks a GPU when there is one, a missing GPU is named at once, the CLI defaults to auto."""

import numpy as np
import pytest
import torch
from PIL import Image

from robustpaint.core import device
from robustpaint.core.errors import DeviceError


def test_auto_is_the_cpu_without_a_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert device.available_devices() == ["cpu"]
    assert device.resolve_device("auto") == "cpu"


def test_auto_picks_the_first_cuda_gpu_then_mps(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert device.available_devices() == ["cpu", "cuda:0", "cuda:1"]
    assert device.resolve_device("auto") == "cuda:0"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert device.resolve_device("auto") == "mps"


@pytest.mark.parametrize("name, message", [("tpu9", "unknown device"), ("cuda", "no CUDA GPU"),
                                           ("cuda:3", "no CUDA GPU"), ("meta", "unsupported device")])
def test_a_device_this_machine_lacks_is_named(monkeypatch, name, message):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DeviceError, match=message):
        device.resolve_device(name)


def test_the_cli_runs_on_the_resolved_device_by_default(monkeypatch, tmp_path, capsys):
    from robustpaint import cli
    seen = []
    monkeypatch.setattr(device, "resolve_device", lambda name="auto": seen.append(name) or "cpu")
    out = tmp_path / "g.png"
    assert cli.main(["generate", "--class", "cat", "--model", "resnet18", "--steps", "1", "--out", str(out),
                     "--quiet"]) == 0
    assert seen == ["auto"] and out.exists()


def test_the_app_lists_its_devices_and_refuses_one_it_lacks(qtbot, window, monkeypatch):
    qtbot.waitUntil(lambda: window.devices.device == "cpu", timeout=10000)
    labels = [a.text() for a in window.devices.menu.actions()]
    assert labels[:2] == ["auto (cpu)", "cpu"] or torch.cuda.is_available()
    assert window.devices.group.checkedAction().text().startswith("auto")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with qtbot.waitSignal(window.session.message, timeout=10000) as said:
        window.devices.choose("cuda:1")  # a setting saved on another machine
    assert "no CUDA GPU" in said.args[0]
    qtbot.waitUntil(lambda: window.devices.group.checkedAction() is not None, timeout=10000)
    assert window.devices.device == "cpu" and window.session.worker.models.bundles["tiny"].model.head.weight.device.type == "cpu"


def test_choosing_a_device_stops_the_run_and_the_next_run_uses_it(qtbot, window):
    window.controls.live_check.setChecked(False)
    window.panel.steps_spin.setValue(200)
    window.start_run()
    qtbot.waitUntil(lambda: window.session.steps_done >= 1, timeout=10000)
    window.devices.device = "cuda:0"  # as if the run were on a GPU: a move to the CPU is a real move
    window.devices.choose("cpu")
    assert not window.session.running and window.devices.choice == "cpu"
    assert "run stopped at step" in window.statusBar().currentMessage()  # not a silent stop (walkthrough finding)
    qtbot.waitUntil(lambda: window.devices.group.checkedAction().text() == "cpu", timeout=10000)
    window.panel.steps_spin.setValue(2)
    with qtbot.waitSignal(window.session.run_finished, timeout=20000):
        window.start_run()
    assert "on cpu" in window.status_label.text()


def test_choosing_the_device_the_run_is_on_keeps_it_going(qtbot, window):
    """Run > Device > cpu while "auto (cpu)" ran on the CPU stopped the run for nothing (walkthrough finding)."""
    window.controls.live_check.setChecked(False)
    window.panel.steps_spin.setValue(1000)
    window.start_run()
    qtbot.waitUntil(lambda: window.session.steps_done >= 1 and window.devices.auto_device == "cpu" == window.devices.device,
                    timeout=10000)
    window.devices.choose("cpu")
    assert window.session.running and window.devices.choice == "cpu"
    steps = window.session.steps_done
    qtbot.waitUntil(lambda: window.session.steps_done > steps, timeout=10000)
    window.session.halt()


def test_choosing_a_device_while_paused_ends_the_paused_run_cleanly(qtbot, window):
    """A paused run keeps its tensors on the old device: it must end, not fail at Resume (review finding)."""
    from robustpaint.app.run_session import RunState
    window.controls.live_check.setChecked(False)
    window.panel.steps_spin.setValue(200)
    window.start_run()
    qtbot.waitUntil(lambda: window.session.steps_done >= 1, timeout=10000)
    window.toggle_run()  # pause
    assert window.session.state is RunState.PAUSED
    failures = []
    window.session.worker.failed.connect(lambda job, text: failures.append(text))
    window.devices.device = "cuda:0"  # as if the run were on a GPU
    window.devices.choose("cpu")
    assert window.session.state is RunState.IDLE
    qtbot.waitUntil(lambda: window.devices.device == "cpu", timeout=10000)
    window.panel.steps_spin.setValue(2)
    with qtbot.waitSignal(window.session.run_finished, timeout=20000):
        window.toggle_run()
    assert failures == []


def test_bf16_follows_the_device_the_worker_runs_on(window, monkeypatch):
    from robustpaint.core import device as device_module
    monkeypatch.setattr(device_module, "cpu_supports_bf16", lambda: False)
    window.devices.bf16_action.setChecked(True)
    window.devices.device = "cpu"
    assert window.make_request().bf16 is False  # no bf16 units: fp32 whatever the menu says
    window.devices.device = "cuda:0"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda index=0: (8, 0))
    assert window.make_request().bf16 is True
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda index=0: (7, 5))
    assert window.make_request().bf16 is False  # no bf16 tensor cores (a T4): fp32, as the CLI's auto chooses


def test_a_saved_device_this_machine_lacks_falls_back_to_auto_and_is_not_kept(qtbot, installed_tiny, monkeypatch):
    from robustpaint.app.window import MainWindow
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    win = MainWindow(model_name="tiny", device="cuda:1")
    qtbot.addWidget(win)
    try:
        qtbot.waitUntil(lambda: win.devices.device == "cpu", timeout=10000)
        assert win.devices.choice == "auto" and win.devices.group.checkedAction().text().startswith("auto")
    finally:
        win.session.shutdown()


def test_a_recipe_records_its_device_and_replay_runs_there_or_says_it_cannot(tmp_path, capsys):
    from robustpaint import cli
    from robustpaint.core.imageio import read_recipe, save_png
    assert cli.main(["generate", "--class", "cat", "--model", "resnet18", "--steps", "2", "--out", str(tmp_path / "g"),
                     "--quiet"]) == 0
    out = tmp_path / "g" / "cat-000.png"
    recipe = read_recipe(out)
    assert recipe["device"] == "cpu"
    assert cli.main(["replay", str(out), "--out", str(tmp_path / "again.png")]) == 0
    assert "may differ" not in capsys.readouterr().err
    image = torch.from_numpy(np.array(Image.open(out).convert("RGB"))).permute(2, 0, 1)[None].float() / 255
    save_png(image[0], tmp_path / "gpu-made.png", {**recipe, "device": "cuda"})
    assert cli.main(["replay", str(tmp_path / "gpu-made.png"), "--out", str(tmp_path / "cpu.png")]) == 0
    assert "made on cuda, this replay runs on cpu: pixels may differ slightly" in capsys.readouterr().err
    save_png(image[0], tmp_path / "odd.png", {**recipe, "device": "tpu"})
    assert cli.main(["replay", str(tmp_path / "odd.png"), "--out", str(tmp_path / "x.png")]) == 2
