"""The "Why it breaks" tab: one intro line and four pages — what the network looks at (attributions), the loss
around the drawing, the border it crosses, and where it sits among all digits. Widgets only (no torch, no jobs)."""

from __future__ import annotations

from PySide6.QtWidgets import QVBoxLayout, QWidget

from advstudio.gui.features.explain.attribution_view import AttributionPage
from advstudio.gui.features.explain.maps_view import BoundaryPage, LandscapePage, ProjectionPage
from advstudio.gui.widgets.help import intro_label
from advstudio.gui.widgets.layout import CurrentPageTabs

INTRO = ("Why the push works: which pixels the network relies on, how the loss climbs around your drawing, the "
         "border the drawing walks across, and where it sits among all digits.")
PAGES = (("attribution", "What it looks at"), ("landscape", "Loss around it"), ("boundary", "The border it crosses"),
         ("projection", "Among all digits"))


class ExplainPanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("explain_panel")
        self.attribution = AttributionPage()
        self.landscape = LandscapePage()
        self.boundary = BoundaryPage()
        self.projection = ProjectionPage()
        self.pages = CurrentPageTabs()
        self.pages.setObjectName("explain_pages")
        for (_key, title), page in zip(PAGES, (self.attribution, self.landscape, self.boundary, self.projection)):
            self.pages.addTab(page, title)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(intro_label("explain", INTRO))
        layout.addWidget(self.pages, 1)

    def page_key(self) -> str:
        return PAGES[max(0, self.pages.currentIndex())][0]

    def show_page(self, key: str) -> bool:
        for i, (k, _) in enumerate(PAGES):
            if k == key:
                self.pages.setCurrentIndex(i)
                return True
        return False
