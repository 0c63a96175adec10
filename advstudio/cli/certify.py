"""`advstudio certify`: randomized smoothing (Cohen et al.'s CERTIFY) on the first test images; certified
accuracy against L2 radius, with the cap that n and α put on any radius."""

from __future__ import annotations

import time

from advstudio.cli.common import (
    add_classes_flag,
    add_json_flags,
    check_classes,
    check_outputs,
    classes_line,
    emit_json,
    end_progress,
    fraction,
    json_targets,
    l2_radii,
    load_model,
    printer,
    setup_torch,
    tty_progress,
)
from advstudio.core.argtypes import BATCH, SAMPLES, SEED, float_in, int_in

DEFAULT_RADII = "0,0.25,0.5,0.75,1,1.25,1.5"


def add_parser(sub) -> None:
    c = sub.add_parser(
        "certify", help="randomized smoothing: certified accuracy against L2 radius (not the L∞ ball)",
        description="Cohen et al.'s CERTIFY on the first N test images. It certifies L2 radii of the smoothed "
                    "classifier, not the L∞ ε ball the attacks use.")
    c.add_argument("--model", help="a .safetensors model (default: the bundled one)")
    c.add_argument("--data", help="MNIST folder (default: $ADVSTUDIO_MNIST_DIR)")
    add_classes_flag(c)
    c.add_argument("--sigma", type=float_in(0.0, 10.0, lo_open=True), default=0.25,
                   help="noise σ in pixels, in (0, 10] (default 0.25)")
    c.add_argument("--n", type=int_in(1, 1_000_000), default=1000,
                   help="noise samples for the bound, 1–1000000 (default 1000)")
    c.add_argument("--n0", type=int_in(1, 100_000), default=100,
                   help="noise samples to pick the class, 1–100000 (default 100)")
    c.add_argument("--alpha", type=fraction, default=0.001, help="failure probability α in (0, 1) (default 0.001)")
    c.add_argument("--limit", type=SAMPLES, default=100, help="the first N test images (default 100)")
    c.add_argument("--radii", type=l2_radii, default=l2_radii(DEFAULT_RADII),
                   help=f"comma-separated L2 radii in pixel space (default {DEFAULT_RADII})")
    c.add_argument("--batch-size", type=BATCH, default=500, help="noisy copies per forward pass, 1–65536")
    c.add_argument("--seed", type=SEED, default=0, help="0–4294967295 (default 0)")
    add_json_flags(c, "the certificates and the curve", old_file_spelling=True)


def run(args) -> int:
    """Certify each image, print the certified accuracy at each radius (and write JSON)."""
    import torch

    from advstudio.core.data import load_split
    from advstudio.core.defenses import certified_accuracy, certify

    to_stdout, json_out = json_targets(args, "certify")
    check_outputs(json_out, inputs=[args.model])
    device = setup_torch(args)
    model, _, name, path = load_model(args.model, device)
    model.eval()
    test = load_split(args.data, "test", layout=args.classes).head(args.limit)
    check_classes(model, name, test, verb="certify")
    torch.manual_seed(args.seed)
    certs = []
    start = time.perf_counter()
    for i in range(len(test)):
        certs.append(certify(model, test.images[i : i + 1].to(device), args.sigma, args.n0, args.n, args.alpha,
                             args.batch_size))
        tty_progress(i + 1, len(test))
    end_progress()
    seconds = time.perf_counter() - start
    labels = [int(v) for v in test.labels]
    acc = certified_accuracy(certs, labels, args.radii)
    abstained = sum(1 for c in certs if c.label is None)
    wrong = sum(1 for c, y in zip(certs, labels) if c.label is not None and c.label != y)
    correct_radii = [c.radius for c, y in zip(certs, labels) if c.label == y]
    say = printer(to_stdout)
    if classes_line(test):
        say(classes_line(test))
    say(f"model: {name}")
    say(f"randomized smoothing (Cohen et al.): σ = {args.sigma:g}, n0 = {args.n0}, n = {args.n}, "
        f"α = {args.alpha:g}, N = {len(test)} test images ({seconds:.0f}s)")
    from advstudio.core.certification import linf_as_l2, max_certifiable_radius

    say("This certifies L2 radii (‖δ‖₂ ≤ r) of the smoothed classifier, not the L∞ ball (‖δ‖∞ ≤ ε) the attacks "
        f"use: an L∞ ball of ε = 0.3 holds perturbations up to ‖δ‖₂ = {linf_as_l2(0.3):.1f} on a 28×28 image, far "
        "beyond any radius certified here.")
    cap = max_certifiable_radius(args.sigma, args.n, args.alpha)
    say(f"With n = {args.n} and α = {args.alpha:g} no radius above σ·Φ⁻¹(α^(1/n)) = {cap:.3f} can be certified "
        f"(more samples raise this cap).")
    say(f"abstained: {abstained}, certified a wrong class: {wrong}, certified correct: {len(correct_radii)}"
        + (f" (median radius {sorted(correct_radii)[len(correct_radii) // 2]:.3f})" if correct_radii else ""))
    say(f"{'L2 radius':>10} {'certified accuracy':>19}")
    for r, a in zip(args.radii, acc):
        say(f"{r:>10.3g} {a * 100:>18.2f}%")
    if to_stdout or json_out:
        doc = {"model": name, "model_path": str(path), "method": "randomized_smoothing",
               "params": {"sigma": args.sigma, "n0": args.n0, "n": args.n, "alpha": args.alpha, "norm": "l2",
                          "seed": args.seed},
               "classes": list(test.classes),
               "n": len(test), "max_certifiable_radius": cap, "abstained": abstained, "certified_wrong": wrong, "seconds": round(seconds, 1),
               "results": [{"radius": r, "certified_accuracy": a} for r, a in zip(args.radii, acc)],
               "certificates": [{"label": y, "certified": c.label, "radius": c.radius, "p_lower": c.p_lower}
                                for c, y in zip(certs, labels)]}
        emit_json(doc, to_stdout, json_out)
    return 0


