"""The base class of every attack: settings on the object, the model per call.

`run(model, x, y, target=None, cancel=None)` does what every attack needs and lets `forward` do the attack:
large batches run as chunks (and merge), inputs are detached and checked, targets are checked, the model runs
in eval mode and gets its previous mode back. `forward` differentiates with respect to the input only
(torch.autograd.grad), so the parameters' .grad is never touched, and returns the rich per-sample AttackOutput."""

from __future__ import annotations

import copy
import threading
from typing import ClassVar

import torch
from torch import nn

from advstudio.core.attacks.common import AttackOutput, check_target, eval_mode, fast_layout, merge_outputs

# On CPU a batch of 500 MNIST images costs about 1.6× the time of four chunks of 125 per forward and
# input-gradient pass (fresh activation buffers of ~100 MB fault in page by page).
CHUNK_SIZE = 128


class Attack:
    """Subclasses set `name` (the registry key), `norm` and `iterative`, take their settings in __init__, and
    implement `params()` and `forward()`."""

    name: ClassVar[str] = ""
    norm: ClassVar[str] = "linf"
    iterative: ClassVar[bool] = False
    targeted: bool = False
    record_trajectory: bool = False
    seed: int | None = None

    @property
    def uses_eps(self) -> bool:
        return self.norm == "linf"

    @staticmethod
    def check_eps(eps: float) -> float:
        if not 0.0 <= eps <= 1.0:
            raise ValueError(f"ε must lie in [0, 1] pixel space, got {eps}")
        return float(eps)

    def set_modes(self, targeted: bool, early_stop: bool = True, record_trajectory: bool = False) -> None:
        """The settings every iterative attack takes."""
        self.targeted = bool(targeted)
        self.early_stop = bool(early_stop)
        self.record_trajectory = bool(record_trajectory)

    def mode_params(self) -> dict:
        return {"targeted": self.targeted, "early_stop": getattr(self, "early_stop", False), "norm": self.norm}

    def params(self) -> dict:
        """The settings as used (defaults resolved), for results, reports and exports."""
        raise NotImplementedError

    def forward(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None,
                cancel: threading.Event | None) -> AttackOutput:
        """Attack one chunk: x detached, y on x's device, target checked (None when untargeted), eval mode on.
        A sample whose target is its own class is left alone and never counts as a success."""
        raise NotImplementedError

    def run(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None = None,
            cancel: threading.Event | None = None) -> AttackOutput:
        """Attack a batch x (N×C×H×W in [0, 1]) with true classes y (and target classes when targeted).

        The clean input counts as step 0: a clean mistake is a success with x_adv = x. Per-sample attacks give
        the same answer in chunks; trajectories are recorded for small batches only, so they are not split."""
        n = int(x.shape[0])
        model = fast_layout(model)
        if n <= CHUNK_SIZE or self.record_trajectory:
            return self.run_chunk(model, x, y, target, cancel)
        outs = []
        for k, i in enumerate(range(0, n, CHUNK_SIZE)):
            attack = self
            if k and self.seed is not None:
                attack = copy.copy(self)  # a fresh random start for each chunk, not the first chunk's again
                attack.seed = int(self.seed) + k
            part = None if target is None else torch.as_tensor(target)
            if part is not None and part.ndim:
                part = part[i : i + CHUNK_SIZE]
            outs.append(attack.run_chunk(model, x[i : i + CHUNK_SIZE], y[i : i + CHUNK_SIZE], part, cancel))
        return merge_outputs(outs)

    def run_chunk(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None,
                  cancel: threading.Event | None) -> AttackOutput:
        """One chunk, without splitting."""
        x = x.detach()
        y = y.to(x.device)
        tgt = check_target(self.targeted, target, y)
        with eval_mode(model):
            return self.forward(model, x, y, tgt, cancel)
