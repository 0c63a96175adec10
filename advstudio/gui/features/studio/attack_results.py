"""The verdict: an unmistakable flipped / held banner, and clean vs adversarial probabilities side by side. When
nothing up to the slider's maximum ε flips the digit, the banner says so and offers the next things to try."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from advstudio.core.model_meta import name_of
from advstudio.core.types import AttackResult
from advstudio.gui.messages import EPS_MAX, FlipResult
from advstudio.gui.theme import FLIP_COLOUR, HOLD_COLOUR
from advstudio.gui.widgets.bars import ProbabilityBars

AT_MAX = EPS_MAX - 1e-9


def verdict_text(r: AttackResult, searched: bool = False, names=None) -> str:
    """The banner's words; `searched`: a flip search found nothing up to the maximum ε, so raising ε won't help;
    `names`: the model's class names (the digits when None)."""
    conf = r.adv_probs[r.adv_label] * 100
    c, a = name_of(r.clean_label, names), name_of(r.adv_label, names)
    if r.target is not None and r.adv_label == r.target and r.clean_label != r.target:
        return f"Prediction flipped: {c} → {a}  (target reached, {conf:.0f}%)  at ε = {r.eps:.3f}"
    if r.flipped and r.target is not None:
        return f"Prediction flipped: {c} → {a}  (target {name_of(r.target, names)} not yet)  at ε = {r.eps:.3f}"
    if r.flipped:
        return f"Prediction flipped: {c} → {a}  ({conf:.0f}%)  at ε = {r.eps:.3f}"
    if r.eps >= AT_MAX or searched:
        return (f"Not fooled: still {c}  ({conf:.0f}%) at ε = {r.eps:.3f}, nor at any ε up to {EPS_MAX:g}."
                if searched and r.eps < AT_MAX else f"Not fooled: still {c}  ({conf:.0f}%) even at the largest ε, "
                f"{r.eps:.3f}.")
    return f"Not fooled: still {c}  ({conf:.0f}%) at ε = {r.eps:.3f}. Raise ε."


def dead_end_text(label: int, targeted: bool, names=None) -> str:
    aim = "reaches the target class" if targeted else "flips this " + name_of(label, names)
    return (f"No ε up to {EPS_MAX:g} (the slider's maximum) {aim} with FGSM. "
            "Try one of these:")


class DeadEndHelp(QFrame):
    """What to try when FGSM cannot flip this digit: a demo 3, a thinner brush, or PGD."""

    drawDemoRequested = Signal()
    thinnerBrushRequested = Signal()
    strongerAttackRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("dead_end_help")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.demo_button = QPushButton("Draw a 3 for me")
        self.demo_button.setToolTip("Draw a 3 that FGSM can flip, and find its smallest flipping ε")
        self.thinner_button = QPushButton("Thinner brush")
        self.thinner_button.setToolTip("Make the brush thinner and clear the canvas: thick strokes are harder "
                                       "to flip, so draw your digit again")
        self.pgd_button = QPushButton("Try a stronger attack (PGD)")
        self.pgd_button.setToolTip("Open the Any attack tab and run PGD, which takes many small FGSM steps, on "
                                   "this digit")
        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        for b in (self.demo_button, self.thinner_button, self.pgd_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.addWidget(self.message)
        layout.addLayout(buttons)
        self.demo_button.clicked.connect(self.drawDemoRequested)
        self.thinner_button.clicked.connect(self.thinnerBrushRequested)
        self.pgd_button.clicked.connect(self.strongerAttackRequested)


class AttackResults(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.banner = QLabel("Draw a digit, then drag ε.")
        font = QFont()
        font.setPointSize(16)
        font.setBold(True)
        self.banner.setFont(font)
        self.banner.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.banner.setMinimumHeight(44)
        self.banner.setWordWrap(True)
        self.banner.setToolTip("Whether the attack changed what the model reads")
        self.help = DeadEndHelp()
        self.help.hide()
        self.bars = ProbabilityBars([("clean", "clean"), ("adversarial", "adversarial")], tick_pt=11)
        self.bars.setMinimumHeight(150)
        self.bars.setToolTip("Blue: probabilities for the clean input. Orange: for the adversarial input.")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.banner)
        layout.addWidget(self.help)
        layout.addWidget(self.bars, 1)
        self.result: AttackResult | None = None
        self.names: tuple[str, ...] | None = None  # the model's class names
        self.dead_end: FlipResult | None = None  # a flip search on this input that found nothing
        self._colour: str | None = None

    def set_classes(self, names) -> None:
        self.names = tuple(names)
        self.bars.set_classes(self.names)

    def set_data(self, result: AttackResult | None) -> None:
        self.result = result
        if result is None:
            self.banner.setText("Draw a digit, then drag ε.")
            self.banner.setStyleSheet("")
            self._colour = None
            self.bars.set_probs(0, None)
            self.bars.set_probs(1, None)
            self._show_help()
            return
        self.banner.setText(verdict_text(result, self.dead_end is not None, self.names))
        colour = FLIP_COLOUR if result.flipped else HOLD_COLOUR
        if colour != self._colour:  # re-polishing a style sheet is slow: only when the verdict changes
            self._colour = colour
            self.banner.setStyleSheet(f"QLabel {{ background: {colour}; color: white; border-radius: 6px; "
                                      "padding: 6px; }")
        self.bars.set_probs(0, result.clean_probs)
        self.bars.set_probs(1, result.adv_probs)
        self._show_help()

    def set_dead_end(self, flip: FlipResult | None) -> None:
        """A flip search that found nothing up to the maximum ε (None: forget it, e.g. for a new input)."""
        self.dead_end = None if flip is None or flip.found else flip
        if self.result is not None:
            self.banner.setText(verdict_text(self.result, self.dead_end is not None, self.names))
        self._show_help()

    def show_message(self, text: str) -> None:
        """A plain message in the banner (until the next result replaces it)."""
        self.banner.setText(text)

    def _show_help(self) -> None:
        r = self.result
        held_at_max = r is not None and not r.flipped and r.eps >= AT_MAX
        if self.dead_end is not None:
            label, targeted = self.dead_end.clean_label, self.dead_end.settings.target is not None
        elif held_at_max:
            label, targeted = r.clean_label, r.target is not None
        else:
            self.help.hide()
            return
        self.help.message.setText(dead_end_text(label, targeted, self.names))
        self.help.show()
