"""The defense lab's requests, replies and worker handlers: "defense" (a defense's accuracy against ε under the
plain attack, the adaptive attack and, for comparison, on the undefended model; for a distilled model also C&W L2
on it and on the undefended model) and "use_defense" (the defended model becomes the worker's current model, so
the studio's live attack goes through it).

The messages are in messages.py; the handlers run on the worker thread alone and import torch inside."""

from __future__ import annotations

import copy
import threading
import time

from advstudio.gui.features.defenses.messages import (
    DEFENSE_KIND,
    TRANSFORM_KINDS,
    USE_KIND,
    CWSummary,
    DefenseCancelled,
    DefenseCurve,
    DefenseProgress,
    DefenseRequest,
    DefenseResult,
    DefenseSpec,
    UseDefenseRequest,
    attack_title,
    cw_summary,
    steps_of,
)
from advstudio.gui.models import ModelEntry, ModelInfo
from advstudio.gui.worker import JobContext, Worker

CW_BATCH = 25  # images per C&W call: drawing is answered and Cancel is read between them (and between steps)


# ---------------------------------------------------------------------------------------------- worker side
def register_defense(worker: Worker) -> None:
    """Add the two kinds: evaluations yield to the drawing between batches; a model swap goes first."""
    if not worker.has_kind(DEFENSE_KIND):
        worker.register(DEFENSE_KIND, defense_job, priority=1)
        worker.register(USE_KIND, use_defense_job, priority=30)


class _StopWhen:
    """The cancel flag defense_curve checks: the worker's own, or this request's Event."""

    def __init__(self, ctx: JobContext, event: threading.Event) -> None:
        self.ctx, self.event = ctx, event

    def is_set(self) -> bool:
        return self.ctx.cancelled or self.event.is_set()


def undefended_model(ctx: JobContext):
    """The studio's model without any defense this module put on it."""
    active = ctx.state.values.get("defense_active")
    if active is not None and ctx.state.model is active["wrapper"]:
        return active["base"]
    if ctx.state.model is None:
        raise RuntimeError("No model is loaded yet; open a model file (File ▸ Open model…).")
    return ctx.state.model


def _entry_model(ctx: JobContext, entry: ModelEntry):
    if entry.path is None:
        return ctx.state.session_model(entry.key, entry.name)
    return ctx.state.model_file(entry.path)[0]


def _member_classes(ctx: JobContext, members) -> list[tuple[str, ...]]:
    """The class names the ensemble's model files record (a model trained in this session records none)."""
    from advstudio.core.model_meta import model_classes

    return [model_classes(ctx.state.model_file(m.path)[1]) for m in members if m.path is not None]


def defended_classes(ctx: JobContext, spec: DefenseSpec, file_meta: dict | None, base: tuple[str, ...]) -> tuple:
    """The class names of the defended model: a transform's are its base model's, an ensemble's its first model
    file's, a distilled model's its file's own."""
    from advstudio.core.model_meta import model_classes

    if spec.kind == "distillation" and file_meta is not None:
        return model_classes(file_meta)
    if spec.kind == "ensemble":
        return next(iter(_member_classes(ctx, spec.members)), base)
    return base


def _temperature(spec: DefenseSpec, meta: dict) -> float:
    from advstudio.core.defenses.builders import recorded_temperature

    t = spec.temperature or recorded_temperature(meta)
    if not t:
        raise ValueError("This model file does not record a distillation temperature: set T in the Defenses tab.")
    return float(t)


