"""The side-by-side tab: the same drawing and the same FGSM ε on two models, each with its model chooser, the
attack tab's three views (clean, δ in the diverging map, adversarial), a flipped / holds banner, and one
line underneath saying what the two sides show together."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QResizeEvent
from PySide6.QtWidgets import QBoxLayout, QComboBox, QHBoxLayout, QLabel, QPushButton, QSlider, QVBoxLayout, QWidget

from advstudio.core.model_meta import model_classes, name_of
from advstudio.gui.features.compare.messages import CompareResult, SideResult
from advstudio.gui.messages import EPS_MAX, SLIDER_STEPS, TARGETED, AttackSettings
from advstudio.gui.theme import FLIP_COLOUR, HOLD_COLOUR
from advstudio.gui.widgets.attack_views import AttackViews
from advstudio.gui.widgets.help import explain, intro_label
from advstudio.gui.widgets.plain import plain_tip

WIDE = 1040  # narrower than this, the two sides stack (one above the other) so each keeps its three images
INTRO = "The same drawing and the same attack on two models, side by side, to see whether one of them is harder to fool."
MESSAGE_STYLE = "QLabel { border: 1px solid #c98a00; border-radius: 6px; padding: 6px; }"


def side_classes(side: SideResult) -> tuple[str, ...] | None:
    """The class names of a side's model, from its file's metadata when they match its outputs (a model trained in
    this session has no metadata: None, its classes are shown by number)."""
    r = side.attack
    if not side.meta or r is None:
        return None
    names = model_classes(side.meta)
    return names if len(names) == len(r.clean_probs) else None


def attack_words(s: AttackSettings, names=None) -> str:
    """The attack in words; `names`: the Attack tab's model's classes, which the target indexes."""
    if s.method == TARGETED and s.target is not None:
        return f"targeted FGSM (toward {name_of(s.target, names)})"
    return "FGSM"


def settings_text(s: AttackSettings, names=None) -> str:
    """Names the attack, ε, steps and sample count, as every robustness figure does."""
    kind = f"targeted toward {name_of(s.target, names)}" if s.method == TARGETED else "untargeted"
    return (f"FGSM, {kind} · L∞ ε = {s.eps:.3f} ({s.eps * 255:.0f} of 255 grey levels) · 1 step · "
            "n = 1 input (the current drawing)")


def banner_text(side: SideResult) -> str:
    """The side's verdict, its classes named as its own model names them."""
    r, names = side.attack, side_classes(side)
    c, a = r.clean_label, r.adv_label
    clean = f"{name_of(c, names)} ({r.clean_probs[c] * 100:.0f}%)"
    adv = f"{name_of(a, names)} ({r.adv_probs[a] * 100:.0f}%)"
    if r.flipped:
        tail = "" if r.target is None else ("  · target reached" if a == r.target
                                            else f"  · target {name_of(r.target, names)} not")
        return f"Flipped: clean {clean} → adversarial {adv}{tail}"
    return f"Holds: clean {clean} → adversarial still {adv}"


def _who(side: SideResult) -> str:
    role = side.side.role
    return f"the {role} model" if role else f"“{side.model_name}”"


def _verdict(side: SideResult) -> str:
    r, names = side.attack, side_classes(side)
    c, a = name_of(r.clean_label, names), name_of(r.adv_label, names)
    if not r.flipped:
        return f"still says {c}"
    if r.target is not None and r.adv_label != r.target:
        return f"flips {c} → {a} (not the target {name_of(r.target, names)})"
    return f"flips {c} → {a}"


def summary_text(result: CompareResult, names=None) -> str:
    """One line saying what the user sees, e.g. "Same drawing, same FGSM ε = 0.200: the standard model flips
    3 → 8, the robust model still says 3." (each side names its classes as its model does; `names`: the Attack
    tab's model's, which name the target)."""
    s = result.settings
    head = f"Same drawing, same {attack_words(s, names)} ε = {s.eps:.3f}: "
    sides = result.sides
    ok = [x for x in sides if x.attack is not None]
    if not ok:
        return head + "neither side has a model to attack (see the messages above)."
    if len(ok) == 2 and ok[0].side.path == ok[1].side.path and ok[0].side.key == ok[1].side.key:
        return head + f"both sides use {_who(ok[0])}, which {_verdict(ok[0])}."
    parts = [f"{_who(x)} {_verdict(x)}" for x in ok]
    text = head + ", ".join(parts)
    missing = [k for k, x in enumerate(sides) if x.attack is None]
    if missing:
        text += "; the other side has no model to compare (see its message)"
    return text + "."


