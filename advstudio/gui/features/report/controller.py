"""The session log: listens to the context and keeps, as plain Python and numpy data, what a report needs (the
models, the attacks the student kept, the robustness-lab curves, the activation shifts), and exports the report
(core/report/) as one HTML file or, through Qt's rich text, as PDF.

An attack is kept when a flip search finds its ε (once the window shows the attack at that ε), when the result is
saved, and with File ▸ Add this attack to the report. Activations come from the Activations dock's answers
(show_activations, wired by the window): the log attaches the one that answers a kept attack's input and ε.
Lab curves come the same way (record_lab), and so do the report's findings: the Side by side tab's last
comparison (show_compare), the guided lesson's progress (lesson_loaded, lesson_step_done) and Any attack's last
result (show_input_attack: Ctrl+K keeps it while that tab is in front). The student's name, asked for by the
export dialog, is remembered in the settings. Only the last MAX_ATTACKS attacks are kept."""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import QDialog, QFileDialog

from advstudio.core.model_meta import name_of
from advstudio.gui.features.report.entries import (
    activations_entry,
    compare_entry,
    explain_entry,
    lesson_entry,
    plain,
)
from advstudio.gui.messages import Analysis, FlipResult
from advstudio.gui.models import ModelInfo
from advstudio.gui.stored import read_text

if TYPE_CHECKING:
    from advstudio.gui.context import AppContext

MAX_ATTACKS = 50
MAX_LABS = 20
MAX_NAME = 80
STUDENT_KEY = "report/student"
EPS_TOLERANCE = 5e-4  # the slider's grid is 0.001
REPORT_FILTERS = "HTML report (*.html *.htm);;PDF report (*.pdf)"


def _same_attack(image: np.ndarray, settings, entry: dict) -> bool:
    """Whether `image` attacked with `settings` (AttackSettings, or an AttackResult) is the kept `entry`."""
    target = settings.target if settings.method == "fgsm-targeted" else None
    if entry.get("eps") is None or entry.get("settings"):  # an Any attack entry: not the studio's FGSM
        return False
    return (abs(float(settings.eps) - entry["eps"]) < EPS_TOLERANCE and settings.method == entry["method"]
            and target == entry["target"] and np.array_equal(np.asarray(image).reshape(28, 28), entry["input"]))


