"""Saving files so that a crash, a full disk or a cancelled job never leaves half a file: every file the app
writes goes through here. No torch (the window's exports use it on the GUI thread)."""

from __future__ import annotations

import os
import re
import stat
import tempfile
import time
from pathlib import Path

# A temporary file of atomic_write_bytes: ".NAME.PID.XXXXXXXX.tmp" (older versions: ".NAME.XXXXXXXX.tmp"), where
# XXXXXXXX is mkstemp's random part. Only names of exactly this shape are ever removed as stale.
_TEMP_TAIL = re.compile(r"(?:(\d{1,10})\.)?[a-z0-9_]{8}\.tmp")
STALE_TEMP_AGE_S = 10 * 60  # any temporary file this old is stale: a live write finishes in seconds
# One whose writer is gone is stale once this old, so a name that only looks like ours (the temporary file of a
# target called "x.123") is never taken from a write in progress.
DEAD_WRITER_AGE_S = 30


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
    """Write to a temporary file in the same folder, flush it to disk, then rename over the target. A folder,
    FIFO, device or socket at the target is never replaced (OutputRefused); a symlink is replaced by the file
    (the CLI refuses symlinked outputs earlier, with check_output_file). Temporary files that earlier, killed
    writes of this same target left behind are removed first."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _refuse_special(path)
    remove_stale_temps(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
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


class OutputRefused(OSError):
    """An output path that must not be written: a folder, a symlink, a FIFO, device or socket, or a place
    that cannot be written. Raised before any work starts, so nothing is lost."""


def _refuse_special(path: Path) -> None:
    try:
        st = path.lstat()
    except OSError:
        return  # nothing there yet
    if stat.S_ISDIR(st.st_mode):
        raise OutputRefused(f"{path} is a folder; give a file name to write")
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
        raise OutputRefused(f"{path} is not a regular file (a pipe, device or socket); it is never replaced")


def check_output_file(path: str | os.PathLike) -> Path:
    """The path, if a file may be written there: nothing there yet, or a regular file (replaced). Symlinks are
    refused rather than followed or replaced (give the real path), as are folders, FIFOs, devices and sockets,
    and places that cannot be written. Call it before the work that produces the file starts."""
    path = Path(path)
    if path.is_symlink():
        raise OutputRefused(f"{path} is a symbolic link; outputs are never written through or over a link, "
                            "so give the real path")
    _refuse_special(path)
    folder = path.parent
    while not folder.exists() and folder != folder.parent:  # the nearest folder that exists (made on write)
        folder = folder.parent
    if not folder.is_dir():
        raise OutputRefused(f"{path} cannot be written: {folder} is a file, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputRefused(f"{path} cannot be written: no permission to write in {folder}")
    if folder == path.parent:
        remove_stale_temps(path)
    return path


def remove_stale_temps(path: str | os.PathLike, max_age_s: float = STALE_TEMP_AGE_S) -> list[Path]:
    """Remove the temporary files that killed atomic writes of `path` left beside it: only regular files named
    like ours (".NAME.PID.XXXXXXXX.tmp"), and only when the file is older than `max_age_s`, or older than
    DEAD_WRITER_AGE_S and the process that wrote it is gone. Returns what was removed; never raises."""
    path = Path(path)
    prefix = f".{path.name}."
    removed: list[Path] = []
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        if not entry.name.startswith(prefix):
            continue
        match = _TEMP_TAIL.fullmatch(entry.name[len(prefix):])
        if match is None:
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode):
            continue
        pid = int(match.group(1)) if match.group(1) else None
        age = now - st.st_mtime
        dead = pid is not None and pid != os.getpid() and age > DEAD_WRITER_AGE_S and not _pid_alive(pid)
        if age > max_age_s or dead:
            try:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
            except OSError:
                pass
    return removed


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # someone else's process (or an impossible pid): keep the file until it is old
    return True
