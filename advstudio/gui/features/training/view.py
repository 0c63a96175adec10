"""The Training tab: method and settings, output file, checkpoint and Resume on the left; the run's controls,
progress and outcome above its live curves (curves.py) on the right. Defensive distillation runs its two stages
(teacher, then student) as one run."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from advstudio.core.training_config import DEFAULT_TEMPERATURE, PRESETS, TrainConfig
from advstudio.gui.features.training.adversarial_form import AdversarialForm, double_box, form_layout, int_box
from advstudio.gui.features.training.curves import TrainingCurves
from advstudio.gui.features.training.messages import (
    DISTILLATION,
    METHODS,
    TrainCancelled,
    TrainProgress,
    TrainResult,
    guard_message,
    robust_label,
)
from advstudio.gui.features.training.method_box import MethodBox
from advstudio.gui.features.training.tradeoff import TradeoffPlot, views_tabs
from advstudio.gui.widgets.help import AdvancedGroup, explain, form_row, intro_label
from advstudio.gui.widgets.layout import DataMessage, FitScroll, RunControls, side_by_side

ALL = 0  # the spin boxes' "all" value
INTRO = ("Train your own digit-reading model, on clean images or also on attacked ones so that it learns to resist "
         "them, and watch it learn.")
SCHEDULE_WORDS = "Keep the learning rate constant, or lower it smoothly (cosine decay) to 0 by the last epoch."
RESUME_WORDS = "Continue after the checkpoint's last finished epoch (same settings; Epochs may be raised)."


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


class TrainingPanel(QWidget):
    startRequested = Signal()
    cancelRequested = Signal()
    useModelRequested = Signal()
    evaluateDefenseRequested = Signal()  # a distilled student: open it in the Defenses tab
    browseRequested = Signal()
    chooseFolderRequested = Signal()
    outputEdited = Signal()  # the output path or the method changed: the checkpoint line needs refreshing

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("training_panel")
        self.running = False
        self._filling = False  # a preset is filling the form: its own changes do not make it custom
        self._build_controls()
        self._build_views()
        side_by_side(self, self.controls_scroll, self.views, (280, 900))
        self.intro = intro_label("training", INTRO)
        self.layout().insertWidget(0, self.intro)
        self._on_method()
        self.set_running(False)

    # ------------------------------------------------------------------ building
    def _build_controls(self) -> None:
        d = TrainConfig()
        box = QWidget()
        v = QVBoxLayout(box)
        v.setContentsMargins(6, 6, 6, 6)

        method = MethodBox()
        self.method_box, self.method, self.preset = method, method.method, method.preset
        self.preset_blurb, self.arch = method.preset_blurb, method.architecture
        v.addWidget(method)

        train = QGroupBox("Training")
        f = form_layout(train)
        self.epochs = int_box(1, 500, d.epochs)
        self.batch_size = int_box(1, 4096, d.batch_size)
        self.lr = double_box(5, 0.00001, 1.0, 0.0001, d.lr)
        self.schedule = QComboBox()
        self.schedule.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.schedule.setMinimumContentsLength(8)
        self.schedule.addItem("constant", "constant")
        self.schedule.addItem("cosine decay to 0", "cosine")
        self.seed = int_box(0, 999_999, d.seed)
        self.limit = int_box(ALL, 60000, ALL)
        self.limit.setSingleStep(1000)
        self.limit.setSpecialValueText("all")
        self.eval_limit = int_box(ALL, 10000, ALL)
        self.eval_limit.setSingleStep(500)
        self.eval_limit.setSpecialValueText("all")
        form_row(f, "Epochs:", self.epochs, "How many times training goes through all the training images.")
        form_row(f, "Training images:", self.limit, "Train on only the first N training images, for a quick run; "
                 "'all' uses all 60 000.")
        form_row(f, "Test images:", self.eval_limit, "How many test images measure the accuracy after each epoch; "
                 "'all' uses all 10 000.")
        self.train_advanced = AdvancedGroup("Advanced")
        self.train_advanced.setObjectName("training_advanced")
        more = form_layout(self.train_advanced.body)
        form_row(more, "Batch size:", self.batch_size, "How many images the model looks at before each small "
                 "correction of its weights.")
        form_row(more, "Learning rate (lr):", self.lr, "How big each correction is: too big and training jumps "
                 "around, too small and it crawls.", "Adam's learning rate.")
        self.schedule_label = form_row(more, "LR schedule:", self.schedule, SCHEDULE_WORDS)
        form_row(more, "Seed:", self.seed, "A number that fixes the random choices (starting weights, shuffling, "
                 "random starts), so the same settings give the same model.")
        f.addRow(self.train_advanced)
        v.addWidget(train)

        self.adv_box = AdversarialForm()
        f = self.adv_box
        self.eps, self.eps_equiv, self.steps, self.beta, self.guard = f.eps, f.eps_equiv, f.steps, f.beta, f.guard
        self.step_size, self.step_auto, self.ramp, self.share = f.step_size, f.step_auto, f.ramp, f.share
        self.robust_n, self.adv_advanced = f.robust_n, f.advanced
        v.addWidget(self.adv_box)

        dist = QGroupBox("Defensive distillation")
        self.distill_box = dist
        df = form_layout(dist)
        self.temperature = double_box(1, 1.0, 1000.0, 5.0, DEFAULT_TEMPERATURE)
        self.distill_note = QLabel("Teacher, then student: Epochs, batch size, learning rate and seed apply to "
                                   "each stage (constant learning rate).")
        self.distill_note.setWordWrap(True)
        form_row(df, "Temperature (T):", self.temperature, "How much the teacher softens its answers: a higher T "
                 "spreads its confidence over more digits.",
                 f"The softmax temperature T of both stages' training loss (default {DEFAULT_TEMPERATURE:g}, as "
                 "`advstudio distill`; Papernot et al. used T = 100 on MNIST). The student is deployed at T = 1, so "
                 "its logits come out about T times larger and its softmax saturates.")
        df.addRow(self.distill_note)
        v.addWidget(dist)

        out = QGroupBox("Output")
        o = QVBoxLayout(out)
        row = QHBoxLayout()
        self.output = QLineEdit()
        explain(self.output, "Where the trained model is saved (.safetensors); a checkpoint is written next to it "
                             "after every epoch.")
        self.browse = QPushButton("…")
        explain(self.browse, "Choose the output file.")
        self.browse.setMaximumWidth(32)
        row.addWidget(self.output, 1)
        row.addWidget(self.browse)
        o.addLayout(row)
        self.checkpoint_label = QLabel()
        self.checkpoint_label.setWordWrap(True)
        # a long file name must not widen the column: the label wraps what it can and the tooltip has it all
        self.checkpoint_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.checkpoint_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.resume = QCheckBox("Resume from the checkpoint")
        explain(self.resume, RESUME_WORDS)
        o.addWidget(self.checkpoint_label)
        o.addWidget(self.resume)
        v.addWidget(out)

        v.addStretch(1)

        run = QGroupBox("Run")
        r = QVBoxLayout(run)
        r.setContentsMargins(6, 4, 6, 4)
        self.runner = RunControls("Start training", default=True)
        self.start_button, self.cancel_button = self.runner.run, self.runner.cancel
        self.progress, self.eta = self.runner.progress, self.runner.eta
        self.use_button = QPushButton("Use as current model")
        self.use_button.setToolTip("Open the trained model in the studio (drawing, attacks, activations)")
        self.use_button.hide()
        self.defense_button = QPushButton("Evaluate in the Defenses tab")
        self.defense_button.setToolTip("Select the Defenses tab's distilled-model defense with this file (T from "
                                       "its metadata): FGSM/PGD plain and adaptive, and C&W L2")
        self.defense_button.hide()
        self.status = QLabel("Set the method and press Start training.")
        self.status.setTextFormat(Qt.TextFormat.PlainText)  # it names the files saved
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        buttons = self.runner.buttons()
        buttons.addWidget(self.progress, 1)
        buttons.addWidget(self.use_button)
        buttons.addWidget(self.defense_button)
        r.addLayout(buttons)
        r.addWidget(self.eta)
        r.addWidget(self.status)
        self.run_box = run
        self.data_message = DataMessage()
        self.data_text, self.choose_folder = self.data_message.text, self.data_message.choose_folder
        self.controls_scroll = FitScroll(box, 200, wrapped_text=True)  # as wide as its fields need (never a sideways scroll bar)
        self.method.currentIndexChanged.connect(self._on_method)
        self.method.currentIndexChanged.connect(self.outputEdited)
        self.arch.currentIndexChanged.connect(self.outputEdited)  # the default file name follows it
        self.preset.currentIndexChanged.connect(self._on_preset)
        for signal in self._edited_signals():
            signal.connect(self._on_edited)
        self.output.editingFinished.connect(self.outputEdited)
        self.browse.clicked.connect(self.browseRequested)
        self.start_button.clicked.connect(self.startRequested)
        self.cancel_button.clicked.connect(self.cancelRequested)
        self.use_button.clicked.connect(self.useModelRequested)
        self.defense_button.clicked.connect(self.evaluateDefenseRequested)
        self.choose_folder.clicked.connect(self.chooseFolderRequested)

    def _build_views(self) -> None:
        self.views = QWidget()
        v = QVBoxLayout(self.views)
        v.setContentsMargins(4, 4, 4, 4)
        self.curves, self.tradeoff = TrainingCurves(), TradeoffPlot()
        v.addWidget(self.run_box)
        v.addWidget(self.data_message)
        v.addWidget(views_tabs(self.curves, self.tradeoff), 1)

    # ------------------------------------------------------------------ settings
    def method_key(self) -> str | None:
        return self.method.currentData()

    def set_method(self, key: str | None) -> None:
        """None or "standard", "fgsm_rs", "pgd", "trades" or "distillation"."""
        self.method.setCurrentIndex(list(METHODS).index(None if key == "standard" else key))

    def architecture(self) -> str:
        """The core.model architecture name of the network to train."""
        return self.method_box.architecture_name()

    def _on_method(self) -> None:
        key = self.method_key()
        self.adv_box.set_method(key, self.running)
        self.adv_box.setVisible(key != DISTILLATION)
        self.distill_box.setVisible(key == DISTILLATION)
        self.distill_box.setEnabled(not self.running)
        self._sync_distillation()

    # ------------------------------------------------------------------ presets
    def preset_key(self) -> str | None:
        return self.preset.currentData()

    def _on_preset(self) -> None:
        key = self.preset_key()
        if key is None:
            self.preset_blurb.hide()
            return
        preset = PRESETS[key]
        self._filling = True
        try:
            self.fill(preset.config)
        finally:
            self._filling = False
        self.preset_blurb.setText(preset.blurb)
        self.preset_blurb.show()

    def fill(self, c: TrainConfig) -> None:
        """Show every setting of `c` in the form (the method too)."""
        self.set_method(c.adversarial)
        self.epochs.setValue(c.epochs)
        self.batch_size.setValue(c.batch_size)
        self.lr.setValue(c.lr)
        self.schedule.setCurrentIndex(max(0, self.schedule.findData(c.lr_schedule)))
        self.seed.setValue(c.seed)
        self.limit.setValue(c.limit or ALL)
        self.eval_limit.setValue(c.eval_limit or ALL)
        self.adv_box.fill(c)

    def _edited_signals(self) -> list:
        spins = (self.epochs, self.batch_size, self.lr, self.seed, self.limit, self.eval_limit)
        return ([s.valueChanged for s in spins] + [self.method.currentIndexChanged,
                                                   self.schedule.currentIndexChanged] + self.adv_box.edited())

    def _on_edited(self, *_args) -> None:
        """A field changed by hand: a preset no longer matching the form becomes "your own settings"."""
        key = self.preset_key()
        if self._filling or key is None:
            return
        try:
            same = self.config() == PRESETS[key].config
        except ValueError:
            same = False
        if not same:
            self.preset.blockSignals(True)
            self.preset.setCurrentIndex(0)
            self.preset.blockSignals(False)
            self.preset_blurb.setText(f"Changed from “{PRESETS[key].label}”: now your own recipe.")

    def _sync_distillation(self) -> None:
        """Distillation trains with a constant learning rate and keeps no checkpoint: say so where it shows."""
        distilling = self.method_key() == DISTILLATION
        self.schedule.setEnabled(not self.running and not distilling)
        words = "Defensive distillation trains with a constant learning rate." if distilling else SCHEDULE_WORDS
        for w in (self.schedule, self.schedule_label):
            explain(w, words)
        if distilling:
            self.resume.setEnabled(False)

    def set_resume_available(self, available: bool, why: str = "") -> None:
        """Resume needs a checkpoint; a method that writes none disables the box and says why."""
        explain(self.resume, why if not available else RESUME_WORDS)
        if not available:
            self.resume.setChecked(False)
            self.resume.setEnabled(False)

    def temperature_value(self) -> float | None:
        """T for defensive distillation, or None for the other methods."""
        return float(self.temperature.value()) if self.method_key() == DISTILLATION else None

    def config(self) -> TrainConfig:
        """The settings as a TrainConfig (ValueError with a readable message when they do not fit)."""
        key = self.method_key()
        distilling = key == DISTILLATION
        if distilling:
            key = None
        return TrainConfig(
            epochs=self.epochs.value(), batch_size=self.batch_size.value(), lr=float(self.lr.value()),
            seed=self.seed.value(), limit=self.limit.value() or None, eval_limit=self.eval_limit.value() or None,
            adversarial=key, lr_schedule="constant" if distilling else self.schedule.currentData(),
            **self.adv_box.values(),
        )

    def output_path(self) -> str:
        return self.output.text().strip()

    def set_checkpoint_text(self, text: str, tip: str = "") -> None:
        self.checkpoint_label.setText(text)
        self.checkpoint_label.setToolTip(tip)

    def set_running(self, running: bool) -> None:
        self.running = running
        self.runner.set_running(running, (self.method, self.epochs, self.batch_size, self.lr, self.schedule,
                                          self.seed, self.limit, self.eval_limit, self.output, self.browse,
                                          self.resume, self.temperature, self.arch))
        self.adv_box.set_method(self.method_key(), running)
        self.preset.setEnabled(not running)
        self._sync_distillation()
        if running:
            self.use_button.hide()
            self.defense_button.hide()

    def show_data_error(self, message: str | None) -> None:
        self.data_message.show_message(message)

    # ------------------------------------------------------------------ plots
    def set_progress(self, p: TrainProgress) -> None:
        self.curves.add_progress(p)
        prog = p.progress
        if prog is not None:
            done = (prog.epoch - p.first_epoch) * prog.batches + prog.batch
            total = (p.epochs - p.first_epoch + 1) * prog.batches
            self.progress.setValue(int(round(1000 * done / max(1, total))))
            eta = "estimating time left…" if p.elapsed < 1.0 and not prog.done else \
                f"about {_duration(prog.eta_s)} left"
            self.eta.setText(f"{p.stage} · batch {prog.batch}/{prog.batches} · {prog.samples_per_s:.0f} images/s · "
                             f"{eta} (per-epoch evaluation extra) · loss {prog.loss:.4f}")
        else:
            self.eta.setText(p.stage)

    def begin(self, config: TrainConfig, temperature: float | None = None) -> None:
        """Clear the plots for a new run of `config` (defensive distillation at `temperature` when given)."""
        self.curves.begin(config, temperature)

    # ------------------------------------------------------------------ outcomes
    def show_result(self, r: TrainResult) -> None:
        self.set_running(False)
        self.progress.setValue(1000)
        h = r.history[-1] if r.history else {}
        bits = []
        if h.get("test_accuracy") is not None:
            bits.append(f"clean test accuracy {h['test_accuracy'] * 100:.2f}% on {r.metadata.get('test_samples')} "
                        "test images")
        if h.get("robust_accuracy") is not None and self.curves.config_shown is not None:
            bits.append(f"{robust_label(self.curves.config_shown, self.curves.robust_samples)}: "
                        f"{h['robust_accuracy'] * 100:.2f}%")
        self.eta.setText(f"Done in {_duration(r.seconds)}.")
        if r.temperature is not None:
            bits[:1] = [f"the student's clean test accuracy {h['test_accuracy'] * 100:.2f}% on "
                        f"{r.metadata.get('test_samples')} test images"] if bits else []
            fgsm = r.metadata.get("fgsm_curve") or {}
            if 0.1 in fgsm.get("eps", ()):
                acc = fgsm["accuracy"][fgsm["eps"].index(0.1)]
                bits.append(f"its FGSM accuracy at ε = 0.1 (n = {fgsm['n']}): {acc * 100:.2f}%, through a "
                            "saturated softmax")
            self.status.setText(f"Saved the distilled student (T = {r.temperature:g}) to {r.path} "
                                f"({'; '.join(bits)}). It was added to the Robustness lab's models; evaluate it "
                                "in the Defenses tab against the adaptive attack and C&W.")
            self.defense_button.show()
        else:
            self.tradeoff.add_run(r.metadata, r.history)
            guard = guard_message(r.history)
            stopped = f" The overfitting guard {guard}." if guard else ""
            self.status.setText(f"Saved {r.path} ({'; '.join(bits)}). It was added to the Robustness lab's "
                                f"models.{stopped}")
        self.use_button.show()

    def show_cancelled(self, c: TrainCancelled) -> None:
        self.set_running(False)
        self.eta.setText("Cancelled.")
        if c.checkpoint:
            self.status.setText(f"Training cancelled. The last finished epoch ({c.epochs_done} of {c.epochs}) is "
                                f"kept in {c.checkpoint}: tick Resume and Start to continue from it. No model file "
                                "was written.")
        elif self.curves.temperature_shown is not None:
            self.status.setText("Distillation cancelled: nothing was kept (it writes no checkpoint).")
        else:
            self.status.setText("Training cancelled before the first epoch finished: nothing was kept.")

    def show_problem(self, message: str) -> None:
        self.set_running(False)
        self.eta.setText("")
        self.status.setText(message)
