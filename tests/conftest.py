"""Shared fixtures: a tiny seeded classifier registered as an architecture, and private user folders."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
import torch
from torch import nn

from robustpaint.core.models import ARCHITECTURES, Architecture, build_classifier
from robustpaint.core.models.layers import GlobalPool, SwitchableReLU

TINY_CLASSES = ["cat", "dog", "ship", "truck"]


class TinyNet(nn.Module):
    """Two convolutions, BN, the switchable last ReLU, pooling, a linear head: fast, with the real interface."""

    def __init__(self, num_classes: int = 4, units: int = 16):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, 1, 1)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, units, 3, 2, 1)  # `units`: the representation's size (neurons to browse)
        self.relu_out = SwitchableReLU()
        self.pool = GlobalPool()
        self.linear = nn.Linear(units, num_classes)

    def forward(self, x):
        return self.linear(self.pool(self.relu_out(self.conv2(torch.relu(self.bn1(self.conv1(x)))))))

    @property
    def head(self):
        return self.linear

    @property
    def last_relu(self):
        return self.relu_out


@pytest.fixture(autouse=True)
def private_user_dirs(tmp_path, monkeypatch):
    """Every test gets its own data and cache folders, so nothing touches the user's."""
    monkeypatch.setenv("ROBUSTPAINT_DATA_DIR", str(tmp_path / "user-data"))
    monkeypatch.setenv("ROBUSTPAINT_CACHE_DIR", str(tmp_path / "user-cache"))


@pytest.fixture
def tiny_arch(monkeypatch):
    monkeypatch.setitem(ARCHITECTURES, "tiny", Architecture("tiny", TinyNet, 32, "test network"))
    return "tiny"


@pytest.fixture
def tiny_model(tiny_arch):
    torch.manual_seed(0)
    model = build_classifier(tiny_arch, TINY_CLASSES).eval()
    with torch.no_grad():  # non-trivial BN statistics
        model.net.bn1.running_mean.uniform_(-0.2, 0.2)
        model.net.bn1.running_var.uniform_(0.5, 1.5)
    return model


@pytest.fixture
def installed_tiny(tiny_model):
    """The tiny model saved as the user's imported model 'tiny' with seeds; returns its weights path."""
    from robustpaint.core.models.checkpoint import save_model
    from robustpaint.core.paths import user_models_dir
    from robustpaint.core.seeds import fit_seeds

    path = user_models_dir() / "tiny.safetensors"
    save_model(tiny_model, path, {"dataset": "synthetic", "robust": False, "role": "test"})
    g = torch.Generator().manual_seed(1)
    images = torch.rand(40, 3, 32, 32, generator=g)
    labels = torch.arange(40) % len(TINY_CLASSES)
    images += labels.view(-1, 1, 1, 1) * 0.1
    fit_seeds(images.clamp(0, 1), labels, len(TINY_CLASSES), rank=4).save(path.with_name("tiny.seeds.safetensors"))
    return path


@pytest.fixture
def window(qtbot, installed_tiny):
    """The main window on the tiny model, its card loaded; shut down (worker thread stopped) afterwards."""
    from robustpaint.app.window import MainWindow
    win = MainWindow(model_name="tiny")
    qtbot.addWidget(win)
    win.resize(800, 500)
    win.show()
    qtbot.waitUntil(lambda: "tiny" in win.panel.cards, timeout=10000)
    yield win
    win.session.shutdown()
    assert not win.session.thread.isRunning()
