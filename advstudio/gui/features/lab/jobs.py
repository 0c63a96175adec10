"""Worker handlers of the attack lab ("input_attack": any attack on the current input, with its trajectory) and
the robustness lab ("lab": curves, confusion under attack and confident mistakes over the test set).

Runs on the worker thread only, like jobs.py; everything handed back is a numpy copy in a frozen dataclass."""

from __future__ import annotations

import copy
import time
from pathlib import Path

import numpy as np

from advstudio.gui.features.lab.messages import InputAttackRequest, InputAttackResult, LabCancelled, LabCurve, LabProgress, LabRequest, LabResult
from advstudio.gui.models import ModelEntry
from advstudio.core.describe import short_label
from advstudio.gui.worker import JobContext, Worker

INPUT_KIND = "input_attack"
LAB_KIND = "lab"
MISTAKES_SHOWN = 16


def register_lab(worker: Worker) -> None:
    """Add the two kinds; the lab yields to interactive requests (the ε slider) between its batches."""
    if INPUT_KIND not in worker._handlers:
        worker.register(INPUT_KIND, input_attack_job, priority=12)
        worker.register(LAB_KIND, lab_job, priority=1)


def add_session_model(state, key: str, model) -> None:
    """Make a model trained in this session available to the lab as ModelEntry(key, name, path=None)."""
    state.values.setdefault("session_models", {})[key] = model


class _StopWhen:
    """A cancel flag for the attacks (they only call is_set): the worker's own flag, a newer request of the same
    kind, or the request's own Event."""

    def __init__(self, ctx: JobContext, event=None) -> None:
        self.ctx, self.event = ctx, event

    def is_set(self) -> bool:
        return self.ctx.should_stop() or (self.event is not None and self.event.is_set())


def _np(t) -> np.ndarray:
    return t.detach().cpu().numpy().copy()


def input_attack_job(ctx: JobContext, req: InputAttackRequest) -> InputAttackResult | None:
    """Attack the input away from the class the model reads (or toward req.target), recording every iterate."""
    import torch

    from advstudio.core.attacks import ATTACKS, make_attack
    from advstudio.core.errors import AttackCancelled

    model = ctx.state.model
    if model is None:
        raise RuntimeError("No model is loaded yet; open a model file (File ▸ Open model…).")
    start = time.perf_counter()
    device = ctx.state.device
    image = np.ascontiguousarray(req.image, dtype=np.float32).reshape(1, 1, 28, 28)
    x = torch.from_numpy(image.copy()).to(device)
    with torch.inference_mode():
        clean_probs = torch.softmax(model(x), 1)[0].cpu().numpy().astype(np.float32)
    y = torch.tensor([int(clean_probs.argmax())], device=device)
    settings = dict(req.settings)
    if req.target is not None:
        settings["targeted"] = True
    if ATTACKS[req.attack].iterative:
        settings["record_trajectory"] = True
    attack = make_attack(req.attack, **settings)
    target = None if req.target is None else torch.tensor([int(req.target)], device=device)
    try:
        out = attack.run(model, x, y, target, cancel=_StopWhen(ctx))
    except AttackCancelled:
        return None
    adv, adv_probs = _np(out.x_adv)[0, 0], _np(out.probs)[0].astype(np.float32)
    traj = out.trajectory
    if traj is not None and len(traj):
        frames = traj.images[:, 0, 0].astype(np.float32).copy()
        frame_probs = traj.probs[:, 0].astype(np.float32).copy()
        frame_step, frame_restart = traj.step.copy(), traj.restart.copy()
    else:  # one-step attacks: the start and the result
        frames = np.stack([image[0, 0], adv]).astype(np.float32)
        frame_probs = np.stack([clean_probs, adv_probs]).astype(np.float32)
        frame_step, frame_restart = np.array([0, 1]), np.array([0, 0])
    return InputAttackResult(
        attack=req.attack, params=copy.deepcopy(out.params), settings=dict(req.settings),
        clean=image[0, 0].copy(), adversarial=adv, perturbation=_np(out.perturbation)[0, 0],
        clean_probs=clean_probs, adv_probs=adv_probs, success=bool(out.success[0]),
        linf=float(out.linf[0]), l2=float(out.l2[0]), l0=int(out.l0[0]),
        frames=frames, frame_probs=frame_probs, frame_step=frame_step, frame_restart=frame_restart,
        seconds=round(time.perf_counter() - start, 3), target=req.target,
    )


