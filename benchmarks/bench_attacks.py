"""Attack throughput and robust accuracy: ours against torchattacks on the same batch, in the same process,
and PGD with early stop against PGD running every step. Prints ratios (a script, not a timed test).

    ADVSTUDIO_MNIST_DIR=../shared/mnist .venv/bin/python benchmarks/bench_attacks.py [--n 1000] [--threads 2]
        [--repeat 3] [--only pgd,pgd-early]

Robust accuracy is the fraction of the batch still classified correctly: for torchattacks, on the images it
returns (the last iterate); for ours, counting a sample broken if any step misclassified it (early stop)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", help="MNIST folder (default: $ADVSTUDIO_MNIST_DIR)")
    ap.add_argument("--n", type=int, default=1000, help="test images for the L∞ attacks (default 1000)")
    ap.add_argument("--n-cw", type=int, default=200, help="test images for C&W (default 200)")
    ap.add_argument("--n-deepfool", type=int, default=32,
                    help="test images for DeepFool (default 32: torchattacks' DeepFool loops over single images)")
    ap.add_argument("--threads", type=int, default=0, help="torch intra-op threads (default: torch's choice)")
    ap.add_argument("--batch-size", type=int, default=500)
    ap.add_argument("--only", help="comma-separated subset: fgsm,bim,mifgsm,pgd,pgd-early,cw,deepfool")
    ap.add_argument("--repeat", type=int, default=1,
                    help="time each run this many times, ours and theirs interleaved, and keep the fastest "
                         "(on a shared machine, 3 or more)")
    args = ap.parse_args()
    if args.threads:
        os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))

    import torch
    import torchattacks

    from advstudio.core.attacks import make_attack
    from advstudio.core.data import load_split
    from advstudio.core.storage import bundled_model_path, load_model

    if args.threads:
        torch.set_num_threads(args.threads)
    model, _ = load_model(bundled_model_path())
    test = load_split(args.data, "test")
    only = set(args.only.split(",")) if args.only else None

    def want(key: str) -> bool:
        return only is None or key in only

    def batches(n: int):
        for s in range(0, n, args.batch_size):
            yield test.images[s : min(s + args.batch_size, n)], test.labels[s : min(s + args.batch_size, n)]

    def run_ours(attack, n: int) -> tuple[float, float]:
        correct, t0 = 0, time.perf_counter()
        for x, y in batches(n):
            correct += int(attack.run(model, x, y).correct.sum())
        return time.perf_counter() - t0, correct / n

    def run_theirs(make, n: int, seed: int | None = None) -> tuple[float, float]:
        correct, t0 = 0, time.perf_counter()
        if seed is not None:
            torch.manual_seed(seed)
        for x, y in batches(n):
            adv = make()(x, y)
            with torch.no_grad():
                correct += int((model(adv).argmax(1) == y).sum())
        return time.perf_counter() - t0, correct / n

    with torch.no_grad():  # warm up the kernels
        model(test.images[:256])

    eps = 0.1
    rows = []
    print(f"torch {torch.__version__}, torchattacks {torchattacks.__version__}, threads {torch.get_num_threads()}, "
          f"bundled model, MNIST test images from the start of the set; L∞ ε = {eps}")
    cases = [
        ("fgsm", "FGSM", args.n, lambda: make_attack("fgsm", eps=eps), lambda: torchattacks.FGSM(model, eps=eps), None),
        ("bim", "BIM-10 α=ε/4", args.n, lambda: make_attack("bim", eps=eps, steps=10, step_size=eps / 4),
         lambda: torchattacks.BIM(model, eps=eps, alpha=eps / 4, steps=10), None),
        ("mifgsm", "MI-FGSM-10 μ=1", args.n, lambda: make_attack("mifgsm", eps=eps, steps=10, step_size=eps / 10),
         lambda: torchattacks.MIFGSM(model, eps=eps, alpha=eps / 10, steps=10, decay=1.0), None),
        ("pgd", "PGD-40 α=0.01", args.n, lambda: make_attack("pgd", eps=eps, steps=40, step_size=0.01, seed=0),
         lambda: torchattacks.PGD(model, eps=eps, alpha=0.01, steps=40, random_start=True), 0),
        ("cw", "C&W c=1 50 steps lr 0.1 (1 round)", args.n_cw,
         lambda: make_attack("cw", c=1.0, steps=50, lr=0.1, binary_search_steps=1),
         lambda: torchattacks.CW(model, c=1, kappa=0, steps=50, lr=0.1), None),
        ("deepfool", "DeepFool-50 overshoot 0.02", args.n_deepfool, lambda: make_attack("deepfool", steps=50),
         lambda: torchattacks.DeepFool(model, steps=50, overshoot=0.02), None),
    ]
    print(f"\n{'attack':<36} {'n':>5} {'ours s':>8} {'theirs s':>9} {'ours img/s':>10} {'theirs img/s':>12} "
          f"{'speed ×':>8} {'ours acc':>9} {'theirs acc':>10}")
    for key, title, n, ours, theirs, seed in cases:
        if not want(key):
            continue
        t_ours = t_theirs = float("inf")
        for _ in range(max(1, args.repeat)):
            t, a_ours = run_ours(ours(), n)
            t_ours = min(t_ours, t)
            t, a_theirs = run_theirs(theirs, n, seed)
            t_theirs = min(t_theirs, t)
        rows.append((title, n, t_ours, t_theirs, a_ours, a_theirs))
        print(f"{title:<36} {n:>5} {t_ours:>8.2f} {t_theirs:>9.2f} {n / t_ours:>10.0f} {n / t_theirs:>12.0f} "
              f"{t_theirs / t_ours:>8.2f} {a_ours * 100:>8.2f}% {a_theirs * 100:>9.2f}%", flush=True)

    if want("pgd-early"):
        print(f"\nPGD-40 (α = 0.01, random start, 1 restart), n = {args.n}: early stop against every step")
        print(f"{'eps':>5} {'early s':>8} {'full s':>8} {'speed ×':>8} {'early acc':>10} {'full acc':>9} "
              f"{'early grads':>12} {'full grads':>11}")
        for e in (0.1, 0.2, 0.3):
            res = {}
            for _ in range(max(1, args.repeat)):
                for mode in (True, False):
                    attack = make_attack("pgd", eps=e, steps=40, step_size=0.01, early_stop=mode, seed=0)
                    correct, grads, t0 = 0, 0, time.perf_counter()
                    for x, y in batches(args.n):
                        out = attack.run(model, x, y)
                        correct += int(out.correct.sum())
                        grads += out.gradient_evaluations
                    took = time.perf_counter() - t0
                    res[mode] = (min(took, res.get(mode, (took,))[0]), correct / args.n, grads)
            (te, ae, ge), (tf, af, gf) = res[True], res[False]
            print(f"{e:>5.2f} {te:>8.2f} {tf:>8.2f} {tf / te:>8.2f} {ae * 100:>9.2f}% {af * 100:>8.2f}% "
                  f"{ge:>12} {gf:>11}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