class SessionLog(QObject):
    recorded = Signal(str)  # "model", "attack", "lab", "activations", "compare" or "lesson"

    def __init__(self, ctx: "AppContext") -> None:
        super().__init__(ctx)
        self.ctx = ctx
        self.models: dict[str, dict] = {}
        self.attacks: deque[dict] = deque(maxlen=MAX_ATTACKS)
        self.labs: deque[dict] = deque(maxlen=MAX_LABS)
        self.activations: deque[dict] = deque(maxlen=MAX_ATTACKS)
        self._next_id = 1
        self._pending_flip: FlipResult | None = None
        self.activations_shown = None  # the ActivationsData the Activations dock shows now
        self.compare: dict | None = None  # the Side by side tab's last comparison (compare_entry)
        self.explain: dict[str, dict] = {}  # the Why it breaks tab's last picture of each kind (explain_entry)
        self.lesson: dict | None = None  # the guided lesson's steps and the ids of those done (lesson_entry)
        self._lesson = None  # the core Lesson those are of
        self.input_attack = None  # Any attack's last InputAttackResult (Ctrl+K keeps it from that tab)
        ctx.modelReady.connect(self._on_model)
        ctx.flipFound.connect(self._on_flip)
        ctx.analysisShown.connect(self._on_analysis)

    # ------------------------------------------------------------------ recording
    def _model_name(self) -> str:
        info = self.ctx.model_info
        return info.name if info is not None else "?"

    def _class_names(self) -> list[str] | None:
        """The current model's class names (from its metadata; numbered when it has none), for the report."""
        info = self.ctx.model_info
        return list(info.classes) if info is not None else None

    @Slot(object)
    def _on_model(self, info: ModelInfo) -> None:
        self.models.pop(info.path, None)
        self.models[info.path] = {"name": info.name, "path": info.path, "bundled": bool(info.bundled),
                                  "device": info.device, "meta": plain(dict(info.meta))}
        self.recorded.emit("model")

    def record(self, analysis: Analysis, source: str, flip: FlipResult | None = None) -> dict:
        """Keep this attack (the same attack kept twice is one entry, its sources joined)."""
        r, image = analysis.attack, np.asarray(analysis.prediction.image, dtype=np.float32).reshape(28, 28)
        model = self._model_name()
        for entry in reversed(self.attacks):
            if entry["model"] == model and _same_attack(image, r, entry):
                if source not in entry["source"]:
                    entry["source"] += f", {source}"
                if flip is not None and entry["flip"] is None:
                    entry["flip"] = self._flip_dict(flip)
                return entry
        from advstudio.core.info import now_iso

        entry = {
            "id": self._next_id, "input": image.copy(),
            "clean": np.array(r.clean, dtype=np.float32), "adversarial": np.array(r.adversarial, dtype=np.float32),
            "perturbation": np.array(r.perturbation, dtype=np.float32),
            "clean_probs": np.array(r.clean_probs, dtype=np.float32),
            "adv_probs": np.array(r.adv_probs, dtype=np.float32),
            "eps": float(r.eps), "method": r.method, "target": r.target, "model": model, "source": source,
            "recorded": now_iso(), "flip": self._flip_dict(flip) if flip is not None else None,
            "class_names": self._class_names(),
        }
        self._next_id += 1
        self.attacks.append(entry)
        kept = {e["id"] for e in self.attacks}
        self._prune(kept)
        data = self.activations_shown
        if data is not None:
            self._attach(data)
        self.recorded.emit("attack")
        return entry

    def _prune(self, kept: set[int]) -> None:
        while self.activations and self.activations[0]["attack_id"] not in kept:
            self.activations.popleft()

    @staticmethod
    def _flip_dict(flip: FlipResult) -> dict:
        return {"eps": float(flip.eps), "below": float(flip.below), "step": float(flip.step),
                "evaluations": int(flip.evaluations)}

    @Slot()
    def keep_current(self) -> dict | None:
        """File ▸ Add this attack to the report: the Attack tab's, or Any attack's while that tab is in front."""
        ctx = self.ctx
        if ctx.current_tab() == "attack_lab":
            return self._keep_input_attack()
        if ctx.analysis is None:
            ctx.report_error("Nothing to add", "Draw a digit or open an image first, then attack it.")
            return None
        entry = self.record(ctx.analysis, "kept")
        n = list(self.attacks).index(entry) + 1
        c, a = int(np.argmax(entry["clean_probs"])), int(np.argmax(entry["adv_probs"]))
        names = entry["class_names"]
        ctx.status(f"Attack {n} in the report: {name_of(c, names)} → {name_of(a, names)} at ε = {entry['eps']:.3f}",
                   5000)
        return entry

    def _keep_input_attack(self) -> dict | None:
        r = self.input_attack
        cur = self.ctx.current_input
        if r is None or cur is None or not np.array_equal(np.asarray(r.clean).reshape(28, 28), cur):
            self.ctx.report_error("Nothing to add", "Run an attack on this tab first (Run attack), then add it.")
            return None
        entry = self.record_input_attack(r, "kept")
        n = list(self.attacks).index(entry) + 1
        names = entry.get("class_names")
        self.ctx.status(f"Attack {n} in the report: {name_of(r.clean_label, names)} → {name_of(r.adv_label, names)} "
                        f"({entry['attack_title']})", 5000)
        return entry

    def record_input_attack(self, result, source: str) -> dict:
        """Keep Any attack's `result` (an InputAttackResult; kept twice, it is one entry)."""
        from advstudio.core.describe import attack_title
        from advstudio.core.info import now_iso

        model = self._model_name()
        adversarial = np.array(result.adversarial, dtype=np.float32).reshape(28, 28)
        for entry in reversed(self.attacks):
            if (entry["model"] == model and entry["method"] == result.attack
                    and np.array_equal(entry["adversarial"], adversarial)):
                return entry
        clean = np.array(result.clean, dtype=np.float32).reshape(28, 28)
        entry = {
            "id": self._next_id, "input": clean, "clean": clean.copy(), "adversarial": adversarial,
            "perturbation": np.array(result.perturbation, dtype=np.float32).reshape(28, 28),
            "clean_probs": np.array(result.clean_probs, dtype=np.float32),
            "adv_probs": np.array(result.adv_probs, dtype=np.float32), "eps": result.eps, "method": result.attack,
            "target": result.target, "model": model, "source": f"{source} on the Any attack tab",
            "recorded": now_iso(), "flip": None, "attack_title": attack_title(result.attack),
            "settings": result.describe(), "class_names": self._class_names(),
        }
        self._next_id += 1
        self.attacks.append(entry)
        self._prune({e["id"] for e in self.attacks})
        self.recorded.emit("attack")
        return entry

    @Slot()
    def keep_on_save(self) -> None:
        if self.ctx.analysis is not None:
            self.record(self.ctx.analysis, "saved")

    @Slot(object)
    def _on_flip(self, result: FlipResult) -> None:
        self._pending_flip = result if result.found else None
        self._try_flip(self.ctx.analysis)

    @Slot(object)
    def _on_analysis(self, analysis: Analysis) -> None:
        self._try_flip(analysis)

    def _try_flip(self, analysis: Analysis | None) -> None:
        """Keep a found flip once the window shows the attack at its ε (the slider moved there)."""
        flip = self._pending_flip
        if flip is None:
            return
        if self.ctx.flip is not flip:  # a new input or search since
            self._pending_flip = None
            return
        if analysis is None or self.ctx.current_input is None:
            return
        r = analysis.attack
        s = flip.settings
        if (abs(r.eps - flip.eps) < EPS_TOLERANCE and r.method == s.method
                and np.array_equal(analysis.prediction.image, self.ctx.current_input)):
            self._pending_flip = None
            self.record(analysis, "flip search", flip)

    @Slot(object)
    def record_lab(self, value: object) -> None:
        """A robustness-lab run finished (a LabResult; a cancelled run, which has no curves, adds nothing)."""
        if getattr(value, "curves", None) is None:
            return
        from advstudio.core.info import now_iso

        curves = []
        for c in value.curves:
            rc = c.curve
            params = plain(dict(rc.params))
            curves.append({"model": c.model_name, "attack": c.attack, "label": c.label(), "settings": c.describe(),
                           "params": params, "n": int(rc.n), "clean_accuracy": float(rc.clean_accuracy),
                           "eps": [float(e) for e in rc.eps], "accuracy": [float(a) for a in rc.accuracy],
                           "class_names": list(getattr(c, "classes", ()) or ()) or None})
        self.labs.append({"seconds": float(value.seconds), "recorded": now_iso(), "curves": curves})
        self.recorded.emit("lab")

    @Slot(object)
    def show_activations(self, data: object) -> None:
        """The Activations dock shows `data` (an ActivationsData) now; None: it was cleared."""
        self.activations_shown = data
        if data is not None and not self.ctx.closed:
            self._attach(data)

    def _attach(self, data) -> None:
        """Give the newest kept attack this measurement answers its activations (once)."""
        measured = {a["attack_id"] for a in self.activations}
        for entry in reversed(self.attacks):
            if entry["id"] not in measured and _same_attack(data.image, data.settings, entry):
                self.activations.append(activations_entry(data, entry["model"], entry["id"],
                                                          entry.get("class_names")))
                self.recorded.emit("activations")
                return

    # ------------------------------------------------------------------ the findings, wired by the window
    @Slot(object)
    def show_compare(self, result: object) -> None:
        """The Side by side tab shows `result` (a CompareResult) now: the report's side-by-side finding."""
        self.compare = compare_entry(result)
        for side in result.sides:  # the appendix lists the models compared, not only the current one
            if side.side.path is not None and side.attack is not None and side.side.path not in self.models:
                self.models[side.side.path] = {"name": side.model_name, "path": side.side.path,
                                               "bundled": side.bundled, "device": "–", "meta": plain(dict(side.meta))}
        self.recorded.emit("compare")

    @Slot(str, object)
    def show_explain(self, kind: str, result: object) -> None:
        """The Why it breaks tab shows `result` (of `kind`: attribution, landscape, boundary, projection)."""
        try:
            self.explain[kind] = explain_entry(kind, result)
        except AttributeError:  # not a picture (a cancelled projection): the last one shown stays
            return
        self.recorded.emit("explain")

    @Slot(object)
    def show_input_attack(self, result: object) -> None:
        """Any attack shows `result` (an InputAttackResult) now: Ctrl+K on that tab keeps it."""
        self.input_attack = result

    @Slot(object)
    def lesson_loaded(self, lesson: object, done: object = ()) -> None:
        """A lesson (a core Lesson, or None) is on; `done`: the ids of its steps done already."""
        self._lesson = lesson
        self.lesson = lesson_entry(lesson, done)
        self.recorded.emit("lesson")

    @Slot(str)
    def lesson_step_done(self, step_id: str) -> None:
        """The lesson's step `step_id` passed its check."""
        if self.lesson is None:
            return
        done = set(self.lesson["done"]) | {step_id}
        self.lesson = lesson_entry(self._lesson, done)
        self.recorded.emit("lesson")

    @property
    def student(self) -> str:
        """The name the report is for (remembered in the settings; "" for none)."""
        return read_text(self.ctx.settings, STUDENT_KEY, "", MAX_NAME)

    def set_student(self, name: str) -> None:
        self.ctx.settings.setValue(STUDENT_KEY, " ".join(str(name).split())[:MAX_NAME])

    # ------------------------------------------------------------------ the report
    def session_data(self) -> dict:
        """Everything the report shows, as plain data (the activations on screen are added when no kept attack
        has them)."""
        import advstudio
        from advstudio.core.info import now_iso

        info = self.ctx.model_info
        activations = list(self.activations)
        data = self.activations_shown
        if data is not None and not any(_same_attack(data.image, data.settings, e) for e in self.attacks):
            activations.append(activations_entry(data, self._model_name(), None, self._class_names()))
        return {"created": now_iso(), "app_version": advstudio.__version__, "student": self.student,
                "device": info.device if info is not None else "–", "models": list(self.models.values()),
                "attacks": list(self.attacks), "labs": list(self.labs), "activations": activations,
                "compare": self.compare, "explain": dict(self.explain), "lesson": self.lesson}

    def html(self, raster: bool = False) -> str:
        from advstudio.core.report.page import build_report_html

        return build_report_html(self.session_data(), raster=raster)

    def ask_details(self) -> bool:
        """The export dialog's first step: the student's name (remembered) and what the report will hold."""
        from advstudio.gui.features.report.dialog import ReportDialog

        dialog = ReportDialog(self.student, self.session_data(), self.ctx.parent_widget)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return False
        self.set_student(dialog.name())
        return True

    def ask_export(self) -> None:
        if not self.ask_details():
            return
        start = str(Path(self.ctx.last_dir()) / "adversarial-studio-report.html")
        path, chosen = QFileDialog.getSaveFileName(self.ctx.parent_widget, "Export the session report", start,
                                                   REPORT_FILTERS)
        if path:
            if not Path(path).suffix:
                path += ".pdf" if chosen.startswith("PDF") else ".html"
            self.ctx.remember_dir(path)
            self.export(path)

    def export(self, path: str | Path) -> Path | None:
        """Write the report to `path` (.pdf: PDF, anything else: HTML); returns the file written, or None."""
        from advstudio.core.files import atomic_write_bytes

        path = Path(path)
        note = ""
        try:
            if path.suffix.lower() == ".pdf":
                try:
                    body = report_pdf(self.session_data())
                except PdfUnavailable as exc:
                    path, note = path.with_suffix(".html"), f" (PDF unavailable: {exc}; wrote HTML instead)"
                    body = self.html().encode("utf-8")
            else:
                body = self.html().encode("utf-8")
            atomic_write_bytes(path, body)
        except OSError as exc:
            self.ctx.report_error("Could not write the report", f"{path}: {exc.strerror or exc}")
            return None
        self.ctx.status(
            f"Report written to {path}: {len(self.attacks)} attacks, {len(self.labs)} lab runs{note}", 10000)
        return path


