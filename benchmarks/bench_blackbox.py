"""The attacks beyond the white-box gradient against their peers, same images, same budgets, same process and
thread count (a script, not a timed test): JSMA and the one-pixel attack against torchattacks 3.5.1, SimBA and
HopSkipJump against ART 1.20 when it can be imported (it is not a dependency: install it anywhere and pass
--art-path DIR, e.g. `pip install --target /tmp/artpkg adversarial-robustness-toolbox==1.20.*`).

    ADVSTUDIO_MNIST_DIR=../shared/mnist .venv/bin/python benchmarks/bench_blackbox.py [--n 100] [--threads 1]
        [--population 99 --generations 30] [--queries 1000] [--art-path /tmp/artpkg]

Every row prints success rate, seconds, images per second, and for score/decision-based attacks the mean
queries per success (ART's are counted by wrapping its classifier's predict); the ratio is ours / theirs in
images per second (above 1: ours is faster). JSMA runs targeted at (y + 1) mod 10 on both sides (torchattacks'
JSMA is targeted only); the one-pixel attack at the same population and generations on both sides."""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def row(name: str, success: float, seconds: float, n: int, queries: float | None = None) -> dict:
    q = f", {queries:,.0f} queries per success" if queries is not None else ""
    print(f"  {name:<34} success {success * 100:6.2f}%  {seconds:7.1f} s  {n / seconds:7.2f} img/s{q}", flush=True)
    return {"success": success, "seconds": seconds}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", help="MNIST folder (default: $ADVSTUDIO_MNIST_DIR)")
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--population", type=int, default=99)
    ap.add_argument("--generations", type=int, default=30)
    ap.add_argument("--queries", type=int, default=1000, help="SimBA and HopSkipJump query budget (default 1000)")
    ap.add_argument("--eps", type=float, default=0.2, help="SimBA's L∞ ε (default 0.2)")
    ap.add_argument("--art-path", help="a folder holding ART 1.20 (added to sys.path)")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))

    import numpy as np
    import torch
    import torchattacks

    from advstudio.core.attacks import make_attack
    from advstudio.core.data import load_split
    from advstudio.core.resources import bundled_model_path
    from advstudio.core.storage import load_model

    torch.set_num_threads(args.threads)
    model, _ = load_model(bundled_model_path())
    model.eval()
    test = load_split(args.data, "test").head(args.n)
    x, y = test.images, test.labels
    n = len(y)
    print(f"bundled model, first {n} test images, {args.threads} thread(s)")
    ratios = {}

    def ours(name: str, target=None, **settings):
        attack = make_attack(name, **settings)
        start = time.perf_counter()
        out = attack.run(model, x, y, target)
        seconds = time.perf_counter() - start
        ok = out.success
        q = float(out.queries[ok].float().mean()) if out.queries is not None and ok.any() else None
        result = row(f"ours {name}", float(ok.float().mean()), seconds, n, q)
        if attack.norm == "l2":
            print(f"    median L2: ours {float(out.l2.median()):.3f}")
        return result

    print("JSMA θ = 1, γ = 0.1, targeted at (y + 1) mod 10")
    target = (y + 1) % 10
    a = ours("jsma", target, theta=1.0, gamma=0.1, targeted=True)
    ta = torchattacks.JSMA(copy.deepcopy(model), theta=1.0, gamma=0.1)  # it accumulates .grad: a copy
    ta.set_mode_targeted_by_function(lambda images, labels: (labels + 1) % 10)
    start = time.perf_counter()
    adv = ta(x, y)
    seconds = time.perf_counter() - start
    with torch.no_grad():
        b = row("torchattacks JSMA", float((model(adv).argmax(1) == target).float().mean()), seconds, n)
    ratios["JSMA"] = b["seconds"] / a["seconds"]

    for pixels in (1, 3):
        print(f"one-pixel attack, {pixels} pixel(s), population {args.population}, {args.generations} generations")
        a = ours("onepixel", pixels=pixels, population=args.population, steps=args.generations)
        ta = torchattacks.OnePixel(model, pixels=pixels, steps=args.generations, popsize=args.population)
        start = time.perf_counter()
        adv = ta(x, y)
        seconds = time.perf_counter() - start
        with torch.no_grad():
            b = row("torchattacks OnePixel", float((model(adv).argmax(1) != y).float().mean()), seconds, n)
        ratios[f"OnePixel {pixels} px"] = b["seconds"] / a["seconds"]

    art = None
    if args.art_path:
        sys.path.insert(0, args.art_path)
    try:
        from art.attacks.evasion import HopSkipJump, SimBA
        from art.estimators.classification import PyTorchClassifier
        art = True
    except ImportError:
        print("ART is not importable: SimBA and HopSkipJump run ours only (pass --art-path)")
    print(f"SimBA, pixel basis, ε = {args.eps}, {args.queries} queries")
    a = ours("simba", eps=args.eps, queries=args.queries)
    hsj = ours("hopskipjump", queries=args.queries)
    if art:
        calls = {"rows": 0}

        class Counted(PyTorchClassifier):
            def predict(self, x, batch_size=128, **kw):
                calls["rows"] += len(x)
                return super().predict(np.asarray(x, dtype=np.float32), batch_size=batch_size, **kw)

        # ART's SimBA wants probabilities: the same network with a softmax on top
        clf = Counted(model=torch.nn.Sequential(model, torch.nn.Softmax(dim=1)), loss=torch.nn.CrossEntropyLoss(), input_shape=(1, 28, 28), nb_classes=10,
                      clip_values=(0.0, 1.0))
        xs = x.numpy()
        start = time.perf_counter()
        adv = np.concatenate([SimBA(clf, attack="px", max_iter=args.queries, epsilon=args.eps, verbose=False)
                              .generate(xs[i : i + 1]) for i in range(n)])
        seconds = time.perf_counter() - start
        fooled = clf.predict(adv).argmax(1) != y.numpy()
        b = row("ART SimBA px", float(fooled.mean()), seconds, n)
        ratios["SimBA"] = b["seconds"] / a["seconds"]
        calls["rows"] = 0
        start = time.perf_counter()
        adv = HopSkipJump(clf, norm=2, max_iter=5, max_eval=1000, init_eval=100, verbose=False).generate(xs)
        seconds = time.perf_counter() - start
        l2 = np.sqrt(((adv - xs) ** 2).reshape(n, -1).sum(1))
        b = row(f"ART HopSkipJump L2 ({calls['rows'] / n:,.0f} queries/img)", 1.0, seconds, n)
        print(f"    median L2: ART {np.median(l2):.3f}")
        ratios["HopSkipJump"] = b["seconds"] / hsj["seconds"]
    print("throughput ratio ours / theirs (above 1: ours is faster): "
          + ", ".join(f"{k} {v:.2f}×" for k, v in ratios.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
