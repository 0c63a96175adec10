"""The attack panel: controls on top, the three images, then the verdict and both probability charts."""

from __future__ import annotations

from PySide6.QtWidgets import QVBoxLayout, QWidget

from advstudio.core.types import AttackResult
from advstudio.gui.features.studio.attack_controls import AttackControls
from advstudio.gui.features.studio.attack_results import AttackResults
from advstudio.gui.widgets.attack_views import AttackViews
from advstudio.gui.widgets.help import intro_label

INTRO = ("The model reads your digit; raise the strength ε to add a tiny, carefully aimed change and watch when it "
         "starts reading another digit.")


class AttackPanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("attack_panel")
        self.intro = intro_label("attack", INTRO)
        self.controls = AttackControls()
        self.views = AttackViews()
        self.results = AttackResults()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.intro)
        layout.addWidget(self.controls)
        self.views.setMinimumHeight(240)  # the three images stay readable (~150 px) when the page is short
        layout.addWidget(self.views, 5)
        layout.addWidget(self.results, 4)
        self.result: AttackResult | None = None

    def set_classes(self, names) -> None:
        """The model's class names: the target menu, the banner and the bars follow them."""
        self.controls.set_classes(names)
        self.results.set_classes(names)

    def set_data(self, result: AttackResult | None) -> None:
        self.result = result
        self.views.set_data(result)
        self.results.set_data(result)