class PdfUnavailable(Exception):
    """Qt's PDF writer is missing from this installation."""


def report_pdf(session: dict) -> bytes:
    """The report as PDF through Qt's rich text (a subset of HTML without SVG: curves and bars as PNG)."""
    try:
        from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QMarginsF, QSizeF, QUrl
        from PySide6.QtGui import QImage, QPageLayout, QPageSize, QPdfWriter, QTextDocument
    except ImportError as exc:  # pragma: no cover - PySide6-Essentials ships QPdfWriter
        raise PdfUnavailable(str(exc)) from exc
    from advstudio.core.report.page import build_report_html

    doc = QTextDocument()
    images: list[QImage] = []

    def sink(png: bytes, _alt: str) -> str:
        name = f"report-image-{len(images)}.png"
        image = QImage.fromData(png, "PNG")
        images.append(image)
        doc.addResource(QTextDocument.ResourceType.ImageResource, QUrl(name), image)
        return name

    doc.setHtml(build_report_html(session, raster=True, image_sink=sink))
    buffer = QByteArray()
    device = QBuffer(buffer)
    device.open(QIODevice.OpenModeFlag.WriteOnly)
    writer = QPdfWriter(device)
    writer.setTitle("Adversarial Studio session report")
    writer.setCreator("Adversarial Studio")
    writer.setPageSize(QPageSize(QPageSize.PageSizeId.A4))
    writer.setPageMargins(QMarginsF(15, 15, 15, 15), QPageLayout.Unit.Millimeter)
    # Lay the document out on pages of the printable area in 96-dpi pixels, as a screen would: print_ then only
    # scales the painter, so images and text keep their proportions (without a page size it re-lays the text
    # at the printer's resolution and draws the images smaller than the room they take).
    area = writer.pageLayout().paintRect(QPageLayout.Unit.Inch)
    doc.setDocumentMargin(0)
    doc.setPageSize(QSizeF(area.width() * 96, area.height() * 96))
    doc.print_(writer)
    del writer
    device.close()
    data = bytes(buffer.data())
    if not data.startswith(b"%PDF"):
        raise PdfUnavailable("Qt wrote no PDF")
    return data