def _build(ctx: JobContext, spec: DefenseSpec, transfer: bool = True):
    """(BuiltDefense, file metadata or None) for `spec`, with the tab's own messages. Transforms wrap the studio's
    undefended model; `transfer` False: the ensemble's transfer member is not used (nor checked)."""
    from advstudio.core.defenses import builders as B

    if spec.kind in TRANSFORM_KINDS:
        base = undefended_model(ctx)
        built = B.transform_defense(base, spec.kind, eot_samples=spec.eot_samples, bits=spec.bits, size=spec.size,
                                    quality=spec.quality, sigma=spec.sigma)
        return built, None
    if spec.kind == "ensemble":
        if len(spec.members) < 2:
            raise ValueError("An ensemble needs at least two models: tick two or more.")
        if transfer and not 0 <= spec.transfer_from < len(spec.members):
            raise ValueError(f"Member {spec.transfer_from} is not in the ensemble.")
        members = [_entry_model(ctx, m) for m in spec.members]
        counts = sorted({len(c) for c in _member_classes(ctx, spec.members)})
        if len(counts) > 1:  # their outputs could not be averaged
            raise ValueError(f"The ensemble's models have different numbers of classes ({', '.join(map(str, counts))}):"
                             " tick models trained on the same dataset.")
        return B.ensemble_defense(members, spec.transfer_from if transfer else 0), None
    if spec.kind == "distillation":
        if not spec.distilled:
            raise ValueError("Choose the distilled model file first.")
        model, file_meta = ctx.state.model_file(spec.distilled)
        return B.distillation_defense(model, _temperature(spec, file_meta)), file_meta
    raise ValueError(f"Unknown defense {spec.kind!r}")


def build_defended(ctx: JobContext, spec: DefenseSpec, base_name: str, base_classes: tuple[str, ...] = ()):
    """(deployed model for the studio, its name, metadata): what "Use as current model" installs; the metadata
    records the defended model's classes (`base_classes`: the undefended model's)."""
    wrapper, base, name, meta, file_meta = _defended(ctx, spec, base_name)
    classes = defended_classes(ctx, spec, file_meta, tuple(base_classes))
    if classes:
        meta["num_classes"], meta["classes"] = len(classes), list(classes)
    return wrapper, base, name, meta


def _defended(ctx: JobContext, spec: DefenseSpec, base_name: str):
    built, file_meta = _build(ctx, spec, transfer=False)
    if spec.kind in TRANSFORM_KINDS:
        base = built.plain.model  # the undefended model the transform wraps
        name = f"{base_name} + {spec.short()}"
        meta = {"defense": spec.kind, "defense_params": dict(built.params), "base_model": base_name,
                "attacker_gradient": spec.adaptive_how()}
        return built.live, base, name, meta, None
    if spec.kind == "ensemble":
        meta = {"defense": "ensemble", "defense_params": {"members": [m.name for m in spec.members]},
                "attacker_gradient": spec.adaptive_how()}
        return built.live, undefended_model(ctx), spec.short(), meta, None
    from advstudio.core.storage import model_display_name

    t = built.params["temperature"]
    name = f"{model_display_name(spec.distilled, file_meta)} (distilled, T={t:g})"
    meta = {"defense": "distillation", "defense_params": {"temperature": t}, "distilled_file": spec.distilled,
            "attacker_gradient": spec.adaptive_how()}
    acc = file_meta.get("test_accuracy")
    if isinstance(acc, (int, float)):
        meta["test_accuracy"], meta["test_samples"] = acc, file_meta.get("test_samples", "?")
    return built.live, undefended_model(ctx), name, meta, file_meta


def use_defense_job(ctx: JobContext, req: UseDefenseRequest) -> ModelInfo:
    """Install the defended model as the current one, the way load_model_job installs a file."""
    from advstudio.core.model import device_label

    ctx.state.ensure_device()
    wrapper, base, name, meta = build_defended(ctx, req.spec, req.base_name, req.base_classes)
    meta["base_path"] = req.base_path
    ctx.state.set_model(wrapper)
    ctx.state.values["defense_active"] = {"wrapper": wrapper, "base": base}
    where = f"not a file: {req.base_name} wrapped in {req.spec.short()} for this session" \
        if req.spec.kind in TRANSFORM_KINDS else f"not a file: {req.spec.short()} built in this session"
    return ModelInfo(name, where, device_label(ctx.state.device), meta, False)


