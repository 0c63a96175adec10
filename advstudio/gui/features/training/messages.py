"""Frozen requests and replies of the Training tab, the default output location, and a torch-free reader of a
training checkpoint's header (so the panel can say what a checkpoint holds without touching torch)."""

from __future__ import annotations

import struct
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path

from advstudio.core.architecture_names import DEFAULT_ARCHITECTURE
from advstudio.core.jsonlimits import loads_limited
from advstudio.core.training_config import CHECKPOINT_KEY, TrainConfig
from advstudio.core.types import Progress

METHODS = {None: "Standard", "fgsm_rs": "FGSM with random start (fast)", "pgd": "PGD (Madry)",
           "trades": "TRADES (robust, keeps accuracy)", "distillation": "Defensive distillation (temperature T)"}
ADVERSARIAL = ("fgsm_rs", "pgd", "trades")  # the methods that train on attacked images
GUARD_EVERY = 200  # batches between the overfitting guard's checks when its box is ticked (the preset's)
DISTILLATION = "distillation"  # the one method that is not a TrainConfig.adversarial value
NO_CHECKPOINT_NOTE = ("Defensive distillation writes no checkpoint (teacher and student train in one go, "
                      "core.distillation has no resume): a cancelled run keeps nothing.")
# Settings a resumed run may change: they only affect the per-epoch readouts, not the optimisation.
RESUMABLE_CHANGES = {"epochs", "report_every", "eval_limit", "robust_eval_samples", "robust_eval_steps"}


def default_models_dir() -> Path:
    """Where trained models go unless the user picks another file: the user's data folder / models."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("advstudio", appauthor=False)) / "models"


def default_output(method: str | None, architecture: str = DEFAULT_ARCHITECTURE) -> Path:
    """models/mnist_cnn_standard.safetensors for the article's CNN, lenet5_pgd.safetensors for a LeNet-5, …"""
    stem = "mnist_cnn" if architecture == DEFAULT_ARCHITECTURE else architecture.lower()
    return default_models_dir() / f"{stem}_{method or 'standard'}.safetensors"


def checkpoint_path(out: str | Path) -> Path:
    """The checkpoint that sits next to an output file: model.safetensors -> model.checkpoint.safetensors."""
    out = Path(out)
    stem = out.stem if out.suffix == ".safetensors" else out.name
    return out.with_name(f"{stem}.checkpoint.safetensors")


HEADER_DEPTH = 16  # a checkpoint's header and its metadata are shallow; deeper is not ours


def read_checkpoint_info(path: str | Path) -> dict | None:
    """A checkpoint's metadata ({"epoch", "config", "history", "elapsed_s"}) from its safetensors header alone;
    None when the file does not exist, ValueError with a readable reason when it is not a training checkpoint."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        with path.open("rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                raise ValueError("the file is too short")
            (size,) = struct.unpack("<Q", head)
            if size > 16 * 1024 * 1024:
                raise ValueError("the header is implausibly large")
            header = loads_limited(fh.read(size).decode("utf-8"), HEADER_DEPTH)
        table = header.get("__metadata__") if isinstance(header, dict) else None
        text = table.get(CHECKPOINT_KEY, "null") if isinstance(table, dict) else "null"
        if not isinstance(text, str):
            raise ValueError(f"its {CHECKPOINT_KEY!r} entry is not text")
        meta = loads_limited(text, HEADER_DEPTH)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path.name} is not a readable training checkpoint ({exc})") from exc
    if not isinstance(meta, dict) or "epoch" not in meta:
        raise ValueError(f"{path.name} is not an Adversarial Studio training checkpoint")
    return meta


def config_differences(config: TrainConfig, saved: dict) -> list[str]:
    """The settings in which `config` differs from a checkpoint's saved config (beyond RESUMABLE_CHANGES)."""
    now = asdict(config)
    out = []
    for key, value in now.items():
        if key in RESUMABLE_CHANGES or key not in saved:
            continue
        if saved[key] != value:
            out.append(f"{key.replace('_', ' ')}: {saved[key]!r} in the checkpoint, {value!r} now")
    return out


