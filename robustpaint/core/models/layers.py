"""Small building blocks shared by the architectures: in-model normalisation and a switchable 'fake' ReLU."""

from __future__ import annotations

import torch
from torch import nn


class _FakeReLUFunction(torch.autograd.Function):
    """ReLU forward, identity backward: lets feature painting push on neurons that are currently off."""

    @staticmethod
    def forward(ctx, x):
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output


class _FakeReLU6Function(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.clamp(0, 6)

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output


class SwitchableReLU(nn.Module):
    """The last ReLU of a network; `fake = True` makes its backward pass the identity (the authors' fake ReLU)."""

    def __init__(self, six: bool = False):
        super().__init__()
        self.six = six
        self.fake = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fake:
            return (_FakeReLU6Function if self.six else _FakeReLUFunction).apply(x)
        return torch.clamp(x, 0, 6) if self.six else torch.relu(x)


class Normalize(nn.Module):
    """Maps [0,1] pixels to the network's input statistics, so all optimisation happens on plain pixels."""

    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class GlobalPool(nn.Module):
    """Adaptive average pooling + flatten; its output is the representation layer (named `pool` in every net)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)
