"""The side-by-side tab's worker job ("compare"): the studio's FGSM attack, at one ε, on two models at once.

Runs on the worker thread only. Model files are loaded here, never on the GUI thread, through the worker's one
model-file cache (ctx.state.model_file: a replaced file is read again; a file that fails to load keeps its
message until it changes, so dragging ε does not re-read a corrupt file), and that message goes to its side
only. The FGSM sign direction is cached per
(model, input, method, target), so an ε move costs one forward pass per model."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from advstudio.core.model_meta import fraction
from advstudio.core.types import AttackResult
from advstudio.gui.directions import cached_direction
from advstudio.gui.features.compare.messages import COMPARE_KIND, CompareRequest, CompareResult, CompareSide, SideResult
from advstudio.gui.messages import TARGETED, AttackSettings
from advstudio.gui.worker import JobContext, Worker


def register_compare(worker: Worker) -> None:
    """Interactive, like "analyze": served between a long job's batches, so the tab stays live while the lab runs."""
    if not worker.has_kind(COMPARE_KIND):
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
    if fraction(acc):
        bits.append(f"test accuracy {acc * 100:.2f}%")
    return " · ".join(bits)


def side_model(ctx: JobContext, side: CompareSide):
    """(model, cache key, display name, about, metadata) for a side; raises ModelFileError with a readable message
    when it cannot load (the worker's one model-file cache keeps that message until the file changes)."""
    from advstudio.core.storage import model_display_name

    if side.path is None:
        model = ctx.state.session_model(side.key, side.name)
        return model, ("session", side.key, id(model)), side.name, "trained in this session", {}
    model, meta = ctx.state.model_file(side.path)
    path = Path(side.path)
    st = path.stat()
    key = ("file", str(path.resolve()), st.st_mtime_ns, st.st_size)
    return model, key, model_display_name(path, meta), describe_model(meta), dict(meta)


def is_bundled(path: str | None) -> bool:
    """A model file that ships with the app (the standard or the robust model)."""
    from advstudio.core.resources import bundled_model_path, robust_model_path

    if path is None:
        return False
    here = Path(path).resolve()
    return here in (bundled_model_path().resolve(), robust_model_path().resolve())


def attack_side(ctx: JobContext, model, model_key, image: np.ndarray, s: AttackSettings) -> AttackResult:
    """The studio's FGSM (gui/jobs.analyze_job) on this model: x_adv = clamp(x + ε·direction, 0, 1)."""
    import torch

    from advstudio.core.attacks.fgsm import apply_perturbation

    x = torch.from_numpy(image.reshape(1, 1, 28, 28).copy()).to(ctx.state.ensure_device())
    direction, clean = cached_direction(ctx.state, model, model_key, x, image, s.method, s.target)
    clean = clean[0].copy()
    x_adv, delta = apply_perturbation(x, direction.to(x.device), float(s.eps))
    with torch.inference_mode():
        adv = torch.softmax(model(x_adv), dim=1)[0].cpu().numpy().astype(np.float32).copy()
    return AttackResult(
        clean=image.copy(), adversarial=x_adv[0, 0].cpu().numpy().copy(), perturbation=delta[0, 0].cpu().numpy().copy(),
        clean_probs=clean.copy(), adv_probs=adv, eps=float(s.eps), method=s.method,
        target=s.target if s.method == TARGETED else None)


def missing_target(model, image: np.ndarray, s: AttackSettings, device) -> str | None:
    """Why a targeted attack cannot run on this model (its target is not one of the model's classes), or None."""
    if s.method != TARGETED or s.target is None:
        return None
    from advstudio.core.model import output_count
    from advstudio.gui.directions import image_tensor

    k = output_count(model, image_tensor(image, device))
    if 0 <= int(s.target) < k:
        return None
    return (f"This model has {k} classes, so it has no class {int(s.target)} for the targeted attack to aim at. "
            "Choose untargeted FGSM or another target in the Attack tab.")


def compare_job(ctx: JobContext, req: CompareRequest) -> CompareResult | None:
    """Attack every side's model with the same settings; a model that cannot load answers with its message."""
    from advstudio.core.errors import ModelFileError

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
            model, key, name, about, meta = side_model(ctx, side)
        except ModelFileError as exc:
            out.append(SideResult(side, side.name, message=str(exc)))
            continue
        problem = missing_target(model, image, req.settings, ctx.state.ensure_device())
        if problem is not None:
            out.append(SideResult(side, name, about, message=problem, meta=meta, bundled=is_bundled(side.path)))
            continue
        out.append(SideResult(side, name, about, attack=attack_side(ctx, model, key, image, req.settings),
                              meta=meta, bundled=is_bundled(side.path)))
    return CompareResult(image, req.settings, tuple(out), round(time.perf_counter() - start, 4), req.serial)
