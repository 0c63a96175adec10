"""The lesson's checks: what the studio and the other features have shown (gathered from their signals), and
whether that is what a step asks for. No widgets here; the lesson dock feeds it and asks passed(step)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from advstudio.core.lesson import LessonStep
from advstudio.gui.messages import Analysis

if TYPE_CHECKING:
    from advstudio.gui.context import AppContext

DEFAULT_HINTS = {
    "visited": "", "dock_shown": "open the {dock} panel", "tab_shown": "open the {tab} tab",
    "input_drawn": "draw a digit", "eps_at_least": "drag ε to {value:g} or more",
    "prediction_flipped": "make the prediction flip", "eps_range_seen": "show the digit at ε = {min:g} and {max:g}",
    "lab_curve_done": "run a robustness curve", "activations_shown": "open the Activations panel",
    "robust_model_compared": "load a robust model and attack your digit",
    "landscape_seen": "show the loss around your drawing (Why it breaks ▸ Loss around it)",
}


def hint(step: LessonStep) -> str:
    """The "waiting: …" text of a step: the lesson file's own, else one made from the check."""
    if step.check.hint:
        return step.check.hint
    return DEFAULT_HINTS.get(step.check.kind, "").format(**step.check.params) or "read on"


class StepChecks:
    """What has been seen: docks on screen (Qt keeps a dock tabbed behind another "visible"; its
    visibilityChanged tells the truth), the lab's curves, the Activations dock's state, an input another attack
    flipped, the ε values seen on one input, and an analysis by a non-bundled model at the step's ε."""

    def __init__(self, ctx: "AppContext") -> None:
        self.ctx = ctx
        self.docks_on_screen: dict[str, bool] = {}
        self.lab_curves: list = []  # the curves of every finished lab run (LabCurve)
        self.lab_failure: str | None = None  # why the last lab run stopped (a dataset it could not read), if it did
        self.activations_data = None  # what the Activations dock shows (ActivationsData or None)
        self.activations_on_screen = False
        self.flipped_elsewhere: np.ndarray | None = None  # an input another attack (Any attack's PGD) flipped
        self.range: tuple[np.ndarray | None, set[float]] = (None, set())  # ε values seen on one input
        self.robust_seen = False  # an analysis at ≥ min_eps answered by a non-bundled model
        self.seen: dict[str, list] = {}  # results other features showed, by kind ("landscape": LandscapeResult)

    def see_analysis(self, analysis: Analysis, step: LessonStep | None) -> None:
        image, _seen = self.range
        clean = analysis.prediction.image
        if image is None or not np.array_equal(image, clean):
            self.range = (np.array(clean, copy=True), set())
        self.range[1].add(round(float(analysis.attack.eps), 6))
        info = self.ctx.model_info
        robust_step = step is not None and step.check.kind == "robust_model_compared"
        min_eps = step.check.params.get("min_eps", 0.1) if robust_step else 0.1
        if info is not None and not info.bundled and analysis.attack.eps >= min_eps - 1e-9:
            self.robust_seen = True

    def passed(self, step: LessonStep) -> bool:
        """Whether the studio now shows what `step` asks for."""
        ctx, kind, prm = self.ctx, step.check.kind, step.check.params
        a: Analysis | None = ctx.analysis
        image = ctx.current_input
        if kind == "visited":
            return True
        if kind == "dock_shown":
            return bool(ctx.dock_visible(prm["dock"])) and self.docks_on_screen.get(prm["dock"], False)
        if kind == "tab_shown":
            return ctx.has_tab(prm["tab"]) and ctx.current_tab() == prm["tab"]
        if kind == "input_drawn":
            return image is not None and a is not None
        if kind == "eps_at_least":
            return a is not None and image is not None and a.attack.eps >= prm["value"] - 1e-9
        if kind == "prediction_flipped":
            elsewhere = self.flipped_elsewhere
            return (a is not None and image is not None and a.attack.flipped) or bool(
                ctx.flip is not None and ctx.flip.found) or (
                elsewhere is not None and image is not None and np.array_equal(elsewhere, image))
        if kind == "eps_range_seen":
            seen_image, seen = self.range
            return (seen_image is not None and image is not None and np.array_equal(seen_image, image)
                    and bool(seen) and min(seen) <= prm["min"] + 1e-9 and max(seen) >= prm["max"] - 1e-9)
        if kind == "lab_curve_done":
            curves = [c for c in self.lab_curves if prm.get("attack") in (None, c.attack)]
            return len(curves) >= int(prm.get("curves", 1))
        if kind == "activations_shown":
            return self.activations_on_screen and self.activations_data is not None and image is not None
        if kind == "robust_model_compared":
            info = ctx.model_info
            return info is not None and not info.bundled and (self.robust_seen or ctx.current_tab() == "compare")
        if kind == "landscape_seen":
            return any(prm.get("model") in (None, r.request.model) and prm.get("direction") in (None, r.request.direction)
                       for r in self.seen.get("landscape", ()))
        return False
