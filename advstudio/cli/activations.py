"""`advstudio activations`: activation statistics per layer (every ReLU, or other activation module, of the
model), clean against FGSM, and how far they shift."""

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
)
from advstudio.core.argtypes import BATCH, SAMPLES, int_in


def add_parser(sub) -> None:
    ac = sub.add_parser("activations", help="activation (ReLU) statistics, clean against FGSM, per layer")
    ac.add_argument("--model", help="a .safetensors model (default: the bundled one)")
    ac.add_argument("--data", help="MNIST folder (default: $ADVSTUDIO_MNIST_DIR)")
    add_classes_flag(ac)
    ac.add_argument("--eps", type=eps_value, default=0.1, help="FGSM ε in [0, 1] pixel space (default 0.1)")
    ac.add_argument("--limit", type=SAMPLES, default=1000, help="the first N test images (default 1000)")
    ac.add_argument("--bins", type=int_in(2, 256), default=32, help="histogram bins per layer, 2–256 (default 32)")
    ac.add_argument("--batch-size", type=BATCH, default=500, help="1–65536 (default 500)")
    add_json_flags(ac, "the statistics, shifts and histograms", old_file_spelling=True)


def _print_activations(result, name: str, eps: float, test) -> None:
    from advstudio.core.model import MNIST_STD

    if classes_line(test):
        print(classes_line(test))
    print(f"model: {name}")
    print(f"attack: FGSM (untargeted, L∞, one step), ε = {eps:g} (= {eps * 255:.4g}/255 grey levels, "
          f"{eps / MNIST_STD:.3g} in normalized units), n = {result.samples} test images")
    if result.clean_accuracy is not None:
        print(f"accuracy: clean {result.clean_accuracy * 100:.2f}%, FGSM {result.adversarial_accuracy * 100:.2f}%; "
              f"prediction changed on {result.predictions_changed} of {result.samples} images")
    print()
    w = max([8] + [len(c.name) + 1 for c in result.clean.layers])  # SmallCNN's are "feature_extractor.relu1"
    print("Activation statistics over all units of all images (active = above zero)")
    print(f"{'layer':<{w}}{'shape':<12}{'input':<7}{'mean':>9}{'std':>9}{'min':>9}{'max':>9}{'active':>9}")
    for c, a in zip(result.clean.layers, result.adversarial.layers):
        shape = "×".join(str(s) for s in c.shape)
        for label, s in (("clean", c), ("FGSM", a)):
            head = f"{c.name:<{w}}{shape:<12}" if label == "clean" else " " * (w + 12)
            print(f"{head}{label:<7}{s.mean:>9.4f}{s.std:>9.4f}{s.min:>9.4f}{s.max:>9.4f}"
                  f"{s.active_fraction * 100:>8.2f}%")
    print()
    print("Shift from clean to FGSM (relative shift = mean |a_adv − a_clean| / mean |a_clean|;")
    print("flipped = units active on exactly one of the two inputs)")
    print(f"{'layer':<{w}}{'mean|Δa|':>10}{'mean|a|':>10}{'rel. shift':>12}{'flipped':>10}"
          f"{'on→off':>9}{'off→on':>9}")
    for s in result.shifts:
        print(f"{s.name:<{w}}{s.mean_abs_change:>10.4f}{s.clean_mean_abs:>10.4f}{s.relative_shift * 100:>11.1f}%"
              f"{s.flip_fraction * 100:>9.2f}%{s.on_to_off_fraction * 100:>8.2f}%{s.off_to_on_fraction * 100:>8.2f}%")


def run(args) -> int:
    """FGSM on the first test images with the activation monitor on; print the tables (and write JSON)."""
    from advstudio.core.activations import fgsm_activations
    from advstudio.core.data import load_split

    to_stdout, json_out = json_targets(args, "activations")
    check_outputs(json_out, inputs=[args.model])
    device = setup_torch(args)
    model, _, name, path = load_model(args.model, device)
    test = load_split(args.data, "test", layout=args.classes).head(args.limit)
    check_classes(model, name, test, verb="measure")
    result = fgsm_activations(model, test.images, test.labels, args.eps, bins=args.bins,
                              batch_size=args.batch_size, progress=tty_progress)
    end_progress()
    if not to_stdout:
        _print_activations(result, name, args.eps, test)
    if to_stdout or json_out:
        doc = {"model": name, "model_path": str(path), "data": "MNIST test set, first images",
               "classes": list(test.classes), **result.to_json()}
        emit_json(doc, to_stdout, json_out)
    return 0

