"""Ways out of a lesson step that cannot be done as things stand: why, in the student's words, and the buttons
that offer the next thing to try (draw a digit, draw a 3 that flips, choose the MNIST folder, open a model, set
ε). The lesson shows them under the step's check line until the step passes; and the note a step gets when this
version of the app cannot do its action at all."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from advstudio.core.lesson import LessonStep

if TYPE_CHECKING:
    from advstudio.gui.context import AppContext

# checks that look at the digit on the canvas, and the actions that draw one themselves when there is none
INPUT_CHECKS = {"input_drawn", "eps_at_least", "prediction_flipped", "eps_range_seen", "activations_shown",
                "robust_model_compared"}
DRAWING_ACTIONS = {"draw_demo_digit", "find_flip", "eps_sweep", "open_robust_model"}
NO_ROBUST_MODEL = ("The robust model is not bundled with this installation. Train one (advstudio train "
                   "--adversarial …) and open it with File ▸ Open model…; any model other than the bundled one "
                   "counts for this step.")


@dataclass(frozen=True)
class WayOut:
    """Why a step cannot be done as things stand, and the buttons (label, what it does) offering what to try."""

    reason: str
    offers: tuple[tuple[str, Callable[[], object]], ...] = ()


class WayOutActions(Protocol):
    """What the offered buttons do (the lesson dock)."""

    def draw_demo(self) -> None: ...
    def draw_demo_and_flip(self) -> None: ...
    def ask_data_dir(self) -> None: ...
    def ask_model(self) -> None: ...
    def feature_action(self, name: str, arg: object = None) -> None: ...


def data_problem(ctx: "AppContext") -> str | None:
    """The MNIST test set's problem in plain words (without the command-line ways of setting the folder)."""
    from advstudio.core.data import HOW_TO_GET

    problem = ctx.data_problem(("test",))
    return None if problem is None else problem.replace(HOW_TO_GET, "").strip()


def find_way_out(ctx: "AppContext", step: LessonStep, do: WayOutActions,
                 lab_failure: str | None = None, seen: dict | None = None) -> WayOut | None:
    """Why `step` cannot be done as things stand, with what to try instead; None when nothing is in the way.
    `lab_failure`: why the last lab run stopped, if it did; `seen`: what other features showed, by kind."""
    kind = step.check.kind
    action = step.action.name if step.action is not None else None
    if kind in INPUT_CHECKS and ctx.current_input is None and action not in DRAWING_ACTIONS:
        return WayOut("Draw a digit first: this step works on the digit on the canvas. Draw one in the Input "
                      "panel, or let the app draw one.", (("Draw a 3 for me", do.draw_demo),))
    if kind == "prediction_flipped" and ctx.flip is not None and not ctx.flip.found:
        return WayOut("Nothing up to ε = 0.5 flips this drawing (a thick digit can be that sturdy). Press “Draw "
                      "a 3 for me” to attack one that flips, or under the Attack tab's banner try a thinner "
                      "brush or PGD.", (("Draw a 3 for me", do.draw_demo_and_flip),))
    if (kind == "lab_curve_done" or action == "run_lab") and (problem := data_problem(ctx)):
        return WayOut(f"{problem} This step runs the attack on the MNIST test images: choose the folder that "
                      "holds the MNIST files (File ▸ Set MNIST folder…).", (("Set MNIST folder…", do.ask_data_dir),))
    if (kind == "lab_curve_done" or action == "run_lab") and lab_failure:
        return WayOut(f"The robustness curve stopped: {lab_failure} Choose a folder with intact MNIST files "
                      "(File ▸ Set MNIST folder…), then run the step again.",
                      (("Set MNIST folder…", do.ask_data_dir),))
    if kind == "robust_model_compared":
        return _robust_way_out(ctx, step, do)
    if kind == "landscape_seen":
        return _landscape_next(step, do, seen or {})
    return None


def _landscape_next(step: LessonStep, do: WayOutActions, seen: dict) -> WayOut | None:
    """The landscape step's second half: once the defense's own (flat) picture is up, follow the gradient
    without the defense (offered until asked for)."""
    model, direction = step.check.params.get("model"), step.check.params.get("direction")
    asked = seen.get("feature_action", ())
    if (direction != "bpda" or not any(r.request.model == model for r in seen.get("landscape", ()))
            or ("show_landscape", f"{model}+bpda") in asked):
        return None
    return WayOut("Along the gradient this defense shows, the loss is flat: a plain attacker is stuck. Now follow "
                  "the gradient of the network behind it (BPDA).",
                  (("Follow the gradient without the defense", lambda: do.feature_action("show_landscape",
                                                                                         f"{model}+bpda")),))


def _robust_way_out(ctx: "AppContext", step: LessonStep, do: WayOutActions) -> WayOut | None:
    from advstudio.core.resources import robust_model_path

    info = ctx.model_info
    if (step.action is not None and step.action.name == "open_robust_model" and not robust_model_path().is_file()
            and (info is None or info.bundled)):
        return WayOut("The robust model is not in this installation: open a model trained with adversarial "
                      "training (any model but the bundled one counts).", (("Open a model…", do.ask_model),))
    min_eps = float(step.check.params.get("min_eps", 0.1))
    settings = ctx.attack_settings
    if info is not None and not info.bundled and settings is not None and settings.eps < min_eps - 1e-9:
        return WayOut(f"Attack your digit at ε ≥ {min_eps:g}: the slider is at {settings.eps:g}.",
                      ((f"Set ε to {min_eps:g}", lambda: ctx.request_eps(min_eps)),))
    return None


def action_note(ctx: "AppContext", step: LessonStep) -> str:
    """Say so when this version of the app cannot do the step's action."""
    action = step.action
    if action is None:
        return ""
    if action.name == "open_robust_model":
        from advstudio.core.resources import robust_model_path

        if not robust_model_path().is_file():
            return NO_ROBUST_MODEL
    if action.name == "compare" and not ctx.has_tab("compare"):
        return "This version has no Side by side tab; the Attack tab shows the current model on your digit."
    if action.name == "show_tab" and not ctx.has_tab(str(action.arg)):
        return f"This version has no {action.arg!r} tab."
    return ""
