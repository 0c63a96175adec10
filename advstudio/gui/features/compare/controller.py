"""The "Side by side" tab's controller: the studio's current input and the Attack tab's FGSM settings, on two
models at once (by default the bundled standard model and the bundled robust one), from the app-wide registry.

It asks ("compare" jobs) only while the tab is on screen, and catches up when the tab comes back. It keeps the
answers of older requests that arrive late (keep_stale) and shows each one that is newer than the one on screen
and answers the drawing and models now chosen, so dragging ε redraws as fast as the worker answers (the worker's
mailbox keeps only the newest request)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Signal, Slot

from advstudio.gui.context import AppContext
from advstudio.gui.features.compare.jobs import register_compare
from advstudio.gui.features.compare.messages import COMPARE_KIND, CompareRequest, CompareResult, CompareSide
from advstudio.gui.features.compare.view import ComparePanel
from advstudio.gui.job_client import JobClient
from advstudio.gui.model_dialog import ask_model_path
from advstudio.gui.models import BUNDLED_KEY, ModelEntry
from advstudio.gui.worker import Failure

ROBUST_KEY = "bundled-robust"
DEFAULTS = (BUNDLED_KEY, ROBUST_KEY)


def _resolved(path: str | None) -> str | None:
    if path is None:
        return None
    try:
        return str(Path(path).resolve())
    except OSError:
        return path


class CompareStudio(JobClient):
    compareShown = Signal(object)  # CompareResult now on screen

    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx, (COMPARE_KIND,))
        register_compare(ctx.worker)
        self.panel = ComparePanel()
        ctx.add_tab("compare", "Side by side", self.panel)
        self.submitted = 0  # requests sent (tests check that a hidden tab sends none)
        self._serial = 0  # the newest request's serial (-1: answers still on the way are dropped)
        self._shown_serial = 0
        self._selection: list[str] = list(DEFAULTS)  # each side's registry key
        self._entries: dict[str, ModelEntry] = {}
        self._roles: dict[str, str] = {}
        self.refresh_models()
        if ctx.model_info is not None:
            self.panel.set_classes(ctx.model_info.classes)
        self.panel.set_settings(ctx.attack_settings)
        for view in self.panel.sides:
            view.modelChanged.connect(self._on_side_changed)
            view.chooseFileRequested.connect(self._on_choose_file)
        self.panel.epsMoved.connect(self._on_eps_moved)
        ctx.inputChanged.connect(self._on_input)
        ctx.attackSettingsChanged.connect(self._on_settings)
        ctx.tabChanged.connect(self._on_tab)
        ctx.modelReady.connect(self._on_model)
        ctx.models.modelsChanged.connect(self.refresh_models)

    # ------------------------------------------------------------------ the models on offer
    def entries(self) -> list[ModelEntry]:
        """The registry, with the bundled robust model after the bundled one (even while it is missing)."""
        from advstudio.core.resources import robust_model_path

        models = self.ctx.models.entries()
        robust = str(robust_model_path())
        if all(_resolved(m.path) != _resolved(robust) for m in models):
            at = next((k + 1 for k, m in enumerate(models) if m.key == BUNDLED_KEY), 0)
            models.insert(at, ModelEntry(ROBUST_KEY, "robust model", robust))
        return models

    @Slot()
    def refresh_models(self) -> None:
        """Fill both choosers from the registry, keeping each side's choice (or its default)."""
        from advstudio.core.resources import bundled_model_path, robust_model_path

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
        from advstudio.core.resources import ROBUST_MODEL

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
        """Put a model file on side k; it joins the registry, so the robustness lab offers it too."""
        entry = self.ctx.models.add_file(path)  # modelsChanged → refresh_models
        self.select(k, entry.key)
        return entry

    @Slot()
    def _on_choose_file(self) -> None:
        k = self.panel.sides.index(self.sender()) if self.sender() in self.panel.sides else 1
        path = ask_model_path(self.ctx, "Choose a model for this side")
        if path:
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
        return self.ctx.current_tab() == "compare" and self.panel.isVisible()

    def request(self) -> int | None:
        """Ask for the current input and settings on both sides; nothing while the tab is hidden."""
        ctx = self.ctx
        if not self.wanted() or ctx.closed:
            return None
        settings = ctx.attack_settings
        self.panel.set_settings(settings)
        if ctx.current_input is None:
            self._serial = -1  # drop answers still on the way
            self.forget(COMPARE_KIND)
            self.panel.clear("Draw a digit (or pick one from the MNIST gallery) to compare the two models.")
            self._show_unavailable()
            return None
        self._serial = max(self._serial, self._shown_serial) + 1
        req = CompareRequest(np.ascontiguousarray(ctx.current_input, dtype=np.float32).copy(), settings,
                             tuple(self.side(k) for k in range(len(self.panel.sides))), self._serial)
        gen = self.submit(COMPARE_KIND, req, keep_stale=True)
        self.submitted += 1
        return gen

    @Slot(object)
    def _on_input(self, _image: object) -> None:
        self.request()

    @Slot(object)
    def _on_settings(self, _settings: object) -> None:
        self.request()

    @Slot(float)
    def _on_eps_moved(self, eps: float) -> None:
        self.ctx.request_eps(eps)  # → the studio's settings change → attackSettingsChanged → request()

    @Slot(str)
    def _on_tab(self, _key: str) -> None:
        if self.wanted():
            self.refresh_models()
            self.request()

    @Slot(object)
    def _on_model(self, info: object) -> None:
        """The Attack tab's model changed: its classes name the target (each side names its own classes)."""
        classes = getattr(info, "classes", None)
        if classes:
            self.panel.set_classes(classes)
        if self.wanted():
            self.refresh_models()
            self.request()

    # ------------------------------------------------------------------ replies
    def _answers_now(self, result: CompareResult) -> bool:
        cur = self.ctx.current_input
        if cur is None or not np.array_equal(result.image, cur):
            return False
        return [s.side.key for s in result.sides] == self._selection

    def on_reply(self, kind: str, value: CompareResult) -> None:
        if self._serial < 0 or value.serial <= self._shown_serial or not self._answers_now(value):
            return
        self._shown_serial = value.serial
        self.panel.set_data(value)
        self.compareShown.emit(value)

    def on_failure(self, failure: Failure) -> None:
        handle = self.handles.get(COMPARE_KIND)
        if handle is None or failure.generation != handle.generation:
            return  # only the newest request's failure is news
        self.panel.summary.setText("The comparison failed: " + failure.message.splitlines()[0])
        self.ctx.status("Side by side: " + failure.message.splitlines()[0], 8000)
