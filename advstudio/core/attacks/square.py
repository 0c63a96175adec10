"""Square Attack (Andriushchenko, Croce, Flammarion & Hein, 2020), L∞ in [0, 1] pixel space: a score-based
attack that never asks the model for a gradient, only for its scores. It is AutoAttack's check that the
gradient attacks were not fooled by a model that hides its gradient (gradient masking).

Start: vertical stripes, each column of each channel moved by +ε or −ε at random. Then, per iteration: pick a
random square of side s (covering about a fraction p of the image) and a random sign per channel, set the
square to x ± ε (clamped to [0, 1]) and keep the change if it lowers the loss (the margin z_y − max_{k≠y} z_k,
or the target's cross-entropy when targeted). p starts at p_init (0.8) and halves as the iteration passes
10, 50, 200, 500, 1000, 2000, 4000, 6000 and 8000, the paper's schedule for 10,000 queries, rescaled to the
query budget. Each point stops once it is fooled; every model call on a point counts as one query."""

from __future__ import annotations

import math
import threading

import torch
import torch.nn.functional as F
from torch import nn

from advstudio.core.attacks.base import Attack
from advstudio.core.attacks.common import (
    AttackOutput,
    TrajectoryRecorder,
    build_output,
    check_cancel,
    margin,
    reached,
    starting_point,
)

__all__ = ["Square", "square_fraction", "square_side", "HALVINGS"]

HALVINGS = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)  # iterations where p halves, for 10,000 queries
SCHEDULE_QUERIES = 10_000


def square_fraction(i: int, queries: int, p_init: float) -> float:
    """p at iteration i of a run with `queries` queries: p_init halved once for each point of the paper's
    schedule that the rescaled iteration i·10,000/queries has passed."""
    scaled = i * SCHEDULE_QUERIES / max(1, queries)
    return p_init / 2 ** sum(scaled > h for h in HALVINGS)


def square_side(p: float, height: int, width: int) -> int:
    """The side of a square covering about a fraction p of the image, at least 1 pixel and at most the image."""
    return int(min(max(round(math.sqrt(p * height * width)), 1), min(height, width)))


