"""The side-by-side tab's worker job ("compare"): the studio's FGSM attack, at one ε, on two models at once.

Runs on the worker thread only. Model files are loaded here, never on the GUI thread, and cached in
ctx.state.values["compare_models"] keyed by (resolved path, mtime, size), so a replaced file is read again and
its old copy dropped; a file that fails to load keeps its message under the same key (dragging ε does not
re-read a corrupt file), and that message goes to its side only. The FGSM sign direction is cached per
(model, input, method, target), so an ε move costs one forward pass per model."""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from advstudio.core.types import AttackResult

from advstudio.gui.messages import TARGETED, AttackSettings
from advstudio.gui.worker import JobContext, Worker

COMPARE_KIND = "compare"
MODEL_CACHE = 4  # loaded models (or their load errors) kept at once
DIRECTION_CACHE = 16


@dataclass(frozen=True)
class CompareSide:
    """One side's model: a safetensors file, or (path None) a model trained in this session that the worker
    keeps under `key` (lab_jobs.add_session_model). `role` says what the summary calls it ("standard", …)."""

    key: str
    name: str
    path: str | None
    role: str | None = None
    unavailable: str | None = None  # why there is nothing to load (the GUI knows already); the side shows it


@dataclass(frozen=True)
class CompareRequest:
    image: np.ndarray  # (28, 28) in [0, 1]
    settings: AttackSettings
    sides: tuple[CompareSide, ...]


@dataclass(frozen=True)
class SideResult:
    """The attack on one side's model, or the reason there is none (`message`)."""

    side: CompareSide
    model_name: str
    about: str = ""  # how the model was trained and its accuracy, from its metadata
    attack: AttackResult | None = None
    message: str | None = None


@dataclass(frozen=True)
class CompareResult:
    image: np.ndarray
    settings: AttackSettings
    sides: tuple[SideResult, ...]
    seconds: float = 0.0


def register_compare(worker: Worker) -> None:
    """Interactive, like "analyze": served between a long job's batches, so the tab stays live while the lab runs."""
    if COMPARE_KIND not in worker._handlers:
        worker.register(COMPARE_KIND, compare_job, priority=20, interactive=True)


def describe_model(meta: dict) -> str:
    """"adversarially trained (pgd, ε = 0.3) · test accuracy 99.10%" from a model's metadata."""
    recipe = meta.get("recipe") if isinstance(meta.get("recipe"), dict) else {}
    adv = recipe.get("adversarial")
    bits = []
    if adv:
        eps = recipe.get("adv_eps")
        bits.append(f"adversarially trained ({adv}" + (f", ε = {eps:g})" if isinstance(eps, (int, float)) else ")"))
    elif recipe:
        bits.append("standard training")
    acc = meta.get("test_accuracy")
    if isinstance(acc, (int, float)):
        bits.append(f"test accuracy {acc * 100:.2f}%")
    return " · ".join(bits)


def _ensure_device(ctx: JobContext):
    if ctx.state.device is None:
        from advstudio.core.model import limit_threads, pick_device

        limit_threads(reserve=1)
        ctx.state.device = pick_device(ctx.state.values.get("device_preference"))
    return ctx.state.device


