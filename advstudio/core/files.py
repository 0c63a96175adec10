"""Saving files so that a crash, a full disk or a cancelled job never leaves half a file: every file the app
writes goes through here. No torch (the window's exports use it on the GUI thread)."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path


class NotARegularFile(OSError):
    """A path that is missing, a folder, or a FIFO, device or socket: reading one could hang or never end.
    Callers turn it into their own typed error (ModelFileError, DatasetError, ...) with the file's role."""


def check_regular_file(path: str | os.PathLike, max_bytes: int | None = None) -> Path:
    """The path, if it names a regular file (following symlinks) no larger than `max_bytes`; else
    NotARegularFile with a plain message. Call it before opening anything a user hands in."""
    path = Path(path)
    try:
        st = path.stat()
    except OSError as exc:
        raise NotARegularFile(f"{path} cannot be read ({exc.strerror or exc})") from None
    if stat.S_ISDIR(st.st_mode):
        raise NotARegularFile(f"{path} is a folder, not a file")
    if not stat.S_ISREG(st.st_mode):
        raise NotARegularFile(f"{path} is not a regular file (a pipe, device or socket), so it is not read")
    if max_bytes is not None and st.st_size > max_bytes:
        raise NotARegularFile(f"{path} is {st.st_size / 1e6:.1f} MB, more than the {max_bytes / 1e6:.1f} MB "
                              "such a file may have")
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write to a temporary file in the same folder, flush it to disk, then rename over the target."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _umask() -> int:
    """The process umask, read without changing it (os.umask would briefly race other threads)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))
