"""Input attributions for one class logit: gradient saliency, SmoothGrad, Integrated Gradients and Grad-CAM.

Every method runs the model in eval mode (its mode is restored), takes input gradients with torch.autograd.grad
(no parameter ever gets a .grad), and returns an Attribution of CPU numpy copies: one H×W map per sample."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from advstudio.core.attacks.common import eval_mode

METHODS = ("saliency", "smoothgrad", "ig", "gradcam")
METHOD_TITLES = {
    "saliency": "Gradient saliency",
    "smoothgrad": "SmoothGrad",
    "ig": "Integrated Gradients",
    "gradcam": "Grad-CAM",
}
SIGNED = {"saliency": False, "smoothgrad": False, "ig": True, "gradcam": False}  # does the map carry a sign

Targets = int | Sequence[int] | np.ndarray | torch.Tensor | None


@dataclass(frozen=True)
class Attribution:
    """One attribution map per sample, for the class each map explains, with the settings that made it."""

    method: str
    maps: np.ndarray  # (N, H, W) float32, channels reduced (max |grad| for saliency/SmoothGrad, sum for IG)
    targets: np.ndarray  # (N,) int64: the class each map explains
    scores: np.ndarray  # (N,) float32: the model's logit of that class at x
    params: dict  # the settings used (steps, samples, sigma, baseline, layer name...)
    delta: np.ndarray | None = None  # IG only: (N,) sum(attributions) − (f_t(x) − f_t(baseline))
    relative_delta: np.ndarray | None = None  # IG only: |delta| / max(|f_t(x) − f_t(baseline)|, 1e-12)


# ---------------------------------------------------------------------------------------------------------------
# shared checks


def _batch(x: torch.Tensor) -> torch.Tensor:
    """x as an N×C×H×W floating tensor, detached (a single C×H×W image becomes a batch of one)."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"the input must be a torch tensor, not {type(x).__name__}")
    if x.ndim == 3:
        x = x.unsqueeze(0)
    if x.ndim != 4:
        raise ValueError(f"the input must be N×C×H×W (or one C×H×W image), not of shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"the input must hold floating-point pixels in [0, 1], not {x.dtype}")
    if x.shape[0] == 0:
        raise ValueError("the input holds no images")
    return x.detach()


def _targets(targets: Targets, logits: torch.Tensor) -> torch.Tensor:
    """The class per sample as an (N,) int64 tensor on the logits' device: the predicted class when None."""
    n, classes = logits.shape
    if targets is None:
        return logits.detach().argmax(1)
    if isinstance(targets, bool):
        raise ValueError("a target must be a class index, not a bool")
    if isinstance(targets, (int, np.integer)):
        t = torch.full((n,), int(targets), dtype=torch.int64)
    else:
        try:
            t = torch.as_tensor(np.asarray(targets.cpu() if isinstance(targets, torch.Tensor) else targets))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"targets must be None, a class index or {n} class indices: {exc}") from None
        if t.dtype == torch.bool or t.is_floating_point() or t.is_complex():
            raise ValueError(f"targets must be integer class indices, not {t.dtype}")
        t = t.to(torch.int64).expand(n) if t.ndim == 0 else t.to(torch.int64)
        if t.ndim != 1 or t.shape[0] != n:
            raise ValueError(f"expected one target per image ({n}), got shape {tuple(t.shape)}")
    bad = (t < 0) | (t >= classes)
    if bool(bad.any()):
        raise ValueError(f"target {int(t[bad][0])} is not a class of this model (0 to {classes - 1})")
    return t.to(logits.device)


