"""The Defenses tab: a defense and its settings, an attack, an ε list and a sample count on the left; the
undefended model's curve, the defense under the plain attack and under the adaptive attack on the right, with a
table of the numbers and the note that only the adaptive curve counts. For a distilled model the same run also
attacks it (and the undefended model) with C&W L2, and the result sits under the curves."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from advstudio.core.describe import ATTACKER_TERMS, CREDIT_NOTE, CREDIT_NOTE_PLAIN
from advstudio.core.eps import parse_eps_field
from advstudio.gui.features.defenses.attack_form import build_attack_box
from advstudio.gui.features.defenses.messages import DefenseProgress, DefenseResult, DefenseSpec
from advstudio.gui.models import ModelEntry
from advstudio.gui.theme import style_plot
from advstudio.gui.widgets.help import AdvancedGroup, explain, form_row, intro_label
from advstudio.gui.widgets.layout import fixed_plot, scroll_area, side_by_side, spin_box
from advstudio.gui.widgets.masking import MaskingChecksLabel
from advstudio.gui.widgets.palette import Colours, colours
from advstudio.gui.widgets.plain import plain_tip
from advstudio.gui.widgets.plot_key import KeyEntry, PlotKey, PlotPlaceholder, key_above

DEFENSE_CHOICES = (("bit_depth", "Bit-depth reduction"), ("median", "Median filter"),
                   ("jpeg", "JPEG compression"), ("gaussian_noise", "Gaussian noise (randomized)"),
                   ("ensemble", "Ensemble of models"), ("distillation", "Distilled model file"))
ROLE_STYLE = {  # dash, symbol; colours from role_colour
    "undefended": (Qt.PenStyle.DashLine, "t"),
    "plain": (Qt.PenStyle.SolidLine, "o"),
    "adaptive": (Qt.PenStyle.SolidLine, "s"),
}
INTRO = ("Put a defense in front of the model and see how much accuracy it keeps, against a naive attacker and "
         "against one who knows the defense.")
DEFENSE_WORDS = {  # what each defense does, in plain words (the combo's item tooltips)
    "bit_depth": "Rounds every pixel to a few shades of grey.",
    "median": "Replaces every pixel by the middle value of the square around it.",
    "jpeg": "Compresses the image as JPEG, throwing away fine detail.",
    "gaussian_noise": "Adds fresh random noise to every image before the model reads it.",
    "ensemble": "Lets several models answer together.",
    "distillation": "A model trained on another model's softened answers (made in the Training tab).",
}
EMPTY_PLOT = "Choose a defense and Run to see its accuracy as ε grows, against the plain and the adaptive attack."


def role_colour(palette: Colours, role: str) -> str:
    """The undefended model is the grey reference; both attacks on the defense are adversarial (warm): the
    adaptive one, the curve that counts, in the adversarial colour itself."""
    return {"undefended": palette.neutral, "plain": palette.adversarial_family[1]}.get(role, palette.adversarial)
ROLE_TITLES = {"undefended": "undefended", "plain": "plain attack", "adaptive": "adaptive attack"}


def parse_eps(text: str) -> list[float]:
    """"0, 0.1 0.3" -> [0.0, 0.1, 0.3] (sorted, unique, each in [0, 1]); ValueError with a readable message."""
    return parse_eps_field(text, upper=1.0, out_of_range="ε is in pixel units: every value must lie in [0, 1]")


class DefenseLabPanel(QWidget):
    runRequested = Signal()
    cancelRequested = Signal()
    useRequested = Signal()
    restoreRequested = Signal()
    browseRequested = Signal()
    addModelRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("defense_lab_panel")
        self.result: DefenseResult | None = None
        self.lines: dict[str, pg.PlotDataItem] = {}
        self.running = False
        self._build_controls()
        self._build_views()
        side_by_side(self, self.controls_scroll, self.views, (300, 900))
        self.intro = intro_label("defenses", INTRO)
        self.layout().insertWidget(0, self.intro)
        self._on_defense()
        self._on_attack()
        self.set_running(False)

    # ------------------------------------------------------------------ building
    def _build_controls(self) -> None:
        box = QWidget()
        v = QVBoxLayout(box)
        v.setContentsMargins(6, 6, 6, 6)
        dbox = QGroupBox("Defense")
        dl = QVBoxLayout(dbox)
        self.defense_combo = QComboBox()
        for key, title in DEFENSE_CHOICES:
            self.defense_combo.addItem(title, key)
            self.defense_combo.setItemData(self.defense_combo.count() - 1, DEFENSE_WORDS[key],
                                           Qt.ItemDataRole.ToolTipRole)
        explain(self.defense_combo, "The defense: a step that cleans or blurs each image before the model reads it, "
                                    "or a differently trained model.")
        dl.addWidget(self.defense_combo)
        self.stack = QStackedWidget()
        self.pages: dict[str, QWidget] = {}
        self.advanced_groups: dict[str, AdvancedGroup] = {}

        def page(key: str) -> QFormLayout:
            w = QWidget()
            f = QFormLayout(w)
            f.setContentsMargins(0, 0, 0, 0)
            self.stack.addWidget(w)
            self.pages[key] = w
            return f

        def advanced(key: str, f: QFormLayout) -> QFormLayout:
            group = AdvancedGroup(name=f"defense_advanced_{key}")
            inner = group.form()
            f.addRow(group)
            self.advanced_groups[key] = group
            return inner

        f = page("bit_depth")
        self.bits = spin_box(1, 8, 2, 1)
        form_row(f, "Grey levels (bits):", self.bits, "How many shades of grey are kept: 1 bit = black or white only, "
             "8 bits = all 256 shades.", "Quantize to 2^bits levels (feature squeezing).")
        f = page("median")
        self.size = spin_box(3, 9, 3, 2)
        form_row(f, "Filter size (k):", self.size, "Each pixel becomes the middle value of the k×k square around it, "
             "which wipes out isolated specks.", "k×k median filter (odd k).")
        f = page("jpeg")
        self.quality = spin_box(1, 95, 50, 1)
        form_row(f, "JPEG quality:", self.quality, "How well JPEG keeps the image: low quality throws away more fine "
             "detail (of the attack, and of the digit).", "JPEG quality factor, 1–95.")
        f = page("gaussian_noise")
        self.sigma = QDoubleSpinBox()
        self.sigma.setRange(0.0, 1.0)
        self.sigma.setSingleStep(0.05)
        self.sigma.setDecimals(3)
        self.sigma.setValue(0.3)
        form_row(f, "Noise level (σ):", self.sigma, "How much random noise is added to every image before the model "
             "reads it, in pixel units (0–1).", "x + N(0, σ²) in every pixel, a fresh draw each time.")
        self.eot = spin_box(1, 64, 8, 1)
        form_row(advanced("gaussian_noise", f), "Noise draws (EOT):", self.eot, "How many noisy copies the adaptive "
             "attacker averages over to see through the randomness.",
             "EOT, expectation over transformation: the gradient is averaged over this many noise draws.")
        f = page("ensemble")
        self.member_list = QListWidget()
        self.member_list.setMaximumHeight(80)
        explain(self.member_list, "Tick two or more models from the Robustness lab's list; they answer together.")
        self.transfer_combo = QComboBox()
        self.add_model = QPushButton("Add model file…")
        f.addRow(self.member_list)
        form_row(f, "Naive attack uses:", self.transfer_combo, "The naive attacker attacks this one member alone and "
             "hopes the change also fools the others.", "Plain curve: a transfer attack from this member.")
        f.addRow(self.add_model)
        f = page("distillation")
        self.distilled_path = QLineEdit()
        self.distilled_path.setPlaceholderText("a distilled .safetensors (advstudio distill)")
        explain(self.distilled_path, "A model file trained with defensive distillation (in the Training tab, or "
                                     "with `advstudio distill`).")
        self.browse = QPushButton("Browse…")
        row = QHBoxLayout()
        row.addWidget(self.distilled_path, 1)
        row.addWidget(self.browse)
        self.temperature = QDoubleSpinBox()
        self.temperature.setRange(0.0, 1000.0)
        self.temperature.setDecimals(1)
        self.temperature.setSpecialValueText("from the file")
        self.cw_steps = spin_box(1, 5000, 100, 50)
        self.cw_searches = spin_box(1, 20, 5, 1)
        f.addRow(row)
        more = advanced("distillation", f)
        form_row(more, "Temperature (T):", self.temperature, "The temperature the model was distilled at; 'from the "
             "file' reads it from the model's own record.",
             "The adaptive attack divides the logits by T (logits / T), so the saturated softmax has gradients again.")
        form_row(more, "C&&W steps:", self.cw_steps, "How many small steps the C&W attack takes in each search round "
             "(100 as the command line; fewer run faster).", "The run also attacks the distilled and the undefended "
             "model with C&W L2 on the same images.")
        form_row(more, "C&&W search rounds:", self.cw_searches, "How many times C&W tries again with a different "
             "trade-off c, looking for the smallest change (5 as the command line).", "Binary-search rounds over c.")
        dl.addWidget(self.stack)
        v.addWidget(dbox)

        v.addWidget(build_attack_box(self))

        ubox = QGroupBox("Studio model")
        ul = QVBoxLayout(ubox)
        self.use_button = QPushButton("Use as current model")
        explain(self.use_button, "The Attack tab then attacks this defended model live, as an attacker who knows "
                                 "the defense.", "It uses the adaptive gradient: BPDA, EOT or logits / T.")
        self.restore_button = QPushButton("Back to the undefended model")
        self.use_status = QLabel("The studio uses the undefended model.")
        self.use_status.setWordWrap(True)
        ul.addWidget(self.use_button)
        ul.addWidget(self.restore_button)
        ul.addWidget(self.use_status)
        v.addWidget(ubox)
        v.addStretch(1)
        self.controls_scroll = scroll_area(box, 250, horizontal=False)
        self.defense_combo.currentIndexChanged.connect(self._on_defense)
        self.attack_combo.currentIndexChanged.connect(self._on_attack)
        self.member_list.itemChanged.connect(self._sync_transfer)
        self.run_button.clicked.connect(self.runRequested)
        self.cancel_button.clicked.connect(self.cancelRequested)
        self.use_button.clicked.connect(self.useRequested)
        self.restore_button.clicked.connect(self.restoreRequested)
        self.browse.clicked.connect(self.browseRequested)
        self.add_model.clicked.connect(self.addModelRequested)

    def _build_views(self) -> None:
        self.views = QWidget()
        v = QVBoxLayout(self.views)
        v.setContentsMargins(4, 4, 4, 4)
        title = QLabel("<b>Accuracy against ε: undefended, the defense under the plain attack, and under the "
                       "adaptive attack</b>")
        title.setWordWrap(True)
        v.addWidget(title)
        self.note = QLabel(CREDIT_NOTE_PLAIN)
        explain(self.note, CREDIT_NOTE, ATTACKER_TERMS)
        self.note.setWordWrap(True)
        self.note.setStyleSheet("QLabel { font-style: italic; font-weight: bold; }")
        v.addWidget(self.note)
        self.plot = fixed_plot("ε  (L∞, pixel units 0–1)", "accuracy %", 220)
        self.plot.setYRange(0, 100, padding=0.02)
        self.key = PlotKey()  # the legend, above the plot so it never hides a curve
        self.plot_area = PlotPlaceholder(key_above(self.key, self.plot), EMPTY_PLOT)
        v.addWidget(self.plot_area, 3)
        self.cw_label = QLabel("")  # distillation: C&W L2 against the distilled and the undefended model
        self.cw_label.setTextFormat(Qt.TextFormat.PlainText)  # it and the caption quote model names, the user's text
        self.cw_label.setWordWrap(True)
        self.cw_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.cw_label.setFrameShape(QLabel.Shape.StyledPanel)
        self.cw_label.setMargin(4)
        self.cw_label.hide()
        v.addWidget(self.cw_label)
        self.masking = MaskingChecksLabel()  # gradient-masking checks on the adaptive attacker's model
        v.addWidget(self.masking)
        self.caption = QLabel("Choose a defense and Run: the adaptive curve is the one that counts.")
        self.caption.setTextFormat(Qt.TextFormat.PlainText)
        self.caption.setWordWrap(True)
        self.caption.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        v.addWidget(self.caption)
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["ε", "undefended", "plain attack", "adaptive attack"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setMaximumHeight(170)
        v.addWidget(self.table, 1)
        style_plot(self.plot)

    # ------------------------------------------------------------------ reading the form
    def defense_kind(self) -> str:
        return str(self.defense_combo.currentData())

    def set_defense(self, kind: str) -> None:
        i = self.defense_combo.findData(kind)
        if i < 0:
            raise KeyError(kind)
        self.defense_combo.setCurrentIndex(i)

    def set_attack(self, attack: str, steps: int | None = None) -> None:
        self.attack_combo.setCurrentIndex(self.attack_combo.findData(attack))
        if steps is not None:
            self.steps.setValue(int(steps))

    def attack(self) -> str:
        return str(self.attack_combo.currentData())

    def eps(self) -> list[float]:
        return parse_eps(self.eps_edit.text())

    def set_models(self, models: list[ModelEntry]) -> None:
        """Offer the robustness lab's models as ensemble members (keeps the ticks of models still there)."""
        ticked = set(self.checked_keys())
        self.member_list.blockSignals(True)
        self.member_list.clear()
        for m in models:
            item = QListWidgetItem(m.name)
            item.setData(Qt.ItemDataRole.UserRole, m)
            item.setToolTip(plain_tip(m.path or "trained in this session"))
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if m.key in ticked else Qt.CheckState.Unchecked)
            self.member_list.addItem(item)
        self.member_list.blockSignals(False)
        self._sync_transfer()

    def set_checked(self, keys: set[str]) -> None:
        for i in range(self.member_list.count()):
            item = self.member_list.item(i)
            on = item.data(Qt.ItemDataRole.UserRole).key in keys
            item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
        self._sync_transfer()

    def checked_members(self) -> list[ModelEntry]:
        return [self.member_list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.member_list.count())
                if self.member_list.item(i).checkState() == Qt.CheckState.Checked]

    def checked_keys(self) -> list[str]:
        return [m.key for m in self.checked_members()]

    def _sync_transfer(self, *_args) -> None:
        keep = self.transfer_combo.currentIndex()
        self.transfer_combo.clear()
        for i, m in enumerate(self.checked_members()):
            self.transfer_combo.addItem(f"{i}: {m.name}")
        if 0 <= keep < self.transfer_combo.count():
            self.transfer_combo.setCurrentIndex(keep)

    def spec(self) -> DefenseSpec:
        """The defense as the form sets it; ValueError with a readable message when it cannot run."""
        kind = self.defense_kind()
        if kind == "ensemble":
            members = tuple(self.checked_members())
            if len(members) < 2:
                raise ValueError("An ensemble needs at least two models: tick two or more (add files with "
                                 "'Add model file…').")
            return DefenseSpec("ensemble", members=members, transfer_from=max(0, self.transfer_combo.currentIndex()))
        if kind == "distillation":
            path = self.distilled_path.text().strip()
            if not path:
                raise ValueError("Choose a distilled model file (made with `advstudio distill`).")
            t = float(self.temperature.value())
            return DefenseSpec("distillation", distilled=path, temperature=t if t > 0 else None,
                               cw_steps=int(self.cw_steps.value()), cw_searches=int(self.cw_searches.value()))
        return DefenseSpec(kind, bits=int(self.bits.value()), size=int(self.size.value()),
                           quality=int(self.quality.value()), sigma=float(self.sigma.value()),
                           eot_samples=int(self.eot.value()))

    # ------------------------------------------------------------------ state
    def _on_defense(self, *_args) -> None:
        self.stack.setCurrentWidget(self.pages[self.defense_kind()])

    def _on_attack(self, *_args) -> None:
        self.steps.setEnabled(self.attack() == "pgd")
        self.budget.setEnabled(self.attack() == "autoattack")

    def set_running(self, running: bool) -> None:
        self.running = running
        self.runner.set_running(running)

    def set_progress(self, p: DefenseProgress) -> None:
        frac = p.done / p.total if p.total else 0.0
        self.runner.set_fraction(p.done, p.total)
        eta = f", about {p.elapsed * (1 - frac) / frac:.0f} s left" if frac > 0 else ""
        self.eta.setText(f"{p.label}: {p.done}/{p.total} image-attacks, {p.elapsed:.0f} s{eta}")

    def show_data_error(self, message: str | None) -> None:
        self.data_error.setText(message or "")
        self.data_error.setVisible(bool(message))

    def clear(self) -> None:
        self.result = None
        for line in self.lines.values():
            self.plot.removeItem(line)
        self.lines = {}
        self._recolour()
        self.table.setRowCount(0)
        self.cw_label.setText("")
        self.cw_label.hide()
        self.masking.set_notes(())

    def set_data(self, result: DefenseResult | None) -> None:
        """Plot the three curves of one run (replacing the previous run) and fill the table."""
        self.clear()
        if result is None:
            self.caption.setText("Choose a defense and Run: the adaptive curve is the one that counts.")
            return
        self.result = result
        for c in result.curves:
            eps = np.asarray(c.curve.eps, dtype=float)
            acc = np.asarray(c.curve.accuracy, dtype=float) * 100.0
            self.lines[c.role] = self.plot.plot(eps, acc, symbol=ROLE_STYLE[c.role][1], symbolSize=7)
        self._recolour()
        if len(result.eps) > 1:
            self.plot.setXRange(min(result.eps), max(result.eps), padding=0.04)
        rows = list(result.eps)
        self.table.setRowCount(len(rows))
        roles = ("undefended", "plain", "adaptive")
        for r, e in enumerate(rows):
            self.table.setItem(r, 0, QTableWidgetItem(f"{e:g}"))
            for col, role in enumerate(roles, start=1):
                acc = result.curve(role).accuracy[r] * 100.0
                self.table.setItem(r, col, QTableWidgetItem(f"{acc:.1f} %"))
        hows = "; ".join(f"{ROLE_TITLES[c.role]}: {c.how}" for c in result.curves)
        notes = (" " + " ".join(result.notes)) if result.notes else ""
        self.caption.setText(f"{result.describe()} {hows}.{notes}")
        if result.cw:
            self.cw_label.setText(result.cw_text())
            self.cw_label.show()
        self.masking.set_notes(result.masking, "the adaptive attacker's model")

    def _recolour(self) -> None:
        """The curves' pens and the key in the current theme's colours; the placeholder while nothing is drawn."""
        palette = colours(self)
        for role, line in self.lines.items():
            colour, dash = role_colour(palette, role), ROLE_STYLE[role][0]
            line.setPen(pg.mkPen(colour, width=2.5 if role == "adaptive" else 2, style=dash))
            line.setSymbolBrush(colour)
            line.setSymbolPen(colour)
        curves = self.result.curves if self.result is not None else ()
        self.key.set_entries([KeyEntry(role_colour(palette, c.role), c.label,
                                       "dash" if c.role == "undefended" else "line") for c in curves])
        self.plot_area.set_empty(not self.lines)

    def plotted(self, role: str) -> tuple[np.ndarray, np.ndarray]:
        """(ε, accuracy %) of the curve on the plot for `role` (what the user sees)."""
        x, y = self.lines[role].getData()
        return np.asarray(x), np.asarray(y)

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "plot_area"):
            style_plot(self.plot)
            self._recolour()
        super().changeEvent(event)
