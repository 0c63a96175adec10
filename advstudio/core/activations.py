"""Forward-hook monitor on every activation module (nn.ReLU and the other ACTIVATION_TYPES): streaming
statistics and fixed-bin histograms, clean against adversarial, with hooks that are always removed.

Per batch and layer the hook runs a handful of torch ops on the hooked tensor (row sums, row L2 norms, max,
and a histogram by bincount or histc) and keeps only running totals, so a 10,000-image run holds no
activations. Totals are accumulated in float64; only each row's own sum is rounded in float32.

The model's first dimension is taken as the batch dimension. Functional activations (F.relu, torch.tanh) are not
modules and cannot be hooked; a module used twice in one forward pass appears as "name" and "name@2".
"Active" means a value above zero for every kind: a ReLU's silent units are its zeros, a tanh's or a leaky
ReLU's are its negative values (counted with the zeros, below the histograms' first bin); for those kinds min,
mean and the clean scale of the shift (mean |a|) take the negative values as they are.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from advstudio.core.activation_stats import HistogramScratch, LayerAccumulator, ShiftAccumulator, histogram, nice_ceil
from advstudio.core.attacks.common import eval_mode
from advstudio.core.attacks.fgsm import apply_perturbation, fgsm_direction
from advstudio.core.errors import ActivationsCancelled
from advstudio.core.types import ActivationComparison, ActivationStats

__all__ = [
    "ActivationMonitor",
    "ACTIVATION_TYPES",
    "activation_modules",
    "relu_modules",
    "fgsm_activations",
    "compare_activations",
    "DEFAULT_BINS",
    "HEADROOM",
]

DEFAULT_BINS = 32
HEADROOM = 1.25  # a layer's top edge: nice_ceil(HEADROOM × the largest value the first time it is seen)
CLEAN, ADVERSARIAL = "clean", "adversarial"


# nn.ReLU6 stays out: it is an nn.Hardtanh (a clamp), and a model's ReLU6 has never counted as a layer here
ACTIVATION_TYPES = (nn.ReLU, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Sigmoid, nn.Tanh, nn.Softplus)
NON_NEGATIVE = (nn.ReLU, nn.ReLU6, nn.Sigmoid, nn.Softplus)  # outputs ≥ 0: a silent unit is exactly zero


def activation_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Every activation module (an instance of ACTIVATION_TYPES, subclasses included) in the model, in
    registration order, with its qualified name."""
    return [(name or "<root>", m) for name, m in model.named_modules() if isinstance(m, ACTIVATION_TYPES)]


relu_modules = activation_modules  # the name from when only nn.ReLU was watched


def may_be_negative(module: nn.Module) -> bool:
    """Whether the module's output can fall below zero (a tanh, a leaky ReLU), which some statistics heed."""
    return not isinstance(module, NON_NEGATIVE)


