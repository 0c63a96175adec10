"""Benchmark the core against plain PyTorch peers, measured in the same run on the same machine.

1. Training, the article's recipe (Adam lr 1e-3, batch 64, shuffled, cross-entropy): advstudio's
   core.training.train against the usual plain loop over a torch DataLoader(TensorDataset) of the same
   in-memory tensors, from the same initial weights.
2. The 5-ε FGSM robustness curve (0, 0.05, 0.1, 0.2, 0.3) on the test set: core.evaluate.fgsm_curve (one
   input gradient per batch for the whole curve) against the naive per-ε loop that recomputes the gradient
   for every ε the article's way (images.requires_grad = True, loss.backward()).

Prints both times and their ratios (targets: training ≤ 1.0× plain, FGSM curve ≤ 0.4× naive).

    ADVSTUDIO_MNIST_DIR=../shared/mnist .venv/bin/python benchmarks/bench_core.py
    .venv/bin/python benchmarks/bench_core.py --data ../shared/mnist --train-samples 20000 --epochs 1 --repeats 2
"""

from __future__ import annotations

import argparse
import inspect
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", help="MNIST folder (default: $ADVSTUDIO_MNIST_DIR)")
    p.add_argument("--train-samples", type=int, default=20_000, help="training samples per run (default 20000)")
    p.add_argument("--epochs", type=int, default=1, help="training epochs per run (default 1)")
    p.add_argument("--eval-samples", type=int, default=10_000, help="test images for the FGSM curve (default 10000)")
    p.add_argument("--eval-batch", type=int, default=None,
                   help="batch size of both FGSM curves (default: fgsm_curve's own default)")
    p.add_argument("--threads", type=int, default=max(1, (os.cpu_count() or 1) - 1),
                   help="torch intra-op threads for both sides (default: cores − 1, as the app uses)")
    p.add_argument("--repeats", type=int, default=1, help="timed runs per side, alternating order; best is kept")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--skip-train", action="store_true")
    p.add_argument("--skip-fgsm", action="store_true")
    return p.parse_args(argv)


# --- the peers: plain PyTorch, written the way tutorials and the article do it ----------------------------


def plain_train(model, images, labels, epochs: int, seed: int) -> None:
    import torch
    import torch.nn.functional as F
    from torch.utils.data import DataLoader, TensorDataset

    loader = DataLoader(TensorDataset(images, labels), batch_size=64, shuffle=True,
                        generator=torch.Generator().manual_seed(seed))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _epoch in range(epochs):
        model.train()
        running_loss, correct, total = 0.0, 0, 0
        for data, target in loader:
            optimizer.zero_grad()
            output = model(data)
            loss = F.cross_entropy(output, target)
            loss.backward()
            optimizer.step()
            running_loss += loss.item() * len(target)
            correct += (output.argmax(1) == target).sum().item()
            total += len(target)
    model.eval()


def naive_fgsm_curve(model, images, labels, eps_list, batch_size: int) -> list[float]:
    import torch
    import torch.nn.functional as F

    model.eval()
    accuracies = []
    for eps in eps_list:
        correct = 0
        for start in range(0, len(labels), batch_size):
            data = images[start : start + batch_size].clone()
            target = labels[start : start + batch_size]
            data.requires_grad = True
            output = model(data)
            loss = F.cross_entropy(output, target)
            model.zero_grad()
            loss.backward()
            perturbed = torch.clamp(data + eps * data.grad.data.sign(), 0, 1)
            with torch.no_grad():
                correct += (model(perturbed).argmax(1) == target).sum().item()
        accuracies.append(correct / len(labels))
    return accuracies


# --- helpers ----------------------------------------------------------------------------------------------


def fresh_model(seed: int):
    import torch

    from advstudio.core.model import MnistCNN

    torch.manual_seed(seed)
    return MnistCNN()


def warm_up(images, labels) -> None:
    """A few steps of both kinds so that neither side pays for one-time kernel set-up."""
    import torch
    import torch.nn.functional as F

    model = fresh_model(123)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for i in range(5):
        loss = F.cross_entropy(model(images[i * 64 : (i + 1) * 64]), labels[i * 64 : (i + 1) * 64])
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        model.eval()(images[:1000])


