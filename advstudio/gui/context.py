"""The application context: what every feature shares, so that no feature reaches into the window or into
another feature. The window makes one AppContext and hands it to each feature's controller.

It holds the worker handle, the settings, the model registry, the studio's current input/model/analysis and
attack settings (set by the studio feature, read by everyone, announced by signals), the requests other
features may make of the studio (set ε, draw strokes, find the flip, open a model: signals the studio
answers), error reporting and the status line, the dataset folder and the last folder of a file dialog; and,
through a narrow Shell (the window), the places a feature may put its widgets: tabs and docks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np
from PySide6.QtCore import QObject, QSettings, Qt, Signal
from PySide6.QtWidgets import QDockWidget, QWidget

from advstudio.core.data import in_window_words
from advstudio.gui.models import ModelInfo, ModelRegistry
from advstudio.gui.stored import read_path

ErrorReporter = Callable[[str, str], None]


class Shell(Protocol):
    """What the window offers features: places for their widgets and the status line."""

    def add_tab(self, key: str, title: str, widget: QWidget) -> None: ...
    def add_dock(self, key: str, title: str, widget: QWidget, area: Qt.DockWidgetArea,
                 tabify_with: str | None = None) -> QDockWidget: ...
    def show_tab(self, key: str) -> bool: ...
    def show_status(self, message: str, timeout_ms: int) -> None: ...
    def ask_data_dir(self) -> str | None: ...
    def current_tab(self) -> str | None: ...
    def has_tab(self, key: str) -> bool: ...
    def dock_visible(self, key: str) -> bool | None: ...
    def show_dock(self, key: str) -> bool: ...
    def unfocus_docks(self) -> None: ...


class AppContext(QObject):
    inputChanged = Signal(object)  # the studio's current input (28×28 float32 in [0, 1]) or None
    modelReady = Signal(object)  # ModelInfo: the studio's current model changed
    analysisShown = Signal(object)  # the studio's Analysis now on screen
    flipFound = Signal(object)  # the studio's FlipResult
    errorShown = Signal(str)  # every reported error's message
    dataDirChanged = Signal(str)  # the dataset folder changed ("" for none)
    sidePanelsHidden = Signal(bool)
    openModelRequested = Signal(str)  # a feature asks the studio to make this model file current
    attackSettingsChanged = Signal(object)  # the studio's AttackSettings (method, target, ε)
    epsRequested = Signal(float)  # a feature asks the studio to set ε
    strokesRequested = Signal(object)  # a feature asks the studio to clear the canvas and draw these strokes
    flipRequested = Signal()  # a feature asks the studio to search for the smallest flipping ε
    tabChanged = Signal(str)  # the key of the tab now in front

    def __init__(self, settings: QSettings, worker, shell: Shell, parent_widget: QWidget,
                 report_error: ErrorReporter, data_dir: str | None = None) -> None:
        super().__init__(parent_widget)
        self.settings = settings
        self.worker = worker
        self.shell = shell
        self.parent_widget = parent_widget  # the parent of the features' dialogs
        self.models = ModelRegistry(self)
        self._report_error = report_error
        self.errors: list[str] = []
        self.closed = False
        self.current_input: np.ndarray | None = None
        self.model_info: ModelInfo | None = None
        self.analysis = None  # the studio's Analysis now on screen
        self.flip = None  # the studio's last FlipResult for this input
        self.attack_settings = None  # the studio's AttackSettings
        self.data_dir: str | None = data_dir or read_path(settings, "data/folder") or None

    # ------------------------------------------------------------------ the studio's state, announced
    def set_input(self, image: np.ndarray | None) -> None:
        self.current_input = None if image is None else np.ascontiguousarray(image, dtype=np.float32).copy()
        self.flip = None
        if image is None:
            self.analysis = None
        self.inputChanged.emit(self.current_input)

    def set_model(self, info: ModelInfo) -> None:
        self.model_info = info
        self.modelReady.emit(info)

    def set_analysis(self, analysis) -> None:
        self.analysis = analysis
        self.analysisShown.emit(analysis)

    def set_flip(self, result) -> None:
        self.flip = result
        self.flipFound.emit(result)

    def set_attack_settings(self, settings) -> None:
        self.attack_settings = settings
        self.attackSettingsChanged.emit(settings)

    # ------------------------------------------------------------------ what a feature may ask of the studio
    def request_model(self, path: str | Path) -> None:
        """Ask the studio to load this model file and make it current."""
        self.openModelRequested.emit(str(path))

    def request_eps(self, eps: float) -> None:
        self.epsRequested.emit(float(eps))

    def request_strokes(self, strokes: list) -> None:
        """Clear the canvas and draw `strokes` (each a list of (x, y) points in canvas pixels)."""
        self.strokesRequested.emit(list(strokes))

    def request_flip(self) -> None:
        self.flipRequested.emit()

    # ------------------------------------------------------------------ messages where the user looks
    def report_error(self, title: str, message: str) -> None:
        self.errors.append(message)
        self.shell.show_status(f"{title}: {message.splitlines()[0] if message else ''}", 8000)
        self.errorShown.emit(message)
        self._report_error(title, message)

    def status(self, message: str, timeout_ms: int = 4000) -> None:
        self.shell.show_status(message, timeout_ms)

    # ------------------------------------------------------------------ places for widgets
    def add_tab(self, key: str, title: str, widget: QWidget) -> None:
        self.shell.add_tab(key, title, widget)

    def add_dock(self, key: str, title: str, widget: QWidget, area: Qt.DockWidgetArea,
                 tabify_with: str | None = None) -> QDockWidget:
        return self.shell.add_dock(key, title, widget, area, tabify_with)

    def show_tab(self, key: str) -> bool:
        return self.shell.show_tab(key)

    def current_tab(self) -> str | None:
        return self.shell.current_tab()

    def has_tab(self, key: str) -> bool:
        return self.shell.has_tab(key)

    def dock_visible(self, key: str) -> bool | None:
        """Whether the dock added under `key` is visible (None if there is none)."""
        return self.shell.dock_visible(key)

    def show_dock(self, key: str) -> bool:
        """Bring the dock added under `key` up (in presentation mode it makes room for it)."""
        return self.shell.show_dock(key)

    def unfocus_docks(self) -> None:
        self.shell.unfocus_docks()

    # ------------------------------------------------------------------ files and folders
    def last_dir(self) -> str:
        return read_path(self.settings, "paths/last_dir") or str(Path.home())

    def remember_dir(self, path: str | Path) -> None:
        """Remember the folder of `path` for the next file dialog."""
        self.settings.setValue("paths/last_dir", str(Path(path).parent))

    def set_data_dir(self, folder: str | Path | None) -> None:
        """Use this dataset folder (kept in the settings and shared with the command line)."""
        self.data_dir = str(folder) if folder else None
        if self.data_dir:
            self.settings.setValue("data/folder", self.data_dir)
            self._share_data_dir(self.data_dir)
        self.dataDirChanged.emit(self.data_dir or "")

    def ask_data_dir(self) -> str | None:
        """Let the user pick the dataset folder (a dialog owned by the window); returns why the folder picked
        was not taken (it has no MNIST files), or None (taken, or the dialog was cancelled)."""
        return self.shell.ask_data_dir()

    def choose_data_dir(self, folder: str | Path) -> str | None:
        """The folder the user picked: taken, with a confirmation of what it holds, if it has MNIST files; else
        kept out (the current folder stays) and the reason, naming the folder and the files, is returned."""
        from advstudio.core.data import mnist_counts, mnist_problem

        counts = mnist_counts(folder)
        if not counts:
            message = in_window_words(mnist_problem(str(folder)) or f"The folder {folder} has no MNIST files.")
            if self.data_dir:
                message += f" The MNIST folder is still {self.data_dir}."
            self.report_error("No MNIST files there", message)
            return message
        self.set_data_dir(folder)
        self.status(f"MNIST folder set: {folder} ({_holds(counts)})", 8000)
        return None

    def data_problem(self, splits: tuple[str, ...] = ("test",), **notes: str) -> str | None:
        """A readable reason the dataset folder cannot give these MNIST splits, or None when it looks usable."""
        from advstudio.core.data import mnist_problem

        problem = mnist_problem(self.data_dir, splits, **notes)
        return None if problem is None else in_window_words(problem)

    def data_folder(self) -> str:
        """The dataset folder the jobs read (call after data_problem returned None)."""
        from advstudio.core.data import resolve_data_dir

        return str(resolve_data_dir(self.data_dir))

    def _share_data_dir(self, folder: str) -> None:
        """Also store the folder where the headless CLI looks (core.settings), so `advstudio evaluate` finds it."""
        from advstudio.core.settings import update_settings

        try:
            update_settings(mnist_dir=folder)
        except OSError as exc:
            self.status(f"Could not save the dataset folder for the command line: {exc}", 6000)


def _holds(counts: dict[str, int]) -> str:
    """ "60,000 training and 10,000 test digits", saying which split is missing and what needs it."""
    held = " and ".join(f"{counts[split]:,} {word}" for split, word in (("train", "training"), ("test", "test"))
                        if split in counts)
    if "test" not in counts:
        return f"{held} digits; no test files, which the gallery and the labs need"
    if "train" not in counts:
        return f"{held} digits; no training files, which training needs"
    return f"{held} digits"
