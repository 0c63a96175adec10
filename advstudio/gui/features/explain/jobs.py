"""Worker side of the "Why it breaks" tab: attributions (live, on the studio's model and the other bundled one),
the loss landscape, the decision plane and the penultimate-layer projection (on demand) of the current drawing.

Handlers run on the worker thread only (torch imported inside them); what they hand back is numpy copies and plain
values in the frozen messages of messages.py. The adversarial input of every picture is the studio's FGSM at the
studio's ε, computed for each model on that model (each model is attacked on its own gradient)."""

from __future__ import annotations

import time

import numpy as np

from advstudio.gui.directions import cached_direction, image_tensor, probabilities
from advstudio.gui.features.explain.messages import (
    ATTRIBUTE_KIND,
    BOUNDARY_KIND,
    LANDSCAPE_KIND,
    LANDSCAPE_MODELS,
    PROJECTION_KIND,
    THIRD_POINTS,
    Attack,
    AttributeRequest,
    AttributeResult,
    AttributionRow,
    BoundaryRequest,
    BoundaryResult,
    ExplainCancelled,
    ExplainProgress,
    LandscapeRequest,
    LandscapeResult,
    ModelChoice,
    ProjectionRequest,
    ProjectionResult,
)
from advstudio.gui.worker import JobContext, Worker

PGD_STEPS = 40  # the decision plane's and the projection's attack: PGD at the studio's ε, step 2.5·ε/steps
PROJECTION_CACHE = 4  # test-set projections kept (per model version and dataset)


def register_explain(worker: Worker) -> None:
    """Attributions follow the drawing and ε live (after the studio's own answer); the rest is on demand."""
    if not worker.has_kind(ATTRIBUTE_KIND):
        worker.register(ATTRIBUTE_KIND, attribute_job, priority=15, interactive=True)
        worker.register(LANDSCAPE_KIND, landscape_job, priority=9)
        worker.register(BOUNDARY_KIND, boundary_job, priority=9)
        worker.register(PROJECTION_KIND, projection_job, priority=2)


class _Stop:
    """Stop when the worker closes, a newer request of this kind waits, or the request's own Event is set."""

    def __init__(self, ctx: JobContext, event=None) -> None:
        self.ctx, self.event = ctx, event

    def is_set(self) -> bool:
        return self.ctx.should_stop() or (self.event is not None and self.event.is_set())


def _reporter(ctx: JobContext, label: str, start: float, serve: bool = False):
    """A progress callback sending (done, total) as ExplainProgress, at most ten times a second; `serve`: also
    answer the drawing's waiting requests between batches (a long job)."""
    last = [0.0]

    def report(done: int, total: int) -> None:
        now = time.perf_counter()
        if now - last[0] >= 0.1 or done >= total:
            last[0] = now
            ctx.progress(ExplainProgress(done, total, label, now - start))
        if serve:
            ctx.serve_interactive()

    return report


def _model(ctx: JobContext, choice: ModelChoice):
    """(model, key for the direction cache, class names or ()) of a choice: the studio's model, or a model file."""
    if choice.path is None:
        return ctx.state.require_model(), ("studio", ctx.state.model_version), tuple(choice.classes)
    model, meta = ctx.state.model_file(choice.path)
    return model.eval(), ("file", choice.path), tuple(choice.classes) or _meta_names(meta)


def _meta_names(meta) -> tuple[str, ...]:
    from advstudio.core.model_meta import model_classes

    return model_classes(meta) if isinstance(meta, dict) else ()


def class_names(names, outputs: int) -> tuple[str, ...]:
    """The names of a model's `outputs` classes: `names` when there is one for each, else "0".."outputs − 1"."""
    names = tuple(str(n) for n in names)
    return names if len(names) == outputs else tuple(str(i) for i in range(outputs))


def _fgsm(ctx: JobContext, model, key, image: np.ndarray, attack):
    """(x, x_adv, clean probabilities, adversarial probabilities) for the studio's FGSM at ε on `model`."""
    from advstudio.core.attacks.fgsm import apply_perturbation

    x = image_tensor(image, ctx.state.ensure_device())
    direction, clean = cached_direction(ctx.state, model, ("explain",) + key, x, image, attack.method, attack.target)
    x_adv, _ = apply_perturbation(x, direction, float(attack.eps))
    return x, x_adv, clean[0], probabilities(model, x_adv)[0]


