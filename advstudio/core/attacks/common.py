"""What every attack shares: eval mode, the result object, perturbation norms, success tests and trajectories.

The attack modules (fgsm, linf, l2, apgd, square) and the base class import it; nothing here imports an attack."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from advstudio.core.errors import AttackCancelled

# A pixel counts towards L0 when it moves by at least half a grey level: smaller changes vanish in an 8-bit image
# (and the tanh reparametrization of C&W moves every pixel by ~1e-7 without meaning to).
L0_TOLERANCE = 0.5 / 255


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Run in eval mode (dropout off: it changes gradients), then restore the previous mode."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def fast_layout(model: nn.Module) -> nn.Module:
    """The model to attack with on the CPU: a copy whose convolution weights are stored channels-last, which
    oneDNN runs about 1.4× faster per forward + input-gradient pass and 1.9× faster per forward pass on this
    project's CNN (one thread, forward + backward timed against the default layout), with the same outputs to float rounding. Only models built
    from torch.nn's own layers (and the bundled CNN) are copied; a defense wrapper, a model already in that
    layout, a model off the CPU or one without convolutions is returned as it is."""
    params = list(model.parameters())
    if not params or params[0].device.type != "cpu":
        return model
    convs = [p for p in params if p.ndim == 4]
    if not convs or all(p.is_contiguous(memory_format=torch.channels_last) for p in convs):
        return model
    if not all(type(m).__module__.startswith(_PLAIN_MODULES) for m in model.modules()):
        return model
    import copy

    try:
        fast = copy.deepcopy(model)
    except Exception:  # noqa: BLE001 — an uncopyable model is attacked as it is
        return model
    for p in fast.parameters():  # input gradients only: no weight-gradient bookkeeping in the copy
        p.requires_grad_(False)
    return fast.to(memory_format=torch.channels_last)


_PLAIN_MODULES = ("torch.nn.", "advstudio.core.model")


@dataclass(frozen=True)
class Trajectory:
    """Every iterate of an attack, for a scrubber: step k shows images[k] and the model's probs[k].

    Arrays are numpy copies on the CPU. Row 0 of each restart (or binary-search round, for C&W) is the start
    point; samples that stopped early keep their last image and probabilities."""

    images: np.ndarray  # (T, N, C, H, W) float32 in [0, 1]
    probs: np.ndarray  # (T, N, classes) float32
    restart: np.ndarray  # (T,) int: restart (PGD) or binary-search round (C&W); 0 otherwise
    step: np.ndarray  # (T,) int: the step within that restart, 0 = start point
    queries: np.ndarray | None = None  # (T, N) int: model queries made on each sample so far (Square), else None

    def __len__(self) -> int:
        return int(self.step.shape[0])


@dataclass(frozen=True)
class AttackOutput:
    """One attack on one batch. Tensors are detached, on the model's device; index i is sample i.

    success[i]: the attack reached its goal (untargeted: misclassified; targeted: the target class) at any
    step; x_adv[i] is the adversarial example from that step (iterative L∞ attacks and DeepFool: the first one;
    C&W: the one with the smallest L2). Where it never succeeded, x_adv[i] is its final iterate (PGD with
    restarts: the restart with the highest loss). The clean input counts as step 0, so a clean mistake is a
    success with a zero perturbation and robust accuracy never exceeds clean accuracy."""

    attack: str
    params: dict
    x_adv: torch.Tensor  # (N, C, H, W) in [0, 1]
    perturbation: torch.Tensor  # x_adv - x
    labels: torch.Tensor  # (N,) true classes
    target: torch.Tensor | None  # (N,) target classes of a targeted attack, else None
    clean_pred: torch.Tensor  # (N,) the model's class for the clean input
    pred: torch.Tensor  # (N,) the model's class for x_adv
    probs: torch.Tensor  # (N, classes) softmax at x_adv
    success: torch.Tensor  # (N,) bool
    success_step: torch.Tensor  # (N,) int: the global iteration where it first succeeded (0 = clean), -1 never
    linf: torch.Tensor  # (N,) ‖δ‖∞
    l2: torch.Tensor  # (N,) ‖δ‖₂
    l0: torch.Tensor  # (N,) pixels changed by ≥ L0_TOLERANCE
    gradient_evaluations: int  # forward+backward passes, summed over samples (the attack's cost)
    trajectory: Trajectory | None = None
    queries: torch.Tensor | None = None  # (N,) model queries made per sample (score-based attacks), else None
    breakdown: dict | None = None  # an ensemble's (AutoAttack's) points broken per attack, in the order they ran

    @property
    def n(self) -> int:
        return int(self.labels.shape[0])

    @property
    def correct(self) -> torch.Tensor:
        """Per sample: x_adv is still classified as the true class."""
        return self.pred == self.labels

    def accuracy(self) -> float:
        """Accuracy on x_adv: the robust accuracy of this batch under this attack."""
        return float(self.correct.float().mean()) if self.n else 0.0

    def clean_accuracy(self) -> float:
        return float((self.clean_pred == self.labels).float().mean()) if self.n else 0.0

    def success_rate(self) -> float:
        return float(self.success.float().mean()) if self.n else 0.0


def perturbation_norms(delta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-sample L∞, L2 and L0 (pixels moved by ≥ L0_TOLERANCE) of a batch of perturbations."""
    flat = delta.detach().flatten(1)
    return flat.abs().amax(1), flat.norm(p=2, dim=1), (flat.abs() >= L0_TOLERANCE).sum(1)


