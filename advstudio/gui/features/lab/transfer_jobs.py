"""Worker handler of the lab's transfer matrix ("lab_transfer"): the form's attack crafted on each ticked model and
judged by every one of them (core.evaluation.transfer, as `advstudio transfer` computes it).

Runs on the worker thread only (torch imported inside); the reply is a deep copy in a frozen dataclass."""

from __future__ import annotations

import copy
import time

from advstudio.gui.features.lab.jobs import StopWhen, check_classes, lab_model, model_outputs
from advstudio.gui.features.lab.messages import (
    TRANSFER_KIND,
    LabCancelled,
    LabProgress,
    TransferRequest,
    TransferResult,
)
from advstudio.gui.worker import JobContext, Worker


def register_transfer(worker: Worker) -> None:
    """Add the kind; like the lab's curves it yields to interactive requests between batches."""
    if not worker.has_kind(TRANSFER_KIND):
        worker.register(TRANSFER_KIND, transfer_job, priority=1)


def transfer_job(ctx: JobContext, req: TransferRequest) -> TransferResult | LabCancelled | None:
    from advstudio.core.describe import attack_title
    from advstudio.core.errors import EvaluationCancelled
    from advstudio.core.evaluation.transfer import distinct_names, transfer_matrix

    split = ctx.state.split(req.data_dir, "test").head(req.n)
    loaded = [lab_model(ctx, entry) for entry in req.models]
    for model, name, _path in loaded:
        check_classes(model_outputs(model, split), name, split)
    stop = StopWhen(ctx, req.cancel)
    start = time.perf_counter()
    total = len(split) * len(loaded)
    state = {"done": 0, "emitted": 0.0}
    names = distinct_names([name for _, name, _ in loaded])

    def report(done: int, _total: int) -> None:
        state["done"] = done
        now = time.perf_counter()
        if now - state["emitted"] >= 0.1 or done >= total:
            state["emitted"] = now
            source = names[min(len(names) - 1, done // max(1, len(split)))]
            label = f"Transfer matrix: {attack_title(req.attack)} crafted on {source}"
            ctx.progress(LabProgress(done, total, label, now - start))
        ctx.serve_interactive()  # the ε slider stays live while the matrix runs

    ctx.progress(LabProgress(0, total, f"Transfer matrix: {attack_title(req.attack)} crafted on {names[0]}", 0.0))
    try:
        matrix = transfer_matrix([m for m, _, _ in loaded], names, split.images, split.labels, req.attack, req.eps,
                                 req.settings, batch_size=req.batch_size, progress=report, cancel=stop)
    except EvaluationCancelled:
        return LabCancelled(state["done"], total)
    if stop.is_set():
        return LabCancelled(state["done"], total)
    return TransferResult(copy.deepcopy(matrix), tuple(path for _, _, path in loaded),
                          round(time.perf_counter() - start, 3))
