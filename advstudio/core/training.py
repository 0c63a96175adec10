"""Training as a generator of Progress reports, cancellable between batches (the article's recipe by default)."""

from __future__ import annotations

import math
import threading
import time
from dataclasses import asdict, dataclass
from typing import Callable, Iterator

import torch
from torch import nn

from .data import MnistSplit
from .types import Progress


class TrainingCancelled(Exception):
    """Raised from the training generator when its cancel event is set (between batches)."""


@dataclass(frozen=True)
class TrainConfig:
    """The article's recipe: Adam, lr 1e-3, batch 64, 5 epochs, cross-entropy, shuffled, seeded."""

    epochs: int = 5
    batch_size: int = 64
    lr: float = 1e-3
    seed: int = 0
    limit: int | None = None  # use only the first N training samples (quick runs)
    eval_limit: int | None = None  # evaluate on the first N test samples after each epoch
    report_every: int = 20  # batches between progress reports

    def recipe(self) -> dict:
        d = asdict(self)
        d.pop("report_every")
        return {"optimizer": "Adam", "loss": "cross_entropy", "shuffle": True, **d}


@torch.inference_mode()
def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 2000) -> float:
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


def train(
    model: nn.Module,
    train_split: MnistSplit,
    test_split: MnistSplit | None,
    config: TrainConfig = TrainConfig(),
    cancel: threading.Event | None = None,
    between_batches: Callable[[], None] | None = None,
) -> Iterator[Progress]:
    """Train `model` in place (on the device it lives on), yielding Progress every `report_every` batches
    and at the end of each epoch (with the test accuracy). Raises TrainingCancelled when `cancel` is set.
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
        raise ValueError("no training samples")
    batches = math.ceil(n / config.batch_size)
    total_batches = batches * config.epochs
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    loss_fn = nn.CrossEntropyLoss()
    history: list[tuple] = []
    start = time.perf_counter()
    done_batches = 0
    seen = 0
    for epoch in range(1, config.epochs + 1):
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
            last = b == batches - 1
            if (b + 1) % config.report_every == 0 or last:
                elapsed = time.perf_counter() - start
                rate = seen / elapsed if elapsed > 0 else 0.0
                eta = (total_batches - done_batches) * (elapsed / done_batches)
                tr_loss = float(loss_sum) / epoch_seen
                tr_acc = float(correct) / epoch_seen
                test_acc = None
                if last and test_split is not None:
                    ev = test_split.head(config.eval_limit)
                    test_acc = accuracy(model, ev.images, ev.labels)
                if last:
                    history.append((epoch, tr_loss, tr_acc, test_acc))
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
                    done=last and epoch == config.epochs,
                    history=tuple(history),
                )
    model.eval()
