"""Atomic file writes: write a temporary file beside the target, fsync, then rename over it.

A crash at any moment leaves either the old file or the new one, never half of one; the temporary file a killed
writer left behind is removed by the next write to the same target.
"""

from __future__ import annotations

import contextlib
import glob
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path


STALE_SECONDS = 600  # a temporary file of ours this old belongs to a writer that was killed


def _remove_stale_temporaries(target: Path) -> None:
    """Removes `.NAME.XXXXXXXX.tmp` files of this target older than STALE_SECONDS (a SIGKILL left them)."""
    now = time.time()
    for name in glob.glob(os.path.join(glob.escape(str(target.parent)), f".{glob.escape(target.name)}.*.tmp")):
        with contextlib.suppress(OSError):
            if now - os.lstat(name).st_mtime > STALE_SECONDS:
                os.unlink(name)


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yields a temporary path to write; on success it replaces `target`, on failure it is removed.

    A symlink is written through (its target file is replaced, the link stays); a target that exists but is not a
    regular file (a device, a FIFO, a folder) is refused before anything is written."""
    target = Path(os.path.realpath(target)) if os.path.islink(target) else Path(target)
    if target.exists() and not target.is_file():
        from robustpaint.core.errors import RobustPaintError
        raise RobustPaintError(f"{target} exists and is not a regular file (a folder, device or pipe); "
                               f"refusing to replace it")
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp makes 0600 (and some writers replace the file); give it the permissions a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)
        with open(tmp_path, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp_path, target)
        with contextlib.suppress(OSError):  # make the rename itself durable where the platform allows
            dir_fd = os.open(target.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def atomic_write_bytes(target: str | os.PathLike, data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(target: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(target, text.encode("utf-8"))
