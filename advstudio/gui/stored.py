"""The window's own settings (QSettings), read back so that nothing in them can stop the app.

Every value is read raw and checked here (QSettings' own type conversion turns "abc" into 0 and lets a huge
number through to Qt, which raises OverflowError). A value that is unusable is removed and noted, one out of
range is clamped and noted; the window shows the notes once it is up (take_problems). A settings file that is
not a regular file (a FIFO would hang the read), too large, or an INI Qt cannot parse is moved aside
(NAME.corrupt-<time>, kept) before Qt reads it, and fresh settings are used."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

from advstudio.core.files import NotARegularFile, check_regular_file
from advstudio.core.settings import movable, move_aside

MAX_INI_BYTES = 4 * 1024 * 1024
MAX_TEXT = 4096  # a path or a name
MAX_BYTES = 256 * 1024  # a saved geometry or dock layout is a few hundred bytes
# keys in plain words, for the message that says what was ignored
LABELS = {
    "canvas/brush_width": "brush width",
    "window/geometry": "window size and position",
    "window/state": "panel layout",
    "model/last": "last model",
    "lesson/file": "lesson file",
    "view/theme": "colour theme",
    "data/folder": "MNIST folder",
    "paths/last_dir": "last folder",
    "workspaces/panels": "panels of each tab",
}
_INT = re.compile(r"\s*[+-]?\d{1,40}\s*")  # longer is not a number we wrote

log = logging.getLogger(__name__)
_problems: dict[str, list[str]] = {}  # QSettings.fileName() -> notes not yet shown


# ------------------------------------------------------------------ the file
def default_settings_file() -> Path | None:
    """The file QSettings() uses, found without reading it (QSettings reads its file when it is made): the
    name of a sibling that does not exist, with the application's name put back. None where settings are
    not a file (the Windows registry)."""
    from PySide6.QtCore import QCoreApplication

    probe_name = "advstudio-probe-not-a-file"
    probe = QSettings(QSettings.Format.NativeFormat, QSettings.Scope.UserScope,
                      QCoreApplication.organizationName(), probe_name)
    name = probe.fileName()
    if not name or probe_name not in name or not os.path.isabs(name):
        return None
    return Path(name.replace(probe_name, QCoreApplication.applicationName()))


def open_settings(path: str | os.PathLike | None = None) -> QSettings:
    """QSettings in `path` (an INI file), else the user's: first a file that cannot be read safely is moved
    aside, and one Qt cannot parse is moved aside after reading; both are noted for the window."""
    file = Path(path) if path else default_settings_file()
    notes = []
    if file is not None and os.path.lexists(file):
        try:
            check_regular_file(file, MAX_INI_BYTES)
        except NotARegularFile as exc:
            if not movable(file):  # a folder or a device is never renamed: this session's settings are not kept
                settings = _make(_session_file())
                _note(settings, f"the settings file could not be used ({exc}); the defaults are used and "
                      "nothing is kept after this session")
                return settings
            notes.append(_moved(file, str(exc)))
    settings = _make(path)
    if settings.status() == QSettings.Status.FormatError and file is not None:
        del settings  # Qt never writes a file it could not parse; let go of it before moving it
        notes.append(_moved(file, f"{file} is not a settings file Qt can read"))
        settings = _make(path)
    for message in notes:
        _note(settings, message)
    return settings


def _session_file() -> str:
    import tempfile

    fd, name = tempfile.mkstemp(prefix="advstudio-session-", suffix=".ini")
    os.close(fd)
    return name


def _make(path: str | os.PathLike | None) -> QSettings:
    return QSettings(str(path), QSettings.Format.IniFormat) if path else QSettings()


def _moved(file: Path, why: str) -> str:
    kept = move_aside(file)
    return f"the settings file could not be used ({why}); the defaults are used" + (
        f" and the old file is kept as {kept.name}" if kept else "")


def reset_settings(settings: QSettings) -> Path | None:
    """Every setting back to its default: the file is copied aside first (NAME.reset-<time>), then cleared.
    The copy's path, if there was a file to keep."""
    import shutil

    settings.sync()
    file = Path(settings.fileName()) if os.path.isabs(settings.fileName()) else None
    kept = None
    if file is not None and file.is_file():
        kept = file.with_name(f"{file.name}.reset-{_stamp()}")
        try:
            shutil.copy2(file, kept)
        except OSError as exc:
            log.warning("could not keep a copy of %s: %s", file, exc)
            kept = None
    settings.clear()
    settings.sync()
    _problems.pop(settings.fileName(), None)
    return kept


