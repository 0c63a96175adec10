"""`advstudio evaluate`: clean accuracy and a robustness curve under any attack of the registry (FGSM by
default), as a table that names the attack, ε, steps and sample count, and as JSON."""

from __future__ import annotations

from pathlib import Path

from advstudio.cli.common import (
    add_classes_flag,
    add_json_flags,
    check_outputs,
    class_problem,
    classes_line,
    emit_json,
    end_progress,
    fail,
    json_targets,
    load_model,
    radius_list,
    setup_torch,
    tty_progress,
    usage_error,
)
from advstudio.core.argtypes import BATCH, SAMPLES, float_in, int_in
from advstudio.core.attacks.registry import ATTACK_NAMES, ATTACKS, attack_settings
from advstudio.core.describe import attack_details, attack_title


def add_parser(sub) -> None:
    e = sub.add_parser("evaluate", help="clean accuracy and a robustness curve (FGSM by default)")
    e.add_argument("--model", help="a .safetensors model (default: the bundled one)")
    e.add_argument("--data", help="MNIST folder (default: $ADVSTUDIO_MNIST_DIR)")
    add_classes_flag(e)
    e.add_argument("--attack", choices=ATTACK_NAMES, default="fgsm",
                   help="the attack (default fgsm); cw, deepfool, fab-t-l2 and hopskipjump are minimal-L2 attacks "
                        "without an ε, jsma and onepixel few-pixel (L0) attacks")
    e.add_argument("--eps", type=radius_list, default=None,
                   help="comma-separated ε: L∞ in [0, 1] pixel space (default 0,0.05,0.1,0.2,0.3); for the "
                        "minimal-L2 attacks, L2 radii (default 0,0.5,1,1.5,2,2.5,3); for jsma and onepixel, "
                        "numbers of pixels changed (default 0,1,2,3,5,10,20,40,78)")
    e.add_argument("--steps", type=int_in(1, 100_000),
                   help="iterations (bim 10, pgd 40, mifgsm 10, cw 100, deepfool 50, apgd-ce, apgd-t and fab-t 100, "
                        "onepixel 100 generations); for square, simba and hopskipjump, the queries per image "
                        "(5000, 1000, 1000)")
    e.add_argument("--theta", type=float_in(-1.0, 1.0),
                   help="jsma: the change per chosen pixel in pixel units, in [-1, 1] (default 1)")
    e.add_argument("--gamma", type=float_in(0.0, 1.0, lo_open=True),
                   help="jsma: the most pixels changed, as a share of all pixels, in (0, 1] (default 0.1)")
    e.add_argument("--pixels", type=int_in(1, 5), help="onepixel: pixels changed, 1–5 (default 1)")
    e.add_argument("--population", type=int_in(4, 10_000),
                   help="onepixel: candidates per generation of differential evolution (default 400)")
    e.add_argument("--basis", choices=("pixel", "dct"), help="simba: search directions (default pixel)")
    e.add_argument("--step-size", type=float_in(0.0, 10.0, lo_open=True),
                   help="L∞ step α in pixel space (default 2.5·ε/steps; mifgsm ε/steps); for cw, Adam's lr (0.1); "
                        "in (0, 10]")
    e.add_argument("--restarts", type=int_in(1, 100), help="pgd, apgd-ce, apgd-t random restarts, 1–100 (default 1)")
    e.add_argument("--momentum", type=float_in(0.0, 10.0), help="mifgsm momentum decay μ in [0, 10] (default 1.0)")
    e.add_argument("--budget", type=float_in(0.0, 1.0, lo_open=True),
                   help="autoattack: share of the paper's steps and queries, in (0, 1] (default 1: the full budget; "
                        "less is quicker and weaker, and the output says so)")
    e.add_argument("--version", choices=("standard", "rand"),
                   help="autoattack: standard (default), or rand for a defense that draws random numbers (EOT)")
    e.add_argument("--c", type=float_in(0.0, 1e6, lo_open=True),
                   help="cw: initial trade-off constant c in (0, 1e6] (default 1)")
    e.add_argument("--search-steps", type=int_in(1, 50), help="cw: binary-search rounds over c, 1–50 (default 5)")
    e.add_argument("--overshoot", type=float_in(0.0, 10.0), help="deepfool overshoot in [0, 10] (default 0.02)")
    e.add_argument("--full", action="store_true",
                   help="run every step for every sample (default: stop a sample once it is misclassified, "
                        "which gives the same or lower robust accuracy at a fraction of the cost)")
    e.add_argument("--target", type=int_in(0, 999), help="targeted attack toward this class (0 to classes − 1)")
    e.add_argument("--limit", type=SAMPLES, help="the first N test samples only")
    e.add_argument("--batch-size", type=BATCH, default=250, help="1–65536 (default 250)")
    e.add_argument("--checkpoint", metavar="FILE",
                   help="write the running tally here after every batch (JSON, atomic), for long runs such as "
                   "AutoAttack on the full test set")
    e.add_argument("--resume", action="store_true",
                   help="continue from --checkpoint FILE: the batches it holds are not attacked again (it must "
                   "come from the same model, images and settings)")
    add_json_flags(e, "the results", old_file_spelling=True)


