"""Resumable robustness curves: a long evaluation (AutoAttack on the full test set takes hours on a laptop CPU)
writes its running tally after every batch, atomically, and a rerun with the same model, data and settings
picks up after the last finished batch. Each batch is attacked with the same seeded attack objects either
way, so a resumed curve equals an uninterrupted one.

The file is JSON (never pickled), at most 1 MB; one that does not match the run (another model, other images,
other settings) or that is damaged is refused with a message saying which, never silently reused."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from advstudio.core.errors import AdvStudioError
from advstudio.core.files import atomic_write_text, check_regular_file
from advstudio.core.jsonlimits import loads_limited

MARKER = "advstudio_evaluation_checkpoint"
MAX_BYTES = 1_000_000


class CheckpointMismatch(AdvStudioError, ValueError):
    """An evaluation checkpoint that cannot be resumed: damaged, or written by a different run."""

    kind = "input"


def fingerprint(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> dict:
    """Digests of the weights and of the evaluated images and labels: what makes two runs the same run."""
    weights = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        weights.update(name.encode())
        weights.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    data = hashlib.sha256(images.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    data.update(labels.detach().to("cpu", torch.int64).contiguous().numpy().tobytes())
    return {"weights": weights.hexdigest(), "data": data.hexdigest(), "n": int(len(labels))}


@dataclass
class CurveTally:
    """The running counts of a curve, per ε (the same lists attack_curve keeps)."""

    size: int
    batches_done: int = 0
    clean_correct: int = 0
    evals: int = 0
    seconds_before: float = 0.0
    correct: list[int] = field(default_factory=list)
    succeeded: list[int] = field(default_factory=list)
    breakdowns: dict[int, dict] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.correct = self.correct or [0] * self.size
        self.succeeded = self.succeeded or [0] * self.size

    def to_json(self) -> dict:
        return {"batches_done": self.batches_done, "clean_correct": self.clean_correct, "evals": self.evals,
                "seconds_before": self.seconds_before, "correct": list(map(int, self.correct)),
                "succeeded": list(map(int, self.succeeded)),
                "breakdowns": {str(i): dict(b) for i, b in self.breakdowns.items()}}


class EvaluationCheckpoint:
    """Where a curve's tally goes after each batch, and where a resumed run reads it from."""

    def __init__(self, path: str | Path, identity: dict) -> None:
        self.path = Path(path)
        self.identity = json.loads(json.dumps(identity, sort_keys=True, default=str))

    def save(self, tally: CurveTally, seconds: float) -> None:
        doc = {MARKER: 1, "run": self.identity, "tally": {**tally.to_json(), "seconds_before": round(seconds, 3)}}
        atomic_write_text(self.path, json.dumps(doc, indent=1, sort_keys=True) + "\n")

    def load(self, size: int, batches: int) -> CurveTally | None:
        """The tally to continue from, None when there is no file yet; CheckpointMismatch when it cannot be."""
        if not self.path.exists():
            return None
        name = self.path.name
        try:
            check_regular_file(self.path, MAX_BYTES)
            doc = loads_limited(self.path.read_text(encoding="utf-8"), 8)
        except (OSError, UnicodeDecodeError, ValueError, AdvStudioError) as exc:
            raise CheckpointMismatch(f"{name}: not a readable evaluation checkpoint ({exc})") from None
        if not isinstance(doc, dict) or doc.get(MARKER) != 1 or not isinstance(doc.get("tally"), dict):
            raise CheckpointMismatch(f"{name}: not an evaluation checkpoint of this program")
        if doc.get("run") != self.identity:
            diff = sorted(k for k in self.identity if (doc.get("run") or {}).get(k) != self.identity[k]) \
                if isinstance(doc.get("run"), dict) else ["everything"]
            raise CheckpointMismatch(f"{name} was written by a different evaluation (its {', '.join(diff)} "
                                     "differ); delete it or give another --checkpoint file to start afresh")
        return _tally(doc["tally"], size, batches, name)


def _count(value, name: str, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise CheckpointMismatch(f"{name}: {what} is not a count")
    return value


def _tally(t: dict, size: int, batches: int, name: str) -> CurveTally:
    lists = [t.get("correct"), t.get("succeeded")]
    if not all(isinstance(v, list) and len(v) == size for v in lists):
        raise CheckpointMismatch(f"{name}: its counts are not one per ε")
    seconds = t.get("seconds_before")
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
        raise CheckpointMismatch(f"{name}: its elapsed time is not a number")
    done = _count(t.get("batches_done"), name, "batches_done")
    if done > batches:
        raise CheckpointMismatch(f"{name}: it claims {done} batches of a run that has {batches}")
    raw = t.get("breakdowns")
    if not isinstance(raw, dict):
        raise CheckpointMismatch(f"{name}: its breakdown is not a table")
    breakdowns: dict[int, dict] = {}
    for key, parts in raw.items():
        if not (isinstance(key, str) and key.isdigit() and int(key) < size and isinstance(parts, dict)):
            raise CheckpointMismatch(f"{name}: its breakdown is not one table per ε")
        breakdowns[int(key)] = {str(k): _count(v, name, "a breakdown count") for k, v in parts.items()}
    return CurveTally(size=size, batches_done=done, clean_correct=_count(t.get("clean_correct"), name, "clean"),
                      evals=_count(t.get("evals"), name, "evals"), seconds_before=float(seconds),
                      correct=[_count(v, name, "a count") for v in lists[0]],
                      succeeded=[_count(v, name, "a count") for v in lists[1]], breakdowns=breakdowns)
