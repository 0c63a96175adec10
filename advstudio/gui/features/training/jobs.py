"""The worker handler of the Training tab ("train"): trains its own network (core.model.build_model of the
request's architecture) with core.training.train, serves drawing and the ε slider between batches, and saves the model with the CLI's metadata.

Runs on the worker thread only; everything handed back is a frozen dataclass of plain values."""

from __future__ import annotations

import time
from pathlib import Path

from advstudio.core.architecture_names import architecture_title
from advstudio.gui.features.training.messages import (
    TrainCancelled,
    TrainProblem,
    TrainProgress,
    TrainRequest,
    TrainResult,
    config_differences,
    read_checkpoint_info,
)
from advstudio.gui.worker import JobContext, Worker

TRAIN_KIND = "train"
EMIT_EVERY_S = 0.1  # at most ten progress reports a second (every epoch end always goes out)
REPORT_EVERY = 5  # batches between the training loop's reports


def register_training(worker: Worker) -> None:
    worker.register(TRAIN_KIND, train_job, priority=1)


class _Stop:
    """train() only calls is_set(): this run's Cancel, or the worker shutting down."""

    def __init__(self, ctx: JobContext, event) -> None:
        self.ctx, self.event = ctx, event

    def is_set(self) -> bool:
        return self.event.is_set() or self.ctx.cancelled


def _serving(ctx: JobContext, device):
    """A between-batches hook: drawing and the ε slider are answered there; the training RNG is kept out of
    their reach so a run gives the same weights whether or not the user draws meanwhile."""
    import torch

    def between_batches() -> None:
        cpu = torch.get_rng_state()
        gpu = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
        ctx.serve_interactive()
        torch.set_rng_state(cpu)
        if gpu is not None:
            torch.cuda.set_rng_state(gpu, device)

    return between_batches


def train_job(ctx: JobContext, req: TrainRequest) -> TrainResult | TrainCancelled | TrainProblem | None:
    import dataclasses

    import torch

    from advstudio.core.errors import EvaluationCancelled, ModelFileError, TrainingCancelled
    from advstudio.core.evaluation.curves import fgsm_curve
    from advstudio.core.model import build_model, device_label
    from advstudio.core.storage import save_model
    from advstudio.core.training import model_metadata, train

    if req.temperature is not None:
        return distill_job(ctx, req)
    start = time.perf_counter()
    cfg = dataclasses.replace(req.config, report_every=REPORT_EVERY)
    checkpoint = Path(req.checkpoint)
    first_epoch, history = 1, ()
    if req.resume:
        try:
            info = read_checkpoint_info(checkpoint)
        except ValueError as exc:
            return TrainProblem(f"Cannot resume: {exc}. Untick Resume to start afresh (it will be overwritten).")
        saved = info.get("architecture") if info is not None else None
        if isinstance(saved, str) and saved != req.architecture:
            return TrainProblem("Cannot resume: the checkpoint is of another architecture "
                                f"(“{architecture_title(saved)[:60]}”, not “{architecture_title(req.architecture)}”). "
                                "Choose that architecture, or untick Resume to start afresh.")
        if info is not None:
            diffs = config_differences(cfg, info.get("config", {}))
            if diffs:
                return TrainProblem("Cannot resume: the checkpoint was made with other settings ("
                                    + "; ".join(diffs) + "). Restore them, or untick Resume to start afresh.")
            if int(info["epoch"]) >= cfg.epochs:
                return TrainProblem(f"The checkpoint already holds {info['epoch']} finished epoch(s); set Epochs "
                                    f"above {info['epoch']} to continue training, or untick Resume to start afresh.")
            first_epoch, history = int(info["epoch"]) + 1, tuple(info.get("history", ()))

    n_robust = 0

    def report(stage: str, progress=None, n_train: int = 0, n_test: int = 0, hist: tuple = history) -> None:
        ctx.progress(TrainProgress(stage, progress, first_epoch, cfg.epochs, n_train, n_test,
                                   time.perf_counter() - start, tuple(hist), n_robust))

    report("Reading the dataset…")
    splits = _read_splits(ctx, req.data_dir)
    if isinstance(splits, TrainProblem):
        return splits
    train_split, test_split = splits
    n_train = len(train_split.head(cfg.limit))
    n_test = len(test_split.head(cfg.eval_limit))
    n_robust = len(test_split.head(cfg.robust_eval_samples)) if cfg.adversarial else 0
    device = ctx.state.ensure_device()
    torch.manual_seed(cfg.seed)  # as `advstudio train` does: the same settings give the same weights
    try:
        model = build_model(req.architecture, num_classes=train_split.num_classes).to(device)
    except ValueError as exc:
        return TrainProblem(f"Cannot train: {exc}.")
    stop = _Stop(ctx, req.cancel)
    finished = first_epoch - 1

    between_batches = _serving(ctx, device)

    report(f"Training on {n_train} images{_of_classes(train_split)} ({device_label(device)})…", n_train=n_train,
           n_test=n_test)
    last = None
    last_emit = 0.0
    try:
        for prog in train(model, train_split, test_split, cfg, cancel=stop, between_batches=between_batches,
                          checkpoint=checkpoint, resume=req.resume):
            last = prog
            if prog.test_accuracy is not None:
                finished = prog.epoch
            now = time.perf_counter()
            if prog.batch == prog.batches or now - last_emit >= EMIT_EVERY_S:
                last_emit = now
                report(f"Epoch {prog.epoch} of {prog.epochs}", prog, n_train, n_test, prog.history)
        if last is None:
            return TrainProblem("Nothing to train: no epoch is left to run.")
        seconds = time.perf_counter() - start
        curve = None
        if not stop.is_set():
            report(f"Measuring the FGSM curve on {n_test} test images for the model's metadata…", last,
                   n_train, n_test, last.history)
            ev = test_split.head(cfg.eval_limit)
            curve = fgsm_curve(model, ev.images, ev.labels, cancel=stop,
                               progress=lambda _d, _t: between_batches())
        if stop.is_set():
            raise TrainingCancelled("cancelled after the last epoch")
    except (TrainingCancelled, EvaluationCancelled):
        kept = str(checkpoint) if finished > 0 and checkpoint.exists() else None
        return TrainCancelled(finished if kept else 0, cfg.epochs, kept)
    except ModelFileError as exc:
        return TrainProblem(f"Cannot resume: {exc}")
    out = Path(req.out)
    name = out.stem
    meta = model_metadata(cfg, last, name=name, train_samples=n_train, test_samples=n_test,
                          seconds=seconds, device=device_label(device), command=None, fgsm_curve=curve,
                          architecture=req.architecture)
    if first_epoch > 1:
        meta["resumed_from_epoch"] = first_epoch - 1
    _name_classes(meta, train_split)
    try:
        path = save_model(model, out, meta)
    except OSError as exc:
        return TrainProblem(f"Could not write {out}: {exc.strerror or exc}. The last epoch is in {checkpoint}; "
                            "choose another output file and Resume.")
    return TrainResult(str(path), name, meta, tuple(last.history), round(seconds, 1), first_epoch)


