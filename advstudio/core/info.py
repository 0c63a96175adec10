"""Library versions and a timestamp for model metadata and reports."""

from __future__ import annotations

import datetime as _dt
import platform
import sys


def library_versions() -> dict:
    import numpy
    import torch

    versions = {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "platform": platform.platform(),
    }
    try:
        import safetensors

        versions["safetensors"] = safetensors.__version__
    except Exception:  # noqa: BLE001
        pass
    try:
        import torchvision

        versions["torchvision"] = torchvision.__version__
    except Exception:  # noqa: BLE001 - torchvision is optional at run time
        pass
    from advstudio import __version__

    versions["advstudio"] = __version__
    return versions


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()
