"""The defense lab on the command line: `advstudio defend` (a defense against the plain and the adaptive
attacker), `advstudio certify` (randomized smoothing, L2 radii) and `advstudio distill` (defensive distillation).

Registered by advstudio.cli (build_parser and COMMANDS); helpers from advstudio.cli are imported inside the
functions, so either module can be imported first."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

DEFENSES = ("bit_depth", "median", "jpeg", "gaussian_noise", "ensemble", "distillation", "detector")
DEFAULT_DEFEND_EPS = "0,0.1,0.2,0.3"
DEFAULT_RADII = "0,0.25,0.5,0.75,1,1.25,1.5"


def _radii(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip() != ""]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of numbers: {text!r}") from exc
    if not values or any(v < 0 for v in values):
        raise argparse.ArgumentTypeError("give one or more non-negative L2 radii")
    return values


def _fraction(text: str) -> float:
    v = float(text)
    if not 0.0 < v < 1.0:
        raise argparse.ArgumentTypeError(f"must lie strictly between 0 and 1, got {v}")
    return v


def add_defense_parsers(sub) -> None:
    """Add the defend, certify and distill subcommands to advstudio's subparsers."""
    from advstudio.cli import _eps_list, _eps_value, _positive_float, _positive_int

    d = sub.add_parser(
        "defend", help="a defense against the plain and the adaptive (BPDA/EOT/defense-aware) attacker",
        description="Robust accuracy of a defense at each ε, twice: against the plain attacker and against an "
                    "attacker who knows the defense. Only the adaptive figure is the defense's.")
    d.add_argument("--defense", choices=DEFENSES, required=True)
    d.add_argument("--model", help="the protected .safetensors model (default: the bundled one); for "
                                   "distillation, the distilled student")
    d.add_argument("--data", help="MNIST folder (default: $ADVSTUDIO_MNIST_DIR)")
    d.add_argument("--attack", choices=["fgsm", "pgd"], default="pgd", help="L∞ attack (default pgd)")
    d.add_argument("--steps", type=_positive_int, default=40, help="PGD steps (default 40)")
    d.add_argument("--step-size", type=_positive_float, help="PGD step in pixels (default 2.5·ε/steps)")
    d.add_argument("--eps", type=_eps_list, default=_eps_list(DEFAULT_DEFEND_EPS),
                   help=f"comma-separated L∞ ε in [0, 1] pixel space (default {DEFAULT_DEFEND_EPS})")
    d.add_argument("--eot-samples", type=_positive_int, default=16,
                   help="noise draws averaged per gradient by the adaptive attacker (gaussian_noise; default 16)")
    d.add_argument("--bits", type=int, default=2, help="bit_depth: bits per pixel, 1–8 (default 2)")
    d.add_argument("--size", type=int, default=3, help="median: odd filter size (default 3)")
    d.add_argument("--quality", type=int, default=50, help="jpeg: quality 1–95 (default 50)")
    d.add_argument("--sigma", type=float, default=0.3, help="gaussian_noise: σ in pixels (default 0.3)")
    d.add_argument("--models", nargs="+", metavar="PATH", help="ensemble: the member .safetensors files (≥ 2)")
    d.add_argument("--transfer-from", type=int, default=0, metavar="K",
                   help="ensemble: the plain attacker crafts on member K only (default 0) and transfers")
    d.add_argument("--temperature", type=_positive_float,
                   help="distillation: the training temperature T (default: from the model's metadata)")
    d.add_argument("--detector-samples", type=_positive_int, default=2000,
                   help="detector: training images it is fitted on, clean against FGSM (default 2000)")
    d.add_argument("--detector-eps", type=_eps_value, default=0.1, help="detector: FGSM ε it is fitted on (0.1)")
    d.add_argument("--fpr", type=_fraction, default=0.05,
                   help="detector: false-positive rate on clean fitting images that sets its threshold (0.05)")
    d.add_argument("--lam", type=float, default=1.0,
                   help="detector: weight λ of the detector's logit in the adaptive attacker's loss (default 1)")
    d.add_argument("--limit", type=_positive_int, default=500, help="the first N test images (default 500)")
    d.add_argument("--batch-size", type=_positive_int, default=250)
    d.add_argument("--seed", type=int, default=0, help="seed for random starts and noise draws")
    d.add_argument("--json", metavar="PATH", help="also write both curves as JSON")

    c = sub.add_parser(
        "certify", help="randomized smoothing: certified accuracy against L2 radius (not the L∞ ball)",
        description="Cohen et al.'s CERTIFY on the first N test images. It certifies L2 radii of the smoothed "
                    "classifier, not the L∞ ε ball the attacks use.")
    c.add_argument("--model", help="a .safetensors model (default: the bundled one)")
    c.add_argument("--data", help="MNIST folder (default: $ADVSTUDIO_MNIST_DIR)")
    c.add_argument("--sigma", type=_positive_float, default=0.25, help="noise σ in pixels (default 0.25)")
    c.add_argument("--n", type=_positive_int, default=1000, help="noise samples for the bound (default 1000)")
    c.add_argument("--n0", type=_positive_int, default=100, help="noise samples to pick the class (default 100)")
    c.add_argument("--alpha", type=_fraction, default=0.001, help="failure probability α (default 0.001)")
    c.add_argument("--limit", type=_positive_int, default=100, help="the first N test images (default 100)")
    c.add_argument("--radii", type=_radii, default=_radii(DEFAULT_RADII),
                   help=f"comma-separated L2 radii in pixel space (default {DEFAULT_RADII})")
    c.add_argument("--batch-size", type=_positive_int, default=500, help="noisy copies per forward pass")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--json", metavar="PATH", help="also write the certificates and the curve as JSON")

    s = sub.add_parser("distill", help="defensive distillation: a teacher at temperature T, then its student")
    s.add_argument("--data", help="MNIST folder (default: $ADVSTUDIO_MNIST_DIR)")
    s.add_argument("--out", required=True, help="output .safetensors file (the student)")
    s.add_argument("--teacher-out", help="also save the teacher here")
    s.add_argument("--temperature", type=_positive_float, default=20.0, help="training temperature T (default 20)")
    s.add_argument("--epochs", type=_positive_int, default=5)
    s.add_argument("--batch-size", type=_positive_int, default=64)
    s.add_argument("--lr", type=float, default=1e-3)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--limit", type=_positive_int, help="train on the first N samples only")
    s.add_argument("--eval-limit", type=_positive_int, help="evaluate on the first N test samples only")


