"""`advstudio transfer`: adversarial examples crafted on each model and judged by every other one, as a matrix
(rows: crafted on; columns: judged by; the diagonal is white-box) that names the attack, ε, steps and n, and as
JSON (core.evaluation.transfer)."""

from __future__ import annotations

from advstudio.cli.common import (
    add_classes_flag,
    add_json_flags,
    check_classes,
    check_outputs,
    classes_line,
    emit_json,
    end_progress,
    eps_value,
    json_targets,
    load_model,
    setup_torch,
    tty_progress,
    usage_error,
)
from advstudio.core.argtypes import BATCH, SAMPLES, float_in, int_in
from advstudio.core.attacks.registry import ATTACK_NAMES, ATTACKS, attack_settings

DEFAULT_EPS = 0.3
NAME_WIDTH = 30
# flag -> the attack setting it sets (steps are queries for the score- and decision-based attacks, and the
# step size is Adam's learning rate for C&W)
FLAGS = {"steps": "steps", "step_size": "step_size", "restarts": "restarts", "momentum": "decay",
         "budget": "budget", "c": "c", "kappa": "kappa", "overshoot": "overshoot", "seed": "seed"}


def add_parser(sub) -> None:
    t = sub.add_parser(
        "transfer", help="craft on one model, judge on the others: the transfer matrix",
        description="Adversarial examples crafted (untargeted, white-box) on each model, judged by every model. "
                    "Each cell is the share of the digits the judging model classifies correctly that the examples "
                    "fool; the diagonal is the ordinary white-box success rate.")
    t.add_argument("--models", nargs="+", metavar="PATH", default=[], help=".safetensors models (two or more in all)")
    t.add_argument("--bundled", action="store_true", help="add the bundled standard model (listed first)")
    t.add_argument("--robust", action="store_true",
                   help="add the bundled adversarially trained model (listed after the standard one)")
    t.add_argument("--data", help="MNIST folder (default: $ADVSTUDIO_MNIST_DIR)")
    add_classes_flag(t)
    t.add_argument("--attack", choices=ATTACK_NAMES, default="pgd",
                   help="the attack to craft with (default pgd); the minimal-size ones (cw, deepfool, jsma, ...) take "
                        "no --eps")
    t.add_argument("--eps", type=eps_value, default=None,
                   help=f"L∞ ε in [0, 1] pixel space (default {DEFAULT_EPS:g}); not for the minimal-size attacks")
    t.add_argument("--steps", type=int_in(1, 100_000),
                   help="iterations (pgd 40, bim and mifgsm 10, cw 100, deepfool 50, ...); for square, simba and "
                        "hopskipjump the queries per image")
    t.add_argument("--step-size", type=float_in(0.0, 10.0, lo_open=True),
                   help="L∞ step α in pixel space (default 2.5·ε/steps; mifgsm ε/steps); for cw, Adam's lr")
    t.add_argument("--restarts", type=int_in(1, 100), help="pgd, apgd-ce, apgd-t random restarts (default 1)")
    t.add_argument("--momentum", type=float_in(0.0, 10.0), help="mifgsm momentum decay μ (default 1.0)")
    t.add_argument("--budget", type=float_in(0.0, 1.0, lo_open=True),
                   help="autoattack: share of the paper's steps and queries, in (0, 1] (default 1)")
    t.add_argument("--c", type=float_in(0.0, 1e6, lo_open=True), help="cw: initial trade-off constant c (default 1)")
    t.add_argument("--kappa", type=float_in(0.0, 1000.0),
                   help="cw: the margin κ the wrong digit must win by (default 0); a larger κ transfers better")
    t.add_argument("--overshoot", type=float_in(0.0, 10.0), help="deepfool overshoot (default 0.02)")
    t.add_argument("--seed", type=int_in(0, 2**32 - 1), help="random starts (pgd, apgd, square, ...; default 0)")
    t.add_argument("--limit", type=SAMPLES, default=500, help="the first N test images (default 500)")
    t.add_argument("--batch-size", type=BATCH, default=250, help="1–65536 (default 250)")
    add_json_flags(t, "the matrix")


