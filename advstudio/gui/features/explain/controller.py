"""The "Why it breaks" tab's controller: attributions of the drawing follow it and ε live while the tab is in
front; the loss landscape, the decision plane and the projection are computed on demand ("explain_*" jobs, on
the studio's model, the other bundled model and the studio's model behind a gradient-masking defense)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from PySide6.QtCore import QTimer, Signal, Slot

from advstudio.core.classes import DIGITS
from advstudio.gui.context import AppContext
from advstudio.gui.features.explain.jobs import register_explain
from advstudio.gui.features.explain.messages import (
    ATTRIBUTE_KIND,
    BOUNDARY_KIND,
    LANDSCAPE_KIND,
    PROJECTION_KIND,
    Attack,
    AttributeRequest,
    BoundaryRequest,
    ExplainCancelled,
    LandscapeRequest,
    ModelChoice,
    ProjectionRequest,
)
from advstudio.gui.features.explain.view import ExplainPanel
from advstudio.gui.job_client import JobClient
from advstudio.gui.worker import Failure

TAB = "explain"
EMPTY_CANVAS = "Draw a digit first: the canvas is empty."
NO_MODEL = "Wait for the model to load, then try again."
ROBUST_NAME = "Robust model (bundled)"
STANDARD_NAME = "Standard model (bundled)"


def other_bundled(current_path: str | None) -> ModelChoice:
    """The bundled model to set beside the one in use: the robust one, or the standard one when the robust one is
    in use."""
    from advstudio.core.resources import bundled_model_path, robust_model_path

    robust = robust_model_path()
    try:
        in_use = Path(current_path).resolve() if current_path else None
    except OSError:
        in_use = None
    if in_use is not None and in_use == robust.resolve():
        return ModelChoice(STANDARD_NAME, str(bundled_model_path()))
    return ModelChoice(ROBUST_NAME, str(robust))


class ExplainStudio(JobClient):
    attributionShown = Signal(object)  # AttributeResult
    landscapeShown = Signal(object)  # LandscapeResult
    boundaryShown = Signal(object)  # BoundaryResult
    projectionShown = Signal(object)  # ProjectionResult or ExplainCancelled
    failedMessage = Signal(str)

    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx, (ATTRIBUTE_KIND, LANDSCAPE_KIND, BOUNDARY_KIND, PROJECTION_KIND))
        register_explain(ctx.worker)
        self.panel = ExplainPanel()
        ctx.add_tab(TAB, "Why it breaks", self.panel)
        self._projection: ProjectionRequest | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(15)  # coalesce a burst of changes (a stroke and its ε) into one request
        self._timer.timeout.connect(self.refresh)
        p = self.panel
        p.attribution.settingsChanged.connect(self._schedule)
        p.pages.currentChanged.connect(self._schedule)
        p.landscape.computeRequested.connect(self.compute_landscape)
        p.boundary.computeRequested.connect(self.compute_boundary)
        p.projection.computeRequested.connect(self.compute_projection)
        p.projection.cancelRequested.connect(self.cancel_projection)
        p.projection.chooseFolderRequested.connect(self._choose_folder)
        ctx.inputChanged.connect(self._on_changed)
        ctx.attackSettingsChanged.connect(self._on_changed)
        ctx.modelReady.connect(self._on_changed)
        ctx.tabChanged.connect(self._on_tab)

    # ------------------------------------------------------------------ what every request needs
    def _image(self) -> np.ndarray | None:
        image = self.ctx.current_input
        if image is None or not np.any(np.asarray(image) > 0):
            return None
        return np.ascontiguousarray(image, dtype=np.float32).copy()

    def attack(self) -> Attack:
        s = self.ctx.attack_settings
        if s is None:
            return Attack()
        return Attack(str(s.method), s.target, float(s.eps))

    def models(self) -> tuple[ModelChoice, ...]:
        info = self.ctx.model_info
        if info is None:
            return ()
        current = ModelChoice(info.name or "the model in use", classes=tuple(info.classes))
        # a defense built in this session, or a model of other classes than the bundled ones' ten digits: the other
        # bundled model is no like-for-like partner
        if info.defended or tuple(info.classes) != DIGITS:
            return (current,)
        return current, other_bundled(info.path)

    def classes(self) -> tuple[str, ...]:
        """The class names of the model in use (empty before one is loaded)."""
        info = self.ctx.model_info
        return () if info is None else tuple(info.classes)

    def _visible(self) -> bool:
        return self.ctx.current_tab() == TAB

    # ------------------------------------------------------------------ live attributions
    @Slot()
    def _schedule(self, *_args) -> None:
        if self._visible() and self.panel.page_key() == "attribution":
            self._timer.start()

    @Slot(str)
    def _on_tab(self, key: str) -> None:
        if key == TAB:
            self._schedule()

    @Slot(object)
    def _on_changed(self, _value: object = None) -> None:
        for page in (self.panel.landscape, self.panel.boundary, self.panel.projection):
            if page.result is not None:
                page.stale.show()
        self._schedule()

    @Slot()
    def refresh(self) -> int | None:
        """Ask for the attribution maps of the current drawing (nothing while the canvas is empty)."""
        image = self._image()
        models = self.models()
        if image is None or not models:
            self.forget(ATTRIBUTE_KIND)
            self.panel.attribution.set_result(None)
            return None
        page = self.panel.attribution
        req = AttributeRequest(image, self.attack(), page.method_key(), page.settings(), models)
        return self.submit(ATTRIBUTE_KIND, req)

    # ------------------------------------------------------------------ on demand
    @Slot(object)
    def show_landscape(self, choice: object = None) -> int | None:
        """Bring the loss landscape to the front with the choice ("jpeg", "jpeg+bpda": a LANDSCAPE_MODELS key and
        optionally the BPDA direction) made, and compute it (the lesson's show_landscape action)."""
        page = self.panel.landscape
        self.ctx.show_tab(TAB)
        self.panel.show_page("landscape")
        model, _, direction = str(choice or "current").partition("+")
        for combo, key in ((page.model, model), (page.direction, direction or "own")):
            index = combo.findData(key)
            if index >= 0:
                combo.setCurrentIndex(index)
        return self.compute_landscape()

    def _ready(self, page) -> np.ndarray | None:
        image = self._image()
        if image is None:
            page.run.eta.setText(EMPTY_CANVAS)
            return None
        if self.ctx.model_info is None:
            page.run.eta.setText(NO_MODEL)
            return None
        return image

    @Slot()
    def compute_landscape(self) -> int | None:
        page = self.panel.landscape
        image = self._ready(page)
        if image is None:
            return None
        model, direction = page.choice()
        models = self.models()
        req = LandscapeRequest(image, self.attack().eps, model, direction, current=models[0],
                               other=models[1] if len(models) > 1 else None)
        page.set_running(True, (page.model, page.direction))
        page.run.eta.setText("Computing the loss on 41 × 41 points…")
        return self.submit(LANDSCAPE_KIND, req)

    @Slot()
    def compute_boundary(self) -> int | None:
        page = self.panel.boundary
        image = self._ready(page)
        if image is None:
            return None
        eps = self.attack().eps
        if eps <= 0:
            page.run.eta.setText("At ε = 0 the attack does not move the drawing: raise ε with the slider.")
            return None
        attack, third = page.choice()
        req = BoundaryRequest(image, eps, attack, third, model_name=self.models()[0].name, classes=self.classes())
        page.set_running(True, (page.attack, page.third))
        page.run.eta.setText("Attacking and colouring the plane…")
        return self.submit(BOUNDARY_KIND, req)

    def data_problem(self) -> str | None:
        return self.ctx.data_problem(())

    @Slot()
    def compute_projection(self) -> int | None:
        page = self.panel.projection
        image = self._ready(page)
        if image is None or page.run.running:
            return None
        problem = self.data_problem()
        if problem is not None:
            page.data_message.show_message(problem)
            self.failedMessage.emit(problem)
            return None
        page.data_message.show_message(None)
        req = ProjectionRequest(image, self.attack().eps, self.ctx.data_folder(), int(page.samples.value()),
                                self.models()[0].name, threading.Event(), self.classes())
        self._projection = req
        page.set_running(True, (page.samples,))
        return self.submit(PROJECTION_KIND, req)

    @Slot()
    def cancel_projection(self) -> None:
        if self._projection is not None:
            self._projection.cancel.set()
            self.panel.projection.run.eta.setText("Cancelling…")

    @Slot()
    def _choose_folder(self) -> None:
        if self.ctx.ask_data_dir():
            self.panel.projection.data_message.show_message(None)

    # ------------------------------------------------------------------ worker traffic
    def on_reply(self, kind: str, value) -> None:
        p = self.panel
        if value is None:
            return
        if kind == ATTRIBUTE_KIND:
            p.attribution.set_result(value)
            self.attributionShown.emit(value)
        elif kind == LANDSCAPE_KIND:
            p.landscape.set_result(value)
            self.landscapeShown.emit(value)
        elif kind == BOUNDARY_KIND:
            p.boundary.set_result(value)
            self.boundaryShown.emit(value)
        elif kind == PROJECTION_KIND:
            self._projection = None
            if isinstance(value, ExplainCancelled):
                p.projection.set_running(False)
                p.projection.run.eta.setText("Cancelled: the layout was not finished; nothing changed.")
            else:
                p.projection.set_result(value)
            self.projectionShown.emit(value)

    def on_progress(self, kind: str, value) -> None:
        p = self.panel
        page, unit = {PROJECTION_KIND: (p.projection, "digits"), LANDSCAPE_KIND: (p.landscape, "points"),
                      BOUNDARY_KIND: (p.boundary, "points")}.get(kind, (None, ""))
        if page is not None:
            page.run.show_progress(value, unit)

    def on_failure(self, failure: Failure) -> None:
        first = failure.message.splitlines()[0] if failure.message else "it failed"
        p = self.panel
        page = {LANDSCAPE_KIND: p.landscape, BOUNDARY_KIND: p.boundary, PROJECTION_KIND: p.projection}.get(failure.kind)
        if page is None:
            p.attribution.note.setText("The maps could not be drawn: " + first)
        else:
            page.set_running(False)
            page.run.eta.setText(first)
            if failure.kind == PROJECTION_KIND:
                self._projection = None
                if failure.error == "dataset":
                    p.projection.data_message.show_message(failure.message)
        self.failedMessage.emit(failure.message)
