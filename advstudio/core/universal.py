"""A universal adversarial perturbation (Moosavi-Dezfooli, Fawzi, Fawzi & Frossard, 2017): one δ, computed on N
training images, that changes the model's answer on most images it has never seen, in [0, 1] pixel space.

The algorithm passes over the images again and again. Wherever x + v is still read as x is, DeepFool (the
minimal-L2 step to the nearest decision boundary of the linearised network) finds the extra change r that
moves x + v across a boundary, and v becomes v + r projected back onto the L∞ ball ‖v‖∞ ≤ ε (and the sum
clamped to [0, 1] when applied). It stops when the fooling rate on those images reaches `target_rate` (the
paper's 1 − δ) or after `max_passes` passes. Mini-batch variant: the images of a batch that v does not fool yet
get their DeepFool steps at the same v (one vectorised DeepFool call), then v takes them one by one, projected
after each, as the paper does.

method="sgd" is the stochastic-gradient version (Shafahi, Najibi, Xu, Dickerson, Davis & Goldstein, 2020,
"Universal adversarial training"): signed gradient ascent on v of the batch's cross-entropy against the model's
own answers, each sample's loss clamped at 10 so images already fooled stop pulling, step ε/10, projected onto
the ε-ball. It needs one forward and backward pass per batch instead of DeepFool's ten per step, and on the
bundled model it fools far more images at the same ε (README, "Universal perturbation").

The fooling rate is the paper's: the share of images whose predicted class changes when v is added, whatever
the true class. Saved files are safetensors (a tensor and JSON metadata, never a pickle)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from advstudio.core.attacks.common import check_cancel, eval_mode
from advstudio.core.errors import ModelFileError
from advstudio.core.files import atomic_write_bytes

__all__ = ["UniversalPerturbation", "universal_perturbation", "fooling_rate", "apply_universal", "save_universal",
           "load_universal"]

KIND = "advstudio-universal-perturbation"
METHODS = ("sgd", "deepfool")
LOSS_CAP = 10.0  # the SGD method's clamp on each sample's cross-entropy
MAX_FILE = 1 << 20  # a 28×28 float32 tensor and its metadata are a few kB; anything far larger is not ours


@dataclass
class UniversalPerturbation:
    """v (28×28 float32, ‖v‖∞ ≤ eps) and how it was made and how well it fooled the images it was made on."""

    v: np.ndarray
    eps: float
    images: int  # N, the images it was computed on
    passes: int
    fooling_rate: float  # on those N images
    history: list[float] = field(default_factory=list)  # the fooling rate after each pass
    seconds: float = 0.0
    settings: dict = field(default_factory=dict)

    def metadata(self) -> dict:
        return {"kind": KIND, "eps": self.eps, "norm": "linf", "images": self.images, "passes": self.passes,
                "fooling_rate": self.fooling_rate, "history": list(self.history), "seconds": self.seconds,
                "settings": dict(self.settings)}


def apply_universal(x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """x + v clamped to [0, 1] (v broadcasts over the batch)."""
    return (x + v).clamp(0.0, 1.0)


@torch.no_grad()
def _predict(model: nn.Module, x: torch.Tensor, batch: int = 500) -> torch.Tensor:
    return torch.cat([model(x[i : i + batch]).argmax(1) for i in range(0, len(x), batch)]) if len(x) else \
        torch.zeros(0, dtype=torch.long, device=x.device)


def fooling_rate(model: nn.Module, images: torch.Tensor, v: torch.Tensor | np.ndarray,
                 clean_pred: torch.Tensor | None = None) -> float:
    """The share of `images` whose predicted class changes when v is added (the paper's fooling rate)."""
    device = next(model.parameters()).device
    x = images.to(device)
    v = torch.as_tensor(np.asarray(v, dtype=np.float32) if isinstance(v, np.ndarray) else v).to(device)
    v = v.reshape(1, *x.shape[1:]) if v.ndim < x.ndim else v
    with eval_mode(model):
        before = _predict(model, x) if clean_pred is None else clean_pred.to(device)
        after = _predict(model, apply_universal(x, v))
    return float((before != after).float().mean()) if len(x) else 0.0


def universal_perturbation(
    model: nn.Module,
    images: torch.Tensor,
    eps: float,
    max_passes: int = 10,
    target_rate: float = 0.8,
    method: str = "sgd",
    batch_size: int | None = None,
    deepfool_steps: int = 50,
    overshoot: float = 0.02,
    seed: int = 0,
    progress: Callable[[int, int, float], None] | None = None,
    cancel: threading.Event | None = None,
) -> UniversalPerturbation:
    """Compute v on `images` (N×1×28×28 in [0, 1]; labels are not needed: the fooling rate compares with the
    model's own answers). The images are visited in a seeded random order each pass. method: "sgd" (default,
    batches of 100) or "deepfool" (the 2017 paper's, batches of 32). progress(pass, passes, fooling rate) after
    each pass; cancel is checked between batches (AttackCancelled)."""
    from advstudio.core.attacks import make_attack

    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}: choose from {', '.join(METHODS)}")
    batch_size = batch_size or (100 if method == "sgd" else 32)
    if not 0.0 < eps <= 1.0:
        raise ValueError(f"ε must lie in (0, 1] pixel space, got {eps}")
    if not 0.0 < target_rate <= 1.0:
        raise ValueError(f"the target fooling rate must lie in (0, 1], got {target_rate}")
    if int(max_passes) < 1 or int(batch_size) < 1:
        raise ValueError("max_passes and batch_size must be at least 1")
    if len(images) == 0:
        raise ValueError("a universal perturbation needs at least one image")
    start = time.perf_counter()
    device = next(model.parameters()).device
    x_all = images.to(device).float()
    deepfool = make_attack("deepfool", steps=deepfool_steps, overshoot=overshoot)
    gen = torch.Generator().manual_seed(int(seed))
    v = torch.zeros((1, *x_all.shape[1:]), device=device)
    history: list[float] = []
    with eval_mode(model):
        clean_pred = _predict(model, x_all)
        rate = 0.0
        for p in range(int(max_passes)):
            order = torch.randperm(len(x_all), generator=gen).to(device)
            for i in range(0, len(order), int(batch_size)):
                check_cancel(cancel)
                idx = order[i : i + int(batch_size)]
                if method == "sgd":
                    v = _sgd_step(model, x_all[idx], clean_pred[idx], v, eps)
                    continue
                xv = apply_universal(x_all[idx], v)
                with torch.no_grad():
                    still = model(xv).argmax(1) == clean_pred[idx]
                if not still.any():
                    continue
                out = deepfool.run(model, xv[still], clean_pred[idx][still], cancel=cancel)
                for r in out.perturbation[out.success]:  # those DeepFool moved across a boundary, one by one
                    v = (v + r).clamp(-eps, eps)
            rate = fooling_rate(model, x_all, v, clean_pred)
            history.append(rate)
            if progress is not None:
                progress(p + 1, int(max_passes), rate)
            if rate >= target_rate:
                break
    settings = {"method": method, "max_passes": int(max_passes), "target_rate": float(target_rate),
                "batch_size": int(batch_size), "seed": int(seed),
                **({"step": eps / 10, "loss_cap": LOSS_CAP} if method == "sgd" else
                   {"deepfool_steps": int(deepfool_steps), "overshoot": float(overshoot)})}
    return UniversalPerturbation(v=v[0, 0].detach().cpu().numpy().astype(np.float32), eps=float(eps),
                                 images=int(len(x_all)), passes=len(history), fooling_rate=rate, history=history,
                                 seconds=round(time.perf_counter() - start, 3), settings=settings)


