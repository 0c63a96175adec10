"""Workspaces: each tab brings the side panels its activity needs, so analysis views are never squeezed by the
drawing docks on a 1280×720 projector.

- Draw & attack shows every panel (the drawing and its prediction at the left; gallery, model and activations
  at the right); Side by side, Any attack and Certify & detect attack the drawing, so they keep the drawing
  panel only; the Robustness lab, Training and Defenses work on the test set and get the whole window.
- While the lesson is on it is a column of its own at the right, on every tab; the right-hand panels make room
  for it (they come back when it goes), and a panel a lesson step asks for (focus) joins it.
- Presentation mode keeps only the drawing and its prediction beside the tab (its larger text needs the room);
  a step's panel takes their place while it is up.
- The user's own choices (View ▸ Panels, a dock's close button) are remembered per tab and per mode (plain,
  with the lesson, presenting), across restarts for the first two.

The window asks `wanted()` which docks to show and `apply()` shows exactly those; every change of tab, lesson,
focus or mode calls `apply()`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial

from PySide6.QtCore import QObject, QSettings, Qt, Slot
from PySide6.QtWidgets import QDockWidget, QMainWindow

from advstudio.core.jsonlimits import loads_limited
from advstudio.gui.stored import drop, read_text

LESSON = "lesson"
ALL_PANELS = frozenset({"input", "prediction", "gallery", "model", "activations"})
DRAWING = frozenset({"input"})
DEFAULTS: dict[str, frozenset[str]] = {
    "attack": ALL_PANELS,
    "compare": DRAWING,
    "attack_lab": DRAWING,
    "certify": DRAWING,
    "robustness": frozenset(),
    "training": frozenset(),
    "defenses": frozenset(),
}
RIGHT_GROUP = frozenset({"gallery", "model", "activations"})  # they make room for the lesson column
PRESENTING = frozenset({"input", "prediction"})  # all there is room for at presentation mode's font size
MODES = ("plain", "lesson", "presenting")
SAVED_MODES = ("plain", "lesson")  # presentation mode is a moment: its choices are not kept
SETTINGS_KEY = "workspaces/panels"
MAX_CHOICES_TEXT = 64 * 1024  # the saved choices are a few hundred characters
LESSON_WIDTH = 0.26  # of the window, when the lesson column appears
FOCUS_WIDTH = 0.3  # of the window, for a panel a lesson step brought up


def default_panels(mode: str, tab: str) -> frozenset[str]:
    base = DEFAULTS.get(tab, DRAWING)
    if mode == "lesson":
        return base - RIGHT_GROUP
    if mode == "presenting":
        return base & PRESENTING
    return base


class Workspaces(QObject):
    def __init__(self, window: QMainWindow, settings: QSettings) -> None:
        super().__init__(window)
        self.window = window
        self.settings = settings
        self.choices: dict[str, dict[str, set[str]]] = {m: {} for m in MODES}  # the user's, per mode and tab
        self.lesson_on = False
        self.presenting = False
        self.focused: str | None = None  # a panel a lesson step brought up
        self._quiet = 0  # >0 while the window itself shows and hides docks
        self._lesson_new = False  # the lesson column just came: it gets its share of the width
        self._load()

    # ------------------------------------------------------------------ what is wanted
    @property
    def mode(self) -> str:
        return "presenting" if self.presenting else "lesson" if self.lesson_on else "plain"

    def panels(self, tab: str, mode: str | None = None) -> set[str]:
        mode = mode or self.mode
        chosen = self.choices[mode].get(tab)
        return set(chosen) if chosen is not None else set(default_panels(mode, tab))

    def wanted(self, tab: str | None = None) -> set[str]:
        tab = tab if tab is not None else (self.window.current_tab() or "attack")
        out = self.panels(tab)
        if self.focused is not None:
            if self.presenting or self.lesson_on:  # no room for the drawing column beside the step's panel
                out -= PRESENTING
            out.add(self.focused)
        if self.lesson_on:
            out.add(LESSON)
        return out

    # ------------------------------------------------------------------ showing it
    @contextmanager
    def quiet(self) -> Iterator[None]:
        """The window (not the user) shows and hides docks: they are not the user's choices."""
        self._quiet += 1
        try:
            yield
        finally:
            self._quiet -= 1

    def freeze(self) -> None:
        """The window is closing: docks it hides now are not the user's choices (for good: it is not reopened)."""
        self._quiet += 1

    def watch(self, key: str, dock: QDockWidget) -> None:
        dock.toggleViewAction().toggled.connect(partial(self._on_toggled, key))

    def apply(self) -> None:
        w = self.window
        if w.side_panels_hidden():
            return
        wanted = self.wanted()
        going = [d for k, d in w.docks.items() if k not in wanted and not d.isHidden()]
        coming = [d for k, d in w.docks.items() if k in wanted and d.isHidden()]
        if self._lesson_new and LESSON in w.docks:  # shown by the lesson itself, just before this
            coming.append(w.docks[LESSON])
            self._lesson_new = False
        with self.quiet():
            for dock in going:  # first, so that the window never needs the width of both at once
                dock.hide()
            for dock in coming:
                dock.show()
            if self.focused is not None and self.focused in w.docks:
                w.docks[self.focused].raise_()
        self._size(coming)
        w.keep_on_screen()

    def _size(self, appeared: list[QDockWidget]) -> None:
        """A lesson column or a step's panel that just came up gets its share of the width."""
        w = self.window
        lesson = w.docks.get(LESSON)
        focused = w.docks.get(self.focused) if self.focused else None
        docks, widths = [], []
        if focused is not None and focused in appeared:
            docks.append(focused)
            widths.append(max(focused.minimumSizeHint().width(), int(w.width() * FOCUS_WIDTH)))
        if lesson is not None and (lesson in appeared or docks):
            docks.append(lesson)
            widths.append(max(lesson.minimumSizeHint().width(), int(w.width() * LESSON_WIDTH)))
        if docks and not self.presenting:  # presentation mode arranges its own widths
            w.resizeDocks(docks, widths, Qt.Orientation.Horizontal)

    # ------------------------------------------------------------------ what changes it
    def set_lesson(self, on: bool) -> None:
        if on != self.lesson_on:
            self.lesson_on = on
            self._lesson_new = on
            if not on:
                self.focused = None
            self.apply()

    def set_presenting(self, on: bool) -> None:
        self.presenting = on
        self.apply()

    def focus(self, key: str) -> None:
        self.focused = key
        self.apply()

    def unfocus(self) -> None:
        if self.focused is not None:
            self.focused = None
            self._lesson_new = self.lesson_on  # it takes back its own width, not the step panel's
            self.apply()

    @Slot()
    def tab_changed(self) -> None:
        self.apply()

    def _on_toggled(self, key: str, visible: bool) -> None:
        """A dock was shown or hidden by the user (View ▸ Panels, its close button) or by a feature."""
        if self._quiet or self.window.side_panels_hidden():
            return
        if key == LESSON:
            self.set_lesson(visible)
            return
        if key == self.focused and not visible:
            self.focused = None
        tab = self.window.current_tab() or "attack"
        chosen = self.panels(tab)
        if visible:
            chosen.add(key)
        else:
            chosen.discard(key)
        if chosen == set(default_panels(self.mode, tab)):
            self.choices[self.mode].pop(tab, None)  # the defaults again: a later version's defaults apply
        else:
            self.choices[self.mode][tab] = chosen
        self._save()
        self.apply()  # e.g. a panel shown while presenting: the drawing column steps aside as for a step's

    # ------------------------------------------------------------------ remembered
    def _load(self) -> None:
        try:
            data = loads_limited(read_text(self.settings, SETTINGS_KEY, "{}", MAX_CHOICES_TEXT), 8)
        except ValueError as exc:
            drop(self.settings, SETTINGS_KEY, f"could not be read ({exc})")  # the defaults
            return
        if not isinstance(data, dict):
            drop(self.settings, SETTINGS_KEY, f"is a JSON {type(data).__name__}, not an object")
            return
        for mode in SAVED_MODES:
            tabs = data.get(mode)
            if not isinstance(tabs, dict):
                continue
            for tab, keys in tabs.items():
                if isinstance(tab, str) and isinstance(keys, list):
                    self.choices[mode][tab] = {k for k in keys if isinstance(k, str)}

    def _save(self) -> None:
        data = {m: {t: sorted(k) for t, k in self.choices[m].items()} for m in SAVED_MODES}
        self.settings.setValue(SETTINGS_KEY, json.dumps(data))

    def reset(self) -> None:
        """Every tab's panels back to its defaults (View ▸ Reset layout)."""
        for mode in MODES:
            self.choices[mode] = {}
        self._save()
        self.apply()
