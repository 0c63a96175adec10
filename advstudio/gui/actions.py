"""Menus, actions and keyboard shortcuts of the main window."""

from __future__ import annotations

from types import SimpleNamespace

from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QApplication

from advstudio.gui.messages import TARGETED, UNTARGETED
from advstudio.gui.stored import read_text
from advstudio.gui.theme import THEMES, apply_theme


def _action(window, menu, text: str, slot, shortcut=None, tip: str = "", checkable: bool = False) -> QAction:
    act = QAction(text, window)
    if shortcut is not None:
        act.setShortcut(QKeySequence(shortcut))
    if tip:
        act.setStatusTip(tip)
        act.setToolTip(tip)
    act.setCheckable(checkable)
    (act.toggled if checkable else act.triggered).connect(slot)
    menu.addAction(act)
    return act


def build_menus(w) -> SimpleNamespace:
    a = SimpleNamespace()
    mb = w.menuBar()
    f = mb.addMenu("&File")
    a.open_image = _action(w, f, "Open &image…", w.studio.ask_open_image, QKeySequence.StandardKey.Open,
                           "Use a PNG, JPEG or BMP of a digit as the input")
    a.open_model = _action(w, f, "Open &model…", w.studio.ask_open_model, "Ctrl+M", "Load another model (.safetensors, or an ONNX classifier)")
    a.onnx = _onnx_menu(w, f.addMenu("ONNX models e&xpect"))
    a.data_dir = _action(w, f, "Set MNIST &folder…", w.ask_data_dir, None,
                         "Choose the folder with the MNIST files for the gallery")
    a.data_classes = _classes_menu(w, f.addMenu("Dataset &classes"))
    f.addSeparator()
    a.save = _action(w, f, "&Save result…", w.studio.ask_save_result, QKeySequence.StandardKey.Save,
                     "Save the adversarial image, the perturbation and a side-by-side figure")
    a.keep_attack = _action(w, f, "Add this attack to the &report", w.session_log.keep_current, "Ctrl+K",
                            "Keep the attack on screen for the session report")
    a.export_report = _action(w, f, "&Export report…", w.session_log.ask_export, "Ctrl+Shift+E",
                              "Write the session (model, attacks, curves, activations) as one HTML file or a PDF")
    a.save.triggered.connect(w.session_log.keep_on_save)
    f.addSeparator()
    a.quit = _action(w, f, "&Quit", w.close, "Ctrl+Q")

    e = mb.addMenu("&Edit")
    c = w.studio.canvas
    a.undo = _action(w, e, "&Undo stroke", c.undo, "Ctrl+Z")
    a.redo = _action(w, e, "&Redo stroke", c.redo, "Ctrl+Shift+Z")
    a.redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
    a.clear = _action(w, e, "&Clear canvas", c.clear, "Delete")
    a.undo_depths = _undo_depth_menu(w, e.addMenu("Undo &depth"))
    e.addSeparator()
    a.eraser = QAction("&Eraser", w, checkable=True, shortcut=QKeySequence("E"))
    a.eraser.toggled.connect(w.studio.input_panel.eraser.setChecked)
    w.studio.input_panel.eraser.toggled.connect(a.eraser.setChecked)
    e.addAction(a.eraser)
    brush = w.studio.input_panel.brush
    a.thinner = _action(w, e, "Thinner brush", lambda: brush.setValue(brush.value() - 2), "[")
    a.thicker = _action(w, e, "Thicker brush", lambda: brush.setValue(brush.value() + 2), "]")

    k = mb.addMenu("&Attack")
    ctl = w.studio.attack_panel.controls
    a.flip = _action(w, k, "Find smallest ε that &flips it", w.studio.find_flip, "Ctrl+F")
    a.eps_up = _action(w, k, "ε up by 0.01", lambda: ctl.set_eps(ctl.eps() + 0.01), "Ctrl+Right")
    a.eps_down = _action(w, k, "ε down by 0.01", lambda: ctl.set_eps(ctl.eps() - 0.01), "Ctrl+Left")
    a.targeted = _action(w, k, "&Targeted attack", lambda on: ctl.set_method(TARGETED if on else UNTARGETED),
                         "Ctrl+T", checkable=True)
    ctl.method.currentIndexChanged.connect(lambda: a.targeted.setChecked(ctl.method.currentData() == TARGETED))

    v = mb.addMenu("&View")
    a.panels_menu = v.addMenu("&Panels")
    for dock in w.docks.values():
        a.panels_menu.addAction(dock.toggleViewAction())
    a.hide_panels = _action(w, v, "&Hide side panels", w.hide_side_panels, "Ctrl+Shift+H",
                            "Give the tabs the whole window; again brings the panels back", checkable=True)
    w.ctx.sidePanelsHidden.connect(a.hide_panels.setChecked)
    a.reset_layout = _action(w, v, "&Reset layout", w.workspaces.reset, None,
                             "Every tab's side panels back to how they came")
    themes = v.addMenu("&Theme")
    group = QActionGroup(w)
    current = read_text(w.settings, "view/theme", "system", choices=THEMES)
    a.themes = {}
    for name in THEMES:
        act = QAction(name.capitalize(), w, checkable=True)
        act.setChecked(name == current)
        act.triggered.connect(lambda _=False, n=name: _set_theme(w, n))
        group.addAction(act)
        themes.addAction(act)
        a.themes[name] = act
    v.addSeparator()  # the lesson (gui/lesson_dock.py) and presentation mode (gui/presentation.py) own their actions
    for act in (w.lesson.toggle_action, w.lesson.start_action, w.presentation.action):
        v.addAction(act)

    h = mb.addMenu("&Help")
    a.shortcuts = _action(w, h, "&Keyboard shortcuts", w.show_shortcuts, "F1")
    a.reset_settings = _action(w, h, "&Reset settings…", w.ask_reset_settings, None,
                               "Every setting back to its default (a copy of the old ones is kept)")
    a.about = _action(w, h, "&About Adversarial Studio", w.about)
    return a


