"""`Classifier`: an architecture with its normalisation inside (inputs are [0,1] pixels), plus activation capture
through hooks that always remove themselves."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

from robustpaint.core.models.layers import Normalize

# Names every architecture understands, besides its own module names ("layer3", "features.7", ...):
REPRESENTATION = "pool"  # the pooled representation layer (the input of the final linear layer)
FEATURE_MAP = "pool:in"  # the spatial map that is pooled into the representation


class Classifier(nn.Module):
    """A network plus in-model normalisation; `net` keeps exactly the architecture's state-dict keys."""

    def __init__(self, net: nn.Module, mean, std, classes: list[str], arch: str, input_size: int = 32):
        super().__init__()
        self.normalize = Normalize(mean, std)
        self.net = net
        self.classes = list(classes)
        self.arch = arch
        self.input_size = input_size  # the side it was trained at: the canvas it paints best on

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.normalize(x))

    @property
    def representation_size(self) -> int:
        return self.net.head.in_features

    @property
    def head(self) -> nn.Linear:
        return self.net.head

    @contextlib.contextmanager
    def fake_relu(self, enabled: bool = True) -> Iterator[None]:
        """Within the block, the last ReLU passes gradients through (feature painting needs this)."""
        relu = self.net.last_relu
        previous, relu.fake = relu.fake, enabled
        try:
            yield
        finally:
            relu.fake = previous

    @contextlib.contextmanager
    def capture(self, names) -> Iterator[dict[str, torch.Tensor]]:
        """Records the outputs of the named modules (`pool:in` for a module's input) during forwards in the block.

        The dict is filled on every forward; the hooks are removed when the block ends, whatever happens.
        """
        captured: dict[str, torch.Tensor] = {}
        if not names:  # the common case (class objectives): no walk over the modules on every PGD step
            yield captured
            return
        modules = dict(self.net.named_modules())
        handles = []
        try:
            for name in names:
                module_name, _, which = name.partition(":")
                if module_name not in modules:
                    raise KeyError(f"{self.arch} has no layer named {module_name!r}")
                module = modules[module_name]
                if which == "in":
                    handles.append(module.register_forward_pre_hook(
                        lambda _m, args, _n=name: captured.__setitem__(_n, args[0])))
                else:
                    handles.append(module.register_forward_hook(
                        lambda _m, _args, out, _n=name: captured.__setitem__(_n, out)))
            yield captured
        finally:
            for handle in handles:
                handle.remove()