def attribute_job(ctx: JobContext, req: AttributeRequest) -> AttributeResult | None:
    """The chosen attribution of the drawing and of its adversarial version, for each model of the request."""
    import torch

    from advstudio.core.explain.attribution import SIGNED, attribute, ink_share

    start = time.perf_counter()
    image = np.ascontiguousarray(req.image, dtype=np.float32).reshape(28, 28)
    settings = dict(req.settings)
    rows, params = [], {}
    for choice in req.models:
        if ctx.should_stop():
            return None
        model, key, names = _model(ctx, choice)
        x, x_adv, p_clean, p_adv = _fgsm(ctx, model, key, image, req.attack)
        classes = (int(p_clean.argmax()), int(p_adv.argmax()))
        batch = torch.cat([x, x_adv])
        attr = attribute(model, batch, req.method, targets=list(classes), **settings)
        params = dict(attr.params)
        images = batch[:, 0].detach().cpu().numpy()
        shares = ink_share(attr.maps, np.stack([image, image]))  # "on the ink" means the drawing's own strokes
        delta = None if attr.relative_delta is None else tuple(float(d) for d in attr.relative_delta)
        rows.append(AttributionRow(choice.name, images[0].copy(), images[1].copy(),
                                   np.asarray(attr.maps, dtype=np.float32).copy(), classes,
                                   (float(p_clean[classes[0]]), float(p_adv[classes[1]])),
                                   (float(shares[0]), float(shares[1])), delta, class_names(names, len(p_clean))))
    return AttributeResult(req.method, bool(SIGNED[req.method]), params, req.attack, tuple(rows),
                           round(time.perf_counter() - start, 4))


def _landscape_models(ctx: JobContext, req: LandscapeRequest):
    """(model judged, model whose gradient gives the direction, name, direction words, class names) for the
    request."""
    from advstudio.core.defenses import DefendedModel
    from advstudio.core.defenses.builders import make_transform

    if req.model not in LANDSCAPE_MODELS:
        raise ValueError(f"unknown landscape model {req.model!r}")
    if req.model == "other":
        if req.other is None:
            raise ValueError("There is no other bundled model to compare with.")
        model, _, names = _model(ctx, req.other)
        return model, model, req.other.name, "its own gradient", names
    base, _, names = _model(ctx, req.current)
    if req.model == "current":
        return base, base, req.current.name, "its own gradient", names
    t = make_transform(req.model)
    plain = DefendedModel(base, t, adaptive=False).eval()
    name = f"{req.current.name} behind " + {"jpeg": "JPEG (quality 50)", "bit_depth": "bit depth (2 bits)"}[req.model]
    if req.direction == "bpda":
        return (plain, DefendedModel(base, t, adaptive=True).eval(), name, "the gradient without the defense (BPDA)",
                names)
    return plain, plain, name, "the gradient the defense shows (zero through it)", names


def landscape_job(ctx: JobContext, req: LandscapeRequest) -> LandscapeResult | None:
    """The loss of the model's reading on the plane x + a·sign(∇) + b·r around the drawing."""
    from advstudio.core.errors import Cancelled
    from advstudio.core.explain.landscape import loss_landscape
    from advstudio.core.model import output_count

    start = time.perf_counter()
    model, direction_model, name, words, names = _landscape_models(ctx, req)
    x = image_tensor(np.asarray(req.image, dtype=np.float32), ctx.state.ensure_device())
    names = class_names(names, output_count(model, x))
    try:
        land = loss_landscape(model, x, None, float(req.eps), direction_model=direction_model, direction_name=words,
                              grid=int(req.grid), cancel=_Stop(ctx),
                              progress=_reporter(ctx, "the loss at each point of the plane", start))
    except Cancelled:
        return None
    return LandscapeResult(np.asarray(land.a).copy(), np.asarray(land.b).copy(), np.asarray(land.loss).copy(),
                           np.asarray(land.pred).copy(), int(land.label), int(land.clean_pred), float(land.eps),
                           float(land.span), bool(land.gradient_zero), float(land.flipped_share()),
                           float(land.rise_along("a")), float(land.rise_along("b")), name, req,
                           round(time.perf_counter() - start, 3), names)


def _pgd(model, x, eps: float, record: bool = True):
    """PGD at ε away from the model's reading of x, every iterate recorded (early stop off: the path goes on)."""
    import torch

    from advstudio.core.attacks.registry import make_attack

    with torch.no_grad():  # not inference mode: the attack's autograd uses y
        y = model(x).argmax(1)
    attack = make_attack("pgd", eps=float(eps), steps=PGD_STEPS, step_size=2.5 * float(eps) / PGD_STEPS,
                         restarts=1, random_start=False, early_stop=False, record_trajectory=record)
    return attack.run(model, x, y)