def _headline(text: str) -> QLabel:
    """A 12 pt bold, wrapping, selectable label: a side's verdict or the summary under both sides."""
    label = QLabel(text)
    font = QFont()
    font.setPointSize(12)
    font.setBold(True)
    label.setFont(font)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setTextFormat(Qt.TextFormat.PlainText)  # it quotes the models' names, the user's text
    return label


class CompareSideView(QWidget):
    """One side: which model, what it is, the three images, and the verdict (or why there is none)."""

    modelChanged = Signal()
    chooseFileRequested = Signal()

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel(title)
        bold = QFont()
        bold.setBold(True)
        self.title.setFont(bold)
        self.combo = QComboBox()
        explain(self.combo, "The model this side attacks: the bundled ones and every model in the Robustness lab's "
                            "list (add files there or with Choose file…).")
        self.combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.combo.setMinimumContentsLength(18)
        self.choose = QPushButton("Choose file…")
        self.choose.setToolTip("Attack a model file (.safetensors) on this side; it joins the robustness lab's list")
        self.about = QLabel("")
        self.about.setTextFormat(Qt.TextFormat.PlainText)  # a model's name and metadata
        self.about.setWordWrap(True)
        self.about.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.views = AttackViews()
        self.views.glw.setMinimumHeight(150)
        self.banner = _headline("Draw a digit to compare.")
        self.banner.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.banner.setMinimumHeight(34)
        head = QHBoxLayout()
        head.addWidget(self.title)
        head.addWidget(self.combo, 1)
        head.addWidget(self.choose)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(3)
        layout.addLayout(head)
        layout.addWidget(self.about)
        layout.addWidget(self.views, 1)
        layout.addWidget(self.banner)
        self.result: SideResult | None = None
        self.message: str | None = None
        self._style: str | None = None
        self.combo.currentIndexChanged.connect(self._on_combo)
        self.choose.clicked.connect(self.chooseFileRequested)
        self._filling = False

    # ------------------------------------------------------------------ the model chooser
    def set_models(self, items: list[tuple[str, str, str]], current: str | None) -> None:
        """items: (key, text, tooltip); keeps `current` selected (the first item if it is gone), silently."""
        self._filling = True
        try:
            self.combo.clear()
            for k, (key, text, tip) in enumerate(items):
                self.combo.addItem(text, key)
                self.combo.setItemData(k, plain_tip(tip), Qt.ItemDataRole.ToolTipRole)
            index = self.combo.findData(current) if current is not None else -1
            self.combo.setCurrentIndex(index if index >= 0 else 0)
        finally:
            self._filling = False

    def current_key(self) -> str | None:
        return self.combo.currentData()

    def select(self, key: str) -> bool:
        index = self.combo.findData(key)
        if index >= 0:
            self.combo.setCurrentIndex(index)
        return index >= 0

    def _on_combo(self) -> None:
        if not self._filling:
            self.modelChanged.emit()

    # ------------------------------------------------------------------ what it shows
    def _set_banner(self, text: str, style: str) -> None:
        self.banner.setText(text)
        if style != self._style:  # re-polishing a style sheet is slow: only when it changes
            self._style = style
            self.banner.setStyleSheet(style)

    def set_result(self, side: SideResult) -> None:
        self.result = side
        self.message = side.message
        self.about.setText(f"{side.model_name}" + (f" · {side.about}" if side.about else ""))
        self.views.set_data(side.attack)
        if side.attack is None:
            self._set_banner(side.message or "No model.", MESSAGE_STYLE)
            return
        colour = FLIP_COLOUR if side.attack.flipped else HOLD_COLOUR
        self._set_banner(banner_text(side), f"QLabel {{ background: {colour}; color: white; border-radius: 6px; "
                                            "padding: 4px; }")

    def show_message(self, text: str, about: str = "") -> None:
        """Nothing to show on this side (yet): say why."""
        self.result = None
        self.message = text
        self.about.setText(about)
        self.views.set_data(None)
        self._set_banner(text, MESSAGE_STYLE)

    def clear(self, text: str) -> None:
        self.result = None
        self.message = None
        self.views.set_data(None)
        self._set_banner(text, "")


