"""The Activations dock's worker handler: ReLU statistics, histograms and feature maps of the studio's input
and of its attacked version at ε. Runs on the worker thread only."""

from __future__ import annotations

import numpy as np

from advstudio.gui.directions import cached_direction, image_tensor
from advstudio.gui.features.activations.messages import ActivationsData, ActivationsRequest
from advstudio.gui.messages import TARGETED
from advstudio.gui.worker import JobContext, Worker

KIND = "activations"


def register_activations(worker: Worker) -> None:
    """Same priority as the studio's analyze: ties go to the request waiting longest, so neither starves while ε
    is dragged; interactive, so training serves it between batches."""
    if not worker.has_kind(KIND):
        worker.register(KIND, activations_job, priority=20, interactive=True)


def activations_job(ctx: JobContext, req: ActivationsRequest) -> ActivationsData:
    """Two forward passes with the monitor's hooks; the FGSM direction comes from the cache the studio's
    analyze job fills (the same model version and input)."""
    from advstudio.core.activations import ActivationMonitor
    from advstudio.core.attacks.fgsm import apply_perturbation

    model = ctx.state.require_model()
    image = np.ascontiguousarray(req.image, dtype=np.float32).reshape(28, 28)
    s = req.settings
    x = image_tensor(image, ctx.state.device)
    direction, _ = cached_direction(ctx.state, model, ("studio", ctx.state.model_version), x, image, s.method,
                                    s.target)
    x_adv, _ = apply_perturbation(x, direction, float(s.eps))
    with ActivationMonitor(model, ranges=req.ranges, feature_maps=True) as monitor:
        clean_logits, adv_logits = monitor.compare(x, x_adv)
        params = {"eps": float(s.eps), "steps": 1, "targeted": s.method == TARGETED}
        comparison = monitor.comparison(attack="fgsm", params=params)
    names = tuple(req.classes)
    if len(names) != int(clean_logits.shape[1]):  # names that are not one per output would mislabel them
        names = ()
    return ActivationsData(image.copy(), s, comparison, int(clean_logits.argmax(1)[0]), int(adv_logits.argmax(1)[0]),
                           names)