def attack_settings_from(args) -> dict | str:
    """The flags as the attack's settings, or a message naming a flag the attack does not take."""
    names = dict(FLAGS)
    if args.attack == "cw":
        names["step_size"] = "lr"
    accepted = attack_settings(args.attack)
    if "queries" in accepted:
        names["steps"] = "queries"
    settings: dict = {}
    for flag, key in names.items():
        value = getattr(args, flag)
        if value is None:
            continue
        if key not in accepted:
            return f"--{flag.replace('_', '-')} does not apply to {args.attack}"
        settings[key] = value
    return settings


def short(name: str, width: int = NAME_WIDTH) -> str:
    return name if len(name) <= width else name[: width - 1] + "…"


def print_matrix(m, paths: list, test=None) -> None:
    k = len(m.names)
    if test is not None and classes_line(test):
        print(classes_line(test))
    print("models:")
    for i, (name, path) in enumerate(zip(m.names, paths)):
        print(f"  [{i + 1}] {short(name):<{NAME_WIDTH}}  clean accuracy {m.clean_accuracy[i] * 100:6.2f}% "
              f"({m.judged[i]} of {m.n})  {path}")
    print(f"attack: {m.describe()}")
    print("rows: examples crafted on that model; columns: the model that judges them; * = white-box (the diagonal)")
    print("each cell: the share of the digits the judging model gets right (clean) that the examples fool")
    corner = "crafted on ↓ / judged by →"
    width = max(NAME_WIDTH + 4, len(corner))
    print(f"{corner:<{width}}" + "".join(f"{f'[{j + 1}]':>10}" for j in range(k)))
    for i in range(k):
        cells = "".join(f"{m.success[i][j] * 100:>8.1f}%" + ("*" if i == j else " ") for j in range(k))
        print(f"{f'[{i + 1}] ' + short(m.names[i]):<{width}}{cells}")
    if m.eps is None:
        print("size of the examples that fooled their own model (mean): "
              + "; ".join(f"[{i + 1}] L2 {s['mean_l2']:.2f}, L∞ {s['mean_linf']:.2f}, {s['mean_l0']:.0f} pixels"
                          for i, s in enumerate(m.sizes)))
    print(f"{m.seconds:.1f} s")


def run(args) -> int:
    from advstudio.core.data import load_split
    from advstudio.core.evaluation.transfer import distinct_names, transfer_matrix
    from advstudio.core.resources import bundled_model_path, robust_model_path

    paths = ([str(bundled_model_path())] if args.bundled else []) + (
        [str(robust_model_path())] if args.robust else []) + list(args.models)
    if len(paths) < 2:
        return usage_error("transfer", "give two or more models (--models A.safetensors B.safetensors, --bundled, "
                                       "--robust)")
    settings = attack_settings_from(args)
    if isinstance(settings, str):
        return usage_error("transfer", settings)
    uses_eps = ATTACKS[args.attack].uses_eps
    if not uses_eps and args.eps is not None:
        return usage_error("transfer", f"{args.attack} finds the smallest change itself: it takes no --eps")
    eps = (DEFAULT_EPS if args.eps is None else args.eps) if uses_eps else None
    to_stdout, json_out = json_targets(args, "transfer")
    check_outputs(json_out, inputs=paths)
    device = setup_torch(args)
    loaded = [load_model(p, device) for p in paths]
    names = distinct_names([name for _, _, name, _ in loaded])
    test = load_split(args.data, "test", layout=args.classes).head(args.limit)
    for (model, _, _, _), name in zip(loaded, names):
        check_classes(model, name, test, verb="compare")
    try:
        matrix = transfer_matrix([m for m, *_ in loaded], names, test.images, test.labels, args.attack, eps,
                                 settings, batch_size=args.batch_size,
                                 progress=lambda d, t: tty_progress(d, t, "image-attacks"))
    except ValueError as exc:
        return usage_error("transfer", str(exc))
    end_progress()
    model_paths = [str(p) for *_, p in loaded]
    if not to_stdout:
        print_matrix(matrix, model_paths, test)
    if to_stdout or json_out:
        doc = matrix.to_json()
        doc["model_paths"] = model_paths
        doc["classes"] = list(test.classes)
        emit_json(doc, to_stdout, json_out)
    return 0
