"""The studio window: docks and tabs made in one place, menus and shortcuts, QSettings, and the traffic with
the worker thread (requests out, frozen replies in through @Slot methods)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
from PySide6.QtCore import QSettings, Qt, Signal, Slot
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QDockWidget, QLabel, QMainWindow, QMessageBox, QTabWidget, QWidget

from advstudio.gui.actions import build_menus
from advstudio.gui.features.activations.controller import ActivationsDock
from advstudio.gui.dialogs import DialogsMixin
from advstudio.gui.features.certify.controller import CertifyStudio
from advstudio.gui.features.compare.controller import CompareStudio
from advstudio.gui.features.defenses.controller import DefenseStudio
from advstudio.gui.features.lab.controller import StudioLab
from advstudio.gui.features.lesson.controller import LessonDock
from advstudio.gui.presentation import PresentationMode
from advstudio.gui.features.report.controller import SessionLog
from advstudio.gui.features.training.controller import TrainingStudio
from advstudio.gui.messages import Analysis, AnalyzeRequest, FlipResult, GalleryData
from advstudio.gui.worker import Failure, Reply
from advstudio.gui.models import ModelInfo
from advstudio.gui.features.studio.attack_panel import AttackPanel
from advstudio.gui.features.studio.gallery_panel import GalleryPanel
from advstudio.gui.features.studio.input_panel import InputPanel
from advstudio.gui.features.studio.model_panel import ModelInfoPanel
from advstudio.gui.features.studio.prediction_panel import PredictionPanel
from advstudio.gui.context import AppContext
from advstudio.gui.worker import Worker, WorkerThread

MODEL_SUFFIXES = {".safetensors", ".pt", ".pth", ".ckpt", ".pkl", ".bin"}
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
        self.tab_widgets: dict[str, QWidget] = {}
        self._hidden_docks: list[QDockWidget] = []  # the docks "Hide side panels" hid, to show them again
        self._latest: dict[str, int] = {}
        self._fallback_model: str | None = None
        self._routes: dict[str, Callable[[object], None]] = {
            "load_model": self._show_model, "analyze": self._show_analysis,
            "flip": self._show_flip, "gallery": self._show_gallery,
            "use_defense": self._show_model,  # a defended model made current (gui/defense.py)
        }
        self._build_panels()
        self._build_status_bar()
        self.actions_ = build_menus(self)
        self._restore_settings()
        from advstudio.gui.features.studio.jobs import register_all

        register_all(self.worker, device)
        self.lab.attach(self.worker)
        self.training.attach(self.worker)
        self.compare.attach(self.worker)
        self.defense.attach(self.worker)
        self.certify.attach(self.worker)
        self.worker.replied.connect(self._on_reply)
        self.worker.failed.connect(self._on_failure)
        self.worker_thread = WorkerThread(self.worker)
        self.worker_thread.start()
        self.ctx.openModelRequested.connect(self.open_model)
        self.ctx.dataDirChanged.connect(self._on_data_dir)
        self._start_model(model_path)

    # ------------------------------------------------------------------ the shared state lives in the context
    current_input = property(lambda self: self.ctx.current_input)
    model_info = property(lambda self: self.ctx.model_info)
    analysis = property(lambda self: self.ctx.analysis)
    flip = property(lambda self: self.ctx.flip)
    errors = property(lambda self: self.ctx.errors)
    data_dir = property(lambda self: self.ctx.data_dir)
    _closed = property(lambda self: self.ctx.closed)
    analysisShown = property(lambda self: self.ctx.analysisShown)
    modelReady = property(lambda self: self.ctx.modelReady)
    flipFound = property(lambda self: self.ctx.flipFound)
    errorShown = property(lambda self: self.ctx.errorShown)
    sidePanelsHidden = property(lambda self: self.ctx.sidePanelsHidden)

    def show_status(self, message: str, timeout_ms: int = 4000) -> None:
        self.statusBar().showMessage(message, timeout_ms)

    # ------------------------------------------------------------------ layout: one place for docks and tabs
    def _build_panels(self) -> None:
        self.input_panel = InputPanel()
        self.canvas = self.input_panel.canvas
        self.prediction_panel = PredictionPanel()
        self.attack_panel = AttackPanel()
        self.model_panel = ModelInfoPanel()
        self.gallery_panel = GalleryPanel()
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.setCentralWidget(self.tabs)
        self.add_tab("attack", "Attack", self.attack_panel)
        self.add_dock("input", "Input: draw a digit", self.input_panel, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.add_dock("prediction", "Prediction", self.prediction_panel, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.add_dock("gallery", "MNIST gallery", self.gallery_panel, Qt.DockWidgetArea.RightDockWidgetArea)
        self.add_dock("model", "Model", self.model_panel, Qt.DockWidgetArea.RightDockWidgetArea,
                      tabify_with="gallery")
        self.docks["model"].raise_()
        self.canvas.inkChanged.connect(self._on_ink_changed)
        self.input_panel.openImageRequested.connect(self.ask_open_image)
        self.input_panel.brush.valueChanged.connect(self._remember_brush)
        controls = self.attack_panel.controls
        controls.settingsChanged.connect(self._on_attack_settings)
        controls.flipRequested.connect(self.find_flip)
        controls.saveRequested.connect(self.ask_save_result)
        self.gallery_panel.digitPicked.connect(self._on_digit_picked)
        self.gallery_panel.chooseFolderRequested.connect(self.ask_data_dir)
        self.activations = ActivationsDock(self)  # its own "activations" jobs and replies, only while it is shown
        # Each feature below owns its tab or dock, its job kinds and its traffic with the worker.
        self.lab = StudioLab(self)  # "Any attack" and "Robustness lab" tabs; their own job kinds (gui/lab.py)
        self.compare = CompareStudio(self)  # "Side by side" tab: one attack on two models (gui/compare.py)
        self.training = TrainingStudio(self)  # "Training" tab: the "train" job (gui/training.py)
        self.defense = DefenseStudio(self)  # "Defenses" tab: plain vs adaptive attack (gui/defense.py)
        self.certify = CertifyStudio(self)  # "Certify & detect" tab: smoothing and detection jobs (gui/certify.py)
        self.session_log = SessionLog(self)  # records the session for File ▸ Export report (gui/session_log.py)
        self.lesson = LessonDock(self)  # the guided lesson dock (gui/lesson_dock.py, text in resources/lessons)
        self.presentation = PresentationMode(self)  # F11: full screen, large fonts, thick lines (gui/presentation.py)
        self._wire_features()
        bar = self.tabs.tabBar()
        bar.moveTab(self.tabs.indexOf(self.tab_widgets["compare"]), 1)  # beside the Attack tab it mirrors
        self.tabs.currentChanged.connect(self._on_tab_changed)

    def _wire_features(self) -> None:
        """Where one feature acts on another: a public signal of one, connected here to a public slot of the
        other (features never reach into each other)."""

    def add_tab(self, key: str, title: str, widget: QWidget) -> None:
        widget.setObjectName(widget.objectName() or f"tab_{key}")
        self.tabs.addTab(widget, title)
        self.tab_widgets[key] = widget

    def show_tab(self, key: str) -> bool:
        """Bring the tab added under `key` to the front (False if there is none)."""
        widget = self.tab_widgets.get(key)
        if widget is None:
            return False
        self.tabs.setCurrentWidget(widget)
        return True

    def current_tab(self) -> str | None:
        current = self.tabs.currentWidget()
        return next((k for k, w in self.tab_widgets.items() if w is current), None)

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
        if getattr(self, "presentation", None) is not None:
            self.presentation.focus_dock(key)
        else:
            dock.show()
            dock.raise_()
        return True

    def unfocus_docks(self) -> None:
        """Presentation mode: the dock show_dock brought up makes room again."""
        if getattr(self, "presentation", None) is not None:
            self.presentation.unfocus()

    WIDE_TABS = ("attack_lab", "robustness", "training", "defenses", "certify")
    MIN_WIDE_TAB_WIDTH = 820  # below this the labs' plots get squeezed beside their controls

    @Slot(int)
    def _on_tab_changed(self, _index: int) -> None:
        """Tell the features which tab is in front; on a small screen, say once per visit how to give a lab
        the whole window."""
        self.ctx.tabChanged.emit(self.current_tab() or "")
        wide = {self.tab_widgets.get(k) for k in self.WIDE_TABS}
        if (self.tabs.currentWidget() in wide and not self.side_panels_hidden()
                and self.tabs.width() < self.MIN_WIDE_TAB_WIDTH):
            self.statusBar().showMessage("Tip: View ▸ Hide side panels (Ctrl+Shift+H) gives this tab the whole "
                                         "window; pressing it again brings the panels back.", 10000)

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
                self.sidePanelsHidden.emit(False)  # nothing to hide: the action and the lab's button stay off
                return
            for d in self._hidden_docks:
                d.hide()
        else:
            for d in self._hidden_docks:
                d.show()
            self._hidden_docks = []
        self.sidePanelsHidden.emit(on)

    def add_dock(self, key: str, title: str, widget: QWidget, area: Qt.DockWidgetArea,
                 tabify_with: str | None = None) -> QDockWidget:
        """Add a dock (its objectName keeps its place in saved layouts) and list it in View ▸ Panels."""
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock_{key}")
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        if tabify_with:
            self.tabifyDockWidget(self.docks[tabify_with], dock)
        self.docks[key] = dock
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
            self.statusBar().addPermanentWidget(w)

    # ------------------------------------------------------------------ settings
    def _restore_settings(self) -> None:
        geometry = self.settings.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1280, 800)
            self.resizeDocks([self.docks["input"], self.docks["model"]], [335, 375], Qt.Orientation.Horizontal)
            self.resizeDocks([self.docks["input"], self.docks["prediction"]], [480, 280], Qt.Orientation.Vertical)
        state = self.settings.value("window/state")
        if state is not None:
            self.restoreState(state)
        width = self.settings.value("canvas/brush_width", 22, int)
        self.input_panel.set_brush_width(int(width))

    def save_settings(self) -> None:
        s = self.settings
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
        s.setValue("canvas/brush_width", int(self.input_panel.brush.value()))
        if self.data_dir:
            s.setValue("data/folder", str(self.data_dir))
        s.sync()

    @Slot(int)
    def _remember_brush(self, width: int) -> None:
        self.settings.setValue("canvas/brush_width", int(width))

    # ------------------------------------------------------------------ requests to the worker
    def _submit(self, kind: str, payload: object = None) -> int:
        gen = self.worker.submit(kind, payload).generation
        self._latest[kind] = gen
        return gen

    def _start_model(self, explicit: str | None) -> None:
        from advstudio.core.storage import bundled_model_path

        bundled = str(bundled_model_path())
        last = self.settings.value("model/last", "", str)
        path = explicit or (last if last and Path(last).is_file() else bundled)
        self._fallback_model = bundled if path != bundled else None
        self._submit("load_model", path)

    def open_model(self, path: str | Path) -> None:
        """Load another model; on any failure the current one stays."""
        self._fallback_model = None
        self.statusBar().showMessage(f"Loading model {Path(path).name}…", 3000)
        self._submit("load_model", str(path))

    def open_image(self, path: str | Path) -> bool:
        """Make an image file the current input; a bad file is reported and changes nothing."""
        from advstudio.core.data import InputImageError, load_image_file

        try:
            digit = load_image_file(path)
        except InputImageError as exc:
            self._error("Cannot use this image", str(exc))
            return False
        self.canvas.set_base(digit)
        self.statusBar().showMessage(f"Input: {Path(path).name}", 4000)
        return True

    def set_data_dir(self, folder: str | Path | None) -> None:
        self.ctx.set_data_dir(folder)

    @Slot(str)
    def _on_data_dir(self, _folder: str) -> None:
        self._request_gallery()

    def _request_gallery(self) -> None:
        from advstudio.core.data import resolve_data_dir

        folder = resolve_data_dir(self.data_dir)
        if folder is None or self.model_info is None:
            return
        self.gallery_panel.set_message(f"Reading MNIST test digits from {folder}…")
        self._submit("gallery", str(folder))

    def _analyze(self) -> None:
        if self.current_input is None or self.model_info is None:
            return
        self._submit("analyze", AnalyzeRequest(self.current_input, self.attack_panel.controls.settings()))
        self.activations.request()

    def find_flip(self) -> None:
        if self.current_input is None:
            self._error("Nothing to attack", "Draw a digit or open an image first.")
            return
        self.statusBar().showMessage("Searching for the smallest ε that flips the prediction…")
        self._submit("flip", AnalyzeRequest(self.current_input, self.attack_panel.controls.settings()))

    def set_input(self, image: np.ndarray | None) -> None:
        if image is None:
            self._latest["analyze"] = -1  # drop answers still on the way
        self.ctx.set_input(image)
        if self.current_input is None:
            for panel in (self.prediction_panel, self.input_panel, self.attack_panel):
                panel.set_data(None)
            self.activations.request()  # clears the dock
            return
        self._analyze()

    @Slot()
    def _on_ink_changed(self) -> None:
        self.set_input(self.canvas.current_input())

    @Slot(object)
    def _on_attack_settings(self, _settings: object) -> None:
        self._analyze()

    @Slot(object, int, int)
    def _on_digit_picked(self, image: object, label: int, index: int) -> None:
        self.canvas.set_base(np.asarray(image))
        self.statusBar().showMessage(f"Input: MNIST test image #{index} (labelled {label})", 4000)

    # ------------------------------------------------------------------ replies from the worker
    @Slot(object)
    def _on_reply(self, reply: Reply) -> None:
        if self._closed or self._latest.get(reply.kind) != reply.generation:
            return  # stale: a newer request of this kind is on its way
        self._routes[reply.kind](reply.value)

    @Slot(object)
    def _on_failure(self, failure: Failure) -> None:
        if self._closed or self._latest.get(failure.kind) != failure.generation:
            return
        if failure.kind == "load_model" and self._fallback_model:
            fallback, self._fallback_model = self._fallback_model, None
            self._error("Could not load the last model", failure.message + "\nUsing the bundled model instead.")
            self._submit("load_model", fallback)
            return
        if failure.kind == "gallery":
            self.gallery_panel.set_message(failure.message)
        titles = {"load_model": "Could not open the model", "gallery": "Could not read MNIST"}
        self._error(titles.get(failure.kind, "Something went wrong"), failure.message)

    def _show_model(self, info: ModelInfo) -> None:
        from advstudio.core.storage import bundled_model_path

        first = self.model_info is None
        self._fallback_model = None
        self.model_panel.set_data(info)
        self.status_device.setText(f"device: {info.device}")
        defended = bool(info.meta.get("defense"))  # a wrapper built in this session, not a file
        self.status_model.setText(f"model: {info.name}" + (" (defended)" if defended else ""))
        acc = info.accuracy
        self.status_accuracy.setText(f"test accuracy {acc * 100:.2f}%" if acc is not None else "accuracy unknown")
        bundled = not defended and Path(info.path).resolve() == bundled_model_path().resolve()
        if not defended:
            self.settings.setValue("model/last", "" if bundled else info.path)
        if not first:
            self.statusBar().showMessage(f"Model loaded: {info.name}", 4000)
        self.ctx.set_model(info)
        self._analyze()
        self._request_gallery()

    def _show_analysis(self, analysis: Analysis) -> None:
        self.prediction_panel.set_data(analysis.prediction)
        self.input_panel.set_data(analysis.prediction)
        self.attack_panel.set_data(analysis.attack)
        self.ctx.set_analysis(analysis)

    def _show_flip(self, result: FlipResult) -> None:
        if result.found:
            self.statusBar().showMessage(
                f"Smallest ε that flips it: {result.eps:.3f} ({result.clean_label} → {result.adv_label}); "
                f"ε = {result.below:.3f} does not. {result.evaluations} forward passes.", 10000)
            self.attack_panel.controls.set_eps(result.eps)
        else:
            self.statusBar().showMessage(f"No ε up to {result.eps:.1f} flips it with this attack.", 10000)
        self.ctx.set_flip(result)

    def _show_gallery(self, data: GalleryData) -> None:
        self.gallery_panel.set_data(data)

    # ------------------------------------------------------------------ errors, dialogs, drops, closing
    def _error(self, title: str, message: str) -> None:
        self.ctx.report_error(title, message)

    def _message_box(self, title: str, message: str) -> None:
        """Show the error without blocking: the window stays responsive."""
        box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, self)
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
            self.open_model(path)
        else:
            self.open_image(path)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if not self.ctx.closed:
            self.ctx.closed = True
            self.save_settings()
            self.worker_thread.stop(2000)
        super().closeEvent(event)