class Square(Attack):
    """Square Attack, L∞. `queries`: the most model queries per point (the stripe start included, the clean
    check that every attack makes not); AutoAttack runs 5,000. The random choices come from a generator seeded
    with `seed`. early_stop=False keeps lowering the loss of a fooled point until the budget is spent (for the
    animation); the result is still its first adversarial image."""

    name = "square"
    norm = "linf"
    iterative = True

    def __init__(
        self,
        eps: float,
        queries: int = 5000,
        p_init: float = 0.8,
        targeted: bool = False,
        early_stop: bool = True,
        record_trajectory: bool = False,
        seed: int | None = 0,
    ) -> None:
        if int(queries) < 1:
            raise ValueError(f"queries must be at least 1, got {queries}")
        if not 0.0 < p_init <= 1.0:
            raise ValueError(f"p_init must lie in (0, 1], got {p_init}")
        self.eps = self.check_eps(eps)
        self.queries = int(queries)
        self.p_init = float(p_init)
        self.set_modes(targeted, early_stop, record_trajectory)
        self.seed = seed

    def params(self) -> dict:
        return {
            "eps": self.eps,
            "queries": self.queries,
            "steps": self.queries,  # one query per iteration: tables that print steps print the budget
            "p_init": self.p_init,
            "loss": "ce-targeted" if self.targeted else "margin",
            "seed": self.seed,
            **self.mode_params(),
        }

    def loss(self, logits: torch.Tensor, y: torch.Tensor, tgt: torch.Tensor | None) -> torch.Tensor:
        """What the attack lowers: the margin of the true class (< 0 once fooled), or the target's
        cross-entropy."""
        if tgt is None:
            return -margin(logits, y)
        return F.cross_entropy(logits, tgt, reduction="none")

    def forward(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, tgt: torch.Tensor | None,
                cancel: threading.Event | None) -> AttackOutput:
        with torch.no_grad():
            return self._search(model, x, y, tgt, cancel)

    def _search(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, tgt: torch.Tensor | None,
                cancel: threading.Event | None) -> AttackOutput:
        eps = self.eps
        n, channels, height, width = x.shape
        lo, hi = (x - eps).clamp(0.0, 1.0), (x + eps).clamp(0.0, 1.0)
        gen = torch.Generator(device=x.device)
        gen.manual_seed(0 if self.seed is None else int(self.seed))
        clean_logits = model(x)
        clean_pred = clean_logits.argmax(1)
        eligible, success, success_step, best_x, best_logits = starting_point(x, clean_logits, y, tgt)
        queries = torch.zeros(n, dtype=torch.long, device=x.device)
        recorder = TrajectoryRecorder(self.record_trajectory)
        probs = torch.softmax(clean_logits, 1)
        recorder.add(x, probs, 0, 0, queries)

        stripes = torch.randint(0, 2, (n, channels, 1, width), generator=gen, device=x.device).bool()
        x_cur = torch.where(stripes.expand_as(x), hi, lo)
        x_cur = torch.where(_col(eligible & ~success, x), x_cur, x)
        loss_cur = torch.full((n,), float("inf"), device=x.device)
        idx = (eligible & ~success).nonzero().squeeze(1)

        def look(i: torch.Tensor, cand: torch.Tensor, it: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            """Query the model at cand (the points i); record first successes. Returns (loss, hit, logits)."""
            logits = model(cand)
            queries[i] += 1
            ti = None if tgt is None else tgt[i]
            hit = reached(logits, y[i], ti)
            new = hit & ~success[i]
            j = i[new]
            success[j] = True
            success_step[j] = it
            best_x[j], best_logits[j] = cand[new], logits[new]
            return self.loss(logits, y[i], ti), hit, logits

        if idx.numel():
            loss, hit, logits = look(idx, x_cur[idx], 1)
            loss_cur[idx] = loss
            best_x[idx[~hit]], best_logits[idx[~hit]] = x_cur[idx[~hit]], logits[~hit]
            probs[idx] = torch.softmax(logits, 1)
            recorder.add(x_cur, probs, 0, 1, queries)
            if self.early_stop:
                idx = idx[~hit]
        for it in range(2, self.queries + 1):
            if idx.numel() == 0:
                break
            check_cancel(cancel)
            side = square_side(square_fraction(it - 1, self.queries, self.p_init), height, width)
            m = idx.numel()
            top = torch.randint(0, height - side + 1, (m,), generator=gen, device=x.device)
            left = torch.randint(0, width - side + 1, (m,), generator=gen, device=x.device)
            up = torch.randint(0, 2, (m, channels, 1, 1), generator=gen, device=x.device).bool()
            rows = torch.arange(height, device=x.device)
            cols = torch.arange(width, device=x.device)
            in_rows = (rows >= top[:, None]) & (rows < (top + side)[:, None])
            in_cols = (cols >= left[:, None]) & (cols < (left + side)[:, None])
            window = (in_rows[:, :, None] & in_cols[:, None, :])[:, None]  # (m, 1, H, W)
            cur = x_cur[idx]
            cand = torch.where(window, torch.where(up, hi[idx], lo[idx]), cur)
            changed = (cand != cur).flatten(1).any(1)  # an unchanged square tells nothing: no query
            i = idx[changed]
            if i.numel() == 0:
                continue
            loss, hit, logits = look(i, cand[changed], it)
            accept = (loss < loss_cur[i]) | hit
            j = i[accept]
            x_cur[j] = cand[changed][accept]
            loss_cur[j] = loss[accept]
            probs[j] = torch.softmax(logits[accept], 1)
            keep = accept & ~success[i]
            best_x[i[keep]], best_logits[i[keep]] = cand[changed][keep], logits[keep]
            if accept.any():
                recorder.add(x_cur, probs, 0, it, queries)
            if self.early_stop:
                idx = idx[~success[idx]]
        return build_output(
            self.name, self.params(), x, best_x, best_logits, y, tgt, clean_pred, success, success_step, 0,
            recorder.result(), queries,
        )


def _col(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return v.view(-1, *([1] * (like.ndim - 1)))
