"""torchvision's MobileNetV2 (with CIFAR strides) and ImageNet ResNet-18 / ResNet-50, given a `pool` representation
module, a linear `head` and a switchable last ReLU, without changing their state-dict keys."""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models import MobileNetV2
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

from robustpaint.core.models.layers import GlobalPool, SwitchableReLU

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
