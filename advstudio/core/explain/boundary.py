"""The decision plane through a drawing, its adversarial version and a third point: which class the model gives
everywhere on that plane, and where the attack's path crosses into another class.

The u axis runs from the drawing to the adversarial example (L2 pixel units); the v axis points to the third
point (by default a random sign direction of the same L∞ size), orthogonalized against u."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from advstudio.core.explain.landscape import DEFAULT_BATCH, CancelEvent, Progress, evaluate_plane, single_image

# Below this L2 norm (pixel units) the adversarial example is the drawing itself: there is no plane to draw.
SAME_POINT = 1e-6
# The third point is collinear with x → x_adv when its off-line part is below this share of its distance.
COLLINEAR = 1e-5


@dataclass(frozen=True)
class DecisionPlane:
    """The model's class on the plane clamp(x + u·e1 + v·e2, 0, 1); numpy copies on the CPU."""

    u: np.ndarray  # (G,) coordinates along e1 = (x_adv − x)/‖x_adv − x‖₂, L2 pixel units
    v: np.ndarray  # (G,) coordinates along e2, the third point's direction orthogonalized to e1
    pred: np.ndarray  # (G, G) int64 class; row i ↔ v[i], column j ↔ u[j]
    confidence: np.ndarray  # (G, G) float32 softmax probability of that class
    points: dict  # name → (u, v): "clean", "adversarial", "third"
    path: np.ndarray | None  # (T, 2) the attack's iterates projected onto the plane
    path_off_plane: np.ndarray | None  # (T,) L2 distance of each iterate from the plane, pixel units
    clamped_share: float  # share of grid points that left the image box [0, 1] and were clamped
    third_name: str

    def grid_class(self, u: float, v: float) -> int:
        """The class at the grid point nearest to (u, v)."""
        return int(self.pred[int(np.abs(self.v - v).argmin()), int(np.abs(self.u - u).argmin())])

    def crossing(self) -> int | None:
        """Index of the first path iterate whose nearest grid point has another class than the clean point's;
        None without a path or when no iterate crosses."""
        if self.path is None:
            return None
        clean = self.grid_class(*self.points["clean"])
        for k, (pu, pv) in enumerate(self.path):
            if self.grid_class(float(pu), float(pv)) != clean:
                return k
        return None


