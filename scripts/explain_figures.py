"""The README's figures for "Why it breaks", measured on the first MNIST test digits with the bundled models:
saliency on the strokes, the loss rise inside the ε-ball along the gradient, the JPEG defense's flat gradient
against BPDA, Integrated Gradients' completeness gap, and how well the 2-D projection separates the digits.

    ADVSTUDIO_MNIST_DIR=../shared/mnist .venv/bin/python scripts/explain_figures.py [--n 64] [--eps 0.3]
"""
import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.environ.get("ADVSTUDIO_MNIST_DIR"))
    ap.add_argument("--n", type=int, default=64, help="test digits for the attribution figures (default 64)")
    ap.add_argument("--landscapes", type=int, default=16, help="test digits for the landscapes (default 16)")
    ap.add_argument("--eps", type=float, default=0.3)
    args = ap.parse_args()
    import numpy as np
    import torch

    from advstudio.core.data import load_split
    from advstudio.core.defenses import DefendedModel, JpegCompression
    from advstudio.core.explain.attribution import ink_share, integrated_gradients, saliency
    from advstudio.core.explain.landscape import loss_landscape
    from advstudio.core.explain.projection import project_dataset
    from advstudio.core.resources import bundled_model_path, robust_model_path
    from advstudio.core.storage import load_model

    torch.set_num_threads(1)
    test = load_split(args.data, "test")
    x = test.images[: args.n]
    models = {"standard": load_model(bundled_model_path())[0].eval(), "robust": load_model(robust_model_path())[0].eval()}
    print(f"first {args.n} MNIST test digits, ε = {args.eps} where one is used")
    for name, m in models.items():
        share = ink_share(saliency(m, x).maps, x[:, 0].numpy())
        ig = integrated_gradients(m, x, steps=50)
        print(f"  {name:8s} saliency on the strokes (pixels ≥ 0.2): mean {share.mean() * 100:.1f} %, median "
              f"{np.median(share) * 100:.1f} %; IG 50 steps completeness gap: median "
              f"{np.median(ig.relative_delta) * 100:.2f} %, max {ig.relative_delta.max() * 100:.2f} %")
    k = args.landscapes
    print(f"loss landscapes (41×41, span ±2ε) on the first {k} digits:")
    for name, m in models.items():
        lands = [loss_landscape(m, test.images[i : i + 1], None, args.eps) for i in range(k)]
        print(f"  {name:8s} loss rise inside the ε-ball along the gradient: mean "
              f"{np.mean([la.rise_along('a') for la in lands]):.3f}, along a random direction "
              f"{np.mean([la.rise_along('b') for la in lands]):.3f}; share of the ball read as another digit "
              f"{np.mean([la.flipped_share() for la in lands]) * 100:.1f} %")
    base = models["standard"]
    plain = DefendedModel(base, JpegCompression(50), adaptive=False).eval()
    bpda = DefendedModel(base, JpegCompression(50), adaptive=True).eval()
    for words, direction in (("the gradient it shows", plain), ("BPDA", bpda)):
        lands = [loss_landscape(plain, test.images[i : i + 1], None, args.eps, direction_model=direction)
                 for i in range(k)]
        print(f"  standard behind JPEG q50, along {words}: gradient zero on "
              f"{sum(la.gradient_zero for la in lands)}/{k}; rise {np.mean([la.rise_along('a') for la in lands]):.3f}; "
              f"ball read as another digit {np.mean([la.flipped_share() for la in lands]) * 100:.1f} %")
    for name, m in models.items():
        p = project_dataset(m, test.images, test.labels)
        centroids = np.stack([p.coords[p.labels == c].mean(0) for c in range(10)])
        nearest = ((p.coords[:, None, :] - centroids[None]) ** 2).sum(-1).argmin(1)
        print(f"  {name:8s} projection of {len(test):,} digits: axes hold {p.projection.explained[0] * 100:.1f} % + "
              f"{p.projection.explained[1] * 100:.1f} % of the variance; nearest class centre = true digit for "
              f"{(nearest == p.labels).mean() * 100:.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
