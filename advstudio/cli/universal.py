"""`advstudio universal`: one universal perturbation per ε, computed on training images, its fooling rate
measured on test images. The table names the method, its settings and the sample counts; --out saves each
perturbation (safetensors). `_common` and `out_path` are shared with `advstudio patch` (cli/patch.py)."""

from __future__ import annotations

import time
from pathlib import Path

from advstudio.cli.common import (
    add_classes_flag,
    add_json_flags,
    check_classes,
    check_outputs,
    classes_line,
    emit_json,
    eps_list,
    json_targets,
    load_model,
    printer,
    setup_torch,
    usage_error,
)
from advstudio.core.argtypes import SAMPLES, SEED, float_in, int_in


def common_flags(p) -> None:
    p.add_argument("--model", help="a .safetensors model (default: the bundled one)")
    p.add_argument("--data", help="MNIST folder (default: $ADVSTUDIO_MNIST_DIR)")
    add_classes_flag(p)
    p.add_argument("--images", type=SAMPLES, default=1000,
                   help="training images it is computed on (the first N of the training set; default 1000)")
    p.add_argument("--limit", type=SAMPLES, help="measure on the first N test images only (default: all)")
    p.add_argument("--seed", type=SEED, default=0, help="0–4294967295 (default 0)")
    p.add_argument("--out", help="save it here (.safetensors); with several values, one file each, the value in "
                                 "its name")


def add_parser(sub) -> None:
    u = sub.add_parser("universal", help="one perturbation that fools the model on most images (per ε)")
    common_flags(u)
    u.add_argument("--eps", type=eps_list, default=[0.1, 0.2, 0.3],
                   help="comma-separated L∞ ε in (0, 1] pixel space, one perturbation each (default 0.1,0.2,0.3)")
    u.add_argument("--method", choices=("sgd", "deepfool"), default="sgd",
                   help="sgd: signed gradient ascent on v (Shafahi et al. 2020; default); deepfool: the 2017 "
                        "paper's DeepFool steps")
    u.add_argument("--passes", type=int_in(1, 1000), default=10, help="passes over the images, 1–1000 (default 10)")
    u.add_argument("--target-rate", type=float_in(0.0, 1.0, lo_open=True), default=0.8,
                   help="stop once this share of the training images is fooled, in (0, 1] (default 0.8)")
    add_json_flags(u, "the results")


def out_path(out: str | None, key: str, value: float, many: bool) -> str | None:
    if not out:
        return None
    if not many:
        return out
    path = Path(out)
    return str(path.with_name(f"{path.stem}-{key}{value:g}{path.suffix or '.safetensors'}"))


def run(args) -> int:
    from advstudio.core.data import load_split
    from advstudio.core.universal import fooling_rate, save_universal, universal_perturbation

    eps = [e for e in args.eps]
    if any(e <= 0 for e in eps):
        return usage_error("universal", "every ε must be above 0")
    to_stdout, json_out = json_targets(args, "universal")
    outs = [out_path(args.out, "eps", e, len(eps) > 1) for e in eps]
    check_outputs(*outs, json_out, inputs=[args.model])
    device = setup_torch(args)
    model, _meta, name, path = load_model(args.model, device)
    train = load_split(args.data, "train", layout=args.classes).head(args.images)
    test = load_split(args.data, "test", layout=args.classes).head(args.limit)
    check_classes(model, name, train, test, verb="attack")
    say = printer(to_stdout)
    if classes_line(test):
        say(classes_line(test))
    say(f"model: {name}")
    say(f"universal perturbation ({args.method}), L∞, computed on the first {len(train)} training images "
        f"(at most {args.passes} passes, stop at {args.target_rate * 100:g} % fooled); fooling rate = share of "
        f"images whose predicted class changes, on {len(test)} test images")
    say(f"{'eps':>6} {'passes':>6} {'train':>8} {'test':>8} {'seconds':>8}")
    rows = []
    for e, out in zip(eps, outs):
        u = universal_perturbation(model, train.images, e, max_passes=args.passes, target_rate=args.target_rate,
                                   method=args.method, seed=args.seed)
        start = time.perf_counter()
        test_rate = fooling_rate(model, test.images, u.v)
        say(f"{e:>6.3g} {u.passes:>6} {u.fooling_rate * 100:>7.2f}% {test_rate * 100:>7.2f}% "
            f"{u.seconds + time.perf_counter() - start:>8.1f}")
        row = {**u.metadata(), "test_fooling_rate": test_rate, "test_images": len(test)}
        if out:
            row["path"] = str(save_universal(u, out))
            say(f"  saved to {row['path']}")
        rows.append(row)
    if to_stdout or json_out:
        emit_json({"model": name, "model_path": str(path), "kind": "universal", "classes": list(test.classes),
                   "results": rows}, to_stdout, json_out)
    return 0