def _stamp() -> str:
    import time

    return time.strftime("%Y%m%d-%H%M%S")


# ------------------------------------------------------------------ the values
def read_int(settings: QSettings, key: str, default: int, lo: int, hi: int) -> int:
    """A whole number in lo..hi: one out of range is clamped, one that is not a number gives the default."""
    raw = settings.value(key)
    if raw is None:
        return default
    value = _as_int(raw)
    if value is None:
        return _drop(settings, key, f"{_label(key)} {_show(raw)} is not a whole number", default)
    if not lo <= value <= hi:
        clamped = min(max(value, lo), hi)
        _note(settings, f"{_label(key)} {_show(raw)} is outside {lo}–{hi}; {clamped} is used")
        settings.setValue(key, clamped)
        return clamped
    return value


def read_bool(settings: QSettings, key: str, default: bool) -> bool:
    raw = settings.value(key)
    if raw is None:
        return default
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower() if isinstance(raw, (str, int)) else ""
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    return _drop(settings, key, f"{_label(key)} {_show(raw)} is not true or false", default)


def read_text(settings: QSettings, key: str, default: str = "", max_len: int = MAX_TEXT,
              choices: tuple[str, ...] | None = None) -> str:
    """Text of at most max_len characters (and one of `choices`, if given); else the default."""
    raw = settings.value(key)
    if raw is None:
        return default
    if not isinstance(raw, str) or "\0" in raw:
        return _drop(settings, key, f"{_label(key)} {_show(raw)} is not text", default)
    if len(raw) > max_len:
        return _drop(settings, key, f"{_label(key)} is {len(raw):,} characters long (at most {max_len:,})", default)
    if choices is not None and raw not in choices:
        return _drop(settings, key, f"{_label(key)} {_show(raw)} is not one of {', '.join(choices)}", default)
    return raw


def read_path(settings: QSettings, key: str, default: str = "") -> str:
    """A file or folder path as text ('' if none). Whether it exists is the caller's business, but it must be
    one the system can look up: a name too long or a loop makes Path.is_file() raise, not answer False."""
    path = read_text(settings, key, default, MAX_TEXT)
    if not path or path == default:
        return path
    try:
        os.stat(path)
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        pass  # gone or hidden: the caller falls back as for any missing file
    except (OSError, ValueError) as exc:
        return _drop(settings, key, f"{_label(key)} {_show(path)} cannot be looked up "
                     f"({getattr(exc, 'strerror', None) or exc})", default)
    return path


def read_bytes(settings: QSettings, key: str) -> QByteArray | None:
    """Bytes saved by Qt (a geometry, a dock layout), or None."""
    raw = settings.value(key)
    if raw is None:
        return None
    if isinstance(raw, (bytes, bytearray)):
        raw = QByteArray(bytes(raw))
    if not isinstance(raw, QByteArray):
        return _drop(settings, key, f"{_label(key)} {_show(raw)} is not layout data saved by the app", None)
    if raw.size() > MAX_BYTES:
        return _drop(settings, key, f"{_label(key)} is {raw.size():,} bytes (at most {MAX_BYTES:,})", None)
    return raw


def drop(settings: QSettings, key: str, why: str) -> None:
    """Remove a value a caller found unusable (e.g. a geometry Qt refused), and note it."""
    _drop(settings, key, f"{_label(key)} {why}", None)


def take_problems(settings: QSettings) -> list[str]:
    """The notes about `settings` not yet shown (each names what was ignored), and forget them."""
    return _problems.pop(settings.fileName(), [])


def _as_int(raw: object) -> int | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str) and _INT.fullmatch(raw):
        return int(raw)
    return None


def _drop(settings: QSettings, key: str, message: str, default):
    settings.remove(key)
    _note(settings, message + "; the default is used")
    return default


def _note(settings: QSettings, message: str) -> None:
    log.warning("settings %s: %s", settings.fileName(), message)
    notes = _problems.setdefault(settings.fileName(), [])
    if message not in notes:
        notes.append(message)


def _label(key: str) -> str:
    return LABELS.get(key, f"the setting {key!r}")


def _show(raw: object) -> str:
    """The stored value as the message names it: text quoted (and cut short), anything else by its kind."""
    if isinstance(raw, str):
        return f'"{raw[:30]}…"' if len(raw) > 30 else f'"{raw}"'
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return str(raw)[:30]
    return f"(a {type(raw).__name__})"
