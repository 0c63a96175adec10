"""Settings shared by the CLI and the window (a small JSON file in the user's config folder).

The window keeps its own layout in QSettings; what the headless CLI must also see (the MNIST folder) lives
here, so `advstudio evaluate` finds the dataset folder the user picked in the window."""

from __future__ import annotations

import json
import os
from pathlib import Path

ENV_CONFIG_DIR = "ADVSTUDIO_CONFIG_DIR"


def settings_path() -> Path:
    override = os.environ.get(ENV_CONFIG_DIR)
    if override:
        return Path(override) / "settings.json"
    from platformdirs import user_config_dir

    return Path(user_config_dir("advstudio", appauthor=False)) / "settings.json"


def load_settings() -> dict:
    """The settings, or {} when the file is missing or unreadable (a broken file never stops the app)."""
    try:
        data = json.loads(settings_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def update_settings(**values) -> None:
    """Merge values into the settings file (written atomically); None removes a key."""
    from advstudio.core.files import atomic_write_text

    data = load_settings()
    for key, value in values.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    atomic_write_text(settings_path(), json.dumps(data, indent=2, sort_keys=True) + "\n")
