"""The QApplication, set up once: high-DPI rounding, icon, organisation name (QSettings), pyqtgraph's options.
Used by the app, the self-test and the benchmarks."""

from __future__ import annotations

import sys


def make_app(argv: list[str] | None = None):
    from PySide6.QtCore import QCoreApplication, Qt
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        QGuiApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
        app = QApplication([sys.argv[0] if sys.argv else "advstudio", *(argv or [])])
    from importlib.resources import files

    from PySide6.QtGui import QIcon

    icon = files("advstudio") / "resources" / "icons" / "advstudio.png"
    if icon.is_file():
        app.setWindowIcon(QIcon(str(icon)))
    QCoreApplication.setOrganizationName("AdversarialStudio")
    QCoreApplication.setApplicationName("advstudio")
    import pyqtgraph as pg

    pg.setConfigOptions(imageAxisOrder="row-major", useOpenGL=False)
    return app
