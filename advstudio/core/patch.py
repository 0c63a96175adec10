"""An adversarial patch (Brown, Mané, Roy, Abadi & Gilmer, 2017): a small square of pixels, trained once, that
turns any digit it is stuck on into a chosen class, wherever it is placed: the physical-world attack of the
article's stop sign. Pixel space [0, 1]; the patch replaces the pixels it covers (it is not added to them).

Training is expectation over transformation over placements: each step pastes the patch at a random position
on each image of a batch of training images, and Adam lowers the cross-entropy of the target class; the patch
is clamped to [0, 1] after each step. Success rate = the share of test images not already of the target class
that the patched image makes the model read as the target, with the patch at random positions (seeded), or at
one given position.

Saved files are safetensors (a tensor and JSON metadata, never a pickle)."""

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
from advstudio.core.model import output_count

__all__ = ["AdversarialPatch", "train_patch", "paste", "random_positions", "patch_success_rate", "save_patch",
           "load_patch", "MAX_SIDE"]

KIND = "advstudio-adversarial-patch"
MAX_SIDE = 20  # pixels of a 28×28 image; a larger "patch" would simply be another image
MAX_FILE = 1 << 20


@dataclass
class AdversarialPatch:
    """The patch (side×side float32 in [0, 1]), its target class and how well it worked on training images."""

    patch: np.ndarray
    target: int
    side: int
    steps: int
    success_rate: float  # on the training images, random positions, after the last step
    history: list[float] = field(default_factory=list)  # the training success rate every `report_every` steps
    seconds: float = 0.0
    settings: dict = field(default_factory=dict)

    def metadata(self) -> dict:
        return {"kind": KIND, "target": self.target, "side": self.side, "steps": self.steps,
                "success_rate": self.success_rate, "history": list(self.history), "seconds": self.seconds,
                "settings": dict(self.settings)}


def random_positions(n: int, side: int, size: int = 28, generator: torch.Generator | None = None) -> torch.Tensor:
    """(n, 2) top-left corners (row, column) that keep a side×side patch inside a size×size image."""
    return torch.randint(0, size - side + 1, (n, 2), generator=generator)


def paste(x: torch.Tensor, patch: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """x (N×1×H×W) with the patch (side×side) replacing the pixels under it at each sample's (row, column).
    Differentiable in the patch."""
    n, _, height, width = x.shape
    side = int(patch.shape[-1])
    rows = torch.arange(height, device=x.device)
    cols = torch.arange(width, device=x.device)
    top, left = positions[:, 0].to(x.device), positions[:, 1].to(x.device)
    in_r = (rows[None, :] >= top[:, None]) & (rows[None, :] < (top + side)[:, None])  # (n, H)
    in_c = (cols[None, :] >= left[:, None]) & (cols[None, :] < (left + side)[:, None])  # (n, W)
    mask = (in_r[:, :, None] & in_c[:, None, :])[:, None]  # (n, 1, H, W)
    # the patch value for every pixel it covers: index the patch by the offset from the corner
    r_off = (rows[None, :] - top[:, None]).clamp(0, side - 1)  # (n, H)
    c_off = (cols[None, :] - left[:, None]).clamp(0, side - 1)  # (n, W)
    full = patch.reshape(side, side)[r_off[:, :, None], c_off[:, None, :]][:, None]  # (n, 1, H, W)
    return torch.where(mask, full, x)


MAX_TARGETS = 1000  # the most classes a model may have (core.architecture_names.MAX_CLASSES)


def train_patch(
    model: nn.Module,
    images: torch.Tensor,
    target: int,
    side: int = 10,
    steps: int = 500,
    batch_size: int = 64,
    lr: float = 0.05,
    seed: int = 0,
    report_every: int = 50,
    progress: Callable[[int, int, float], None] | None = None,
    cancel: threading.Event | None = None,
) -> AdversarialPatch:
    """Train a side×side patch on `images` (N×1×28×28 in [0, 1]) toward class `target`. progress(step, steps,
    recent success rate) every `report_every` steps; cancel is checked every step (AttackCancelled)."""
    if not 1 <= int(side) <= MAX_SIDE:
        raise ValueError(f"the patch side must be 1–{MAX_SIDE} pixels, got {side}")
    if int(steps) < 1 or int(batch_size) < 1 or not lr > 0:
        raise ValueError("steps and batch_size must be at least 1 and lr positive")
    if len(images) == 0:
        raise ValueError("a patch needs at least one training image")
    device = next(model.parameters()).device
    k = output_count(model, images[:1].float().to(device))  # the model's classes (any K, ONNX too)
    if not 0 <= int(target) < k:
        raise ValueError(f"the target must be a class 0–{k - 1}, got {target}")
    start = time.perf_counter()
    gen = torch.Generator().manual_seed(int(seed))
    patch = torch.rand((side, side), generator=gen).to(device).requires_grad_(True)
    opt = torch.optim.Adam([patch], lr=lr)
    x_all = images.float()
    history: list[float] = []
    hits = seen = 0
    rate = 0.0
    tgt_all = torch.full((int(batch_size),), int(target), dtype=torch.long, device=device)
    with eval_mode(model):
        for step in range(1, int(steps) + 1):
            check_cancel(cancel)
            idx = torch.randint(0, len(x_all), (int(batch_size),), generator=gen)
            xb = x_all[idx].to(device)
            pos = random_positions(len(idx), side, generator=gen)
            logits = model(paste(xb, patch, pos))
            loss = F.cross_entropy(logits, tgt_all[: len(idx)])
            (patch.grad,) = torch.autograd.grad(loss, patch)  # the input's gradient only: weights untouched
            opt.step()
            with torch.no_grad():
                patch.clamp_(0.0, 1.0)
                hits += int((logits.argmax(1) == int(target)).sum())
                seen += len(idx)
            if step % int(report_every) == 0 or step == int(steps):
                rate = hits / max(1, seen)
                history.append(rate)
                hits = seen = 0
                if progress is not None:
                    progress(step, int(steps), rate)
    settings = {"batch_size": int(batch_size), "lr": float(lr), "seed": int(seed), "optimizer": "Adam",
                "placement": "uniformly random, inside the image", "images": int(len(x_all))}
    return AdversarialPatch(patch=patch.detach().cpu().numpy().astype(np.float32), target=int(target),
                            side=int(side), steps=int(steps), success_rate=rate, history=history,
                            seconds=round(time.perf_counter() - start, 3), settings=settings)


@torch.no_grad()
def patch_success_rate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, patch: np.ndarray | torch.Tensor,
                       target: int, positions: torch.Tensor | None = None, seed: int = 0,
                       batch_size: int = 500) -> float:
    """The share of images whose true class is not the target that the patched image makes the model read as
    the target; random positions (seeded) unless given ((N, 2) or one (2,) for all)."""
    device = next(model.parameters()).device
    p = torch.as_tensor(np.asarray(patch, dtype=np.float32)).to(device)
    keep = labels != int(target)
    x, n = images[keep], int(keep.sum())
    if n == 0:
        return 0.0
    if positions is None:
        positions = random_positions(n, int(p.shape[-1]), generator=torch.Generator().manual_seed(int(seed)))
    elif positions.ndim == 1:
        positions = positions.reshape(1, 2).expand(n, 2)
    else:
        positions = positions[keep]
    hits = 0
    with eval_mode(model):
        for i in range(0, n, batch_size):
            xb = paste(x[i : i + batch_size].to(device), p, positions[i : i + batch_size])
            hits += int((model(xb).argmax(1) == int(target)).sum())
    return hits / n


