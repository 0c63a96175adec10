"""Frozen requests and replies of the "Any attack" tab: one attack on the current input, with every iterate for
the scrubber, and the one-line description it carries (attack, ε, steps, mode, n)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from advstudio.core.attacks import ATTACKS
from advstudio.core.describe import attack_title, steps_text
from advstudio.core.model_meta import name_of
from advstudio.core.types import CleanAndAdversarial

INPUT_KIND = "input_attack"


@dataclass(frozen=True)
class InputAttackRequest:
    """Attack `image` (28×28 in [0, 1]) with attack `attack` and its `settings` (make_attack keywords)."""

    image: np.ndarray
    attack: str
    settings: dict
    target: int | None = None


@dataclass(frozen=True)
class QueryProgress:
    """While an attack runs on the input: the model evaluations so far (one per image row the model is asked
    about: Square's queries, a gradient attack's forward passes), the most it may make when it has a query
    budget, and the seconds spent."""

    queries: int
    budget: int | None
    seconds: float

    def text(self) -> str:
        most = f" (at most {self.budget:,})" if self.budget else ""
        return f"Running… {self.queries:,} model queries so far{most}, {self.seconds:.1f} s."


@dataclass(frozen=True)
class InputAttackResult(CleanAndAdversarial):
    """One attack on one input, with every iterate for the scrubber (numpy copies).

    frames: (T, 28, 28) the iterate at each recorded step; frame_probs (T, K) the model's probabilities there;
    frame_step / frame_restart: the step within its restart (0 = start point) and the restart (C&W: the
    binary-search round). Frame 0 is where the attack starts; the last frame is always the returned
    adversarial (step -1 where it is not the last iterate: C&W's best round, PGD's first success)."""

    attack: str
    params: dict
    settings: dict
    clean: np.ndarray
    adversarial: np.ndarray
    perturbation: np.ndarray
    clean_probs: np.ndarray
    adv_probs: np.ndarray
    success: bool
    linf: float
    l2: float
    l0: int
    frames: np.ndarray
    frame_probs: np.ndarray
    frame_step: np.ndarray
    frame_restart: np.ndarray
    seconds: float = 0.0
    target: int | None = None
    breakdown: dict | None = None  # AutoAttack: the points each of its attacks broke (here 0 or 1 each)
    frame_queries: np.ndarray | None = None  # (T,) score-based attacks (Square): model queries made by each frame
    queries: int = 0  # model evaluations the whole run made (the live counter's last value)


    @property
    def eps(self) -> float | None:
        e = self.params.get("eps")
        return None if e is None else float(e)

    def broken_by(self) -> str | None:
        """AutoAttack: which of its attacks fooled the model (None: not an ensemble, or none did)."""
        for name, count in (self.breakdown or {}).items():
            if count:
                return "its clean reading was already wrong" if name == "clean" else attack_title(name)
        return None

    def describe(self, names=None) -> str:
        """Names the attack, ε, steps, restarts and sample count (item 7); `names`: the model's class names (the
        target is shown by its number when None)."""
        eps = self.eps
        spec = ATTACKS.get(self.attack)
        budget = (f"L∞ ε = {eps:.3f}" if eps is not None else
                  "few pixels (L0: it changes as few pixels as it can)" if spec is not None and spec.norm == "l0"
                  else "minimal L2 (no ε: it searches the smallest ‖δ‖₂)")
        target = f", targeted → {name_of(self.target, names)}" if self.target is not None else ", untargeted"
        mode = "early stop" if self.params.get("early_stop") and self.attack != "fgsm" else "every step"
        return (f"{attack_title(self.attack)}{target}, {budget}, {steps_text(self.attack, self.params)}, "
                f"{mode}, n = 1 input")
