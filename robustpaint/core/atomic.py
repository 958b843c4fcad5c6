"""Atomic file writes: write a temporary file beside the target, fsync, then rename over it.

A crash at any moment leaves either the old file or the new one, never half of one; the temporary file a killed
writer left behind is removed by the next write to the same target.

Links (#46): a symbolic link to an existing regular file is written through (the file it names is replaced, the link
stays), as `cp` and the shell's `>` do. A dangling link (one whose target does not exist) is refused, as GNU cp
refuses ("not writing through dangling symlink"): written through, it would put the file wherever the link points,
creating folders there. The only folders ever created are those of the path the caller named.
"""

from __future__ import annotations

import contextlib
import glob
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from robustpaint.core.errors import RobustPaintError


STALE_SECONDS = 600  # a temporary file of ours this old belongs to a writer that was killed


def _remove_stale_temporaries(target: Path) -> None:
    """Removes `.NAME.XXXXXXXX.tmp` files of this target older than STALE_SECONDS (a SIGKILL left them)."""
    now = time.time()
    for name in glob.glob(os.path.join(glob.escape(str(target.parent)), f".{glob.escape(target.name)}.*.tmp")):
        with contextlib.suppress(OSError):
            if now - os.lstat(name).st_mtime > STALE_SECONDS:
                os.unlink(name)


def writable_target(target: str | os.PathLike) -> Path:
    """The file a write to `target` replaces: `target` itself, or the existing regular file a link at `target`
    names. Refused (one line, nothing written or created): a dangling link, a link or a folder of the path that
    points nowhere, or a target that exists but is not a regular file (a device, a FIFO, a folder)."""
    given = Path(target)
    if os.path.islink(given):
        resolved = Path(os.path.realpath(given))
        if not resolved.exists():
            raise RobustPaintError(f"{given} is a symbolic link to {os.readlink(given)}, which does not exist; "
                                   f"refusing to write through a dangling link (remove it, or name another file)")
        target = resolved
    else:
        target = given
        missing = target.parent
        while not missing.exists():  # the folders that would be made: none of them may be a link to nowhere
            if os.path.islink(missing):
                raise RobustPaintError(f"cannot write {given}: the folder {missing} is a symbolic link to "
                                       f"{os.readlink(missing)}, which does not exist")
            if missing.parent == missing:
                break
            missing = missing.parent
    if target.exists() and not target.is_file():
        raise RobustPaintError(f"{target} exists and is not a regular file (a folder, device or pipe); refusing to "
                               f"replace it")
    return target


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yields a temporary path to write; on success it replaces `target`, on failure it is removed.

    A symlink to an existing file is written through (its target file is replaced, the link stays); a dangling
    link, and a target that exists but is not a regular file (a device, a FIFO, a folder), are refused before
    anything is written (`writable_target`). Missing folders of `target` itself are made; never those a link
    points to."""
    linked = os.path.islink(target)
    target = writable_target(target)
    if not linked:
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