def _setup(ctx: JobContext, req: DefenseRequest, built, file_meta):
    """(deployed, plain craft, adaptive craft, undefended model, undefended craft, names, notes)."""
    from advstudio.core.evaluation.defense import craft_linf as linf

    spec = req.spec
    plain, adaptive = built.crafts(req.attack, req.steps, budget=req.budget)

    def craft_linf(model, attack, steps):  # the undefended model is deterministic: AutoAttack "standard"
        return linf(model, attack, steps, budget=req.budget)

    if spec.kind in TRANSFORM_KINDS:
        base = built.plain.model  # the undefended model the transform wraps
        return (built.deployed, plain, adaptive, base, craft_linf(base, req.attack, req.steps),
                f"{req.base_name} + {spec.short()}", req.base_name, ())
    if spec.kind == "ensemble":
        src = built.plain  # the member the plain attacker transfers from: the undefended reference
        return (built.deployed, plain, adaptive, src, plain, spec.short(), spec.members[spec.transfer_from].name,
                ())
    base = undefended_model(ctx)
    notes = []
    if not (file_meta.get("recipe") or {}).get("temperature"):
        notes.append("The model file's metadata does not say it was distilled.")
    notes.append(f"The undefended curve is the studio's model ({req.base_name}), not the distilled model's "
                 "teacher.")
    from advstudio.core.storage import model_display_name

    name = f"{model_display_name(spec.distilled, file_meta)} (distilled, T={built.params['temperature']:g})"
    return (built.deployed, plain, adaptive, base, craft_linf(base, req.attack, req.steps), name, req.base_name,
            tuple(notes))


def defense_job(ctx: JobContext, req: DefenseRequest) -> DefenseResult | DefenseCancelled:
    """Three curves with core.defense_eval.defense_curve: the undefended model under the attack, the defense
    under the plain attack, and the defense under the adaptive attack (each judged by the deployed defense)."""
    from advstudio.core.errors import AttackCancelled, EvaluationCancelled
    from advstudio.core.evaluation.defense import DEFENSE_ATTACKS, attack_params, defense_curve

    if req.attack not in DEFENSE_ATTACKS:
        raise ValueError(f"Unknown attack {req.attack!r}: FGSM, PGD or AutoAttack")
    ctx.state.ensure_device()
    built, file_meta = _build(ctx, req.spec)
    version = built.autoattack_version() if req.attack == "autoattack" else ""
    deployed, plain, adaptive, base, base_craft, name, base_name, notes = _setup(ctx, req, built, file_meta)
    split = ctx.state.split(req.data_dir, "test").head(req.n)
    n = len(split)
    per_curve = n * max(1, sum(1 for e in req.eps if e > 0))
    with_cw = req.spec.kind == "distillation"
    total = 3 * per_curve + (2 * n if with_cw else 0)
    stop = _StopWhen(ctx, req.cancel)
    start = time.perf_counter()
    last_emit = [0.0]
    steps = steps_of(req.attack, req.steps)
    title = attack_title(req.attack, steps, version, req.budget)
    spec = req.spec
    tag = {"bit_depth": " (BPDA)", "jpeg": " (BPDA)", "gaussian_noise": f" (EOT {spec.eot_samples})",
           "ensemble": " (whole ensemble)", "distillation": " (logits / T)"}.get(spec.kind, "")
    source = f" from member {spec.transfer_from}" if spec.kind == "ensemble" else ""
    runs = (
        ("undefended", base, base_craft, f"undefended {base_name} · {title} · n = {n}",
         "white-box on the undefended model"),
        ("plain", deployed, plain, f"{spec.short()} · plain {title}{source} · n = {n}", spec.plain_how()),
        ("adaptive", deployed, adaptive, f"{spec.short()} · adaptive {title}{tag} · n = {n}",
         spec.adaptive_how()),
    )
    base_params = attack_params(req.attack, req.steps, None, version=version or "standard", budget=req.budget)
    curves: list[DefenseCurve] = []
    offset = 0
    try:
        for role, model, craft, label, how in runs:
            def report(done: int, _total: int, b=offset, what=label) -> None:
                now = time.perf_counter()
                if now - last_emit[0] >= 0.1 or b + done >= total:
                    last_emit[0] = now
                    ctx.progress(DefenseProgress(b + done, total, what, now - start))
                ctx.serve_interactive()  # drawing and the ε slider stay live

            report(0, per_curve)
            params = {**base_params, "defense": spec.kind, "role": role, "attacker": how}
            curve = defense_curve(model, craft, split.images, split.labels, req.eps, req.attack, params,
                                  batch_size=req.batch_size, seed=req.seed, progress=report, cancel=stop)
            curves.append(DefenseCurve(role, label, how, copy.deepcopy(curve)))
            offset += per_curve
        cw: list[CWSummary] = []
        if with_cw:
            for role, model, who in (("distilled", deployed, name), ("undefended", base, base_name)):
                def report_cw(done: int, b=offset, what=f"C&W L2 on the {role} model ({who})") -> None:
                    now = time.perf_counter()
                    last_emit[0] = now
                    ctx.progress(DefenseProgress(b + done, total, what, now - start))
                    ctx.serve_interactive()

                cw.append(cw_on_model(model, split.images, split.labels, role, who, spec, stop, report_cw))
                offset += n
        ctx.progress(DefenseProgress(offset, total, "gradient-masking checks on the adaptive attacker's model",
                                     time.perf_counter() - start))
        masking = attacked_checks(built.adaptive, split, curves[-1].curve, stop)
    except (EvaluationCancelled, AttackCancelled):
        return DefenseCancelled(offset, total)
    if stop.is_set():
        return DefenseCancelled(offset, total)
    return DefenseResult(spec, req.attack, steps, n, tuple(float(e) for e in req.eps), name, base_name,
                         tuple(curves), round(time.perf_counter() - start, 3), tuple(notes), tuple(cw), masking,
                         version, float(req.budget))


