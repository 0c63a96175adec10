"""The "Side by side" tab's controller: the studio's current input and the Attack tab's FGSM settings, on two
models at once (by default the bundled standard model and the bundled robust one).

Like gui/lab.py it submits its own kind ("compare"), keeps its own generation numbers and listens to the worker
itself. It asks only while the tab is on screen, and catches up when the tab comes back. Replies are shown
when they are newer than the one on screen and answer the drawing and models now chosen, so dragging ε redraws
as fast as the worker answers (the worker's mailbox keeps only the newest request)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import QFileDialog

from advstudio.gui.features.compare.jobs import COMPARE_KIND, CompareRequest, CompareResult, CompareSide, register_compare
from advstudio.gui.features.lab.controller import BUNDLED_KEY
from advstudio.gui.models import ModelEntry
from advstudio.gui.worker import Failure, Reply
from advstudio.gui.features.compare.view import ComparePanel

if TYPE_CHECKING:
    from advstudio.gui.window import MainWindow
    from advstudio.gui.worker import Worker

ROBUST_KEY = "bundled-robust"
DEFAULTS = (BUNDLED_KEY, ROBUST_KEY)


def _resolved(path: str | None) -> str | None:
    if path is None:
        return None
    try:
        return str(Path(path).resolve())
    except OSError:
        return path


class CompareStudio(QObject):
    compareShown = Signal(object)  # CompareResult now on screen

    def __init__(self, window: "MainWindow") -> None:
        super().__init__(window)
        self.window = window
        self.panel = ComparePanel()
        window.add_tab("compare", "Side by side", self.panel)
        self.worker: "Worker | None" = None
        self.submitted = 0  # requests sent (tests check that a hidden tab sends none)
        self._gen = -1
        self._shown_gen = -1
        self._selection: list[str] = list(DEFAULTS)  # replaced by the entries' keys if the lab names them otherwise
        self._entries: dict[str, ModelEntry] = {}
        self._roles: dict[str, str] = {}
        self.refresh_models()
        self.panel.set_settings(window.attack_panel.controls.settings())
        for view in self.panel.sides:
            view.modelChanged.connect(self._on_side_changed)
            view.chooseFileRequested.connect(self._on_choose_file)
        self.panel.epsMoved.connect(self._on_eps_moved)
        window.canvas.inkChanged.connect(self._on_input)
        window.attack_panel.controls.settingsChanged.connect(self._on_settings)
        window.tabs.currentChanged.connect(self._on_tab)
        window.modelReady.connect(self._on_model)
        changed = getattr(window.lab, "modelsChanged", None)  # a registry signal, if the lab grows one
        if changed is not None:
            changed.connect(self.refresh_models)

    def attach(self, worker: "Worker") -> None:
        """Register the "compare" kind and listen to the worker (called once the window made it)."""
        self.worker = worker
        register_compare(worker)
        worker.replied.connect(self._on_reply)
        worker.failed.connect(self._on_failure)

    # ------------------------------------------------------------------ the models on offer
    def entries(self) -> list[ModelEntry]:
        """The lab's registry, with the bundled robust model after the bundled one (even while it is missing)."""
        from advstudio.core.storage import robust_model_path

        models = list(self.window.lab.models)
        robust = str(robust_model_path())
        if all(_resolved(m.path) != _resolved(robust) for m in models):
            at = next((k + 1 for k, m in enumerate(models) if m.key == BUNDLED_KEY), 0)
            models.insert(at, ModelEntry(ROBUST_KEY, "robust model", robust))
        return models

    @Slot()
    def refresh_models(self) -> None:
        """Fill both choosers from the lab's registry, keeping each side's choice (or its default)."""
        from advstudio.core.storage import bundled_model_path, robust_model_path

        standard, robust = _resolved(str(bundled_model_path())), _resolved(str(robust_model_path()))
        entries = self.entries()
        self._entries = {m.key: m for m in entries}
        self._roles = {}
        items = []
        for m in entries:
            where = _resolved(m.path)
            if where == standard:
                self._roles[m.key], text = "standard", "standard model (bundled)"
            elif where == robust:
                self._roles[m.key] = "robust"
                text = "robust model (bundled)" if Path(m.path).is_file() else "robust model (bundled, not there yet)"
            else:
                text = m.name
            items.append((m.key, text, m.path or f"{m.name} (trained in this session)"))
        by_role = {role: key for key, role in self._roles.items()}
        defaults = [by_role.get("standard", entries[0].key), by_role.get("robust", entries[0].key)]
        for k, view in enumerate(self.panel.sides):
            if self._selection[k] not in self._entries:
                self._selection[k] = defaults[k]
            view.set_models(items, self._selection[k])
        self._show_unavailable()

    def side(self, k: int) -> CompareSide:
        """What side k asks the worker for; `unavailable` says why there is nothing to load."""
        from advstudio.core.storage import ROBUST_MODEL

        m = self._entries[self._selection[k]]
        role = self._roles.get(m.key)
        if role == "robust" and not Path(m.path).is_file():
            note = (f"The bundled robust model ({ROBUST_MODEL}) is not in this installation yet. Choose another "
                    "model above (the robustness lab's list), or a model file with Choose file…")
            return CompareSide(m.key, m.name, m.path, role, unavailable=note)
        return CompareSide(m.key, m.name, m.path, role)

    def _show_unavailable(self) -> None:
        """Say at once, without a worker round trip, that a side has no model (the robust one not shipped yet)."""
        for k, view in enumerate(self.panel.sides):
            side = self.side(k)
            if side.unavailable:
                view.show_message(side.unavailable, about=side.name)

    def select(self, k: int, key: str) -> bool:
        """Choose registry entry `key` for side k (0 left, 1 right)."""
        return self.panel.sides[k].select(key)  # emits modelChanged → _on_side_changed

    def use_model_file(self, k: int, path: str | Path) -> ModelEntry:
        """Put a model file on side k; it joins the lab's registry, so the robustness lab offers it too."""
        entry = self.window.lab.add_model_file(path, checked=False)
        self.refresh_models()
        self.select(k, entry.key)
        return entry

    @Slot()
    def _on_choose_file(self) -> None:
        from advstudio.gui.dialogs import MODEL_FILTER

        k = self.panel.sides.index(self.sender()) if self.sender() in self.panel.sides else 1
        path, _ = QFileDialog.getOpenFileName(self.window, "Choose a model for this side", self.window._last_dir(),
                                              MODEL_FILTER)
        if path:
            self.window._remember_dir(path)
            self.use_model_file(k, path)

    @Slot()
    def _on_side_changed(self) -> None:
        for k, view in enumerate(self.panel.sides):
            key = view.current_key()
            if key is not None:
                self._selection[k] = key
        self._show_unavailable()
        self.request()

    # ------------------------------------------------------------------ requests
    def wanted(self) -> bool:
        """The tab is the one on screen."""
        return self.window.tabs.currentWidget() is self.panel and self.panel.isVisible()

    def request(self) -> int | None:
        """Ask for the current input and settings on both sides; nothing while the tab is hidden."""
        w = self.window
        if not self.wanted() or self.worker is None or w._closed:
            return None
        settings = w.attack_panel.controls.settings()
        self.panel.set_settings(settings)
        if w.current_input is None:
            self._gen = -1  # drop answers still on the way
            self.panel.clear("Draw a digit (or pick one from the MNIST gallery) to compare the two models.")
            self._show_unavailable()
            return None
        req = CompareRequest(np.ascontiguousarray(w.current_input, dtype=np.float32).copy(), settings,
                             tuple(self.side(k) for k in range(len(self.panel.sides))))
        self._gen = self.worker.submit(COMPARE_KIND, req).generation
        self.submitted += 1
        return self._gen

    @Slot()
    def _on_input(self) -> None:
        self.request()

    @Slot(object)
    def _on_settings(self, _settings: object) -> None:
        self.request()

    @Slot(float)
    def _on_eps_moved(self, eps: float) -> None:
        self.window.attack_panel.controls.set_eps(eps)  # → settingsChanged → the window's analysis and request()

    @Slot(int)
    def _on_tab(self, _index: int) -> None:
        if self.wanted():
            self.refresh_models()  # the lab's list may have grown while the tab was hidden
            self.request()

    @Slot(object)
    def _on_model(self, _info: object) -> None:
        if self.wanted():
            self.refresh_models()
            self.request()

    # ------------------------------------------------------------------ replies
    def _answers_now(self, result: CompareResult) -> bool:
        cur = self.window.current_input
        if cur is None or not np.array_equal(result.image, cur):
            return False
        return [s.side.key for s in result.sides] == self._selection

    @Slot(object)
    def _on_reply(self, reply: Reply) -> None:
        if reply.kind != COMPARE_KIND or self.window._closed or self._gen < 0:
            return
        if reply.generation <= self._shown_gen or not self._answers_now(reply.value):
            return
        self._shown_gen = reply.generation
        self.panel.set_data(reply.value)
        self.compareShown.emit(reply.value)

    @Slot(object)
    def _on_failure(self, failure: Failure) -> None:
        if failure.kind != COMPARE_KIND or self.window._closed or failure.generation != self._gen:
            return
        self.panel.summary.setText("The comparison failed: " + failure.message.splitlines()[0])
        self.window.statusBar().showMessage("Side by side: " + failure.message.splitlines()[0], 8000)
