"""AutoAttack "standard" against torchattacks' four attacks chained by hand with the same budgets, on the same
images, in the same process, with the same torch thread count (a script, not a timed test).

    ADVSTUDIO_MNIST_DIR=../shared/mnist .venv/bin/python benchmarks/bench_autoattack.py [--n 500] [--threads 2]
        [--budget 1] [--model advstudio/resources/mnist_cnn_robust.safetensors] [--eps 0.3]

Ours: `make_attack("autoattack", eps=ε, budget=b)`: APGD-CE (100 steps) → APGD-T (9 targets × 100 steps) →
FAB-T (9 × 100) → Square (5,000 queries, p_init 0.8), each on the points still robust, batched targets, a point
dropped as soon as it breaks. torchattacks 3.5.1: APGD(loss='ce', steps) → APGDT(steps, n_classes=10) →
FAB(multi_targeted=True, steps, n_classes=10) → Square(n_queries, p_init=0.8), passed explicitly (its
`AutoAttack` wrapper runs 10 steps, its issues #164 and #188), each called on the points the previous ones left
robust, exactly as AutoAttack chains them. `--budget b` scales every step and query count of both sides alike
(b < 1 is a quicker, weaker look; the rows say so).

Prints each side's per-attack breakdown (points broken by each attack), robust accuracy, seconds and images per
second, and the throughput ratio ours / torchattacks (above 1: ours is faster). Equal or lower robust accuracy is
the other half of the target: a faster attack that finds less would not count."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ATTACKS = ("apgd-ce", "apgd-t", "fab-t", "square")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", help="MNIST folder (default: $ADVSTUDIO_MNIST_DIR)")
    ap.add_argument("--model", help="model file (default: the bundled robust model)")
    ap.add_argument("--n", type=int, default=500, help="test images from the start of the set (default 500)")
    ap.add_argument("--eps", type=float, default=0.3, help="L∞ ε in pixel units (default 0.3)")
    ap.add_argument("--budget", type=float, default=1.0,
                    help="share of the paper's steps and queries for both sides (default 1: the full budget)")
    ap.add_argument("--batch-size", type=int, default=250)
    ap.add_argument("--threads", type=int, default=0, help="torch intra-op threads (default: torch's choice)")
    ap.add_argument("--skip-theirs", action="store_true", help="time ours only")
    args = ap.parse_args()
    if not 0.0 < args.budget <= 1.0:
        ap.error("--budget must lie in (0, 1]")
    if args.threads:
        os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))

    import torch
    import torchattacks

    from advstudio.core.attacks import make_attack
    from advstudio.core.data import load_split
    from advstudio.core.resources import robust_model_path
    from advstudio.core.storage import load_model

    if args.threads:
        torch.set_num_threads(args.threads)
    model, _ = load_model(args.model or robust_model_path())
    model.eval()
    test = load_split(args.data or os.environ.get("ADVSTUDIO_MNIST_DIR"), "test").head(args.n)
    eps, b = args.eps, args.budget

    def scaled(k: int) -> int:
        return max(1, round(k * b))

    steps, queries = scaled(100), scaled(5000)
    print(f"torch {torch.__version__}, torchattacks {torchattacks.__version__}, threads {torch.get_num_threads()}, "
          f"batch size {args.batch_size}, model {Path(args.model or robust_model_path()).name}, first {len(test)} "
          f"MNIST test images, L∞ ε = {eps:g} (pixel units), budget {b:g}: {steps} steps per run, 9 targets, "
          f"{queries} Square queries" + ("" if b == 1.0 else " (a reduced budget: weaker than AutoAttack's)"))

    def batches():
        for s in range(0, len(test), args.batch_size):
            yield test.images[s : s + args.batch_size], test.labels[s : s + args.batch_size]

    def predict(x):
        with torch.no_grad():
            return model(x).argmax(1)

    # warm up forward and backward so neither side pays for the first kernels
    xw = test.images[:64].clone().requires_grad_(True)
    torch.nn.functional.cross_entropy(model(xw), test.labels[:64]).backward()
    model.zero_grad(set_to_none=True)

    def ours():
        attack = make_attack("autoattack", eps=eps, budget=b, seed=0)
        tally = dict.fromkeys(("clean",) + ATTACKS, 0)
        robust, worst = 0, 0.0
        t0 = time.perf_counter()
        for x, y in batches():
            out = attack.run(model, x, y)
            robust += int(out.correct.sum())
            for k, v in (out.breakdown or {}).items():
                tally[k] = tally.get(k, 0) + int(v)
            worst = max(worst, float(out.linf.max()))
        return time.perf_counter() - t0, robust, tally, worst

    def theirs():
        makers = (
            ("apgd-ce", lambda: torchattacks.APGD(model, norm="Linf", eps=eps, steps=steps, n_restarts=1, loss="ce",
                                                  seed=0)),
            ("apgd-t", lambda: torchattacks.APGDT(model, norm="Linf", eps=eps, steps=steps, n_restarts=1,
                                                  n_classes=10, seed=0)),
            ("fab-t", lambda: torchattacks.FAB(model, norm="Linf", eps=eps, steps=steps, n_restarts=1,
                                               multi_targeted=True, n_classes=10, seed=0)),
            ("square", lambda: torchattacks.Square(model, norm="Linf", eps=eps, n_queries=queries, n_restarts=1,
                                                   p_init=0.8, seed=0)),
        )
        tally = dict.fromkeys(("clean",) + ATTACKS, 0)
        robust, worst = 0, 0.0
        t0 = time.perf_counter()
        for x, y in batches():
            alive = predict(x) == y  # the clean forward pass, once
            tally["clean"] += int((~alive).sum())
            for name, make in makers:
                idx = alive.nonzero().flatten()
                if len(idx) == 0:
                    break
                adv = make()(x[idx], y[idx]).detach()
                worst = max(worst, float((adv - x[idx]).abs().max()))
                broken = predict(adv) != y[idx]
                tally[name] += int(broken.sum())
                alive[idx[broken]] = False
            robust += int(alive.sum())
        return time.perf_counter() - t0, robust, tally, worst

    rows = [("ours (advstudio)",) + ours()]
    if not args.skip_theirs:
        rows.append(("torchattacks chained",) + theirs())
    n = len(test)
    head = f"{'':22} {'clean':>6} " + " ".join(f"{a:>8}" for a in ATTACKS) + f" {'robust':>8} {'max|δ|':>7} " \
        f"{'seconds':>8} {'img/s':>7}"
    print(head)
    for name, seconds, robust, tally, worst in rows:
        print(f"{name:22} {tally['clean']:>6} " + " ".join(f"{tally[a]:>8}" for a in ATTACKS)
              + f" {robust / n * 100:>7.2f}% {worst:>7.4f} {seconds:>8.1f} {n / seconds:>7.2f}")
    if len(rows) == 2:
        (_, s_ours, r_ours, _, _), (_, s_theirs, r_theirs, _, _) = rows
        verdict = "equal or lower" if r_ours <= r_theirs else "HIGHER (ours finds fewer adversarial examples)"
        print(f"throughput ours / torchattacks: {s_theirs / s_ours:.2f}×; our robust accuracy is {verdict} "
              f"({r_ours / n * 100:.2f} % against {r_theirs / n * 100:.2f} %)")
    print("the breakdown columns count the points each attack broke after the ones before it failed "
          "(clean: misread without any attack)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
