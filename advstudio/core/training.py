"""Training as a generator of Progress reports, cancellable between batches (the article's recipe by default)."""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from advstudio.core.architecture_names import DEFAULT_ARCHITECTURE
from advstudio.core.attacks.common import eval_mode
from advstudio.core.attacks.linf import linf_walk
from advstudio.core.data import MnistSplit
from advstudio.core.errors import DatasetError, ModelFileError, TrainingCancelled
from advstudio.core.info import library_versions, now_iso
from advstudio.core.training_config import CHECKPOINT_KEY, TrainConfig
from advstudio.core.types import Progress


@torch.inference_mode()
def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 500) -> float:
    """Clean accuracy (fraction) in eval mode; restores the model's mode."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    correct = 0
    try:
        for i in range(0, len(labels), batch_size):
            xb = images[i : i + batch_size].to(device, non_blocking=True)
            yb = labels[i : i + batch_size].to(device, non_blocking=True)
            correct += int((model(xb).argmax(1) == yb).sum())
    finally:
        model.train(was_training)
    return correct / max(1, len(labels))


def linf_pgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    steps: int,
    step_size: float,
    random_start: bool = True,
) -> torch.Tensor:
    """The training-time adversary: L∞ PGD in pixel space (steps=1 with a random start is FGSM-RS).
    Runs in eval mode (no dropout noise in the gradient) and restores the mode; input gradients only."""
    x = x.detach()
    with eval_mode(model):
        if random_start:
            x_adv = (x + torch.empty_like(x).uniform_(-eps, eps)).clamp_(0.0, 1.0)
        else:
            x_adv = x.clone()

        def goal(xa: torch.Tensor, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            logits = model(xa)
            return logits, F.cross_entropy(logits, y[idx], reduction="none")

        linf_walk(goal, x_adv, (x - eps).clamp(0.0, 1.0), (x + eps).clamp(0.0, 1.0), step_size, steps,
                  evaluate_last=False)
    return x_adv.detach()


def trades_adversary(model: nn.Module, x: torch.Tensor, eps: float, steps: int, step_size: float) -> torch.Tensor:
    """TRADES's inner maximisation (Zhang et al. 2019): the point of the L∞ ball around x whose prediction is
    furthest, in KL divergence, from the prediction at x. No label is used. Starts at x + 0.001·N(0, 1) as
    the paper does (KL has a zero gradient at x itself); runs in eval mode and restores the mode."""
    x = x.detach()
    with eval_mode(model):
        with torch.no_grad():
            p_clean = F.softmax(model(x), dim=1)
        x_adv = (x + 0.001 * torch.randn_like(x)).clamp_(0.0, 1.0)

        def goal(xa: torch.Tensor, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            logits = model(xa)
            kl = F.kl_div(F.log_softmax(logits, dim=1), p_clean[idx], reduction="none").sum(1)
            return logits, kl

        linf_walk(goal, x_adv, (x - eps).clamp(0.0, 1.0), (x + eps).clamp(0.0, 1.0), step_size, steps,
                  evaluate_last=False)
    return x_adv.detach()


def trades_loss(model: nn.Module, xb: torch.Tensor, yb: torch.Tensor, config: TrainConfig,
                eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """TRADES's objective: cross-entropy on the clean batch + β·KL(f(x) ‖ f(x')) with x' from
    trades_adversary. Returns the clean logits (for the training accuracy) and the loss; model in train mode."""
    x_adv = trades_adversary(model, xb, eps, config.adv_steps, config.step_size() * (
        eps / config.adv_eps if config.adv_eps > 0 else 1.0)) if eps > 0 else xb
    model.train()
    logits = model(xb)
    loss = F.cross_entropy(logits, yb)
    if eps > 0 and config.trades_beta > 0:
        kl = F.kl_div(F.log_softmax(model(x_adv), dim=1), F.softmax(logits, dim=1), reduction="batchmean")
        loss = loss + config.trades_beta * kl
    return logits, loss


def robust_accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, eps: float, steps: int,
                    batch_size: int = 500) -> float:
    """Accuracy under L∞ PGD (random start, step 2.5·ε/steps) — the per-epoch robustness readout."""
    device = next(model.parameters()).device
    correct = 0
    for i in range(0, len(labels), batch_size):
        xb, yb = images[i : i + batch_size].to(device), labels[i : i + batch_size].to(device)
        x_adv = linf_pgd(model, xb, yb, eps, steps, 2.5 * eps / max(1, steps)) if eps > 0 else xb
        correct += int((predict_classes(model, x_adv) == yb).sum())
    return correct / max(1, len(labels))


@torch.inference_mode()
def predict_classes(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    was_training = model.training
    model.eval()
    try:
        return model(x).argmax(1)
    finally:
        model.train(was_training)


# ---------------------------------------------------------------------------------------------------------
# Checkpoints: model + optimizer + RNG state in one safetensors file, written atomically after each epoch.



def save_checkpoint(path, model: nn.Module, opt: torch.optim.Optimizer, gen: torch.Generator, epoch: int,
                    config: TrainConfig, history: list[dict], elapsed_s: float) -> None:
    from safetensors.torch import save

    from advstudio.core.files import atomic_write_bytes

    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    for i, p in enumerate(opt.param_groups[0]["params"]):
        for name, value in opt.state.get(p, {}).items():
            t = value if torch.is_tensor(value) else torch.tensor(float(value))
            tensors[f"opt.{i}.{name}"] = t.detach().cpu().reshape(t.shape).contiguous()
    tensors["rng.torch"] = torch.get_rng_state()
    tensors["rng.shuffle"] = gen.get_state()
    meta = {"epoch": epoch, "config": asdict(config), "history": history, "elapsed_s": elapsed_s,
            "architecture": _architecture_of(model)}
    atomic_write_bytes(path, save(tensors, metadata={CHECKPOINT_KEY: json.dumps(meta)}))


MAX_CHECKPOINT_BYTES = 64 * 1024 * 1024


def load_checkpoint(path, model: nn.Module, opt: torch.optim.Optimizer, gen: torch.Generator) -> dict:
    """Restore a checkpoint into model/opt/gen; returns its metadata (epoch, history, elapsed_s), checked field
    by field. Refuses, with ModelFileError, files that are not regular, not ours, or don't fit."""
    from safetensors.torch import load

    from advstudio.core.files import NotARegularFile, check_regular_file

    path = Path(path)
    try:
        check_regular_file(path, max_bytes=MAX_CHECKPOINT_BYTES)
        data = path.read_bytes()
        tensors = load(data)
        meta = json.loads(_checkpoint_header(data).get(CHECKPOINT_KEY, "null"))
    except NotARegularFile as exc:
        raise ModelFileError(f"the checkpoint {exc}") from None
    except Exception as exc:  # noqa: BLE001 - safetensors raises several kinds for a bad file
        raise ModelFileError(f"{path.name}: not a readable training checkpoint ({exc})") from exc
    meta = _checked_checkpoint_meta(path, meta)
    saved, ours = meta.get("architecture"), _architecture_of(model)
    if isinstance(saved, str) and saved != ours:
        raise ModelFileError(f"{path.name}: the checkpoint is of the {saved[:60]} architecture, not of the {ours} "
                             "being trained; pick that architecture to resume, or start afresh")
    missing = [k for k in ("rng.torch", "rng.shuffle") if k not in tensors]
    if missing:
        raise ModelFileError(f"{path.name}: the checkpoint lacks {', '.join(missing)}")
    state = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    try:
        model.load_state_dict(state, strict=True)
        params = opt.param_groups[0]["params"]
        for i, p in enumerate(params):
            entries = {k.split(".", 2)[2]: v for k, v in tensors.items() if k.startswith(f"opt.{i}.")}
            if entries:
                opt.state[p] = {k: v.to(p.device) if k != "step" else v.clone() for k, v in entries.items()}
        torch.set_rng_state(tensors["rng.torch"])
        gen.set_state(tensors["rng.shuffle"])
    except (RuntimeError, ValueError, TypeError) as exc:
        raise ModelFileError(f"{path.name}: the checkpoint's weights do not fit this network ({exc})") from exc
    return meta