def _check_int(name: str, value: int, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be a whole number ≥ {low}, not {value!r}")
    return int(value)


def _pick(logits: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return logits.gather(1, t[:, None]).squeeze(1)


def _numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().to("cpu", torch.float32).numpy().copy()


def _input_grad(model: nn.Module, xin: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """∂ logit_t / ∂x for each row of xin (rows are independent in eval mode), and the logits."""
    xin = xin.detach().requires_grad_(True)
    logits = model(xin)
    (grad,) = torch.autograd.grad(_pick(logits, t).sum(), xin)
    return grad, logits.detach()


def _logits(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(x)


def _result(method: str, maps: torch.Tensor, t: torch.Tensor, scores: torch.Tensor, params: dict,
            **extra: np.ndarray) -> Attribution:
    targets = t.detach().cpu().numpy().astype(np.int64)
    return Attribution(method, _numpy(maps), targets, _numpy(scores), params, **extra)


# ---------------------------------------------------------------------------------------------------------------
# the methods


def saliency(model: nn.Module, x: torch.Tensor, targets: Targets = None) -> Attribution:
    """|∂ logit_t / ∂x| (Simonyan et al. 2014), max over channels: which pixels move the class score most, locally.
    targets None explains each sample's predicted class."""
    x = _batch(x)
    with eval_mode(model), torch.enable_grad():
        xin = x.clone().requires_grad_(True)
        logits = model(xin)
        t = _targets(targets, logits)
        (grad,) = torch.autograd.grad(_pick(logits, t).sum(), xin)
    return _result("saliency", grad.abs().amax(1), t, _pick(logits.detach(), t), {})


def smoothgrad(model: nn.Module, x: torch.Tensor, targets: Targets = None, samples: int = 25, sigma: float = 0.15,
               seed: int = 0, batch: int = 256) -> Attribution:
    """Mean saliency |∂ logit_t / ∂x| over `samples` noisy copies x + N(0, σ²) (Smilkov et al. 2017): less speckle
    than one gradient.

    σ is in [0, 1] pixel units and the copies are not clamped, as in the paper and captum's NoiseTunnel. The noise
    comes from a CPU torch.Generator seeded with `seed`, copy-major per image (NoiseTunnel's repeat_interleave
    order), so a seed reproduces the map on any device and any `batch`."""
    x = _batch(x)
    samples = _check_int("samples", samples, 1)
    batch = _check_int("batch", batch, 1)
    sigma = float(sigma)
    if not np.isfinite(sigma) or sigma < 0:
        raise ValueError(f"sigma must be a finite number ≥ 0, not {sigma!r}")
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    n = x.shape[0]
    with eval_mode(model), torch.enable_grad():
        logits = _logits(model, x)
        t = _targets(targets, logits)
        total = torch.zeros_like(x)
        for start in range(0, n * samples, batch):
            rows = torch.arange(start, min(start + batch, n * samples), device=x.device)
            image = rows // samples
            noise = torch.randn((rows.numel(), *x.shape[1:]), generator=gen, dtype=x.dtype).to(x.device)
            grad, _ = _input_grad(model, x[image] + sigma * noise, t[image])
            total.index_add_(0, image, grad.abs())
    params = {"samples": samples, "sigma": sigma, "seed": int(seed)}
    return _result("smoothgrad", (total / samples).amax(1), t, _pick(logits, t), params)


def _baseline(baseline: float | torch.Tensor | None, x: torch.Tensor) -> tuple[torch.Tensor, object]:
    """The IG start point expanded to x's shape, and how params describe it."""
    if baseline is None:
        return torch.zeros_like(x), "zeros"
    if isinstance(baseline, (int, float)) and not isinstance(baseline, bool):
        if not np.isfinite(baseline):
            raise ValueError(f"the baseline must be finite, not {baseline!r}")
        return torch.full_like(x, float(baseline)), float(baseline)
    if not isinstance(baseline, torch.Tensor):
        raise ValueError(f"the baseline must be None, a number or a tensor, not {type(baseline).__name__}")
    try:
        base = baseline.detach().to(x.device, x.dtype).expand_as(x).clone()
    except RuntimeError:
        raise ValueError(f"a baseline of shape {tuple(baseline.shape)} does not fit inputs of shape "
                         f"{tuple(x.shape)}") from None
    if not bool(torch.isfinite(base).all()):
        raise ValueError("the baseline holds NaN or infinite values")
    return base, "tensor"


def integrated_gradients(model: nn.Module, x: torch.Tensor, targets: Targets = None,
                         baseline: float | torch.Tensor | None = None, steps: int = 50,
                         batch: int = 256) -> Attribution:
    """Integrated Gradients (Sundararajan et al. 2017): (x − b) ⊙ ∫₀¹ ∂f_t(b + α(x − b))/∂x dα, summed over channels;
    signed, it adds up to f_t(x) − f_t(b) (completeness), and the gap is reported as delta.

    The integral is the trapezoid rule over `steps` equal intervals: the steps + 1 points α_k = k/steps, k = 0…steps,
    weighted 1/steps, the two ends 1/(2·steps) (weights sum to 1). captum's "riemann_trapezoid" with n_steps = steps + 1
    evaluates the same points but weights them 1/(steps + 1), ends halved (sum steps/(steps + 1)): its attributions
    are ours × steps/(steps + 1), which leaves a completeness gap of 1/(steps + 1) even on a linear model, so the
    weights here are the textbook ones. baseline None is black (zeros); a number or a tensor broadcastable to x."""
    x = _batch(x)
    steps = _check_int("steps", steps, 1)
    batch = _check_int("batch", batch, 1)
    base, base_label = _baseline(baseline, x)
    n, points = x.shape[0], steps + 1
    # linspace, not arange / steps: the same float32 points as captum (a ReLU kink can flip on a 1-ulp change)
    alphas = torch.linspace(0.0, 1.0, points, device=x.device, dtype=x.dtype)
    weights = torch.full((points,), 1.0 / steps, device=x.device, dtype=x.dtype)
    weights[0] = weights[-1] = 0.5 / steps
    with eval_mode(model), torch.enable_grad():
        ends = _logits(model, torch.cat([x, base]))
        t = _targets(targets, ends[:n])
        mean_grad = torch.zeros_like(x)
        for start in range(0, n * points, batch):
            rows = torch.arange(start, min(start + batch, n * points), device=x.device)
            image, k = rows // points, rows % points
            a = alphas[k].view(-1, *([1] * (x.ndim - 1)))
            grad, _ = _input_grad(model, base[image] + a * (x[image] - base[image]), t[image])
            w = weights[k].view(-1, *([1] * (x.ndim - 1)))
            mean_grad.index_add_(0, image, w * grad)
    attributions = (x - base) * mean_grad
    f_x, f_b = _pick(ends[:n], t), _pick(ends[n:], t)
    gap = f_x - f_b
    delta = attributions.sum(dim=(1, 2, 3)) - gap
    relative = delta.abs() / gap.abs().clamp_min(1e-12)
    params = {"steps": steps, "baseline": base_label, "rule": "trapezoid"}
    return _result("ig", attributions.sum(1), t, f_x, params, delta=_numpy(delta), relative_delta=_numpy(relative))


def last_conv(model: nn.Module) -> tuple[str, nn.Module]:
    """The last nn.Conv2d of the model in module order, with its dotted name: Grad-CAM's default layer
    (the deepest feature map that still has a spatial layout)."""
    found = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    if not found:
        raise ValueError(f"{type(model).__name__} has no convolution layer: Grad-CAM needs one")
    return found[-1]


ACTIVATIONS = (nn.ReLU, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.ReLU6, nn.Sigmoid, nn.Tanh)


def gradcam_layer(model: nn.Module) -> tuple[str, nn.Module]:
    """Grad-CAM's default layer: the activation module right after the last convolution (its feature maps A_k are
    what the next layers read; on the bundled CNN the pre-ReLU conv2 output gives an all-zero map for most MNIST
    digits, relu2 for none), else the last convolution itself."""
    name, conv = last_conv(model)
    modules = list(model.named_modules())
    i = next(k for k, (_, m) in enumerate(modules) if m is conv)
    if i + 1 < len(modules) and isinstance(modules[i + 1][1], ACTIVATIONS):
        return modules[i + 1]
    return name, conv


def _layer(model: nn.Module, layer: nn.Module | str | None) -> tuple[str, nn.Module]:
    if layer is None:
        return gradcam_layer(model)
    modules = dict(model.named_modules())
    if isinstance(layer, str):
        if layer not in modules:
            convs = [name for name, m in modules.items() if isinstance(m, nn.Conv2d)]
            raise ValueError(f"the model has no layer named {layer!r} (its convolutions: {', '.join(convs) or 'none'})")
        return layer, modules[layer]
    for name, m in modules.items():
        if m is layer:
            return name, m
    raise ValueError(f"the layer {type(layer).__name__} is not a module of this model")


def gradcam(model: nn.Module, x: torch.Tensor, targets: Targets = None,
            layer: nn.Module | str | None = None) -> Attribution:
    """Grad-CAM (Selvaraju et al. 2017): where `layer` saw evidence for the class, as ReLU(Σ_k w_k A_k) with w_k the
    spatial mean of ∂logit_t/∂A_k, upsampled to the input's H×W.

    `layer` is a module of the model or its dotted name (None: gradcam_layer). The upsampling is bilinear with
    align_corners=False, as captum's LayerAttribution.interpolate. A forward hook keeps A and is always removed.
    On the bundled CNN, conv2's output is taken before its ReLU (as captum's LayerGradCam(model, model.conv2)):
    there Σ_k w_k A_k is often negative everywhere and the map all zero; layer="relu2" rarely is."""
    x = _batch(x)
    name, module = _layer(model, layer)
    seen: list[torch.Tensor] = []

    def keep(_module: nn.Module, _inputs: object, output: object) -> None:
        seen.append(output)  # type: ignore[arg-type]

    handle = module.register_forward_hook(keep)
    try:
        with eval_mode(model), torch.enable_grad():
            logits = model(x.clone().requires_grad_(True))  # the input needs grad so A is on the graph
            if not seen:
                raise ValueError(f"the layer {name!r} did not run in the model's forward pass")
            act = seen[-1]
            if not isinstance(act, torch.Tensor) or act.ndim != 4:
                raise ValueError(f"Grad-CAM needs a layer with an N×K×h×w output; {name!r} gives something else")
            t = _targets(targets, logits)
            (grad,) = torch.autograd.grad(_pick(logits, t).sum(), act)
    finally:
        handle.remove()
    weights = grad.mean(dim=(2, 3), keepdim=True)
    cam = F.relu((weights * act.detach()).sum(1, keepdim=True))
    up = F.interpolate(cam, size=tuple(x.shape[-2:]), mode="bilinear", align_corners=False)
    params = {"layer": name, "feature_map": (int(act.shape[2]), int(act.shape[3])), "channels": int(act.shape[1])}
    return _result("gradcam", up[:, 0], t, _pick(logits.detach(), t), params)


_FUNCTIONS: dict[str, Callable[..., Attribution]] = {
    "saliency": saliency,
    "smoothgrad": smoothgrad,
    "ig": integrated_gradients,
    "gradcam": gradcam,
}


def attribute(model: nn.Module, x: torch.Tensor, method: str, targets: Targets = None, **settings: object) -> Attribution:
    """Run one of METHODS by name with its settings: the single entry point the GUI and CLI call."""
    fn = _FUNCTIONS.get(method)
    if fn is None:
        raise ValueError(f"unknown attribution method {method!r}: choose one of {', '.join(METHODS)}")
    allowed = [p for p in inspect.signature(fn).parameters if p not in ("model", "x", "targets")]
    unknown = sorted(set(settings) - set(allowed))
    if unknown:
        raise ValueError(f"{method} has no setting {', '.join(map(repr, unknown))}; "
                         f"its settings are: {', '.join(allowed) or 'none'}")
    return fn(model, x, targets, **settings)


def ink_share(maps: np.ndarray, images: np.ndarray, ink: float = 0.2) -> np.ndarray:
    """Per sample, the share of Σ|map| on pixels whose image value is ≥ ink (0.0 for an all-zero map): how much
    of the explanation sits on the digit's strokes, the GUI's one number for "the gradient looks like the digit"."""
    m = np.abs(np.asarray(maps, dtype=np.float64))
    img = np.asarray(images, dtype=np.float64)
    if m.ndim == 2:
        m = m[None]
    if img.ndim == 4:
        if img.shape[1] != 1:
            raise ValueError(f"images must be N×H×W or N×1×H×W, not of shape {img.shape}")
        img = img[:, 0]
    elif img.ndim == 2:
        img = img[None]
    if m.ndim != 3 or img.shape != m.shape:
        raise ValueError(f"maps {m.shape} and images {img.shape} must both be N×H×W of the same size")
    total = m.sum(axis=(1, 2))
    on_ink = (m * (img >= ink)).sum(axis=(1, 2))
    return np.divide(on_ink, total, out=np.zeros_like(total), where=total > 0)