def _sgd_step(model: nn.Module, x: torch.Tensor, pred: torch.Tensor, v: torch.Tensor, eps: float) -> torch.Tensor:
    """One signed-gradient ascent step on v for a batch (input gradient only), projected onto the ε-ball."""
    v = v.detach().requires_grad_(True)
    loss = F.cross_entropy(model(apply_universal(x, v)), pred, reduction="none").clamp(max=LOSS_CAP).mean()
    (grad,) = torch.autograd.grad(loss, v)
    return (v + eps / 10 * grad.sign()).clamp(-eps, eps).detach()


def save_universal(u: UniversalPerturbation, path: str | Path) -> Path:
    """Write v and its metadata as safetensors, atomically."""
    from safetensors.torch import save

    path = Path(path)
    if path.suffix != ".safetensors":
        path = path.with_suffix(".safetensors")
    data = save({"v": torch.from_numpy(np.ascontiguousarray(u.v, dtype=np.float32))},
                metadata={"advstudio": json.dumps(u.metadata(), sort_keys=True)})
    atomic_write_bytes(path, data)
    return path


def load_universal(path: str | Path) -> UniversalPerturbation:
    """Read a file save_universal wrote. Anything else (a pickle, a model, a huge or malformed file, a v that is
    not 28×28, not finite or outside its ε) raises ModelFileError with a sentence a user can act on."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    path = Path(path)
    try:
        if path.stat().st_size > MAX_FILE:
            raise ModelFileError(f"{path.name} is too large to be a universal perturbation")
        data = path.read_bytes()
    except OSError as exc:
        raise ModelFileError(f"could not read {path.name}: {exc.strerror or exc}") from None
    try:
        tensors = load(data)
        n = int.from_bytes(data[:8], "little")
        header = json.loads(data[8 : 8 + n])
        meta = json.loads(header.get("__metadata__", {}).get("advstudio", "{}"))
    except (SafetensorError, ValueError, TypeError, UnicodeDecodeError):
        raise ModelFileError(f"{path.name} is not a universal perturbation saved by Adversarial Studio") from None
    v = tensors.get("v")
    if not isinstance(meta, dict) or meta.get("kind") != KIND or v is None or tuple(v.shape) != (28, 28):
        raise ModelFileError(f"{path.name} is not a universal perturbation saved by Adversarial Studio")
    eps = meta.get("eps")
    v = v.float()
    if not isinstance(eps, (int, float)) or not 0.0 < float(eps) <= 1.0 or not torch.isfinite(v).all() \
            or float(v.abs().max()) > float(eps) + 1e-6:
        raise ModelFileError(f"{path.name}: its perturbation is damaged (not finite, or larger than its ε)")

    def number(key: str, default: float = 0.0) -> float:
        value = meta.get(key, default)
        return float(value) if isinstance(value, (int, float)) and np.isfinite(value) else default

    history = [float(h) for h in meta.get("history", []) if isinstance(h, (int, float))][:1000]
    return UniversalPerturbation(v=v.numpy().astype(np.float32), eps=float(eps), images=int(number("images")),
                                 passes=int(number("passes")), fooling_rate=number("fooling_rate"), history=history,
                                 seconds=number("seconds"),
                                 settings=meta.get("settings") if isinstance(meta.get("settings"), dict) else {})
