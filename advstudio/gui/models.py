"""The models the whole window knows: the current model's description (ModelInfo, the worker's reply to a
load) and the app-wide registry of models that the labs, the comparison and the defenses offer (ModelRegistry).

Torch-free: these cross threads as plain values, and the views import them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from advstudio.core.model_meta import fraction, model_classes

BUNDLED_KEY = "bundled"


@dataclass(frozen=True)
class ModelInfo:
    """The model the worker has just made current."""

    name: str
    path: str
    device: str
    meta: dict = field(default_factory=dict)
    bundled: bool = False

    @property
    def accuracy(self) -> float | None:
        acc = self.meta.get("test_accuracy")
        return float(acc) if fraction(acc) else None  # not NaN, ∞, text or true: the file maker's data

    @property
    def classes(self) -> tuple[str, ...]:
        """The names of the model's outputs (the digits "0".."9" for MNIST models), one per class."""
        return model_classes(self.meta)

    @property
    def defended(self) -> bool:
        """A defended wrapper built in this session (not a file any other feature could load)."""
        return bool(self.meta.get("defense"))


@dataclass(frozen=True)
class ModelEntry:
    """A model a feature can evaluate: a safetensors file, or (path None) a model trained in this session that
    the worker keeps under `key` (see the training feature's jobs)."""

    key: str
    name: str
    path: str | None = None


def file_entry(path: str | Path, name: str | None = None) -> ModelEntry:
    """The registry entry of a model file: keyed by its resolved path, so a file is listed once."""
    path = Path(path)
    return ModelEntry(str(path.resolve()), name or path.stem, str(path))


class ModelRegistry(QObject):
    """Every model this session knows, in the order they were added; starts with the bundled model (and the
    bundled robust one when it is installed). Features listen to `modelsChanged` instead of asking each other."""

    modelsChanged = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        from advstudio.core.resources import bundled_model_path, robust_model_path

        self._entries: list[ModelEntry] = [ModelEntry(BUNDLED_KEY, "bundled model", str(bundled_model_path()))]
        robust = robust_model_path()
        if robust.is_file():
            self._entries.append(file_entry(robust, "bundled robust model (PGD-trained)"))

    def entries(self) -> list[ModelEntry]:
        return list(self._entries)

    def __iter__(self):
        return iter(list(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> ModelEntry | None:
        return next((e for e in self._entries if e.key == key), None)

    def add(self, entry: ModelEntry) -> ModelEntry:
        """Add `entry` at the end (dropping an older one with the same key) and tell every listener."""
        self._entries = [e for e in self._entries if e.key != entry.key] + [entry]
        self.modelsChanged.emit()
        return entry

    def add_file(self, path: str | Path, name: str | None = None) -> ModelEntry:
        return self.add(file_entry(path, name))
