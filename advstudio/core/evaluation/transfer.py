"""Transfer attacks: adversarial examples crafted on one model (the surrogate) and judged by others (the targets).

An attacker who cannot see a model's gradients can attack a model of their own and hope the examples fool the
other one too: they often do, because models trained on the same data learn similar boundaries. The transfer
matrix measures it: row i holds the examples crafted (untargeted, white-box) on model i, column j how many of
them fool model j. The diagonal is the ordinary white-box success rate.

Each source is attacked once over all images (in batches); its adversarial examples are then judged by every
target without gradients. The examples are the attack's own x_adv: for the iterative L∞ attacks that is the first
iterate that fooled the source, so it lies just past the source's boundary (and transfers less than an example
pushed further would)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from advstudio.core.attacks import ATTACKS, make_attack
from advstudio.core.attacks.common import AttackOutput, eval_mode
from advstudio.core.errors import AttackCancelled, EvaluationCancelled
from advstudio.core.evaluation.lab import batches

Progress = Callable[[int, int], None]

ROWS = "crafted on"
COLUMNS = "judged by"


@dataclass(frozen=True)
class TransferMatrix:
    """success[i][j]: the share of the digits model j classifies correctly when clean that the adversarial
    examples crafted on model i make it misclassify (counts[i][j] of judged[j]). The diagonal is the attack's own
    (white-box) success on each model. eps is None for the minimal-norm attacks, which choose their own size
    (sizes[i] says how large the examples crafted on model i were)."""

    names: tuple[str, ...]
    attack: str
    eps: float | None
    params: dict  # every setting of the attack as run, and the batch size
    n: int  # images attacked (the first n of the set given)
    success: tuple[tuple[float, ...], ...]  # [source][target], fractions in [0, 1]
    counts: tuple[tuple[int, ...], ...]  # [source][target]: digits fooled, of judged[target]
    judged: tuple[int, ...]  # per target: digits it classifies correctly when clean (each column's denominator)
    clean_accuracy: tuple[float, ...]  # per model
    sizes: tuple[dict, ...] = ()  # per source: mean L∞, L2 and pixels changed of the examples that fooled it
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)

    @property
    def white_box(self) -> tuple[float, ...]:
        """The diagonal: each model's success rate against an attacker who has its gradients."""
        return tuple(self.success[i][i] for i in range(len(self.names)))

    def transfer_only(self) -> list[tuple[int, int, float]]:
        """(source, target, success) of every cell off the diagonal."""
        k = len(self.names)
        return [(i, j, self.success[i][j]) for i in range(k) for j in range(k) if i != j]

    def describe(self) -> str:
        """"PGD (untargeted, L∞, 40 steps, …), ε = 0.3, n = 500 test images": what every figure must name."""
        from advstudio.core.describe import attack_details, attack_title

        bits = [b for b in attack_details(self.attack, self.params) if self.attack != "fgsm" or not b.startswith("full")]
        eps = f"ε = {self.eps:g}" if self.eps is not None else "no ε (it finds its own size)"
        return f"{attack_title(self.attack)} ({', '.join(bits)}), {eps}, n = {self.n} test images"

    def to_json(self) -> dict:
        return {
            "kind": "transfer_matrix",
            "attack": self.attack,
            "description": self.describe(),
            "eps": self.eps,
            "params": self.params,
            "n": self.n,
            "models": list(self.names),
            "rows": ROWS,
            "columns": COLUMNS,
            "success": [list(r) for r in self.success],
            "fooled": [list(r) for r in self.counts],
            "judged": list(self.judged),
            "white_box": list(self.white_box),
            "clean_accuracy": list(self.clean_accuracy),
            "sizes": [dict(s) for s in self.sizes],
            "counted_over": "per column, the digits the judging model classifies correctly when clean",
            "seconds": self.seconds,
            **self.extra,
        }


def distinct_names(names: Sequence[str]) -> list[str]:
    """The models' names, with " (2)", " (3)" added where two are the same (a row must say which model it is)."""
    names = [str(x) for x in names]
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if names.count(name) == 1 else f"{name} ({seen[name]})")
    return out


def transfer_attack(attack: str, eps: float | None, settings: dict | None = None):
    """The attack instance a transfer matrix crafts with (untargeted); ValueError for settings it cannot use: a
    target, an ε for a minimal-norm attack, no ε (or one outside [0, 1]) for an ε-bounded one."""
    if attack not in ATTACKS:
        raise ValueError(f"unknown attack {attack!r}; choose from {', '.join(ATTACKS)}")
    spec = ATTACKS[attack]
    settings = {k: v for k, v in (settings or {}).items() if v is not None and k != "eps"}
    if settings.pop("targeted", False):
        raise ValueError("a transfer matrix crafts untargeted examples (any wrong digit counts); drop the target")
    if not spec.uses_eps:
        if eps is not None:
            raise ValueError(f"{attack} is a minimal-size attack: it takes no ε (it looks for the smallest change "
                             "itself), so leave ε out")
        return make_attack(attack, **settings)
    if eps is None:
        raise ValueError(f"{attack} needs an ε (L∞, in [0, 1] pixel space)")
    if not 0.0 <= float(eps) <= 1.0:
        raise ValueError(f"ε must lie in [0, 1] pixel space, got {eps}")
    return make_attack(attack, eps=float(eps), **settings)


