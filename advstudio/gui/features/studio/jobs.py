"""What the worker thread runs: model loading, image files, classify-and-attack, the flip search and the gallery.

Only this module (and the core it calls) touches torch; it runs on the worker thread alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from advstudio.core.types import AttackResult, Prediction
from advstudio.gui.directions import cached_direction, image_tensor, probabilities
from advstudio.gui.messages import (
    EPS_MAX,
    EPS_STEP,
    TARGETED,
    Analysis,
    AnalyzeRequest,
    FlipResult,
    GalleryData,
    OpenedImage,
)
from advstudio.gui.models import ModelInfo
from advstudio.gui.worker import JobContext, Worker

GALLERY_BATCH = 200  # small enough that cancelling a gallery job takes well under a second


def milli_to_eps(milli: int) -> float:
    """ε for a slider position; the slider and the flip search use this same float."""
    return round(milli * EPS_STEP, 6)


def register_all(worker: Worker, device_preference: str | None = None) -> None:
    worker.state.values["device_preference"] = device_preference
    worker.register("onnx_options", onnx_options_job, priority=31)
    worker.register("data_layout", data_layout_job, priority=31)
    worker.register("load_model", load_model_job, priority=30)
    worker.register("open_image", open_image_job, priority=25, interactive=True)
    worker.register("analyze", analyze_job, priority=20, interactive=True)
    worker.register("flip", flip_job, priority=10)
    worker.register("gallery", gallery_job, priority=0)


def onnx_options_job(ctx: JobContext, options: dict) -> dict:
    """What ONNX files are taken to expect and output from now on (WorkerState.model_file reads it)."""
    ctx.state.values["onnx_options"] = dict(options)
    return dict(options)


def data_layout_job(ctx: JobContext, layout: str | None) -> str | None:
    """The class layout every job reads the dataset folder with from now on (WorkerState.split reads it)."""
    ctx.state.values["data_layout"] = layout
    return layout


def load_model_job(ctx: JobContext, path: str) -> ModelInfo:
    """Load and validate a safetensors model; the current model stays unless this one loads completely."""
    from advstudio.core.model import device_label
    from advstudio.core.resources import bundled_model_path
    from advstudio.core.storage import model_display_name

    state = ctx.state
    model, meta = state.model_file(path)  # the device is set up on first use (threads limited: the GUI keeps a core)
    bundled = Path(path).resolve() == bundled_model_path().resolve()
    info = ModelInfo(model_display_name(path, meta), str(path), device_label(state.device), dict(meta), bundled)
    state.set_model(model)  # last: nothing after it can fail, so the worker never holds a model the window does not name
    return info


def open_image_job(ctx: JobContext, path: str) -> OpenedImage:
    """Decode an image file into a 28×28 digit here, not on the GUI thread (a large image takes a second);
    its size is checked from the header first (core.images)."""
    from advstudio.core.images import load_image_file

    return OpenedImage(str(path), load_image_file(path))


def analyze_job(ctx: JobContext, req: AnalyzeRequest) -> Analysis | None:
    """Classify the input and attack it at ε: one forward pass when the direction is cached."""
    from advstudio.core.attacks.fgsm import apply_perturbation

    model = ctx.state.require_model()
    image = np.ascontiguousarray(req.image, dtype=np.float32).reshape(28, 28)
    s = req.settings
    x = image_tensor(image, ctx.state.device)
    direction, clean = cached_direction(ctx.state, model, ("studio", ctx.state.model_version), x, image, s.method, s.target)
    x_adv, delta = apply_perturbation(x, direction, float(s.eps))
    adv = probabilities(model, x_adv)
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


def flip_job(ctx: JobContext, req: AnalyzeRequest) -> FlipResult | None:
    """Smallest ε (on the slider's 0.001 grid) that flips the prediction: a coarse batched scan brackets the
    first flip (FGSM success is not monotone in ε, so a bare bisection over [0, 0.5] could skip it), then a
    bisection inside the bracket pins it down with the same single-image path the slider uses."""
    import torch

    from advstudio.core.attacks.fgsm import apply_perturbation

    model = ctx.state.require_model()
    image = np.ascontiguousarray(req.image, dtype=np.float32).reshape(28, 28)
    s = req.settings
    x = image_tensor(image, ctx.state.device)
    direction, clean = cached_direction(ctx.state, model, ("studio", ctx.state.model_version), x, image, s.method, s.target)
    clean_label = int(clean[0].argmax())
    goal = s.target if s.method == TARGETED else None
    evaluations = 0

    def success(label: int) -> bool:
        return label == goal if goal is not None else label != clean_label

    def label_at(milli: int) -> int:
        nonlocal evaluations
        evaluations += 1
        x_adv, _ = apply_perturbation(x, direction, milli_to_eps(milli))
        return int(probabilities(model, x_adv)[0].argmax())

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


    model = ctx.state.require_model()
    split = ctx.state.split(folder, "test")
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
    return GalleryData(images, split.labels.numpy().astype(np.int64).copy(), preds, str(split.source),
                       tuple(split.classes))
