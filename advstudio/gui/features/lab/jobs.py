"""Worker handler of the robustness lab ("lab"): curves, confusion under attack and confident mistakes over the
test set.

Runs on the worker thread only (torch imported inside); everything handed back is a numpy copy in a frozen
dataclass."""

from __future__ import annotations

import copy
import time

from advstudio.core.describe import short_label
from advstudio.gui.features.lab.messages import LAB_KIND, LabCancelled, LabCurve, LabProgress, LabRequest, LabResult
from advstudio.gui.models import ModelEntry
from advstudio.gui.worker import JobContext, Worker

MISTAKES_SHOWN = 16


def register_lab(worker: Worker) -> None:
    """Add the kind; the lab yields to interactive requests (the ε slider) between its batches."""
    if not worker.has_kind(LAB_KIND):
        worker.register(LAB_KIND, lab_job, priority=1)


class StopWhen:
    """A cancel flag for the attacks (they only call is_set): the worker's own flag, a newer request of the same
    kind, or the request's own Event."""

    def __init__(self, ctx: JobContext, event=None) -> None:
        self.ctx, self.event = ctx, event

    def is_set(self) -> bool:
        return self.ctx.should_stop() or (self.event is not None and self.event.is_set())


def lab_model(ctx: JobContext, entry: ModelEntry):
    """(model, display name, path) for a registry entry: a model trained in this session, or a file (the
    worker's one model-file cache)."""
    from advstudio.core.storage import model_display_name

    if entry.path is None:
        model = ctx.state.session_model(entry.key, entry.name)
        return model, entry.name, f"(trained in this session: {entry.name})"
    model, meta = ctx.state.model_file(entry.path)
    return model, model_display_name(entry.path, meta), str(entry.path)


def lab_job(ctx: JobContext, req: LabRequest) -> LabResult | LabCancelled | None:
    """One curve per spec (attack_curve, as `advstudio evaluate` computes it), then the same attack at the
    largest ε once more, keeping per-sample results for the confusion matrix and the mistake gallery."""
    from advstudio.core.attacks import ATTACKS, make_attack
    from advstudio.core.errors import EvaluationCancelled
    from advstudio.core.evaluation.lab import attack_curve, evaluate_attack

    split = ctx.state.split(req.data_dir, "test").head(req.n)
    n = len(split)
    stop = StopWhen(ctx, req.cancel)
    runs = [sum(1 for e in req.eps if e > 0) if ATTACKS[s.attack].uses_eps else 1 for s in req.specs]
    total = sum(n * (r + 1) for r in runs)
    start = time.perf_counter()
    offset = 0
    curves: list[LabCurve] = []
    last_emit = [0.0]
    checked: dict[str, tuple] = {}  # model key → its masking checks (run once per model)

    def report(done: int, label: str) -> None:
        now = time.perf_counter()
        if now - last_emit[0] >= 0.1 or done >= total:
            last_emit[0] = now
            ctx.progress(LabProgress(done, total, label, now - start))
        ctx.serve_interactive()  # the ε slider stays live while the lab runs

    for entry in {spec.model.key: spec.model for spec in req.specs}.values():  # refused before any curve
        model, name, _path = lab_model(ctx, entry)
        check_classes(model_outputs(model, split), name, split)
    try:
        for spec, r in zip(req.specs, runs):
            model, name, path = lab_model(ctx, spec.model)
            outputs = model_outputs(model, split)
            classes = lab_classes(ctx, spec.model, outputs, split)
            check_target(req.target, name, classes, outputs)
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
            if spec.model.key not in checked:
                checked[spec.model.key] = model_checks(model, split, stop)
            curves.append(LabCurve(
                model=spec.model, model_name=name, model_path=path, curve=_frozen_curve(curve),
                detail_eps=float(detail), confusion=evaluation.confusion(radius, len(classes)).copy(),
                mistakes=evaluation.most_confident_mistakes(MISTAKES_SHOWN, radius),
                masking=checked[spec.model.key] + breakdown_notes(curve), classes=classes))
    except EvaluationCancelled:
        return LabCancelled(offset, total)
    if stop.is_set():
        return LabCancelled(offset, total)
    return LabResult(tuple(curves), round(time.perf_counter() - start, 3))


def model_outputs(model, split) -> int:
    """How many classes the model gives scores for (one forward pass of the first two images)."""
    from advstudio.core.model import output_count

    if not len(split):
        return split.num_classes
    return output_count(model, split.images[:2].to(next(model.parameters()).device))


def check_classes(outputs: int, model_name: str, split) -> None:
    """ModelFileError, in words, when the model's outputs are not the test images' classes (as `advstudio evaluate`
    refuses it): a ten-digit model cannot be scored on 26 letters, nor a letters model on the digits."""
    from advstudio.core.errors import ModelFileError

    if outputs != split.num_classes:
        raise ModelFileError(f"{model_name} has {outputs} classes but the test images in {split.source} have "
                             f"{split.num_classes}: untick it, or choose the dataset it was trained on.")


def lab_classes(ctx: JobContext, entry: ModelEntry, outputs: int, split) -> tuple[str, ...]:
    """The names of the classes the confusion matrix counts: as many as the larger of the data's classes and the
    model's outputs; named by the model file's metadata, else by the data (a model trained in this session was
    trained on it), else numbered."""
    from advstudio.core.model_meta import class_names

    k = max(outputs, split.num_classes)
    if entry.path is not None:
        names = class_names(ctx.state.model_file(entry.path)[1])
        if names is not None and len(names) == k:
            return tuple(str(n) for n in names)
    if len(split.classes) == k:
        return tuple(split.classes)
    return tuple(str(i) for i in range(k))


def check_target(target: int | None, model_name: str, classes: tuple[str, ...], outputs: int) -> None:
    """A readable error for a target class the model does not have (the form's target may exceed it)."""
    from advstudio.core.errors import AdvStudioError
    from advstudio.core.model_meta import name_of

    if target is not None and not 0 <= target < outputs:
        raise AdvStudioError(f"The target class {target} is not a class of {model_name}: it has {outputs} classes "
                             f"(0 = {name_of(0, classes)} to {outputs - 1} = {name_of(outputs - 1, classes)}).")


def model_checks(model, split, stop) -> tuple:
    """core.evaluation.masking's checks of the model itself (outputs, randomness, zero gradients, large ε), as
    plain MaskingNotes."""
    from advstudio.core.errors import EvaluationCancelled
    from advstudio.core.evaluation.masking import sample_checks
    from advstudio.gui.widgets.masking import notes_from_checks

    if stop.is_set():
        raise EvaluationCancelled("evaluation cancelled")
    return notes_from_checks(sample_checks(model, split.images, split.labels))


def breakdown_notes(curve) -> tuple:
    """An AutoAttack curve's "black-box beats white-box" check, from its breakdown at the largest ε (else ())."""
    from advstudio.core.evaluation.masking import breakdown_check, last_breakdown
    from advstudio.gui.widgets.masking import notes_from_checks

    check = breakdown_check(last_breakdown(curve))
    return notes_from_checks([check]) if check is not None else ()


def _frozen_curve(curve):
    """A deep copy, so nothing the worker keeps is shared with the GUI thread."""
    return copy.deepcopy(curve)