def _params(attack: str, probe, batch_size: int) -> dict:
    """The attack's settings as used, with the step rule spelled out the way robustness curves spell it."""
    params = dict(probe.params()) if hasattr(probe, "params") else {}
    if "step_size" in params and "step_size_given" in params:
        if not params.pop("step_size_given"):
            params["step_size_rule"] = f"{probe.step_size_factor:g}*eps/steps"
    if attack == "fgsm":
        params.update(steps=1, norm="linf")
    params.update(eps_norm=ATTACKS[attack].norm, targeted=False, batch_size=int(batch_size))
    return params


def _device(model: nn.Module) -> torch.device:
    try:
        return next(model.parameters()).device
    except StopIteration:
        return torch.device("cpu")


def _predict(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The model's classes for x, on the CPU (eval mode, no gradients, the model's mode restored)."""
    with eval_mode(model), torch.no_grad():
        return model(x.to(_device(model))).argmax(1).cpu()


def _craft(attack, model: nn.Module, x: torch.Tensor, y: torch.Tensor, cancel) -> AttackOutput:
    try:
        return attack.run(model, x, y, None, cancel=cancel)
    except AttackCancelled as exc:
        raise EvaluationCancelled("evaluation cancelled") from exc


def transfer_matrix(
    models: Sequence[nn.Module],
    names: Sequence[str],
    images: torch.Tensor,
    labels: torch.Tensor,
    attack: str,
    eps: float | None,
    settings: dict | None = None,
    batch_size: int = 250,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> TransferMatrix:
    """Craft `attack` (untargeted) on each model in turn and judge every model on the results.

    Entry [i][j] is the success rate on model j of the examples crafted on model i, counted over the images model
    j classifies correctly when clean (a digit it already gets wrong is no adversarial example); the raw counts
    and those denominators are kept. The diagonal is the attack's own white-box success on the model (the same
    figure as running the attack directly). ε-bounded attacks need `eps` (L∞, [0, 1] pixel space); minimal-norm
    ones (C&W, DeepFool, JSMA, ...) take eps=None and their own settings. progress(done, total) counts
    image-attacks (n per source); `cancel` is checked between batches and attack steps and raises
    EvaluationCancelled."""
    if len(models) != len(names):
        raise ValueError(f"{len(models)} models but {len(names)} names")
    if not models:
        raise ValueError("a transfer matrix needs at least one model")
    if batch_size < 1:
        raise ValueError(f"batch size must be at least 1, got {batch_size}")
    probe = transfer_attack(attack, eps, settings)
    start_time = time.perf_counter()
    k, n = len(models), int(len(labels))
    labels = labels.long()
    cpu = torch.device("cpu")

    clean_ok = [torch.zeros(n, dtype=torch.bool) for _ in models]  # per model: right when clean
    for s, xb, yb in batches(images, labels, batch_size, cpu, cancel):
        for m, model in enumerate(models):
            clean_ok[m][s : s + len(yb)] = _predict(model, xb) == yb
    judged = [int(ok.sum()) for ok in clean_ok]

    counts = [[0] * k for _ in range(k)]
    sizes = []
    total, done = n * k, 0
    for i, source in enumerate(models):
        fooled_own, size_sums = 0, [0.0, 0.0, 0.0]
        for s, xb, yb in batches(images, labels, batch_size, _device(source), cancel):
            out = _craft(probe, source, xb, yb, cancel)
            x_adv, y_cpu = out.x_adv.detach(), yb.cpu()
            for j, target in enumerate(models):
                ok = clean_ok[j][s : s + len(yb)]
                if j == i:  # white-box: the attack's own verdict, as a direct run reports it
                    fooled = out.success.cpu() & ok
                    fooled_own += int(fooled.sum())
                    for q, norm in enumerate((out.linf, out.l2, out.l0)):
                        size_sums[q] += float(norm.detach().cpu().double()[fooled].sum())
                else:
                    fooled = (_predict(target, x_adv) != y_cpu) & ok
                counts[i][j] += int(fooled.sum())
            done += len(yb)
            if progress is not None:
                progress(done, total)
        per = max(fooled_own, 1)
        sizes.append({"fooled": fooled_own, "mean_linf": size_sums[0] / per, "mean_l2": size_sums[1] / per,
                      "mean_l0": size_sums[2] / per})

    success = tuple(tuple(counts[i][j] / judged[j] if judged[j] else 0.0 for j in range(k)) for i in range(k))
    return TransferMatrix(
        names=tuple(str(x) for x in names),
        attack=attack,
        eps=None if not ATTACKS[attack].uses_eps else float(eps),
        params=_params(attack, probe, batch_size),
        n=n,
        success=success,
        counts=tuple(tuple(r) for r in counts),
        judged=tuple(judged),
        clean_accuracy=tuple(j / n if n else 0.0 for j in judged),
        sizes=tuple(sizes),
        seconds=round(time.perf_counter() - start_time, 3),
    )