def attacked_checks(model, split, curve, stop) -> tuple:
    """core.evaluation.masking on the model the adaptive attacker differentiates (with an AutoAttack curve's
    breakdown at the largest ε when it has one), as plain MaskingNotes."""
    from advstudio.core.errors import EvaluationCancelled
    from advstudio.core.evaluation.masking import last_breakdown, sample_checks
    from advstudio.gui.widgets.masking import notes_from_checks

    if stop.is_set():
        raise EvaluationCancelled("evaluation cancelled")
    return notes_from_checks(sample_checks(model, split.images, split.labels, last_breakdown(curve)))


def cw_on_model(model, images, labels, role: str, name: str, spec: DefenseSpec, cancel=None,
                progress=None) -> CWSummary:
    """C&W L2 (core.attacks make_attack("cw"), spec's steps and c-searches, the other settings at their
    defaults) on `model`, CW_BATCH images at a time; `progress(done)` after each batch. Cancel raises
    AttackCancelled (between C&W steps)."""
    import numpy as np
    import torch

    from advstudio.core.attacks import make_attack

    attack = make_attack("cw", steps=int(spec.cw_steps), binary_search_steps=int(spec.cw_searches))
    device = next(model.parameters()).device
    success, correct, l2 = [], [], []
    if progress is not None:
        progress(0)
    for i in range(0, len(labels), CW_BATCH):
        xb = images[i : i + CW_BATCH].to(device)
        yb = labels[i : i + CW_BATCH].to(device)
        out = attack.run(model, xb, yb, cancel=cancel)
        success.append(out.success.cpu().numpy())
        correct.append((out.clean_pred == out.labels).cpu().numpy())
        l2.append(out.l2.detach().to(torch.float64).cpu().numpy())
        if progress is not None:
            progress(i + len(yb))

    def cat(parts: list) -> np.ndarray:
        return np.concatenate(parts) if parts else np.zeros(0)

    return cw_summary(role, name, cat(success), cat(correct), cat(l2), spec.cw_steps, spec.cw_searches)