def reached(logits: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
    """Per sample: the goal is met (untargeted: not the true class; targeted: the target class)."""
    pred = logits.argmax(1)
    return pred != y if target is None else pred == target


def margin(logits: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
    """Per sample, how far the goal is passed (> 0 once met): best other logit minus the true one
    (untargeted), or the target's logit minus the best other one (targeted). The one margin every attack uses."""
    goal = y if target is None else target
    goal_logit = logits.gather(1, goal[:, None]).squeeze(1)
    others = logits.masked_fill(F.one_hot(goal, logits.shape[1]).bool(), float("-inf")).amax(1)
    return others - goal_logit if target is None else goal_logit - others


def objective(logits: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None, loss: str) -> torch.Tensor:
    """Per-sample quantity an attack ascends. "ce": cross-entropy of the true class (untargeted) or minus that
    of the target (targeted). "margin": the margin above; it keeps a gradient where a confident softmax
    saturates."""
    if loss == "ce":
        if target is None:
            return F.cross_entropy(logits, y, reduction="none")
        return -F.cross_entropy(logits, target, reduction="none")
    if loss == "margin":
        return margin(logits, y, target)
    raise ValueError(f"unknown loss {loss!r}: use 'ce' or 'margin'")


def starting_point(x: torch.Tensor, clean_logits: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None):
    """Where every attack starts: which samples may count (a target equal to the true class never does),
    which already reach the goal clean (success at step 0), and the best iterate and logits so far (the clean
    ones). Returns (eligible, success, success_step, best_x, best_logits)."""
    eligible = torch.ones_like(y, dtype=torch.bool) if target is None else target != y
    success = reached(clean_logits, y, target) & eligible
    return eligible, success, torch.where(success, 0, -1), x.clone(), clean_logits.clone()


def target_runs(clean_logits: torch.Tensor, tgt: torch.Tensor | None, target_classes: int,
                restarts: int) -> list[torch.Tensor]:
    """The target of each run of an attack that tries the next-best classes in turn (APGD-T, FAB-T, the AutoAttack
    way): the 2nd to the (k+1)-th largest clean logit, `restarts` runs each; a given target: `restarts` runs."""
    if tgt is not None:
        return [tgt] * restarts
    ranked = clean_logits.argsort(1, descending=True)
    count = min(target_classes, clean_logits.shape[1] - 1)
    return [ranked[:, k] for k in range(1, count + 1) for _ in range(restarts)]


def check_target(targeted: bool, target: torch.Tensor | None, y: torch.Tensor) -> torch.Tensor | None:
    """The target classes as a tensor on y's device, or None for an untargeted attack."""
    if not targeted:
        return None
    if target is None:
        raise ValueError("a targeted attack needs target classes")
    target = torch.as_tensor(target, device=y.device, dtype=torch.long)
    if target.ndim == 0:
        target = target.expand_as(y)
    if target.shape != y.shape:
        raise ValueError(f"target has shape {tuple(target.shape)}, expected {tuple(y.shape)}")
    return target


def check_cancel(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise AttackCancelled("attack cancelled")


class TrajectoryRecorder:
    """Collects full-batch iterates as CPU numpy copies (meant for a handful of images, not a test set)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._images: list[np.ndarray] = []
        self._probs: list[np.ndarray] = []
        self._restart: list[int] = []
        self._step: list[int] = []
        self._queries: list[np.ndarray] = []

    def add(self, images: torch.Tensor, probs: torch.Tensor, restart: int, step: int,
            queries: torch.Tensor | None = None) -> None:
        if not self.enabled:
            return
        self._images.append(images.detach().to("cpu", torch.float32).numpy().copy())
        self._probs.append(probs.detach().to("cpu", torch.float32).numpy().copy())
        self._restart.append(restart)
        self._step.append(step)
        if queries is not None:
            self._queries.append(queries.detach().to("cpu", torch.int64).numpy().copy())

    def result(self) -> Trajectory | None:
        if not self.enabled or not self._images:
            return None
        return Trajectory(
            images=np.stack(self._images),
            probs=np.stack(self._probs),
            restart=np.asarray(self._restart, dtype=np.int64),
            step=np.asarray(self._step, dtype=np.int64),
            queries=np.stack(self._queries) if len(self._queries) == len(self._images) else None,
        )


def build_output(
    attack: str,
    params: dict,
    x: torch.Tensor,
    x_adv: torch.Tensor,
    adv_logits: torch.Tensor,
    y: torch.Tensor,
    target: torch.Tensor | None,
    clean_pred: torch.Tensor,
    success: torch.Tensor,
    success_step: torch.Tensor,
    gradient_evaluations: int,
    trajectory: Trajectory | None,
    queries: torch.Tensor | None = None,
) -> AttackOutput:
    x_adv = x_adv.detach().clamp(0.0, 1.0)
    delta = x_adv - x
    linf, l2, l0 = perturbation_norms(delta)
    return AttackOutput(
        attack=attack,
        params=dict(params),
        x_adv=x_adv,
        perturbation=delta,
        labels=y,
        target=target,
        clean_pred=clean_pred,
        pred=adv_logits.argmax(1),
        probs=torch.softmax(adv_logits.detach().float(), 1),
        success=success,
        success_step=success_step,
        linf=linf,
        l2=l2,
        l0=l0,
        gradient_evaluations=int(gradient_evaluations),
        trajectory=trajectory,
        queries=queries,
    )


BREAKDOWN_ORDER = ("clean", "apgd-ce", "apgd-t", "fab-t", "square")  # the order AutoAttack runs them in


def ordered_breakdown(parts: dict | None) -> dict | None:
    """An ensemble's breakdown in the order its attacks ran (clean mistakes first), whatever order the counts
    were summed or stored in (a checkpoint's JSON sorts its keys)."""
    if parts is None:
        return None
    rank = {k: i for i, k in enumerate(BREAKDOWN_ORDER)}
    return {k: parts[k] for k in sorted(parts, key=lambda k: (rank.get(k, len(rank)), k))}


def _sum_breakdowns(parts: list[dict | None]) -> dict | None:
    if any(p is None for p in parts):
        return None
    total: dict = {}
    for p in parts:
        for key, count in p.items():
            total[key] = total.get(key, 0) + int(count)
    return total


def merge_outputs(outs: list[AttackOutput]) -> AttackOutput:
    """Concatenate the outputs of one attack run on consecutive chunks of a batch."""
    first = outs[0]

    def cat(name: str):
        values = [getattr(o, name) for o in outs]
        return None if values[0] is None else torch.cat(values)

    return AttackOutput(
        attack=first.attack,
        params=dict(first.params),
        x_adv=cat("x_adv"),
        perturbation=cat("perturbation"),
        labels=cat("labels"),
        target=cat("target"),
        clean_pred=cat("clean_pred"),
        pred=cat("pred"),
        probs=cat("probs"),
        success=cat("success"),
        success_step=cat("success_step"),
        linf=cat("linf"),
        l2=cat("l2"),
        l0=cat("l0"),
        gradient_evaluations=sum(o.gradient_evaluations for o in outs),
        trajectory=None,
        queries=cat("queries"),
        breakdown=_sum_breakdowns([o.breakdown for o in outs]),
    )
