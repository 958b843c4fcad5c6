"""The ImageNet ResNet-18 / ResNet-50 and the MobileNetV2 (with CIFAR strides) of torchvision, as modules of the
project's own, with a `pool` representation module, a linear `head` and a switchable last ReLU, and exactly
torchvision's state-dict keys, initialisation order and arithmetic (tests/test_models.py compares the outputs and
keys against torchvision's on fixed inputs). Why not import them: `torchvision.models` imports torchvision's `ops`,
which imports `torch._dynamo`: 1.4 of the 1.6 s that torchvision added to every command's start (#48). The layouts
are torchvision's (BSD-3-Clause, (c) Soumith Chintala 2016 and contributors), written out here."""

from __future__ import annotations

import torch
from torch import nn

from robustpaint.core.models.layers import GlobalPool, SwitchableReLU


def _conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def _conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """torchvision's BasicBlock (groups 1, width 64, no dilation)."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = _conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class Bottleneck(nn.Module):
    """torchvision's Bottleneck (groups 1, width 64, no dilation)."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = _conv1x1(inplanes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = _conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class ResNet(nn.Module):
    """torchvision's ResNet (its defaults: no zero-init of the residual, no dilation), with `avgpool`."""

    def __init__(self, block, layers: list[int], num_classes: int = 1000):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def _make_layer(self, block, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(_conv1x1(self.inplanes, planes * block.expansion, stride),
                                       nn.BatchNorm2d(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)


def _make_divisible(v: float, divisor: int) -> int:
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


class _ConvBNReLU6(nn.Sequential):
    """torchvision's Conv2dNormActivation with BatchNorm and ReLU6 (padding (k - 1) // 2, no conv bias)."""

    def __init__(self, inp: int, oup: int, kernel_size: int = 3, stride: int = 1, groups: int = 1):
        super().__init__(nn.Conv2d(inp, oup, kernel_size, stride, (kernel_size - 1) // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(oup), nn.ReLU6(inplace=True))
        self.out_channels = oup


class InvertedResidual(nn.Module):
    def __init__(self, inp: int, oup: int, stride: int, expand_ratio: int):
        super().__init__()
        self.stride = stride
        hidden_dim = int(round(inp * expand_ratio))
        self.use_res_connect = stride == 1 and inp == oup
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(_ConvBNReLU6(inp, hidden_dim, kernel_size=1))
        layers += [_ConvBNReLU6(hidden_dim, hidden_dim, stride=stride, groups=hidden_dim),
                   nn.Conv2d(hidden_dim, oup, 1, 1, 0, bias=False), nn.BatchNorm2d(oup)]
        self.conv = nn.Sequential(*layers)
        self.out_channels = oup

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(nn.Module):
    """torchvision's MobileNetV2 (width 1, rounding to 8, dropout 0.2)."""

    def __init__(self, num_classes: int = 1000, inverted_residual_setting=None):
        super().__init__()
        input_channel, self.last_channel = _make_divisible(32, 8), _make_divisible(1280, 8)
        features: list[nn.Module] = [_ConvBNReLU6(3, input_channel, stride=2)]
        for t, c, n, s in inverted_residual_setting:
            output_channel = _make_divisible(c, 8)
            for i in range(n):
                features.append(InvertedResidual(input_channel, output_channel, s if i == 0 else 1, expand_ratio=t))
                input_channel = output_channel
        features.append(_ConvBNReLU6(input_channel, self.last_channel, kernel_size=1))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(p=0.2), nn.Linear(self.last_channel, num_classes))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)


# torchvision's setting with the stem's stride set to 1 (below) and the 160-channel stage's to 1: a 32x32 input
# ends on a 4x4 map, like the CIFAR ResNets. benchmarks/mobilenet_layout.py times the alternatives (FGSM-RS training
# step, batch 128, channels_last): in session 4, 126 img/s fp32 for this layout, 35 for the common CIFAR variant that
# keeps the 24-channel stage at 32x32 (also 4x4), 147 for torchvision's strides (a 2x2 map, too coarse for feature
# painting); bf16 autocast was no faster on this layout (121 img/s).
_CIFAR_MOBILENET_SETTING = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1],
                            [6, 160, 3, 1], [6, 320, 1, 1]]


class CifarMobileNetV2(MobileNetV2):
    def __init__(self, num_classes: int = 10):
        super().__init__(num_classes=num_classes, inverted_residual_setting=_CIFAR_MOBILENET_SETTING)
        self.features[0][0].stride = (1, 1)
        self.features[-1][2] = SwitchableReLU(six=True)  # the ReLU6 that produces the representation
        self.pool = GlobalPool()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pool(self.features(x)))

    @property
    def head(self) -> nn.Linear:
        return self.classifier[1]

    @property
    def last_relu(self) -> SwitchableReLU:
        return self.features[-1][2]


class _LastBottleneck(Bottleneck):
    """torchvision's Bottleneck whose final ReLU can be switched to a fake ReLU."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.out_relu(out + identity)


class _LastBasicBlock(BasicBlock):
    """torchvision's BasicBlock whose final ReLU can be switched to a fake ReLU."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.out_relu(out + identity)


class ImageNetResNet(ResNet):
    """torchvision's ResNet (ImageNet stem: 7x7 stride-2 conv and max-pool); the pooling is adaptive, so any input
    side from 32 px up works, and a 128-px input ends on a 4x4 map, 224 px on 7x7."""

    def __init__(self, block, layers: list[int], num_classes: int = 1000):
        super().__init__(block, layers, num_classes=num_classes)
        last = self.layer4[-1]
        last.__class__ = _LastBottleneck if block is Bottleneck else _LastBasicBlock
        last.out_relu = SwitchableReLU()
        self.pool = GlobalPool()
        del self.avgpool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.pool(x))

    @property
    def head(self) -> nn.Linear:
        return self.fc

    @property
    def last_relu(self) -> SwitchableReLU:
        return self.layer4[-1].out_relu


class ImageNetResNet18(ImageNetResNet):
    def __init__(self, num_classes: int = 1000):
        super().__init__(BasicBlock, [2, 2, 2, 2], num_classes)


class ImageNetResNet50(ImageNetResNet):
    def __init__(self, num_classes: int = 1000):
        super().__init__(Bottleneck, [3, 4, 6, 3], num_classes)
