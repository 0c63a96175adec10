"""Headless command line: train / evaluate / attack / predict (JSON out where asked)."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import threading
import time
from pathlib import Path

EXIT_USAGE = 2
EXIT_FAILED = 1


def _number_list(text: str, upper: float, beyond: str) -> list[float]:
    """Comma-separated numbers in [0, upper]; `beyond` says what a value past the bounds is."""
    try:
        values = [float(v) for v in text.split(",") if v.strip() != ""]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of numbers: {text!r}") from exc
    if not values:
        raise argparse.ArgumentTypeError("give at least one ε")
    for v in values:
        if not 0.0 <= v <= upper:
            raise argparse.ArgumentTypeError(f"ε {v} is {beyond}")
    return values


def _eps_list(text: str) -> list[float]:
    return _number_list(text, 1.0, "outside [0, 1] pixel space")


def _eps_value(text: str) -> float:
    return _eps_list(text)[0]


def _radius_list(text: str) -> list[float]:
    """Comma-separated non-negative radii: L∞ ε for most attacks, L2 radii for cw and deepfool (checked later)."""
    return _number_list(text, 28.0, "negative or beyond any 28×28 image's L2 norm")


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from exc
    if not v > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {v}")
    return v


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from exc
    if v <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {v}")
    return v


def _class_index(text: str) -> int:
    v = int(text)
    if not 0 <= v <= 9:
        raise argparse.ArgumentTypeError("a class is a digit 0–9")
    return v


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="advstudio",
        description="Adversarial Studio. With no command, starts the window; with a command, works headless.",
    )
    p.add_argument("--device", default="auto", help="auto (CUDA, else MPS, else CPU), cpu, cuda or mps")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    t = sub.add_parser("train", help="train the CNN (the article's recipe by default)")
    t.add_argument("--data", help="MNIST folder (default: $ADVSTUDIO_MNIST_DIR)")
    t.add_argument("--download", action="store_true", help="download MNIST into --data when it is missing")
    t.add_argument("--out", required=True, help="output .safetensors file")
    t.add_argument("--epochs", type=_positive_int, default=5)
    t.add_argument("--batch-size", type=_positive_int, default=64)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--limit", type=_positive_int, help="train on the first N samples only (quick runs)")
    t.add_argument("--eval-limit", type=_positive_int, help="evaluate on the first N test samples only")
    t.add_argument("--name", help="the model's display name (default: the file name)")
    t.add_argument("--no-curve", action="store_true", help="skip the FGSM curve stored in the metadata")
    t.add_argument("--adversarial", choices=["fgsm_rs", "pgd"],
                   help="adversarial training: fgsm_rs (fast, FGSM with random start) or pgd (Madry)")
    t.add_argument("--adv-eps", type=_eps_value, default=0.3, help="adversarial training radius ε (L∞, pixels)")
    t.add_argument("--adv-steps", type=_positive_int, default=10, help="PGD steps per batch (pgd only)")
    t.add_argument("--adv-step-size", type=float, help="step size (default 1.25·ε for fgsm_rs, 2.5·ε/steps for pgd)")
    t.add_argument("--adv-ramp-epochs", type=int, default=0, help="ramp ε up linearly over this many epochs")
    t.add_argument("--adv-fraction", type=float, default=1.0, help="share of each batch made adversarial (0–1)")
    t.add_argument("--robust-eval-samples", type=_positive_int, default=500,
                   help="held-out test images for the per-epoch PGD robust accuracy")
    t.add_argument("--checkpoint", help="write an atomic checkpoint here after every epoch")
    t.add_argument("--resume", action="store_true", help="continue from --checkpoint if it exists")
    t.add_argument("--init", metavar="MODEL", help="start from the weights of this .safetensors model "
                   "(fine-tuning) instead of a random initialization")
    t.add_argument("--lr-schedule", choices=("constant", "cosine"), default="constant",
                   help="learning rate: constant (the article's recipe) or cosine decay to 0 over the epochs")

    e = sub.add_parser("evaluate", help="clean accuracy and a robustness curve (FGSM by default)")
    e.add_argument("--model", help="a .safetensors model (default: the bundled one)")
    e.add_argument("--data", help="MNIST folder (default: $ADVSTUDIO_MNIST_DIR)")
    e.add_argument("--attack", choices=["fgsm", "bim", "pgd", "mifgsm", "cw", "deepfool"], default="fgsm",
                   help="the attack (default fgsm); cw and deepfool are minimal-L2 attacks without an ε")
    e.add_argument("--eps", type=_radius_list, default=None,
                   help="comma-separated ε: L∞ in [0, 1] pixel space (default 0,0.05,0.1,0.2,0.3); for cw and "
                        "deepfool, L2 radii (default 0,0.5,1,1.5,2,2.5,3)")
    e.add_argument("--steps", type=_positive_int, help="iterations (bim 10, pgd 40, mifgsm 10, cw 100, deepfool 50)")
    e.add_argument("--step-size", type=_positive_float,
                   help="L∞ step α in pixel space (default 2.5·ε/steps; mifgsm ε/steps); for cw, Adam's lr (0.1)")
    e.add_argument("--restarts", type=_positive_int, help="pgd random restarts (default 1)")
    e.add_argument("--momentum", type=float, help="mifgsm momentum decay μ (default 1.0)")
    e.add_argument("--c", type=_positive_float, help="cw: initial trade-off constant c (default 1)")
    e.add_argument("--search-steps", type=_positive_int, help="cw: binary-search rounds over c (default 5)")
    e.add_argument("--overshoot", type=float, help="deepfool overshoot (default 0.02)")
    e.add_argument("--full", action="store_true",
                   help="run every step for every sample (default: stop a sample once it is misclassified, "
                        "which gives the same or lower robust accuracy at a fraction of the cost)")
    e.add_argument("--target", type=_class_index, help="targeted attack toward this class")
    e.add_argument("--limit", type=_positive_int, help="the first N test samples only")
    e.add_argument("--batch-size", type=_positive_int, default=250)
    e.add_argument("--json", metavar="PATH", help="also write the results as JSON")

    a = sub.add_parser("attack", help="FGSM on one image; writes clean, perturbation and adversarial PNGs")
    src = a.add_mutually_exclusive_group(required=True)
    src.add_argument("image", nargs="?", help="an image file (PNG, JPEG, BMP, … any size)")
    src.add_argument("--index", type=int, help="index into the MNIST test set instead of an image")
    a.add_argument("--model", help="a .safetensors model (default: the bundled one)")
    a.add_argument("--data", help="MNIST folder, for --index")
    a.add_argument("--eps", type=_eps_value, default=0.1, help="ε in [0, 1] pixel space")
    a.add_argument("--target", type=_class_index, help="targeted FGSM toward this class")
    a.add_argument("--label", type=_class_index, help="true class of the image (default: the model's prediction)")
    a.add_argument("--out", default=".", help="folder for the PNGs (default: here)")
    a.add_argument("--scale", type=_positive_int, default=10, help="also write PNGs scaled up this much")
    a.add_argument("--json", action="store_true", help="print machine-readable output")

    pr = sub.add_parser("predict", help="classify image files (MNIST-style preprocessing)")
    pr.add_argument("images", nargs="+", help="image files")
    pr.add_argument("--model", help="a .safetensors model (default: the bundled one)")
    pr.add_argument("--json", action="store_true", help="print machine-readable output")

    ac = sub.add_parser("activations", help="ReLU activation statistics, clean against FGSM, per layer")
    ac.add_argument("--model", help="a .safetensors model (default: the bundled one)")
    ac.add_argument("--data", help="MNIST folder (default: $ADVSTUDIO_MNIST_DIR)")
    ac.add_argument("--eps", type=_eps_value, default=0.1, help="FGSM ε in [0, 1] pixel space (default 0.1)")
    ac.add_argument("--limit", type=_positive_int, default=1000, help="the first N test images (default 1000)")
    ac.add_argument("--bins", type=_positive_int, default=32, help="histogram bins per layer (default 32)")
    ac.add_argument("--batch-size", type=_positive_int, default=500)
    ac.add_argument("--json", metavar="PATH", help="also write the statistics, shifts and histograms as JSON")

    from advstudio.cli.defense import add_defense_parsers

    add_defense_parsers(sub)  # defend, certify, distill
    return p


def tty_progress(done: int, total: int) -> None:
    """A progress counter on stderr, only when someone watches a terminal."""
    if sys.stderr.isatty():
        sys.stderr.write(f"\r{done}/{total} images")
        sys.stderr.flush()


def _fail(msg: str) -> int:
    print(f"advstudio: error: {msg}", file=sys.stderr)
    return EXIT_FAILED


def _setup_torch(args) -> tuple:
    from advstudio.core.model import pick_device

    return (pick_device(args.device),)


def _load(model_path: str | None, device):
    from advstudio.core.storage import bundled_model_path, load_model, model_display_name

    path = Path(model_path) if model_path else bundled_model_path()
    model, meta = load_model(path, device)
    return model, meta, model_display_name(path, meta), path


def cmd_train(args) -> int:
    import torch

    from advstudio.core.data import load_split
    from advstudio.core.evaluation.curves import fgsm_curve
    from advstudio.core.model import MnistCNN, device_label
    from advstudio.core.storage import save_model
    from advstudio.core.training import TrainConfig, TrainingCancelled, model_metadata, train

    (device,) = _setup_torch(args)
    train_split = load_split(args.data, "train", download=args.download)
    test_split = load_split(args.data, "test", download=args.download)
    cfg = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        limit=args.limit,
        eval_limit=args.eval_limit,
        adversarial=args.adversarial,
        adv_eps=args.adv_eps,
        adv_steps=args.adv_steps,
        adv_step_size=args.adv_step_size,
        adv_ramp_epochs=args.adv_ramp_epochs,
        adv_fraction=args.adv_fraction,
        robust_eval_samples=args.robust_eval_samples,
        lr_schedule=args.lr_schedule,
    )
    if args.resume and not args.checkpoint:
        return _fail("--resume needs --checkpoint PATH")
    torch.manual_seed(cfg.seed)
    model = MnistCNN().to(device)
    init_meta = None
    if args.init:
        from advstudio.core.storage import ModelFileError, load_model, model_display_name

        try:
            init_model, init_meta = load_model(Path(args.init), device)
        except (ModelFileError, OSError) as exc:
            return _fail(str(exc))
        model.load_state_dict(init_model.state_dict())
        print(f"starting from the weights of {model_display_name(Path(args.init), init_meta)}")
    n = len(train_split.head(cfg.limit))
    print(f"training on {n} samples, {cfg.epochs} epochs, batch {cfg.batch_size}, Adam lr {cfg.lr}, "
          f"seed {cfg.seed}, device {device_label(device)}")
    if cfg.adversarial:
        print(f"adversarial training: {cfg.adversarial}, ε = {cfg.adv_eps:g}, step {cfg.step_size():.4g}, "
              f"{1 if cfg.adversarial == 'fgsm_rs' else cfg.adv_steps} step(s), ramp {cfg.adv_ramp_epochs} epoch(s), "
              f"adversarial share {cfg.adv_fraction:g}")
    cancel = threading.Event()
    start = time.perf_counter()
    last = None
    try:
        for prog in train(model, train_split, test_split, cfg, cancel=cancel, checkpoint=args.checkpoint,
                          resume=args.resume):
            last = prog
            line = (f"\repoch {prog.epoch}/{prog.epochs} batch {prog.batch}/{prog.batches} "
                    f"loss {prog.loss:.4f} acc {prog.accuracy * 100:.2f}% {prog.samples_per_s:.0f} samples/s "
                    f"ETA {prog.eta_s:.0f}s   ")
            sys.stdout.write(line)
            sys.stdout.flush()
            if prog.test_accuracy is not None:
                robust = (f", PGD-{cfg.robust_eval_steps} accuracy at ε = {cfg.adv_eps:g} on "
                          f"{cfg.robust_eval_samples} test images {prog.robust_accuracy * 100:.2f}%"
                          if prog.robust_accuracy is not None else "")
                sys.stdout.write(f"\nepoch {prog.epoch}: test accuracy {prog.test_accuracy * 100:.2f}%{robust}\n")
    except (KeyboardInterrupt, TrainingCancelled):
        if args.checkpoint and Path(args.checkpoint).exists():
            print(f"\ntraining interrupted: the model was not written; the last finished epoch is in "
                  f"{args.checkpoint} (continue with --resume)")
        else:
            print("\ntraining interrupted: nothing was written")
        return 130
    seconds = time.perf_counter() - start
    assert last is not None
    curve = None
    if not args.no_curve:
        ev = test_split.head(args.eval_limit)
        curve = fgsm_curve(model, ev.images, ev.labels)
    command = ("advstudio " + shlex.join(sys.argv[1:])
               if Path(sys.argv[0]).name in ("advstudio", "__main__.py") else None)
    meta = model_metadata(cfg, last, name=args.name or Path(args.out).stem, train_samples=n,
                          test_samples=len(test_split.head(cfg.eval_limit)), seconds=seconds,
                          device=device_label(device), command=command, init_meta=init_meta, fgsm_curve=curve)
    out = save_model(model, args.out, meta)
    print(f"saved {out} (test accuracy {last.test_accuracy * 100:.2f}%, {seconds:.0f}s)")
    return 0


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
             "c": "c", "search_steps": "binary_search_steps", "overshoot": "overshoot"}
    if args.attack == "cw":
        names["step_size"] = "lr"
    from advstudio.core.attacks import attack_settings

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
    if args.eps is not None and args.attack not in ("cw", "deepfool"):
        bad = [e for e in args.eps if e > 1.0]
        if bad:
            return f"ε {bad[0]:g} is outside [0, 1] pixel space"
    return settings


def _print_attack_table(curve, name: str) -> None:
    """Every figure names its attack, ε, steps, restarts and sample count."""
    from advstudio.core.describe import attack_details, attack_title

    p = curve.params
    l2 = p.get("eps_norm") == "l2"
    steps = p.get("steps", 1)
    bits = attack_details(curve.attack, p)
    print(f"model: {name}")
    print(f"attack: {attack_title(curve.attack)} ({', '.join(bits)}), n = {curve.n} test images")
    if l2:
        print("robust at radius ε = not misclassified by a perturbation with ‖δ‖₂ ≤ ε found by the attack")
    print(f"clean accuracy: {curve.clean_accuracy * 100:.2f}%")
    restarts = p.get("restarts", 1)
    head = "L2 ≤" if l2 else "eps"
    print(f"{'attack':<9} {head:>6} {'steps':>6} {'restarts':>8} {'n':>6} {'accuracy':>9} {'success':>8}")
    success = curve.extra.get("success_rate", [float("nan")] * len(curve.eps))
    for e, acc, sr in zip(curve.eps, curve.accuracy, success):
        print(f"{curve.attack:<9} {e:>6.3g} {steps:>6} {restarts:>8} {curve.n:>6} {acc * 100:>8.2f}% {sr * 100:>7.2f}%")


def cmd_evaluate(args) -> int:
    from advstudio.core.data import load_split
    from advstudio.core.evaluation.curves import fgsm_curve
    from advstudio.core.storage import atomic_write_text

    settings = _attack_settings(args)
    if isinstance(settings, str):
        print(f"advstudio evaluate: error: {settings}", file=sys.stderr)
        return EXIT_USAGE
    (device,) = _setup_torch(args)
    model, meta, name, path = _load(args.model, device)
    test = load_split(args.data, "test").head(args.limit)


    if args.attack == "fgsm" and not settings:
        eps = args.eps if args.eps is not None else [0.0, 0.05, 0.1, 0.2, 0.3]
        curve = fgsm_curve(model, test.images, test.labels, eps, batch_size=args.batch_size, progress=tty_progress)
        curve.params.update(steps=1, early_stop=False, norm="linf")
    else:
        from advstudio.core.evaluation.lab import attack_curve

        try:
            curve = attack_curve(model, test.images, test.labels, args.attack, args.eps, settings,
                                 target=args.target, batch_size=args.batch_size, progress=tty_progress)
        except ValueError as exc:
            print(f"advstudio evaluate: error: {exc}", file=sys.stderr)
            return EXIT_USAGE
    if sys.stderr.isatty():
        sys.stderr.write("\n")
    if args.attack == "fgsm" and not settings:
        _print_table(curve, name)
    else:
        _print_attack_table(curve, name)
    if args.json:
        doc = curve.to_json(name)
        doc["model_path"] = str(path)
        atomic_write_text(args.json, json.dumps(doc, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


def _save_png(arr, path: Path, scale: int = 1) -> None:
    from advstudio.core.render import enlarge, png_bytes
    from advstudio.core.storage import atomic_write_bytes

    atomic_write_bytes(path, png_bytes(enlarge(arr, scale) if scale > 1 else arr))


def cmd_attack(args) -> int:
    import numpy as np
    import torch

    from advstudio.core.attacks.fgsm import FGSM
    from advstudio.core.data import load_image_file, load_split
    from advstudio.core.render import diverging_rgb, to_gray_u8

    (device,) = _setup_torch(args)
    model, meta, name, _ = _load(args.model, device)
    if args.index is not None:
        test = load_split(args.data, "test")
        if not 0 <= args.index < len(test):
            return _fail(f"--index {args.index} is outside the test set (0–{len(test) - 1})")
        img = test.images[args.index, 0].numpy()
        true_label = int(test.labels[args.index])
        stem = f"test{args.index}"
    else:
        img = load_image_file(args.image)
        true_label = None
        stem = Path(args.image).stem
    x = torch.from_numpy(img).reshape(1, 1, 28, 28).to(device)
    with torch.inference_mode():
        clean_probs = torch.softmax(model(x), 1)[0].cpu().numpy()
    label = args.label if args.label is not None else (true_label if true_label is not None else int(clean_probs.argmax()))
    attack = FGSM(args.eps, targeted=args.target is not None)
    y = torch.tensor([label], device=device)
    target = torch.tensor([args.target], device=device) if args.target is not None else None
    x_adv, delta = attack(model, x, y, target)
    with torch.inference_mode():
        adv_probs = torch.softmax(model(x_adv), 1)[0].cpu().numpy()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    adv = x_adv[0, 0].cpu().numpy()
    pert = delta[0, 0].cpu().numpy()
    files = {}
    for kind, arr in (("clean", to_gray_u8(img)), ("adversarial", to_gray_u8(adv)),
                      ("perturbation", diverging_rgb(pert * 10.0))):
        p = out / f"{stem}_{kind}.png"
        _save_png(arr, p)
        files[kind] = str(p)
        if args.scale > 1:
            p2 = out / f"{stem}_{kind}_x{args.scale}.png"
            _save_png(arr, p2, args.scale)
            files[f"{kind}_x{args.scale}"] = str(p2)
    result = {
        "model": name,
        "attack": "fgsm",
        "params": {"eps": args.eps, "targeted": args.target is not None, "target": args.target, "label": label},
        "clean": {"class": int(clean_probs.argmax()), "probs": [float(v) for v in clean_probs]},
        "adversarial": {"class": int(adv_probs.argmax()), "probs": [float(v) for v in adv_probs]},
        "linf": float(np.abs(pert).max()),
        "files": files,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        c, a = result["clean"]["class"], result["adversarial"]["class"]
        print(f"model: {name}; FGSM ε = {args.eps:g}" + (f", targeted → {args.target}" if args.target is not None else ""))
        print(f"clean:       {c} ({clean_probs[c] * 100:.1f}%)")
        print(f"adversarial: {a} ({adv_probs[a] * 100:.1f}%)" + ("   prediction flipped" if a != c else ""))
        print(f"‖δ‖∞ = {result['linf']:.4f}; wrote {', '.join(files.values())}")
    return 0


def cmd_predict(args) -> int:
    import torch

    from advstudio.core.data import InputImageError, load_image_file

    (device,) = _setup_torch(args)
    model, meta, name, _ = _load(args.model, device)
    results = []
    failed = 0
    for f in args.images:
        try:
            img = load_image_file(f)
        except InputImageError as exc:
            failed += 1
            results.append({"file": f, "error": str(exc)})
            continue
        with torch.inference_mode():
            probs = torch.softmax(model(torch.from_numpy(img).reshape(1, 1, 28, 28).to(device)), 1)[0].cpu()
        results.append({"file": f, "class": int(probs.argmax()), "confidence": float(probs.max()),
                        "probs": [round(float(v), 6) for v in probs]})
    if args.json:
        print(json.dumps({"model": name, "predictions": results}, indent=2))
    else:
        for r in results:
            if "error" in r:
                print(f"{r['file']}: error: {r['error']}", file=sys.stderr)
            else:
                probs = " ".join(f"{i}:{p * 100:.1f}%" for i, p in enumerate(r["probs"]))
                print(f"{r['file']}: {r['class']} ({r['confidence'] * 100:.1f}%)  [{probs}]")
    return EXIT_FAILED if failed else 0


COMMANDS = {"train": cmd_train, "evaluate": cmd_evaluate, "attack": cmd_attack, "predict": cmd_predict}


def _print_activations(result, name: str, eps: float) -> None:
    from advstudio.core.model import MNIST_STD

    print(f"model: {name}")
    print(f"attack: FGSM (untargeted, L∞, one step), ε = {eps:g} (= {eps * 255:.4g}/255 grey levels, "
          f"{eps / MNIST_STD:.3g} in normalized units), n = {result.samples} test images")
    if result.clean_accuracy is not None:
        print(f"accuracy: clean {result.clean_accuracy * 100:.2f}%, FGSM {result.adversarial_accuracy * 100:.2f}%; "
              f"prediction changed on {result.predictions_changed} of {result.samples} images")
    print()
    print("ReLU statistics over all units of all images (active = non-zero)")
    print(f"{'layer':<8}{'shape':<12}{'input':<7}{'mean':>9}{'std':>9}{'min':>9}{'max':>9}{'active':>9}")
    for c, a in zip(result.clean.layers, result.adversarial.layers):
        shape = "×".join(str(s) for s in c.shape)
        for label, s in (("clean", c), ("FGSM", a)):
            head = f"{c.name:<8}{shape:<12}" if label == "clean" else " " * 20
            print(f"{head}{label:<7}{s.mean:>9.4f}{s.std:>9.4f}{s.min:>9.4f}{s.max:>9.4f}"
                  f"{s.active_fraction * 100:>8.2f}%")
    print()
    print("Shift from clean to FGSM (relative shift = mean |a_adv − a_clean| / mean |a_clean|;")
    print("flipped = units active on exactly one of the two inputs)")
    print(f"{'layer':<8}{'mean|Δa|':>10}{'mean|a|':>10}{'rel. shift':>12}{'flipped':>10}"
          f"{'on→off':>9}{'off→on':>9}")
    for s in result.shifts:
        print(f"{s.name:<8}{s.mean_abs_change:>10.4f}{s.clean_mean_abs:>10.4f}{s.relative_shift * 100:>11.1f}%"
              f"{s.flip_fraction * 100:>9.2f}%{s.on_to_off_fraction * 100:>8.2f}%{s.off_to_on_fraction * 100:>8.2f}%")


def cmd_activations(args) -> int:
    from advstudio.core.activations import fgsm_activations
    from advstudio.core.data import load_split
    from advstudio.core.storage import atomic_write_text

    (device,) = _setup_torch(args)
    model, meta, name, path = _load(args.model, device)
    test = load_split(args.data, "test").head(args.limit)


    result = fgsm_activations(model, test.images, test.labels, args.eps, bins=args.bins,
                              batch_size=args.batch_size, progress=tty_progress)
    if sys.stderr.isatty():
        sys.stderr.write("\n")
    _print_activations(result, name, args.eps)
    if args.json:
        doc = {"model": name, "model_path": str(path), "data": "MNIST test set, first images", **result.to_json()}
        atomic_write_text(args.json, json.dumps(doc, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


COMMANDS["activations"] = cmd_activations

from advstudio.cli.defense import cmd_certify, cmd_defend, cmd_distill  # noqa: E402 - the defense lab's commands

COMMANDS.update(defend=cmd_defend, certify=cmd_certify, distill=cmd_distill)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    os.environ.setdefault("OMP_NUM_THREADS", str(os.cpu_count() or 1))
    from advstudio.core.data import DatasetError, InputImageError
    from advstudio.core.storage import ModelFileError

    try:
        return COMMANDS[args.command](args)
    except (DatasetError, ModelFileError, InputImageError, RuntimeError, OSError) as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