def _architecture_of(model: nn.Module) -> str:
    """The architecture name model files record for this network (core.model's ARCHITECTURE class attribute)."""
    return getattr(type(model), "ARCHITECTURE", "") or DEFAULT_ARCHITECTURE


def _checkpoint_header(data: bytes) -> dict:
    """The safetensors header's __metadata__ (a dict of strings; {} when absent or malformed)."""
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + n].decode("utf-8"))
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    return meta if isinstance(meta, dict) else {}


def _checked_checkpoint_meta(path: Path, meta) -> dict:
    """The checkpoint's metadata with its fields type-checked: a typed error, never a KeyError or TypeError."""
    if not isinstance(meta, dict) or "epoch" not in meta:
        raise ModelFileError(f"{path.name}: not an Adversarial Studio training checkpoint")
    epoch, history, elapsed = meta["epoch"], meta.get("history", []), meta.get("elapsed_s", 0.0)
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise ModelFileError(f"{path.name}: the checkpoint's epoch {epoch!r} is not a whole number ≥ 0")
    if not isinstance(history, list) or not all(isinstance(h, dict) for h in history):
        raise ModelFileError(f"{path.name}: the checkpoint's history is malformed")
    if isinstance(elapsed, bool) or not isinstance(elapsed, (int, float)) or not math.isfinite(elapsed):
        elapsed = 0.0
    return {**meta, "epoch": epoch, "history": history, "elapsed_s": float(elapsed)}