def robust_label(config: TrainConfig, test_samples: int | None = None) -> str:
    """"PGD-20, ε=0.3, n=500": the per-epoch robustness readout's attack, radius and sample count."""
    n = config.robust_eval_samples if test_samples is None else min(config.robust_eval_samples, test_samples)
    return f"PGD-{config.robust_eval_steps}, ε={config.adv_eps:g}, n={n}"


def method_summary(config: TrainConfig, temperature: float | None = None) -> str:
    if temperature is not None:
        return (f"defensive distillation at T = {temperature:g}: a teacher on the hard labels, then a student on "
                f"the teacher's soft labels, both with softmax(logits / T) in the loss, {config.epochs} epoch(s) "
                "each; the student is deployed at T = 1")
    if config.adversarial is None:
        return "standard training"
    steps = 1 if config.adversarial == "fgsm_rs" else config.adv_steps
    pushes = f"{steps} step{'s' if steps != 1 else ''} of {config.step_size():.4g}"
    if config.adversarial == "trades":
        text = (f"{METHODS['trades']}, ε = {config.adv_eps:g}, β = {config.trades_beta:g}: the clean images' "
                f"cross-entropy plus β × how far the model's answer moves (KL divergence) on an attacked copy "
                f"found by {pushes} that push that answer away, ramp {config.adv_ramp_epochs} epoch(s)")
    else:
        text = (f"{METHODS[config.adversarial]}, ε = {config.adv_eps:g}, {pushes}, ramp {config.adv_ramp_epochs} "
                f"epoch(s), {config.adv_fraction * 100:.0f}% of each batch adversarial")
    return text + guard_summary(config)


def guard_summary(config: TrainConfig) -> str:
    """", guarded: …" when the overfitting guard is on, else ""."""
    if not config.guard_every or config.adversarial is None:
        return ""
    return (f", guarded (every {config.guard_every} batches PGD-10 on {config.guard_samples} training images; a "
            f"fall of more than {config.guard_drop * 100:.0f} points below the best stops the run and keeps the "
            "best weights)")


def guard_message(history) -> str | None:
    """The overfitting guard's sentence when it ended the run (the last epoch's "guard" entry), else None."""
    last = history[-1] if history else None
    note = last.get("guard") if isinstance(last, dict) else None
    return note if isinstance(note, str) and note else None


@dataclass(frozen=True)
class TrainRequest:
    """Train a fresh network of `architecture` (a core.model name) with `config` on MNIST from `data_dir`; write
    `out` when done and a checkpoint after every epoch; `resume` continues from the checkpoint when it exists.
    `cancel` stops this run only. `temperature` set: defensive distillation at that T instead (teacher then
    student, both of `architecture`; no checkpoint)."""

    config: TrainConfig
    data_dir: str
    out: str
    checkpoint: str
    resume: bool = False
    temperature: float | None = None
    architecture: str = DEFAULT_ARCHITECTURE
    cancel: threading.Event = field(default_factory=threading.Event, compare=False)


@dataclass(frozen=True)
class TrainProgress:
    """A progress report: `progress` (None while loading data or after training) and what happens now."""

    stage: str
    progress: Progress | None
    first_epoch: int  # 1, or the epoch after the checkpoint's when resuming
    epochs: int
    train_samples: int
    test_samples: int
    elapsed: float
    history: tuple = ()  # finished epochs so far (from the checkpoint when resuming)
    robust_samples: int = 0  # held-out test images of the per-epoch PGD check (adversarial methods)
    phase: str | None = None  # distillation: "teacher" or "student" (its epochs continue the teacher's)


@dataclass(frozen=True)
class TrainResult:
    path: str
    name: str
    metadata: dict
    history: tuple
    seconds: float
    first_epoch: int
    temperature: float | None = None  # a distilled student (its metadata's recipe holds T as well)


@dataclass(frozen=True)
class TrainCancelled:
    """Cancelled between batches: `epochs_done` finished epochs are in `checkpoint` (0: nothing was kept)."""

    epochs_done: int
    epochs: int
    checkpoint: str | None


@dataclass(frozen=True)
class TrainProblem:
    """Training could not start or go on, with a readable reason; `data` when MNIST is missing or unreadable."""

    message: str
    data: bool = False
