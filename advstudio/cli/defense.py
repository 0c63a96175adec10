"""`advstudio defend`: a defense's robust accuracy at each ε against the plain attacker and against the
adaptive one (BPDA, EOT, the whole ensemble, logits / T, detector-aware). The defense is built by
core.defenses.builders, as the Defenses tab builds it."""

from __future__ import annotations

from dataclasses import dataclass, field

from advstudio.cli.common import (
    UsageError,
    add_classes_flag,
    add_json_flags,
    check_classes,
    check_outputs,
    classes_line,
    emit_json,
    end_progress,
    eps_list,
    eps_value,
    fraction,
    json_targets,
    load_model,
    printer,
    setup_torch,
    tty_progress,
    usage_error,
)
from advstudio.core.argtypes import BATCH, SAMPLES, SEED, float_in, int_in

DEFENSES = ("bit_depth", "median", "jpeg", "gaussian_noise", "ensemble", "distillation", "detector")
DEFENSE_ATTACKS = ("fgsm", "pgd", "autoattack")  # the L∞ attacks core.evaluation.defense crafts with (kept torch-free here)
DEFAULT_DEFEND_EPS = "0,0.1,0.2,0.3"


def add_parser(sub) -> None:
    d = sub.add_parser(
        "defend", help="a defense against the plain and the adaptive (BPDA/EOT/defense-aware) attacker",
        description="Robust accuracy of a defense at each ε, twice: against the plain attacker and against an "
                    "attacker who knows the defense. Only the adaptive figure is the defense's.")
    d.add_argument("--defense", choices=DEFENSES, required=True)
    d.add_argument("--model", help="the protected .safetensors model (default: the bundled one); for "
                                   "distillation, the distilled student")
    d.add_argument("--data", help="MNIST folder (default: $ADVSTUDIO_MNIST_DIR)")
    add_classes_flag(d)
    d.add_argument("--attack", choices=DEFENSE_ATTACKS, default="pgd",
                   help="L∞ attack (default pgd); autoattack runs \"standard\", or \"rand\" (EOT over 20 draws) "
                        "for a randomized defense (gaussian_noise)")
    d.add_argument("--budget", type=float_in(0.0, 1.0, lo_open=True),
                   help="autoattack: share of the paper's steps and queries, in (0, 1] (default 1: the full "
                        "budget; less is quicker and weaker, and the output says so)")
    d.add_argument("--steps", type=int_in(1, 10_000), default=40, help="PGD steps, 1–10000 (default 40)")
    d.add_argument("--step-size", type=float_in(0.0, 1.0, lo_open=True),
                   help="PGD step in (0, 1] pixels (default 2.5·ε/steps)")
    d.add_argument("--eps", type=eps_list, default=eps_list(DEFAULT_DEFEND_EPS),
                   help=f"comma-separated L∞ ε in [0, 1] pixel space (default {DEFAULT_DEFEND_EPS})")
    d.add_argument("--eot-samples", type=int_in(1, 1000), default=16,
                   help="noise draws averaged per gradient by the adaptive attacker, 1–1000 (gaussian_noise; "
                        "default 16)")
    d.add_argument("--bits", type=int_in(1, 8), default=2, help="bit_depth: bits per pixel, 1–8 (default 2)")
    d.add_argument("--size", type=int_in(1, 27), default=3, help="median: odd filter size, 1–27 (default 3)")
    d.add_argument("--quality", type=int_in(1, 95), default=50, help="jpeg: quality 1–95 (default 50)")
    d.add_argument("--sigma", type=float_in(0.0, 1.0), default=0.3,
                   help="gaussian_noise: σ in [0, 1] pixels (default 0.3)")
    d.add_argument("--models", nargs="+", metavar="PATH", help="ensemble: the member .safetensors files (≥ 2)")
    d.add_argument("--transfer-from", type=int_in(0, 1000), default=0, metavar="K",
                   help="ensemble: the plain attacker crafts on member K only (default 0) and transfers")
    d.add_argument("--temperature", type=float_in(0.0, 1000.0, lo_open=True),
                   help="distillation: the training temperature T (default: from the model's metadata)")
    d.add_argument("--detector-samples", type=SAMPLES, default=2000,
                   help="detector: training images it is fitted on, clean against FGSM (default 2000)")
    d.add_argument("--detector-eps", type=eps_value, default=0.1, help="detector: FGSM ε it is fitted on (0.1)")
    d.add_argument("--fpr", type=fraction, default=0.05,
                   help="detector: false-positive rate on clean fitting images that sets its threshold (0.05)")
    d.add_argument("--lam", type=float_in(0.0, 1000.0), default=1.0,
                   help="detector: weight λ in [0, 1000] of the detector's logit in the adaptive attacker's loss "
                        "(default 1)")
    d.add_argument("--limit", type=SAMPLES, default=500, help="the first N test images (default 500)")
    d.add_argument("--batch-size", type=BATCH, default=250, help="1–65536 (default 250)")
    d.add_argument("--seed", type=SEED, default=0, help="seed for random starts and noise draws (0–4294967295)")
    add_json_flags(d, "both curves", old_file_spelling=True)