def save_patch(a: AdversarialPatch, path: str | Path) -> Path:
    """Write the patch and its metadata as safetensors, atomically."""
    from safetensors.torch import save

    path = Path(path)
    if path.suffix != ".safetensors":
        path = path.with_suffix(".safetensors")
    data = save({"patch": torch.from_numpy(np.ascontiguousarray(a.patch, dtype=np.float32))},
                metadata={"advstudio": json.dumps(a.metadata(), sort_keys=True)})
    atomic_write_bytes(path, data)
    return path


def load_patch(path: str | Path) -> AdversarialPatch:
    """Read a file save_patch wrote; anything else raises ModelFileError with a sentence a user can act on."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    path = Path(path)
    try:
        if path.stat().st_size > MAX_FILE:
            raise ModelFileError(f"{path.name} is too large to be an adversarial patch")
        data = path.read_bytes()
    except OSError as exc:
        raise ModelFileError(f"could not read {path.name}: {exc.strerror or exc}") from None
    try:
        tensors = load(data)
        n = int.from_bytes(data[:8], "little")
        meta = json.loads(json.loads(data[8 : 8 + n]).get("__metadata__", {}).get("advstudio", "{}"))
    except (SafetensorError, ValueError, TypeError, AttributeError, UnicodeDecodeError):
        raise ModelFileError(f"{path.name} is not an adversarial patch saved by Adversarial Studio") from None
    p = tensors.get("patch")
    ok = isinstance(meta, dict) and meta.get("kind") == KIND and p is not None and p.ndim == 2 \
        and p.shape[0] == p.shape[1] and 1 <= p.shape[0] <= MAX_SIDE
    target = meta.get("target") if isinstance(meta, dict) else None
    if not ok or not isinstance(target, int) or isinstance(target, bool) or not 0 <= target < MAX_TARGETS:
        raise ModelFileError(f"{path.name} is not an adversarial patch saved by Adversarial Studio")
    p = p.float()
    if not torch.isfinite(p).all() or float(p.min()) < 0.0 or float(p.max()) > 1.0:
        raise ModelFileError(f"{path.name}: its patch is damaged (values outside [0, 1])")

    def number(key: str) -> float:
        value = meta.get(key, 0)
        return float(value) if isinstance(value, (int, float)) and np.isfinite(value) else 0.0

    history = [float(h) for h in meta.get("history", []) if isinstance(h, (int, float))][:1000]
    return AdversarialPatch(patch=p.numpy().astype(np.float32), target=target, side=int(p.shape[0]),
                            steps=int(number("steps")), success_rate=number("success_rate"), history=history,
                            seconds=number("seconds"),
                            settings=meta.get("settings") if isinstance(meta.get("settings"), dict) else {})
