"""What the worker thread runs: model loading, classify-and-attack, the flip search and the gallery.

Only this module (and the core it calls) touches torch; it runs on the worker thread alone."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from pathlib import Path

import numpy as np

from advstudio.core.types import AttackResult, Prediction

from advstudio.gui.messages import EPS_MAX, EPS_STEP, TARGETED, Analysis, AnalyzeRequest, FlipResult, GalleryData
from advstudio.gui.models import ModelInfo
from advstudio.gui.features.activations.messages import ActivationsData, ActivationsRequest
from advstudio.gui.worker import JobContext, Worker

DIRECTION_CACHE = 16
GALLERY_BATCH = 200  # small enough that cancelling a gallery job takes well under a second


def milli_to_eps(milli: int) -> float:
    """ε for a slider position; the slider and the flip search use this same float."""
    return round(milli * EPS_STEP, 6)


def register_all(worker: Worker, device_preference: str | None = None) -> None:
    worker.state.values["device_preference"] = device_preference
    worker.register("load_model", load_model_job, priority=30)
    worker.register("analyze", analyze_job, priority=20, interactive=True)
    # same priority as analyze: ties go to the request waiting longest, so neither starves while ε is dragged
    worker.register("activations", activations_job, priority=20, interactive=True)
    worker.register("flip", flip_job, priority=10)
    worker.register("gallery", gallery_job, priority=0)


def load_model_job(ctx: JobContext, path: str) -> ModelInfo:
    """Load and validate a safetensors model; the current model stays unless this one loads completely."""
    from advstudio.core.model import device_label, pick_device
    from advstudio.core.storage import bundled_model_path, load_model, model_display_name

    state = ctx.state
    if state.device is None:
        from advstudio.core.model import limit_threads

        limit_threads(reserve=1)  # on this thread, which makes every torch call; the GUI keeps a core
        state.device = pick_device(state.values.get("device_preference"))
    model, meta = load_model(path, state.device)
    state.model = model
    state.model_version += 1
    state.values["directions"] = OrderedDict()
    bundled = Path(path).resolve() == bundled_model_path().resolve()
    return ModelInfo(model_display_name(path, meta), str(path), device_label(state.device), dict(meta), bundled)


def _require_model(ctx: JobContext):
    if ctx.state.model is None:
        raise RuntimeError("No model is loaded yet; open a model file (File ▸ Open model…).")
    return ctx.state.model


def _tensor(image: np.ndarray, device):
    import torch

    arr = np.ascontiguousarray(image, dtype=np.float32).reshape(1, 1, 28, 28)
    return torch.from_numpy(arr.copy()).to(device)


def _probs(model, x) -> np.ndarray:
    import torch

    with torch.inference_mode():
        return torch.softmax(model(x), dim=1).cpu().numpy().astype(np.float32)


def _direction(ctx: JobContext, x, image: np.ndarray, method: str, target: int | None):
    """The FGSM sign direction and clean probabilities, cached per (model, input, method, target)."""
    import torch

    from advstudio.core.attacks.fgsm import fgsm_direction

    key = (ctx.state.model_version, hashlib.blake2b(image.tobytes(), digest_size=16).digest(), method, target)
    cache: OrderedDict = ctx.state.values.setdefault("directions", OrderedDict())
    if key in cache:
        cache.move_to_end(key)
        return cache[key]
    model = ctx.state.model
    if method == TARGETED:
        if target is None:
            raise ValueError("a targeted attack needs a target class")
        t = torch.tensor([int(target)], device=x.device)
        direction, logits = fgsm_direction(model, x, t, target=t)
        clean = torch.softmax(logits, dim=1).cpu().numpy().astype(np.float32)
    else:
        clean = _probs(model, x)
        y = torch.tensor([int(clean[0].argmax())], device=x.device)
        direction, _ = fgsm_direction(model, x, y)
    cache[key] = (direction, clean)
    while len(cache) > DIRECTION_CACHE:
        cache.popitem(last=False)
    return direction, clean


def analyze_job(ctx: JobContext, req: AnalyzeRequest) -> Analysis | None:
    """Classify the input and attack it at ε: one forward pass when the direction is cached."""
    from advstudio.core.attacks.fgsm import apply_perturbation

    model = _require_model(ctx)
    image = np.ascontiguousarray(req.image, dtype=np.float32).reshape(28, 28)
    s = req.settings
    x = _tensor(image, ctx.state.device)
    direction, clean = _direction(ctx, x, image, s.method, s.target)
    x_adv, delta = apply_perturbation(x, direction, float(s.eps))
    adv = _probs(model, x_adv)
    clean_img = image.copy()
    prediction = Prediction(probs=clean[0].copy(), image=clean_img)
    attack = AttackResult(
        clean=clean_img,
        adversarial=x_adv[0, 0].cpu().numpy().copy(),
        perturbation=delta[0, 0].cpu().numpy().copy(),
        clean_probs=clean[0].copy(),
        adv_probs=adv[0].copy(),
        eps=float(s.eps),
        method=s.method,
        target=s.target if s.method == TARGETED else None,
    )
    return Analysis(prediction, attack)


def activations_job(ctx: JobContext, req: ActivationsRequest) -> ActivationsData:
    """ReLU statistics, histograms and feature maps of the input and of its attacked version at ε (two forward
    passes with the monitor's hooks; the FGSM direction comes from the cache the analyze job fills)."""
    from advstudio.core.activations import ActivationMonitor
    from advstudio.core.attacks.fgsm import apply_perturbation

    model = _require_model(ctx)
    image = np.ascontiguousarray(req.image, dtype=np.float32).reshape(28, 28)
    s = req.settings
    x = _tensor(image, ctx.state.device)
    direction, _ = _direction(ctx, x, image, s.method, s.target)
    x_adv, _ = apply_perturbation(x, direction, float(s.eps))
    with ActivationMonitor(model, ranges=req.ranges, feature_maps=True) as monitor:
        clean_logits, adv_logits = monitor.compare(x, x_adv)
        params = {"eps": float(s.eps), "steps": 1, "targeted": s.method == TARGETED}
        comparison = monitor.comparison(attack="fgsm", params=params)
    return ActivationsData(image.copy(), s, comparison, int(clean_logits.argmax(1)[0]), int(adv_logits.argmax(1)[0]))


def flip_job(ctx: JobContext, req: AnalyzeRequest) -> FlipResult | None:
    """Smallest ε (on the slider's 0.001 grid) that flips the prediction: a coarse batched scan brackets the
    first flip (FGSM success is not monotone in ε, so a bare bisection over [0, 0.5] could skip it), then a
    bisection inside the bracket pins it down with the same single-image path the slider uses."""
    import torch

    from advstudio.core.attacks.fgsm import apply_perturbation

    model = _require_model(ctx)
    image = np.ascontiguousarray(req.image, dtype=np.float32).reshape(28, 28)
    s = req.settings
    x = _tensor(image, ctx.state.device)
    direction, clean = _direction(ctx, x, image, s.method, s.target)
    clean_label = int(clean[0].argmax())
    goal = s.target if s.method == TARGETED else None
    evaluations = 0

    def success(label: int) -> bool:
        return label == goal if goal is not None else label != clean_label

    def label_at(milli: int) -> int:
        nonlocal evaluations
        evaluations += 1
        x_adv, _ = apply_perturbation(x, direction, milli_to_eps(milli))
        return int(_probs(model, x_adv)[0].argmax())

    grid_max = round(EPS_MAX / EPS_STEP)
    if success(clean_label):  # targeted toward the class it already has
        return FlipResult(True, 0.0, 0.0, EPS_STEP, clean_label, clean_label, 0, s)
    coarse = list(range(10, grid_max + 1, 10))
    with torch.inference_mode():
        eps = torch.tensor([milli_to_eps(m) for m in coarse], dtype=x.dtype, device=x.device).view(-1, 1, 1, 1)
        labels = model((x + eps * direction).clamp(0.0, 1.0)).argmax(1).cpu().tolist()
    evaluations += len(coarse)
    lo = 0
    for hi, coarse_label in zip(coarse, labels):
        if ctx.should_stop():
            return None
        if not success(coarse_label):
            lo = hi
            continue
        hi_label = label_at(hi)
        if not success(hi_label):  # batch and single passes disagree right at a boundary: keep scanning
            lo = hi
            continue
        if success(label_at(lo)) and lo > 0:
            lo = 0  # the bracket's lower end flips after all: search everything below hi
        while hi - lo > 1:
            mid = (lo + hi) // 2
            label = label_at(mid)
            if success(label):
                hi, hi_label = mid, label
            else:
                lo = mid
        return FlipResult(True, milli_to_eps(hi), milli_to_eps(lo), EPS_STEP, clean_label, hi_label, evaluations, s)
    return FlipResult(False, EPS_MAX, EPS_MAX, EPS_STEP, clean_label, clean_label, evaluations, s)


def gallery_job(ctx: JobContext, folder: str) -> GalleryData | None:
    """The MNIST test split with the current model's predictions; interactive requests are served between
    batches so drawing stays live while it runs."""
    import torch

    from advstudio.core.data import load_split

    model = _require_model(ctx)
    split = load_split(folder, "test")
    preds = np.empty(len(split), dtype=np.int64)
    version = ctx.state.model_version
    for start in range(0, len(split), GALLERY_BATCH):
        if ctx.should_stop():
            return None
        with torch.inference_mode():
            xb = split.images[start : start + GALLERY_BATCH].to(ctx.state.device)
            preds[start : start + GALLERY_BATCH] = model(xb).argmax(1).cpu().numpy()
        ctx.serve_interactive()
        if ctx.state.model_version != version:
            return None  # a new model arrived meanwhile; its own gallery request follows
    images = (split.images[:, 0].numpy() * 255.0 + 0.5).astype(np.uint8)
    return GalleryData(images, split.labels.numpy().astype(np.int64).copy(), preds, str(split.source))
