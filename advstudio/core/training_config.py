"""A training run's recipe, without torch: the Training tab builds and shows it on the GUI thread; core.training
runs it. Also the marker of a checkpoint file and distillation's default temperature."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

CHECKPOINT_KEY = "advstudio_checkpoint"
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
    adversarial: str | None = None  # "fgsm_rs" (fast, Wong et al. 2020) or "pgd" (Madry et al. 2018)
    adv_eps: float = 0.3  # L∞ radius in [0, 1] pixel space
    adv_steps: int = 10  # PGD steps (fgsm_rs always takes one)
    adv_step_size: float | None = None  # default: 1.25·ε for fgsm_rs, 2.5·ε/steps for pgd
    adv_ramp_epochs: int = 0  # ε grows linearly from 0 over this many epochs
    adv_fraction: float = 1.0  # share of each batch replaced by its adversarial version
    robust_eval_samples: int = 500  # held-out test images for the per-epoch PGD robust accuracy
    robust_eval_steps: int = 20
    lr_schedule: str = "constant"  # "constant" or "cosine" (lr decays to 0 over all epochs, set per batch)

    def __post_init__(self) -> None:
        if self.lr_schedule not in ("constant", "cosine"):
            raise ValueError(f"unknown learning-rate schedule {self.lr_schedule!r} (constant or cosine)")
        if self.adversarial not in (None, "fgsm_rs", "pgd"):
            raise ValueError(f"unknown adversarial training method {self.adversarial!r} (fgsm_rs or pgd)")
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
        else:
            d["adv_step_size"] = self.step_size()
        return {"optimizer": "Adam", "loss": "cross_entropy", "shuffle": True, **d}
