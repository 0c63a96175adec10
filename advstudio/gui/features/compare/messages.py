"""Frozen requests and replies of the side-by-side tab ("compare"): the studio's FGSM, at one ε, on two models."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from advstudio.core.types import AttackResult
from advstudio.gui.messages import AttackSettings

COMPARE_KIND = "compare"


@dataclass(frozen=True)
class CompareSide:
    """One side's model: a safetensors file, or (path None) a model trained in this session that the worker
    keeps under `key` (WorkerState.add_session_model). `role` says what the summary calls it ("standard", …)."""

    key: str
    name: str
    path: str | None
    role: str | None = None
    unavailable: str | None = None  # why there is nothing to load (the GUI knows already); the side shows it


@dataclass(frozen=True)
class CompareRequest:
    image: np.ndarray  # (28, 28) in [0, 1]
    settings: AttackSettings
    sides: tuple[CompareSide, ...]
    serial: int = 0  # the controller's count of requests, echoed in the result (newer answers replace older)


@dataclass(frozen=True)
class SideResult:
    """The attack on one side's model, or the reason there is none (`message`)."""

    side: CompareSide
    model_name: str
    about: str = ""  # how the model was trained and its accuracy, from its metadata
    attack: AttackResult | None = None
    message: str | None = None
    meta: dict = field(default_factory=dict)  # the model file's metadata (the report's appendix lists the model)
    bundled: bool = False  # a model file that ships with the app


@dataclass(frozen=True)
class CompareResult:
    image: np.ndarray
    settings: AttackSettings
    sides: tuple[SideResult, ...]
    seconds: float = 0.0
    serial: int = 0
