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


def _eps_list(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip() != ""]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of numbers: {text!r}") from exc
    if not values:
        raise argparse.ArgumentTypeError("give at least one ε")
    for v in values:
        if not 0.0 <= v <= 1.0:
            raise argparse.ArgumentTypeError(f"ε {v} is outside [0, 1] pixel space")
    return values


def _eps_value(text: str) -> float:
    return _eps_list(text)[0]


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

    e = sub.add_parser("evaluate", help="clean accuracy and an FGSM robustness curve")
    e.add_argument("--model", help="a .safetensors model (default: the bundled one)")
    e.add_argument("--data", help="MNIST folder (default: $ADVSTUDIO_MNIST_DIR)")
    e.add_argument("--eps", type=_eps_list, default=[0.0, 0.05, 0.1, 0.2, 0.3], help="comma-separated ε in [0, 1]")
    e.add_argument("--limit", type=_positive_int, help="the first N test samples only")
    e.add_argument("--batch-size", type=_positive_int, default=1000)
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
    return p


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
    from advstudio.core.evaluate import fgsm_curve
    from advstudio.core.info import library_versions, now_iso
    from advstudio.core.model import MnistCNN, device_label
    from advstudio.core.storage import save_model
    from advstudio.core.training import TrainConfig, TrainingCancelled, train

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
    )
    if args.resume and not args.checkpoint:
        return _fail("--resume needs --checkpoint PATH")
    torch.manual_seed(cfg.seed)
    model = MnistCNN().to(device)
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
    meta = {
        "name": args.name or Path(args.out).stem,
        "recipe": cfg.recipe(),
        "seed": cfg.seed,
        "epochs": cfg.epochs,
        "train_samples": n,
        "test_accuracy": last.test_accuracy,
        "test_samples": len(test_split.head(cfg.eval_limit)),
        "history": list(last.history),
        "training_seconds": round(seconds, 1),
        "device": device_label(device),
        "versions": library_versions(),
        "date": now_iso(),
        "command": "advstudio " + shlex.join(sys.argv[1:]) if Path(sys.argv[0]).name in ("advstudio", "__main__.py") else None,
    }
    if not args.no_curve:
        ev = test_split.head(args.eval_limit)
        curve = fgsm_curve(model, ev.images, ev.labels)
        meta["fgsm_curve"] = {"n": curve.n, "eps": list(curve.eps), "accuracy": list(curve.accuracy)}
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


def cmd_evaluate(args) -> int:
    from advstudio.core.data import load_split
    from advstudio.core.evaluate import fgsm_curve
    from advstudio.core.storage import atomic_write_text

    (device,) = _setup_torch(args)
    model, meta, name, path = _load(args.model, device)
    test = load_split(args.data, "test").head(args.limit)

    def progress(done: int, total: int) -> None:
        if sys.stderr.isatty():
            sys.stderr.write(f"\r{done}/{total} images")
            sys.stderr.flush()

    curve = fgsm_curve(model, test.images, test.labels, args.eps, batch_size=args.batch_size, progress=progress)
    if sys.stderr.isatty():
        sys.stderr.write("\n")
    _print_table(curve, name)
    if args.json:
        doc = curve.to_json(name)
        doc["model_path"] = str(path)
        atomic_write_text(args.json, json.dumps(doc, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


def _save_png(arr, path: Path, scale: int = 1) -> None:
    import numpy as np
    from PIL import Image

    from advstudio.core.storage import atomic_write_bytes
    import io

    img = Image.fromarray(np.ascontiguousarray(arr), mode="RGB" if arr.ndim == 3 else "L")
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.Resampling.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())


def cmd_attack(args) -> int:
    import numpy as np
    import torch

    from advstudio.core.attacks import FGSM
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