# ---------------------------------------------------------------------------------------------------------
# defend


@dataclass
class _Setup:
    """A defense ready to evaluate: what is deployed, how each attacker crafts, how a sample is judged."""

    deployed: object
    plain: object  # (x, y, ε) → x_adv
    adaptive: object
    judge: object  # (x, y) → bool per sample, or None for "classified correctly"
    params: dict
    labels: tuple[str, str]  # what the plain and the adaptive attacker do
    name: str
    path: object
    notes: list = field(default_factory=list)
    detector: object = None
    threshold: float = 0.0


def _build_defense(args, device) -> _Setup:
    """The chosen defense, its two attackers and its judge."""
    from advstudio.cli import _load
    from advstudio.core import defenses as D
    from advstudio.core.evaluation.defense import TemperatureScaled, craft_linf

    steps, step = args.steps, args.step_size

    def craft(m):
        return craft_linf(m, args.attack, steps, step)

    if args.defense == "ensemble":
        paths = args.models or []
        if len(paths) < 2:
            raise _Usage("--defense ensemble needs --models with at least two files")
        if not 0 <= args.transfer_from < len(paths):
            raise _Usage(f"--transfer-from {args.transfer_from} is not a member index (0–{len(paths) - 1})")
        loaded = [_load(p, device) for p in paths]
        members = [m for m, *_ in loaded]
        names = [name for _, _, name, _ in loaded]
        ens = D.Ensemble(members).eval()
        k = args.transfer_from
        params = {"members": names, "member_paths": [str(p) for *_, p in loaded], "transfer_from": k}
        labels = (f"transfer from member {k} ({names[k]}) alone", "white-box on the whole ensemble")
        return _Setup(ens, craft(members[k]), craft(ens), None, params, labels, "ensemble of " + " + ".join(names),
                      None)

    model, meta, name, path = _load(args.model, device)
    model.eval()
    if args.defense in D.TRANSFORMS:
        kw = {"bit_depth": {"bits": args.bits}, "median": {"size": args.size}, "jpeg": {"quality": args.quality},
              "gaussian_noise": {"sigma": args.sigma}}[args.defense]
        try:
            t = D.TRANSFORMS[args.defense](**kw)
        except ValueError as exc:
            raise _Usage(str(exc)) from exc
        plain = D.DefendedModel(model, t, adaptive=False).eval()
        adaptive = D.DefendedModel(model, t, adaptive=True, eot_samples=args.eot_samples).eval()
        how = []
        if not t.differentiable:
            how.append("BPDA (identity gradient through the transform)")
        if t.randomized:
            how.append(f"EOT over {args.eot_samples} noise draws")
        params = dict(t.params())
        if t.randomized:
            params["eot_samples"] = args.eot_samples
        plain_label = ("differentiates the defended model as it is"
                       + (" (its true gradient is zero)" if not t.differentiable else "")
                       + (" (one noise draw per gradient)" if t.randomized else ""))
        labels = (plain_label, "knows the transform: " + (", ".join(how) or "its exact gradient (differentiable)"))
        return _Setup(plain, craft(plain), craft(adaptive), None, params, labels, name, path)

    if args.defense == "distillation":
        temperature = args.temperature or (meta.get("recipe") or {}).get("temperature")
        if not temperature:
            raise _Usage("--defense distillation needs --temperature T (the model's metadata names none)")
        params = {"temperature": float(temperature)}
        labels = ("differentiates the distilled model's softmax at T = 1 (saturated: the gradient vanishes)",
                  f"differentiates logits / T (T = {float(temperature):g}), Carlini & Wagner's remedy")
        notes = []
        if not (meta.get("recipe") or {}).get("temperature"):
            notes.append("note: the model's metadata does not say it was distilled")
        return _Setup(model, craft(model), craft(TemperatureScaled(model, float(temperature))), None, params,
                      labels, name, path, notes)

    # detector
    import torch

    from advstudio.core.data import load_split
    from advstudio.core.defenses.detection import detector_aware_pgd, fit_detector, threshold_at_fpr

    fit = load_split(args.data, "train").head(args.detector_samples)
    detector = fit_detector(model, fit.images, fit.labels, eps=args.detector_eps)
    threshold = threshold_at_fpr(detector.score(fit.images), args.fpr)

    def judge(x, y):
        with torch.no_grad():
            logits, det = detector(x)
        return (logits.argmax(1) == y) | (det > threshold)

    def adaptive_craft(x, y, eps):
        if args.attack == "fgsm":
            return detector_aware_pgd(detector, x, y, eps, steps=1, step_size=eps, lam=args.lam, random_start=False)
        return detector_aware_pgd(detector, x, y, eps, steps, step, lam=args.lam, seed=None)

    params = {"fit_samples": args.detector_samples, "fit_eps": args.detector_eps, "target_fpr": args.fpr,
              "threshold": threshold, "lam": args.lam, "features": "mean, std, active fraction, max per ReLU",
              "fit_accuracy": detector.info["fit_accuracy"]}
    labels = ("attacks the classifier only (ignores the detector)",
              f"also pushes the detector's logit down (loss min(margin, 2) − {args.lam:g}·detector logit)")
    notes = ["accuracy here = classified correctly or rejected by the detector (a rejected adversarial input "
             "counts as defended; a rejected clean input is a false positive)"]
    return _Setup(model, craft(model), adaptive_craft, judge, params, labels, name, path, notes, detector,
                  threshold)


