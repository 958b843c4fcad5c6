"""What the processor can do: bf16 autocast pays off only on CPUs with native bf16 units."""

from __future__ import annotations

import functools
from pathlib import Path


@functools.cache
def cpu_supports_bf16() -> bool:
    """True where the CPU has native bf16 matrix units (AMX or AVX512-BF16), the only case bf16 pays off."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


DEVICE_HELP = "auto (a CUDA or MPS GPU when there is one, else cpu; the default), cpu, cuda, cuda:N or mps"


def available_devices() -> list[str]:
    """The devices this machine can run on, GPUs after the CPU."""
    import torch
    found = ["cpu"]
    if torch.cuda.is_available():
        found += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if torch.backends.mps.is_available():
        found.append("mps")
    return found


def resolve_device(name: str = "auto") -> str:
    """`auto`: the first GPU found, else cpu; any other name is checked against what this machine has, so a missing
    GPU is named at once (never a failure deep inside the first step)."""
    import torch

    from robustpaint.core.errors import DeviceError
    if name == "auto":
        found = available_devices()
        return found[1] if len(found) > 1 else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise DeviceError(f"unknown device {name!r} (use {DEVICE_HELP})") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError("device cuda asked for, but no CUDA GPU is available (use --device cpu or auto)")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise DeviceError(f"there is no {name} (this machine has {torch.cuda.device_count()} CUDA GPU(s))")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise DeviceError("device mps asked for, but MPS is not available (use --device cpu or auto)")
    if device.type not in ("cpu", "cuda", "mps"):
        raise DeviceError(f"unsupported device {name!r} (use {DEVICE_HELP})")
    return name


def bf16_pays_off(device: str) -> bool:
    """Whether bf16 autocast is the faster choice on `device`: GPUs that support it, CPUs with bf16 units."""
    if device.startswith("cuda"):
        import torch
        index = int(device.split(":")[1]) if ":" in device else 0
        if not torch.cuda.is_available() or index >= torch.cuda.device_count():
            return False  # a name from a setting or a recipe of another machine: the run says so when it starts
        return torch.cuda.get_device_capability(index) >= (8, 0)  # Ampere and later have bf16 tensor cores
    return device == "cpu" and cpu_supports_bf16()
