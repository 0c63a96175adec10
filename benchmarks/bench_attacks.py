"""Attack throughput and robust accuracy: ours against torchattacks (every attack) and ART, the
adversarial-robustness-toolbox (FGSM and PGD), on the same batch, in the same process, with the same torch thread
count; and PGD with early stop against PGD running every step. Prints ratios (a script, not a timed test).

    ADVSTUDIO_MNIST_DIR=../shared/mnist .venv/bin/python benchmarks/bench_attacks.py [--n 1000] [--threads 2]
        [--repeat 3] [--only pgd,pgd-early] [--no-art]

torchattacks and ART come with the `bench` extra (pip install -e '.[bench]' -c constraints.txt). Without ART
the ART columns read "n/a" and a line says why; the rest runs as before.

Throughput is test images per second, counting the attack and the one forward pass that scores its images;
"× TA" and "× ART" are ours/peer (above 1: ours is faster). ART gets NumPy arrays (its API) on a
PyTorchClassifier that wraps the same bundled model with clip_values (0, 1) and no preprocessing (the model
normalizes internally), cross-entropy loss, the same batch size, ε, step size, steps and random start.

Robust accuracy is the fraction of the batch still classified correctly: for torchattacks and ART, on the images
they return (the last iterate); for ours, counting a sample broken if any step misclassified it (early stop)."""

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
                    help="time each run this many times, ours and the peers interleaved, and keep the fastest "
                         "(on a shared machine, 3 or more)")
    ap.add_argument("--no-art", action="store_true", help="leave out the ART columns even if ART is installed")
    args = ap.parse_args()
    if args.threads:
        os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))

    import numpy as np
    import torch
    import torchattacks

    art = art_skip = None
    if args.no_art:
        art_skip = "left out (--no-art)"
    else:
        try:  # imported before the thread count is set, so whatever it loads cannot change it afterwards
            import art
            from art.attacks.evasion import FastGradientMethod, ProjectedGradientDescent
            from art.estimators.classification import PyTorchClassifier
        except Exception as exc:  # not installed (ImportError), or an install that fails to load
            art_skip = (f"ART is not importable ({type(exc).__name__}: {exc}); its columns are skipped. "
                        "Install it with: pip install -e '.[bench]' -c constraints.txt")
            art = None

    from advstudio.core.attacks import make_attack
    from advstudio.core.data import load_split
    from advstudio.core.resources import bundled_model_path
    from advstudio.core.storage import load_model

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

    def run_art(make, n: int, seed: int | None = None) -> tuple[float, float]:
        """ART's API: NumPy in, NumPy out; one generate() call, batched by ART with the same batch size."""
        t0 = time.perf_counter()
        if seed is not None:
            np.random.seed(seed)  # ART draws its random start from NumPy's global generator
        x, y = test.images[:n], test.labels[:n]
        adv = make().generate(x.numpy(), y.numpy())
        with torch.no_grad():
            correct = int((model(torch.from_numpy(adv)).argmax(1) == y).sum())
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

    # Warm up the kernels and autograd (forward and backward), so the first timed run is not charged for it.
    xw = test.images[:256].clone().requires_grad_(True)
    torch.nn.functional.cross_entropy(model(xw), test.labels[:256]).backward()
    model.zero_grad(set_to_none=True)

    eps = 0.1
    rows = []
    art_fgsm = art_pgd = None
    if art is not None:
        classifier = PyTorchClassifier(
            model=model, loss=torch.nn.CrossEntropyLoss(), input_shape=tuple(test.images.shape[1:]), nb_classes=10,
            clip_values=(0.0, 1.0), device_type="cpu",
        )

        def art_fgsm():
            return FastGradientMethod(classifier, norm=np.inf, eps=eps, targeted=False, num_random_init=0,
                                      batch_size=args.batch_size, minimal=False)

        def art_pgd():
            return ProjectedGradientDescent(classifier, norm=np.inf, eps=eps, eps_step=0.01, max_iter=40,
                                            targeted=False, num_random_init=1, batch_size=args.batch_size,
                                            random_eps=False, verbose=False)

    print(f"torch {torch.__version__}, torchattacks {torchattacks.__version__}, "
          f"ART {art.__version__ if art is not None else 'n/a'}, threads {torch.get_num_threads()}, "
          f"batch size {args.batch_size}, bundled model, MNIST test images from the start of the set; L∞ ε = {eps}")
    if art_skip:
        print(f"ART: {art_skip}")
    # key, title, n, ours, torchattacks, ART (None: ART is not compared for it), seed for the random starts
    cases = [
        ("fgsm", "FGSM", args.n, lambda: make_attack("fgsm", eps=eps), lambda: torchattacks.FGSM(model, eps=eps),
         art_fgsm, None),
        ("bim", "BIM-10 α=ε/4", args.n, lambda: make_attack("bim", eps=eps, steps=10, step_size=eps / 4),
         lambda: torchattacks.BIM(model, eps=eps, alpha=eps / 4, steps=10), None, None),
        ("mifgsm", "MI-FGSM-10 μ=1", args.n, lambda: make_attack("mifgsm", eps=eps, steps=10, step_size=eps / 10),
         lambda: torchattacks.MIFGSM(model, eps=eps, alpha=eps / 10, steps=10, decay=1.0), None, None),
        ("pgd", "PGD-40 α=0.01 rand. start", args.n,
         lambda: make_attack("pgd", eps=eps, steps=40, step_size=0.01, seed=0),
         lambda: torchattacks.PGD(model, eps=eps, alpha=0.01, steps=40, random_start=True), art_pgd, 0),
        ("cw", "C&W c=1 50 steps lr 0.1 (1 round)", args.n_cw,
         lambda: make_attack("cw", c=1.0, steps=50, lr=0.1, binary_search_steps=1),
         lambda: torchattacks.CW(model, c=1, kappa=0, steps=50, lr=0.1), None, None),
        ("deepfool", "DeepFool-50 overshoot 0.02", args.n_deepfool, lambda: make_attack("deepfool", steps=50),
         lambda: torchattacks.DeepFool(model, steps=50, overshoot=0.02), None, None),
    ]
    print(f"\nimages/s (best of {max(1, args.repeat)}); × = ours/peer throughput; robust accuracy on the same images")
    print(f"{'attack':<34} {'n':>5} {'ours':>7} {'TA':>7} {'ART':>7} {'× TA':>6} {'× ART':>6} "
          f"{'ours acc':>9} {'TA acc':>8} {'ART acc':>8}")
    for key, title, n, ours, theirs, art_make, seed in cases:
        if not want(key):
            continue
        t_ours = t_theirs = t_art = float("inf")
        a_art = None
        for _ in range(max(1, args.repeat)):
            t, a_ours = run_ours(ours(), n)
            t_ours = min(t_ours, t)
            t, a_theirs = run_theirs(theirs, n, seed)
            t_theirs = min(t_theirs, t)
            if art_make is not None:
                t, a_art = run_art(art_make, n, seed)
                t_art = min(t_art, t)
        if art_make is not None:
            art_cols = f"{n / t_art:>7.0f}", f"{t_art / t_ours:>6.2f}", f"{a_art * 100:>7.2f}%"
        else:
            na = "n/a" if key in ("fgsm", "pgd") else "—"
            art_cols = f"{na:>7}", f"{na:>6}", f"{na:>8}"
        rows.append((title, n, t_ours, t_theirs, t_art, a_ours, a_theirs, a_art))
        print(f"{title:<34} {n:>5} {n / t_ours:>7.0f} {n / t_theirs:>7.0f} {art_cols[0]} {t_theirs / t_ours:>6.2f} "
              f"{art_cols[1]} {a_ours * 100:>8.2f}% {a_theirs * 100:>7.2f}% {art_cols[2]}", flush=True)

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