def _shifted(history, offset: int, phase: str) -> tuple:
    """A stage's per-epoch history with its epochs moved after the teacher's (the curves continue)."""
    return tuple({**h, "epoch": int(h["epoch"]) + offset, "stage": phase} for h in history)


def distill_job(ctx: JobContext, req: TrainRequest) -> TrainResult | TrainCancelled | TrainProblem:
    """Defensive distillation with core.distillation.distill: the teacher at T, then the student at T on its
    soft labels; the student is saved with `advstudio distill`'s metadata. The two stages report as one run of
    2 × epochs (the student's epochs follow the teacher's). No checkpoint: a cancel keeps nothing."""
    import dataclasses

    import torch

    from advstudio.core.defenses.distillation import distill, distillation_recipe
    from advstudio.core.errors import EvaluationCancelled, TrainingCancelled
    from advstudio.core.evaluation.curves import fgsm_curve
    from advstudio.core.info import library_versions, now_iso
    from advstudio.core.model import build_model, device_label
    from advstudio.core.storage import save_model

    start = time.perf_counter()
    temperature = float(req.temperature)
    cfg = dataclasses.replace(req.config, report_every=REPORT_EVERY, adversarial=None, lr_schedule="constant")
    epochs = cfg.epochs
    total_epochs = 2 * epochs

    def report(stage: str, progress=None, n_train: int = 0, n_test: int = 0, hist: tuple = (),
               phase: str | None = None) -> None:
        ctx.progress(TrainProgress(stage, progress, 1, total_epochs, n_train, n_test,
                                   time.perf_counter() - start, tuple(hist), 0, phase))

    report("Reading the dataset…")
    splits = _read_splits(ctx, req.data_dir)
    if isinstance(splits, TrainProblem):
        return splits
    train_split, test_split = splits
    n_train = len(train_split.head(cfg.limit))
    n_test = len(test_split.head(cfg.eval_limit))
    device = ctx.state.ensure_device()
    torch.manual_seed(cfg.seed)  # as `advstudio distill` does
    try:
        teacher = build_model(req.architecture, num_classes=train_split.num_classes).to(device)
        student = build_model(req.architecture, num_classes=train_split.num_classes).to(device)
    except ValueError as exc:
        return TrainProblem(f"Cannot train: {exc}.")
    stop = _Stop(ctx, req.cancel)
    between_batches = _serving(ctx, device)
    titles = {"teacher": f"Stage 1 of 2, the teacher at T = {temperature:g} (hard labels)",
              "student": f"Stage 2 of 2, the student at T = {temperature:g} (the teacher's soft labels)"}
    report(f"{titles['teacher']} on {n_train} images ({device_label(device)})…", n_train=n_train, n_test=n_test,
           phase="teacher")
    last: dict = {}
    teacher_history: tuple = ()
    last_emit = 0.0
    stage_start = time.perf_counter()
    try:
        for phase, prog in distill(teacher, student, train_split, test_split, cfg, temperature, cancel=stop,
                                   between_batches=between_batches):
            if phase == "student" and "student" not in last:
                stage_start = time.perf_counter()
            last[phase] = prog
            if phase == "teacher":
                hist = _shifted(prog.history, 0, "teacher")
                teacher_history = hist
                done = (prog.epoch - 1) * prog.batches + prog.batch
                per_batch = (time.perf_counter() - stage_start) / max(1, done)
                shown = dataclasses.replace(prog, epochs=total_epochs, history=hist, done=False,
                                            eta_s=(total_epochs * prog.batches - done) * per_batch)
            else:
                hist = teacher_history + _shifted(prog.history, epochs, "student")
                shown = dataclasses.replace(prog, epoch=prog.epoch + epochs, epochs=total_epochs, history=hist)
            now = time.perf_counter()
            if prog.batch == prog.batches or now - last_emit >= EMIT_EVERY_S:
                last_emit = now
                report(f"{titles[phase]}, epoch {prog.epoch} of {epochs}", shown, n_train, n_test, hist, phase)
        if "student" not in last:
            return TrainProblem("Nothing to train: the student stage never ran.")
        seconds = time.perf_counter() - start
        report(f"Measuring the student's FGSM curve on {n_test} test images for the model's metadata…", None,
               n_train, n_test, hist, "student")
        ev = test_split.head(cfg.eval_limit)
        curve = fgsm_curve(student, ev.images, ev.labels, cancel=stop, progress=lambda _d, _t: between_batches())
        if stop.is_set():
            raise TrainingCancelled("cancelled after the last epoch")
    except (TrainingCancelled, EvaluationCancelled):
        return TrainCancelled(0, total_epochs, None)
    out = Path(req.out)
    recipe = distillation_recipe(cfg, temperature)
    recipe["role"] = "student"
    meta = {"name": out.stem, "architecture": req.architecture, "recipe": recipe, "seed": cfg.seed,
            "epochs": cfg.epochs, "train_samples": n_train,
            "test_accuracy": last["student"].test_accuracy, "test_samples": len(ev),
            "history": list(last["student"].history), "training_seconds": round(seconds, 1),
            "device": device_label(device), "versions": library_versions(), "date": now_iso(), "command": None,
            "fgsm_curve": {"n": curve.n, "eps": list(curve.eps), "accuracy": list(curve.accuracy)}}
    _name_classes(meta, train_split)
    try:
        path = save_model(student, out, meta)
    except OSError as exc:
        return TrainProblem(f"Could not write {out}: {exc.strerror or exc}. Choose another output file and train "
                            "again (distillation keeps no checkpoint).")
    return TrainResult(str(path), out.stem, meta, hist, round(seconds, 1), 1, temperature)


def _read_splits(ctx: JobContext, data_dir):
    """The dataset's train and test splits, or a TrainProblem naming what is wrong with the folder (also when
    the two splits do not have the same classes)."""
    from advstudio.core.data import DatasetError

    try:
        train, test = ctx.state.split(data_dir, "train"), ctx.state.split(data_dir, "test")
    except DatasetError as exc:
        return TrainProblem(str(exc), data=True)
    if train.classes != test.classes:
        return TrainProblem(f"The training images have {train.num_classes} classes but the test images "
                            f"{test.num_classes}: add a classes.txt to {train.source} naming every class.", data=True)
    return train, test


def _of_classes(split) -> str:
    """" of 26 classes (a, b, c, …)" for a dataset that is not the ten digits; "" for MNIST."""
    names = split.classes
    if names == tuple(str(i) for i in range(10)):
        return ""
    return f" of {len(names)} classes ({', '.join(names[:3])}{', …' if len(names) > 3 else ''})"


def _name_classes(meta: dict, split) -> None:
    """Record the dataset's classes in the model's metadata (as `advstudio train` does), so every view names them."""
    meta["num_classes"] = split.num_classes
    meta["classes"] = list(split.classes)