class _Usage(Exception):
    pass


def cmd_defend(args) -> int:
    from advstudio.cli import EXIT_USAGE, _setup_torch
    from advstudio.core.data import load_split
    from advstudio.core.describe import attack_title
    from advstudio.core.evaluation.defense import attack_params, defense_curve
    from advstudio.core.storage import atomic_write_text

    (device,) = _setup_torch(args)
    try:
        setup = _build_defense(args, device)
    except _Usage as exc:
        print(f"advstudio defend: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    test = load_split(args.data, "test").head(args.limit)
    base = attack_params(args.attack, args.steps, args.step_size)

    def progress(done: int, total: int) -> None:
        if sys.stderr.isatty():
            sys.stderr.write(f"\r{done}/{total} image-attacks")
            sys.stderr.flush()

    curves = {}
    name, path, labels = setup.name, setup.path, setup.labels
    for kind, craft, label in (("plain", setup.plain, labels[0]), ("adaptive", setup.adaptive, labels[1])):
        params = {**base, "defense": args.defense, "defense_params": setup.params, "adaptive": kind == "adaptive",
                  "attacker": label}
        curves[kind] = defense_curve(setup.deployed, craft, test.images, test.labels, args.eps, args.attack,
                                     params, judge=setup.judge, batch_size=args.batch_size, seed=args.seed,
                                     progress=progress)
    if sys.stderr.isatty():
        sys.stderr.write("\n")
    extra: dict = {}
    if setup.detector is not None:
        import torch

        with torch.no_grad():
            logits, det = setup.detector(test.images.to(next(setup.detector.model.parameters()).device))
        extra["classifier_clean_accuracy"] = float((logits.argmax(1).cpu() == test.labels).float().mean())
        extra["clean_rejected"] = float((det.cpu() > setup.threshold).float().mean())
        for c in curves.values():
            c.extra.update(extra)
    p = curves["plain"].params
    if args.attack == "pgd":
        how = (f"{p['steps']} steps, step {p['step_size']:g}" if p.get("step_size") else
               f"{p['steps']} steps, step 2.5·ε/steps") + ", random start, final iterate"
    else:
        how = "one step"
    dp = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in setup.params.items()
                   if k not in ("member_paths", "features"))
    print(f"model: {name}")
    print(f"defense: {args.defense}({dp})")
    print(f"attack: {attack_title(args.attack)} (untargeted, L∞, {how}), n = {test.labels.shape[0]} test images")
    print(f"  plain:    {labels[0]}")
    print(f"  adaptive: {labels[1]}")
    for note in setup.notes:
        print(note)
    if extra:
        print(f"classifier alone on the clean images: {extra['classifier_clean_accuracy'] * 100:.2f}%; clean images "
              f"rejected by the detector (false positives): {extra['clean_rejected'] * 100:.2f}%")
    print(f"clean accuracy of the defended model: {curves['plain'].clean_accuracy * 100:.2f}%")
    print(f"{'eps':>6} {'steps':>6} {'n':>6} {'plain':>9} {'adaptive':>9}")
    steps = 1 if args.attack == "fgsm" else args.steps
    for e, a, b in zip(curves["plain"].eps, curves["plain"].accuracy, curves["adaptive"].accuracy):
        print(f"{e:>6.3g} {steps:>6} {curves['plain'].n:>6} {a * 100:>8.2f}% {b * 100:>8.2f}%")
    print("A defense is credited only with the adaptive column: the plain one shows what a naive attacker sees.")
    if args.json:
        where = str(path) if path else None
        doc = {"model": name, "model_path": where, "defense": args.defense, "defense_params": setup.params,
               "curves": {k: {**c.to_json(name), "model_path": where} for k, c in curves.items()}}
        atomic_write_text(args.json, json.dumps(doc, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


# ---------------------------------------------------------------------------------------------------------
# certify


def cmd_certify(args) -> int:
    import torch

    from advstudio.cli import _load, _setup_torch
    from advstudio.core.certification import max_certifiable_radius
    from advstudio.core.data import load_split
    from advstudio.core.defenses import certified_accuracy, certify
    from advstudio.core.storage import atomic_write_text

    (device,) = _setup_torch(args)
    model, meta, name, path = _load(args.model, device)
    model.eval()
    test = load_split(args.data, "test").head(args.limit)
    torch.manual_seed(args.seed)
    certs = []
    start = time.perf_counter()
    for i in range(len(test)):
        certs.append(certify(model, test.images[i : i + 1].to(device), args.sigma, args.n0, args.n, args.alpha,
                             args.batch_size))
        if sys.stderr.isatty():
            sys.stderr.write(f"\r{i + 1}/{len(test)} images")
            sys.stderr.flush()
    if sys.stderr.isatty():
        sys.stderr.write("\n")
    seconds = time.perf_counter() - start
    labels = [int(v) for v in test.labels]
    acc = certified_accuracy(certs, labels, args.radii)
    abstained = sum(1 for c in certs if c.label is None)
    wrong = sum(1 for c, y in zip(certs, labels) if c.label is not None and c.label != y)
    correct_radii = [c.radius for c, y in zip(certs, labels) if c.label == y]
    print(f"model: {name}")
    print(f"randomized smoothing (Cohen et al.): σ = {args.sigma:g}, n0 = {args.n0}, n = {args.n}, "
          f"α = {args.alpha:g}, N = {len(test)} test images ({seconds:.0f}s)")
    print("This certifies L2 radii (‖δ‖₂ ≤ r) of the smoothed classifier, not the L∞ ball (‖δ‖∞ ≤ ε) the attacks "
          "use: an L∞ ball of ε = 0.3 holds perturbations up to ‖δ‖₂ = 8.4 on a 28×28 image, far beyond any "
          "radius certified here.")
    cap = max_certifiable_radius(args.sigma, args.n, args.alpha)
    print(f"With n = {args.n} and α = {args.alpha:g} no radius above σ·Φ⁻¹(α^(1/n)) = {cap:.3f} can be certified "
          f"(more samples raise this cap).")
    print(f"abstained: {abstained}, certified a wrong class: {wrong}, certified correct: {len(correct_radii)}"
          + (f" (median radius {sorted(correct_radii)[len(correct_radii) // 2]:.3f})" if correct_radii else ""))
    print(f"{'L2 radius':>10} {'certified accuracy':>19}")
    for r, a in zip(args.radii, acc):
        print(f"{r:>10.3g} {a * 100:>18.2f}%")
    if args.json:
        doc = {"model": name, "model_path": str(path), "method": "randomized_smoothing",
               "params": {"sigma": args.sigma, "n0": args.n0, "n": args.n, "alpha": args.alpha, "norm": "l2",
                          "seed": args.seed},
               "n": len(test), "max_certifiable_radius": cap, "abstained": abstained, "certified_wrong": wrong, "seconds": round(seconds, 1),
               "results": [{"radius": r, "certified_accuracy": a} for r, a in zip(args.radii, acc)],
               "certificates": [{"label": y, "certified": c.label, "radius": c.radius, "p_lower": c.p_lower}
                                for c, y in zip(certs, labels)]}
        atomic_write_text(args.json, json.dumps(doc, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


# ---------------------------------------------------------------------------------------------------------
# distill


def cmd_distill(args) -> int:
    import shlex

    import torch

    from advstudio.cli import _setup_torch
    from advstudio.core.data import load_split
    from advstudio.core.defenses.distillation import distill, distillation_recipe
    from advstudio.core.evaluation.curves import fgsm_curve
    from advstudio.core.info import library_versions, now_iso
    from advstudio.core.model import MnistCNN, device_label
    from advstudio.core.storage import save_model
    from advstudio.core.training import TrainConfig, TrainingCancelled

    (device,) = _setup_torch(args)
    train_split = load_split(args.data, "train")
    test_split = load_split(args.data, "test")
    cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                      limit=args.limit, eval_limit=args.eval_limit)
    torch.manual_seed(cfg.seed)
    teacher = MnistCNN().to(device)
    student = MnistCNN().to(device)
    n = len(train_split.head(cfg.limit))
    print(f"defensive distillation at T = {args.temperature:g}: teacher, then student, {cfg.epochs} epochs each "
          f"on {n} samples, device {device_label(device)}")
    start = time.perf_counter()
    last = {}
    try:
        for stage, prog in distill(teacher, student, train_split, test_split, cfg, args.temperature):
            last[stage] = prog
            sys.stdout.write(f"\r{stage} epoch {prog.epoch}/{prog.epochs} batch {prog.batch}/{prog.batches} "
                             f"loss {prog.loss:.4f} ETA {prog.eta_s:.0f}s   ")
            sys.stdout.flush()
            if prog.test_accuracy is not None:
                sys.stdout.write(f"\n{stage} epoch {prog.epoch}: test accuracy {prog.test_accuracy * 100:.2f}%\n")
    except (KeyboardInterrupt, TrainingCancelled):
        print("\ndistillation interrupted: nothing was written")
        return 130
    seconds = time.perf_counter() - start
    command = "advstudio " + shlex.join(sys.argv[1:]) if Path(sys.argv[0]).name in ("advstudio", "__main__.py") \
        else None
    ev = test_split.head(args.eval_limit)
    for role, model, out in (("student", student, args.out), ("teacher", teacher, args.teacher_out)):
        if not out:
            continue
        curve = fgsm_curve(model, ev.images, ev.labels)
        recipe = distillation_recipe(cfg, args.temperature)
        recipe["role"] = role
        meta = {"name": Path(out).stem, "recipe": recipe, "seed": cfg.seed, "epochs": cfg.epochs,
                "train_samples": n, "test_accuracy": last[role].test_accuracy,
                "test_samples": len(ev), "history": list(last[role].history),
                "training_seconds": round(seconds, 1), "device": device_label(device),
                "versions": library_versions(), "date": now_iso(), "command": command,
                "fgsm_curve": {"n": curve.n, "eps": list(curve.eps), "accuracy": list(curve.accuracy)}}
        path = save_model(model, out, meta)
        print(f"saved the {role} to {path} (test accuracy {last[role].test_accuracy * 100:.2f}%; "
              f"FGSM at ε = 0.1: {curve.accuracy[2] * 100:.2f}%)")
    return 0