def _lab_model(ctx: JobContext, entry: ModelEntry):
    """(model, display name, path) for a registry entry; files are loaded once per (path, mtime)."""
    from advstudio.core.storage import load_model, model_display_name

    if entry.path is None:
        model = ctx.state.values.get("session_models", {}).get(entry.key)
        if model is None:
            raise RuntimeError(f"The session model {entry.name!r} is no longer available.")
        return model, entry.name, f"(trained in this session: {entry.name})"
    path = Path(entry.path)
    if ctx.state.device is None:
        from advstudio.core.model import pick_device

        ctx.state.device = pick_device(ctx.state.values.get("device_preference"))
    key = (str(path.resolve()), path.stat().st_mtime_ns if path.exists() else 0)
    cache: dict = ctx.state.values.setdefault("lab_models", {})
    if key not in cache:
        model, meta = load_model(path, ctx.state.device)
        cache.clear()  # keep one extra model at most: the studio's own model is separate
        cache[key] = (model, model_display_name(path, meta))
    model, name = cache[key]
    return model, name, str(path)


def lab_job(ctx: JobContext, req: LabRequest) -> LabResult | LabCancelled | None:
    """One curve per spec (attack_curve, as `advstudio evaluate` computes it), then the same attack at the
    largest ε once more, keeping per-sample results for the confusion matrix and the mistake gallery."""
    from advstudio.core.evaluation.lab import attack_curve, evaluate_attack
    from advstudio.core.attacks import ATTACKS, make_attack
    from advstudio.core.data import load_split
    from advstudio.core.evaluation.curves import EvaluationCancelled

    split = load_split(req.data_dir, "test").head(req.n)
    n = len(split)
    stop = _StopWhen(ctx, req.cancel)
    runs = [sum(1 for e in req.eps if e > 0) if ATTACKS[s.attack].uses_eps else 1 for s in req.specs]
    total = sum(n * (r + 1) for r in runs)
    start = time.perf_counter()
    offset = 0
    curves: list[LabCurve] = []
    last_emit = [0.0]

    def report(done: int, label: str) -> None:
        now = time.perf_counter()
        if now - last_emit[0] >= 0.1 or done >= total:
            last_emit[0] = now
            ctx.progress(LabProgress(done, total, label, now - start))
        ctx.serve_interactive()  # the ε slider stays live while the lab runs

    try:
        for spec, r in zip(req.specs, runs):
            model, name, path = _lab_model(ctx, spec.model)
            settings = {k: v for k, v in spec.settings.items() if v is not None and k != "eps"}
            label = f"{name}: {short_label(spec.attack, settings)}"
            report(offset, label)
            base = offset
            curve = attack_curve(model, split.images, split.labels, spec.attack, req.eps, settings,
                                 target=req.target, batch_size=req.batch_size,
                                 progress=lambda d, _t, b=base, lab=label: report(b + d, lab), cancel=stop)
            offset += n * r
            detail = max(req.eps) if req.eps else 0.0
            linf = ATTACKS[spec.attack].uses_eps
            if req.target is not None:
                settings["targeted"] = True
            attack = make_attack(spec.attack, eps=detail, **settings) if linf else make_attack(spec.attack, **settings)
            base = offset
            evaluation = evaluate_attack(model, split.images, split.labels, attack, target=req.target,
                                         batch_size=req.batch_size, keep_images=True,
                                         progress=lambda d, _t, b=base, lab=label: report(b + d, lab + " (details)"),
                                         cancel=stop)
            offset += n
            radius = None if linf else detail
            curves.append(LabCurve(
                model=spec.model, model_name=name, model_path=path, curve=_frozen_curve(curve),
                detail_eps=float(detail), confusion=evaluation.confusion(radius).copy(),
                mistakes=evaluation.most_confident_mistakes(MISTAKES_SHOWN, radius)))
    except EvaluationCancelled:
        return LabCancelled(offset, total)
    if stop.is_set():
        return LabCancelled(offset, total)
    return LabResult(tuple(curves), round(time.perf_counter() - start, 3))


def _frozen_curve(curve):
    """A deep copy, so nothing the worker keeps is shared with the GUI thread."""
    return copy.deepcopy(curve)
