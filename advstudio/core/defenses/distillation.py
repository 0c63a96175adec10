"""Defensive distillation (Papernot et al., 2016): train a teacher with its softmax at temperature T, then a
student of the same architecture on the teacher's soft labels at the same T; at test time T = 1.

The student's logits come out about T times larger than a normal model's, so its softmax saturates and the
cross-entropy gradient underflows to (nearly) zero in float32: FGSM, which follows that gradient, finds
little. The decision boundaries barely move, and C&W, which works on the logits' margin, finds
adversarial examples as small as on an undefended model (Carlini & Wagner, 2016)."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from advstudio.core.data import MnistSplit
from advstudio.core.errors import TrainingCancelled
from advstudio.core.training import accuracy
from advstudio.core.training_config import DEFAULT_TEMPERATURE, TrainConfig
from advstudio.core.types import Progress

__all__ = ["DEFAULT_TEMPERATURE", "train_at_temperature", "soft_labels", "distill", "distillation_recipe"]



@torch.no_grad()
def soft_labels(teacher: nn.Module, images: torch.Tensor, temperature: float,
                batch_size: int = 500) -> torch.Tensor:
    """softmax(teacher(x) / T) for every image, in eval mode, on the CPU (N×classes)."""
    device = next(teacher.parameters()).device
    was_training = teacher.training
    teacher.eval()
    try:
        return torch.cat([torch.softmax(teacher(images[i : i + batch_size].to(device)) / temperature, 1).cpu()
                          for i in range(0, images.shape[0], batch_size)])
    finally:
        teacher.train(was_training)


def train_at_temperature(
    model: nn.Module,
    train_split: MnistSplit,
    test_split: MnistSplit | None,
    config: TrainConfig = TrainConfig(),
    temperature: float = DEFAULT_TEMPERATURE,
    targets: torch.Tensor | None = None,
    cancel: threading.Event | None = None,
    between_batches: Callable[[], None] | None = None,
) -> Iterator[Progress]:
    """Train `model` in place with its logits divided by T in the loss: cross-entropy against the hard labels,
    or against `targets` (N×classes probabilities, the teacher's soft labels) when given. Yields Progress like
    core.training.train (test accuracy at T = 1, i.e. the plain argmax, after each epoch); cancel between
    batches raises TrainingCancelled. Uses config's epochs, batch_size, lr, seed, limit, eval_limit and
    report_every (Adam, shuffled); adversarial training does not combine with it."""
    if temperature <= 0:
        raise ValueError(f"the temperature must be positive, got {temperature}")
    if config.adversarial is not None:
        raise ValueError("distillation trains on clean inputs: leave TrainConfig.adversarial unset")
    device = next(model.parameters()).device
    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    data = train_split.head(config.limit)
    x_all, y_all = data.images, data.labels
    n = len(y_all)
    if n == 0:
        raise ValueError("no training samples")
    if targets is not None:
        targets = targets[:n]
        if targets.shape[0] != n or targets.ndim != 2:
            raise ValueError(f"soft targets of shape {tuple(targets.shape)} for {n} samples")
    batches = math.ceil(n / config.batch_size)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    history: list[dict] = []
    start = time.perf_counter()
    done_batches = seen = 0
    total_batches = batches * config.epochs
    for epoch in range(1, config.epochs + 1):
        model.train()
        perm = torch.randperm(n, generator=gen)
        loss_sum, correct, epoch_seen = 0.0, 0, 0
        for b in range(batches):
            if cancel is not None and cancel.is_set():
                raise TrainingCancelled(f"training cancelled in epoch {epoch}, batch {b}")
            idx = perm[b * config.batch_size : (b + 1) * config.batch_size]
            xb, yb = x_all[idx].to(device), y_all[idx].to(device)
            logits = model(xb)
            log_p = F.log_softmax(logits / temperature, 1)
            if targets is None:
                loss = F.nll_loss(log_p, yb)
            else:
                loss = -(targets[idx].to(device) * log_p).sum(1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += float(loss.detach()) * len(yb)
            correct += int((logits.detach().argmax(1) == yb).sum())
            epoch_seen += len(yb)
            seen += len(yb)
            done_batches += 1
            if between_batches is not None:
                between_batches()
            last = b == batches - 1
            if (b + 1) % config.report_every == 0 or last:
                elapsed = time.perf_counter() - start
                test_acc = None
                if last and test_split is not None:
                    ev = test_split.head(config.eval_limit)
                    test_acc = accuracy(model, ev.images, ev.labels)
                if last:
                    history.append({"epoch": epoch, "train_loss": loss_sum / epoch_seen,
                                    "train_accuracy": correct / epoch_seen, "test_accuracy": test_acc})
                yield Progress(
                    epoch=epoch, epochs=config.epochs, batch=b + 1, batches=batches,
                    loss=loss_sum / epoch_seen, accuracy=correct / epoch_seen,
                    samples_per_s=seen / elapsed if elapsed > 0 else 0.0,
                    eta_s=(total_batches - done_batches) * (elapsed / done_batches),
                    test_accuracy=test_acc, done=last and epoch == config.epochs, history=tuple(history),
                )
    model.eval()


def distill(
    teacher: nn.Module,
    student: nn.Module,
    train_split: MnistSplit,
    test_split: MnistSplit | None,
    config: TrainConfig = TrainConfig(),
    temperature: float = DEFAULT_TEMPERATURE,
    cancel: threading.Event | None = None,
    between_batches: Callable[[], None] | None = None,
) -> Iterator[tuple[str, Progress]]:
    """Defensive distillation, both models trained in place: yields ("teacher", Progress) while the teacher
    trains at T on hard labels, then ("student", Progress) while the student trains at T on the teacher's soft
    labels. Deploy the student as it is (T = 1). Same config (epochs, data, seed) for both stages."""
    for prog in train_at_temperature(teacher, train_split, test_split, config, temperature, None, cancel,
                                     between_batches):
        yield "teacher", prog
    data = train_split.head(config.limit)
    targets = soft_labels(teacher, data.images, temperature)
    for prog in train_at_temperature(student, train_split, test_split, config, temperature, targets, cancel,
                                     between_batches):
        yield "student", prog


def distillation_recipe(config: TrainConfig, temperature: float) -> dict:
    """The metadata recipe of a distilled student (for storage.save_model)."""
    recipe = config.recipe()
    recipe.update(defense="defensive_distillation", temperature=float(temperature),
                  loss="cross_entropy on teacher soft labels at temperature T (T = 1 at test time)")
    return recipe
