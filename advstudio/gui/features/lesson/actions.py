"""The lesson's actions (a step's "do"): what each one asks of the studio, the lab or (through the window's
wiring) another feature. No torch."""

from __future__ import annotations

from typing import Any, Protocol

LANDSCAPE_EPS = 0.3  # the ε the landscape step shows at least (MNIST's usual L∞ budget)
FEATURE_ACTIONS = {"show_landscape"}  # performed by another feature: the dock asks through featureActionRequested


class Dock(Protocol):
    """What the actions need of the lesson dock (controller.LessonDock)."""

    ctx: Any
    featureActionRequested: Any

    def do(self, name: str, arg: object = None) -> bool: ...
    def start_sweep(self, values: list[float]) -> None: ...
    def run_lab(self, n: int) -> bool: ...
    def open_robust_model(self) -> bool: ...


def perform(dock: Dock, name: str, arg: object = None) -> bool:
    """Perform a named action on the lesson dock's context; False when it could not be done here."""
    ctx = dock.ctx
    if name == "show_tab":
        ok = ctx.show_tab(str(arg))
        if not ok:
            ctx.status(f"There is no {arg!r} tab in this version.", 6000)
        return ok
    if name == "show_dock":
        if not ctx.show_dock(str(arg)):  # in presentation mode it makes room for the panel
            ctx.status(f"There is no {arg!r} panel in this version.", 6000)
            return False
        return True
    if name == "set_eps":
        ctx.show_tab("attack")
        ctx.request_eps(float(arg))  # type: ignore[arg-type]
        return True
    if name == "eps_sweep":
        if ctx.current_input is None:
            dock.do("draw_demo_digit")
        ctx.show_tab("attack")
        dock.start_sweep([float(e) for e in arg])  # type: ignore[union-attr]
        return True
    if name == "draw_demo_digit":
        from advstudio.gui.demo import digit_strokes

        ctx.show_tab("attack")
        ctx.request_strokes(digit_strokes(int(arg) if arg is not None else 3))
        return True
    if name == "find_flip":
        if ctx.current_input is None:
            dock.do("draw_demo_digit")
        ctx.show_tab("attack")
        ctx.request_flip()
        return True
    if name == "run_lab":
        return dock.run_lab(int(arg) if arg is not None else 500)  # type: ignore[call-overload]
    if name == "open_robust_model":
        return dock.open_robust_model()
    if name == "compare":
        if ctx.show_tab("compare"):
            return True
        ctx.show_tab("attack")
        ctx.status("No Side by side tab in this version: the Attack tab shows the current model on your "
                   "digit.", 8000)
        return False
    if name in FEATURE_ACTIONS:
        if ctx.current_input is None:
            dock.do("draw_demo_digit")
        settings = ctx.attack_settings
        if settings is None or settings.eps < LANDSCAPE_EPS:  # below it the standard model's loss barely moves
            ctx.request_eps(LANDSCAPE_EPS)
        dock.featureActionRequested.emit(name, arg)
        return True
    ctx.report_error("Unknown lesson action", f"This version cannot do {name!r}.")
    return False

