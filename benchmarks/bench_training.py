"""Benchmark: the cost of adversarial training against standard training, measured in the same run.

One epoch of core.training.train on the same training subset, from the same initial weights, for:
standard training (the article's recipe), FGSM-RS ("fast" adversarial training, one attack step), and PGD
adversarial training with 10 and 40 steps (Madry). No per-epoch evaluation is timed (test_split=None);
every method first runs one untimed warm-up epoch on 256 samples.
Prints each epoch's time and its ratio to the standard epoch (the article's "5–10×" claim, measured).

    ADVSTUDIO_MNIST_DIR=../shared/mnist .venv/bin/python benchmarks/bench_training.py --samples 5000
    .venv/bin/python benchmarks/bench_training.py --data ../shared/mnist --samples 60000 --methods standard,pgd40
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

METHODS = {
    "standard": {"adversarial": None},
    "fgsm_rs": {"adversarial": "fgsm_rs"},
    "pgd10": {"adversarial": "pgd", "adv_steps": 10},
    "pgd40": {"adversarial": "pgd", "adv_steps": 40},
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", help="MNIST folder (default: $ADVSTUDIO_MNIST_DIR)")
    p.add_argument("--samples", type=int, default=5000, help="training samples in the epoch (default 5000)")
    p.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated, from {', '.join(METHODS)}")
    p.add_argument("--eps", type=float, default=0.3, help="adversarial training ε (default 0.3)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--threads", type=int, default=max(1, (os.cpu_count() or 1) - 1),
                   help="torch intra-op threads (default: cores − 1, as the app uses)")
    p.add_argument("--repeats", type=int, default=1, help="timed epochs per method; the best is kept")
    p.add_argument("--device", default="cpu")
    return p.parse_args(argv)


def time_epoch(method: str, train_split, args, initial_state) -> float:
    import torch

    from advstudio.core.model import MnistCNN
    from advstudio.core.training import train
    from advstudio.core.training_config import TrainConfig

    device = torch.device(args.device)
    cfg = TrainConfig(epochs=1, batch_size=args.batch_size, limit=args.samples, adv_eps=args.eps,
                      report_every=10**9, **METHODS[method])
    best = float("inf")
    for _ in range(args.repeats):
        model = MnistCNN().to(device)
        model.load_state_dict(initial_state)
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _prog in train(model, train_split, None, cfg):
            pass
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import torch

    from advstudio.core.data import load_split
    from advstudio.core.model import MnistCNN

    torch.set_num_threads(args.threads)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        print(f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(METHODS)}", file=sys.stderr)
        return 2
    if "standard" not in methods:
        methods.insert(0, "standard")
    train_split = load_split(args.data, "train")
    n = min(args.samples, len(train_split))
    torch.manual_seed(0)
    initial = {k: v.clone() for k, v in MnistCNN().state_dict().items()}
    print(f"one training epoch on {n} MNIST samples, batch {args.batch_size}, ε = {args.eps:g}; "
          f"torch {torch.__version__}, {args.threads} thread(s), device {args.device}, {platform.processor() or platform.machine()}")
    # untimed warm-up: the first optimizer and the first backward pass pay one-time costs (imports, allocator)
    warm = argparse.Namespace(**{**vars(args), "samples": min(256, n), "repeats": 1})
    for m in methods:
        time_epoch(m, train_split, warm, initial)
    times = {}
    for m in methods:
        times[m] = time_epoch(m, train_split, args, initial)
        print(f"  {m:<9} {times[m]:8.2f} s  ({n / times[m]:7.0f} samples/s)", flush=True)
    base = times["standard"]
    print()
    print(f"{'method':<10}{'attack steps':>13}{'epoch (s)':>11}{'× standard':>12}")
    for m in methods:
        steps = {"standard": 0, "fgsm_rs": 1}.get(m, METHODS[m].get("adv_steps", 0))
        print(f"{m:<10}{steps:>13}{times[m]:>11.2f}{times[m] / base:>11.2f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())
