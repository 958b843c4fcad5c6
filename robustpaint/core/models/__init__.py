"""Model registry: architectures by name, wrapped with their normalisation."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from robustpaint.core.models.classifier import FEATURE_MAP, REPRESENTATION, Classifier

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2023, 0.1994, 0.2010)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Architecture:
    name: str
    build: Callable[[int], nn.Module]
    input_size: int  # the resolution it was designed for; pooling is adaptive, so larger canvases work too
    description: str
    cpu_faster_in_fp32: bool = False  # measured: bf16 autocast slows its training and PGD steps on AVX512-BF16 CPUs
    mean: tuple[float, float, float] = CIFAR10_MEAN  # the normalisation a new model of this layout trains with
    std: tuple[float, float, float] = CIFAR10_STD


def _resnet18(n):
    from robustpaint.core.models.cifar_resnet import resnet18
    return resnet18(n)


def _resnet9(n):
    from robustpaint.core.models.cifar_resnet import resnet9
    return resnet9(n)


def _resnet50(n):
    from robustpaint.core.models.cifar_resnet import resnet50
    return resnet50(n)


def _mobilenet(n):
    from robustpaint.core.models.torchvision_nets import CifarMobileNetV2
    return CifarMobileNetV2(n)


def _imagenet_resnet18(n):
    from robustpaint.core.models.torchvision_nets import ImageNetResNet18
    return ImageNetResNet18(n)


def _imagenet_resnet50(n):
    from robustpaint.core.models.torchvision_nets import ImageNetResNet50
    return ImageNetResNet50(n)


ARCHITECTURES: dict[str, Architecture] = {
    a.name: a
    for a in [
        Architecture("resnet18", _resnet18, 32, "CIFAR ResNet-18 (robustness-library layout)"),
        Architecture("resnet9", _resnet9, 32, "CIFAR ResNet-9 (Page's DAWNBench net; the fast standard evaluator)"),
        Architecture("resnet50", _resnet50, 32, "CIFAR ResNet-50 (robustness-library layout)"),
        Architecture("mobilenet_v2", _mobilenet, 32, "torchvision MobileNetV2 with CIFAR strides",
                     cpu_faster_in_fp32=True),
        Architecture("imagenet_resnet18", _imagenet_resnet18, 224, "torchvision ResNet-18 (ImageNet layout)",
                     mean=IMAGENET_MEAN, std=IMAGENET_STD),
        Architecture("imagenet_resnet50", _imagenet_resnet50, 224, "torchvision ResNet-50 (ImageNet layout)",
                     mean=IMAGENET_MEAN, std=IMAGENET_STD),
    ]
}


def bf16_is_faster(arch: str | None, device_type: str) -> bool:
    """Whether bf16 autocast speeds up this architecture's steps here: on CUDA, and on CPUs with bf16 units unless
    the architecture is measured to run faster in fp32 there (MobileNetV2's depthwise convolutions gain nothing)."""
    if device_type == "cuda":
        from robustpaint.core.device import bf16_pays_off
        return bf16_pays_off("cuda")  # bf16 tensor cores: compute capability 8.0 and up
    from robustpaint.core.device import cpu_supports_bf16
    slower = arch in ARCHITECTURES and ARCHITECTURES[arch].cpu_faster_in_fp32
    return device_type == "cpu" and cpu_supports_bf16() and not slower


def choose_precision(requested: str, device, arch: str | None = None) -> bool:
    """True for bf16 autocast. "auto" takes it where bf16_is_faster says so (CUDA; CPUs with bf16 units unless the
    architecture is measured faster in fp32 there); "bf16" and "fp32" are what they say. `device`: a torch.device
    or a name such as "cuda:0"."""
    if requested not in ("auto", "bf16", "fp32"):
        raise ValueError(f"precision {requested!r}: use auto, bf16 or fp32")
    if requested != "auto":
        return requested == "bf16"
    return bf16_is_faster(arch, getattr(device, "type", None) or str(device).split(":")[0])


_INITIALISERS = ("uniform_", "normal_", "constant_", "ones_", "zeros_", "kaiming_uniform_", "kaiming_normal_",
                 "xavier_uniform_", "xavier_normal_", "trunc_normal_")


@contextlib.contextmanager
def _unallocated():
    """Layers built on the meta device with torch.nn.init's functions doing nothing: on meta tensors they go through
    torch._refs, whose first call imports torch._dynamo (1.4 s of a command's start, #48), to fill tensors that the
    caller replaces next anyway. Models are built by one thread at a time (the CLI's, or the app's worker)."""
    saved = {name: getattr(torch.nn.init, name) for name in _INITIALISERS}
    for name in _INITIALISERS:
        setattr(torch.nn.init, name, lambda tensor, *args, **kwargs: tensor)
    try:
        with torch.device("meta"):
            yield
    finally:
        for name, function in saved.items():
            setattr(torch.nn.init, name, function)


def build_classifier(arch: str, classes: list[str], mean=None, std=None, input_size: int | None = None, *,
                     empty: bool = False) -> Classifier:
    """A freshly initialised classifier of a registered architecture; the normalisation and input size default to
    the layout's. `empty`: the network's tensors stay unallocated (meta) for a caller that loads every one of them
    next, which skips the random initialisation (0.09 s of an ImageNet ResNet-18's start)."""
    if arch not in ARCHITECTURES:
        from robustpaint.core.errors import ModelError
        raise ModelError(f"unknown architecture {arch!r}; known: {', '.join(ARCHITECTURES)}")
    layout = ARCHITECTURES[arch]
    with _unallocated() if empty else contextlib.nullcontext():
        net = layout.build(len(classes))
    return Classifier(net, mean or layout.mean, std or layout.std, classes, arch, input_size or layout.input_size)


__all__ = ["ARCHITECTURES", "Architecture", "Classifier", "bf16_is_faster", "build_classifier", "choose_precision",
           "REPRESENTATION", "FEATURE_MAP", "CIFAR10_CLASSES", "CIFAR10_MEAN", "CIFAR10_STD", "IMAGENET_MEAN",
           "IMAGENET_STD"]
