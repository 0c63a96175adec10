"""A training run's recipe, without torch: the Training tab builds and shows it on the GUI thread; core.training
runs it. Also the marker of a checkpoint file and distillation's default temperature."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

CHECKPOINT_KEY = "advstudio_checkpoint"
ADVERSARIAL_METHODS = (None, "fgsm_rs", "pgd", "trades")
DEFAULT_TEMPERATURE = 20.0  # defensive distillation's T (Papernot et al. use 20–100 on MNIST)


@dataclass(frozen=True)
class TrainConfig:
    """The article's recipe: Adam, lr 1e-3, batch 64, 5 epochs, cross-entropy, shuffled, seeded."""

    epochs: int = 5
    batch_size: int = 64
    lr: float = 1e-3
    seed: int = 0
    limit: int | None = None  # use only the first N training samples (quick runs)
    eval_limit: int | None = None  # evaluate on the first N test samples after each epoch
    report_every: int = 20  # batches between progress reports
    # adversarial training (None: standard training)
    # "fgsm_rs" (fast, Wong et al. 2020), "pgd" (Madry et al. 2018) or "trades" (Zhang et al. 2019)
    adversarial: str | None = None
    adv_eps: float = 0.3  # L∞ radius in [0, 1] pixel space
    adv_steps: int = 10  # PGD steps, or TRADES's inner KL steps (fgsm_rs always takes one)
    adv_step_size: float | None = None  # default: 1.25·ε for fgsm_rs, 2.5·ε/steps for pgd
    adv_ramp_epochs: int = 0  # ε grows linearly from 0 over this many epochs
    adv_fraction: float = 1.0  # share of each batch replaced by its adversarial version (not TRADES)
    trades_beta: float = 6.0  # TRADES: weight β of the KL term (larger: more robust, less accurate)
    robust_eval_samples: int = 500  # held-out test images for the per-epoch PGD robust accuracy
    robust_eval_steps: int = 20
    lr_schedule: str = "constant"  # "constant" or "cosine" (lr decays to 0 over all epochs, set per batch)
    # Guard against catastrophic overfitting (Wong et al. 2020: FGSM training can suddenly lose all PGD
    # robustness): every guard_every batches, PGD-10 accuracy on guard_samples training images; the weights
    # with the best such accuracy are kept, and a collapse (a fall of more than guard_drop below the best)
    # stops the run and restores them. 0 turns the guard off.
    guard_every: int = 0
    guard_samples: int = 256
    guard_drop: float = 0.2

    def __post_init__(self) -> None:
        if self.lr_schedule not in ("constant", "cosine"):
            raise ValueError(f"unknown learning-rate schedule {self.lr_schedule!r} (constant or cosine)")
        if self.adversarial not in ADVERSARIAL_METHODS:
            raise ValueError(f"unknown adversarial training method {self.adversarial!r} (fgsm_rs, pgd or trades)")
        if self.guard_every < 0 or self.guard_samples < 1 or not 0.0 < self.guard_drop <= 1.0:
            raise ValueError("guard_every must be ≥ 0, guard_samples ≥ 1 and guard_drop in (0, 1]")
        if not 0.0 <= self.trades_beta <= 1000.0:
            raise ValueError("trades_beta must lie in [0, 1000]")
        if not 0.0 <= self.adv_eps <= 1.0:
            raise ValueError("adv_eps must lie in [0, 1] pixel space")
        if not 0.0 <= self.adv_fraction <= 1.0:
            raise ValueError("adv_fraction must lie in [0, 1]")

    def step_size(self) -> float:
        if self.adv_step_size is not None:
            return self.adv_step_size
        if self.adversarial == "fgsm_rs":
            return 1.25 * self.adv_eps
        return 2.5 * self.adv_eps / max(1, self.adv_steps)

    def lr_at(self, epoch: int, progress_in_epoch: float = 0.0) -> float:
        """Learning rate for a batch of `epoch` (1-based); a pure function of the position, so a resumed
        run continues on the same curve."""
        if self.lr_schedule == "constant":
            return self.lr
        t = min(1.0, ((epoch - 1) + progress_in_epoch) / max(1, self.epochs))
        return self.lr * 0.5 * (1.0 + math.cos(math.pi * t))

    def eps_at(self, epoch: int, progress_in_epoch: float = 1.0) -> float:
        """ε for a batch of `epoch` (1-based): a linear ramp over the first adv_ramp_epochs epochs."""
        if self.adv_ramp_epochs <= 0:
            return self.adv_eps
        t = min(1.0, ((epoch - 1) + progress_in_epoch) / self.adv_ramp_epochs)
        return self.adv_eps * t

    def recipe(self) -> dict:
        d = asdict(self)
        d.pop("report_every")
        if self.adversarial is None:
            for key in list(d):
                if key.startswith(("adv_", "robust_eval")):
                    d.pop(key)
            d.pop("adversarial")
            d.pop("trades_beta")
            for key in ("guard_every", "guard_samples", "guard_drop"):
                d.pop(key)
        else:
            if not self.guard_every:
                for key in ("guard_every", "guard_samples", "guard_drop"):
                    d.pop(key)
            if self.adversarial != "trades":
                d.pop("trades_beta")
            else:
                d.pop("adv_fraction")
                d["loss"] = "cross_entropy + beta * KL(clean || adversarial)"
            d["adv_step_size"] = self.step_size()
        return {"optimizer": "Adam", "loss": d.pop("loss", "cross_entropy"), "shuffle": True, **d}


@dataclass(frozen=True)
class Preset:
    """A named recipe the Training tab and `advstudio train --preset` offer."""

    key: str
    label: str  # plain words, for the form
    blurb: str  # one or two sentences: what it is for and what it costs
    config: TrainConfig


# A robust model in a lesson's time: PGD with 3 steps (2.5·ε/3 each, random start), ε ramped up over the first
# epoch, batches of 128 with Adam at 2e-3 and cosine decay, guarded against catastrophic overfitting. FGSM with a
# random start (6 epochs, the first try) overfit catastrophically inside its first epoch at ε = 0.3 on this CNN
# (PGD-20 accuracy 12.8 %, the guard's best check 26 %), so the preset spends three gradient steps per batch
# instead. Its measured time and AutoAttack accuracy are in the README.
QUICK_ROBUST = Preset(
    key="quick-robust",
    label="Quick robust (about 10 minutes)",
    blurb="PGD with 3 steps at ε = 0.3 for 5 epochs, ε ramped up over the first, with a check every 200 batches "
          "that keeps the most robust weights if the training suddenly loses its robustness.",
    config=TrainConfig(epochs=5, batch_size=128, lr=2e-3, adversarial="pgd", adv_eps=0.3, adv_steps=3,
                       adv_ramp_epochs=1, lr_schedule="cosine", guard_every=200),
)
PRESETS: dict[str, Preset] = {p.key: p for p in (QUICK_ROBUST,)}
