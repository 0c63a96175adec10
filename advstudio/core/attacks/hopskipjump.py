"""HopSkipJumpAttack (Chen, Jordan & Wainwright, 2020, "HopSkipJumpAttack: A Query-Efficient Decision-Based
Attack"), L2 and L∞ in [0, 1] pixel space: a decision-based attack. It sees only the model's answer, the class
it picks (the argmax), never its scores or gradients, and looks for the smallest perturbation that changes it.

It starts from any adversarial point and walks along the decision boundary towards the original image x:

1. Start: untargeted, uniform noise (the paper's start) until the model misreads it; targeted, random noise
   until the model reads the target. Without training data there is no target-class image to start from (the
   paper's targeted start), so later tries cycle through other training-free noises that MNIST models read as
   more classes: smooth (upsampled 7×7) noise, random dots, thresholded smooth blobs. A point for which no try
   works within min(100, a quarter of the budget) tries is left alone: no success, x_adv = x. The start is
   blended towards x by bisection (to 1/1000), and for L∞ then bisected as in step 2.
2. Bisection to the boundary between x and the adversarial point: along the segment for L2 (to a fraction
   θ = d^-3/2 of it), and over the radius r of the L∞ ball that the point is clipped into for L∞ (to
   θ = d^-2 of the radius), d being the number of pixels. The kept end is always adversarial.
3. At the boundary point x_t, estimate the direction of the boundary's normal from B_t = min(init_evals·√t,
   max_evals) random unit directions u_b: ask about x_t + δ·u_b (δ = √d·θ·dist for L2, d·θ·dist for L∞) and
   average (φ_b − mean φ)·u_b, φ_b = +1 where adversarial and −1 where not (the baseline-subtracted estimator;
   where every answer agrees, the mean direction signed by the answer).
4. Geometric step-size search: step from x_t along the estimate (L∞: its sign) by ξ = dist/√t, halving ξ until
   the point is adversarial; then bisect back to the boundary (step 2).

Every model call on a point counts as one query, and `queries` is a hard budget per point (the clean check that
every attack makes is not counted). An iteration stops where the budget runs out, and since every kept point
was asked about and was adversarial, the walk always holds an adversarial point. One query is kept back for the
end: bisection leaves the point within a hair of the boundary (a logit margin near 1e-6 for L∞, as small as
the rounding differences between batch sizes or memory layouts), so the result is pushed out from x by 0.1 %
of its perturbation and kept if that is still adversarial, which makes it stay adversarial when re-evaluated.

The L2 attack has no budget ε: its x_adv is the smallest-L2 adversarial point found and success means one was
found (as C&W and DeepFool report). The L∞ attack takes ε: a point counts as broken when the smallest L∞
perturbation found is within ε; one that ends outside is clipped into the ε-box and asked about with the kept
query (as FAB-T does), so x_adv always lies in the ε-box."""

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
    reached,
    starting_point,
)

__all__ = ["HopSkipJump", "HopSkipJumpLinf", "evals_at", "INIT_TRIES"]

INIT_TRIES = 100  # the most random starts tried per point (at most a quarter of its budget)
BLEND_TOLERANCE = 1e-3  # the start's blend towards x is bisected to this fraction of the segment
MAX_HALVINGS = 30  # the step-size search gives up (keeps x_t) after this many halvings
OVERSHOOT = 1e-3  # the final point is pushed out by this fraction of its perturbation
QUERY_CHUNK = 512  # images per model call
GROUP_POINTS = 4096  # gradient-estimate points held in memory at once


def evals_at(t: int, init_evals: int, max_evals: int) -> int:
    """B_t, the paper's number of gradient-estimate samples at iteration t: init_evals·√t, capped."""
    return int(min(init_evals * math.sqrt(t), max_evals))


