"""CIFAR ResNets whose state-dict keys match the robustness library's `cifar_models` exactly.

Layout: 3x3 stride-1 `conv1`, `bn1`, `layer1..4` of blocks with a `shortcut`, then pooling and `linear`.
Pooling is adaptive (the library uses a fixed 4x4 average), so the same weights run on larger canvases and give
identical logits at 32x32.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from robustpaint.core.models.layers import GlobalPool, SwitchableReLU


def _shortcut(in_planes: int, out_planes: int, stride: int) -> nn.Sequential:
    if stride == 1 and in_planes == out_planes:
        return nn.Sequential()
    return nn.Sequential(
        nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False), nn.BatchNorm2d(out_planes)
    )


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = _shortcut(in_planes, planes * self.expansion, stride)
        self.out_relu = SwitchableReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.out_relu(out + self.shortcut(x))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.shortcut = _shortcut(in_planes, planes * self.expansion, stride)
        self.out_relu = SwitchableReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.out_relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    def __init__(self, block, num_blocks: list[int], num_classes: int = 10):
        super().__init__()
        self.in_planes = 64
        self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.layer1 = self._make_layer(block, 64, num_blocks[0], 1)
        self.layer2 = self._make_layer(block, 128, num_blocks[1], 2)
        self.layer3 = self._make_layer(block, 256, num_blocks[2], 2)
        self.layer4 = self._make_layer(block, 512, num_blocks[3], 2)
        self.pool = GlobalPool()
        self.linear = nn.Linear(512 * block.expansion, num_classes)
        del self.in_planes

    def _make_layer(self, block, planes: int, count: int, stride: int) -> nn.Sequential:
        layers = []
        for s in [stride] + [1] * (count - 1):
            layers.append(block(self.in_planes, planes, s))
            self.in_planes = planes * block.expansion
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        return self.linear(self.pool(out))

    @property
    def head(self) -> nn.Linear:
        return self.linear

    @property
    def last_relu(self) -> SwitchableReLU:
        return self.layer4[-1].out_relu


def resnet18(num_classes: int = 10) -> CifarResNet:
    return CifarResNet(BasicBlock, [2, 2, 2, 2], num_classes)


def resnet50(num_classes: int = 10) -> CifarResNet:
    return CifarResNet(Bottleneck, [3, 4, 6, 3], num_classes)


def _conv_bn(in_planes: int, planes: int, pool: bool = False) -> nn.Sequential:
    layers = [nn.Conv2d(in_planes, planes, 3, 1, 1, bias=False), nn.BatchNorm2d(planes), nn.ReLU(inplace=True)]
    if pool:
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


class _Residual(nn.Module):
    def __init__(self, planes: int):
        super().__init__()
        self.res1 = _conv_bn(planes, planes)
        self.res2 = _conv_bn(planes, planes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.res2(self.res1(x))


class ResNet9(nn.Module):
    """The small fast ResNet of Page's DAWNBench entry: about 2x the images/s of ResNet-18 at similar clean accuracy.

    Used for the standard (non-robust) evaluator that scores synthesis quality; not meant for synthesis.
    """

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.prep = _conv_bn(3, 64)
        self.layer1 = nn.Sequential(_conv_bn(64, 128, pool=True), _Residual(128))
        self.layer2 = _conv_bn(128, 256, pool=True)
        self.layer3 = nn.Sequential(_conv_bn(256, 512, pool=True), _Residual(512))
        self.out_relu = SwitchableReLU()
        self.pool = GlobalPool()
        self.linear = nn.Linear(512, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.out_relu(self.layer3(self.layer2(self.layer1(self.prep(x)))))
        return self.linear(self.pool(out))

    @property
    def head(self) -> nn.Linear:
        return self.linear

    @property
    def last_relu(self) -> SwitchableReLU:
        return self.out_relu


def resnet9(num_classes: int = 10) -> ResNet9:
    return ResNet9(num_classes)