ONNX_INPUT_WORDS = {"file": "What the file says (else pixels 0–1)", "0-1": "Pixels from 0 to 1",
                    "mnist": "MNIST-normalized pixels", "0-255": "Grey levels from 0 to 255"}
ONNX_OUTPUT_WORDS = {"file": "Outputs: what the file says", "logits": "Outputs: logits (scores)",
                     "probabilities": "Outputs: probabilities (softmax)"}


def _onnx_menu(w, menu) -> dict[str, QAction]:
    """What an ONNX classifier made elsewhere expects as input and gives as output, when its file does not say
    (or says wrongly): two groups of choices; the ONNX model in use is opened again with a new choice."""
    menu.setToolTipsVisible(True)
    current = dict(zip(("input_range", "outputs"), w.studio.onnx_options()))
    acts: dict[str, QAction] = {}
    for key, words in (("input_range", ONNX_INPUT_WORDS), ("outputs", ONNX_OUTPUT_WORDS)):
        group = QActionGroup(w)
        for value, text in words.items():
            act = QAction(text, w, checkable=True)
            act.setChecked(value == current[key])
            act.setToolTip("Applies to ONNX files only; this app's .safetensors files say it themselves")
            act.triggered.connect(lambda _=False, k=key, v=value: w.studio.set_onnx_options(**{k: v}))
            group.addAction(act)
            menu.addAction(act)
            acts[f"{key}:{value}"] = act
        menu.addSeparator()
    return acts


CLASS_LAYOUT_WORDS = {"auto": "From the folder (its classes.txt or its name)", "digits": "Digits 0–9 (MNIST)",
                      "fashion": "Fashion-MNIST (T-shirt/top … Ankle boot)", "kmnist": "KMNIST (10 hiragana)",
                      "letters": "EMNIST letters (a–z)", "emnist-digits": "EMNIST digits"}


def _classes_menu(w, menu) -> dict[str, QAction]:
    """Which classes the dataset folder's labels stand for, when it has no classes.txt and its name does not
    say: one choice per known layout; every feature reads the folder again with a new choice."""
    from advstudio.core.classes import LAYOUT_NAMES

    menu.setToolTipsVisible(True)
    current = w.studio.data_layout() or "auto"
    group, acts = QActionGroup(w), {}
    for value in ("auto", *LAYOUT_NAMES):
        act = QAction(CLASS_LAYOUT_WORDS.get(value, value), w, checkable=True)
        act.setChecked(value == current)
        act.setToolTip("The names of the dataset's classes, shown wherever a class appears; EMNIST's layouts "
                       "also turn its images the right way up")
        act.triggered.connect(lambda _=False, v=value: w.studio.set_data_layout(None if v == "auto" else v))
        group.addAction(act)
        menu.addAction(act)
        acts[value] = act
    return acts


def _undo_depth_menu(w, menu) -> dict[int, QAction]:
    """One choice per depth (the stored one too, if it is not among them); the current one is checked."""
    from advstudio.gui.widgets.canvas import UNDO_DEPTH_CHOICES

    menu.setToolTipsVisible(True)
    current = w.studio.canvas.undo_depth
    group, acts = QActionGroup(w), {}
    for n in sorted({*UNDO_DEPTH_CHOICES, current}):
        act = QAction(f"Keep the last {n} strokes", w, checkable=True)
        act.setChecked(n == current)
        act.setToolTip("How many strokes Undo can take back; older strokes stay on the canvas")
        act.triggered.connect(lambda _=False, depth=n: w.studio.set_undo_depth(depth))
        group.addAction(act)
        menu.addAction(act)
        acts[n] = act
    return acts


def _set_theme(w, name: str) -> None:
    apply_theme(QApplication.instance(), name)
    w.settings.setValue("view/theme", name)