def _print_table(curve, name: str) -> None:
    print(f"model: {name}")
    print(f"attack: FGSM (untargeted, L∞, one step), n = {curve.n} test images")
    print(f"clean accuracy: {curve.clean_accuracy * 100:.2f}%")
    print(f"{'eps':>6}  {'accuracy':>9}")
    for e, acc in zip(curve.eps, curve.accuracy):
        print(f"{e:>6.3g}  {acc * 100:>8.2f}%")


def _attack_settings(args) -> dict | str:
    """The evaluate flags as the chosen attack's settings, or a message naming a flag it does not take."""
    names = {"steps": "steps", "step_size": "step_size", "restarts": "restarts", "momentum": "decay",
             "budget": "budget", "version": "version",
             "c": "c", "search_steps": "binary_search_steps", "overshoot": "overshoot", "theta": "theta",
             "gamma": "gamma", "pixels": "pixels", "population": "population", "basis": "basis"}
    if args.attack == "cw":
        names["step_size"] = "lr"
    if "queries" in attack_settings(args.attack):  # score- and decision-based: a budget of model queries
        names["steps"] = "queries"
    accepted = attack_settings(args.attack)
    settings: dict = {}
    for flag, key in names.items():
        value = getattr(args, flag)
        if value is None:
            continue
        if key not in accepted:
            return f"--{flag.replace('_', '-')} does not apply to {args.attack}"
        settings[key] = value
    if args.full:
        settings["early_stop"] = False
    if args.target is not None:
        settings["targeted"] = True
    if args.eps is not None and ATTACKS[args.attack].uses_eps:
        bad = [e for e in args.eps if e > 1.0]
        if bad:
            return f"ε {bad[0]:g} is outside [0, 1] pixel space"
    return settings


def _print_attack_table(curve, name: str) -> None:
    """Every figure names its attack, ε, steps, restarts and sample count."""
    p = curve.params
    norm = p.get("eps_norm")
    steps = p.get("steps", 1)
    bits = attack_details(curve.attack, p)
    print(f"model: {name}")
    print(f"attack: {attack_title(curve.attack)} ({', '.join(bits)}), n = {curve.n} test images")
    if norm == "l2":
        print("robust at radius ε = not misclassified by a perturbation with ‖δ‖₂ ≤ ε found by the attack")
    elif norm == "l0":
        print("robust at k pixels = not misclassified by a change of at most k pixels found by the attack")
    print(f"clean accuracy: {curve.clean_accuracy * 100:.2f}%")
    restarts = p.get("restarts", 1)
    if curve.attack == "autoattack" or norm == "l0":  # their steps and budgets are in the line above
        steps = restarts = "–"
    head = {"l2": "L2 ≤", "l0": "pixels"}.get(norm, "eps")
    print(f"{'attack':<9} {head:>6} {'steps':>6} {'restarts':>8} {'n':>6} {'accuracy':>9} {'success':>8}")
    success = curve.extra.get("success_rate", [float("nan")] * len(curve.eps))
    for e, acc, sr in zip(curve.eps, curve.accuracy, success):
        print(f"{curve.attack:<9} {e:>6.3g} {steps:>6} {restarts:>8} {curve.n:>6} {acc * 100:>8.2f}% {sr * 100:>7.2f}%")
    for e, parts in zip(curve.eps, curve.extra.get("breakdown") or ()):
        if parts:
            print_breakdown(e, parts, curve.n)


def print_breakdown(eps: float, parts: dict, n: int) -> None:
    """AutoAttack's per-attack table: the points each attack broke of those all earlier ones missed, and the
    robust accuracy left after it."""
    print(f"ε = {eps:g}: points broken by each attack, each run on the points still robust")
    left = n
    for name, count in parts.items():
        left -= int(count)
        title = "clean mistakes" if name == "clean" else attack_title(name)
        print(f"  {title:<16} {int(count):>6} broken   robust accuracy after it: {left / max(n, 1) * 100:6.2f}%")


