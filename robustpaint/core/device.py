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
