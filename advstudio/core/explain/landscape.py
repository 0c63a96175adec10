"""The loss around one input, on the plane of the gradient-sign direction and an orthogonal random sign
direction (Tramèr et al. 2018, fig. 1): a standard model's loss shoots up along the gradient within ε, a robust
model's stays flat, and a gradient-masking defense shows a flat gradient direction with a cliff beside it.

`evaluate_plane` is the batched grid evaluation that the decision plane (explain.boundary) shares."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from advstudio.core.attacks.common import eval_mode, fast_layout
from advstudio.core.errors import Cancelled

Progress = Callable[[int, int], None]

# An input gradient whose largest entry is below this (float32's smallest normal number) counts as zero.
ZERO_GRADIENT = float(torch.finfo(torch.float32).tiny)
# Slack on the ball test, so grid points that lie on the diamond's edge up to linspace rounding count as inside.
BALL_SLACK = 1e-9
# A pixel counts as clamped when the plane puts it this far outside [0, 1] (float rounding stays below).
CLAMP_SLACK = 1e-6
# Grid points per forward pass. On one CPU thread a 41×41 landscape of the bundled CNN takes ~200 ms in batches
# of 32–256 but ~430 ms in batches of 512 (the activations outgrow the cache), so the default stays small.
DEFAULT_BATCH = 128


class CancelEvent(Protocol):
    def is_set(self) -> bool: ...


def check_cancel(cancel: CancelEvent | None, what: str) -> None:
    """Raise the project's cancellation error between batches once the caller's event is set."""
    if cancel is not None and cancel.is_set():
        raise Cancelled(f"{what} cancelled")


def single_image(x: torch.Tensor | np.ndarray, name: str = "x") -> torch.Tensor:
    """One image as a 1×C×H×W float32 tensor, from (1, C, H, W) or (C, H, W); ValueError for anything else."""
    t = torch.as_tensor(x).detach().to(torch.float32)
    if t.ndim == 3:
        t = t.unsqueeze(0)
    if t.ndim != 4 or t.shape[0] != 1:
        raise ValueError(f"{name} must be one image of shape (1, C, H, W) or (C, H, W), got {tuple(t.shape)}")
    return t


def model_device(model: nn.Module, fallback: torch.device) -> torch.device:
    """Where the model's parameters (or buffers) live; `fallback` for a model with neither."""
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return fallback


@dataclass(frozen=True)
class PlaneValues:
    """The model on a grid of the plane x + u·d1 + v·d2 (row i ↔ v[i], column j ↔ u[j]), as CPU numpy arrays."""

    pred: np.ndarray  # (Gv, Gu) int64
    confidence: np.ndarray  # (Gv, Gu) float32 softmax probability of pred
    loss: np.ndarray | None  # (Gv, Gu) float32 cross-entropy of the label, None without one
    clamped_share: float  # share of grid points with a pixel outside [0, 1] before clamping


