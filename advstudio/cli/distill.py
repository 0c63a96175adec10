"""`advstudio distill`: defensive distillation (a teacher trained at temperature T, then its student on the
teacher's soft labels); saves the student (and the teacher) with their metadata."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from advstudio.cli.common import command_line, positive_float, positive_int, setup_torch


def add_parser(sub) -> None:
    s = sub.add_parser("distill", help="defensive distillation: a teacher at temperature T, then its student")
    s.add_argument("--data", help="MNIST folder (default: $ADVSTUDIO_MNIST_DIR)")
    s.add_argument("--out", required=True, help="output .safetensors file (the student)")
    s.add_argument("--teacher-out", help="also save the teacher here")
    s.add_argument("--temperature", type=positive_float, default=20.0, help="training temperature T (default 20)")
    s.add_argument("--epochs", type=positive_int, default=5)
    s.add_argument("--batch-size", type=positive_int, default=64)
    s.add_argument("--lr", type=float, default=1e-3)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--limit", type=positive_int, help="train on the first N samples only")
    s.add_argument("--eval-limit", type=positive_int, help="evaluate on the first N test samples only")




def run(args) -> int:
    """Train the teacher, then the student; save them with an FGSM curve in their metadata."""
    import torch

    from advstudio.core.data import load_split
    from advstudio.core.defenses.distillation import distill, distillation_recipe
    from advstudio.core.errors import TrainingCancelled
    from advstudio.core.evaluation.curves import fgsm_curve
    from advstudio.core.info import library_versions, now_iso
    from advstudio.core.model import MnistCNN, device_label
    from advstudio.core.storage import save_model
    from advstudio.core.training_config import TrainConfig

    device = setup_torch(args)
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
    command = command_line()
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