class ComparePanel(QWidget):
    """Two CompareSideViews (side by side when there is room, else stacked) and the summary line. The ε slider
    here mirrors the Attack tab's (epsMoved asks the controller to move that one: one ε for the whole studio)."""

    epsMoved = Signal(float)
    sized_by_wrapped_text = True  # its page scrolls rather than squeeze the models' wrapped lines (beside the lesson)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("compare_panel")
        self.intro = intro_label("compare", INTRO)
        self.eps_slider = QSlider(Qt.Orientation.Horizontal)
        self.eps_slider.setRange(0, SLIDER_STEPS)
        self.eps_slider.setPageStep(10)
        explain(self.eps_slider, "Strength (ε): how far each pixel may move, in pixel units; it is the Attack tab's "
                                 "slider, so both sides and that tab follow it (targeted or not is set there).",
                "L∞ budget: every pixel changes by at most ±ε.")
        self.eps_value = QLabel("ε = 0.000")
        self.eps_value.setMinimumWidth(80)
        self.settings_label = QLabel("")
        self.settings_label.setWordWrap(True)
        eps_row = QHBoxLayout()
        eps_row.addWidget(QLabel("Strength (ε):"))
        eps_row.addWidget(self.eps_slider, 1)
        eps_row.addWidget(self.eps_value)
        self.eps_slider.valueChanged.connect(self._on_slider)
        self.sides = [CompareSideView("Left:"), CompareSideView("Right:")]
        self.sides_layout = QBoxLayout(QBoxLayout.Direction.TopToBottom)
        self.sides_layout.setContentsMargins(0, 0, 0, 0)
        for view in self.sides:
            self.sides_layout.addWidget(view, 1)
        self.summary = _headline("Draw a digit to compare the two models.")
        self.summary.setToolTip("What the two sides show, in words")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.intro)
        layout.addLayout(eps_row)
        layout.addWidget(self.settings_label)
        layout.addLayout(self.sides_layout, 1)
        layout.addWidget(self.summary)
        self.result: CompareResult | None = None
        self.names: tuple[str, ...] | None = None  # the Attack tab's model's classes (its target indexes them)
        self._settings: AttackSettings | None = None
        self._wide: bool | None = None
        self._arrange(False)

    def _arrange(self, wide: bool) -> None:
        if wide == self._wide:
            return
        self._wide = wide
        self.sides_layout.setDirection(QBoxLayout.Direction.LeftToRight if wide else QBoxLayout.Direction.TopToBottom)
        for view, title in zip(self.sides, ("Left:", "Right:") if wide else ("Top:", "Bottom:")):
            view.title.setText(title)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override
        self._arrange(event.size().width() >= WIDE)
        super().resizeEvent(event)

    def set_classes(self, names) -> None:
        """The Attack tab's model's classes: the targeted attack's target is named by them."""
        self.names = tuple(names) if names else None
        if self._settings is not None:
            self.set_settings(self._settings)
        if self.result is not None:
            self.summary.setText(summary_text(self.result, self.names))

    def set_settings(self, s: AttackSettings) -> None:
        self._settings = s
        self.settings_label.setText(settings_text(s, self.names))
        self.eps_value.setText(f"ε = {s.eps:.3f}")
        self.eps_slider.blockSignals(True)
        self.eps_slider.setValue(int(round(min(max(s.eps, 0.0), EPS_MAX) / EPS_MAX * SLIDER_STEPS)))
        self.eps_slider.blockSignals(False)

    def _on_slider(self, value: int) -> None:
        eps = round(value * EPS_MAX / SLIDER_STEPS, 6)
        self.eps_value.setText(f"ε = {eps:.3f}")
        self.epsMoved.emit(eps)

    def set_data(self, result: CompareResult) -> None:
        self.result = result
        self.set_settings(result.settings)
        for view, side in zip(self.sides, result.sides):
            view.set_result(side)
        self.summary.setText(summary_text(result, self.names))

    def clear(self, text: str) -> None:
        self.result = None
        for view in self.sides:
            view.clear("")
        self.summary.setText(text)