def evaluate_plane(model: nn.Module, x: torch.Tensor, d1: torch.Tensor, d2: torch.Tensor, u: np.ndarray,
                   v: np.ndarray, label: int | None = None, *, batch: int = DEFAULT_BATCH,
                   cancel: CancelEvent | None = None, progress: Progress | None = None,
                   what: str = "plane evaluation") -> PlaneValues:
    """Classify clamp(x + u_j·d1 + v_i·d2, 0, 1) for every grid point in batches, without autograd (the
    channels-last copy of the model where one applies); progress counts grid points."""
    if batch < 1:
        raise ValueError(f"batch must be at least 1, got {batch}")
    device = model_device(model, x.device)
    x, d1, d2 = (t.to(device, torch.float32) for t in (x, d1, d2))
    uu = torch.as_tensor(np.asarray(u, dtype=np.float32), device=device)
    vv = torch.as_tensor(np.asarray(v, dtype=np.float32), device=device)
    gv, gu = int(vv.numel()), int(uu.numel())
    total = gu * gv
    coef_u, coef_v = uu.repeat(gv), vv.repeat_interleave(gu)  # flat index k ↔ row k // gu, column k % gu
    target = None if label is None else torch.tensor([int(label)], device=device)
    preds, confs, losses, clamped = [], [], [], 0
    fast = fast_layout(model)
    with eval_mode(model), eval_mode(fast), torch.inference_mode():
        for start in range(0, total, batch):
            check_cancel(cancel, what)
            cu = coef_u[start : start + batch].view(-1, 1, 1, 1)
            cv = coef_v[start : start + batch].view(-1, 1, 1, 1)
            raw = x + cu * d1 + cv * d2
            clamped += int(((raw < -CLAMP_SLACK) | (raw > 1 + CLAMP_SLACK)).flatten(1).any(1).sum())
            logits = fast(raw.clamp(0.0, 1.0)).float()
            probs = torch.softmax(logits, 1)
            conf, pred = probs.max(1)
            preds.append(pred.cpu())
            confs.append(conf.cpu())
            if target is not None:
                losses.append(F.cross_entropy(logits, target.expand(len(logits)), reduction="none").cpu())
            if progress is not None:
                progress(min(start + batch, total), total)
    shape = (gv, gu)
    return PlaneValues(
        pred=torch.cat(preds).numpy().astype(np.int64).reshape(shape),
        confidence=torch.cat(confs).numpy().astype(np.float32).reshape(shape),
        loss=torch.cat(losses).numpy().astype(np.float32).reshape(shape) if losses else None,
        clamped_share=clamped / total if total else 0.0,
    )