class Timing:
    """Wall-clock and CPU seconds of every run of one side; the best run counts (the least disturbed one)."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []
        self.result = None

    @property
    def best_wall(self) -> float:
        return min(self.wall)

    @property
    def best_cpu(self) -> float:
        return min(self.cpu)

    def runs(self) -> str:
        return ", ".join(f"{w:.2f}" for w in self.wall)


def best_of(repeats: int, runs: dict) -> dict[str, Timing]:
    """Run each side `repeats` times, alternating which goes first."""
    timings = {k: Timing() for k in runs}
    order = list(runs)
    for r in range(repeats):
        for name in order if r % 2 == 0 else order[::-1]:
            c0, w0 = time.process_time(), time.perf_counter()
            timings[name].result = runs[name]()
            timings[name].wall.append(time.perf_counter() - w0)
            timings[name].cpu.append(time.process_time() - c0)
    return timings


def report(label: str, t: Timing, extra: str = "") -> None:
    print(f"  {label:<52} {t.best_wall:7.2f} s wall  {t.best_cpu:7.2f} s CPU{extra}  (runs: {t.runs()} s)")


def ratio_line(a: Timing, b: Timing, what: str, target: float) -> None:
    print(f"  ratio {what}: {a.best_wall / b.best_wall:.2f}× wall, {a.best_cpu / b.best_cpu:.2f}× CPU   "
          f"(target ≤ {target:g}×)")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import torch

    from advstudio.core.data import DatasetError, load_split
    from advstudio.core.evaluation.curves import fgsm_curve
    from advstudio.core.resources import bundled_model_path
    from advstudio.core.storage import load_model
    from advstudio.core.training import accuracy, train
    from advstudio.core.training_config import TrainConfig

    torch.set_num_threads(args.threads)
    if args.eval_batch is None:
        args.eval_batch = inspect.signature(fgsm_curve).parameters["batch_size"].default
    try:
        test = load_split(args.data, "test").head(args.eval_samples)
        train_split = None if args.skip_train else load_split(args.data, "train").head(args.train_samples)
    except DatasetError as exc:
        print(f"bench_core: {exc}", file=sys.stderr)
        return 1

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, load average {load:.2f}; "
          f"torch {torch.__version__}, {torch.get_num_threads()} intra-op thread(s) on both sides, CPU")

    if not args.skip_train:
        x, y = train_split.images, train_split.labels
        warm_up(x, y)
        cfg = TrainConfig(epochs=args.epochs, seed=args.seed, limit=args.train_samples, report_every=10**9)
        models = {}

        def run_advstudio():
            models["advstudio"] = m = fresh_model(args.seed)
            for _ in train(m, train_split, None, cfg):
                pass

        def run_plain():
            models["plain"] = m = fresh_model(args.seed)
            plain_train(m, x, y, args.epochs, args.seed)

        res = best_of(args.repeats, {"plain": run_plain, "advstudio": run_advstudio})
        n = len(y) * args.epochs
        acc = {k: accuracy(m, test.images, test.labels) for k, m in models.items()}
        print(f"\ntraining, article recipe (Adam 1e-3, batch 64, shuffled), {len(y)} samples × {args.epochs} epoch(s):")
        for key, label in (("plain", "plain PyTorch loop (DataLoader over TensorDataset)"),
                           ("advstudio", "advstudio core.training.train")):
            t = res[key]
            report(label, t, f"  {n / t.best_wall:6.0f} samples/s  test acc {acc[key] * 100:.2f}%")
        ratio_line(res["advstudio"], res["plain"], "advstudio / plain", 1.0)

    if not args.skip_fgsm:
        model, _ = load_model(bundled_model_path())
        eps = [0.0, 0.05, 0.1, 0.2, 0.3]
        with torch.no_grad():
            model(test.images[: args.eval_batch])  # warm-up
        res = best_of(args.repeats, {
            "naive": lambda: naive_fgsm_curve(model, test.images, test.labels, eps, args.eval_batch),
            "advstudio": lambda: fgsm_curve(model, test.images, test.labels, eps, batch_size=args.eval_batch),
        })
        naive_acc, curve = res["naive"].result, res["advstudio"].result
        print(f"\nFGSM curve, ε = {', '.join(f'{e:g}' for e in eps)}, bundled model, {len(test)} test images, "
              f"batch {args.eval_batch}:")
        report("naive per-ε loop (gradient recomputed for every ε)", res["naive"],
               "  acc " + " / ".join(f"{a * 100:.2f}" for a in naive_acc) + " %")
        report("advstudio core.evaluate.fgsm_curve", res["advstudio"],
               "  acc " + " / ".join(f"{a * 100:.2f}" for a in curve.accuracy) + " %")
        ratio_line(res["advstudio"], res["naive"], "advstudio / naive", 0.4)
    return 0


if __name__ == "__main__":
    sys.exit(main())