@dataclass
class Setup:
    """A defense ready to evaluate, with the words the table prints for it."""

    defense: object  # a core.defenses.builders.BuiltDefense
    labels: tuple[str, str]  # what the plain and the adaptive attacker do
    name: str
    path: object
    notes: list = field(default_factory=list)


def build(args, device, test_split=None) -> Setup:
    """The chosen defense from the flags; UsageError for flags that do not make one. `test_split()` gives the
    test images: every model must have one output per class of them (ModelFileError otherwise, before any work)."""
    from advstudio.core.defenses import builders as B

    def check(model, name, *more) -> None:
        if test_split is not None:
            check_classes(model, name, test_split(), *more, verb="use")

    if args.defense == "ensemble":
        paths = args.models or []
        if len(paths) < 2:
            raise UsageError("--defense ensemble needs --models with at least two files")
        if not 0 <= args.transfer_from < len(paths):
            raise UsageError(f"--transfer-from {args.transfer_from} is not a member index (0–{len(paths) - 1})")
        loaded = [load_model(p, device) for p in paths]
        names = [name for _, _, name, _ in loaded]
        for m, _, member, _ in loaded:
            check(m, member)
        k = args.transfer_from
        built = B.ensemble_defense([m for m, *_ in loaded], k)
        built.params = {"members": names, "member_paths": [str(p) for *_, p in loaded], "transfer_from": k}
        labels = (f"transfer from member {k} ({names[k]}) alone", "white-box on the whole ensemble")
        return Setup(built, labels, "ensemble of " + " + ".join(names), None)

    model, meta, name, path = load_model(args.model, device)
    model.eval()
    if args.defense in B.TRANSFORM_KINDS:
        try:
            built = B.transform_defense(model, args.defense, eot_samples=args.eot_samples, bits=args.bits,
                                        size=args.size, quality=args.quality, sigma=args.sigma)
        except ValueError as exc:
            raise UsageError(str(exc)) from exc
        t = built.transform
        how = []
        if not t.differentiable:
            how.append("BPDA (identity gradient through the transform)")
        if t.randomized:
            how.append(f"EOT over {args.eot_samples} noise draws")
        plain_label = ("differentiates the defended model as it is"
                       + (" (its true gradient is zero)" if not t.differentiable else "")
                       + (" (one noise draw per gradient)" if t.randomized else ""))
        labels = (plain_label, "knows the transform: " + (", ".join(how) or "its exact gradient (differentiable)"))
        check(model, name)
        return Setup(built, labels, name, path)

    if args.defense == "distillation":
        recorded = B.recorded_temperature(meta)
        temperature = args.temperature or recorded
        if not temperature:
            raise UsageError("--defense distillation needs --temperature T (the model's metadata names none)")
        labels = ("differentiates the distilled model's softmax at T = 1 (saturated: the gradient vanishes)",
                  f"differentiates logits / T (T = {float(temperature):g}), Carlini & Wagner's remedy")
        notes = [] if recorded else ["note: the model's metadata does not say it was distilled"]
        check(model, name)
        return Setup(B.distillation_defense(model, temperature), labels, name, path, notes)

    # detector
    from advstudio.core.data import load_split

    fit = load_split(args.data, "train", layout=args.classes).head(args.detector_samples)
    check(model, name, fit)
    built = B.detector_defense(model, fit.images, fit.labels, eps=args.detector_eps, fpr=args.fpr, lam=args.lam)
    labels = ("attacks the classifier only (ignores the detector)",
              f"also pushes the detector's logit down (loss min(margin, 2) − {args.lam:g}·detector logit)")
    return Setup(built, labels, name, path, list(built.notes))


