"""GUI fixtures: an offscreen Qt, a studio window with throwaway settings and recorded errors, and real mouse
drags (QMouseEvents with the button held, which QTest's mouseMove cannot send)."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

pytest.importorskip("pytestqt")
pg = pytest.importorskip("pyqtgraph")
pg.setConfigOptions(imageAxisOrder="row-major", useOpenGL=False)

from PySide6.QtCore import QSettings  # noqa: E402

# The offscreen platform warns that it cannot propagate size hints; that is the platform, not the app.
IGNORED_QT_MESSAGES = ("This plugin does not support propagateSizeHints",)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/gui" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.qt_log_ignore(*IGNORED_QT_MESSAGES))


@pytest.fixture
def settings(tmp_path) -> QSettings:
    return QSettings(str(tmp_path / "advstudio.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def make_window(qtbot, settings):
    """make_window(**kwargs) -> a shown MainWindow whose model has loaded; closed at teardown."""
    from advstudio.gui.window import MainWindow

    made = []

    def make(**kwargs):
        kwargs.setdefault("settings", settings)
        kwargs.setdefault("report_error", lambda title, message: None)  # never a modal box in tests
        w = MainWindow(**kwargs)
        made.append(w)
        with qtbot.waitSignal(w.ctx.modelReady, timeout=20000):
            w.show()
        return w

    yield make
    for w in made:
        w.close()


@pytest.fixture
def window(make_window):
    return make_window()


@pytest.fixture
def idx_folder(tmp_path):
    """idx_folder(n) -> a folder holding a synthetic MNIST test split of n random digits (no MNIST bytes)."""
    import gzip
    import struct

    def make(n: int = 200, seed: int = 0):
        rng = np.random.default_rng(seed)
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        folder = tmp_path / f"idx{n}"
        folder.mkdir()
        img = struct.pack(">IIII", 0x803, n, 28, 28) + images.tobytes()
        lbl = struct.pack(">II", 0x801, n) + labels.tobytes()
        (folder / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(img, compresslevel=1))
        (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(lbl, compresslevel=1))
        return folder

    return make