def run(args) -> int:
    """Check the flags against the attack, run the curve, print the table (and write JSON)."""
    from advstudio.core.data import load_split
    from advstudio.core.evaluation.curves import fgsm_curve

    settings = _attack_settings(args)
    if isinstance(settings, str):
        return usage_error("evaluate", settings)
    if args.resume and not args.checkpoint:
        return usage_error("evaluate", "--resume needs --checkpoint FILE")
    if args.checkpoint and args.attack == "fgsm" and not settings:
        return usage_error("evaluate", "--checkpoint is for the iterative attacks (FGSM curves take seconds)")
    to_stdout, json_out = json_targets(args, "evaluate")
    check_outputs(json_out, args.checkpoint, inputs=[args.model])
    if args.checkpoint and Path(args.checkpoint).exists() and not args.resume:
        return fail(f"{args.checkpoint} exists: add --resume to continue from it, or give another file")
    device = setup_torch(args)
    model, _, name, path = load_model(args.model, device)
    test = load_split(args.data, "test", layout=args.classes).head(args.limit)
    problem = class_problem(model, name, test, "evaluate")
    if problem:
        return fail(problem)
    if args.target is not None and args.target >= test.num_classes:
        return usage_error("evaluate", f"--target {args.target} is not a class of the data (0–{test.num_classes - 1})")
    if args.attack == "fgsm" and not settings:
        eps = args.eps if args.eps is not None else [0.0, 0.05, 0.1, 0.2, 0.3]
        curve = fgsm_curve(model, test.images, test.labels, eps, batch_size=args.batch_size, progress=tty_progress)
        curve.params.update(steps=1, early_stop=False, norm="linf")
    else:
        from advstudio.core.evaluation.lab import attack_curve
        from advstudio.core.evaluation.resume import CheckpointMismatch

        try:
            checkpoint = _checkpoint(args, model, test, settings)
            curve = attack_curve(model, test.images, test.labels, args.attack, args.eps, settings,
                                 target=args.target, batch_size=args.batch_size, progress=tty_progress,
                                 checkpoint=checkpoint)
        except CheckpointMismatch as exc:
            return fail(str(exc))
        except ValueError as exc:
            return usage_error("evaluate", str(exc))
    end_progress()
    checks = _masking_checks(model, test, curve) if args.attack == "autoattack" else None
    if not to_stdout:  # with --json, standard output holds the JSON alone
        if curve.extra.get("resumed_after_batches"):
            print(f"resumed from {args.checkpoint}: its first {curve.extra['resumed_after_batches']} batch(es) "
                  "were counted from it, not attacked again")
        if classes_line(test):
            print(classes_line(test))
        (_print_table if args.attack == "fgsm" and not settings else _print_attack_table)(curve, name)
        if checks is not None:
            print(f"gradient-masking checks (first {min(len(test.labels), MASKING_SAMPLE)} images, and the "
                  "breakdown at the largest ε):")
            for c in checks:
                print("  " + c.line())
    if to_stdout or json_out:
        doc = curve.to_json(name)
        doc["model_path"] = str(path)
        doc["classes"] = list(test.classes)
        if checks is not None:
            doc["masking_checks"] = [{"check": c.name, "flagged": c.flagged, "saw": c.saw, "means": c.means}
                                     for c in checks]
        emit_json(doc, to_stdout, json_out)
    return 0


MASKING_SAMPLE = 200


def _checkpoint(args, model, test, settings):
    """The evaluation checkpoint of this run (its identity: the attack, its settings, the radii, the batching,
    and digests of the weights and the images), or None."""
    from advstudio.core.evaluation.resume import EvaluationCheckpoint, fingerprint

    if not args.checkpoint:
        return None
    identity = {"attack": args.attack, "settings": settings, "eps": args.eps, "target": args.target,
                "batch_size": args.batch_size, **fingerprint(model, test.images, test.labels)}
    return EvaluationCheckpoint(args.checkpoint, identity)


def _masking_checks(model, test, curve) -> list:
    """Beside an AutoAttack figure: the signs that it measures a masked gradient (core/evaluation/masking)."""
    from advstudio.core.evaluation.masking import last_breakdown, sample_checks

    return sample_checks(model, test.images, test.labels, last_breakdown(curve), sample=MASKING_SAMPLE)