def random_third(x: torch.Tensor, x_adv: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """x plus a random ±1 sign direction scaled to ‖x_adv − x‖∞, clamped to [0, 1]: a point as far from the
    drawing as the attack went, in a direction the attack did not choose (reproducible from seed)."""
    size = float((x_adv.detach() - x.detach()).abs().max())
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    signs = torch.randint(0, 2, tuple(x.shape), generator=gen).to(torch.float32) * 2 - 1
    return (x.detach() + size * signs.to(x.device, x.dtype)).clamp(0.0, 1.0)


def _axis_through(points: list[float], lo: float, hi: float, grid: int) -> np.ndarray:
    """`grid` evenly spaced coordinates covering [lo, hi] with every one of `points` (one or two of them, the
    first 0) on a grid point; an evenly spaced cover that may miss the second point when no spacing fits."""
    if len(points) == 2 and points[1] > 0:
        distance = points[1]
        for steps in range(int(math.floor((grid - 1) * distance / (hi - lo))), 0, -1):
            step = distance / steps
            first = math.ceil(-lo / step - 1e-9)
            if (grid - 1 - first) * step >= hi - 1e-12 * max(1.0, abs(hi)):
                return (np.arange(grid) - first) * step
    step = (hi - lo) / (grid - 2)  # one spare step, so shifting 0 onto the grid still covers [lo, hi]
    first = math.ceil(-lo / step - 1e-9)
    return (np.arange(grid) - first) * step


def _flat64(t: torch.Tensor | np.ndarray) -> torch.Tensor:
    return torch.as_tensor(t).detach().to("cpu", torch.float64).flatten()


def decision_plane(model: nn.Module, x: torch.Tensor, x_adv: torch.Tensor, third: torch.Tensor | None = None, *,
                   path: torch.Tensor | np.ndarray | None = None, third_name: str = "a random direction",
                   grid: int = 81, margin: float = 0.5, seed: int = 0, batch: int = DEFAULT_BATCH,
                   cancel: CancelEvent | None = None, progress: Progress | None = None) -> DecisionPlane:
    """The model's classes on the plane through x, x_adv and a third point (each 1×C×H×W or C×H×W; default
    random_third), over the three points' box enlarged by margin × their spread on each side (at least
    0.5·‖x_adv − x‖₂). Both axes pass exactly through the clean point, and u through the adversarial one where
    a spacing fits. path: (T, C, H, W) iterates (e.g. Trajectory.images[:, 0]) projected onto the plane."""
    grid = int(grid)
    if grid < 3:
        raise ValueError(f"grid must be at least 3, got {grid}")
    if margin < 0:
        raise ValueError(f"margin must be ≥ 0, got {margin}")
    x = single_image(x)
    x_adv = single_image(x_adv, "x_adv")
    if x_adv.shape != x.shape:
        raise ValueError(f"x_adv has shape {tuple(x_adv.shape)}, but x has {tuple(x.shape)}")
    if third is None:
        third = random_third(x, x_adv, seed)
    else:
        third = single_image(third, "the third point")
        if third.shape != x.shape:
            raise ValueError(f"the third point has shape {tuple(third.shape)}, but x has {tuple(x.shape)}")
    origin = _flat64(x)
    delta = _flat64(x_adv) - origin
    dist = float(delta.norm())
    if dist < SAME_POINT:
        raise ValueError("the adversarial example equals the drawing (the attack changed nothing): there is no "
                         "plane to draw; run an attack that moves the image first")
    e1 = delta / dist
    t = _flat64(third) - origin
    along = float(t @ e1)
    off = t - along * e1
    off_norm = float(off.norm())
    if off_norm <= COLLINEAR * max(float(t.norm()), dist):
        raise ValueError("the third point lies on the line through the drawing and the adversarial example, so "
                         "the three points span no plane: pick another third point")
    e2 = off / off_norm

    us, vs = [0.0, dist, along], [0.0, 0.0, off_norm]
    pad_u = max(margin * (max(us) - min(us)), 0.5 * dist)
    pad_v = max(margin * (max(vs) - min(vs)), 0.5 * dist)
    u = _axis_through([0.0, dist], min(us) - pad_u, max(us) + pad_u, grid)
    v = _axis_through([0.0], min(vs) - pad_v, max(vs) + pad_v, grid)

    shape = x.shape
    d1, d2 = e1.to(torch.float32).view(shape), e2.to(torch.float32).view(shape)
    values = evaluate_plane(model, x, d1, d2, u, v, batch=batch, cancel=cancel, progress=progress,
                            what="decision plane")

    path_uv = off_plane = None
    if path is not None:
        iterates = torch.as_tensor(np.asarray(path) if not torch.is_tensor(path) else path).detach()
        count = int(iterates.shape[0]) if iterates.ndim else 0
        if iterates.ndim < 2 or iterates[0].numel() != origin.numel():
            raise ValueError(f"path must hold T iterates shaped like x {tuple(shape[1:])}, got "
                             f"{tuple(iterates.shape)}")
        rel = iterates.to("cpu", torch.float64).reshape(count, -1) - origin
        pu, pv = rel @ e1, rel @ e2
        off_plane = (rel - pu[:, None] * e1 - pv[:, None] * e2).norm(dim=1).numpy().astype(np.float64)
        path_uv = torch.stack([pu, pv], 1).numpy().astype(np.float64)

    return DecisionPlane(
        u=u.astype(np.float64),
        v=v.astype(np.float64),
        pred=values.pred,
        confidence=values.confidence,
        points={"clean": (0.0, 0.0), "adversarial": (dist, 0.0), "third": (along, off_norm)},
        path=path_uv,
        path_off_plane=off_plane,
        clamped_share=values.clamped_share,
        third_name=third_name,
    )
