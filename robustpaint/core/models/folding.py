"""BatchNorm folded into the convolution before it, for synthesis: a model in eval mode computes the same function
with one op fewer per layer, forward and backward (benchmarks/pgd_step.py --fold measures it; the logits agree to
about 1e-6)."""

from __future__ import annotations

import copy

from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_weights


def _fused(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """`conv` with `bn` folded in, in place: torch's fuse_conv_bn_eval without its deepcopy of the convolution
    (0.27 s of a command's start for the 20 of a ResNet-18, #48); the same fuse_conv_bn_weights, so the same
    numbers. The model is a copy already, or its caller's alone."""
    conv.weight, conv.bias = fuse_conv_bn_weights(conv.weight, conv.bias, bn.running_mean, bn.running_var, bn.eps,
                                                  bn.weight, bn.bias)
    return conv


def fold_batchnorm(model: nn.Module, in_place: bool = False) -> nn.Module:
    """An eval-mode copy of `model` (or `model` itself, `in_place`, for a caller that owns it alone) where each
    Conv2d followed by its BatchNorm2d (named convN / bnN in one module, as in the ResNets, or next to each other in a
    Sequential, as in shortcuts and MobileNetV2) is one Conv2d, and the BatchNorm an Identity. Module names stay, so
    hooks on other layers (the representation) still find them."""
    model = (model if in_place else copy.deepcopy(model)).eval()
    for parent in list(model.modules()):
        children = dict(parent.named_children())
        for name, child in children.items():
            partner = name.replace("conv", "bn")
            if (isinstance(child, nn.Conv2d) and partner != name
                    and isinstance(children.get(partner), nn.BatchNorm2d)):
                setattr(parent, name, _fused(child, children[partner]))
                setattr(parent, partner, nn.Identity())
        if isinstance(parent, nn.Sequential):
            items = list(parent)
            for i in range(len(items) - 1):
                if isinstance(items[i], nn.Conv2d) and isinstance(items[i + 1], nn.BatchNorm2d):
                    parent[i] = _fused(items[i], items[i + 1])
                    parent[i + 1] = nn.Identity()
    return model