def side_model(ctx: JobContext, side: CompareSide):
    """(model, cache key, display name, about) for a side; raises with a readable message when it cannot load."""
    from advstudio.core.storage import ModelFileError, load_model, model_display_name

    if side.path is None:
        model = ctx.state.values.get("session_models", {}).get(side.key)
        if model is None:
            raise ModelFileError(f"The session model {side.name!r} is no longer available.")
        return model, ("session", side.key, id(model)), side.name, "trained in this session"
    path = Path(side.path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ModelFileError(f"{path.name}: no such file ({path})") from None
    except OSError as exc:
        raise ModelFileError(f"{path.name}: cannot be read ({exc.strerror or exc})") from None
    resolved = str(path.resolve())
    key = ("file", resolved, st.st_mtime_ns, st.st_size)
    cache: OrderedDict = ctx.state.values.setdefault("compare_models", OrderedDict())
    if key not in cache:
        for old in [k for k in cache if k[0] == "file" and k[1] == resolved]:
            del cache[old]  # the file changed on disk: forget its old version
        try:
            model, meta = load_model(path, _ensure_device(ctx))
            cache[key] = (model, model_display_name(path, meta), describe_model(meta))
        except ModelFileError as exc:
            cache[key] = ModelFileError(str(exc))
        while len(cache) > MODEL_CACHE:
            cache.popitem(last=False)
    cache.move_to_end(key)
    value = cache[key]
    if isinstance(value, ModelFileError):
        raise ModelFileError(str(value))
    model, name, about = value
    return model, key, name, about


def _direction(ctx: JobContext, model, model_key, x, image: np.ndarray, s: AttackSettings):
    """The FGSM sign direction and the clean probabilities for one model and input (cached)."""
    import torch

    from advstudio.core.attacks.fgsm import fgsm_direction

    key = (model_key, hashlib.blake2b(image.tobytes(), digest_size=16).digest(), s.method,
           s.target if s.method == TARGETED else None)
    cache: OrderedDict = ctx.state.values.setdefault("compare_directions", OrderedDict())
    if key in cache:
        cache.move_to_end(key)
        return cache[key]
    if s.method == TARGETED:
        if s.target is None:
            raise ValueError("a targeted attack needs a target class")
        t = torch.tensor([int(s.target)], device=x.device)
        direction, logits = fgsm_direction(model, x, t, target=t)
    else:
        with torch.inference_mode():
            logits = model(x)
        y = logits.argmax(1)
        direction, _ = fgsm_direction(model, x, y)
    clean = torch.softmax(logits, dim=1)[0].cpu().numpy().astype(np.float32).copy()
    cache[key] = (direction, clean)
    while len(cache) > DIRECTION_CACHE:
        cache.popitem(last=False)
    return direction, clean


def attack_side(ctx: JobContext, model, model_key, image: np.ndarray, s: AttackSettings) -> AttackResult:
    """The studio's FGSM (gui/jobs.analyze_job) on this model: x_adv = clamp(x + ε·direction, 0, 1)."""
    import torch

    from advstudio.core.attacks.fgsm import apply_perturbation

    x = torch.from_numpy(image.reshape(1, 1, 28, 28).copy()).to(_ensure_device(ctx))
    direction, clean = _direction(ctx, model, model_key, x, image, s)
    x_adv, delta = apply_perturbation(x, direction.to(x.device), float(s.eps))
    with torch.inference_mode():
        adv = torch.softmax(model(x_adv), dim=1)[0].cpu().numpy().astype(np.float32).copy()
    return AttackResult(
        clean=image.copy(), adversarial=x_adv[0, 0].cpu().numpy().copy(), perturbation=delta[0, 0].cpu().numpy().copy(),
        clean_probs=clean.copy(), adv_probs=adv, eps=float(s.eps), method=s.method,
        target=s.target if s.method == TARGETED else None)


def compare_job(ctx: JobContext, req: CompareRequest) -> CompareResult | None:
    """Attack every side's model with the same settings; a model that cannot load answers with its message."""
    from advstudio.core.storage import ModelFileError

    start = time.perf_counter()
    image = np.ascontiguousarray(req.image, dtype=np.float32).reshape(28, 28).copy()
    out: list[SideResult] = []
    for side in req.sides:
        if ctx.should_stop():
            return None  # a newer request (another ε, another drawing) is waiting
        if side.unavailable:
            out.append(SideResult(side, side.name, message=side.unavailable))
            continue
        try:
            model, key, name, about = side_model(ctx, side)
        except ModelFileError as exc:
            out.append(SideResult(side, side.name, message=str(exc)))
            continue
        out.append(SideResult(side, name, about, attack=attack_side(ctx, model, key, image, req.settings)))
    return CompareResult(image, req.settings, tuple(out), round(time.perf_counter() - start, 4))
