"""The studio: draw or open a digit, watch the model read it, attack it with the ε slider, find the flip, browse
MNIST. It owns the Input, Prediction, Model and gallery docks and the Attack tab, its five job kinds
("load_model", "open_image", "analyze", "flip", "gallery"), and the studio's state in the context (input, model, analysis,
attack settings), which every other feature reads and may ask to change (ε, strokes, flip, model file)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import QFileDialog

from advstudio.core.classes import DIGITS
from advstudio.gui.context import AppContext
from advstudio.gui.features.studio.attack_panel import AttackPanel
from advstudio.gui.features.studio.gallery_panel import GalleryPanel
from advstudio.gui.features.studio.input_panel import InputPanel
from advstudio.gui.features.studio.jobs import register_all
from advstudio.gui.features.studio.model_panel import ModelInfoPanel
from advstudio.gui.features.studio.prediction_panel import PredictionPanel
from advstudio.gui.job_client import JobClient
from advstudio.gui.messages import EPS_MAX, Analysis, AnalyzeRequest, FlipResult, GalleryData
from advstudio.gui.model_dialog import ask_model_path
from advstudio.gui.models import ModelInfo
from advstudio.gui.stored import read_int, read_path, read_text
from advstudio.gui.widgets.canvas import undo_depth_from
from advstudio.gui.worker import Failure

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.gif *.webp *.tif *.tiff);;All files (*)"
KINDS = ("load_model", "open_image", "analyze", "flip", "gallery", "onnx_options", "data_layout")
# what ONNX files are taken to expect and output: "file" = what the file says (else pixels in [0, 1], and logits
# unless its graph ends in Softmax), or the user's word over it (File ▸ ONNX models)
ONNX_INPUTS = ("file", "0-1", "mnist", "0-255")
ONNX_OUTPUTS = ("file", "logits", "probabilities")
FAILURE_TITLES = {"load_model": "Could not open the model", "gallery": "Could not read MNIST",
                  "open_image": "Cannot use this image"}
DEFAULT_BRUSH = 22  # the brush width a new installation starts with; the demo digit is drawn with it
DEMO_DIGIT = 3
UNDO_DEPTH_KEY = "canvas/undo_depth"
STRONGER_ATTACK = ("pgd", min(0.3, EPS_MAX))  # what "Try a stronger attack" runs in the Any attack tab

log = logging.getLogger(__name__)


class Studio(JobClient):
    saveRequested = Signal()  # the user asked to save the attack (the session log keeps it)
    strongerAttackRequested = Signal(str, float)  # attack name, ε: run it on the current input (Any attack)

    def __init__(self, ctx: AppContext, device: str | None = None) -> None:
        super().__init__(ctx, KINDS)
        register_all(ctx.worker, device)
        self.input_panel = InputPanel()
        self.canvas = self.input_panel.canvas
        self.prediction_panel = PredictionPanel()
        self.attack_panel = AttackPanel()
        self.model_panel = ModelInfoPanel()
        self.gallery_panel = GalleryPanel()
        self.controls = self.attack_panel.controls
        self._restore_undo_depth()
        left, right = Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea
        ctx.add_tab("attack", "Attack", self.attack_panel)
        self._input_dock = ctx.add_dock("input", "Input: draw a digit", self.input_panel, left)
        ctx.add_dock("prediction", "Prediction", self.prediction_panel, left)
        self._gallery_dock = ctx.add_dock("gallery", "MNIST gallery", self.gallery_panel, right)
        ctx.add_dock("model", "Model", self.model_panel, right, tabify_with="gallery").raise_()
        self._fallback_model: str | None = None
        self._start_model: str | None = None
        self._shown_model: ModelInfo | None = None
        self._flip_input: np.ndarray | None = None  # the input the last flip search was asked for
        ctx.set_attack_settings(self.controls.settings())
        self.canvas.inkChanged.connect(self._on_ink_changed)
        self.input_panel.openImageRequested.connect(self.ask_open_image)
        self.input_panel.brush.valueChanged.connect(self._remember_brush)
        self.controls.settingsChanged.connect(self._on_attack_settings)
        self.controls.flipRequested.connect(self.find_flip)
        self.controls.saveRequested.connect(self.ask_save_result)
        self.controls.saveRequested.connect(self.saveRequested)
        help_ = self.attack_panel.results.help
        help_.drawDemoRequested.connect(self.draw_demo_digit)
        help_.thinnerBrushRequested.connect(self.thinner_brush)
        help_.strongerAttackRequested.connect(self.try_stronger_attack)
        self.gallery_panel.digitPicked.connect(self._on_digit_picked)
        self.gallery_panel.chooseFolderRequested.connect(self._choose_gallery_folder)
        ctx.openModelRequested.connect(self.open_model)
        ctx.dataDirChanged.connect(self._on_data_dir)
        ctx.modelReady.connect(self._on_model_ready)
        ctx.epsRequested.connect(self._on_eps_requested)
        ctx.strokesRequested.connect(self._on_strokes_requested)
        ctx.flipRequested.connect(self.find_flip)
        brush = self.input_panel.brush
        self.input_panel.set_brush_width(read_int(ctx.settings, "canvas/brush_width", DEFAULT_BRUSH,
                                                  brush.minimum(), brush.maximum()))

    # ------------------------------------------------------------------ what the user asks
    def start(self, explicit: str | None) -> None:
        """Load the model given, else the last one used, else the bundled one (the fallback if another fails)."""
        from advstudio.core.resources import bundled_model_path

        bundled = str(bundled_model_path())
        last = read_path(self.ctx.settings, "model/last")
        path = explicit or (last if last and Path(last).is_file() else bundled)
        self._fallback_model = bundled if path != bundled else None
        self._start_model = path if path != bundled else None  # a file the bundled model stands in for if it fails
        self.submit("onnx_options", self._onnx_request())  # before the first model: it may be an ONNX file
        self.submit("data_layout", self.data_layout())
        self.submit("load_model", path, keep_stale=True)

    def onnx_options(self) -> tuple[str, str]:
        """(input range, outputs) the user chose for ONNX files, "file" where the file's word stands."""
        s = self.ctx.settings
        return (read_text(s, "model/onnx_input", "file", choices=ONNX_INPUTS),
                read_text(s, "model/onnx_outputs", "file", choices=ONNX_OUTPUTS))

    def _onnx_request(self) -> dict:
        inp, out = self.onnx_options()
        return {k: v for k, v in (("input_range", inp), ("outputs", out)) if v != "file"}

    def set_onnx_options(self, input_range: str | None = None, outputs: str | None = None) -> None:
        """Remember what ONNX files expect and output; the ONNX model in use (if one is) is opened again with it."""
        if input_range in ONNX_INPUTS:
            self.ctx.settings.setValue("model/onnx_input", input_range)
        if outputs in ONNX_OUTPUTS:
            self.ctx.settings.setValue("model/onnx_outputs", outputs)
        self.submit("onnx_options", self._onnx_request())
        info = self.ctx.model_info
        if info is not None and Path(info.path).suffix.lower() == ".onnx":
            self.open_model(info.path)

    def data_layout(self) -> str | None:
        """The class layout the user chose for the dataset folder (File ▸ Dataset classes); None: the folder's
        classes.txt or name decides."""
        from advstudio.core.classes import LAYOUT_NAMES

        value = read_text(self.ctx.settings, "data/classes", "auto", choices=("auto", *LAYOUT_NAMES))
        return None if value == "auto" else value

    def set_data_layout(self, layout: str | None) -> None:
        """Read the dataset folder with this class layout from now on; every feature reads the folder again."""
        self.ctx.settings.setValue("data/classes", layout or "auto")
        self.submit("data_layout", self.data_layout())
        self.ctx.dataDirChanged.emit(self.ctx.data_dir or "")

    @Slot(str)
    def open_model(self, path: str | Path) -> None:
        """Load another model; on any failure the current one stays. Every load that succeeds is announced,
        even when a newer one was asked for meanwhile (that one may fail): the status always names the
        model the worker holds."""
        self._fallback_model = None
        self.ctx.status(f"Loading model {Path(path).name}…", 3000)
        self.submit("load_model", str(path), keep_stale=True)

    def open_image(self, path: str | Path) -> int:
        """Make an image file the current input, decoded on the worker (the window stays live); a bad file is
        reported and changes nothing. Returns the request's generation."""
        self.ctx.status(f"Opening image {Path(path).name}…", 3000)
        return self.submit("open_image", str(path))

    @Slot()
    def ask_open_image(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.ctx.parent_widget, "Open an image of a digit", self.ctx.last_dir(),
                                              IMAGE_FILTER)
        if path:
            self.ctx.remember_dir(path)
            self.open_image(path)

    @Slot()
    def ask_open_model(self) -> None:
        path = ask_model_path(self.ctx, "Open a model")
        if path:
            self.open_model(path)

    @Slot()
    def ask_save_result(self) -> None:
        if self.ctx.analysis is None:
            self.ctx.report_error("Nothing to save yet", "Draw a digit or open an image first, then attack it.")
            return
        folder = QFileDialog.getExistingDirectory(self.ctx.parent_widget, "Save the attack into this folder",
                                                  self.ctx.last_dir())
        if folder:
            self.ctx.remember_dir(folder + "/")
            self.save_result(folder)

    def save_result(self, folder: str | Path, stem: str | None = None) -> list[Path]:
        """Write the adversarial image, the perturbation and the figure into `folder` (atomically)."""
        from advstudio.gui.features.studio.export import save_attack

        if self.ctx.analysis is None:
            self.ctx.report_error("Nothing to save yet", "Draw a digit or open an image first, then attack it.")
            return []
        r = self.ctx.analysis.attack
        stem = stem or f"{r.clean_label}_to_{r.adv_label}_eps{r.eps:.3f}".replace(".", "p")
        info = self.ctx.model_info
        try:
            paths = save_attack(r, folder, stem, info.name if info else "", info.classes if info else None)
        except OSError as exc:
            self.ctx.report_error("Could not save", f"{folder}: {exc.strerror or exc}")
            return []
        self.ctx.status(f"Saved {len(paths)} files to {folder} ({stem}_*.png)", 8000)
        return paths

    @Slot()
    def find_flip(self) -> None:
        if self.ctx.current_input is None:
            self.ctx.report_error("Nothing to attack", "Draw a digit or open an image first.")
            return
        self.ctx.status("Searching for the smallest ε that flips the prediction…", 0)
        self._flip_input = self.ctx.current_input
        self.submit("flip", AnalyzeRequest(self.ctx.current_input, self.controls.settings()))

    @Slot()
    def draw_demo_digit(self) -> None:
        """The way out of a dead end: draw the demo 3 (with the default brush) and find where it flips."""
        from advstudio.gui.demo import digit_strokes

        self.ctx.show_tab("attack")
        self.canvas.clear()
        for stroke in digit_strokes(DEMO_DIGIT):
            self.canvas.add_stroke(stroke, width=DEFAULT_BRUSH)
        self.attack_panel.results.show_message(f"Here is a {DEMO_DIGIT}: finding the smallest ε that flips it…")
        self.find_flip()

    @Slot()
    def thinner_brush(self) -> None:
        """Thick strokes resist FGSM: halve the brush and clear the canvas for the student to draw again."""
        brush = self.input_panel.brush
        width = max(brush.minimum(), brush.value() // 2)
        self.input_panel.set_brush_width(width)
        self.canvas.clear()
        self.attack_panel.results.show_message(f"The brush is now {width} px: draw your digit again, then find "
                                               "where it flips (Ctrl+F).")

    @Slot()
    def try_stronger_attack(self) -> None:
        """Ask the Any attack tab (wired in the window) to run PGD on this input."""
        if self.ctx.current_input is None:
            self.ctx.report_error("Nothing to attack", "Draw a digit or open an image first.")
            return
        self.strongerAttackRequested.emit(*STRONGER_ATTACK)

    def set_input(self, image: np.ndarray | None) -> None:
        if image is None:
            self.forget("analyze")  # drop answers still on the way
        self.ctx.set_input(image)
        self.attack_panel.results.set_dead_end(None)
        if self.ctx.current_input is None:
            for panel in (self.prediction_panel, self.input_panel, self.attack_panel):
                panel.set_data(None)
            return
        self.analyze()

    def analyze(self) -> None:
        if self.ctx.current_input is None or self.ctx.model_info is None:
            return
        self.submit("analyze", AnalyzeRequest(self.ctx.current_input, self.controls.settings()))

    def request_gallery(self) -> None:
        from advstudio.core.data import resolve_data_dir

        folder = resolve_data_dir(self.ctx.data_dir)
        if folder is None or self.ctx.model_info is None:
            return
        self.gallery_panel.set_message(f"Reading MNIST test digits from {folder}…")
        self.submit("gallery", str(folder))

    # ------------------------------------------------------------------ signals from the panels and the context
    @Slot()
    def _on_ink_changed(self) -> None:
        self.set_input(self.canvas.current_input())

    @Slot(object)
    def _on_attack_settings(self, settings: object) -> None:
        flip = self.attack_panel.results.dead_end
        if flip is not None and (flip.settings.method, flip.settings.target) != (settings.method, settings.target):
            self.attack_panel.results.set_dead_end(None)  # another attack: the search must run again
        self.ctx.set_attack_settings(settings)
        self.analyze()

    @Slot()
    def _choose_gallery_folder(self) -> None:
        rejected = self.ctx.ask_data_dir()
        if rejected:
            self.gallery_panel.set_message(rejected)

    @Slot(object, int, int)
    def _on_digit_picked(self, image: object, label: int, index: int) -> None:
        self.canvas.set_base(np.asarray(image))
        self.ctx.status(f"Input: test image #{index} (labelled {self.gallery_panel.class_name(label)})", 4000)

    def _restore_undo_depth(self) -> None:
        """The canvas's undo depth from the settings; a bad stored value is logged and replaced."""
        depth, problem = undo_depth_from(self.ctx.settings.value(UNDO_DEPTH_KEY, None))
        if problem:
            logging.getLogger(__name__).warning("settings %s: %s", UNDO_DEPTH_KEY, problem)
            self.ctx.settings.setValue(UNDO_DEPTH_KEY, depth)
        self.canvas.set_undo_depth(depth)

    @Slot(int)
    def set_undo_depth(self, depth: int) -> None:
        """Edit ▸ Undo depth: how many strokes Undo can take back (kept in the settings)."""
        self.canvas.set_undo_depth(depth)
        self.ctx.settings.setValue(UNDO_DEPTH_KEY, self.canvas.undo_depth)
        self.input_panel.refresh_buttons()
        self.ctx.status(f"Undo keeps the last {self.canvas.undo_depth} strokes", 4000)

    @Slot(int)
    def _remember_brush(self, width: int) -> None:
        self.ctx.settings.setValue("canvas/brush_width", int(width))

    @Slot(str)
    def _on_data_dir(self, _folder: str) -> None:
        self.request_gallery()

    @Slot(float)
    def _on_eps_requested(self, eps: float) -> None:
        self.controls.set_eps(eps)  # no tab change: the Side by side tab's own ε slider asks while it is shown

    @Slot(object)
    def _on_strokes_requested(self, strokes: object) -> None:
        self.ctx.show_tab("attack")
        self.canvas.clear()
        for stroke in strokes:
            self.canvas.add_stroke(stroke)

    @Slot(object)
    def _on_model_ready(self, info: ModelInfo) -> None:
        """Any feature's model made current (a file loaded here, a defended model from the Defenses tab)."""
        from advstudio.core.resources import bundled_model_path

        first = self._shown_model is None
        self._shown_model = info
        self._fallback_model = None
        self.prediction_panel.set_classes(info.classes)
        self.attack_panel.set_classes(info.classes)
        self.gallery_panel.set_model_classes(info.classes)
        self.canvas.set_classes(info.classes)
        self._input_dock.setWindowTitle("Input: draw a digit" if info.classes == DIGITS else "Input: draw one")
        if not self._show_model_details(info, first):
            return
        if not info.defended:
            bundled = Path(info.path).resolve() == bundled_model_path().resolve()
            self.ctx.settings.setValue("model/last", "" if bundled else info.path)
        if not first:
            self.ctx.status(f"Model loaded: {info.name}", 4000)
        self.analyze()
        self.request_gallery()

    def _show_model_details(self, info: ModelInfo, first: bool) -> bool:
        """The Model dock's details; if the file's metadata cannot be shown, the model at start (the last one
        used) gives way to the bundled one, and a later model is used without its details. False when the
        bundled model is being loaded instead."""
        try:
            self.model_panel.set_data(info)
            return True
        except Exception:  # noqa: BLE001 - metadata is display-only: it must never stop the start
            log.exception("cannot show the details of %s", info.path)
        self.model_panel.set_data(None)
        if first and self._start_model and not info.bundled:
            from advstudio.core.resources import bundled_model_path

            self._start_model = None
            self.ctx.report_error("Could not use the last model", f"{info.path}: its file's details could not "
                                  "be read.\nUsing the bundled model instead.")
            self.submit("load_model", str(bundled_model_path()))
            return False
        self.ctx.report_error("Cannot show this model's details", f"{info.path}: its file's details could not be "
                              "read; the model is used without them.")
        return True

    # ------------------------------------------------------------------ answers from the worker
    def on_reply(self, kind: str, value: object) -> None:
        if kind == "load_model":
            self.ctx.set_model(value)
        elif kind == "open_image":
            self.canvas.set_base(value.digit)
            self.ctx.status(f"Input: {Path(value.path).name}", 4000)
        elif kind == "analyze":
            self._show_analysis(value)
        elif kind == "flip":
            self._show_flip(value)
        elif kind == "gallery":
            self._show_gallery(value)

    def on_failure(self, failure: Failure) -> None:
        if failure.kind == "load_model" and self._fallback_model:
            fallback, self._fallback_model = self._fallback_model, None
            self.ctx.report_error("Could not load the last model",
                                  failure.message + "\nUsing the bundled model instead.")
            self.submit("load_model", fallback, keep_stale=True)
            return
        if failure.kind == "gallery":
            self.gallery_panel.set_data(None)  # not the images of a folder (or a layout) no longer in force
            self.gallery_panel.set_message(failure.message)
        self.ctx.report_error(FAILURE_TITLES.get(failure.kind, "Something went wrong"), failure.message)

    def _show_analysis(self, analysis: Analysis) -> None:
        self.prediction_panel.set_data(analysis.prediction)
        self.input_panel.set_data(analysis.prediction)
        self.attack_panel.set_data(analysis.attack)
        self.ctx.set_analysis(analysis)

    def _show_flip(self, result: FlipResult) -> None:
        if result.found:
            self.ctx.status(
                f"Smallest ε that flips it: {result.eps:.3f} ({result.clean_label} → {result.adv_label}); "
                f"ε = {result.below:.3f} does not. {result.evaluations} forward passes.", 10000)
            self.controls.set_eps(result.eps)
        else:
            self.ctx.status(f"No ε up to {result.eps:.1f} flips it with this attack.", 10000)
        cur = self.ctx.current_input
        if cur is not None and self._flip_input is not None and np.array_equal(cur, self._flip_input):
            self.attack_panel.results.set_dead_end(result)  # not for an input drawn while it searched
        self.ctx.set_flip(result)

    def _show_gallery(self, data: GalleryData) -> None:
        self.gallery_panel.set_data(data)
        self._gallery_dock.setWindowTitle("MNIST gallery" if data.classes == DIGITS else "Dataset gallery")
