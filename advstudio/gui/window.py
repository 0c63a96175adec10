"""The main window: it assembles the features (each builds its own tabs and docks through the AppContext), wires
the few places where one feature acts on another, and owns the menus, the status bar, the window settings,
drops and closing. Everything else lives in the features (advstudio/gui/features/<name>/)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

from PySide6.QtCore import QSettings, QSize, Qt, QTimer, Slot
from PySide6.QtGui import (
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QGuiApplication,
    QKeySequence,
    QResizeEvent,
    QShortcut,
)
from PySide6.QtWidgets import QDockWidget, QLabel, QMainWindow, QMessageBox, QWidget

from advstudio.gui.actions import build_menus
from advstudio.gui.chrome import WorkspaceBar
from advstudio.gui.context import AppContext
from advstudio.gui.dialogs import DialogsMixin
from advstudio.gui.features.activations.controller import ActivationsDock
from advstudio.gui.features.any_attack.controller import AnyAttack
from advstudio.gui.features.certify.controller import CertifyStudio
from advstudio.gui.features.compare.controller import CompareStudio
from advstudio.gui.features.defenses.controller import DefenseStudio
from advstudio.gui.features.explain.controller import ExplainStudio
from advstudio.gui.features.lab.controller import StudioLab
from advstudio.gui.features.lesson.controller import LessonDock
from advstudio.gui.features.report.controller import SessionLog
from advstudio.gui.features.studio.controller import Studio
from advstudio.gui.features.training.controller import TrainingStudio
from advstudio.gui.features.universal.controller import PatchUniversal
from advstudio.gui.models import ModelInfo
from advstudio.gui.presentation import PresentationMode
from advstudio.gui.stored import drop, read_bytes, take_problems
from advstudio.gui.widgets.layout import CurrentPageTabs, FitScroll
from advstudio.gui.widgets.plain import plain_tip
from advstudio.gui.worker import Worker, WorkerThread
from advstudio.gui.workspaces import LESSON, Workspaces

TAB_TIPS = {  # the switcher's tooltips: what each workspace is for, in plain words
    "attack": "Draw a digit and push it, with one slider, until the network misreads it",
    "compare": "The same drawing and the same push against two models at once",
    "attack_lab": "Every attack there is, on your drawing, step by step",
    "explain": "Why the push works: what the network looks at, the loss around your drawing, the border it crosses",
    "universal": "One patch or one faint pattern, made once, that fools the network on any digit",
    "robustness": "How many test digits each model still reads right as the push grows",
    "training": "Train your own model, plain or hardened against attacks",
    "defenses": "Try a defense, then attack it again by an attacker who knows it",
    "certify": "Prove a model cannot be fooled within a radius, and try to spot attacked images",
}
PAGE_MIN_HEIGHT = 480  # the most a tab's page asks of the window's height; a taller page scrolls
STATE_VERSION = 2  # of the saved dock layout: 2 has the workspace bar and the lesson column
STATUS_NAME = 64  # characters of the model's name in the status bar (the tooltip has all of it)
MODEL_SUFFIXES = {".safetensors", ".onnx", ".pt", ".pth", ".ckpt", ".pkl", ".bin"}
ErrorReporter = Callable[[str, str], None]


class MainWindow(DialogsMixin, QMainWindow):
    def __init__(self, settings: QSettings | None = None, report_error: ErrorReporter | None = None,
                 model_path: str | None = None, data_dir: str | None = None, device: str | None = None) -> None:
        super().__init__()
        self.setWindowTitle("Adversarial Studio")
        self.setAcceptDrops(True)
        self.settings = settings if settings is not None else QSettings()
        self.worker = Worker()
        self.ctx = AppContext(self.settings, self.worker, shell=self, parent_widget=self,
                              report_error=report_error or self._message_box, data_dir=data_dir)
        self.docks: dict[str, QDockWidget] = {}
        self.tab_widgets: dict[str, QWidget] = {}  # the features' pages (each sits in a FitScroll on its tab)
        self._pages: dict[str, FitScroll] = {}
        self._hidden_docks: list[QDockWidget] = []  # the docks "Hide side panels" hid, to show them again
        self.tabs = CurrentPageTabs()  # its minimum is the page on screen's: hidden pages may be larger
        self.tabs.setDocumentMode(True)
        self.tabs.tabBar().hide()  # the workspace bar across the top switches the tabs
        self.setCentralWidget(self.tabs)
        self.workspaces = Workspaces(self, self.settings)  # which side panels each tab brings
        self._building = self.workspaces.quiet()
        self._building.__enter__()  # the features' own dock set-up is not the user's choice
        # Each feature owns its tabs or docks, its job kinds and its traffic with the worker.
        self.studio = Studio(self.ctx, device)  # Attack tab; Input, Prediction, gallery and Model docks
        self.activations = ActivationsDock(self.ctx)  # Activations dock: its own jobs, only while it is shown
        self.any_attack = AnyAttack(self.ctx)  # "Any attack": any attack on the input, its trajectory
        self.explain = ExplainStudio(self.ctx)  # "Why it breaks": attributions, landscape, boundary, projection
        self.universal = PatchUniversal(self.ctx)  # "Patch & universal": one patch, one v, for every digit
        self.lab = StudioLab(self.ctx)  # "Robustness lab": curves over the test set
        self.compare = CompareStudio(self.ctx)  # "Side by side": one attack on two models
        self.training = TrainingStudio(self.ctx)  # "Training": the train job
        self.defense = DefenseStudio(self.ctx)  # "Defenses": plain vs adaptive attack
        self.certify = CertifyStudio(self.ctx)  # "Certify & detect": smoothing and detection jobs
        self.session_log = SessionLog(self.ctx)  # records the session for File ▸ Export report
        self.lesson = LessonDock(self.ctx)  # the guided lesson dock (text in resources/lessons)
        self.presentation = PresentationMode(self)  # F11: full screen, large fonts, thick lines
        self._wire_features()
        self.tabs.tabBar().moveTab(self.tabs.indexOf(self.tab_widgets["compare"]), 1)  # beside Attack
        self._build_workspace_bar()
        self.tabs.currentChanged.connect(self._on_tab_changed)
        for keys, step in (("Ctrl+PgDown", 1), ("Ctrl+PgUp", -1)):  # as in Qt's tab widgets, wherever focus is
            QShortcut(QKeySequence(keys), self, partial(self._step_tab, step))
        self._build_status_bar()
        self.actions_ = build_menus(self)
        self._restore_settings()
        self._building.__exit__(None, None, None)
        self.workspaces.set_lesson(not self.docks[LESSON].isHidden())
        self.workspaces.apply()
        self.worker_thread = WorkerThread(self.worker)
        self.worker_thread.start()
        self.studio.start(model_path)
        QTimer.singleShot(0, self.report_settings_problems)

    def show_status(self, message: str, timeout_ms: int = 4000) -> None:
        """A message in the strip at the top (where the user is looking) and in the status bar."""
        self.statusBar().showMessage(message, timeout_ms)
        self.workspace_bar.strip.show_message(message, max(timeout_ms, 6000) if timeout_ms > 0 else 0)

    def _build_workspace_bar(self) -> None:
        """One switcher tab per activity across the top, mirroring the (bar-less) tab widget both ways."""
        self.workspace_bar = WorkspaceBar(self)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, self.workspace_bar)
        switcher = self.workspace_bar.switcher
        for i in range(self.tabs.count()):
            switcher.addTab(self.tabs.tabText(i))
            key = next((k for k, p in self._pages.items() if p is self.tabs.widget(i)), "")
            switcher.setTabToolTip(i, TAB_TIPS.get(key) or self.tabs.tabText(i).replace("&&", "&"))
        switcher.setCurrentIndex(self.tabs.currentIndex())
        switcher.currentChanged.connect(self.tabs.setCurrentIndex)
        self.tabs.currentChanged.connect(switcher.setCurrentIndex)

    def _wire_features(self) -> None:
        """Where one feature acts on another: a public signal of one, connected here to a public slot of the
        other (features never reach into each other)."""
        self.studio.saveRequested.connect(self.session_log.keep_on_save)
        self.studio.strongerAttackRequested.connect(self.any_attack.try_attack)
        self.any_attack.inputAttackShown.connect(self.lesson.input_attack_shown)
        self.training.evaluateDistilled.connect(self.defense.evaluate_distilled)
        self.lesson.labRunRequested.connect(self.lab.run_curve)
        self.lesson.featureActionRequested.connect(self._lesson_feature_action)
        self.explain.landscapeShown.connect(partial(self.lesson.feature_shown, "landscape"))
        self.lab.labFinished.connect(self.lesson.lab_finished)
        self.lab.labFailed.connect(self.lesson.lab_failed)
        self.lab.labFinished.connect(self.session_log.record_lab)
        self.activations.dataChanged.connect(self.lesson.set_activations_data)
        self.activations.onScreenChanged.connect(self.lesson.set_activations_on_screen)
        self.activations.dataChanged.connect(self.session_log.show_activations)
        # the report's findings: the last side-by-side result, Any attack's result (Ctrl+K), the lesson's progress
        self.compare.compareShown.connect(self.session_log.show_compare)
        for kind, signal in (("attribution", self.explain.attributionShown), ("landscape", self.explain.landscapeShown),
                             ("boundary", self.explain.boundaryShown), ("projection", self.explain.projectionShown)):
            signal.connect(partial(self.session_log.show_explain, kind))
        self.any_attack.inputAttackShown.connect(self.session_log.show_input_attack)
        self.lesson.lessonLoaded.connect(self.session_log.lesson_loaded)
        self.lesson.checkPassed.connect(self.session_log.lesson_step_done)
        self.session_log.lesson_loaded(self.lesson.lesson, self.lesson.done)  # loaded before this wiring
        for key, dock in self.docks.items():  # a dock tabbed behind another is "visible" to Qt: this tells the truth
            dock.visibilityChanged.connect(partial(self.lesson.dock_visibility_changed, key))

    @Slot(str, object)
    def _lesson_feature_action(self, name: str, arg: object) -> None:
        """A lesson action another feature performs."""
        if name == "show_landscape":
            self.explain.show_landscape(arg)

    def add_tab(self, key: str, title: str, widget: QWidget) -> None:
        widget.setObjectName(widget.objectName() or f"tab_{key}")
        # a page taller than the screen scrolls; one whose wrapped lines must not be squeezed says so
        page = FitScroll(widget, PAGE_MIN_HEIGHT, wrapped_text=getattr(widget, "sized_by_wrapped_text", False))
        page.setObjectName(f"page_{key}")
        self.tabs.addTab(page, title)
        self.tab_widgets[key] = widget
        self._pages[key] = page
        if hasattr(self, "workspace_bar"):  # a tab added later (none yet): the switcher gets it too
            self.workspace_bar.switcher.addTab(title)

    def show_tab(self, key: str) -> bool:
        """Bring the tab added under `key` to the front (False if there is none)."""
        page = self._pages.get(key)
        if page is None:
            return False
        self.tabs.setCurrentWidget(page)
        return True

    def _step_tab(self, step: int) -> None:
        self.tabs.setCurrentIndex((self.tabs.currentIndex() + step) % self.tabs.count())

    def current_tab(self) -> str | None:
        current = self.tabs.currentWidget()
        return next((k for k, w in self._pages.items() if w is current), None)

    def has_tab(self, key: str) -> bool:
        return key in self.tab_widgets

    def dock_visible(self, key: str) -> bool | None:
        dock = self.docks.get(key)
        return None if dock is None else dock.isVisible()

    def show_dock(self, key: str) -> bool:
        """Bring the dock added under `key` up (in presentation mode it makes room for it)."""
        dock = self.docks.get(key)
        if dock is None:
            return False
        if self.side_panels_hidden():
            self.hide_side_panels(False)
        self.workspaces.focus(key)  # it joins the tab's panels until unfocus_docks (the lesson's next step)
        return True

    def unfocus_docks(self) -> None:
        """The dock show_dock brought up makes room again."""
        self.workspaces.unfocus()

    @Slot(int)
    def _on_tab_changed(self, _index: int) -> None:
        """Bring the tab's side panels (its workspace) and tell the features which tab is in front."""
        self.workspaces.tab_changed()
        self.ctx.tabChanged.emit(self.current_tab() or "")

    def side_panels_hidden(self) -> bool:
        return bool(self._hidden_docks)

    def hide_side_panels(self, on: bool) -> None:
        """Give the tabs the whole window (on a small screen the labs need it); showing brings back exactly the
        docks that were visible."""
        if on == self.side_panels_hidden():
            return
        if on:
            self._hidden_docks = [d for d in self.docks.values() if d.isVisible()]
            if not self._hidden_docks:
                self.ctx.sidePanelsHidden.emit(False)  # nothing to hide: the action and the lab's button stay off
                return
            with self.workspaces.quiet():
                for d in self._hidden_docks:
                    d.hide()
        else:
            self._hidden_docks = []
            self.workspaces.apply()  # the tab's panels, as they would be now (the tab may have changed)
        self.ctx.sidePanelsHidden.emit(on)

    def add_dock(self, key: str, title: str, widget: QWidget, area: Qt.DockWidgetArea,
                 tabify_with: str | None = None) -> QDockWidget:
        """Add a dock (its objectName keeps its place in saved layouts) and list it in View ▸ Panels."""
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock_{key}")
        dock.setWidget(FitScroll(widget))  # a tall panel scrolls instead of making the window taller
        if key == LESSON:  # a column of its own at the right, whatever the feature asked
            self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock, Qt.Orientation.Horizontal)
        else:
            self.addDockWidget(area, dock)
            if tabify_with:
                self.tabifyDockWidget(self.docks[tabify_with], dock)
        self.docks[key] = dock
        self.workspaces.watch(key, dock)
        if hasattr(self, "actions_"):
            self.actions_.panels_menu.addAction(dock.toggleViewAction())
        return dock

    def _build_status_bar(self) -> None:
        self.status_device = QLabel("device: –")
        self.status_model = QLabel("model: loading…")
        self.status_accuracy = QLabel("")
        for w, tip in ((self.status_device, "Where the network runs"),
                       (self.status_model, "The model in use (File ▸ Open model… to change it)"),
                       (self.status_accuracy, "Clean accuracy on the MNIST test set, from the model file")):
            w.setToolTip(tip)
            w.setTextFormat(Qt.TextFormat.PlainText)  # a model's name is the user's text, never markup
            self.statusBar().addPermanentWidget(w)
        self.ctx.modelReady.connect(self._on_model_ready)

    @Slot(object)
    def _on_model_ready(self, info: ModelInfo) -> None:
        self.status_device.setText(f"device: {info.device}")
        name = info.name if len(info.name) <= STATUS_NAME else info.name[: STATUS_NAME - 1] + "…"  # keeps 1280 px
        self.status_model.setText(f"model: {name}" + (" (defended)" if info.defended else ""))
        self.status_model.setToolTip(plain_tip(f"The model in use: {info.name} (File ▸ Open model… to change it)"))
        acc = info.accuracy
        self.status_accuracy.setText(f"test accuracy {acc * 100:.2f}%" if acc is not None else "accuracy unknown")

    # ------------------------------------------------------------------ settings
    def _restore_settings(self) -> None:
        """The saved size, position and dock layout; values that are not Qt's saved bytes, or that Qt refuses,
        are dropped and noted (stored.py), and the default layout is used."""
        geometry = read_bytes(self.settings, "window/geometry")
        if geometry is None or not self.restoreGeometry(geometry):
            if geometry is not None:
                drop(self.settings, "window/geometry", "could not be restored")
            self._default_layout()
        state = read_bytes(self.settings, "window/state")
        if state is not None:
            self.restoreState(state, STATE_VERSION)  # a layout saved by an older version is not used

    def _default_layout(self) -> None:
        self.resize(self._default_size())
        self.resizeDocks([self.docks["input"], self.docks["model"]], [335, 375], Qt.Orientation.Horizontal)
        self.resizeDocks([self.docks["input"], self.docks["prediction"]], [420, 240], Qt.Orientation.Vertical)

    @Slot()
    def report_settings_problems(self) -> None:
        """Say, once the window is up, which saved settings were unusable and what was used instead (the
        window's own and the file it shares with the CLI)."""
        from advstudio.core.settings import load_settings
        from advstudio.core.settings import take_problems as shared_problems

        load_settings()  # a broken shared file is moved aside now, not halfway through a job
        problems = take_problems(self.settings) + shared_problems()
        if problems:
            lines = [p[:1].upper() + p[1:] + "." for p in problems]
            self.ctx.report_error("Some saved settings were ignored", "\n".join(lines) + "\n\nEverything else "
                                  "was kept. Help ▸ Reset settings… puts every setting back to its default.")

    def ask_reset_settings(self) -> bool:
        """Help ▸ Reset settings…: after the user agrees, every setting back to its default, applied now where
        it can be (brush, panels, window size); the old settings are kept in a copy."""
        answer = QMessageBox.question(
            self, "Reset settings",
            "Reset every setting to its default?\n\nThe window's size and panels, the brush, the last model, the "
            "lesson and its progress, the MNIST folder and the theme are forgotten; a copy of the old settings is "
            "kept beside them. The model and the lesson on screen stay until the next start.")
        if answer != QMessageBox.StandardButton.Yes:
            return False
        self.reset_settings()
        return True

    def reset_settings(self) -> None:
        from advstudio.core.settings import reset_settings as reset_shared
        from advstudio.gui.features.studio.controller import DEFAULT_BRUSH
        from advstudio.gui.stored import reset_settings as reset_own

        kept = [p for p in (reset_own(self.settings), reset_shared()) if p is not None]
        self.studio.input_panel.set_brush_width(DEFAULT_BRUSH)
        self.workspaces.reset()
        self._default_layout()
        self.actions_.themes["system"].trigger()
        where = f"; the old ones are kept in {', '.join(p.name for p in kept)}" if kept else ""
        self.show_status(f"Settings reset to their defaults{where}", 10000)

    DEFAULT_MAX_SIZE = QSize(1600, 1000)

    def _default_size(self) -> QSize:
        """The screen's available area (a 1280×720 projector, a laptop), up to 1600×1000 on a large screen."""
        screen = self.screen() or QGuiApplication.primaryScreen()
        if screen is None:
            return QSize(1280, 680)
        frame = self.frameGeometry().size() - self.geometry().size()  # the title bar and borders, once shown
        return (screen.availableGeometry().size() - frame).boundedTo(self.DEFAULT_MAX_SIZE)

    def keep_on_screen(self) -> None:
        """Soon (once the layouts have settled): a window that grew past the screen by itself, because panels
        came up before others made room, shrinks back to fit it."""
        QTimer.singleShot(0, self._fit_screen)

    @Slot()
    def _fit_screen(self) -> None:
        screen = self.screen()
        presenting = getattr(self, "presentation", None)
        if screen is None or self.isFullScreen() or self.isMaximized() or (presenting and presenting.active):
            return
        frame = self.frameGeometry().size() - self.geometry().size()
        room = screen.availableGeometry().size() - frame
        size = QWidget.size(self)
        fit = size.boundedTo(room).expandedTo(self.minimumSizeHint())
        if fit != size and (size.width() > room.width() or size.height() > room.height()):
            self.resize(fit)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        old = event.oldSize()
        if old.isValid() and (event.size().width() > old.width() or event.size().height() > old.height()):
            self.keep_on_screen()

    def save_settings(self) -> None:
        s = self.settings
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState(STATE_VERSION))
        s.setValue("canvas/brush_width", int(self.studio.input_panel.brush.value()))
        if self.ctx.data_dir:
            s.setValue("data/folder", str(self.ctx.data_dir))
        s.sync()

    # ------------------------------------------------------------------ errors, drops, closing
    def _message_box(self, title: str, message: str) -> None:
        """Show the error without blocking: the window stays responsive."""
        box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, self)
        box.setTextFormat(Qt.TextFormat.PlainText)  # messages quote file names and model names: the user's text
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if not paths:
            return
        event.acceptProposedAction()
        path = paths[0]
        if Path(path).suffix.lower() in MODEL_SUFFIXES:
            self.studio.open_model(path)
        else:
            self.studio.open_image(path)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if not self.ctx.closed:
            self.ctx.closed = True
            self.workspaces.freeze()
            self.save_settings()
            self.worker_thread.stop(2000)
        super().closeEvent(event)