def sign_orthogonal(g: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """A random ±1 tensor of g's shape with an exactly zero dot product with sign(g): it agrees with sign(g) on
    a random half of sign(g)'s nonzero entries and disagrees on the other half (entries where g is 0 get a
    random sign). When sign(g) has an odd number of nonzero entries (e.g. an odd element count), one of them
    is set to 0 instead. All-zero g: any random ±1 tensor. Reproducible from seed (a CPU torch.Generator)."""
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    s = torch.sign(g.detach().to("cpu", torch.float32)).flatten()
    r = torch.randint(0, 2, (s.numel(),), generator=gen).to(torch.float32) * 2 - 1
    nonzero = torch.nonzero(s).flatten()
    nonzero = nonzero[torch.randperm(nonzero.numel(), generator=gen)]
    half = nonzero.numel() // 2
    r[nonzero[:half]] = s[nonzero[:half]]
    r[nonzero[half : 2 * half]] = -s[nonzero[half : 2 * half]]
    if nonzero.numel() % 2:
        r[nonzero[-1]] = 0.0
    return r.view(g.shape).to(g.device, g.dtype if g.is_floating_point() else torch.float32)


@dataclass(frozen=True)
class Landscape:
    """The cross-entropy of `label` at clamp(x + a·g + b·r, 0, 1) on a G×G grid; numpy copies on the CPU."""

    a: np.ndarray  # (G,) offsets along the gradient-sign direction g, pixel units
    b: np.ndarray  # (G,) offsets along r, a random sign direction orthogonal to g
    loss: np.ndarray  # (G, G) float32; row i ↔ b[i], column j ↔ a[j]
    pred: np.ndarray  # (G, G) int64 predicted class there
    label: int  # the class the loss is measured against (the clean prediction when the caller gave none)
    clean_pred: int
    eps: float
    span: float
    gradient_zero: bool  # the direction model's input gradient was zero: g = 0 and the loss is flat along a
    direction: str  # plain words for where g came from

    def in_ball(self) -> np.ndarray:
        """(G, G) bool: |a| + |b| ≤ ε. With g, r orthogonal ±1 vectors, x + a·g + b·r lies at L∞ distance |a| + |b|
        (before clamping), so the L∞ ε-ball meets the plane in this diamond (when g = 0 every column is alike)."""
        return np.abs(self.a)[None, :] + np.abs(self.b)[:, None] <= self.eps + BALL_SLACK

    def flipped_share(self) -> float:
        """Share of the grid points inside the ball whose predicted class differs from the clean one."""
        inside = self.in_ball()
        return float((self.pred[inside] != self.clean_pred).mean()) if inside.any() else 0.0

    def rise_along(self, axis: str) -> float:
        """Loss increase from the centre to the largest loss within ε along "a" (the b = 0 row) or "b" (a = 0)."""
        c = len(self.a) // 2
        if axis == "a":
            line, offsets = self.loss[c, :], self.a
        elif axis == "b":
            line, offsets = self.loss[:, c], self.b
        else:
            raise ValueError(f"axis must be 'a' or 'b', got {axis!r}")
        inside = np.abs(offsets) <= self.eps + BALL_SLACK
        return float(line[inside].max() - self.loss[c, c])


def _gradient_sign(model: nn.Module, x: torch.Tensor, label: int) -> tuple[torch.Tensor, bool]:
    """sign(∇x CE(model(x), label)) and whether that gradient was zero (no path, or below ZERO_GRADIENT)."""
    device = model_device(model, x.device)
    xg = x.to(device).clone().requires_grad_(True)
    with eval_mode(model), torch.enable_grad():
        loss = F.cross_entropy(model(xg).float(), torch.tensor([label], device=device))
        grad = torch.autograd.grad(loss, xg, allow_unused=True)[0] if loss.requires_grad else None
    if grad is None or not bool(grad.abs().max() >= ZERO_GRADIENT):
        return torch.zeros_like(x), True
    return torch.sign(grad.detach()).to(x.device), False


def loss_landscape(model: nn.Module, x: torch.Tensor | np.ndarray, label: int | None = None, eps: float = 0.1, *,
                   direction_model: nn.Module | None = None, direction_name: str | None = None, grid: int = 41,
                   span: float | None = None, seed: int = 0, batch: int = DEFAULT_BATCH,
                   cancel: CancelEvent | None = None, progress: Progress | None = None) -> Landscape:
    """The loss of `model` around x (1×C×H×W or C×H×W in [0, 1]) on a `grid`×`grid` plane spanned by the sign
    of direction_model's input gradient (default: model's) and an orthogonal random sign direction.

    direction_model shows what an attacker differentiates: a defense's own (zero) gradient, or BPDA's. span
    defaults to 2ε (within [0.05, 1]); grid must be odd so the centre is sampled exactly."""
    eps = float(eps)
    if not 0.0 <= eps <= 1.0:
        raise ValueError(f"ε must lie in [0, 1] pixel space, got {eps}")
    grid = int(grid)
    if grid < 3 or grid % 2 == 0:
        raise ValueError(f"grid must be an odd number ≥ 3 so the centre is sampled exactly, got {grid}")
    span = min(max(2.0 * eps, 0.05), 1.0) if span is None else float(span)
    if not 0.0 < span <= 1.0:
        raise ValueError(f"span must lie in (0, 1] pixel units, got {span}")
    x = single_image(x)
    device = model_device(model, x.device)
    x = x.to(device)
    with eval_mode(model), torch.inference_mode():
        clean_pred = int(model(x).argmax(1)[0])
    label = clean_pred if label is None else int(label)
    g, zero = _gradient_sign(model if direction_model is None else direction_model, x, label)
    r = sign_orthogonal(g, seed).to(device)
    offsets = np.linspace(-span, span, grid)
    values = evaluate_plane(model, x, g.to(device), r, offsets, offsets, label, batch=batch, cancel=cancel,
                            progress=progress, what="loss landscape")
    assert values.loss is not None
    if direction_name is None:
        direction_name = "the model's own gradient" if direction_model is None else "the direction model's gradient"
    return Landscape(
        a=offsets.copy(),
        b=offsets.copy(),
        loss=values.loss,
        pred=values.pred,
        label=label,
        clean_pred=clean_pred,
        eps=eps,
        span=span,
        gradient_zero=zero,
        direction=direction_name,
    )
