"""`advstudio distill`: defensive distillation (a teacher trained at temperature T, then its student on the
teacher's soft labels); saves the student (and the teacher) with their metadata."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from advstudio.cli.common import (
    DIVERGED,
    add_classes_flag,
    add_json_flags,
    check_model_out,
    check_outputs,
    command_line,
    diverged,
    emit_json,
    fail,
    json_targets,
    setup_torch,
)
from advstudio.core.argtypes import BATCH, EPOCHS, LEARNING_RATE, SAMPLES, SEED, float_in


def add_parser(sub) -> None:
    s = sub.add_parser("distill", help="defensive distillation: a teacher at temperature T, then its student")
    s.add_argument("--data", help="MNIST folder (default: $ADVSTUDIO_MNIST_DIR)")
    add_classes_flag(s, note="; the teacher and the student get one output per class")
    s.add_argument("--out", required=True, help="output .safetensors file (the student)")
    s.add_argument("--teacher-out", help="also save the teacher here")
    s.add_argument("--temperature", type=float_in(0.0, 1000.0, lo_open=True), default=20.0,
                   help="training temperature T in (0, 1000] (default 20)")
    s.add_argument("--epochs", type=EPOCHS, default=5, help="1–1000 (default 5)")
    s.add_argument("--batch-size", type=BATCH, default=64, help="1–65536 (default 64)")
    s.add_argument("--lr", type=LEARNING_RATE, default=1e-3, help="Adam's learning rate, in (0, 1] (default 0.001)")
    s.add_argument("--seed", type=SEED, default=0, help="0–4294967295 (default 0)")
    s.add_argument("--limit", type=SAMPLES, help="train on the first N samples only")
    s.add_argument("--eval-limit", type=SAMPLES, help="evaluate on the first N test samples only")
    add_json_flags(s, "the saved models' paths and metadata", instead="(the progress goes to stderr)")


def run(args) -> int:
    """Train the teacher, then the student; save them with an FGSM curve in their metadata."""
    import torch

    from advstudio.core.data import load_split
    from advstudio.core.defenses.distillation import distill, distillation_recipe
    from advstudio.core.errors import TrainingCancelled
    from advstudio.core.evaluation.curves import fgsm_curve
    from advstudio.core.info import library_versions, now_iso
    from advstudio.core.model import MnistCNN, build_model, device_label
    from advstudio.core.storage import save_model
    from advstudio.core.training_config import TrainConfig

    to_stdout, json_out = json_targets(args, "distill")
    outputs = [check_model_out("--out", args.out)]
    if args.teacher_out:
        outputs.append(check_model_out("--teacher-out", args.teacher_out))
    check_outputs(*(p for pair in outputs for p in pair), json_out)
    log = sys.stderr if to_stdout else sys.stdout  # with --json, standard output holds the JSON alone
    device = setup_torch(args)
    train_split = load_split(args.data, "train", layout=args.classes)
    test_split = load_split(args.data, "test", layout=args.classes)
    if test_split.classes != train_split.classes:
        return fail(f"the training split has {train_split.num_classes} classes but the test split "
                    f"{test_split.num_classes}; add a classes.txt to {train_split.source} naming every class")
    num_classes = train_split.num_classes
    cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                      limit=args.limit, eval_limit=args.eval_limit)
    torch.manual_seed(cfg.seed)
    teacher = build_model(MnistCNN.ARCHITECTURE, num_classes=num_classes).to(device)
    student = build_model(MnistCNN.ARCHITECTURE, num_classes=num_classes).to(device)
    n = len(train_split.head(cfg.limit))
    if train_split.classes != tuple(str(i) for i in range(10)):
        shown = ", ".join(train_split.classes[:12]) + (", …" if num_classes > 12 else "")
        print(f"{num_classes} classes: {shown}", file=log)
    print(f"defensive distillation at T = {args.temperature:g}: teacher, then student, {cfg.epochs} epochs each "
          f"on {n} samples, device {device_label(device)}", file=log)
    start = time.perf_counter()
    last = {}
    try:
        for stage, prog in distill(teacher, student, train_split, test_split, cfg, args.temperature):
            last[stage] = prog
            log.write(f"\r{stage} epoch {prog.epoch}/{prog.epochs} batch {prog.batch}/{prog.batches} "
                             f"loss {prog.loss:.4f} ETA {prog.eta_s:.0f}s   ")
            log.flush()
            if prog.test_accuracy is not None:
                log.write(f"\n{stage} epoch {prog.epoch}: test accuracy {prog.test_accuracy * 100:.2f}%\n")
    except (KeyboardInterrupt, TrainingCancelled):
        print("\ndistillation interrupted: nothing was written", file=log)
        return 130
    seconds = time.perf_counter() - start
    if diverged(teacher) or diverged(student):
        return fail(DIVERGED)
    command = command_line()
    ev = test_split.head(args.eval_limit)
    saved = {}
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
                "fgsm_curve": {"n": curve.n, "eps": list(curve.eps), "accuracy": list(curve.accuracy)},
                "num_classes": num_classes, "classes": list(train_split.classes)}
        path = save_model(model, out, meta)
        saved[role] = {"model_path": str(path), "metadata_path": str(path.with_suffix(".json")), "metadata": meta}
        print(f"saved the {role} to {path} (test accuracy {last[role].test_accuracy * 100:.2f}%; "
              f"FGSM at ε = 0.1: {curve.accuracy[2] * 100:.2f}%)", file=log)
    if to_stdout or json_out:
        emit_json(saved, to_stdout, json_out)
    return 0
