"""Settings shared by the CLI and the window (a small JSON file in the user's config folder).

The window keeps its own layout in QSettings; what the headless CLI must also see (the MNIST folder) lives
here, so `advstudio evaluate` finds the dataset folder the user picked in the window.

Nothing in this file can stop the app: a file that is not a regular file (a FIFO would hang the read), too
large, too deeply nested or not a JSON object is moved aside (NAME.corrupt-<time>, kept for inspection) and
the defaults are used; a value of the wrong type is dropped. Each such problem is logged and kept in
`take_problems()` so the window can say what it ignored."""

from __future__ import annotations

import json
import logging
import os
import stat
import time
from pathlib import Path

from advstudio.core.errors import SettingsError

ENV_CONFIG_DIR = "ADVSTUDIO_CONFIG_DIR"
MAX_SETTINGS_BYTES = 256 * 1024
MAX_DEPTH = 16
MAX_TEXT = 4096  # a path or a name; longer is not a value we wrote
# key -> (type, what it is, in plain words); keys not listed are kept as they are (a later version's)
SCHEMA: dict[str, tuple[type, str]] = {"mnist_dir": (str, "the MNIST folder")}

log = logging.getLogger(__name__)
_problems: list[str] = []


def settings_path() -> Path:
    override = os.environ.get(ENV_CONFIG_DIR)
    if override:
        return Path(override) / "settings.json"
    from platformdirs import user_config_dir

    return Path(user_config_dir("advstudio", appauthor=False)) / "settings.json"


def read_settings_file(path: str | os.PathLike) -> dict:
    """The settings in `path` ({} if there is no file), values of the wrong type dropped (noted); SettingsError
    when the file as a whole cannot be used."""
    from advstudio.core.files import NotARegularFile, check_regular_file
    from advstudio.core.jsonlimits import JsonShapeError, loads_limited

    path = Path(path)
    if not os.path.lexists(path):
        return {}
    try:
        check_regular_file(path, MAX_SETTINGS_BYTES)
        text = path.read_text(encoding="utf-8")
        data = loads_limited(text, MAX_DEPTH)
    except NotARegularFile as exc:
        raise SettingsError(str(exc)) from None
    except UnicodeDecodeError as exc:
        raise SettingsError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except JsonShapeError as exc:
        raise SettingsError(f"{path} is {exc}") from None
    except OSError as exc:
        raise SettingsError(f"{path} cannot be read ({exc.strerror or exc})") from None
    if not isinstance(data, dict):
        raise SettingsError(f"{path} holds a JSON {type(data).__name__}, not an object {{…}}")
    return _checked(data, path)


def _checked(data: dict, path: Path) -> dict:
    out = {}
    for key, value in data.items():
        typ, what = SCHEMA.get(key, (object, key))
        if not isinstance(value, typ) or (isinstance(value, str) and (len(value) > MAX_TEXT or "\0" in value)):
            _note(f"{what} ({key!r} in {path.name}) was not a usable {typ.__name__}; it was ignored")
            continue
        out[key] = value
    return out


def load_settings() -> dict:
    """The settings, or {} when the file is missing or unusable: a broken file never stops the app. An unusable
    file is moved aside and the problem noted (take_problems)."""
    path = settings_path()
    try:
        return read_settings_file(path)
    except SettingsError as exc:
        kept = move_aside(path)
        _note(f"the shared settings file could not be used ({exc}); the defaults are used"
              + (f" and the old file is kept as {kept.name}" if kept else ""))
        return {}


def move_aside(path: str | os.PathLike, why: str = "corrupt") -> Path | None:
    """Rename a settings file to NAME.<why>-<time> beside it (never opening it: it may be a FIFO), so it is
    kept for inspection; the new path, or None when there was nothing to move or it could not be moved."""
    path = Path(path)
    if not os.path.lexists(path):
        return None
    if not movable(path):
        log.warning("%s is a folder or a device: it is left where it is", path)
        return None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target, n = path.with_name(f"{path.name}.{why}-{stamp}"), 1
    while os.path.lexists(target):
        n += 1
        target = path.with_name(f"{path.name}.{why}-{stamp}-{n}")
    try:
        os.replace(path, target)
    except OSError as exc:
        log.warning("could not move %s aside: %s", path, exc)
        return None
    log.warning("moved the settings file %s aside to %s", path, target)
    return target


def movable(path: str | os.PathLike) -> bool:
    """Whether a file in the settings' place may be renamed or replaced: a file, link, FIFO or socket, never a
    folder or a device node (as root, replacing /dev/null would break the system)."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return False
    return not (stat.S_ISDIR(mode) or stat.S_ISCHR(mode) or stat.S_ISBLK(mode))


def reset_settings() -> Path | None:
    """Move the shared settings file aside (the defaults apply from now on); its new path, if there was one."""
    return move_aside(settings_path(), "reset")


def take_problems() -> list[str]:
    """The problems noted since the last call (each a sentence naming what was ignored), and forget them."""
    out = list(_problems)
    _problems.clear()
    return out


def _note(message: str) -> None:
    log.warning("settings: %s", message)
    if message not in _problems:
        _problems.append(message)


def update_settings(**values) -> None:
    """Merge values into the settings file (written atomically); None removes a key."""
    from advstudio.core.files import atomic_write_text

    path = settings_path()
    if os.path.lexists(path) and not movable(path):
        _note(f"the shared settings file {path} is a folder or a device, so nothing is saved in it")
        return
    data = load_settings()
    for key, value in values.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