def train(
    model: nn.Module,
    train_split: MnistSplit,
    test_split: MnistSplit | None,
    config: TrainConfig = TrainConfig(),
    cancel: threading.Event | None = None,
    between_batches: Callable[[], None] | None = None,
    checkpoint: str | Path | None = None,
    resume: bool = False,
) -> Iterator[Progress]:
    """Train `model` in place (on the device it lives on), yielding Progress every `report_every` batches
    and at the end of each epoch (with test accuracy, and PGD robust accuracy when training adversarially).
    Raises TrainingCancelled when `cancel` is set (checked between batches). With `checkpoint`, an atomic
    checkpoint is written after every epoch; with `resume`, training continues from it.
    `between_batches` is called after every batch (the GUI worker serves interactive requests there)."""
    device = next(model.parameters()).device
    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    data = train_split.head(config.limit)
    x_all, y_all = data.images, data.labels
    if device.type != "cpu":
        x_all, y_all = x_all.to(device), y_all.to(device)
    n = len(y_all)
    if n == 0:
        raise DatasetError("no training samples: the training split is empty, so there is nothing to train on")
    batches = math.ceil(n / config.batch_size)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    loss_fn = nn.CrossEntropyLoss()
    history: list[dict] = []
    first_epoch = 1
    elapsed_before = 0.0
    if resume and checkpoint is not None and Path(checkpoint).exists():
        meta = load_checkpoint(checkpoint, model, opt, gen)
        first_epoch = meta["epoch"] + 1
        history = list(meta["history"])
        elapsed_before = meta["elapsed_s"]
        if first_epoch > config.epochs + 1:
            raise ModelFileError(f"{Path(checkpoint).name}: the checkpoint is at epoch {meta['epoch']}, past the "
                                 f"{config.epochs} epoch(s) asked for; ask for at least {meta['epoch']} epochs")
        if first_epoch == config.epochs + 1:
            # killed after the last checkpoint but before the model was written: nothing left to train, so
            # report the finished run and let the caller write its output
            model.eval()
            yield _finished(config, batches, history)
            return
    guard = _Guard(config, x_all, y_all) if config.guard_every and config.adversarial is not None else None
    collapsed = None
    total_batches = batches * (config.epochs - first_epoch + 1)
    start = time.perf_counter()
    done_batches = 0
    seen = 0
    for epoch in range(first_epoch, config.epochs + 1):
        model.train()
        perm = torch.randperm(n, generator=gen)
        if device.type != "cpu":
            perm = perm.to(device)
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        epoch_seen = 0
        for b in range(batches):
            if cancel is not None and cancel.is_set():
                raise TrainingCancelled(f"training cancelled in epoch {epoch}, batch {b}")
            idx = perm[b * config.batch_size : (b + 1) * config.batch_size]
            xb, yb = x_all[idx], y_all[idx]
            if config.lr_schedule != "constant":
                for group in opt.param_groups:
                    group["lr"] = config.lr_at(epoch, b / batches)
            if config.adversarial == "trades":
                logits, loss = trades_loss(model, xb, yb, config, config.eps_at(epoch, b / batches))
            else:
                if config.adversarial is not None:
                    xb = _mix_adversarial(model, xb, yb, config, config.eps_at(epoch, b / batches))
                logits = model(xb)
                loss = loss_fn(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.detach() * len(yb)
            correct += (logits.detach().argmax(1) == yb).sum()
            epoch_seen += len(yb)
            seen += len(yb)
            done_batches += 1
            if between_batches is not None:
                between_batches()
            if guard is not None and done_batches % config.guard_every == 0:
                collapsed = guard.check(model, epoch, b + 1)
            last = b == batches - 1 or collapsed is not None
            if (b + 1) % config.report_every == 0 or last:
                elapsed = time.perf_counter() - start
                rate = seen / elapsed if elapsed > 0 else 0.0
                eta = (total_batches - done_batches) * (elapsed / done_batches)
                tr_loss = float(loss_sum) / epoch_seen
                tr_acc = float(correct) / epoch_seen
                test_acc = robust_acc = None
                if last and test_split is not None:
                    ev = test_split.head(config.eval_limit)
                    test_acc = accuracy(model, ev.images, ev.labels)
                    if config.adversarial is not None:
                        held = test_split.head(config.robust_eval_samples)
                        robust_acc = robust_accuracy(model, held.images, held.labels, config.adv_eps,
                                                     config.robust_eval_steps)
                if last:
                    history.append({"epoch": epoch, "train_loss": tr_loss, "train_accuracy": tr_acc,
                                    "test_accuracy": test_acc, "robust_accuracy": robust_acc,
                                    **({"guard": collapsed} if collapsed is not None else {})})
                    if checkpoint is not None:
                        save_checkpoint(checkpoint, model, opt, gen, epoch, config, history,
                                        elapsed_before + time.perf_counter() - start)
                yield Progress(
                    epoch=epoch,
                    epochs=config.epochs,
                    batch=b + 1,
                    batches=batches,
                    loss=tr_loss,
                    accuracy=tr_acc,
                    samples_per_s=rate,
                    eta_s=eta,
                    test_accuracy=test_acc,
                    robust_accuracy=robust_acc,
                    done=last and (epoch == config.epochs or collapsed is not None),
                    history=tuple(history),
                )
            if collapsed is not None:
                model.eval()
                return
    model.eval()


class _Guard:
    """Early stopping against catastrophic overfitting (Wong et al. 2020): PGD-10 accuracy at the training ε on
    a fixed slice of the training set, checked every guard_every batches; the best weights are kept in memory,
    and a fall of more than guard_drop below the best restores them and ends the run."""

    def __init__(self, config: TrainConfig, x_all: torch.Tensor, y_all: torch.Tensor) -> None:
        self.config = config
        self.x, self.y = x_all[: config.guard_samples], y_all[: config.guard_samples]
        self.best = -1.0
        self.best_state: dict | None = None

    def check(self, model: nn.Module, epoch: int, batch: int) -> str | None:
        """None while training goes on; on a collapse, restores the best weights and says what happened."""
        acc = robust_accuracy(model, self.x, self.y, self.config.adv_eps, 10)
        model.train()
        if acc > self.best:
            self.best = acc
            self.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            return None
        if acc < self.best - self.config.guard_drop and self.best_state is not None:
            model.load_state_dict(self.best_state)
            return (f"stopped in epoch {epoch}, batch {batch}: PGD-10 accuracy on {len(self.y)} training images "
                    f"fell to {acc * 100:.1f}% from its best {self.best * 100:.1f}% (catastrophic overfitting); "
                    "the weights of that best check were restored")
        return None


def _finished(config: TrainConfig, batches: int, history: list[dict]) -> Progress:
    """The last report of a run whose every epoch is already in its checkpoint."""
    last = history[-1] if history else {}

    def number(key: str) -> float | None:
        v = last.get(key)
        return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None

    return Progress(epoch=config.epochs, epochs=config.epochs, batch=batches, batches=batches,
                    loss=number("train_loss") or 0.0, accuracy=number("train_accuracy") or 0.0, samples_per_s=0.0,
                    eta_s=0.0, test_accuracy=number("test_accuracy"), robust_accuracy=number("robust_accuracy"),
                    done=True, history=tuple(history))


def model_metadata(config: TrainConfig, last: Progress, *, name: str, train_samples: int, test_samples: int,
                   seconds: float, device: str, command: str | None = None, init_meta: dict | None = None,
                   fgsm_curve=None, architecture: str = DEFAULT_ARCHITECTURE) -> dict:
    """The metadata stored with a trained model (architecture, recipe, accuracy, history, provenance); the CLI's
    `train` and the window's Training tab write the same document. `fgsm_curve` is a RobustnessCurve or None."""
    meta = {
        "name": name,
        "architecture": architecture,
        "recipe": config.recipe(),
        "seed": config.seed,
        "epochs": config.epochs,
        "train_samples": train_samples,
        "test_accuracy": last.test_accuracy,
        "test_samples": test_samples,
        "history": list(last.history),
        **({"initialized_from": {"name": init_meta.get("name"), "command": init_meta.get("command"),
                                 "training_seconds": init_meta.get("training_seconds")}}
           if init_meta is not None else {}),
        "training_seconds": round(seconds, 1),
        "device": device,
        "versions": library_versions(),
        "date": now_iso(),
        "command": command,
    }
    if fgsm_curve is not None:
        meta["fgsm_curve"] = {"n": fgsm_curve.n, "eps": list(fgsm_curve.eps), "accuracy": list(fgsm_curve.accuracy)}
    return meta


def _mix_adversarial(model: nn.Module, xb: torch.Tensor, yb: torch.Tensor, config: TrainConfig,
                     eps: float) -> torch.Tensor:
    """Replace the first adv_fraction of the batch by adversarial examples at radius ε."""
    k = int(round(config.adv_fraction * len(yb)))
    if k == 0 or eps <= 0:
        return xb
    steps = 1 if config.adversarial == "fgsm_rs" else config.adv_steps
    step = config.step_size() * (eps / config.adv_eps if config.adv_eps > 0 else 1.0)
    x_adv = linf_pgd(model, xb[:k], yb[:k], eps, steps, step, random_start=True)
    model.train()
    return torch.cat([x_adv, xb[k:]]) if k < len(yb) else x_adv
