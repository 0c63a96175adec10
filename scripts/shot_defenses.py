"""The README screenshot of the Defenses tab: JPEG q=50 under plain and BPDA PGD-20 on 200 test images
(`scripts/shot_defenses.py autoattack 0.1 100`: AutoAttack at budget 0.1 on 100 images instead).

    ADVSTUDIO_MNIST_DIR=../shared/mnist ../shared/tools/screenshot -w 100 docs/screenshot-defenses.png -- .venv/bin/python scripts/shot_defenses.py
"""
import os
import sys
import tempfile

from PySide6.QtCore import QSettings

from advstudio.gui.demo import digit_strokes
from advstudio.gui.qtapp import make_app
from advstudio.gui.window import MainWindow

ATTACK, BUDGET, N = (sys.argv[1:] + ["pgd", "1", "200"][len(sys.argv) - 1:])[:3]
sys.argv = ["advstudio"]
app = make_app()

w = MainWindow(settings=QSettings(tempfile.mktemp(suffix=".ini"), QSettings.Format.IniFormat), data_dir=os.environ["ADVSTUDIO_MNIST_DIR"])
for k in ("activations", "model", "gallery"):
    w.docks[k].hide()
w.show()


def go(_info=None):
    w.ctx.modelReady.disconnect(go)
    w.ctx.request_strokes(digit_strokes(3))
    p = w.defense.panel
    for i in range(p.defense_combo.count()):
        if "JPEG" in p.defense_combo.itemText(i):
            p.defense_combo.setCurrentIndex(i)
    p.samples.setValue(int(N))
    p.set_attack(ATTACK, 20)
    p.budget.setValue(float(BUDGET))
    w.show_tab("defenses")
    w.defense.run_from_panel()


w.ctx.modelReady.connect(go)
app.exec()
