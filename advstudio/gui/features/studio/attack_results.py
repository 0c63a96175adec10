"""The verdict: an unmistakable flipped / held banner, and clean vs adversarial probabilities side by side."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from advstudio.core.types import AttackResult
from advstudio.gui.theme import ADV_COLOUR, CLEAN_COLOUR, FLIP_COLOUR, HOLD_COLOUR
from advstudio.gui.widgets.bars import ProbabilityBars


def verdict_text(r: AttackResult) -> str:
    c, a = r.clean_label, r.adv_label
    conf = r.adv_probs[a] * 100
    if r.target is not None and a == r.target and c != r.target:
        return f"Prediction flipped: {c} → {a}  (target reached, {conf:.0f}%)  at ε = {r.eps:.3f}"
    if r.flipped and r.target is not None:
        return f"Prediction flipped: {c} → {a}  (target {r.target} not yet)  at ε = {r.eps:.3f}"
    if r.flipped:
        return f"Prediction flipped: {c} → {a}  ({conf:.0f}%)  at ε = {r.eps:.3f}"
    return f"Not fooled: still {c}  ({conf:.0f}%) at ε = {r.eps:.3f}. Raise ε."


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
        self.bars = ProbabilityBars([("clean", CLEAN_COLOUR), ("adversarial", ADV_COLOUR)], tick_pt=11)
        self.bars.setMinimumHeight(150)
        self.bars.setToolTip("Blue: probabilities for the clean input. Red: for the adversarial input.")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.banner)
        layout.addWidget(self.bars, 1)
        self.result: AttackResult | None = None
        self._colour: str | None = None

    def set_data(self, result: AttackResult | None) -> None:
        self.result = result
        if result is None:
            self.banner.setText("Draw a digit, then drag ε.")
            self.banner.setStyleSheet("")
            self._colour = None
            self.bars.set_probs(0, None)
            self.bars.set_probs(1, None)
            return
        self.banner.setText(verdict_text(result))
        colour = FLIP_COLOUR if result.flipped else HOLD_COLOUR
        if colour != self._colour:  # re-polishing a style sheet is slow: only when the verdict changes
            self._colour = colour
            self.banner.setStyleSheet(f"QLabel {{ background: {colour}; color: white; border-radius: 6px; "
                                      "padding: 6px; }")
        self.bars.set_probs(0, result.clean_probs)
        self.bars.set_probs(1, result.adv_probs)