def run(args) -> int:
    """Build the defense, run both curves, print the table (and write JSON)."""
    from advstudio.core.data import load_split
    from advstudio.core.defenses.builders import DetectorDefense
    from advstudio.core.describe import attack_title
    from advstudio.core.evaluation.defense import attack_params, defense_curve

    to_stdout, json_out = json_targets(args, "defend")
    check_outputs(json_out, inputs=[args.model, *(args.models or [])])
    device = setup_torch(args)
    loaded: dict = {}

    def test_split():
        if "test" not in loaded:
            loaded["test"] = load_split(args.data, "test", layout=args.classes).head(args.limit)
        return loaded["test"]

    try:
        setup = build(args, device, test_split)
    except UsageError as exc:
        return usage_error("defend", str(exc))
    built = setup.defense
    if args.budget is not None and args.attack != "autoattack":
        return usage_error("defend", "--budget applies to --attack autoattack only")
    budget = 1.0 if args.budget is None else args.budget
    version = built.autoattack_version()
    try:
        crafts = built.crafts(args.attack, args.steps, args.step_size, budget=budget)
    except ValueError as exc:
        return usage_error("defend", str(exc))
    test = test_split()
    base = attack_params(args.attack, args.steps, args.step_size, version=version, budget=budget)

    def progress(done: int, total: int) -> None:
        tty_progress(done, total, "image-attacks")

    curves = {}
    name, path, labels = setup.name, setup.path, setup.labels
    for kind, craft, label in zip(("plain", "adaptive"), crafts, labels):
        params = {**base, "defense": args.defense, "defense_params": built.params, "adaptive": kind == "adaptive",
                  "attacker": label}
        curves[kind] = defense_curve(built.deployed, craft, test.images, test.labels, args.eps, args.attack,
                                     params, judge=built.judge, batch_size=args.batch_size, seed=args.seed,
                                     progress=progress)
    end_progress()
    extra: dict = {}
    if isinstance(built, DetectorDefense):
        import torch

        detector = built.detector
        with torch.no_grad():
            logits, det = detector(test.images.to(next(detector.model.parameters()).device))
        extra["classifier_clean_accuracy"] = float((logits.argmax(1).cpu() == test.labels).float().mean())
        extra["clean_rejected"] = float((det.cpu() > built.threshold).float().mean())
        for c in curves.values():
            c.extra.update(extra)
    p = curves["plain"].params
    title = attack_title(args.attack)
    if args.attack == "pgd":
        how = (f"{p['steps']} steps, step {p['step_size']:g}" if p.get("step_size") else
               f"{p['steps']} steps, step 2.5·ε/steps") + ", random start, final iterate"
    elif args.attack == "autoattack":
        title = p["label"]
        how = " → ".join(f"{a['attack']} {a.get('steps', a.get('queries'))}" for a in p["attacks"])
        how += ", each on the points still robust" + (f", EOT over {p['eot_draws']} draws" if p["eot_draws"] else "")
    else:
        how = "one step"
    dp = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in built.params.items()
                   if k not in ("member_paths", "features"))
    say = printer(to_stdout)
    if classes_line(test):
        say(classes_line(test))
    say(f"model: {name}")
    say(f"defense: {args.defense}({dp})")
    say(f"attack: {title} (untargeted, L∞, {how}), n = {test.labels.shape[0]} test images")
    say(f"  plain:    {labels[0]}")
    say(f"  adaptive: {labels[1]}")
    for note in setup.notes:
        say(note)
    if extra:
        say(f"classifier alone on the clean images: {extra['classifier_clean_accuracy'] * 100:.2f}%; clean images "
            f"rejected by the detector (false positives): {extra['clean_rejected'] * 100:.2f}%")
    say(f"clean accuracy of the defended model: {curves['plain'].clean_accuracy * 100:.2f}%")
    say(f"{'eps':>6} {'steps':>6} {'n':>6} {'plain':>9} {'adaptive':>9}")
    steps = {"fgsm": 1, "autoattack": "–"}.get(args.attack, args.steps)
    for e, a, b in zip(curves["plain"].eps, curves["plain"].accuracy, curves["adaptive"].accuracy):
        say(f"{e:>6.3g} {steps:>6} {curves['plain'].n:>6} {a * 100:>8.2f}% {b * 100:>8.2f}%")
    for kind, c in curves.items():
        for e, parts in zip(c.eps, c.extra.get("breakdown") or ()):
            if parts:
                say(f"{kind}, ε = {e:g}: points each attack broke, on the points still robust (as the attacker saw "
                    "them on the model it differentiates): "
                    + ", ".join(f"{'clean mistakes' if k == 'clean' else k} {int(v)}" for k, v in parts.items()))
    say("A defense is credited only with the adaptive column: the plain one shows what a naive attacker sees.")
    if to_stdout or json_out:
        where = str(path) if path else None
        doc = {"model": name, "model_path": where, "defense": args.defense, "defense_params": built.params,
               "classes": list(test.classes),
               "curves": {k: {**c.to_json(name), "model_path": where} for k, c in curves.items()}}
        emit_json(doc, to_stdout, json_out)
    return 0
