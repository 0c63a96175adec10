"""Worker handler of the "Any attack" tab ("input_attack"): any attack on the studio's current input, recording
every iterate for the scrubber.

Runs on the worker thread only (torch imported inside); everything handed back is a numpy copy in a frozen
dataclass."""

from __future__ import annotations

import copy
import time

import numpy as np

from advstudio.gui.features.any_attack.messages import (
    INPUT_KIND,
    InputAttackRequest,
    InputAttackResult,
    QueryProgress,
)
from advstudio.gui.worker import JobContext, Worker


def register_any_attack(worker: Worker) -> None:
    """Add the kind: it goes before the long jobs (the lab, training), after the ε slider."""
    if not worker.has_kind(INPUT_KIND):
        worker.register(INPUT_KIND, input_attack_job, priority=12)


class _StopWhen:
    """The cancel flag the attacks check (they only call is_set): the worker closing or a newer request."""

    def __init__(self, ctx: JobContext) -> None:
        self.ctx = ctx

    def is_set(self) -> bool:
        return self.ctx.should_stop()


def counted(model, report, every: float = 0.1):
    """`model` wrapped so that every image row it is asked about counts as one query; report(count) is called at
    most every `every` seconds while it runs (the live query counter), and the wrapper's .calls holds the total."""
    from torch import nn

    class Counted(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = model
            self.calls = 0
            self._last = time.perf_counter()

        def forward(self, x):
            self.calls += int(x.shape[0])
            now = time.perf_counter()
            if now - self._last >= every:
                self._last = now
                report(self.calls)
            return self.inner(x)

    return Counted()


def _np(t) -> np.ndarray:
    return t.detach().cpu().numpy().copy()


def input_attack_job(ctx: JobContext, req: InputAttackRequest) -> InputAttackResult | None:
    """Attack the input away from the class the model reads (or toward req.target), recording every iterate."""
    import torch

    from advstudio.core.attacks import ATTACKS, make_attack
    from advstudio.core.attacks.common import fast_layout
    from advstudio.core.errors import AttackCancelled

    model = ctx.state.require_model()
    start = time.perf_counter()
    device = ctx.state.ensure_device()
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
    budget = settings.get("queries")  # score- and decision-based attacks have a query budget; others none
    watched = counted(fast_layout(model), lambda q: ctx.progress(QueryProgress(q, budget, time.perf_counter() - start)))
    try:
        out = attack.run(watched, x, y, target, cancel=_StopWhen(ctx))
    except AttackCancelled:
        return None
    adv, adv_probs = _np(out.x_adv)[0, 0], _np(out.probs)[0].astype(np.float32)
    traj = out.trajectory
    if traj is not None and len(traj):
        frames = traj.images[:, 0, 0].astype(np.float32).copy()
        frame_probs = traj.probs[:, 0].astype(np.float32).copy()
        frame_step, frame_restart = traj.step.copy(), traj.restart.copy()
        frame_queries = None if traj.queries is None else traj.queries[:, 0].astype(np.int64).copy()
    else:  # one-step attacks: the start and the result
        frames = np.stack([image[0, 0], adv]).astype(np.float32)
        frame_probs = np.stack([clean_probs, adv_probs]).astype(np.float32)
        frame_step, frame_restart = np.array([0, 1]), np.array([0, 0])
        frame_queries = None
    n_frames = len(frames)
    frames, frame_probs, frame_step, frame_restart = _end_on_result(
        frames, frame_probs, frame_step, frame_restart, adv, adv_probs)
    return InputAttackResult(
        attack=req.attack, params=copy.deepcopy(out.params), settings=dict(req.settings),
        clean=image[0, 0].copy(), adversarial=adv, perturbation=_np(out.perturbation)[0, 0],
        clean_probs=clean_probs, adv_probs=adv_probs, success=bool(out.success[0]),
        linf=float(out.linf[0]), l2=float(out.l2[0]), l0=int(out.l0[0]),
        frames=frames, frame_probs=frame_probs, frame_step=frame_step, frame_restart=frame_restart,
        seconds=round(time.perf_counter() - start, 3), target=req.target,
        breakdown=dict(out.breakdown) if out.breakdown else None,
        frame_queries=_pad(frame_queries, len(frames) - n_frames), queries=int(watched.calls),
    )


def _pad(queries: np.ndarray | None, extra: int) -> np.ndarray | None:
    """The per-frame query counts with the result frame _end_on_result may append (it made no new query)."""
    if queries is None or extra <= 0 or not len(queries):
        return queries
    return np.concatenate([queries, np.repeat(queries[-1:], extra)])


def _end_on_result(frames: np.ndarray, probs: np.ndarray, step: np.ndarray, restart: np.ndarray,
                   adv: np.ndarray, adv_probs: np.ndarray) -> tuple[np.ndarray, ...]:
    """The scrubber's last frame is the result the attack returned: C&W keeps the smallest-L2 success of all its
    search rounds and PGD its first success, which need not be the last iterate recorded; that one is appended
    (marked step -1), so the last frame, the result line and the norms table agree."""
    if np.array_equal(frames[-1], adv):
        probs = probs.copy()
        probs[-1] = adv_probs  # the same image: the result's own probabilities, to the last digit
        return frames, probs, step, restart
    return (np.concatenate([frames, adv[None]]).astype(np.float32), np.concatenate([probs, adv_probs[None]]),
            np.append(step, -1), np.append(restart, restart[-1]))
