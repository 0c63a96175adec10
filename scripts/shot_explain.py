"""The README screenshots of the "Why it breaks" tab, one page each: a 3 is drawn, ε set, and the page's picture
computed (`attribution`: saliency on the model in use and the robust one; `landscape`: the loss around the 3 for
the model in use, or `landscape jpeg` / `landscape jpeg+bpda` behind JPEG; `boundary`: the plane with PGD's path;
`projection`: 10,000 test digits and the drawing's path; `lesson`: the lesson's landscape step, its action done).

    ADVSTUDIO_MNIST_DIR=../shared/mnist ../shared/tools/screenshot -w 60 -s 1280x720 docs/screenshot-explain-landscape.png -- .venv/bin/python scripts/shot_explain.py landscape
"""
import os
import sys
import tempfile

from PySide6.QtCore import QSettings

from advstudio.gui.demo import digit_strokes
from advstudio.gui.qtapp import make_app
from advstudio.gui.window import MainWindow

PAGE, CHOICE = (sys.argv[1:] + ["attribution", ""][len(sys.argv) - 1:])[:2]
EPS = {"attribution": 0.15, "landscape": 0.3, "boundary": 0.25, "projection": 0.25}.get(PAGE, 0.2)
sys.argv = ["advstudio"]
app = make_app()
w = MainWindow(settings=QSettings(tempfile.mktemp(suffix=".ini"), QSettings.Format.IniFormat),
               data_dir=os.environ.get("ADVSTUDIO_MNIST_DIR"))
w.show()
ctl = w.explain


def go(_info=None):
    w.ctx.modelReady.disconnect(go)
    if PAGE == "lesson":
        w.lesson.toggle_action.trigger()
        w.lesson.go(w.lesson.lesson.index_of("masking"))
        w.lesson.perform_action()
        return
    w.ctx.request_strokes(digit_strokes(3))
    w.ctx.request_eps(EPS)
    w.show_tab("explain")
    ctl.panel.show_page(PAGE)
    w.ctx.analysisShown.connect(ready)


def ready(_analysis=None):
    w.ctx.analysisShown.disconnect(ready)
    if PAGE == "landscape":
        ctl.show_landscape(CHOICE or "current")
    elif PAGE == "boundary":
        ctl.compute_boundary()
    elif PAGE == "projection":
        ctl.compute_projection()


w.ctx.modelReady.connect(go)
app.exec()
