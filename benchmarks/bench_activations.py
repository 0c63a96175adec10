"""Overhead of the ReLU ActivationMonitor on a forward pass, against a plain forward pass in the same run.

    ADVSTUDIO_MNIST_DIR=../shared/mnist python benchmarks/bench_activations.py [--batch 1000] [--rounds 15]

For a batch of one image and a batch of `--batch` images it times, interleaved round by round: the plain
forward pass, the same pass with the monitor attached but disabled, with statistics only, with statistics
and histograms (the default), and `compare` (clean + adversarial pass with the unit-by-unit shift) against
two plain passes. Ratios use each variant's fastest round (the least disturbed by other processes) and the
median; the target is < 30 % overhead for the batch with histograms on.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from advstudio.core.activations import ActivationMonitor  # noqa: E402
from advstudio.core.model import MnistCNN  # noqa: E402


def load_inputs(n: int) -> tuple[torch.Tensor, str]:
    if os.environ.get("ADVSTUDIO_MNIST_DIR"):
        from advstudio.core.data import load_split

        return load_split(None, "test").images[:n].clone(), f"the first {n} MNIST test images"
    g = torch.Generator().manual_seed(0)
    return (torch.rand(n, 1, 28, 28, generator=g) > 0.8).float(), f"{n} random binary images (no MNIST)"


def load_model() -> tuple[torch.nn.Module, str]:
    from advstudio.core.resources import bundled_model_path
    from advstudio.core.storage import load_model as load

    path = bundled_model_path()
    if path.is_file():
        return load(path)[0].eval(), "the bundled model"
    torch.manual_seed(0)
    return MnistCNN().eval(), "an untrained MnistCNN (no bundled model)"


def bench(x: torch.Tensor, model: torch.nn.Module, rounds: int) -> dict[str, list[float]]:
    plain = model
    variants = {}
    monitors = []
    for label, kwargs, enabled in (
        ("attached, disabled", {}, False),
        ("statistics only", {"histograms": False}, True),
        ("statistics + histograms", {}, True),
    ):
        m = copy.deepcopy(model)
        mon = ActivationMonitor(m, **kwargs).attach()
        mon.calibrate(x)
        mon.enabled = enabled
        monitors.append(mon)
        variants[label] = (m, mon)
    cmp_model = copy.deepcopy(model)
    cmp_mon = ActivationMonitor(cmp_model).attach()
    monitors.append(cmp_mon)
    x_adv = (x + 0.1 * torch.sign(torch.randn(x.shape, generator=torch.Generator().manual_seed(1)))).clamp(0, 1)

    def timed(fn) -> float:
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0

    times: dict[str, list[float]] = {k: [] for k in ["plain", *variants, "compare", "2 × plain"]}
    inner = 20 if x.shape[0] == 1 else 1  # one image: time 20 passes per round so the clock resolves it
    try:
        with torch.inference_mode():
            for r in range(rounds + 1):
                sample = {"plain": timed(lambda: [plain(x) for _ in range(inner)])}
                for label, (m, mon) in variants.items():
                    sample[label] = timed(lambda m=m: [m(x) for _ in range(inner)])
                    mon.reset()
                sample["compare"] = timed(lambda: [cmp_mon.compare(x, x_adv) for _ in range(inner)])
                cmp_mon.reset()
                sample["2 × plain"] = timed(lambda: [(plain(x), plain(x_adv)) for _ in range(inner)])
                if r:  # round 0 warms up
                    for k, v in sample.items():
                        times[k].append(v / inner)
    finally:
        for mon in monitors:
            mon.remove()
    return times


def report(title: str, times: dict[str, list[float]]) -> None:
    print(f"\n{title}")
    print(f"  {'variant':<26}{'fastest':>11}{'median':>11}{'overhead (fastest)':>21}{'(median)':>10}")
    for k, v in times.items():
        if k == "2 × plain":
            continue
        ref = times["2 × plain"] if k == "compare" else times["plain"]
        ref_min, ref_med = min(ref), statistics.median(ref)
        name = "compare (vs 2 × plain)" if k == "compare" else k
        print(f"  {name:<26}{min(v) * 1e3:>9.2f}ms{statistics.median(v) * 1e3:>9.2f}ms"
              f"{(min(v) / ref_min - 1) * 100:>20.1f}%{(statistics.median(v) / ref_med - 1) * 100:>9.1f}%")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model, model_label = load_model()
    x, data_label = load_inputs(args.batch)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU; {model_label}; {data_label}; "
          f"{args.rounds} interleaved rounds")
    report("one image (mean of 20 passes per round)", bench(x[:1], model, args.rounds))
    report(f"batch of {x.shape[0]}", bench(x, model, args.rounds))
    print("\ntarget: < 30 % overhead for the batch with histograms on")
    return 0


if __name__ == "__main__":
    sys.exit(main())