def _col(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return v.view(-1, *([1] * (like.ndim - 1)))


class _HopSkipJump(Attack):
    """The walk both norms share; `self.eps` is None for L2."""

    iterative = True

    def __init__(self, eps: float | None, queries: int, init_evals: int, max_evals: int, targeted: bool,
                 early_stop: bool, record_trajectory: bool, seed: int | None) -> None:
        if int(queries) < 1:
            raise ValueError(f"queries must be at least 1, got {queries}")
        if int(init_evals) < 1:
            raise ValueError(f"init_evals must be at least 1, got {init_evals}")
        if int(max_evals) < int(init_evals):
            raise ValueError(f"max_evals ({max_evals}) must be at least init_evals ({init_evals})")
        self.eps = None if eps is None else self.check_eps(eps)
        self.queries = int(queries)
        self.init_evals = int(init_evals)
        self.max_evals = int(max_evals)
        self.set_modes(targeted, early_stop, record_trajectory)
        self.seed = seed

    def params(self) -> dict:
        out = {
            "queries": self.queries,
            "steps": self.queries,  # tables that print steps print the budget
            "init_evals": self.init_evals,
            "max_evals": self.max_evals,
            "seed": self.seed,
            **self.mode_params(),
        }
        if self.eps is not None:
            out = {"eps": self.eps, **out}
        return out

    def forward(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, tgt: torch.Tensor | None,
                cancel: threading.Event | None) -> AttackOutput:
        with torch.no_grad():
            return _Walk(self, model, x, y, tgt, cancel).run()


class _Walk:
    """One run of the attack on one chunk: the per-point state and the paper's steps, vectorized over the
    points (and over the gradient-estimate samples)."""

    def __init__(self, attack: _HopSkipJump, model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                 tgt: torch.Tensor | None, cancel: threading.Event | None) -> None:
        self.a, self.model, self.x, self.y, self.tgt, self.cancel = attack, model, x, y, tgt, cancel
        self.linf = attack.eps is not None
        n = x.shape[0]
        self.dims = int(x[0].numel())
        self.theta = self.dims ** -2.0 if self.linf else self.dims ** -1.5
        self.budget = attack.queries - 1  # one query is kept back for the final push (see output)
        self.gen = torch.Generator(device=x.device)
        self.gen.manual_seed(0 if attack.seed is None else int(attack.seed))
        self.queries = torch.zeros(n, dtype=torch.long, device=x.device)
        self.recorder = TrajectoryRecorder(attack.record_trajectory)

    # ------------------------------------------------------------ asking the model

    def left(self, i: torch.Tensor) -> torch.Tensor:
        """Queries still available to the points i."""
        return self.budget - self.queries[i]

    def ask(self, i: torch.Tensor, pts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The model's decision on pts (one point per entry of i, repeats allowed): (adversarial?, logits).
        Only the decision steers the walk; the logits of kept points are reported in the result."""
        logits = torch.cat([self.model(pts[k : k + QUERY_CHUNK]) for k in range(0, pts.shape[0], QUERY_CHUNK)])
        self.queries.index_add_(0, i, torch.ones_like(i))
        return reached(logits, self.y[i], None if self.tgt is None else self.tgt[i]), logits

    def distance(self, delta: torch.Tensor) -> torch.Tensor:
        flat = delta.flatten(1)
        return flat.abs().amax(1) if self.linf else flat.norm(dim=1)

    # ------------------------------------------------------------ the paper's steps

    def noise(self, k: int, m: int) -> torch.Tensor:
        """The k-th try of a training-free start for m points (see the module docstring)."""
        _, channels, height, width = self.x.shape
        dev, gen = self.x.device, self.gen
        kind = k % 4
        if kind == 0:
            return torch.rand((m, channels, height, width), generator=gen, device=dev)
        if kind == 2:
            density = 0.05 + 0.35 * torch.rand((m, 1, 1, 1), generator=gen, device=dev)
            return (torch.rand((m, channels, height, width), generator=gen, device=dev) < density).to(self.x.dtype)
        coarse = torch.rand((m, channels, max(1, height // 4), max(1, width // 4)), generator=gen, device=dev)
        smooth = F.interpolate(coarse, size=(height, width), mode="bilinear", align_corners=False)
        if kind == 1:
            return smooth
        level = 0.5 + 0.3 * torch.rand((m, 1, 1, 1), generator=gen, device=dev)
        return (smooth > level).to(self.x.dtype)

    def start(self, idx: torch.Tensor) -> None:
        """Step 1 for the points idx: a random adversarial point, blended towards x."""
        tries = min(INIT_TRIES, max(1, self.a.queries // 4))
        pending = idx
        for k in range(tries):
            pending = pending[self.left(pending) > 0]
            if pending.numel() == 0:
                break
            check_cancel(self.cancel)
            pts = self.noise(k, pending.numel())
            hit, logits = self.ask(pending, pts)
            j = pending[hit]
            self.adv[j], self.adv_logits[j], self.has_adv[j] = pts[hit], logits[hit], True
            pending = pending[~hit]
        found = idx[self.has_adv[idx]]
        if found.numel() == 0:
            return
        if self.linf:
            self.bisect(found, lambda xs, a, r: xs + _col(r, xs) * (a - xs),
                        torch.ones(found.numel(), device=self.x.device), BLEND_TOLERANCE)
        self.to_boundary(found)

    def to_boundary(self, i: torch.Tensor) -> None:
        """Step 2: bisect from x towards the adversarial points of i; sets adv, adv_logits and dist."""
        if self.linf:
            hi = self.distance(self.adv[i] - self.x[i])
            self.bisect(i, lambda xs, a, r: torch.minimum(torch.maximum(a, xs - _col(r, xs)), xs + _col(r, xs)),
                        hi, hi.clamp(max=1.0) * self.theta)
        else:
            self.bisect(i, lambda xs, a, r: xs + _col(r, xs) * (a - xs),
                        torch.ones(i.numel(), device=self.x.device), self.theta)
        self.dist[i] = self.distance(self.adv[i] - self.x[i])

    def bisect(self, i: torch.Tensor, point, hi: torch.Tensor, tol) -> None:
        """Bisect r in [0, hi] for the points i, point(x, adv, r) being adversarial at hi, until the interval is
        below tol; the adversarial end replaces adv (the exact point asked about, with its logits)."""
        xs, a = self.x[i], self.adv[i].clone()
        lo = torch.zeros_like(hi)
        tol = torch.as_tensor(tol, dtype=hi.dtype, device=hi.device).expand_as(hi)
        best, best_logits = a.clone(), self.adv_logits[i].clone()
        while True:
            go = ((hi - lo) > tol) & (self.left(i) > 0)
            if not go.any():
                break
            k = go.nonzero().squeeze(1)
            mid = (lo[k] + hi[k]) / 2
            pts = point(xs[k], a[k], mid)
            hit, logits = self.ask(i[k], pts)
            hi[k[hit]], lo[k[~hit]] = mid[hit], mid[~hit]
            best[k[hit]], best_logits[k[hit]] = pts[hit], logits[hit]
        self.adv[i], self.adv_logits[i] = best, best_logits

    def direction(self, i: torch.Tensor, evals: torch.Tensor) -> torch.Tensor:
        """Step 3 at the boundary points of i, with evals[j] samples for point j: the estimated unit normal
        (L2) or its sign (L∞)."""
        b_max = int(evals.max())
        out = torch.zeros_like(self.adv[i])
        per = max(1, GROUP_POINTS // b_max)
        for g in range(0, i.numel(), per):
            ig, eg = i[g : g + per], evals[g : g + per]
            m = ig.numel()
            u = torch.randn((m, b_max, self.dims), generator=self.gen, device=self.x.device, dtype=self.x.dtype)
            u = u / u.norm(dim=2, keepdim=True)
            base = self.adv[ig].flatten(1)[:, None]
            delta = (self.dist[ig] / self.dims)[:, None, None]  # √d·θ·dist (L2) = d·θ·dist (L∞) = dist/d
            pts = (base + delta * u).clamp(0.0, 1.0)
            rv = (pts - base) / delta  # the clipped directions, as asked about
            valid = torch.arange(b_max, device=self.x.device)[None] < eg[:, None]
            hit, _ = self.ask(ig[:, None].expand(m, b_max)[valid], pts[valid].view(-1, *self.x.shape[1:]))
            phi = torch.zeros((m, b_max), dtype=self.x.dtype, device=self.x.device)
            phi[valid] = hit.to(self.x.dtype) * 2 - 1
            mean = phi.sum(1, keepdim=True) / eg[:, None]
            agree = (mean.abs() == 1.0).squeeze(1)
            weight = torch.where(agree[:, None], mean, phi - mean) * valid
            grad = (weight[:, :, None] * rv).sum(1)
            if self.linf:
                grad = grad.sign()
            else:
                grad = grad / grad.norm(dim=1, keepdim=True).clamp_min(1e-12)
            out[g : g + per] = grad.view_as(out[g : g + per])
        return out

    def step(self, i: torch.Tensor, v: torch.Tensor, t: int) -> torch.Tensor:
        """Step 4: the geometric step-size search from the boundary points of i along v; the points that found an
        adversarial step move there (ready for bisection). Returns which did."""
        xi = self.dist[i] / math.sqrt(t)
        moved = torch.zeros(i.numel(), dtype=torch.bool, device=self.x.device)
        for _ in range(MAX_HALVINGS):
            go = ~moved & (self.left(i) > 0)
            if not go.any():
                break
            k = go.nonzero().squeeze(1)
            pts = (self.adv[i[k]] + _col(xi[k], v) * v[k]).clamp(0.0, 1.0)
            hit, logits = self.ask(i[k], pts)
            moved[k[hit]] = True
            self.adv[i[k[hit]]], self.adv_logits[i[k[hit]]] = pts[hit], logits[hit]
            xi[k[~hit]] /= 2
        return moved

    # ------------------------------------------------------------ the run

    def keep_best(self, i: torch.Tensor, frame: int) -> None:
        better = self.dist[i] < self.best_dist[i]
        j = i[better]
        self.best_x[j], self.best_logits[j], self.best_dist[j] = self.adv[j], self.adv_logits[j], self.dist[j]
        done = self.has_adv[i] if not self.linf else self.best_dist[i] <= self.a.eps + 1e-6
        first = i[done & ~self.success[i]]
        self.success[first] = True
        self.success_step[first] = frame

    def record(self, frame: int) -> None:
        if self.recorder.enabled:
            shown = torch.where(_col(self.has_adv, self.x), self.adv, self.x)
            logits = torch.where(self.has_adv[:, None], self.adv_logits, self.clean_logits)
            self.recorder.add(shown, torch.softmax(logits, 1), 0, frame, self.queries)

    def run(self) -> AttackOutput:
        x, y, tgt, a = self.x, self.y, self.tgt, self.a
        self.clean_logits = self.model(x)
        clean_pred = self.clean_logits.argmax(1)
        eligible, self.success, self.success_step, self.best_x, self.best_logits = starting_point(
            x, self.clean_logits, y, tgt)
        self.best_dist = torch.where(self.success, 0.0, math.inf).to(x.dtype)
        self.adv, self.adv_logits = x.clone(), self.clean_logits.clone()
        self.has_adv = torch.zeros_like(self.success)
        self.dist = torch.full_like(self.best_dist, math.inf)
        self.record(0)
        idx = (eligible & ~self.success).nonzero().squeeze(1)
        frame = 0
        if idx.numel():
            self.start(idx)
            frame = 1
            self.keep_best(idx, frame)
            self.record(frame)
        tail = (math.ceil(math.log2(1.0 / self.theta)) + 1) if idx.numel() else 0  # a bisection and one step
        t = 0
        while True:
            idx = idx[self.has_adv[idx]]
            if self.linf and a.early_stop:
                idx = idx[~self.success[idx]]
            t += 1
            evals = (self.left(idx) - tail).clamp(max=evals_at(t, a.init_evals, a.max_evals))
            idx, evals = idx[evals >= 1], evals[evals >= 1]
            if idx.numel() == 0:
                break
            check_cancel(self.cancel)
            v = self.direction(idx, evals)
            moved = self.step(idx, v, t)
            if moved.any():
                self.to_boundary(idx[moved])
            frame = t + 1
            self.keep_best(idx, frame)
            self.record(frame)
        return self.output(eligible, clean_pred, frame)

    def output(self, eligible: torch.Tensor, clean_pred: torch.Tensor, frame: int) -> AttackOutput:
        """The kept query: every walked point is pushed out from x by OVERSHOOT of its perturbation (L∞: and
        clipped into the ε-box) and asked about once more. Adversarial: it replaces the boundary point, which
        lies closer to the boundary than float rounding in another batch or layout resolves. Not: the boundary
        point stays, except for an L∞ point outside ε, which is reported clipped into the box (a failure)."""
        x, a = self.x, self.a
        i = (eligible & torch.isfinite(self.best_dist) & (self.best_dist > 0)).nonzero().squeeze(1)
        if i.numel():
            delta = (self.best_x[i] - x[i]) * (1.0 + OVERSHOOT)
            if self.linf:
                delta = delta.clamp(-a.eps, a.eps)
            pts = (x[i] + delta).clamp(0.0, 1.0)
            hit, logits = self.ask(i, pts)
            swap = hit | ~self.success[i]  # an L∞ point outside ε: clipped into the box either way
            self.best_x[i[swap]], self.best_logits[i[swap]] = pts[swap], logits[swap]
            new = i[hit & ~self.success[i]]
            self.success[new] = True
            self.success_step[new] = frame + 1
        success = self.success & eligible
        success_step = torch.where(success, self.success_step, -1)
        return build_output(
            a.name, a.params(), x, self.best_x, self.best_logits, self.y, self.tgt, clean_pred, success,
            success_step, 0, self.recorder.result(), self.queries,
        )


class HopSkipJump(_HopSkipJump):
    """HopSkipJumpAttack, minimal L2 (no budget ε): it reports the smallest L2 perturbation it found, and success
    means an adversarial point was found. `queries`: the most model queries per point, the random start
    included; `init_evals` and `max_evals`: the gradient-estimate samples at the first iteration and at most
    (the paper's schedule init_evals·√t). The random choices come from a generator seeded with `seed`.
    early_stop changes nothing (there is no goal to stop at: every query goes into shrinking the distance); it
    is accepted for a uniform interface. One trajectory frame per iteration: the current boundary point."""

    name = "hopskipjump"
    norm = "l2"

    def __init__(
        self,
        queries: int = 1000,
        init_evals: int = 100,
        max_evals: int = 1000,
        targeted: bool = False,
        early_stop: bool = True,
        record_trajectory: bool = False,
        seed: int | None = 0,
    ) -> None:
        super().__init__(None, queries, init_evals, max_evals, targeted, early_stop, record_trajectory, seed)


class HopSkipJumpLinf(_HopSkipJump):
    """HopSkipJumpAttack in L∞ with a budget ε: it minimizes the L∞ distance along the boundary and counts a
    success when the smallest found is within ε (one outside is clipped into the ε-box and asked about once
    more, so x_adv always lies in the ε-box). early_stop: a point stops once it is within ε; early_stop=False
    goes on shrinking it until the budget is spent. Other settings as HopSkipJump."""

    name = "hopskipjump-linf"
    norm = "linf"

    def __init__(
        self,
        eps: float,
        queries: int = 1000,
        init_evals: int = 100,
        max_evals: int = 1000,
        targeted: bool = False,
        early_stop: bool = True,
        record_trajectory: bool = False,
        seed: int | None = 0,
    ) -> None:
        super().__init__(eps, queries, init_evals, max_evals, targeted, early_stop, record_trajectory, seed)