def boundary_job(ctx: JobContext, req: BoundaryRequest) -> BoundaryResult | None:
    """The plane through the drawing, its adversarial version and a third point, coloured by class, with the
    attack's path on it."""
    import torch

    from advstudio.core.errors import Cancelled
    from advstudio.core.explain.boundary import decision_plane

    if req.third not in THIRD_POINTS:
        raise ValueError(f"unknown third point {req.third!r}")
    start = time.perf_counter()
    model = ctx.state.require_model()
    image = np.ascontiguousarray(req.image, dtype=np.float32).reshape(28, 28)
    x, fgsm_adv, _, _ = _fgsm(ctx, model, ("studio", ctx.state.model_version), image, Attack("fgsm", None, req.eps))
    path = None
    if req.attack == "pgd":
        out = _pgd(model, x, req.eps)
        x_adv = out.x_adv[:1]
        if out.trajectory is not None:
            path = torch.from_numpy(np.asarray(out.trajectory.images)[:, 0].copy())
    else:
        x_adv = fgsm_adv
        path = torch.cat([x, x_adv]).cpu()
    if req.third == "fgsm" and req.attack != "fgsm":
        third, third_name = fgsm_adv, "FGSM's result"
    else:
        third, third_name = None, "a random direction"
    if torch.equal(x_adv, x):
        raise ValueError("At ε = 0 the attack does not move the drawing: raise ε to see a plane.")
    if third is not None and torch.equal(third, x):
        third, third_name = None, "a random direction"
    try:
        plane = decision_plane(model, x, x_adv, third, path=path, third_name=third_name, grid=int(req.grid),
                               cancel=_Stop(ctx), progress=_reporter(ctx, "the class at each point of the plane", start))
    except Cancelled:
        return None
    adv_pred = int(probabilities(model, x_adv)[0].argmax())
    clean_probs = probabilities(model, x)[0]
    clean_pred = int(clean_probs.argmax())
    return BoundaryResult(np.asarray(plane.u).copy(), np.asarray(plane.v).copy(), np.asarray(plane.pred).copy(),
                          np.asarray(plane.confidence).copy(), {k: tuple(map(float, v)) for k, v in plane.points.items()},
                          None if plane.path is None else np.asarray(plane.path).copy(),
                          None if plane.path_off_plane is None else np.asarray(plane.path_off_plane).copy(),
                          plane.crossing(), float(plane.clamped_share), clean_pred, adv_pred, plane.third_name,
                          req.model_name, req, round(time.perf_counter() - start, 3),
                          class_names(req.classes, len(clean_probs)))


def projection_job(ctx: JobContext, req: ProjectionRequest) -> ProjectionResult | ExplainCancelled | None:
    """The test set's penultimate layer projected to 2-D (PCA, cached per model and dataset), and the drawing's
    PGD path through the same axes. A model whose number of classes is not the dataset's is refused (its
    readings and the labels would not be the same classes)."""
    from collections import OrderedDict

    import torch

    from advstudio.core.classes import DIGITS
    from advstudio.core.errors import Cancelled, DatasetError
    from advstudio.core.explain.projection import project_dataset, project_path
    from advstudio.core.model import output_count

    start = time.perf_counter()
    model = ctx.state.require_model()
    x = image_tensor(np.asarray(req.image, dtype=np.float32), ctx.state.ensure_device())
    outputs = output_count(model, x)
    stop = _Stop(ctx, req.cancel)
    cache: OrderedDict = ctx.state.values.setdefault("explain_projections", OrderedDict())
    key = (ctx.state.model_version, req.data_dir, int(req.samples), ctx.state.values.get("data_layout"))
    cached = key in cache
    if not cached:
        test = ctx.state.split(req.data_dir, "test").head(req.samples)
        if test.num_classes != outputs:
            raise DatasetError(f"The model has {outputs} classes but the test images in {test.source} have "
                               f"{test.num_classes}: choose the folder of the data it was trained on (or its "
                               "classes under File ▸ Dataset classes).")
        n = len(test)
        label = f"reading {n:,} test {'digits' if test.classes == DIGITS else 'images'} through the network"
        report = _reporter(ctx, label, start, serve=True)
        ctx.progress(ExplainProgress(0, n, label, 0.0))
        device = ctx.state.ensure_device()
        try:
            projected = project_dataset(model, test.images.to(device), test.labels.to(device), cancel=stop,
                                        progress=report)
        except Cancelled:
            return ExplainCancelled(PROJECTION_KIND, 0, n) if not ctx.should_stop() else None
        cache[key] = (projected, tuple(test.classes))
        while len(cache) > PROJECTION_CACHE:
            cache.popitem(last=False)
    cache.move_to_end(key)
    projected, label_names = cache[key]
    out = _pgd(model, x, req.eps)
    frames = np.asarray(out.trajectory.images)[:, 0] if out.trajectory is not None else np.stack(
        [x[0].cpu().numpy(), out.x_adv[0].cpu().numpy()])
    frames_t = torch.from_numpy(np.ascontiguousarray(frames, dtype=np.float32)).to(x.device)
    path = project_path(model, projected.projection, frames_t)
    path_classes = np.asarray(out.trajectory.probs)[:, 0].argmax(1) if out.trajectory is not None else np.array(
        [int(out.clean_pred[0]), int(out.pred[0])])
    p = projected.projection
    return ProjectionResult(np.asarray(projected.coords, dtype=np.float32).copy(),
                            np.asarray(projected.labels, dtype=np.int64).copy(), np.asarray(path, np.float32).copy(),
                            np.asarray(path_classes, dtype=np.int64).copy(),
                            (float(p.explained[0]), float(p.explained[1])), p.layer, req.model_name, cached, req,
                            round(time.perf_counter() - start, 3), class_names(req.classes, outputs), label_names)
