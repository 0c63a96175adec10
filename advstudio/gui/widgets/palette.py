"""One colour language for every view: the clean input is blue, the adversarial one orange, a reference (the
undefended model, chance, a running average) neutral grey. The hues are Okabe–Ito's (told apart under every
common kind of colour blindness); each has a variant for the light and for the dark theme, so a line or a word
in that colour stays readable on either background. Views ask `colours(widget)` for their widget's theme."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QWidget


@dataclass(frozen=True)
class Colours:
    clean: str
    clean_strong: str  # the predicted class among the clean bars
    adversarial: str
    neutral: str
    adversarial_family: tuple[str, ...]  # several attacked curves on one plot: warm hues, adversarial first
    other_family: tuple[str, ...]  # curves that are neither clean nor attacked (certified accuracy)


LIGHT = Colours(
    clean="#0072B2", clean_strong="#004A75", adversarial="#D55E00", neutral="#7F7F7F",
    adversarial_family=("#D55E00", "#B07800", "#A52A2A", "#CC79A7", "#8C510A", "#E8601C"),
    other_family=("#009E73", "#6A3D9A", "#0072B2", "#B15928", "#555555"),
)
DARK = Colours(
    clean="#56B4E9", clean_strong="#A6DCF8", adversarial="#FF8C42", neutral="#A8A8A8",
    adversarial_family=("#FF8C42", "#F0C419", "#FF6B6B", "#E59BD0", "#D9A066", "#FFB38A"),
    other_family=("#3DDC97", "#B69CE6", "#56B4E9", "#E3A36F", "#CCCCCC"),
)
CLEAN, ADVERSARIAL, NEUTRAL = LIGHT.clean, LIGHT.adversarial, LIGHT.neutral


def is_dark(widget: QWidget | None = None) -> bool:
    """Whether the widget's (or the application's) background is dark."""
    pal = widget.palette() if widget is not None else QApplication.palette()
    return pal.color(QPalette.ColorRole.Base).lightness() < 128


def colours(widget: QWidget | None = None) -> Colours:
    return DARK if is_dark(widget) else LIGHT


def family_colour(family: tuple[str, ...], k: int) -> str:
    return family[k % len(family)]


def luminance(colour: str | QColor) -> float:
    """WCAG relative luminance, 0 (black) to 1 (white)."""
    c = QColor(colour)

    def lin(v: float) -> float:
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    return 0.2126 * lin(c.redF()) + 0.7152 * lin(c.greenF()) + 0.0722 * lin(c.blueF())


def contrast(a: str | QColor, b: str | QColor) -> float:
    """WCAG contrast ratio of two colours, 1 (none) to 21 (black on white)."""
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)