class ActivationMonitor:
    """Forward hooks on every activation module of a model, recording statistics and fixed-bin histograms per layer.

    Use it as a context manager: the hooks are registered on entry and removed on exit, exceptions included.
    While `enabled` is False (see `paused()`), a hook returns at once, so attack iterations pay nothing.
    Outputs of ordinary forward passes are recorded under `tag`; `observe` and `compare` run the model
    themselves (eval mode, no autograd). Histogram edges are fixed per layer, from `ranges` ({name: top}) or
    from the first batch that layer sees, and shared by every tag, so clean and adversarial histograms compare.
    One thread at a time: the worker that owns the model.

        with ActivationMonitor(model, bins=32, feature_maps=True) as monitor:
            monitor.compare(x, x_adv, labels)      # as many batches as wanted
            result = monitor.comparison(attack="fgsm", params={"eps": 0.1})
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        bins: int = DEFAULT_BINS,
        ranges: dict[str, float] | None = None,
        histograms: bool = True,
        feature_maps: bool = False,
        map_index: int = 0,
    ) -> None:
        if not 1 <= int(bins) <= 4096:
            raise ValueError(f"bins must lie in 1–4096, got {bins}")  # ≤ 254: 8-bit bin indices
        self.model = model
        self.bins = int(bins)
        self.histograms = histograms
        self.feature_maps = feature_maps
        self.map_index = int(map_index)
        self.enabled = True
        self.tag = CLEAN
        self._modules = activation_modules(model)
        self._handles: list[torch.utils.hooks.RemovableHandle] = []
        self._tops: dict[str, float] = {k: float(v) for k, v in (ranges or {}).items()}
        self._calls: dict[str, int] = {}
        self._in_forward = 0
        self._stats: dict[str, dict[str, LayerAccumulator]] = {}
        self._shifts: dict[str, ShiftAccumulator] = {}
        self._keep_clean = False
        self._diff = False
        self._clean_store: dict[str, tuple[torch.Tensor, int, float]] = {}
        self._pred = {"n": 0, "changed": 0, "labeled": 0, "clean_ok": 0, "adv_ok": 0}
        self._scratch = HistogramScratch()

    # hooks ------------------------------------------------------------------------------------------

    @property
    def layer_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self._modules)

    @property
    def attached(self) -> bool:
        return bool(self._handles)

    @property
    def hook_count(self) -> int:
        """Hooks on activation modules (one per module); the root module carries two more while attached."""
        return max(0, len(self._handles) - 2)

    def attach(self) -> "ActivationMonitor":
        if self._handles:
            raise RuntimeError("this ActivationMonitor is already attached")
        try:
            self._modules = activation_modules(self.model)
            self._handles.append(self.model.register_forward_pre_hook(self._enter_forward))
            self._handles.append(self.model.register_forward_hook(self._leave_forward, always_call=True))
            for name, module in self._modules:
                self._handles.append(module.register_forward_hook(self._make_hook(name, may_be_negative(module))))
        except BaseException:
            self.remove()
            raise
        return self

    def remove(self) -> None:
        """Remove every hook this monitor registered (safe to call twice)."""
        while self._handles:
            self._handles.pop().remove()
        self._calls.clear()
        self._in_forward = 0
        self._clean_store.clear()
        self._scratch = HistogramScratch()  # let the histogram buffers go with the hooks

    def __enter__(self) -> "ActivationMonitor":
        return self.attach()

    def __exit__(self, *exc) -> None:
        self.remove()

    @contextmanager
    def paused(self) -> Iterator["ActivationMonitor"]:
        """Hooks stay registered but record nothing (e.g. while an attack computes its gradients)."""
        was = self.enabled
        self.enabled = False
        try:
            yield self
        finally:
            self.enabled = was

    def _enter_forward(self, module, args) -> None:
        if self.enabled:
            if self._in_forward == 0:
                self._calls.clear()
            self._in_forward += 1

    def _leave_forward(self, module, args, output) -> None:
        if self._in_forward:
            self._in_forward -= 1

    def _make_hook(self, name: str, signed: bool = False) -> Callable:
        def hook(module: nn.Module, args, output) -> None:
            if not self.enabled:
                return
            key = name
            if self._in_forward:
                n = self._calls.get(name, 0) + 1
                self._calls[name] = n
                if n > 1:
                    key = f"{name}@{n}"
            self._record(key, output, bool(getattr(module, "inplace", False)), signed)

        return hook

    # recording --------------------------------------------------------------------------------------

    def _record(self, key: str, output: torch.Tensor, inplace: bool, signed: bool = False) -> None:
        """Add one batch of a layer's output (`signed`: it may hold negative values, not only zeros)."""
        t = output.detach()
        if not t.is_floating_point():
            return
        if t.dtype not in (torch.float32, torch.float64):
            t = t.float()
        n = int(t.shape[0]) if t.dim() > 1 else 1
        shape = tuple(t.shape[1:]) if t.dim() > 1 else tuple(t.shape)
        rows = t.reshape(n, -1)

        accs = self._stats.setdefault(self.tag, {})
        acc = accs.get(key)
        if acc is None:
            acc = accs[key] = LayerAccumulator(key, shape, self.bins if self.histograms else 0)
        elif acc.shape != shape:
            raise ValueError(f"layer {key}: activation shape {shape} differs from the {acc.shape} seen before")

        mx = float(t.amax()) if t.numel() else 0.0
        top = self._tops.get(key)
        if top is None:
            top = self._tops[key] = nice_ceil(HEADROOM * mx)
        batch_total = float(rows.sum(1).double().sum())
        acc.total += batch_total
        acc.total_sq += float(torch.linalg.vector_norm(rows, 2, dim=1).double().square().sum())
        acc.max = max(acc.max, mx)

        if self.histograms:
            counts = histogram(t.reshape(-1), self.bins, top, self._scratch, mx=mx)
            acc.hist += counts[1:-1]
            acc.overflow += int(counts[-1])
            active = t.numel() - int(counts[0])
        else:
            active = int(torch.count_nonzero(t > 0 if signed else t))
        acc.active += active
        batch_min = float(t.amin()) if signed or active == t.numel() else 0.0
        acc.min = min(acc.min, batch_min)

        if self.feature_maps and acc.map is None and acc.samples <= self.map_index < acc.samples + n:
            acc.map = rows[self.map_index - acc.samples].reshape(shape).float().cpu().numpy().copy()
        acc.samples += n

        if self._keep_clean:
            # an in-place ReLU's output is its input's storage, which the model may reuse: keep a copy
            clean_abs = float(t.abs().reshape(n, -1).sum(1).double().sum()) if signed else batch_total
            self._clean_store[key] = (t.clone() if inplace else t, active, clean_abs)
        elif self._diff:
            self._record_shift(key, t, active, signed)

    def _record_shift(self, key: str, adv: torch.Tensor, adv_active: int, signed: bool = False) -> None:
        stored = self._clean_store.get(key)
        if stored is None:
            raise RuntimeError(f"layer {key}: no clean activation to compare with (did the architecture change?)")
        clean, clean_active, clean_abs = stored
        if clean.shape != adv.shape:
            raise ValueError(f"layer {key}: clean {tuple(clean.shape)} and adversarial {tuple(adv.shape)} differ")
        acc = self._shifts.setdefault(key, ShiftAccumulator())
        n = int(clean.shape[0]) if clean.dim() > 1 else 1
        acc.abs_change += float(torch.linalg.vector_norm((adv - clean).reshape(n, -1), 1, dim=1).double().sum())
        acc.clean_abs += clean_abs  # Σ|a_clean| (a ReLU's output is ≥ 0: its plain sum)
        if signed:  # on (above zero) for exactly one of the two
            flips = int(torch.count_nonzero(torch.logical_xor(clean > 0, adv > 0)))
        else:
            flips = int(torch.count_nonzero(torch.logical_xor(clean, adv)))
        acc.flips += flips
        # flips = on→off + off→on and adv_active = clean_active − on→off + off→on
        acc.on_to_off += (clean_active - adv_active + flips) // 2
        acc.count += clean.numel()

    @contextmanager
    def _phase(self, tag: str, keep_clean: bool = False, diff: bool = False) -> Iterator[None]:
        saved = (self.tag, self.enabled, self._keep_clean, self._diff)
        self.tag, self.enabled, self._keep_clean, self._diff = tag, True, keep_clean, diff
        try:
            yield
        finally:
            self.tag, self.enabled, self._keep_clean, self._diff = saved

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self._handles:
            raise RuntimeError("the ActivationMonitor is not attached: use it in a with block")
        with eval_mode(self.model), torch.inference_mode():
            return self.model(x)

    def observe(self, x: torch.Tensor, tag: str = CLEAN) -> torch.Tensor:
        """Run the model on a batch in eval mode and record its activations under `tag`; returns the logits."""
        with self._phase(tag):
            return self._forward(x)

    def compare(
        self, x_clean: torch.Tensor, x_adv: torch.Tensor, labels: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Record one batch clean and adversarial (same images, same order), with the unit-by-unit shift
        between them; returns both logits. Call it for as many batches as wanted, then `comparison()`."""
        if x_clean.shape != x_adv.shape:
            raise ValueError(f"clean {tuple(x_clean.shape)} and adversarial {tuple(x_adv.shape)} inputs differ")
        if labels is not None and tuple(labels.shape) != (x_clean.shape[0],):
            raise ValueError(f"{tuple(labels.shape)} labels for a batch of {x_clean.shape[0]} images")
        try:
            with self._phase(CLEAN, keep_clean=True):
                clean_logits = self._forward(x_clean)
            with self._phase(ADVERSARIAL, diff=True):
                adv_logits = self._forward(x_adv)
        finally:
            self._clean_store.clear()
        pc, pa = clean_logits.argmax(1), adv_logits.argmax(1)
        self._pred["n"] += int(pc.numel())
        self._pred["changed"] += int((pc != pa).sum())
        if labels is not None:
            labels = labels.to(pc.device)
            self._pred["labeled"] += int(labels.numel())
            self._pred["clean_ok"] += int((pc == labels).sum())
            self._pred["adv_ok"] += int((pa == labels).sum())
        return clean_logits, adv_logits

    def calibrate(self, x: torch.Tensor, headroom: float = HEADROOM) -> dict[str, float]:
        """Fix every layer's histogram top from one forward pass (nice_ceil(headroom × max)); records nothing."""
        maxima: dict[str, float] = {}

        def grab(key: str, output: torch.Tensor, inplace: bool, signed: bool = False) -> None:
            maxima[key] = max(maxima.get(key, 0.0), float(output.detach().amax()))

        record, self._record = self._record, grab  # type: ignore[method-assign]
        try:
            with self._phase(CLEAN):
                self._forward(x)
        finally:
            self._record = record  # type: ignore[method-assign]
        for key, mx in maxima.items():
            self._tops[key] = nice_ceil(headroom * mx)
        return dict(self._tops)

    # results ----------------------------------------------------------------------------------------

    @property
    def ranges(self) -> dict[str, float]:
        """Each layer's histogram top edge (bins run from 0 to it); pass to another monitor to share bins."""
        return dict(self._tops)

    def edges(self, key: str) -> np.ndarray:
        """The histogram bin edges of one layer: bins + 1 values from 0 to its top (none with histograms off)."""
        if not self.histograms:
            return np.zeros(0)
        return np.linspace(0.0, self._tops[key], self.bins + 1)

    def reset(self) -> None:
        """Forget every recorded statistic (the histogram ranges stay fixed)."""
        self._stats.clear()
        self._shifts.clear()
        self._clean_store.clear()
        self._pred = dict.fromkeys(self._pred, 0)

    def stats(self, tag: str = CLEAN) -> ActivationStats:
        accs = self._stats.get(tag, {})
        layers = tuple(acc.snapshot(self.edges(key)) for key, acc in accs.items())
        maps = {key: acc.map for key, acc in accs.items() if acc.map is not None}
        samples = max((acc.samples for acc in accs.values()), default=0)
        return ActivationStats(tag, samples, layers, maps, self.map_index if maps else None)

    def comparison(self, attack: str = "", params: dict | None = None) -> ActivationComparison:
        p = self._pred
        return ActivationComparison(
            clean=self.stats(CLEAN),
            adversarial=self.stats(ADVERSARIAL),
            shifts=tuple(acc.snapshot(key) for key, acc in self._shifts.items()),
            samples=p["n"],
            predictions_changed=p["changed"],
            clean_accuracy=p["clean_ok"] / p["labeled"] if p["labeled"] else None,
            adversarial_accuracy=p["adv_ok"] / p["labeled"] if p["labeled"] else None,
            attack=attack,
            params=dict(params or {}),
        )


def fgsm_activations(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    eps: float,
    *,
    bins: int = DEFAULT_BINS,
    ranges: dict[str, float] | None = None,
    feature_maps: bool = False,
    map_index: int = 0,
    batch_size: int = 500,
    progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
) -> ActivationComparison:
    """The article's experiment: activation statistics on clean images and on their untargeted FGSM (ε, L∞, one step)
    versions, batch by batch. The attack's own forward/backward pass is not recorded.

    For one drawn digit pass images 1×1×28×28, its label (or the predicted class) and feature_maps=True.
    Pass `ranges` (e.g. an earlier result's monitor ranges) to keep histogram bins fixed between calls."""
    if not 0.0 <= eps <= 1.0:
        raise ValueError(f"ε must lie in [0, 1] pixel space, got {eps}")
    device = next(model.parameters()).device
    total = int(images.shape[0])
    with ActivationMonitor(model, bins=bins, ranges=ranges, feature_maps=feature_maps, map_index=map_index) as mon:
        for start in range(0, total, batch_size):
            if cancel is not None and cancel.is_set():
                raise ActivationsCancelled("activation statistics cancelled")
            xb = images[start : start + batch_size].to(device)
            yb = labels[start : start + batch_size].to(device)
            with mon.paused():
                direction, _ = fgsm_direction(model, xb, yb)
            x_adv, _ = apply_perturbation(xb, direction, eps)
            mon.compare(xb, x_adv, yb)
            if progress is not None:
                progress(min(start + batch_size, total), total)
        return mon.comparison(attack="fgsm", params={"eps": float(eps), "targeted": False, "steps": 1})


def compare_activations(
    model: nn.Module,
    x_clean: torch.Tensor,
    x_adv: torch.Tensor,
    labels: torch.Tensor | None = None,
    *,
    attack: str = "",
    params: dict | None = None,
    bins: int = DEFAULT_BINS,
    ranges: dict[str, float] | None = None,
    feature_maps: bool = False,
    map_index: int = 0,
    batch_size: int = 500,
    cancel: threading.Event | None = None,
) -> ActivationComparison:
    """Clean against given adversarial inputs (any attack), batch by batch; name the attack for the record.

    The dock's call for one image whose AttackResult it already holds (x, x_adv: 1×1×28×28):
        compare_activations(model, x, x_adv, attack="fgsm", params={"eps": eps}, feature_maps=True,
                            ranges=previous.clean.ranges if previous else None)"""
    device = next(model.parameters()).device
    with ActivationMonitor(model, bins=bins, ranges=ranges, feature_maps=feature_maps, map_index=map_index) as mon:
        for start in range(0, int(x_clean.shape[0]), batch_size):
            if cancel is not None and cancel.is_set():
                raise ActivationsCancelled("activation statistics cancelled")
            stop = start + batch_size
            yb = labels[start:stop].to(device) if labels is not None else None
            mon.compare(x_clean[start:stop].to(device), x_adv[start:stop].to(device), yb)
        return mon.comparison(attack=attack, params=params)
