"""`advstudio train`: a network on MNIST (the article's CNN and recipe by default, another architecture with
--arch, or adversarial training), with a progress line, checkpoints and the model's metadata."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

from advstudio.cli.common import (
    DIVERGED,
    UsageError,
    add_classes_flag,
    add_json_flags,
    check_model_out,
    check_outputs,
    command_line,
    diverged,
    emit_json,
    eps_value,
    fail,
    json_targets,
    setup_torch,
)
from advstudio.core.architecture_names import ARCHITECTURE_NAMES, ARCHITECTURE_TITLES, DEFAULT_ARCHITECTURE
from advstudio.core.argtypes import BATCH, EPOCHS, LEARNING_RATE, SAMPLES, SEED, float_in, int_in


def add_parser(sub) -> None:
    t = sub.add_parser("train", help="train a network (the article's CNN and recipe by default; --arch for others)")
    t.add_argument("--data", help="MNIST folder (default: $ADVSTUDIO_MNIST_DIR)")
    t.add_argument("--download", action="store_true", help="download MNIST into --data when it is missing")
    add_classes_flag(t, note="; the model gets one output per class")
    t.add_argument("--out", required=True, help="output .safetensors file (its metadata also goes to NAME.json)")
    t.add_argument("--arch", choices=ARCHITECTURE_NAMES,
                   help="the network: " + "; ".join(f"{k}: {v}" for k, v in ARCHITECTURE_TITLES.items())
                   + f" (default {DEFAULT_ARCHITECTURE}, or with --init that model's own)")
    t.add_argument("--epochs", type=EPOCHS, default=5, help="1–1000 (default 5)")
    t.add_argument("--batch-size", type=BATCH, default=64, help="1–65536 (default 64)")
    t.add_argument("--lr", type=LEARNING_RATE, default=1e-3, help="Adam's learning rate, in (0, 1] (default 0.001)")
    t.add_argument("--seed", type=SEED, default=0, help="0–4294967295 (default 0)")
    t.add_argument("--limit", type=SAMPLES, help="train on the first N samples only (quick runs)")
    t.add_argument("--eval-limit", type=SAMPLES, help="evaluate on the first N test samples only")
    t.add_argument("--name", help="the model's display name (default: the file name)")
    t.add_argument("--no-curve", action="store_true", help="skip the FGSM curve stored in the metadata")
    t.add_argument("--adversarial", choices=["fgsm_rs", "pgd", "trades"],
                   help="adversarial training: fgsm_rs (fast, FGSM with random start), pgd (Madry) or trades "
                   "(Zhang et al.: clean cross-entropy + β·KL to the worst point of the ball)")
    t.add_argument("--trades-beta", type=float_in(0.0, 1000.0), default=6.0,
                   help="TRADES's β, 0–1000 (default 6): larger is more robust and less accurate")
    t.add_argument("--adv-eps", type=eps_value, default=0.3, help="adversarial training radius ε (L∞, pixels)")
    t.add_argument("--adv-steps", type=int_in(1, 1000), default=10,
                   help="PGD (or TRADES inner) steps per batch, 1–1000 (pgd and trades)")
    t.add_argument("--adv-step-size", type=float_in(0.0, 1.0, lo_open=True),
                   help="step size in (0, 1] pixels (default 1.25·ε for fgsm_rs, 2.5·ε/steps for pgd and trades)")
    t.add_argument("--adv-ramp-epochs", type=int_in(0, 1000), default=0,
                   help="ramp ε up linearly over this many epochs (0–1000)")
    t.add_argument("--adv-fraction", type=float_in(0.0, 1.0), default=1.0,
                   help="share of each batch made adversarial (0–1)")
    t.add_argument("--robust-eval-samples", type=SAMPLES, default=500,
                   help="held-out test images for the per-epoch PGD robust accuracy")
    t.add_argument("--guard-every", type=int_in(0, 100000), default=0,
                   help="adversarial training: every N batches check PGD-10 accuracy on 256 training images, keep "
                   "the best weights and stop on a collapse (catastrophic overfitting); 0 = off (default)")
    t.add_argument("--preset", choices=sorted(PRESET_KEYS),
                   help="a named recipe (quick-robust: a robust model in about 10 minutes); it sets the "
                   "training flags itself, so only --data, --out, --arch, --name, --seed, --limit, --eval-limit, "
                   "--checkpoint and --resume go with it")
    t.add_argument("--checkpoint", help="write an atomic checkpoint here after every epoch")
    t.add_argument("--resume", action="store_true", help="continue from --checkpoint if it exists")
    t.add_argument("--init", metavar="MODEL", help="start from the weights of this .safetensors model "
                   "(fine-tuning) instead of a random initialization")
    t.add_argument("--lr-schedule", choices=("constant", "cosine"), default="constant",
                   help="learning rate: constant (the article's recipe) or cosine decay to 0 over the epochs")
    add_json_flags(t, "the saved model's path and metadata", instead="(the progress goes to stderr)")
    t.set_defaults(flag_defaults={a.dest: a.default for a in t._actions})  # what --preset may not be mixed with


PRESET_KEYS = ("quick-robust",)  # core.training_config.PRESETS, kept torch-free here
PRESET_FLAGS = ("epochs", "batch_size", "lr", "adversarial", "adv_eps", "adv_steps", "adv_step_size",
                "adv_ramp_epochs", "adv_fraction", "trades_beta", "lr_schedule", "guard_every", "init")


def preset_config(args, TrainConfig, PRESETS):
    """The preset's recipe with the run's seed and limits; a training flag given beside it is a usage error."""
    from dataclasses import replace

    preset = PRESETS[args.preset]
    defaults = args.flag_defaults
    clash = [f"--{k.replace('_', '-')}" for k in PRESET_FLAGS if k in defaults and getattr(args, k) != defaults[k]]
    if clash:
        raise UsageError(f"--preset {args.preset} sets the recipe itself; drop {', '.join(clash)} "
                         "(or leave out --preset and give every flag)")
    return replace(preset.config, seed=args.seed, limit=args.limit, eval_limit=args.eval_limit,
                   robust_eval_samples=args.robust_eval_samples)


def run(args) -> int:
    import torch

    from advstudio.core.data import load_split
    from advstudio.core.errors import TrainingCancelled
    from advstudio.core.evaluation.curves import fgsm_curve
    from advstudio.core.model import build_model, device_label, num_classes_of
    from advstudio.core.storage import save_model
    from advstudio.core.training import model_metadata, train
    from advstudio.core.training_config import PRESETS, TrainConfig

    to_stdout, json_out = json_targets(args, "train")
    if args.resume and not args.checkpoint:
        raise UsageError("--resume needs --checkpoint PATH")
    out, sidecar = check_model_out("--out", args.out, inputs=[args.init])
    check_outputs(out, args.checkpoint, json_out, inputs=[args.init])
    check_outputs(sidecar, args.checkpoint, json_out)
    log = sys.stderr if to_stdout else sys.stdout  # with --json, standard output holds the JSON alone
    device = setup_torch(args)
    cfg = preset_config(args, TrainConfig, PRESETS) if args.preset else TrainConfig(
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
        trades_beta=args.trades_beta,
        robust_eval_samples=args.robust_eval_samples,
        lr_schedule=args.lr_schedule,
        guard_every=args.guard_every,
    )
    train_split = load_split(args.data, "train", download=args.download, layout=args.classes)
    test_split = load_split(args.data, "test", download=args.download, layout=args.classes)
    if test_split.classes != train_split.classes:
        return fail(f"the training split has {train_split.num_classes} classes but the test split "
                    f"{test_split.num_classes}; add a classes.txt to {train_split.source} naming every class")
    num_classes = train_split.num_classes
    init_model, init_meta, arch = None, None, args.arch or DEFAULT_ARCHITECTURE
    if args.init:
        from advstudio.core.storage import load_model

        init_model, init_meta = load_model(Path(args.init), device)
        init_arch = getattr(type(init_model), "ARCHITECTURE", DEFAULT_ARCHITECTURE)
        if args.arch and args.arch != init_arch:
            raise UsageError(f"--init {Path(args.init).name} is of the {init_arch} architecture, not {args.arch}: "
                             "drop --arch, or start from a model of that architecture")
        arch = init_arch
    torch.manual_seed(cfg.seed)
    if init_model is not None and (num_classes_of(init_model) or 10) != num_classes:
        return fail(f"--init {Path(args.init).name} has {num_classes_of(init_model)} classes but the dataset "
                    f"{num_classes}: fine-tune it on data with the same classes")
    model = build_model(arch, num_classes=num_classes).to(device)
    if init_model is not None:
        from advstudio.core.storage import model_display_name

        model.load_state_dict(init_model.state_dict())
        print(f"starting from the weights of {model_display_name(Path(args.init), init_meta)}", file=log)
    n = len(train_split.head(cfg.limit))
    if train_split.classes != tuple(str(i) for i in range(10)):
        shown = ", ".join(train_split.classes[:12]) + (", …" if num_classes > 12 else "")
        print(f"{num_classes} classes: {shown}", file=log)
    print(f"training on {n} samples, {arch} ({ARCHITECTURE_TITLES[arch]}), {cfg.epochs} epochs, batch "
          f"{cfg.batch_size}, Adam lr {cfg.lr}, seed {cfg.seed}, device {device_label(device)}", file=log)
    if cfg.adversarial:
        print(f"adversarial training: {cfg.adversarial}, ε = {cfg.adv_eps:g}, step {cfg.step_size():.4g}, "
              f"{1 if cfg.adversarial == 'fgsm_rs' else cfg.adv_steps} step(s), ramp {cfg.adv_ramp_epochs} epoch(s), "
              + (f"β = {cfg.trades_beta:g}" if cfg.adversarial == "trades" else
                 f"adversarial share {cfg.adv_fraction:g}")
              + (f", overfitting guard every {cfg.guard_every} batches" if cfg.guard_every else ""), file=log)
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
            log.write(line)
            log.flush()
            if prog.test_accuracy is not None:
                robust = (f", PGD-{cfg.robust_eval_steps} accuracy at ε = {cfg.adv_eps:g} on "
                          f"{cfg.robust_eval_samples} test images {prog.robust_accuracy * 100:.2f}%"
                          if prog.robust_accuracy is not None else "")
                log.write(f"\nepoch {prog.epoch}: test accuracy {prog.test_accuracy * 100:.2f}%{robust}\n")
            guard = prog.history[-1].get("guard") if prog.history and prog.test_accuracy is not None else None
            if guard:
                log.write(f"overfitting guard: {guard}\n")
    except (KeyboardInterrupt, TrainingCancelled):
        if args.checkpoint and Path(args.checkpoint).exists():
            print(f"\ntraining interrupted: the model was not written; the last finished epoch is in "
                  f"{args.checkpoint} (continue with --resume)", file=log)
        else:
            print("\ntraining interrupted: nothing was written", file=log)
        return 130
    seconds = time.perf_counter() - start
    if last is None:  # train() always reports at least once; a message rather than an assertion if not
        return fail("training produced no result, so nothing was written")
    if diverged(model):
        return fail(DIVERGED)
    curve = None
    if not args.no_curve:
        ev = test_split.head(args.eval_limit)
        curve = fgsm_curve(model, ev.images, ev.labels)
    command = command_line()
    meta = model_metadata(cfg, last, name=args.name or out.stem, train_samples=n,
                          test_samples=len(test_split.head(cfg.eval_limit)), seconds=seconds,
                          device=device_label(device), command=command, init_meta=init_meta, fgsm_curve=curve,
                          architecture=arch)
    meta["num_classes"] = num_classes
    meta["classes"] = list(train_split.classes)
    out = save_model(model, out, meta)
    print(f"saved {out} (test accuracy {_percent(last.test_accuracy)}, {seconds:.0f}s)", file=log)
    if to_stdout or json_out:
        emit_json({"model_path": str(out), "metadata_path": str(sidecar), "metadata": meta}, to_stdout, json_out)
    return 0


def _percent(value: float | None) -> str:
    return "not measured" if value is None else f"{value * 100:.2f}%"

