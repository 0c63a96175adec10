"""Where the files shipped inside the package are (importlib.resources): the bundled models, lessons, icons.
No torch: the window and the registry ask for these paths on the GUI thread."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

BUNDLED_MODEL = "mnist_cnn.safetensors"
ROBUST_MODEL = "mnist_cnn_robust.safetensors"


def resource_path(*parts: str) -> Path:
    return Path(str(files("advstudio").joinpath("resources", *parts)))


def bundled_model_path() -> Path:
    """The standard CNN shipped with the app (the one the article trains)."""
    return resource_path(BUNDLED_MODEL)


def robust_model_path() -> Path:
    """The bundled adversarially trained model; check .is_file() — older checkouts lack it."""
    return resource_path(ROBUST_MODEL)
