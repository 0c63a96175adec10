"""What crosses threads for the Defenses tab: a defense's settings, the evaluation request, its curves and C&W
summaries, progress; numpy and plain values only."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from advstudio.gui.models import ModelEntry

DEFENSE_KIND = "defense"
USE_KIND = "use_defense"
TRANSFORM_KINDS = ("bit_depth", "median", "jpeg", "gaussian_noise")
DEFENSE_KINDS = TRANSFORM_KINDS + ("ensemble", "distillation")


@dataclass(frozen=True)
class DefenseSpec:
    """One defense and its settings. Transforms wrap the studio's undefended model; an ensemble averages the
    logits of `members`; distillation deploys the model file `distilled` (temperature None: from its metadata)."""

    kind: str
    bits: int = 2
    size: int = 3
    quality: int = 50
    sigma: float = 0.3
    eot_samples: int = 8
    members: tuple[ModelEntry, ...] = ()
    transfer_from: int = 0
    distilled: str | None = None
    temperature: float | None = None
    cw_steps: int = 100  # distillation: C&W L2 Adam steps per c-search round (the CLI's default)
    cw_searches: int = 5  # distillation: binary-search rounds over c (the CLI's default)

    def short(self) -> str:
        """"JPEG q=75", "bit depth 2 bits", … (what the defended model's name adds)."""
        if self.kind == "bit_depth":
            return f"bit depth {self.bits} bit{'s' if self.bits != 1 else ''}"
        if self.kind == "median":
            return f"median {self.size}×{self.size}"
        if self.kind == "jpeg":
            return f"JPEG q={self.quality}"
        if self.kind == "gaussian_noise":
            return f"Gaussian noise σ={self.sigma:g}"
        if self.kind == "ensemble":
            return "ensemble of " + " + ".join(m.name for m in self.members)
        if self.kind == "distillation":
            t = f"T={self.temperature:g}" if self.temperature else "T from the file"
            return f"defensive distillation ({t})"
        return self.kind

    def adaptive_how(self) -> str:
        """What the adaptive attacker does, in words."""
        if self.kind in ("bit_depth", "jpeg"):
            return "BPDA: identity gradient through the transform"
        if self.kind == "median":
            return "the exact gradient (the median filter is differentiable: plain = adaptive)"
        if self.kind == "gaussian_noise":
            return f"EOT: gradient averaged over {self.eot_samples} noise draws"
        if self.kind == "ensemble":
            return "white-box on the whole ensemble"
        if self.kind == "distillation":
            return "gradient of logits / T (Carlini & Wagner's remedy for the saturated softmax)"
        return "knows the defense"

    def plain_how(self) -> str:
        """What the plain (naive) attacker does, in words."""
        if self.kind in ("bit_depth", "jpeg"):
            return "differentiates the defended model as it is (its true gradient is zero)"
        if self.kind == "median":
            return "differentiates the defended model as it is"
        if self.kind == "gaussian_noise":
            return "differentiates one noise draw per step"
        if self.kind == "ensemble":
            name = self.members[self.transfer_from].name if 0 <= self.transfer_from < len(self.members) else "?"
            return f"attacks member {self.transfer_from} ({name}) alone and transfers"
        if self.kind == "distillation":
            return "differentiates the distilled softmax at T = 1 (saturated: the gradient vanishes)"
        return "ignores the defense"


@dataclass(frozen=True)
class DefenseRequest:
    """Evaluate `spec` on the first `n` MNIST test images of `data_dir` at each L∞ ε (pixel units, [0, 1])."""

    spec: DefenseSpec
    attack: str  # "fgsm", "pgd" or "autoattack"
    steps: int
    eps: tuple[float, ...]
    n: int
    data_dir: str | None
    base_name: str = "current model"
    cancel: threading.Event = field(default_factory=threading.Event, compare=False)
    batch_size: int = 100
    seed: int = 0
    budget: float = 1.0  # autoattack: share of the paper's steps and queries, (0, 1]


@dataclass(frozen=True)
class DefenseCurve:
    role: str  # "undefended", "plain" or "adaptive"
    label: str  # legend text: who is attacked how, attack, steps, n
    how: str  # what the attacker does
    curve: object  # core.evaluate.RobustnessCurve (deep copy)


@dataclass(frozen=True)
class CWSummary:
    """C&W L2 (untargeted, minimal ‖δ‖₂) on one model: of the `correct` images it classifies correctly, how many
    C&W misclassified (`fooled`), and the median ‖δ‖₂ (pixel units) of those adversarial examples."""

    role: str  # "distilled" or "undefended"
    name: str
    n: int  # images attacked (the first n test images, clean mistakes included)
    correct: int  # of them classified correctly without an attack
    fooled: int  # of those, misclassified after C&W
    median_l2: float | None  # over the fooled ones; None when there are none
    steps: int
    searches: int

    @property
    def success_rate(self) -> float | None:
        return self.fooled / self.correct if self.correct else None


def cw_summary(role: str, name: str, success, clean_correct, l2, steps: int, searches: int) -> CWSummary:
    """A CWSummary from per-sample arrays (numpy or CPU tensors): the attack's success, clean correctness,
    ‖δ‖₂. Clean mistakes are left out (C&W counts them as successes with δ = 0)."""
    import numpy as np

    success = np.asarray(success, dtype=bool)
    clean_correct = np.asarray(clean_correct, dtype=bool)
    l2 = np.asarray(l2, dtype=np.float64)
    fooled = success & clean_correct
    median = float(np.median(l2[fooled])) if fooled.any() else None
    return CWSummary(role, name, int(success.shape[0]), int(clean_correct.sum()), int(fooled.sum()), median,
                     int(steps), int(searches))


def _pct(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.0f} %"


def _l2(value: float | None) -> str:
    return "none fooled" if value is None else f"median ‖δ‖₂ {value:.2f}"


def cw_text(summaries: tuple[CWSummary, ...]) -> str:
    """One sentence from the measured C&W numbers: the distilled model, then the undefended one, then what it
    means (the verdict follows the numbers: gradient masking only when C&W succeeds about as often)."""
    by = {s.role: s for s in summaries}
    d, u = by.get("distilled"), by.get("undefended")
    if d is None:
        return ""
    text = (f"C&W L2 ({d.steps} steps, {d.searches} c-search{'es' if d.searches != 1 else ''}, n = {d.n}): "
            f"succeeds on {_pct(d.success_rate)} of the {d.correct} images the distilled model classifies "
            f"correctly ({_l2(d.median_l2)})")
    if u is not None:
        text += (f" — the undefended model ({u.name}): {_pct(u.success_rate)} of {u.correct} "
                 f"({_l2(u.median_l2)})")
    text += "."
    if d.success_rate is None:
        return text
    reference = u.success_rate if u is not None and u.success_rate is not None else 1.0
    if d.success_rate >= min(0.9, 0.9 * reference):
        text += " Distillation masks the gradient; it does not make the model robust."
    else:
        text += (" Here C&W fooled the distilled model less often than that: more steps or c-searches may close "
                 "the gap before it counts as robustness.")
    return text


@dataclass(frozen=True)
class DefenseResult:
    spec: DefenseSpec
    attack: str
    steps: int
    n: int
    eps: tuple[float, ...]
    defended_name: str
    undefended_name: str
    curves: tuple[DefenseCurve, ...]
    seconds: float
    notes: tuple[str, ...] = ()
    cw: tuple[CWSummary, ...] = ()  # distillation: C&W L2 on the distilled and on the undefended model
    masking: tuple = ()  # gui.widgets.masking.MaskingNote: the checks on the adaptive attacker's model
    version: str = ""  # autoattack: "standard" or "rand"
    budget: float = 1.0

    def curve(self, role: str):
        return next(c.curve for c in self.curves if c.role == role)

    def attack_text(self) -> str:
        if self.attack == "fgsm":
            return "FGSM (untargeted, L∞, 1 step)"
        if self.attack == "autoattack":
            budget = "" if self.budget >= 1.0 else f", budget {self.budget:g} of the paper's steps and queries"
            runs = "APGD-CE, APGD-T" + (" on the average of 20 noise draws (EOT)" if self.version == "rand"
                                        else ", FAB-T, Square")
            return f"AutoAttack {self.version} ({runs}, each on the points still robust{budget})"
        return (f"PGD-{self.steps} (untargeted, L∞, {self.steps} steps of 2.5·ε/{self.steps}, random start, "
                "final iterate)")

    def cw_text(self) -> str:
        return cw_text(self.cw)

    def describe(self) -> str:
        eps = ", ".join(f"{e:g}" for e in self.eps)
        return (f"{self.defended_name}: {self.attack_text()}, L∞ ε ∈ {{{eps}}} (pixel units), n = {self.n} MNIST "
                f"test images, {self.seconds:.1f} s.")


@dataclass(frozen=True)
class DefenseProgress:
    done: int
    total: int
    label: str
    elapsed: float


@dataclass(frozen=True)
class DefenseCancelled:
    done: int
    total: int


@dataclass(frozen=True)
class UseDefenseRequest:
    """Make `spec`'s defended model the worker's current model (on top of the undefended `base_name`, whose class
    names `base_classes` the defended model keeps unless its own file records others)."""

    spec: DefenseSpec
    base_name: str = "current model"
    base_path: str | None = None
    base_classes: tuple[str, ...] = ()


def steps_of(attack: str, steps: int) -> int:
    return 1 if attack == "fgsm" else int(steps)


def attack_title(attack: str, steps: int, version: str = "standard", budget: float = 1.0) -> str:
    """The legend's name of the attack: "FGSM", "PGD-20", "AutoAttack rand (budget 0.25)"."""
    if attack == "autoattack":
        return f"AutoAttack {version}" + ("" if budget >= 1.0 else f" (budget {budget:g})")
    return {"fgsm": "FGSM", "pgd": f"PGD-{steps}"}.get(attack, attack)
